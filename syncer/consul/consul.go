// Package consul is the Consul catalog source of the syncer: it watches
// Consul's service catalog through the official client
// (github.com/hashicorp/consul/api) and keeps the latest instances, with
// their aggregated health, of every service Traefik may expose.
//
// Data enters through two blocking queries, whatever the number of
// services: /v1/catalog/services (which services exist and their tags; a
// new index may mean new or changed instances of any of them) and
// /v1/health/state/any (every check: a change names the services, or the
// nodes, it concerns). Either marks services to be read again, and a reader
// reads those with non-blocking /v1/health/service/:name queries, a few at
// a time. It leaves through Snapshot, and Run's notify signals that it may
// have changed.
package consul

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/internal/blocking"
	"github.com/whiskers-dev/whiskers/syncer/tags"
)

// Options configures a Source. The zero value watches the agent named by the
// CONSUL_HTTP_* environment variables with the defaults documented below.
type Options struct {
	// Config is the client configuration; nil means api.DefaultConfig(),
	// which reads CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_CACERT, ….
	Config *api.Config
	// Prefix is the tag prefix that enables a service ("traefik").
	Prefix string
	// ExposedByDefault watches every service, not only those tagged
	// <prefix>.enable=true (services tagged <prefix>.enable=false are skipped).
	ExposedByDefault bool
	// Namespace and Partition are passed to every query (Consul Enterprise);
	// "" means the token's default.
	Namespace, Partition string
	// WaitTime is how long a blocking query may wait (default 5 minutes).
	WaitTime time.Duration
	// MinInterval rate-limits each watch: two queries of one watch start at
	// least this far apart, plus jitter (default 50 ms).
	MinInterval time.Duration
	// ReadConcurrency is how many services are read at once after a
	// change (default 2): with the two watches, the connections to the
	// agent, whatever the number of services.
	ReadConcurrency int
	// MinBackoff and MaxBackoff bound the exponential backoff after errors
	// (defaults 200 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// WatchdogGrace is how long past its wait (plus Consul's and Nomad's
	// wait/16 jitter) a blocking call may stay unanswered before it is torn
	// down and re-established (default 10 s).
	WatchdogGrace time.Duration
	// Logger receives the source's logs (default slog.Default()).
	Logger *slog.Logger
	// OnError, if set, is called for every failed catalog call (for metrics);
	// it must not block.
	OnError func(error)
	// OnAnswer, if set, is called with the catalog index of every answer
	// (for the status page); it must not block.
	OnAnswer func(index uint64)
}

// Source watches a Consul catalog. Create it with New; Run it once. Snapshot
// and Resync are safe to call from any goroutine.
type Source struct {
	opts   Options
	client *api.Client
	log    *slog.Logger

	resync chan struct{}
	dirty  chan struct{} // services are pending: wakes the reader

	mu           sync.Mutex
	instances    map[string][]catalog.Instance // by service name
	enabledSvcs  map[string]bool               // the enabled services of the last list
	pending      map[string]bool               // services to read (again)
	healthSums   map[string]uint64             // the last health answer: digest of the checks, by digestKey
	readSums     map[string]readSum            // by service read: what its last read says of the same checks
	listed       bool
	ready        bool
	warnedFilter bool
}

var _ catalog.Source = (*Source)(nil)

// New validates opts and returns a Source; it does not contact Consul.
func New(opts Options) (*Source, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	client, err := api.NewClient(limitConns(opts.Config, opts.ReadConcurrency+2))
	if err != nil {
		return nil, fmt.Errorf("consul: creating client: %w", err)
	}
	log := opts.Logger.With("source", "consul")
	if opts.Namespace != "" {
		log = log.With("namespace", opts.Namespace)
	}
	return &Source{
		opts:      opts,
		client:    client,
		log:       log,
		resync:    make(chan struct{}, 1),
		dirty:     make(chan struct{}, 1),
		instances: map[string][]catalog.Instance{},
		pending:   map[string]bool{},
		readSums:  map[string]readSum{},
	}, nil
}

