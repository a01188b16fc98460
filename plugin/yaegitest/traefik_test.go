package yaegitest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// traefikBinEnv names a Traefik binary (v3.6+) to run the plugin in for
// real. Unset, the tests and benchmarks below are skipped: Traefik is not
// part of the module and CI has none. One way to get it:
//
//	go mod download -json github.com/traefik/traefik/v3@v3.6.12
//	cp -r "$(go env GOMODCACHE)/github.com/traefik/traefik/v3@v3.6.12" /tmp/traefik-src
//	cd /tmp/traefik-src && chmod -R u+w . && go build -o /tmp/traefik ./cmd/traefik
const traefikBinEnv = "WHISKERS_TRAEFIK_BIN"

// realTraefik is a Traefik process with the plugin loaded as a local
// plugin, routing:
//
//	/old/...  → middleware "old" (plugin, handler redirect) → noop@internal
//	/builtin/... → Traefik's own redirectRegex (for comparison)
//	anything else → middleware "static-first" (plugin, handler static,
//	                fallthroughStatus 404) → the app
type realTraefik struct {
	url string
}

// startRealTraefik starts Traefik in front of the wasm host at socket, or
// skips the test when no Traefik binary is configured.
func startRealTraefik(tb testing.TB, socket string, app http.Handler) *realTraefik {
	tb.Helper()
	bin := os.Getenv(traefikBinEnv)
	if bin == "" {
		tb.Skipf("%s not set: no Traefik binary to load the plugin in", traefikBinEnv)
	}
	dir := tb.TempDir()
	mod := filepath.Join(dir, "plugins-local", "src", filepath.FromSlash(moduleName))
	if err := os.MkdirAll(filepath.Join(mod, "plugin"), 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, name := range []string{".traefik.yml", "go.mod"} {
		if err := copyFile(filepath.Join(repoRoot, name), filepath.Join(mod, name)); err != nil {
			tb.Fatal(err)
		}
	}
	sources, err := filepath.Glob(filepath.Join(repoRoot, "plugin", "*.go"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, src := range sources {
		if err := copyFile(src, filepath.Join(mod, "plugin", filepath.Base(src))); err != nil {
			tb.Fatal(err)
		}
	}

	appSrv := httptest.NewServer(app)
	tb.Cleanup(appSrv.Close)
	port := freePort(tb)
	static := fmt.Sprintf(`entryPoints:
  web:
    address: "127.0.0.1:%d"
providers:
  file:
    filename: %s
log:
  level: ERROR
experimental:
  localPlugins:
    whiskers:
      moduleName: %s
`, port, filepath.Join(dir, "dynamic.yml"), moduleName)
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
    app:
      rule: PathPrefix(`+"`/`"+`)
      middlewares: [static-first]
      service: app
  services:
    app:
      loadBalancer:
        servers:
          - url: %[2]s
`, socket, appSrv.URL)
	if err := os.WriteFile(filepath.Join(dir, "traefik.yml"), []byte(static), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dynamic.yml"), []byte(dynamic), 0o644); err != nil {
		tb.Fatal(err)
	}

	var logs strings.Builder
	cmd := exec.Command(bin, "--configFile="+filepath.Join(dir, "traefik.yml"))
	cmd.Dir = dir // plugins-local/ is looked up in the working directory
	cmd.Stdout = &logs
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting traefik: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if tb.Failed() {
			tb.Logf("traefik output:\n%s", logs.String())
		}
	})

	rt := &realTraefik{url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	// Wait until the plugin's router answers (Traefik loads plugins, then
	// the file provider's configuration).
	client := noRedirectClient()
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := client.Get(rt.url + "/old/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusMovedPermanently {
				return rt
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("traefik did not route /old within 90s (last error %v); output:\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond) // polling an external process for readiness
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// noRedirectClient is a keep-alive client that returns redirects as they are.
func noRedirectClient() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// TestRealTraefik loads the plugin into a real Traefik process (skipped
// without WHISKERS_TRAEFIK_BIN) in front of a real wasmhost.
func TestRealTraefik(t *testing.T) {
	if os.Getenv(traefikBinEnv) == "" {
		t.Skipf("%s not set: no Traefik binary to load the plugin in", traefikBinEnv)
	}
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
// (skipped without WHISKERS_TRAEFIK_BIN), a sequential keep-alive client's
// request to the redirect handler via the Yaegi-loaded plugin, next to
// Traefik's built-in redirectRegex (builtin-) on the same entry point.
//
//	WHISKERS_TRAEFIK_BIN=/tmp/traefik go test -run '^$' -bench RealTraefik -benchtime 5000x ./plugin/yaegitest
func BenchmarkRealTraefikRedirect(b *testing.B) {
	socket := startWasmHost(b)
	rt := startRealTraefik(b, socket, appHandler)
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
		get("/builtin/page")
	}
	dPlugin := make(latencies, 0, b.N)
	dBuiltin := make(latencies, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		get("/old/page")
		t1 := time.Now()
		get("/builtin/page")
		t2 := time.Now()
		dPlugin = append(dPlugin, t1.Sub(t0))
		dBuiltin = append(dBuiltin, t2.Sub(t1))
	}
	b.StopTimer()
	dPlugin.report(b, "")
	dBuiltin.report(b, "builtin-")
}
