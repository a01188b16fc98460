package yaegitest

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// latencies collects per-request durations and reports percentiles.
type latencies []time.Duration

// report adds <prefix>p50-µs and <prefix>p99-µs to b.
func (l latencies) report(b *testing.B, prefix string) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	b.ReportMetric(us(s[len(s)*50/100]), prefix+"p50-µs")
	b.ReportMetric(us(s[len(s)*99/100]), prefix+"p99-µs")
}

func (l latencies) p50() time.Duration {
	s := slices.Clone(l)
	slices.Sort(s)
	return s[len(s)/2]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// okHost answers every request with 200 "ok": the host side is as cheap as
// possible so that the benchmark shows the plugin's own cost.
type okHost struct{}

func (okHost) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Length", "2")
	_, _ = io.WriteString(w, "ok")
}

// unixTransport is a keep-alive client transport to a Unix socket.
func unixTransport(path string) *http.Transport {
	var d net.Dialer
	return &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConnsPerHost: 8,
	}
}

// BenchmarkPluginOverhead measures what the plugin adds over calling the
// host directly. Each iteration sends one request three ways, interleaved
// so that machine noise hits all alike: straight to the host over its Unix
// socket (direct), through the compiled middleware (native), and through the
// middleware loaded by Yaegi as Traefik loads it (yaegi). The middleware is
// called in-process with a recorder, so the difference is the plugin's cost.
//
//	go test -run '^$' -bench PluginOverhead -benchtime 20000x ./plugin/yaegitest
func BenchmarkPluginOverhead(b *testing.B) {
	path := filepath.Join(socketDirB(b), "h.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: okHost{}}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })

	options := map[string]any{"handler": "bench", "socket": "unix://" + path}
	native, err := newNative(context.Background(), http.NotFoundHandler(), options, "bench")
	if err != nil {
		b.Fatal(err)
	}
	interpreted, err := loadYaegi(b).new(context.Background(), http.NotFoundHandler(), options, "bench")
	if err != nil {
		b.Fatal(err)
	}
	direct := unixTransport(path)
	b.Cleanup(direct.CloseIdleConnections)

	// Headers as Traefik hands a browser's request to a middleware.
	browser := http.Header{
		"User-Agent":         {"Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"},
		"Accept":             {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		"Accept-Encoding":    {"gzip, deflate, br"},
		"Accept-Language":    {"en-US,en;q=0.5"},
		"Connection":         {"keep-alive"},
		"X-Forwarded-Host":   {"app.example"},
		"X-Forwarded-Port":   {"443"},
		"X-Forwarded-Proto":  {"https"},
		"X-Forwarded-Server": {"traefik-1"},
		"X-Real-Ip":          {"192.0.2.10"},
	}
	callDirect := func() {
		req, _ := http.NewRequest("GET", "http://host/bench?x=1", nil)
		req.Header = browser.Clone()
		req.Header.Del("Connection")
		req.Header.Set("X-Forwarded-For", "192.0.2.10")
		req.Header.Set("X-Whiskers-Handler", "bench")
		resp, err := direct.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	callPlugin := func(h http.Handler) {
		req := httptest.NewRequest("GET", "http://app.example/bench?x=1", nil)
		req.Header = browser.Clone()
		req.RemoteAddr = "192.0.2.10:53124"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	// Warm up pools and Yaegi's lazily built types.
	for range 200 {
		callDirect()
		callPlugin(native)
		callPlugin(interpreted)
	}

	dDirect := make(latencies, 0, b.N)
	dNative := make(latencies, 0, b.N)
	dYaegi := make(latencies, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		callDirect()
		t1 := time.Now()
		callPlugin(native)
		t2 := time.Now()
		callPlugin(interpreted)
		t3 := time.Now()
		dDirect = append(dDirect, t1.Sub(t0))
		dNative = append(dNative, t2.Sub(t1))
		dYaegi = append(dYaegi, t3.Sub(t2))
	}
	b.StopTimer()
	dDirect.report(b, "direct-")
	dNative.report(b, "native-")
	dYaegi.report(b, "yaegi-")
	b.ReportMetric(us(dYaegi.p50()-dDirect.p50()), "yaegi-added-p50-µs")
	b.ReportMetric(us(dNative.p50()-dDirect.p50()), "native-added-p50-µs")
}

// BenchmarkRedirectEndToEnd measures a client's request for the redirect
// handler through an HTTP server (standing in for Traefik) whose handler is
// the Yaegi-loaded plugin, to a real wasmhost on a Unix socket: client
// keep-alive over loopback TCP, sequential. For reference it also reports
// the same request sent by the client straight to the host (host-).
//
//	go test -run '^$' -bench RedirectEndToEnd -benchtime 5000x ./plugin/yaegitest
func BenchmarkRedirectEndToEnd(b *testing.B) {
	socket := startWasmHost(b)
	h, err := loadYaegi(b).new(context.Background(), appHandler, map[string]any{"handler": "redirect", "socket": socket}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	front := httptest.NewServer(h)
	b.Cleanup(front.Close)
	client := &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	direct := unixTransport(strings.TrimPrefix(socket, "unix://"))
	b.Cleanup(direct.CloseIdleConnections)

	viaPlugin := func() {
		resp, err := client.Get(front.URL + "/old/page")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 301 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	toHost := func() {
		req, _ := http.NewRequest("GET", "http://host/old/page", nil)
		req.Header.Set("X-Whiskers-Handler", "redirect")
		resp, err := direct.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for range 100 {
		viaPlugin()
		toHost()
	}
	dPlugin := make(latencies, 0, b.N)
	dHost := make(latencies, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		viaPlugin()
		t1 := time.Now()
		toHost()
		t2 := time.Now()
		dPlugin = append(dPlugin, t1.Sub(t0))
		dHost = append(dHost, t2.Sub(t1))
	}
	b.StopTimer()
	dPlugin.report(b, "")
	dHost.report(b, "host-")
}

// socketDirB is socketDir for benchmarks.
func socketDirB(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	if len(dir) > 80 {
		b.Fatalf("temp dir %q too long for a Unix socket", dir)
	}
	return dir
}

// BenchmarkNativeAllocs reports the middleware's allocations per request,
// compiled (plugin) and under Yaegi (yaegi), including the transport's, the
// recorder's and the request's, next to a bare transport round trip
// (direct). Allocation counts are stable where timings on a shared machine
// are not, so they are the measure to compare Yaegi-facing changes with.
//
//	go test -run '^$' -bench NativeAllocs -benchmem ./plugin/yaegitest
func BenchmarkNativeAllocs(b *testing.B) {
	path := filepath.Join(socketDirB(b), "h.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: okHost{}}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	h, err := newNative(context.Background(), http.NotFoundHandler(), map[string]any{"handler": "bench", "socket": "unix://" + path}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("plugin", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			req := httptest.NewRequest("GET", "http://app.example/bench?x=1", nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
		}
	})
	interpreted, err := loadYaegi(b).new(context.Background(), http.NotFoundHandler(), map[string]any{"handler": "bench", "socket": "unix://" + path}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("yaegi", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			req := httptest.NewRequest("GET", "http://app.example/bench?x=1", nil)
			rec := httptest.NewRecorder()
			interpreted.ServeHTTP(rec, req)
		}
	})
	b.Run("direct", func(b *testing.B) {
		direct := unixTransport(path)
		defer direct.CloseIdleConnections()
		b.ReportAllocs()
		for range b.N {
			req, _ := http.NewRequest("GET", "http://host/bench?x=1", nil)
			resp, err := direct.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