// withDefaults returns opts with the documented defaults filled in, or an
// error naming what is wrong.
func (opts Options) withDefaults() (Options, error) {
	if opts.Config == nil {
		opts.Config = api.DefaultConfig()
	}
	if opts.Prefix == "" {
		opts.Prefix = "traefik"
	}
	if opts.WaitTime <= 0 {
		opts.WaitTime = 5 * time.Minute
	}
	if opts.MinInterval < 0 {
		return opts, errors.New("consul: negative MinInterval")
	}
	if opts.MinInterval == 0 {
		opts.MinInterval = 50 * time.Millisecond
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		return opts, fmt.Errorf("consul: MaxBackoff %v below MinBackoff %v", opts.MaxBackoff, opts.MinBackoff)
	}
	if opts.WatchdogGrace <= 0 {
		opts.WatchdogGrace = 10 * time.Second
	}
	if opts.ReadConcurrency <= 0 {
		opts.ReadConcurrency = 2
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return opts, nil
}

// limitConns returns a copy of cfg whose client holds at most n connections
// to the agent (the two watches and the readers), on a transport of its
// own. A caller-provided HttpClient is left alone.
func limitConns(cfg *api.Config, n int) *api.Config {
	c := *cfg
	if c.HttpClient != nil {
		return &c
	}
	if c.Transport == nil {
		c.Transport = api.DefaultConfig().Transport
	} else {
		c.Transport = c.Transport.Clone()
	}
	c.Transport.MaxConnsPerHost = n
	c.Transport.MaxIdleConnsPerHost = n
	return &c
}

// Name returns "consul", or "consul/<namespace>" when a namespace is set.
func (s *Source) Name() string {
	if s.opts.Namespace != "" {
		return string(catalog.OriginConsul) + "/" + s.opts.Namespace
	}
	return string(catalog.OriginConsul)
}

// Snapshot returns the last instances read, sorted, and whether every watched
// service has been read at least once. After a fault it keeps returning the
// last good instances.
func (s *Source) Snapshot() ([]catalog.Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []catalog.Instance
	for _, name := range slices.Sorted(maps.Keys(s.instances)) {
		out = append(out, s.instances[name]...)
	}
	slices.SortFunc(out, catalog.Compare)
	return out, s.ready
}

// Resync makes Run drop its indexes and re-read the whole catalog; the last
// instances stay in the snapshot until replaced.
func (s *Source) Resync() {
	select {
	case s.resync <- struct{}{}:
	default:
	}
}

// Run watches the catalog until ctx is done, calling notify (which must not
// block) whenever the snapshot may have changed. Catalog errors are logged
// and retried with backoff; Run returns nil when ctx is done.
//
// It holds three requests to the agent at most, whatever the number of
// services (Consul refuses more than limits.http_max_conns_per_client, 200
// by default, from one address): the blocking query on the service list,
// the blocking query on every check's state, and one read of a service
// whose instances or checks changed.
func (s *Source) Run(ctx context.Context, notify func()) error {
	for ctx.Err() == nil {
		inner, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() {
			select {
			case <-s.resync:
				s.log.Info("full resync")
				s.mu.Lock()
				s.healthSums = nil
				s.mu.Unlock()
				cancel()
			case <-inner.Done():
			}
		})
		wg.Go(func() { blocking.Run(inner, s.loop("catalog/services"), s.fetchServices, s.servicesChanged(notify)) })
		wg.Go(func() { blocking.Run(inner, s.loop("health/state/any"), s.fetchChecks, s.checksChanged) })
		wg.Go(func() { s.reader(inner, notify) })
		wg.Wait()
		cancel()
	}
	return nil
}

