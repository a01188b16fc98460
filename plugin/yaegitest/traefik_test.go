package yaegitest

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whiskers-dev/whiskers/internal/realbin"
	"github.com/whiskers-dev/whiskers/internal/realbin/realbintest"
	"github.com/whiskers-dev/whiskers/internal/traefikproc"
)

// realTraefik is a Traefik process with the plugin loaded as a local
// plugin, routing:
//
//	/old/...  → middleware "old" (plugin, handler redirect) → noop@internal
//	/builtin/... → Traefik's own redirectRegex (for comparison)
//	/trivial/... → middleware "trivial" (plugin, handler redirect, to the
//	               socket of a stand-in host; only when one is given)
//	anything else → middleware "static-first" (plugin, handler static,
//	                fallthroughStatus 404) → the app
type realTraefik struct {
	url string
}

// startRealTraefik starts Traefik in front of the wasm host at socket, or
// skips the test when no Traefik binary is configured.
func startRealTraefik(tb testing.TB, socket string, app http.Handler) *realTraefik {
	tb.Helper()
	return startRealTraefikWith(tb, socket, "", app)
}

// startRealTraefikWith is startRealTraefik with the /trivial route to the
// host at trivialSocket, unless that is "".
func startRealTraefikWith(tb testing.TB, socket, trivialSocket string, app http.Handler) *realTraefik {
	tb.Helper()
	bin := realbintest.Bin(tb, realbin.Traefik)
	dir := tb.TempDir()
	appSrv := httptest.NewServer(app)
	tb.Cleanup(appSrv.Close)
	dynamic := fmt.Sprintf(`http:
  middlewares:
    old:
      plugin:
        whiskers:
          handler: redirect
          socket: %[1]s
          onHostDown: "503"
    static-first:
      plugin:
        whiskers:
          handler: static
          socket: %[1]s
          fallthroughStatus: "404"
          onHostDown: next
    trivial:
      plugin:
        whiskers:
          handler: redirect
          socket: %[3]s
          onHostDown: "503"
    builtin:
      redirectRegex:
        regex: "^http://[^/]+/builtin/(.*)"
        replacement: "https://new.example/${1}"
        permanent: true
  routers:
    old:
      rule: PathPrefix(`+"`/old`"+`)
      middlewares: [old]
      service: noop@internal
    builtin:
      rule: PathPrefix(`+"`/builtin`"+`)
      middlewares: [builtin]
      service: noop@internal
    trivial:
      rule: PathPrefix(`+"`/trivial`"+`)
      middlewares: [trivial]
      service: noop@internal
    app:
      rule: PathPrefix(`+"`/`"+`)
      middlewares: [static-first]
      service: app
  services:
    app:
      loadBalancer:
        servers:
          - url: %[2]s
`, socket, appSrv.URL, cmp.Or(trivialSocket, socket))
	if err := os.WriteFile(filepath.Join(dir, "dynamic.yml"), []byte(dynamic), 0o644); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, err := traefikproc.Start(ctx, traefikproc.Options{Bin: bin, Dir: filepath.Join(dir, "traefik"), DynamicFile: filepath.Join(dir, "dynamic.yml")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = p.Close()
		if tb.Failed() {
			tb.Logf("traefik output:\n%s", p.Logs())
		}
	})
	if err := p.WaitRouters(ctx, "old@file", "builtin@file", "trivial@file", "app@file"); err != nil {
		tb.Fatal(err)
	}

	rt := &realTraefik{url: p.URL}
	// The API can show the routers a moment before the entry point serves
	// them: wait until the plugin's router answers.
	client := noRedirectClient()
	for {
		resp, err := client.Get(rt.url + "/old/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusMovedPermanently {
				return rt
			}
		}
		if ctx.Err() != nil {
			tb.Fatalf("traefik did not route /old within 90s (last error %v); output:\n%s", err, p.Logs())
		}
		time.Sleep(100 * time.Millisecond) // polling an external process for readiness
	}
}

