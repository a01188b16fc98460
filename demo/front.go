package demo

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
)

// balancer is the load balancer of the demo's front, its stand-in for
// Traefik's: round-robin over the finicky servers of the last configuration
// the syncer published. Safe for concurrent use.
type balancer struct {
	mu      sync.Mutex
	proxies []*httputil.ReverseProxy
	next    int
}

// set replaces the servers; bad URLs are skipped.
func (b *balancer) set(servers []string) {
	var ps []*httputil.ReverseProxy
	for _, s := range servers {
		u, err := url.Parse(s)
		if err != nil {
			continue
		}
		ps = append(ps, &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		}})
	}
	b.mu.Lock()
	b.proxies = ps
	b.mu.Unlock()
}

// ServeHTTP sends r to the next server, or answers 503 when there is none.
func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	var p *httputil.ReverseProxy
	if len(b.proxies) > 0 {
		p = b.proxies[b.next%len(b.proxies)]
		b.next++
	}
	b.mu.Unlock()
	if p == nil {
		http.Error(w, "no "+AppService+" server in the configuration", http.StatusServiceUnavailable)
		return
	}
	p.ServeHTTP(w, r)
}