// loop is the blocking-query loop of one watch.
func (s *Source) loop(name string) blocking.Loop {
	return blocking.Loop{
		Name: "consul " + name, Wait: s.opts.WaitTime, MinInterval: s.opts.MinInterval,
		MinBackoff: s.opts.MinBackoff, MaxBackoff: s.opts.MaxBackoff, Grace: s.opts.WatchdogGrace,
		Logger: s.log, OnError: s.opts.OnError, OnAnswer: s.opts.OnAnswer,
	}
}

func (s *Source) query(ctx context.Context, index uint64, wait time.Duration) *api.QueryOptions {
	q := &api.QueryOptions{WaitIndex: index, WaitTime: wait, Namespace: s.opts.Namespace, Partition: s.opts.Partition}
	return q.WithContext(ctx)
}

// serviceList is an answer of /v1/catalog/services.
type serviceList struct {
	tags     map[string][]string
	filtered bool // X-Consul-Results-Filtered-By-ACLs
}

func (s *Source) fetchServices(ctx context.Context, index uint64, wait time.Duration) (serviceList, uint64, error) {
	services, meta, err := s.client.Catalog().Services(s.query(ctx, index, wait))
	if err != nil {
		return serviceList{}, 0, fmt.Errorf("consul: listing services: %w", err)
	}
	return serviceList{tags: services, filtered: meta.ResultsFilteredByACLs}, meta.LastIndex, nil
}

// ErrFilteredByACLs is wrapped by the error of a service list that the
// token's ACLs filtered and that would drop services from the routes.
var ErrFilteredByACLs = errors.New("results filtered by ACLs")

// servicesChanged applies a new service list: services no longer enabled
// leave the snapshot, and every enabled service is read again (a change of
// the list's index may be a change of any service's instances).
func (s *Source) servicesChanged(notify func()) func(context.Context, serviceList) error {
	return func(_ context.Context, l serviceList) error {
		enabled := map[string]bool{}
		for name, ts := range l.tags {
			if s.enabled(ts) {
				enabled[name] = true
			}
		}
		s.mu.Lock()
		var lost []string
		for name := range s.instances {
			if !enabled[name] {
				lost = append(lost, name)
			}
		}
		if l.filtered && len(lost) > 0 {
			s.mu.Unlock()
			slices.Sort(lost)
			return fmt.Errorf("consul: the token may not read services it could read before (%s): keeping their last instances; "+
				"it needs service:read on them (see deploy/nomad/whiskers-sync.consul-policy.hcl): %w",
				strings.Join(lost, ", "), ErrFilteredByACLs)
		}
		if l.filtered && !s.warnedFilter {
			s.warnedFilter = true
			s.log.Warn("the token's ACLs filter the service list: services it may not read are not routed")
		}
		changed := false
		for _, name := range lost {
			delete(s.instances, name)
			delete(s.readSums, name)
			changed = true
		}
		s.enabledSvcs = enabled
		for name := range enabled {
			s.pending[name] = true
		}
		for name := range s.pending {
			if !enabled[name] {
				delete(s.pending, name)
			}
		}
		s.listed = true
		changed = s.updateReadyLocked() || changed
		s.mu.Unlock()
		s.wake()
		if changed {
			notify()
		}
		return nil
	}
}

func (s *Source) fetchChecks(ctx context.Context, index uint64, wait time.Duration) (api.HealthChecks, uint64, error) {
	checks, meta, err := s.client.Health().State(api.HealthAny, s.query(ctx, index, wait))
	if err != nil {
		return nil, 0, fmt.Errorf("consul: reading health state: %w", err)
	}
	return checks, meta.LastIndex, nil
}

// checksChanged records the health watch's answer and marks to be read
// again every service whose last read says otherwise of its checks or its
// nodes' (markContradictedLocked).
func (s *Source) checksChanged(_ context.Context, checks api.HealthChecks) error {
	sums := map[string]uint64{}
	for _, c := range checks {
		if c != nil {
			sums[digestKey(c)] += checkSum(c) // order-independent
		}
	}
	s.mu.Lock()
	s.healthSums = sums
	marked := s.markContradictedLocked()
	s.mu.Unlock()
	if marked {
		s.wake()
	}
	return nil
}

