package wasmhost

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Benchmarks of docs/benchmarks.md "## Wasm host". Run them with
//
//	go test -run '^$' -bench 'Redirect|Fileserver' -benchtime 20000x -count 5 ./wasmhost/
//	go test -run '^$' -bench RSS -benchtime 5x ./wasmhost/
//
// The handlers are the committed builds of wasmhost/handlers (redirect and
// fileserver, see wasmhost/handlers/Makefile).

const (
	redirectModule   = "handlers/redirect/redirect.wasm"
	fileserverModule = "handlers/fileserver/fileserver.wasm"
)

// benchServer builds a Server for yaml (TESTDATA is testdata/, HANDLERS is
// handlers/).
func benchServer(b *testing.B, yaml string) *Server {
	b.Helper()
	testdata, _ := filepath.Abs("testdata")
	handlers, _ := filepath.Abs("handlers")
	yaml = strings.NewReplacer("TESTDATA", testdata, "HANDLERS", handlers).Replace(yaml)
	path := filepath.Join(b.TempDir(), "handlers.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		b.Fatal(err)
	}
	s, err := NewServer(context.Background(), path, Options{Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// latencies records per-request durations and reports percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	at := func(q float64) float64 { return float64(l[int(q*float64(len(l)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

const redirectConfig = `handlers:
- {name: redirect, module: HANDLERS/redirect/redirect.wasm, route: /old, env: {DESTINATION: /index.html, STATUS: "301"}}
`

// BenchmarkRedirectInProcess is one redirect through Server.Handler, no
// network: routing, a fresh instance, the CGI parse.
func BenchmarkRedirectInProcess(b *testing.B) {
	h := benchServer(b, redirectConfig).Handler()
	req := httptest.NewRequest(http.MethodGet, "http://site.test/old/page?x=1", nil)
	lat := make(latencies, 0, b.N)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		t0 := time.Now()
		h.ServeHTTP(rec, req)
		lat = append(lat, time.Since(t0))
		if rec.Code != http.StatusMovedPermanently {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	lat.report(b)
}

// BenchmarkFileserverInProcess is one 4 KiB file from the fileserver
// through Server.Handler, no network: the host's part of
// BenchmarkFileserver4KiB (a fresh instance, the guest's file system
// calls, the CGI parse).
func BenchmarkFileserverInProcess(b *testing.B) {
	h := benchServer(b, fmt.Sprintf(`handlers:
- {name: static, module: HANDLERS/fileserver/fileserver.wasm, route: /, volumes: ["%s:/"]}
`, site4K(b))).Handler()
	req := httptest.NewRequest(http.MethodGet, "http://site.test/file.txt", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	lat := make(latencies, 0, b.N)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		t0 := time.Now()
		h.ServeHTTP(rec, req)
		lat = append(lat, time.Since(t0))
		if rec.Code != http.StatusOK || rec.Body.Len() != 4096 {
			b.Fatalf("status %d, %d bytes", rec.Code, rec.Body.Len())
		}
	}
	lat.report(b)
}

// unixClient is an HTTP client whose every connection goes to sock.
func unixClient(sock string, conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", sock)
			},
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// serveUnix serves h on a fresh Unix socket until the benchmark ends.
func serveUnix(b *testing.B, h http.Handler) string {
	b.Helper()
	sock := filepath.Join(b.TempDir(), "wasm.sock")
	ln, err := Listen("unix://"+sock, 0)
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return sock
}

// BenchmarkRedirectUnixSocket is the same redirect over the Unix socket a
// proxy uses, one keep-alive connection, requests in sequence.
func BenchmarkRedirectUnixSocket(b *testing.B) {
	sock := serveUnix(b, benchServer(b, redirectConfig).Handler())
	client := unixClient(sock, 1)
	lat := make(latencies, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		resp, err := client.Get("http://site.test/old/page?x=1")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t0))
		if resp.StatusCode != http.StatusMovedPermanently {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	lat.report(b)
}

// site4K makes a directory with a 4 KiB file.
func site4K(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file.txt"), bytes.Repeat([]byte("0123456789abcdef"), 256), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkFileserver4KiB compares the wasm fileserver with Go's
// http.FileServer on the same directory, both over a Unix socket, 16
// keep-alive clients in parallel. The two alternate in 20 rounds so that
// load from elsewhere on the machine hits both alike; b.N requests go to
// each. wasm-req/s and go-req/s are the throughputs, wasm/go-% their ratio.
// With precompressed=on (the fileserver's default) the guest also looks for
// a .gz sibling, since Go's client sends Accept-Encoding: gzip;
// http.FileServer never does.
func BenchmarkFileserver4KiB(b *testing.B) {
	for _, pre := range []string{"on", "off"} {
		b.Run("precompressed="+pre, func(b *testing.B) { benchFileserver(b, pre) })
	}
}

func benchFileserver(b *testing.B, precompressed string) {
	dir := site4K(b)
	const clients = 16
	wasmSock := serveUnix(b, benchServer(b, fmt.Sprintf(`handlers:
- {name: static, module: HANDLERS/fileserver/fileserver.wasm, route: /, volumes: ["%s:/"], env: {PRECOMPRESSED: "%s"}}
`, dir, precompressed)).Handler())
	goSock := serveUnix(b, http.FileServer(http.Dir(dir)))
	wasmClient, goClient := unixClient(wasmSock, clients), unixClient(goSock, clients)

	// burst sends n requests with clients workers and returns the time
	// taken and the CPU time the process (servers and clients) used.
	burst := func(client *http.Client, n int) (took, cpu time.Duration) {
		var next atomic.Int64
		var wg sync.WaitGroup
		cpu0 := processCPU()
		start := time.Now()
		for range clients {
			wg.Go(func() {
				for next.Add(1) <= int64(n) {
					resp, err := client.Get("http://site.test/file.txt")
					if err != nil {
						b.Error(err)
						return
					}
					size, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || size != 4096 {
						b.Errorf("status %d, %d bytes", resp.StatusCode, size)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start), processCPU() - cpu0
	}
	_, _ = burst(wasmClient, 200) // warm up connections and pools
	_, _ = burst(goClient, 200)
	const rounds = 20
	var wasmTime, goTime, wasmCPU, goCPU time.Duration
	b.ResetTimer()
	for r := range rounds {
		n := b.N/rounds + boolInt(r < b.N%rounds)
		took, cpu := burst(wasmClient, n)
		wasmTime, wasmCPU = wasmTime+took, wasmCPU+cpu
		took, cpu = burst(goClient, n)
		goTime, goCPU = goTime+took, goCPU+cpu
	}
	wasmRate := float64(b.N) / wasmTime.Seconds()
	goRate := float64(b.N) / goTime.Seconds()
	b.ReportMetric(wasmRate, "wasm-req/s")
	b.ReportMetric(goRate, "go-req/s")
	b.ReportMetric(100*wasmRate/goRate, "wasm/go-%")
	b.ReportMetric(float64(wasmCPU.Microseconds())/float64(b.N), "wasm-cpu-µs/req")
	b.ReportMetric(float64(goCPU.Microseconds())/float64(b.N), "go-cpu-µs/req")
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

// BenchmarkRSS1000Concurrent sends 1 000 requests at once to the
// fileserver, served by a separate process (this test binary re-executed
// as a server, see TestMain), and reports that process's RSS when idle and
// its peak (VmHWM) under the load: with the default limit (64 instances at
// once, the rest queued) and with 1 000 instances allowed at once.
func BenchmarkRSS1000Concurrent(b *testing.B) {
	dir := site4K(b)
	handlers, _ := filepath.Abs("handlers")
	for _, limit := range []int{DefaultMaxConcurrent, 1000} {
		b.Run("maxConcurrent="+strconv.Itoa(limit), func(b *testing.B) {
			tmp := b.TempDir()
			config := filepath.Join(tmp, "handlers.yaml")
			sock := filepath.Join(tmp, "wasm.sock")
			if err := os.WriteFile(config, fmt.Appendf(nil, `handlers:
- {name: static, module: %s/fileserver/fileserver.wasm, route: /, volumes: ["%s:/"], maxConcurrent: %d, queueTimeout: 30s}
`, handlers, dir, limit), 0o644); err != nil {
				b.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), benchServerEnv+"="+config+"|"+sock)
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				_ = cmd.Wait()
			})
			client := unixClient(sock, 1000)
			burst := func() {
				var wg sync.WaitGroup
				for range 1000 {
					wg.Go(func() {
						resp, err := client.Get("http://site.test/file.txt")
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							b.Errorf("status %d", resp.StatusCode)
						}
					})
				}
				wg.Wait()
			}
			deadline := time.Now().Add(time.Minute)
			for {
				resp, err := client.Get("http://site.test/file.txt")
				if err == nil {
					resp.Body.Close()
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("server never came up: %v", err)
				}
				time.Sleep(10 * time.Millisecond)
			}
			status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
			idle := procStatusKiB(b, status, "VmRSS")
			for b.Loop() {
				burst()
			}
			b.ReportMetric(float64(idle)/1024, "rss-idle-MiB")
			b.ReportMetric(float64(procStatusKiB(b, status, "VmHWM"))/1024, "rss-peak-MiB")
		})
	}
}

// benchServerEnv, set to "config|socket", makes the test binary a wasm
// server (for BenchmarkRSS1000Concurrent) instead of running tests.
const benchServerEnv = "WASMHOST_BENCH_SERVER"

func TestMain(m *testing.M) {
	if v := os.Getenv(benchServerEnv); v != "" {
		config, sock, _ := strings.Cut(v, "|")
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		s, err := NewServer(ctx, config, Options{Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			var ln net.Listener
			if ln, err = Listen("unix://"+sock, 0); err == nil {
				err = s.Serve(ctx, ln, time.Hour, nil)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// procStatusKiB reads a "Name: N kB" line of a /proc/<pid>/status file.
func procStatusKiB(b *testing.B, file, name string) int64 {
	data, err := os.ReadFile(file)
	if err != nil {
		b.Skipf("no %s: %v", file, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	b.Skipf("no %s in %s", name, file)
	return 0
}
