package builder

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/dynamic"
	"github.com/whiskers-dev/whiskers/syncer/tags"
)

// Build turns snap into a configuration: one router and one service per
// enabled catalog service unless its tags say otherwise, servers from its
// healthy instances in every catalog. It never panics, whatever the snapshot,
// and does not modify it. For large snapshots it spreads the work over
// GOMAXPROCS goroutines, all finished when it returns; the result is the
// same as a sequential build.
func (b *Builder) Build(snap catalog.Snapshot) Result {
	st := &state{
		b:          b,
		cfg:        &dynamic.Configuration{},
		conflicted: map[objKey]bool{},
		seen:       map[string]bool{},
	}
	insts := snap.Instances
	if !slices.IsSortedFunc(insts, catalog.Compare) {
		insts = slices.Clone(insts)
		slices.SortFunc(insts, catalog.Compare)
	}
	for i := range insts {
		if i == 0 || insts[i].Service != insts[i-1].Service {
			st.size++
		}
	}
	st.owners = map[string]map[string]string{}
	groups := make([]group, 0, st.size)
	for start := 0; start < len(insts); {
		end := start + 1
		for end < len(insts) && insts[end].Service == insts[start].Service {
			end++
		}
		groups = appendGroups(groups, insts[start:end])
		start = end
	}
	// Catalog services are built independently (in parallel when there are
	// many) and merged one by one in name order, so the result does not
	// depend on scheduling.
	parts := make([]state, len(groups))
	forEach(len(groups), func(i int) {
		parts[i].b = b
		parts[i].service(groups[i])
	}, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ps := &parts[i]
			for _, p := range ps.problems {
				st.problem(p.Origin, p.Service, p.Tag, p.Err)
			}
			if ps.part != nil {
				st.merge(ps.name, ps.origin, ps.part)
			}
			st.services = append(st.services, ps.decisions)
			*ps = state{} // merged: its configuration now belongs to st
		}
	})
	return st.result()
}

// group is the instances of one catalog service in one namespace.
type group struct {
	name  string // catalog service name
	ns    string // namespace; "" for the default one ("" or "default" in the catalogs)
	insts []catalog.Instance
}

// shown is how problems name the group: "name", or "namespace/name".
func (g group) shown() string {
	if g.ns == "" {
		return g.name
	}
	return g.ns + "/" + g.name
}

func normNS(ns string) string {
	if ns == "default" {
		return ""
	}
	return ns
}

// appendGroups splits the instances of one catalog service (sorted) by
// namespace: the same name in two namespaces is two services, while the
// default namespace of Nomad ("default") and of Consul ("") is one.
func appendGroups(gs []group, insts []catalog.Instance) []group {
	ns := normNS(insts[0].Namespace)
	same := true
	for i := range insts {
		if normNS(insts[i].Namespace) != ns {
			same = false
			break
		}
	}
	if same {
		return append(gs, group{name: insts[0].Service, ns: ns, insts: insts})
	}
	byNS := map[string][]catalog.Instance{}
	for _, in := range insts {
		n := normNS(in.Namespace)
		byNS[n] = append(byNS[n], in)
	}
	for n := range sortedKeys(byNS) {
		gs = append(gs, group{name: insts[0].Service, ns: n, insts: byNS[n]})
	}
	return gs
}

// parallelMin is the number of catalog services from which Build uses
// several goroutines.
const parallelMin = 1024

