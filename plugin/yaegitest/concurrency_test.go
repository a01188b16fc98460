package yaegitest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestYaegiConcurrentFirstUse loads the plugin into a fresh interpreter and
// makes the very first New calls and requests from several goroutines at
// once, as Traefik may when it builds routers and serves the first
// requests. Run with -race: Yaegi builds some reflect types lazily on first
// use, and the plugin is written so that none of that happens per request
// or inside New.
func TestYaegiConcurrentFirstUse(t *testing.T) {
	p, err := buildYaegi()
	if err != nil {
		t.Fatalf("loading plugin in yaegi: %v", err)
	}
	host := newFakeHost(t)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := p.new(context.Background(), nextHandler, map[string]any{
				"handler": "app", "socket": host.socket, "fallthroughStatus": "404",
			}, "first-use")
			if err != nil {
				errs <- err.Error()
				return
			}
			for _, path := range []string{"/a", "/status/404", "/b", "/status/500"} {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				want := map[string]int{"/a": 200, "/b": 200, "/status/404": 200, "/status/500": 500}[path]
				if rec.Code != want {
					errs <- path + ": " + http.StatusText(rec.Code)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