// noRedirectClient is a keep-alive client that returns redirects as they are.
func noRedirectClient() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// TestRealTraefik loads the plugin into a real Traefik process (from `make
// traefik` or $WHISKERS_TRAEFIK_BIN; skipped without one, failed under
// CI=true) in front of a real wasmhost.
func TestRealTraefik(t *testing.T) {
	realbintest.Bin(t, realbin.Traefik) // skip (or fail under CI) before starting the host
	socket := startWasmHost(t)
	rt := startRealTraefik(t, socket, appHandler)
	client := noRedirectClient()
	tests := []struct {
		path       string
		wantStatus int
		wantBody   string
		wantHeader map[string]string
	}{
		{"/old/page?q=1", 301, "", map[string]string{"Location": "https://new.example/old/page"}},
		{"/style.css", 200, "body { color: teal }", map[string]string{"Content-Type": "text/css; charset=utf-8"}},
		{"/api/hello", 200, "app /api/hello", map[string]string{"X-App": "spin"}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(context.Background(), "GET", rt.url+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d (body %q)", resp.StatusCode, tc.wantStatus, body)
			}
			if !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("body = %q, want it to contain %q", body, tc.wantBody)
			}
			for k, v := range tc.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// BenchmarkRealTraefikRedirect measures, through a real Traefik process
// (from `make traefik`; skipped without one), a sequential keep-alive client's
// request to the redirect handler via the Yaegi-loaded plugin, next to
// Traefik's built-in redirectRegex (builtin-) on the same entry point.
//
// To split the plugin's and Traefik's share from the wasm host's, the same
// plugin also forwards /trivial/ to a stand-in host: a net/http server on
// a Unix socket that answers 301 at once (trivial-). The stand-in records
// when each request reaches it, so its round trip splits into the leg to
// the host (client → Traefik → host, trivial-to-host-) and the leg back
// (host → Traefik → client, trivial-from-host-); it also counts the
// connections Traefik opens to it while the benchmark runs
// (trivial-new-conns, 0 when keep-alive works).
//
//	make traefik && go test -run '^$' -bench RealTraefik -benchtime 5000x ./plugin/yaegitest
func BenchmarkRealTraefikRedirect(b *testing.B) {
	socket := startWasmHost(b)
	trivial := startTrivialHost(b)
	rt := startRealTraefikWith(b, socket, trivial.socket, appHandler)
	client := noRedirectClient()
	get := func(path string) {
		resp, err := client.Get(rt.url + path)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently {
			b.Fatalf("%s: status %d", path, resp.StatusCode)
		}
	}
	for range 200 {
		get("/old/page")
		get("/trivial/page")
		get("/builtin/page")
	}
	conns := trivial.conns.Load()
	dPlugin := make(latencies, 0, b.N)
	dTrivial := make(latencies, 0, b.N)
	dTo := make(latencies, 0, b.N)
	dFrom := make(latencies, 0, b.N)
	dBuiltin := make(latencies, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		get("/old/page")
		t1 := time.Now()
		get("/trivial/page")
		t2 := time.Now()
		get("/builtin/page")
		t3 := time.Now()
		dPlugin = append(dPlugin, t1.Sub(t0))
		dTrivial = append(dTrivial, t2.Sub(t1))
		at := time.Unix(0, trivial.lastArrival.Load())
		dTo = append(dTo, at.Sub(t1))
		dFrom = append(dFrom, t2.Sub(at))
		dBuiltin = append(dBuiltin, t3.Sub(t2))
	}
	b.StopTimer()
	dPlugin.report(b, "")
	dTrivial.report(b, "trivial-")
	dTo.report(b, "trivial-to-host-")
	dFrom.report(b, "trivial-from-host-")
	dBuiltin.report(b, "builtin-")
	b.ReportMetric(float64(trivial.conns.Load()-conns), "trivial-new-conns")
}

// trivialHost stands in for the wasm host in BenchmarkRealTraefikRedirect.
type trivialHost struct {
	socket      string
	conns       atomic.Int64 // connections accepted
	lastArrival atomic.Int64 // Unix nanoseconds, when the last request reached the handler
}

// startTrivialHost serves a 301 for every request on a fresh Unix socket.
func startTrivialHost(b *testing.B) *trivialHost {
	b.Helper()
	h := &trivialHost{}
	path := filepath.Join(socketDirB(b), "t.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			h.lastArrival.Store(time.Now().UnixNano())
			w.Header().Set("Location", "https://new.example/trivial/page")
			w.WriteHeader(http.StatusMovedPermanently)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				h.conns.Add(1)
			}
		},
	}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	h.socket = "unix://" + path
	return h
}