// readSum is what a read of a service says of the checks the health watch
// digests: the sum of its instances' checks and of their nodes' checks,
// and those nodes.
type readSum struct {
	sum   uint64
	nodes []string
}

// readSumOf is the readSum of a service read as entries.
func readSumOf(entries []*api.ServiceEntry) readSum {
	var r readSum
	seen := map[string]bool{}
	for _, e := range entries {
		if e == nil {
			continue
		}
		node := ""
		if e.Node != nil {
			node = e.Node.Node
		}
		newNode := !seen[node]
		if newNode {
			seen[node] = true
			r.nodes = append(r.nodes, node)
		}
		for _, c := range e.Checks {
			// Every entry on a node carries that node's checks: count
			// them once.
			if c != nil && (c.ServiceID != "" || newNode) {
				r.sum += checkSum(c)
			}
		}
	}
	return r
}

// markContradictedLocked marks to be read again every enabled service whose
// last read says other than the last health answer of its checks and its
// nodes' checks; it reports whether it marked one. Comparing with the read,
// not with the previous answer, catches a change the read missed however
// the two interleave: a read before the first answer, or one between two
// answers that saw a state the next answer no longer shows (a check that
// flapped back). A read newer than the answer is compared again at the
// next answer, which every change brings.
func (s *Source) markContradictedLocked() bool {
	if s.healthSums == nil {
		return false
	}
	marked := false
	for name, r := range s.readSums {
		if !s.enabledSvcs[name] {
			continue
		}
		want := s.healthSums[name]
		for _, n := range r.nodes {
			want += s.healthSums["node:"+n]
		}
		if want != r.sum {
			s.pending[name] = true
			marked = true
		}
	}
	return marked
}

// digestKey is where a check counts in the health digests: under its
// service's name, or "node:" and its node for a node check.
func digestKey(c *api.HealthCheck) string {
	if c.ServiceID != "" {
		return c.ServiceName
	}
	return "node:" + c.Node
}

// checkSum is one check's part of a digest: its node, ID, service and
// status.
func checkSum(c *api.HealthCheck) uint64 {
	h := fnv.New64a()
	for _, f := range []string{c.Node, c.CheckID, c.ServiceID, c.Status} {
		_, _ = h.Write([]byte(f))
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64()
}

// wake tells the reader that services are pending.
func (s *Source) wake() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// reader reads the pending services, ReadConcurrency at a time, until ctx
// is done; a service whose read failed stays pending and is tried again
// after a backoff.
func (s *Source) reader(ctx context.Context, notify func()) {
	bo := blocking.Backoff{Min: s.opts.MinBackoff, Max: s.opts.MaxBackoff}
	for {
		s.mu.Lock()
		names := slices.Sorted(maps.Keys(s.pending))
		clear(s.pending)
		s.mu.Unlock()
		if len(names) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-s.dirty:
				continue
			}
		}
		var (
			wg      sync.WaitGroup
			next    atomic.Int64
			failed  atomic.Bool
			changed atomic.Bool
		)
		for range min(s.opts.ReadConcurrency, len(names)) {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < len(names) && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
					c, err := s.readService(ctx, names[i])
					if err != nil {
						if ctx.Err() == nil {
							failed.Store(true)
							s.mu.Lock()
							s.pending[names[i]] = true
							s.mu.Unlock()
							if s.opts.OnError != nil {
								s.opts.OnError(err)
							}
							s.log.Warn("catalog call failed, retrying", "err", err)
						}
						continue
					}
					if c {
						changed.Store(true)
					}
				}
			})
		}
		wg.Wait()
		if changed.Load() {
			notify()
		}
		if failed.Load() {
			if !blocking.Sleep(ctx, bo.Next()) {
				return
			}
		} else {
			bo.Reset()
		}
	}
}

