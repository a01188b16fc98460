package builder

import (
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/whiskers-dev/whiskers/syncer/dynamic"
)

// assemble applies Traefik's provider defaults to the decoded tags d of
// catalog service g, per protocol (assemble_tcp.go, assemble_udp.go,
// assemble_http.go), and fills the load balancers with servers, one per
// member of servers, each with the port and scheme of its own tags. It
// returns d's configuration, completed, or nil when nothing is left.
func (b *Builder) assemble(g group, d *decoded, servers []member, report reportFunc) *dynamic.Configuration {
	def := defaultName(g)
	if def == "" {
		report("", errors.New("name has no letters or digits: not routed"))
		return nil
	}
	cfg := d.cfg
	tcpTagged := assembleTCP(cfg.TCP, d, def, servers, report)
	udpTagged := assembleUDP(cfg.UDP, d, def, servers, report)
	dropTCPRoutersWithDroppedMiddleware(cfg.TCP, d, report)
	if (tcpTagged || udpTagged) && !httpTagged(cfg.HTTP, d) {
		return cfg
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &dynamic.HTTPConfiguration{}
	}
	b.assembleHTTP(cfg.HTTP, g, d, def, servers, report)
	return cfg
}

// defaultName is the name of the router and service that g gets when its
// tags name none: its name, normalized, and its namespace outside the
// default one. It is "" when the name has no letters or digits.
func defaultName(g group) string {
	def := Normalize(g.name)
	if def != "" && g.ns != "" {
		def += "-" + Normalize(g.ns) // the same name in two namespaces gives two objects
	}
	return def
}

// bindService gives a router without a service the only service of its
// catalog service, as Traefik does; n counts the services including the
// dropped ones. It reports false when the router must go.
func bindService[V any](svc *string, n int, services map[string]V, d *decoded, section, routerName string, report reportFunc) bool {
	what := "router"
	if section != "http" {
		what = section + " router"
	}
	if *svc == "" {
		if n != 1 || len(services) != 1 {
			switch {
			case n == 1:
				report("", fmt.Errorf("%s %q dropped: its only service was dropped", what, routerName))
			case n == 0:
				report("", fmt.Errorf("%s %q dropped: no service to route to", what, routerName))
			default:
				report("", fmt.Errorf("%s %q dropped: %d services, and the router names none", what, routerName, n))
			}
			return false
		}
		for name := range services {
			*svc = name
		}
		return true
	}
	if d.isDropped(section, "services", *svc) {
		report("", fmt.Errorf("%s %q dropped: its service %q was dropped", what, routerName, *svc))
		return false
	}
	return true
}

// droppedMiddleware returns the first of middlewares (of section) that d
// dropped.
func droppedMiddleware(middlewares []string, d *decoded, section string) (string, bool) {
	for _, m := range middlewares {
		if d.isDropped(section, "middlewares", m) {
			return m, true
		}
	}
	return "", false
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
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !yield(k) {
				return
			}
		}
	}
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }
