package render

import (
	"fmt"
	"testing"

	"github.com/whiskers-dev/whiskers/syncer/dynamic"
)

// config10k is what the builder makes of 10 000 tagged services × 3
// instances: a router, a load balancer and a middleware each.
func config10k() *dynamic.Configuration { return configN(10_000) }

// configN is the configuration of n services.
func configN(n int) *dynamic.Configuration {
	h := &dynamic.HTTPConfiguration{
		Routers:     map[string]*dynamic.Router{},
		Services:    map[string]*dynamic.Service{},
		Middlewares: map[string]*dynamic.Middleware{},
	}
	pass := true
	for s := range n {
		name := fmt.Sprintf("app-%05d", s)
		h.Routers[name] = &dynamic.Router{
			EntryPoints: []string{"websecure"}, Middlewares: []string{name + "-strip"},
			Service: name, Rule: "Host(`" + name + ".example.com`)",
		}
		lb := &dynamic.ServersLoadBalancer{PassHostHeader: &pass, HealthCheck: &dynamic.ServerHealthCheck{Path: "/healthz"}}
		for i := range 3 {
			lb.Servers = append(lb.Servers, dynamic.Server{URL: fmt.Sprintf("http://10.%d.%d.%d:%d", i, s/256, s%256, 20000+i)})
		}
		h.Services[name] = &dynamic.Service{LoadBalancer: lb}
		h.Middlewares[name+"-strip"] = &dynamic.Middleware{StripPrefix: &dynamic.StripPrefix{Prefixes: []string{"/api"}}}
	}
	return &dynamic.Configuration{HTTP: h}
}

func benchmarkMarshal(b *testing.B, f Format) {
	cfg := config10k()
	b.ReportAllocs()
	for b.Loop() {
		out, err := Marshal(cfg, f)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}

// BenchmarkMarshal10kYAML renders the configuration of 10 000 services.
func BenchmarkMarshal10kYAML(b *testing.B) { benchmarkMarshal(b, YAML) }

// BenchmarkMarshal10kJSON is the same in JSON (Traefik's HTTP provider).
func BenchmarkMarshal10kJSON(b *testing.B) { benchmarkMarshal(b, JSON) }
