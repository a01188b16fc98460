package builder

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/dynamic"
)

// serverKind tells the server loops, which are the same for every protocol,
// what differs: Svc is the protocol's service type, S its server type.
type serverKind[Svc, S any] struct {
	servers   func(svc *Svc) *[]S                // the servers of svc's load balancer; nil when svc is not one
	templates func(d *decoded) map[string]S      // the tagged server of each load balancer
	replaces  func(own S) bool                   // whether an instance's own template replaces the winner's
	address   func(tmpl S) (scheme, port string) // scheme "" for a bare host:port
	server    func(tmpl S, address string) S     // the server at address, options from tmpl
	key       func(server S) string              // servers with the same key are one
}

// httpServerKind is serverKind for HTTP load balancers.
var httpServerKind = serverKind[dynamic.Service, dynamic.Server]{
	servers: func(svc *dynamic.Service) *[]dynamic.Server {
		if svc.LoadBalancer == nil {
			return nil
		}
		return &svc.LoadBalancer.Servers
	},
	templates: func(d *decoded) map[string]dynamic.Server { return d.httpTemplates },
	replaces:  func(own dynamic.Server) bool { return own.URL == "" },
	address:   func(tmpl dynamic.Server) (string, string) { return cmp.Or(tmpl.Scheme, "http"), tmpl.Port },
	server: func(tmpl dynamic.Server, url string) dynamic.Server {
		return dynamic.Server{URL: url, Weight: tmpl.Weight, PreservePath: tmpl.PreservePath}
	},
	key: func(server dynamic.Server) string { return server.URL },
}

// tcpServerKind is serverKind for TCP load balancers.
var tcpServerKind = serverKind[dynamic.TCPService, dynamic.TCPServer]{
	servers: func(svc *dynamic.TCPService) *[]dynamic.TCPServer {
		if svc.LoadBalancer == nil {
			return nil
		}
		return &svc.LoadBalancer.Servers
	},
	templates: func(d *decoded) map[string]dynamic.TCPServer { return d.tcpTemplates },
	replaces:  func(dynamic.TCPServer) bool { return true },
	address:   func(tmpl dynamic.TCPServer) (string, string) { return "", tmpl.Port },
	server: func(tmpl dynamic.TCPServer, address string) dynamic.TCPServer {
		return dynamic.TCPServer{Address: address, TLS: tmpl.TLS}
	},
	key: func(server dynamic.TCPServer) string { return server.Address },
}

// udpServerKind is serverKind for UDP load balancers.
var udpServerKind = serverKind[dynamic.UDPService, dynamic.UDPServer]{
	servers: func(svc *dynamic.UDPService) *[]dynamic.UDPServer {
		if svc.LoadBalancer == nil {
			return nil
		}
		return &svc.LoadBalancer.Servers
	},
	templates: func(d *decoded) map[string]dynamic.UDPServer { return d.udpTemplates },
	replaces:  func(dynamic.UDPServer) bool { return true },
	address:   func(tmpl dynamic.UDPServer) (string, string) { return "", tmpl.Port },
	server: func(_ dynamic.UDPServer, address string) dynamic.UDPServer {
		return dynamic.UDPServer{Address: address}
	},
	key: func(server dynamic.UDPServer) string { return server.Address },
}

// takeTemplates removes the tagged first server of each load balancer of
// services and returns them by service name (nil when there is none).
func takeTemplates[Svc, S any](kind *serverKind[Svc, S], services map[string]*Svc) map[string]S {
	var templates map[string]S
	for name, svc := range services {
		servers := kind.servers(svc)
		if servers == nil || len(*servers) == 0 {
			continue
		}
		if templates == nil {
			templates = map[string]S{}
		}
		templates[name] = (*servers)[0]
		*servers = nil
	}
	return templates
}

// fillLoadBalancers gives each load balancer of services the servers of
// members (makeServers).
func fillLoadBalancers[Svc, S any](kind *serverKind[Svc, S], services map[string]*Svc, d *decoded, members []member, report reportFunc) {
	for name := range sortedKeys(services) {
		if servers := kind.servers(services[name]); servers != nil {
			*servers = makeServers(kind, name, d, members, report)
		}
	}
}

// makeServers makes the servers of load balancer name: one per member, at
// its address, with the port (and scheme) of its own tagged template where
// its tags differ from the winner's d; sorted, one per key.
func makeServers[Svc, S any](kind *serverKind[Svc, S], name string, d *decoded, members []member, report reportFunc) []S {
	winnerTmpl := kind.templates(d)[name]
	out := make([]S, 0, len(members))
	for _, m := range members {
		tmpl := winnerTmpl
		if memberTags := m.decodedOr(d); memberTags != d {
			if memberTmpl, ok := kind.templates(memberTags)[name]; ok && kind.replaces(memberTmpl) {
				tmpl = memberTmpl
			}
		}
		scheme, port := kind.address(tmpl)
		address, ok := hostPort(m.in, scheme, port, report)
		if !ok {
			continue
		}
		out = append(out, kind.server(tmpl, address))
	}
	slices.SortFunc(out, func(a, b S) int { return cmp.Compare(kind.key(a), kind.key(b)) })
	return slices.CompactFunc(out, func(a, b S) bool { return kind.key(a) == kind.key(b) })
}

// decodedOr returns the decoded tags of m's variant, or win when they are
// not decoded.
func (m member) decodedOr(win *decoded) *decoded {
	if m.v != nil && m.v.d != nil {
		return m.v.d
	}
	return win
}

// httpServers makes the servers of HTTP load balancer name: one per member
// (makeServers), or the one tagged URL.
func httpServers(name string, d *decoded, members []member, report reportFunc) ([]dynamic.Server, error) {
	tmpl := d.httpTemplates[name]
	if tmpl.URL != "" {
		if tmpl.Port != "" || tmpl.Scheme != "" {
			return nil, errors.New("server.url excludes server.port and server.scheme")
		}
		return []dynamic.Server{{URL: tmpl.URL, Weight: tmpl.Weight, PreservePath: tmpl.PreservePath}}, nil
	}
	return makeServers(&httpServerKind, name, d, members, report), nil
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
	var instancePort []byte // the instance's port, written in num, when no tag sets one
	if port == "" {
		if in.Port <= 0 || in.Port > 65535 {
			report("", fmt.Errorf("instance %s has no port (%d) and no server.port tag: not a server", in.Key(), in.Port))
			return "", false
		}
		instancePort = strconv.AppendInt(num[:0], int64(in.Port), 10)
	}
	var b strings.Builder // one allocation for the result
	b.Grow(len(scheme) + len("://[]:") + len(in.Address) + len(port) + len(instancePort))
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
	b.Write(instancePort)
	return b.String(), true
}