// forEach calls f(0) … f(n-1), spread over GOMAXPROCS goroutines when n is
// large, and done(lo, hi) on the caller's goroutine for consecutive ranges
// that cover 0 … n-1 in order, each once f has returned for all of its
// range: done of a range runs while f runs for later ones. It returns when
// all calls have returned.
func forEach(n int, f func(i int), done func(lo, hi int)) {
	w := runtime.GOMAXPROCS(0)
	if w < 2 || n < parallelMin {
		for i := range n {
			f(i)
		}
		done(0, n)
		return
	}
	const chunk = 64
	chunks := (n + chunk - 1) / chunk
	finished := make([]chan struct{}, chunks)
	for c := range finished {
		finished[c] = make(chan struct{})
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range w {
		wg.Go(func() {
			for {
				c := int(next.Add(1)) - 1
				if c >= chunks {
					return
				}
				for i := c * chunk; i < min((c+1)*chunk, n); i++ {
					f(i)
				}
				close(finished[c])
			}
		})
	}
	for c := range chunks {
		<-finished[c]
		done(c*chunk, min((c+1)*chunk, n))
	}
	wg.Wait()
}

// state is one Build in progress, or the building of one catalog service
// (then only b, problems, seen and the result fields are used).
type state struct {
	b          *Builder
	cfg        *dynamic.Configuration
	owners     map[string]map[string]string // "http.routers" → name → catalog service that defined it first
	conflicted map[objKey]bool              // objects defined differently by several catalog services
	size       int                          // number of catalog services, to size maps
	problems   []Problem
	seen       map[string]bool // problems already reported

	// The result of building one catalog service.
	name      string
	origin    catalog.Origin
	part      *dynamic.Configuration
	decisions ServiceDecisions
	services  []ServiceDecisions // of the whole build
}

func (st *state) problem(origin catalog.Origin, service, tag string, err error) {
	k := string(origin) + "\x00" + service + "\x00" + tag + "\x00" + err.Error()
	if st.seen[k] {
		return
	}
	if st.seen == nil {
		st.seen = map[string]bool{}
	}
	st.seen[k] = true
	st.problems = append(st.problems, Problem{Origin: origin, Service: service, Tag: tag, Err: err})
}

func (st *state) result() Result {
	c := st.cfg
	if c.HTTP != nil && reflect.ValueOf(*c.HTTP).IsZero() {
		c.HTTP = nil
	}
	if c.TCP != nil && reflect.ValueOf(*c.TCP).IsZero() {
		c.TCP = nil
	}
	if c.UDP != nil && reflect.ValueOf(*c.UDP).IsZero() {
		c.UDP = nil
	}
	if c.TLS != nil && reflect.ValueOf(*c.TLS).IsZero() {
		c.TLS = nil
	}
	slices.SortFunc(st.problems, func(a, b Problem) int {
		return cmp.Or(
			cmp.Compare(a.Service, b.Service),
			cmp.Compare(a.Tag, b.Tag),
			cmp.Compare(a.Origin, b.Origin),
			cmp.Compare(a.Err.Error(), b.Err.Error()),
		)
	})
	return Result{Config: c, Problems: st.problems, Services: st.services}
}

// routable reports whether in may receive traffic.
func (b *Builder) routable(in *catalog.Instance) bool {
	if in.Draining {
		return false
	}
	switch in.Health {
	case catalog.HealthPassing, "":
		return true
	case catalog.HealthWarning:
		return b.routeWarning
	}
	return false
}

// hasPrefixFold is strings.HasPrefix, case-insensitive.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// cutPrefix returns the rest of key after "<prefix>." (prefix matched
// case-insensitively).
func cutPrefix(key, prefix string) (string, bool) {
	if len(key) <= len(prefix) || key[len(prefix)] != '.' || !strings.EqualFold(key[:len(prefix)], prefix) {
		return "", false
	}
	return key[len(prefix)+1:], true
}

// enabled reports whether the tags of an instance opt it in, as Traefik
// reads them (tags.Enabled); a malformed enable tag is reported.
func (st *state) enabled(in *catalog.Instance) bool {
	en, bad := tags.Enabled(in.Tags, st.b.prefix, st.b.exposed)
	if bad != "" {
		st.problem(in.Origin, in.Service, bad, errors.New("want true or false: instance not routed"))
	}
	return en
}

// isCanary reports whether in is a canary: a canary allocation of a Nomad
// deployment, or an instance tagged whiskers.canary=true.
func (st *state) isCanary(in *catalog.Instance) bool {
	c := in.Canary
	for _, tag := range in.Tags {
		if !hasPrefixFold(strings.TrimSpace(tag), whiskersPrefix+".canary") {
			continue
		}
		k, v, _ := tags.Split(tag)
		if !strings.EqualFold(k, whiskersPrefix+".canary") {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			st.problem(in.Origin, in.Service, tag, errors.New("want true or false: ignored"))
			continue
		}
		c = c || b
	}
	return c
}

// relevant returns the sorted, deduplicated tags that shape configuration:
// those with the prefix (but enable) and the whiskers ones (but the canary
// marker, which says what an instance is, not how to route).
func (b *Builder) relevant(ts []string) []string {
	out := make([]string, 0, len(ts))
	for _, tag := range ts {
		k, _, _ := tags.Split(tag)
		if rest, ok := cutPrefix(k, b.prefix); ok {
			if strings.EqualFold(rest, "enable") {
				continue
			}
			out = append(out, strings.TrimSpace(tag))
			continue
		}
		if wk, ok := cutPrefix(k, whiskersPrefix); ok && !strings.EqualFold(wk, "canary") {
			out = append(out, strings.TrimSpace(tag))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// variant is a group of instances of one catalog service carrying the same
// relevant tags.
type variant struct {
	key     string
	tags    []string
	n       int    // instances in the pool that decides the winner
	version uint64 // highest job version among them
	first   *catalog.Instance
	d       *decoded // decoded tags; nil until decoded or when they name no object
}

// member is an instance and the variant of its tags.
type member struct {
	in     *catalog.Instance
	v      *variant
	canary bool // a canary allocation, or tagged whiskers.canary=true
}

// variants assigns each member its variant and returns the variants that
// have members in the pool (inPool), the winner first: highest job version,
// then most instances, then the lexically smallest tags.
func (b *Builder) variants(ms []member, inPool func(*member) bool) []*variant {
	var byKey map[string]*variant // made when a second tag set shows up
	var prev *member
	for i := range ms {
		m := &ms[i]
		if prev != nil && slices.Equal(prev.in.Tags, m.in.Tags) {
			m.v = prev.v
			continue
		}
		ts := b.relevant(m.in.Tags)
		k := strings.Join(ts, "\n")
		switch {
		case prev == nil:
			m.v = &variant{key: k, tags: ts}
		case byKey == nil && k == ms[0].v.key:
			m.v = ms[0].v
		default:
			if byKey == nil {
				byKey = map[string]*variant{ms[0].v.key: ms[0].v}
			}
			if m.v = byKey[k]; m.v == nil {
				m.v = &variant{key: k, tags: ts}
				byKey[k] = m.v
			}
		}
		prev = m
	}
	var out []*variant
	for i := range ms {
		m := &ms[i]
		if !inPool(m) {
			continue
		}
		if m.v.n == 0 {
			m.v.first = m.in
			out = append(out, m.v)
		}
		m.v.n++
		m.v.version = max(m.v.version, m.in.JobVersion)
	}
	slices.SortFunc(out, func(a, b *variant) int {
		return cmp.Or(
			-cmp.Compare(a.version, b.version),
			-cmp.Compare(a.n, b.n),
			cmp.Compare(a.key, b.key),
		)
	})
	return out
}

// service builds the configuration of one catalog service (in one
// namespace) from all its instances, into st.part.
func (st *state) service(g group) {
	name, insts := g.shown(), g.insts
	eligible := make([]member, 0, len(insts))
	var (
		servers []member
		d       *decoded
		win     *variant
	)
	defer func() { st.decide(g, eligible, servers, d, win) }()
	var nHealthy, nStable, nHealthyStable int
	for i := range insts {
		if !st.enabled(&insts[i]) {
			continue
		}
		m := member{in: &insts[i], canary: st.isCanary(&insts[i])}
		eligible = append(eligible, m)
		ok := st.b.routable(m.in)
		if ok {
			nHealthy++
		}
		if !m.canary {
			nStable++
			if ok {
				nHealthyStable++
			}
		}
	}
	if len(eligible) == 0 {
		return
	}
	// The tags of stable instances win over those of canaries; healthy
	// instances over the others.
	inPool := func(m *member) bool {
		switch {
		case nHealthyStable > 0:
			return st.b.routable(m.in) && !m.canary
		case nHealthy > 0:
			return st.b.routable(m.in)
		case nStable > 0:
			return !m.canary
		}
		return true
	}
	vs := st.b.variants(eligible, inPool)
	// The first variant wins, unless its tags have problems and another's
	// have none: a rolling deploy that brings a broken tag keeps the router.
	win, d = st.pick(name, vs)
	if d == nil {
		return
	}
	origin := win.first.Origin
	if len(vs) > 1 {
		at := ""
		if win.version > 0 {
			at = fmt.Sprintf(" at job version %d", win.version)
		}
		st.problem(origin, name, "", fmt.Errorf(
			"instances disagree on tags (%d variants): using those of %d instance(s)%s",
			len(vs), win.n, at))
	}
	// The other variants keep their own server port and scheme during a
	// rolling deploy.
	for _, m := range eligible {
		if m.v.d == nil && m.v != win {
			if od, err := st.b.decode(m.v.tags, func(string, error) {}); err == nil {
				m.v.d = od
			}
		}
	}
	servers = make([]member, 0, len(eligible))
	for _, m := range eligible {
		if st.b.routable(m.in) {
			servers = append(servers, m)
		}
	}
	if len(servers) == 0 && d.zero == zeroPanic {
		servers = eligible
	}
	if len(servers) == 0 && d.zero == zeroDrop {
		servers = nil
		return
	}
	st.name, st.origin = name, origin
	st.part = st.assemble(g, origin, d, servers)
}

// pick decodes variants in order and returns the first one whose tags have
// no problem, or else the first one; it reports the problems of every
// variant it decoded. d is nil when no variant can be used.
func (st *state) pick(name string, vs []*variant) (*variant, *decoded) {
	type try struct {
		v    *variant
		d    *decoded
		errs []Problem
	}
	var tries []try
	for _, v := range vs {
		var errs []Problem
		d, err := st.b.decode(v.tags, func(tag string, err error) {
			errs = append(errs, Problem{Origin: v.first.Origin, Service: name, Tag: tag, Err: err})
		})
		v.d = d
		if err == nil && len(errs) == 0 {
			for _, t := range tries {
				for _, p := range t.errs {
					st.problem(p.Origin, p.Service, p.Tag, p.Err)
				}
			}
			return v, d
		}
		tries = append(tries, try{v, d, errs})
	}
	for _, t := range tries {
		for _, p := range t.errs {
			st.problem(p.Origin, p.Service, p.Tag, p.Err)
		}
	}
	return vs[0], vs[0].d
}

// own returns the decoded tags of m's instance, or the winner's.
func (m member) own(win *decoded) *decoded {
	if m.v != nil && m.v.d != nil {
		return m.v.d
	}
	return win
}

// errWholeService marks a tag that could not be attributed to one object.
var errWholeService = errors.New("whole service dropped")

// decoded is the configuration that one set of tags describes, before
// defaults and servers.
type decoded struct {
	cfg           *dynamic.Configuration
	dropped       map[tags.Object]bool
	tags          []string // the relevant tags, for the default rule's .Labels
	zero          zeroPolicy
	noRetry       bool                         // whiskers.retry=false
	noHealthCheck bool                         // whiskers.healthcheck=false
	weight        int                          // whiskers.canary.weight
	weightSet     bool                         // whiskers.canary.weight was tagged
	httpTmpl      map[string]dynamic.Server    // loadbalancer.server.* per HTTP service, as tagged
	tcpTmpl       map[string]dynamic.TCPServer // per TCP service
	udpTmpl       map[string]dynamic.UDPServer // per UDP service
}

// drop records that o was dropped.
func (d *decoded) drop(o tags.Object) {
	if d.dropped == nil {
		d.dropped = map[tags.Object]bool{}
	}
	d.dropped[o] = true
}

func (d *decoded) droppedKind(section, kind string) bool {
	for o := range d.dropped {
		if o.Section == section && o.Kind == kind {
			return true
		}
	}
	return false
}

func (d *decoded) isDropped(section, kind, name string) bool {
	return d.dropped[tags.Object{Section: section, Kind: kind, Name: name}]
}

// decode reads relevant tags (sorted) into a configuration. A tag that fails
// drops the object it configures; a tag that names no object drops
// everything (errWholeService). report receives every problem.
func (b *Builder) decode(ts []string, report func(tag string, err error)) (*decoded, error) {
	d := &decoded{
		cfg:    &dynamic.Configuration{},
		tags:   ts,
		zero:   zero503,
		weight: DefaultCanaryWeight,
	}
	fail := func(tag string, o tags.Object, err error) {
		d.drop(o)
		report(tag, fmt.Errorf("%s %q dropped: %w", singular(o), o.Name, err))
	}
	for _, tag := range ts {
		k, v, hasEq := tags.Split(tag)
		if wk, ok := cutPrefix(k, whiskersPrefix); ok {
			d.whiskers(tag, wk, v, hasEq, report)
			continue
		}
		rest, ok := cutPrefix(k, b.prefix)
		if !ok {
			continue
		}
		if sec, _, _ := strings.Cut(rest, "."); !strings.EqualFold(sec, "http") && !strings.EqualFold(sec, "tcp") &&
			!strings.EqualFold(sec, "udp") && !strings.EqualFold(sec, "tls") {
			continue // provider options of Traefik (consulcatalog.*, nomad.*): not ours
		}
		o, ok := tags.ObjectOf(rest)
		if !ok {
			report(tag, fmt.Errorf("names no router, service or middleware: %w", errWholeService))
			return nil, errWholeService
		}
		if d.dropped[o] {
			continue
		}
		if !hasEq {
			fail(tag, o, errors.New("no '=' in tag"))
			continue
		}
		if err := checkServerValue(rest, v); err != nil {
			fail(tag, o, err)
			continue
		}
		if err := tags.Set(d.cfg, rest, v); err != nil {
			fail(tag, o, err)
		}
	}
	for o := range d.dropped {
		tags.Delete(d.cfg, o)
	}
	d.takeServerTemplates()
	return d, nil
}

// checkServerValue validates the tag-only server options that become part
// of a URL or address.
func checkServerValue(key, value string) error {
	const port, scheme = ".loadbalancer.server.port", ".loadbalancer.server.scheme"
	switch {
	case len(key) >= len(port) && strings.EqualFold(key[len(key)-len(port):], port):
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q: want 1..65535", value)
		}
	case len(key) >= len(scheme) && strings.EqualFold(key[len(key)-len(scheme):], scheme):
		if !validScheme(value) {
			return fmt.Errorf("scheme %q: want letters, digits, '+', '-', '.'", value)
		}
	}
	return nil
}

func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// takeServerTemplates moves the tagged first server of each load balancer
// out of the configuration: servers are made from instances.
func (d *decoded) takeServerTemplates() {
	if h := d.cfg.HTTP; h != nil {
		for n, s := range h.Services {
			if s.LoadBalancer != nil && len(s.LoadBalancer.Servers) > 0 {
				if d.httpTmpl == nil {
					d.httpTmpl = map[string]dynamic.Server{}
				}
				d.httpTmpl[n] = s.LoadBalancer.Servers[0]
				s.LoadBalancer.Servers = nil
			}
		}
	}
	if t := d.cfg.TCP; t != nil {
		for n, s := range t.Services {
			if s.LoadBalancer != nil && len(s.LoadBalancer.Servers) > 0 {
				if d.tcpTmpl == nil {
					d.tcpTmpl = map[string]dynamic.TCPServer{}
				}
				d.tcpTmpl[n] = s.LoadBalancer.Servers[0]
				s.LoadBalancer.Servers = nil
			}
		}
	}
	if u := d.cfg.UDP; u != nil {
		for n, s := range u.Services {
			if s.LoadBalancer != nil && len(s.LoadBalancer.Servers) > 0 {
				if d.udpTmpl == nil {
					d.udpTmpl = map[string]dynamic.UDPServer{}
				}
				d.udpTmpl[n] = s.LoadBalancer.Servers[0]
				s.LoadBalancer.Servers = nil
			}
		}
	}
}

// singular names the kind of an object in messages: "router", "service", …
func singular(o tags.Object) string {
	k := strings.TrimSuffix(o.Kind, "s")
	if o.Section == "http" {
		return k
	}
	return o.Section + " " + k
}

// labels maps the prefixed tags to their values, keys rewritten to
// "traefik.…" as Traefik's providers show them to the default rule.
func (b *Builder) labels(ts []string) map[string]string {
	m := make(map[string]string, len(ts))
	for _, tag := range ts {
		k, v, _ := tags.Split(tag)
		if rest, ok := cutPrefix(k, b.prefix); ok {
			m["traefik."+rest] = v
		}
	}
	return m
}

// ruleData is what the default rule template sees.
type ruleData struct {
	Name      string            // catalog service name
	Namespace string            // catalog namespace, "" for the default one ("default" in Nomad)
	Labels    map[string]string // tags with the prefix, keys rewritten to "traefik.…"
	Tags      []string          // all tags of the instance
}

// assemble applies Traefik's provider defaults to d and fills servers from
// insts, each with the port and scheme of its own tags. It returns nil when nothing is left.
func (st *state) assemble(g group, origin catalog.Origin, d *decoded, insts []member) *dynamic.Configuration {
	name := g.shown()
	def := Normalize(g.name)
	if def != "" && g.ns != "" {
		def += "-" + Normalize(g.ns) // the same name in two namespaces gives two objects
	}
	if def == "" {
		st.problem(origin, name, "", errors.New("name has no letters or digits: not routed"))
		return nil
	}
	report := func(tag string, err error) { st.problem(origin, name, tag, err) }
	cfg := d.cfg
	tcpOrUDP := false

	if t := cfg.TCP; t != nil && (len(t.Routers) > 0 || len(t.Services) > 0 || d.droppedKind("tcp", "routers") || d.droppedKind("tcp", "services")) {
		tcpOrUDP = true
		if len(t.Services) == 0 && !d.droppedKind("tcp", "services") {
			t.Services = map[string]*dynamic.TCPService{def: {LoadBalancer: &dynamic.TCPServersLoadBalancer{}}}
		}
		for sn := range sortedKeys(t.Services) {
			lb := t.Services[sn].LoadBalancer
			if lb == nil {
				continue
			}
			lb.Servers = tcpServers(sn, d, insts, report)
		}
		n := len(t.Services) + countDropped(d, "tcp", "services")
		for rn := range sortedKeys(t.Routers) {
			r := t.Routers[rn]
			if r.Rule == "" {
				delete(t.Routers, rn)
				report("", fmt.Errorf("tcp router %q dropped: it has no rule (TCP routers need one, e.g. HostSNI(`*`))", rn))
				continue
			}
			if !bindService(&r.Service, n, t.Services, d, "tcp", rn, report) {
				delete(t.Routers, rn)
			}
		}
	}
	if u := cfg.UDP; u != nil && (len(u.Routers) > 0 || len(u.Services) > 0 || d.droppedKind("udp", "routers") || d.droppedKind("udp", "services")) {
		tcpOrUDP = true
		if len(u.Services) == 0 && !d.droppedKind("udp", "services") {
			u.Services = map[string]*dynamic.UDPService{def: {LoadBalancer: &dynamic.UDPServersLoadBalancer{}}}
		}
		for sn := range sortedKeys(u.Services) {
			lb := u.Services[sn].LoadBalancer
			if lb == nil {
				continue
			}
			lb.Servers = udpServers(sn, d, insts, report)
		}
		n := len(u.Services) + countDropped(d, "udp", "services")
		for rn := range sortedKeys(u.Routers) {
			if !bindService(&u.Routers[rn].Service, n, u.Services, d, "udp", rn, report) {
				delete(u.Routers, rn)
			}
		}
	}

	h := cfg.HTTP
	httpTagged := h != nil && (len(h.Routers) > 0 || len(h.Services) > 0 || len(h.Middlewares) > 0) ||
		d.droppedKind("http", "routers") || d.droppedKind("http", "services") || d.droppedKind("http", "middlewares")
	if tcpOrUDP && !httpTagged {
		return cfg
	}
	if h == nil {
		h = &dynamic.HTTPConfiguration{}
		cfg.HTTP = h
	}
	if len(h.Services) == 0 && !d.droppedKind("http", "services") {
		h.Services = map[string]*dynamic.Service{def: {LoadBalancer: &dynamic.ServersLoadBalancer{PassHostHeader: ptr(true)}}}
	}
	for sn := range sortedKeys(h.Services) {
		lb := h.Services[sn].LoadBalancer
		if lb == nil {
			continue
		}
		if lb.PassHostHeader == nil {
			lb.PassHostHeader = ptr(true) // Traefik's default, written out for every reader
		}
		srv, err := httpServers(sn, d, insts, report)
		if err != nil {
			delete(h.Services, sn)
			d.drop(tags.Object{Section: "http", Kind: "services", Name: sn})
			report("", fmt.Errorf("service %q dropped: %w", sn, err))
			continue
		}
		lb.Servers = srv
		// The catalog's own HTTP check becomes Traefik's health check of
		// the servers, where the tags set none and the servers are the
		// checked address and port.
		if tmpl := d.httpTmpl[sn]; lb.HealthCheck == nil && !d.noHealthCheck && tmpl.URL == "" && tmpl.Port == "" {
			if c := commonCheck(insts); c != nil {
				lb.HealthCheck = healthCheckOf(c)
			}
		}
	}
	n := len(h.Services) + countDropped(d, "http", "services")
	if len(h.Routers) == 0 && !d.droppedKind("http", "routers") {
		switch {
		case n > 1:
			report("", fmt.Errorf("no default router: %d services, and no router names one", n))
		case len(h.Services) == 1:
			h.Routers = map[string]*dynamic.Router{def: {}}
		}
	}
	var data *ruleData
	for rn := range sortedKeys(h.Routers) {
		r := h.Routers[rn]
		if r.Rule == "" {
			if data == nil {
				data = &ruleData{Name: g.name, Namespace: g.ns, Labels: st.b.labels(d.tags), Tags: insts0(insts).Tags}
			}
			var buf bytes.Buffer
			if err := st.b.rule.Execute(&buf, data); err != nil {
				delete(h.Routers, rn)
				report("", fmt.Errorf("router %q dropped: default rule: %w", rn, err))
				continue
			}
			if r.Rule = buf.String(); strings.TrimSpace(r.Rule) == "" {
				delete(h.Routers, rn)
				report("", fmt.Errorf("router %q dropped: default rule is empty", rn))
				continue
			}
			if strings.Contains(r.Rule, "``") {
				// Traefik rejects matchers with an empty argument: a template value was empty.
				delete(h.Routers, rn)
				report("", fmt.Errorf("router %q dropped: default rule %s has an empty argument", rn, r.Rule))
				continue
			}
		}
		if !bindService(&r.Service, n, h.Services, d, "http", rn, report) {
			delete(h.Routers, rn)
			continue
		}
		for _, m := range r.Middlewares {
			if d.isDropped("http", "middlewares", m) {
				delete(h.Routers, rn)
				report("", fmt.Errorf("router %q dropped: its middleware %q was dropped", rn, m))
				break
			}
		}
	}
	addRetry(h, d)
	st.splitCanaries(h, d, insts, report)
	if t := cfg.TCP; t != nil {
		for rn := range sortedKeys(t.Routers) {
			for _, m := range t.Routers[rn].Middlewares {
				if d.isDropped("tcp", "middlewares", m) {
					delete(t.Routers, rn)
					report("", fmt.Errorf("tcp router %q dropped: its middleware %q was dropped", rn, m))
					break
				}
			}
		}
	}
	return cfg
}

// addRetry appends RetryMiddleware to the HTTP routers that route to a load
// balancer of this catalog service and have no retry middleware of their
// own, and defines it, unless d opts out.
func addRetry(h *dynamic.HTTPConfiguration, d *decoded) {
	if d.noRetry {
		return
	}
	for _, r := range h.Routers {
		if svc := h.Services[r.Service]; svc == nil || svc.LoadBalancer == nil {
			continue // another provider's service, or a weighted one of tagged services
		}
		if slices.ContainsFunc(r.Middlewares, func(m string) bool {
			mw := h.Middlewares[m]
			return m == RetryMiddleware || mw != nil && mw.Retry != nil
		}) {
			continue
		}
		r.Middlewares = append(r.Middlewares, RetryMiddleware)
		if h.Middlewares == nil {
			h.Middlewares = map[string]*dynamic.Middleware{}
		}
		h.Middlewares[RetryMiddleware] = retryConfig()
	}
}

func insts0(insts []member) catalog.Instance {
	if len(insts) == 0 {
		return catalog.Instance{}
	}
	return *insts[0].in
}

// bindService gives a router without a service the only service of its
// catalog service, as Traefik does; n counts the services including the
// dropped ones. It reports false when the router must go.
func bindService[V any](svc *string, n int, services map[string]V, d *decoded, section, rn string, report func(string, error)) bool {
	what := "router"
	if section != "http" {
		what = section + " router"
	}
	if *svc == "" {
		if n != 1 || len(services) != 1 {
			switch {
			case n == 1:
				report("", fmt.Errorf("%s %q dropped: its only service was dropped", what, rn))
			case n == 0:
				report("", fmt.Errorf("%s %q dropped: no service to route to", what, rn))
			default:
				report("", fmt.Errorf("%s %q dropped: %d services, and the router names none", what, rn, n))
			}
			return false
		}
		for name := range services {
			*svc = name
		}
		return true
	}
	if d.isDropped(section, "services", *svc) {
		report("", fmt.Errorf("%s %q dropped: its service %q was dropped", what, rn, *svc))
		return false
	}
	return true
}

func countDropped(d *decoded, section, kind string) int {
	n := 0
	for o := range d.dropped {
		if o.Section == section && o.Kind == kind {
			n++
		}
	}
	return n
}

// httpServers makes the servers of HTTP load balancer sn: one per instance
// (URL scheme://address:port, port and scheme from the instance's own tags),
// or the one tagged URL.
func httpServers(sn string, d *decoded, insts []member, report func(string, error)) ([]dynamic.Server, error) {
	tmpl := d.httpTmpl[sn]
	if tmpl.URL != "" {
		if tmpl.Port != "" || tmpl.Scheme != "" {
			return nil, errors.New("server.url excludes server.port and server.scheme")
		}
		return []dynamic.Server{{URL: tmpl.URL, Weight: tmpl.Weight, PreservePath: tmpl.PreservePath}}, nil
	}
	out := make([]dynamic.Server, 0, len(insts))
	for _, m := range insts {
		t := tmpl
		if o := m.own(d); o != d {
			if ot, ok := o.httpTmpl[sn]; ok && ot.URL == "" {
				t = ot
			}
		}
		url, ok := hostPort(m.in, cmp.Or(t.Scheme, "http"), t.Port, report)
		if !ok {
			continue
		}
		out = append(out, dynamic.Server{URL: url, Weight: t.Weight, PreservePath: t.PreservePath})
	}
	slices.SortFunc(out, func(a, b dynamic.Server) int { return cmp.Compare(a.URL, b.URL) })
	return slices.CompactFunc(out, func(a, b dynamic.Server) bool { return a.URL == b.URL }), nil
}

func tcpServers(sn string, d *decoded, insts []member, report func(string, error)) []dynamic.TCPServer {
	out := make([]dynamic.TCPServer, 0, len(insts))
	for _, m := range insts {
		t := d.tcpTmpl[sn]
		if o := m.own(d); o != d {
			if ot, ok := o.tcpTmpl[sn]; ok {
				t = ot
			}
		}
		hp, ok := hostPort(m.in, "", t.Port, report)
		if !ok {
			continue
		}
		out = append(out, dynamic.TCPServer{Address: hp, TLS: t.TLS})
	}
	slices.SortFunc(out, func(a, b dynamic.TCPServer) int { return cmp.Compare(a.Address, b.Address) })
	return slices.CompactFunc(out, func(a, b dynamic.TCPServer) bool { return a.Address == b.Address })
}

func udpServers(sn string, d *decoded, insts []member, report func(string, error)) []dynamic.UDPServer {
	out := make([]dynamic.UDPServer, 0, len(insts))
	for _, m := range insts {
		t := d.udpTmpl[sn]
		if o := m.own(d); o != d {
			if ot, ok := o.udpTmpl[sn]; ok {
				t = ot
			}
		}
		hp, ok := hostPort(m.in, "", t.Port, report)
		if !ok {
			continue
		}
		out = append(out, dynamic.UDPServer{Address: hp})
	}
	slices.SortFunc(out, func(a, b dynamic.UDPServer) int { return cmp.Compare(a.Address, b.Address) })
	return slices.CompactFunc(out, func(a, b dynamic.UDPServer) bool { return a.Address == b.Address })
}

// hostPort is the address of in (host:port, as net.JoinHostPort writes
// it), with port overridden by a tag; with a scheme, it is the URL
// scheme://host:port.
func hostPort(in *catalog.Instance, scheme, port string, report func(string, error)) (string, bool) {
	if in.Address == "" {
		report("", fmt.Errorf("instance %s has no address: not a server", in.Key()))
		return "", false
	}
	var num [20]byte
	var p []byte // the instance's port, written in num, when no tag sets one
	if port == "" {
		if in.Port <= 0 || in.Port > 65535 {
			report("", fmt.Errorf("instance %s has no port (%d) and no server.port tag: not a server", in.Key(), in.Port))
			return "", false
		}
		p = strconv.AppendInt(num[:0], int64(in.Port), 10)
	}
	var b strings.Builder // one allocation for the result
	b.Grow(len(scheme) + len("://[]:") + len(in.Address) + len(port) + len(p))
	if scheme != "" {
		b.WriteString(scheme)
		b.WriteString("://")
	}
	if strings.IndexByte(in.Address, ':') >= 0 {
		b.WriteByte('[')
		b.WriteString(in.Address)
		b.WriteByte(']')
	} else {
		b.WriteString(in.Address)
	}
	b.WriteByte(':')
	b.WriteString(port)
	b.Write(p)
	return b.String(), true
}

// sortedKeys yields the keys of m in order. It reads them all before the
// first yield, so the caller may add and delete entries as it goes.
func sortedKeys[V any](m map[string]V) iter.Seq[string] {
	return func(yield func(string) bool) {
		if len(m) == 1 { // most maps of one catalog service: no slice
			var only string
			for k := range m {
				only = k
			}
			yield(only)
			return
		}
		ks := make([]string, 0, len(m))
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		for _, k := range ks {
			if !yield(k) {
				return
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// splitCanaries turns each HTTP load balancer whose servers include both
// canaries and stable instances into a weighted service of the same name
// over "<name>-stable" and "<name>-canary", the canaries getting d.weight
// percent of requests. Routers keep pointing at the same name, so promotion
// (no canaries left) folds the service back into a plain load balancer.
func (st *state) splitCanaries(h *dynamic.HTTPConfiguration, d *decoded, insts []member, report func(string, error)) {
	if !slices.ContainsFunc(insts, func(m member) bool { return m.canary }) {
		return
	}
	var stable, canary []member
	for _, m := range insts {
		if m.canary {
			canary = append(canary, m)
		} else {
			stable = append(stable, m)
		}
	}
	if len(canary) == 0 || len(stable) == 0 {
		return
	}
	for sn := range sortedKeys(h.Services) {
		svc := h.Services[sn]
		if svc.LoadBalancer == nil || d.httpTmpl[sn].URL != "" {
			continue
		}
		sName, cName := sn+"-stable", sn+"-canary"
		if h.Services[sName] != nil || h.Services[cName] != nil {
			report("", fmt.Errorf("service %q: canaries not split: %q or %q is already a service", sn, sName, cName))
			continue
		}
		w := d.weight
		for _, m := range canary {
			if m.v.d != nil && m.v.d.weightSet {
				w = m.v.d.weight // the canaries' own tags say how much traffic they want
				break
			}
		}
		ss, _ := httpServers(sn, d, stable, report)
		cs, _ := httpServers(sn, d, canary, report)
		if len(ss) == 0 || len(cs) == 0 {
			continue
		}
		sLB, cLB := *svc.LoadBalancer, *svc.LoadBalancer
		sLB.Servers, cLB.Servers = ss, cs
		h.Services[sName] = &dynamic.Service{LoadBalancer: &sLB}
		h.Services[cName] = &dynamic.Service{LoadBalancer: &cLB}
		h.Services[sn] = &dynamic.Service{Weighted: &dynamic.WeightedRoundRobin{Services: []dynamic.WRRService{
			{Name: sName, Weight: ptr(100 - w)},
			{Name: cName, Weight: ptr(w)},
		}}}
	}
}
