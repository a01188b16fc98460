package builder

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/dynamic"
	"github.com/whiskers-dev/whiskers/syncer/tags"
)

// objKey names an object of the configuration.
type objKey struct {
	kind string // "http.routers", …
	name string
}

// merge adds the objects of one catalog service to acc.cfg. An object that
// another catalog service defined identically is shared; load balancers that
// differ only in servers share one pool (union of servers); any other
// difference drops the object from both, as Traefik does.
func (acc *accumulator) merge(service string, origin catalog.Origin, part *dynamic.Configuration) {
	c := acc.cfg
	if p := part.HTTP; p != nil {
		if c.HTTP == nil {
			c.HTTP = &dynamic.HTTPConfiguration{}
		}
		d := c.HTTP
		mergeMap(acc, service, origin, "http", "http.routers", &d.Routers, p.Routers, equal)
		mergeMap(acc, service, origin, "http", "http.services", &d.Services, p.Services, mergeService)
		mergeMap(acc, service, origin, "http", "http.middlewares", &d.Middlewares, p.Middlewares, equal)
		mergeMap(acc, service, origin, "http", "http.serversTransports", &d.ServersTransports, p.ServersTransports, equal)
	}
	if p := part.TCP; p != nil {
		if c.TCP == nil {
			c.TCP = &dynamic.TCPConfiguration{}
		}
		d := c.TCP
		mergeMap(acc, service, origin, "tcp", "tcp.routers", &d.Routers, p.Routers, equal)
		mergeMap(acc, service, origin, "tcp", "tcp.services", &d.Services, p.Services, mergeTCPService)
		mergeMap(acc, service, origin, "tcp", "tcp.middlewares", &d.Middlewares, p.Middlewares, equal)
		mergeMap(acc, service, origin, "tcp", "tcp.serversTransports", &d.ServersTransports, p.ServersTransports, equal)
	}
	if p := part.UDP; p != nil {
		if c.UDP == nil {
			c.UDP = &dynamic.UDPConfiguration{}
		}
		d := c.UDP
		mergeMap(acc, service, origin, "udp", "udp.routers", &d.Routers, p.Routers, equal)
		mergeMap(acc, service, origin, "udp", "udp.services", &d.Services, p.Services, mergeUDPService)
	}
	if p := part.TLS; p != nil {
		if c.TLS == nil {
			c.TLS = &dynamic.TLSConfiguration{}
		}
		d := c.TLS
		mergeMap(acc, service, origin, "tls", "tls.options", &d.Options, p.Options, equal)
		mergeMap(acc, service, origin, "tls", "tls.stores", &d.Stores, p.Stores, equal)
		d.Certificates = append(d.Certificates, p.Certificates...)
	}
}

// mergeMap adds the entries of src to *dst; fold(old, new) folds new into
// old when they may share a name and reports whether it did.
// kind is "section.collection", e.g. "http.routers".
func mergeMap[V any](acc *accumulator, service string, origin catalog.Origin, section, kind string, dst *map[string]V, src map[string]V, fold func(a, b V) bool) {
	if len(src) == 0 {
		return
	}
	if *dst == nil {
		*dst = make(map[string]V, acc.size)
	}
	owners := acc.owners[kind]
	if owners == nil {
		owners = make(map[string]string, acc.size)
		acc.owners[kind] = owners
	}
	// Names are independent of each other: any order gives the same result.
	what := func() string {
		return singular(tags.Object{Section: section, Kind: strings.TrimPrefix(kind, section+".")})
	}
	for name, v := range src {
		if len(acc.conflicted) > 0 && acc.conflicted[objKey{kind, name}] {
			acc.problem(origin, service, "", fmt.Errorf("%s %q is defined differently by several catalog services: dropped", what(), name))
			continue
		}
		old, ok := (*dst)[name]
		if !ok {
			(*dst)[name] = v
			owners[name] = service
			continue
		}
		if fold(old, v) {
			continue
		}
		delete(*dst, name)
		acc.conflicted[objKey{kind, name}] = true
		err := fmt.Errorf("%s %q is defined differently by several catalog services (%s, %s): dropped", what(), name, owners[name], service)
		acc.problem(origin, service, "", err)
		acc.problem(origin, owners[name], "", err)
	}
}

// equal is reflect.DeepEqual: objects defined identically may be shared.
func equal[V any](a, b V) bool { return reflect.DeepEqual(a, b) }

// mergeService folds b into a when they are equal, or are load balancers
// equal but for their servers (a keeps the union).
func mergeService(a, b *dynamic.Service) bool {
	if a.LoadBalancer == nil || b.LoadBalancer == nil {
		return reflect.DeepEqual(a, b)
	}
	x, y := *a.LoadBalancer, *b.LoadBalancer
	x.Servers, y.Servers = nil, nil
	ra, rb := *a, *b
	ra.LoadBalancer, rb.LoadBalancer = nil, nil
	if !reflect.DeepEqual(x, y) || !reflect.DeepEqual(ra, rb) {
		return false
	}
	s := append(slices.Clone(a.LoadBalancer.Servers), b.LoadBalancer.Servers...)
	slices.SortFunc(s, func(p, q dynamic.Server) int { return cmp.Compare(p.URL, q.URL) })
	a.LoadBalancer.Servers = slices.CompactFunc(s, func(p, q dynamic.Server) bool { return p.URL == q.URL })
	return true
}

// mergeTCPService is mergeService for TCP services.
func mergeTCPService(a, b *dynamic.TCPService) bool {
	if a.LoadBalancer == nil || b.LoadBalancer == nil || a.Weighted != nil || b.Weighted != nil {
		return reflect.DeepEqual(a, b)
	}
	x, y := *a.LoadBalancer, *b.LoadBalancer
	x.Servers, y.Servers = nil, nil
	if !reflect.DeepEqual(x, y) {
		return false
	}
	s := append(slices.Clone(a.LoadBalancer.Servers), b.LoadBalancer.Servers...)
	slices.SortFunc(s, func(p, q dynamic.TCPServer) int { return cmp.Compare(p.Address, q.Address) })
	a.LoadBalancer.Servers = slices.CompactFunc(s, func(p, q dynamic.TCPServer) bool { return p.Address == q.Address })
	return true
}

// mergeUDPService is mergeService for UDP services.
func mergeUDPService(a, b *dynamic.UDPService) bool {
	if a.LoadBalancer == nil || b.LoadBalancer == nil || a.Weighted != nil || b.Weighted != nil {
		return reflect.DeepEqual(a, b)
	}
	s := append(slices.Clone(a.LoadBalancer.Servers), b.LoadBalancer.Servers...)
	slices.SortFunc(s, func(p, q dynamic.UDPServer) int { return cmp.Compare(p.Address, q.Address) })
	a.LoadBalancer.Servers = slices.CompactFunc(s, func(p, q dynamic.UDPServer) bool { return p.Address == q.Address })
	return true
}