// readService reads one service's instances and health (a non-blocking
// query) into the snapshot; it reports whether the snapshot changed.
func (s *Source) readService(ctx context.Context, name string) (bool, error) {
	callCtx, cancel := context.WithTimeout(ctx, s.opts.WatchdogGrace+s.opts.WaitTime/16)
	defer cancel()
	entries, meta, err := s.client.Health().Service(name, "", false, s.query(callCtx, 0, 0))
	if err != nil {
		return false, fmt.Errorf("consul: reading health of %q: %w", name, err)
	}
	insts := toInstances(entries)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.enabledSvcs[name] { // no longer listed while it was read
		return false, nil
	}
	old, had := s.instances[name]
	// The token's ACLs hiding instances it could read before is a fault,
	// as for the service list: they keep routing until it may read them.
	if meta.ResultsFilteredByACLs && had && slices.ContainsFunc(old, func(o catalog.Instance) bool {
		return !slices.ContainsFunc(insts, func(n catalog.Instance) bool { return n.ID == o.ID })
	}) {
		return false, fmt.Errorf("consul: the token may not read instances of %q it could read before: keeping them; "+
			"it needs service:read on it and node:read on their nodes (see deploy/nomad/whiskers-sync.consul-policy.hcl): %w",
			name, ErrFilteredByACLs)
	}
	changed := !had || !slices.EqualFunc(old, insts, catalog.Instance.Equal)
	s.instances[name] = insts
	s.readSums[name] = readSumOf(entries)
	return s.updateReadyLocked() || changed, nil
}

// updateReadyLocked marks the source ready once the list and every enabled
// service have been read; it reports whether readiness changed.
func (s *Source) updateReadyLocked() bool {
	if s.ready || !s.listed {
		return false
	}
	for name := range s.enabledSvcs {
		if _, read := s.readSums[name]; !read {
			return false
		}
	}
	s.ready = true
	s.log.Info("catalog ready", "services", len(s.instances))
	return true
}

// enabled reports whether a service with these tags is watched: opted in as
// Traefik reads the enable tag (tags.Enabled), or with a malformed one, which
// the builder reports.
func (s *Source) enabled(ts []string) bool {
	en, bad := tags.Enabled(ts, s.opts.Prefix, s.opts.ExposedByDefault)
	return en || bad != ""
}

// toInstances converts health entries into sorted instances.
func toInstances(entries []*api.ServiceEntry) []catalog.Instance {
	out := make([]catalog.Instance, 0, len(entries))
	for _, e := range entries {
		if e == nil || e.Service == nil {
			continue
		}
		in := catalog.Instance{
			Origin:    catalog.OriginConsul,
			Service:   e.Service.Service,
			Namespace: e.Service.Namespace,
			ID:        e.Service.ID,
			Address:   e.Service.Address,
			Port:      e.Service.Port,
			Tags:      slices.Clone(e.Service.Tags),
			Meta:      maps.Clone(e.Service.Meta),
			Health:    Aggregate(e.Checks),
			// Nomad's registrations: the Nomad source adds what it
			// knows of the allocation (catalog.Annotator).
			AllocID: catalog.NomadAllocID(e.Service.ID),
		}
		if e.Node != nil {
			in.Node = e.Node.Node
			in.Datacenter = e.Node.Datacenter
			if in.Address == "" {
				in.Address = e.Node.Address
			}
		}
		if in.Datacenter == "" {
			in.Datacenter = e.Service.Datacenter
		}
		out = append(out, in)
	}
	slices.SortFunc(out, catalog.Compare)
	return out
}

// Aggregate returns the worst status of checks: critical beats warning beats
// passing; maintenance counts as critical. No checks means passing.
func Aggregate(checks api.HealthChecks) catalog.Health {
	worst := catalog.HealthPassing
	for _, c := range checks {
		if c == nil {
			continue
		}
		switch c.Status {
		case api.HealthCritical, api.HealthMaint:
			return catalog.HealthCritical
		case api.HealthWarning:
			worst = catalog.HealthWarning
		}
	}
	return worst
}
