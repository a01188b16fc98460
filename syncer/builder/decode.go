package builder

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/whiskers-dev/whiskers/syncer/dynamic"
	"github.com/whiskers-dev/whiskers/syncer/tags"
)

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
	httpTemplates map[string]dynamic.Server    // loadbalancer.server.* per HTTP service, as tagged
	tcpTemplates  map[string]dynamic.TCPServer // per TCP service
	udpTemplates  map[string]dynamic.UDPServer // per UDP service
}

// chooseVariant decodes variants in order and returns the first one whose
// tags have no problem, or else the first one; it reports the problems of
// every variant it decoded. The decoded tags are nil when no variant can be
// used.
func (b *Builder) chooseVariant(service string, variants []*variant, problems *problemList) (*variant, *decoded) {
	var failed problemList // problems of the variants decoded so far
	for _, v := range variants {
		var variantProblems problemList
		d, err := b.decode(v.tags, func(tag string, err error) { variantProblems.add(v.first.Origin, service, tag, err) })
		v.d = d
		if err == nil && len(variantProblems) == 0 {
			*problems = append(*problems, failed...)
			return v, d
		}
		failed = append(failed, variantProblems...)
	}
	*problems = append(*problems, failed...)
	return variants[0], variants[0].d
}

// decode reads relevant tags (sorted) into a configuration. A tag that fails
// drops the object it configures; a tag that names no object drops
// everything (errWholeService). report receives every problem.
func (b *Builder) decode(relevant []string, report reportFunc) (*decoded, error) {
	d := &decoded{
		cfg:    &dynamic.Configuration{},
		tags:   relevant,
		zero:   zeroKeepRouters,
		weight: DefaultCanaryWeight,
	}
	fail := func(tag string, o tags.Object, err error) {
		d.drop(o)
		report(tag, fmt.Errorf("%s %q dropped: %w", singular(o), o.Name, err))
	}
	for _, tag := range relevant {
		k, v, hasEq := tags.Split(tag)
		if wk, ok := cutPrefix(k, whiskersPrefix); ok {
			d.whiskers(tag, wk, v, hasEq, report)
			continue
		}
		rest, ok := cutPrefix(k, b.prefix)
		if !ok || !traefikSection(rest) {
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

// traefikSection reports whether key (without the prefix) is in a section
// of the dynamic configuration: http, tcp, udp or tls.
func traefikSection(key string) bool {
	sec, _, _ := strings.Cut(key, ".")
	return strings.EqualFold(sec, "http") || strings.EqualFold(sec, "tcp") ||
		strings.EqualFold(sec, "udp") || strings.EqualFold(sec, "tls")
}

// cutPrefix returns the rest of key after "<prefix>." (prefix matched
// case-insensitively).
func cutPrefix(key, prefix string) (string, bool) {
	if len(key) <= len(prefix) || key[len(prefix)] != '.' || !strings.EqualFold(key[:len(prefix)], prefix) {
		return "", false
	}
	return key[len(prefix)+1:], true
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

// validScheme reports whether s is a URL scheme (RFC 3986).
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
		d.httpTemplates = takeTemplates(&httpServerKind, h.Services)
	}
	if t := d.cfg.TCP; t != nil {
		d.tcpTemplates = takeTemplates(&tcpServerKind, t.Services)
	}
	if u := d.cfg.UDP; u != nil {
		d.udpTemplates = takeTemplates(&udpServerKind, u.Services)
	}
}

// drop records that o was dropped.
func (d *decoded) drop(o tags.Object) {
	if d.dropped == nil {
		d.dropped = map[tags.Object]bool{}
	}
	d.dropped[o] = true
}

// droppedKind reports whether an object of section and kind was dropped.
func (d *decoded) droppedKind(section, kind string) bool {
	for o := range d.dropped {
		if o.Section == section && o.Kind == kind {
			return true
		}
	}
	return false
}

// countDropped is the number of objects of section and kind dropped.
func (d *decoded) countDropped(section, kind string) int {
	n := 0
	for o := range d.dropped {
		if o.Section == section && o.Kind == kind {
			n++
		}
	}
	return n
}

// isDropped reports whether the object section.kind.name was dropped.
func (d *decoded) isDropped(section, kind, name string) bool {
	return d.dropped[tags.Object{Section: section, Kind: kind, Name: name}]
}

// singular names the kind of an object in messages: "router", "service", …
func singular(o tags.Object) string {
	k := strings.TrimSuffix(o.Kind, "s")
	if o.Section == "http" {
		return k
	}
	return o.Section + " " + k
}
