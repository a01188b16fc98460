package wasmhost

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/internal/syncbuf"

	"github.com/whiskers-dev/whiskers/internal/testkit"
)

// The guests under testdata/ are C programs built with
//
//	clang --target=wasm32-wasi -O2 -Wall -Werror -Wl,--strip-all -o NAME.wasm NAME.c
//
// by testdata/Makefile (`make -C wasmhost/testdata`; `check` verifies the
// committed .wasm are a fresh build).

func testLogger() (*slog.Logger, *syncbuf.Buffer) {
	buf := &syncbuf.Buffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// writeConfig writes yaml (with TESTDATA replaced by the absolute path of
// testdata/) into a fresh directory and returns the file's path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	abs, err := filepath.Abs("testdata")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "handlers.yaml")
	require.NoError(t, os.WriteFile(path, []byte(strings.ReplaceAll(yaml, "TESTDATA", abs)), 0o644))
	return path
}

// newTestHost builds a Host from yaml and closes it at the end of the test.
func newTestHost(t *testing.T, yaml string, reg prometheus.Registerer) (*Host, *syncbuf.Buffer) {
	t.Helper()
	cfg, err := LoadConfig(writeConfig(t, yaml))
	require.NoError(t, err)
	log, logs := testLogger()
	h, err := New(t.Context(), cfg, Options{Logger: log, Registerer: reg})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, h.Close(context.Background())) })
	return h, logs
}

// do serves one request in process.
func do(h http.Handler, method, target string, body io.Reader, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, body)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// guestEnv parses the env guest's answer into its environment, argv and
// body.
func guestEnv(t *testing.T, body string) (env map[string]string, args []string, reqBody string) {
	t.Helper()
	env = map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		switch {
		case strings.HasPrefix(line, "env "):
			k, v, _ := strings.Cut(strings.TrimPrefix(line, "env "), "=")
			env[k] = v
		case strings.HasPrefix(line, "arg "):
			_, a, _ := strings.Cut(strings.TrimPrefix(line, "arg "), " ")
			args = append(args, a)
		case strings.HasPrefix(line, "body "):
			reqBody = strings.TrimPrefix(line, "body ")
		}
	}
	return env, args, reqBody
}

func TestEnvContract(t *testing.T) {
	t.Parallel()
	h, _ := newTestHost(t, `handlers:
- name: env
  module: TESTDATA/env.wasm
  route: /env
  env: {GREETING: hello, REQUEST_METHOD: spoofed}
`, nil)
	req := httptest.NewRequest(http.MethodPost, "http://foo.example.com:8080/env/a%20b/c%2Fd?greet=matt&foo=b%20r", strings.NewReader("the body"))
	req.RemoteAddr = "203.0.113.9:5555"
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("Proxy-Authorization", "Basic secret")
	req.Header.Set("Proxy", "http://evil")
	req.Header.Set("X-Real-Ip", "198.51.100.1") // not trusted from a remote peer
	req.Header.Set("User-Agent", "curl/8")
	req.Header["X_Sneaky"] = []string{"dropped"}
	req.Header.Add("Accept", "text/html")
	req.Header.Add("Accept", "*/*")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "text/plain", rec.Header().Get("Content-Type"))
	assert.Equal(t, "env", rec.Header().Get("X-Guest"))

	env, args, body := guestEnv(t, rec.Body.String())
	want := map[string]string{
		"REQUEST_METHOD":    "POST",
		"SCRIPT_NAME":       "/env",
		"PATH_INFO":         "/a b/c/d",
		"PATH_TRANSLATED":   "/a b/c/d",
		"X_RAW_PATH_INFO":   "/a%20b/c%2Fd",
		"QUERY_STRING":      "greet=matt&foo=b%20r",
		"X_MATCHED_ROUTE":   "/env",
		"X_FULL_URL":        "http://foo.example.com:8080/env/a%20b/c%2Fd?greet=matt&foo=b%20r",
		"SERVER_NAME":       "foo.example.com",
		"SERVER_PORT":       "8080",
		"SERVER_PROTOCOL":   "HTTP/1.1",
		"GATEWAY_INTERFACE": "CGI/1.1",
		"REMOTE_ADDR":       "203.0.113.9",
		"REMOTE_HOST":       "203.0.113.9",
		"CONTENT_LENGTH":    "8",
		"CONTENT_TYPE":      "text/plain",
		"HTTP_HOST":         "foo.example.com:8080",
		"HTTP_USER_AGENT":   "curl/8",
		"HTTP_ACCEPT":       "text/html, */*",
		"HTTP_CONTENT_TYPE": "text/plain",
		"HTTP_X_REAL_IP":    "198.51.100.1",
		"AUTH_TYPE":         "",
		"REMOTE_USER":       "",
		"GREETING":          "hello",
	}
	for k, v := range want {
		assert.Equal(t, v, env[k], k)
	}
	for _, k := range []string{"HTTP_AUTHORIZATION", "HTTP_PROXY_AUTHORIZATION", "HTTP_PROXY", "HTTP_X_SNEAKY", "HTTP_CONTENT_LENGTH"} {
		assert.NotContains(t, env, k)
	}
	assert.Equal(t, []string{"/env", "greet=matt", "foo=b r"}, args, "WAGI default argv")
	assert.Equal(t, "the body", body, "body on stdin")
}

func TestEnvTrustedProxy(t *testing.T) {
	t.Parallel()
	h, _ := newTestHost(t, "handlers:\n- {name: env, module: TESTDATA/env.wasm, route: /}\n", nil)
	tests := []struct {
		name, remote string
		header       http.Header
		wantAddr     string
		wantURL      string
	}{
		{"unix socket peer uses X-Real-Ip", "@", http.Header{"X-Real-Ip": {"198.51.100.1"}, "X-Forwarded-Proto": {"https"}}, "198.51.100.1", "https://site.test:443/p"},
		{"loopback peer uses last X-Forwarded-For", "127.0.0.1:999", http.Header{"X-Forwarded-For": {"10.0.0.1, 198.51.100.2"}}, "198.51.100.2", "http://site.test:80/p"},
		{"remote peer is not trusted", "192.0.2.7:1", http.Header{"X-Real-Ip": {"198.51.100.1"}, "X-Forwarded-Proto": {"https"}}, "192.0.2.7", "http://site.test:80/p"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, "http://site.test/p", nil)
			req.RemoteAddr = tc.remote
			for k, v := range tc.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, http.StatusOK, rec.Code)
			env, args, _ := guestEnv(t, rec.Body.String())
			assert.Equal(t, tc.wantAddr, env["REMOTE_ADDR"])
			assert.Equal(t, tc.wantURL, env["X_FULL_URL"])
			assert.Equal(t, "", env["SCRIPT_NAME"], "the root route has an empty SCRIPT_NAME")
			assert.Equal(t, "/p", env["PATH_INFO"])
			assert.Equal(t, "0", env["CONTENT_LENGTH"])
			assert.Equal(t, []string{""}, args)
		})
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	h, _ := newTestHost(t, `handlers:
- {name: root, module: TESTDATA/env.wasm, route: /, env: {WHO: root}}
- {name: old, module: TESTDATA/env.wasm, route: /old, env: {WHO: old}}
- {name: deeper, module: TESTDATA/env.wasm, route: /old/deeper/, env: {WHO: deeper}}
- {name: hidden, module: TESTDATA/env.wasm, env: {WHO: hidden}}
`, nil)
	tests := []struct {
		name, target, handler string
		wantCode              int
		wantWho               string
		wantScript, wantPath  string
	}{
		{"exact route", "/old", "", 200, "old", "/old", ""},
		{"route with slash", "/old/", "", 200, "old", "/old", "/"},
		{"under route", "/old/x/y", "", 200, "old", "/old", "/x/y"},
		{"segment boundary", "/older", "", 200, "root", "", "/older"},
		{"longest prefix wins", "/old/deeper/z", "", 200, "deeper", "/old/deeper", "/z"},
		{"encoded slash is not a boundary", "/old%2Fx", "", 200, "root", "", "/old/x"},
		{"root", "/", "", 200, "root", "", "/"},
		{"header on the root handler", "/x/y", "root", 200, "root", "", "/x/y"},
		{"header names a routeless handler", "/any/path", "hidden", 200, "hidden", "", "/any/path"},
		{"header beats routes, keeps the handler's prefix", "/old/deeper/q", "old", 200, "old", "/old", "/deeper/q"},
		{"header handler outside its route", "/elsewhere", "deeper", 200, "deeper", "", "/elsewhere"},
		{"unknown handler header", "/old", "nope", 404, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hdr := http.Header{}
			if tc.handler != "" {
				hdr.Set(HandlerHeader, tc.handler)
			}
			rec := do(h, http.MethodGet, tc.target, nil, hdr)
			require.Equal(t, tc.wantCode, rec.Code, rec.Body.String())
			if tc.wantCode != 200 {
				return
			}
			env, _, _ := guestEnv(t, rec.Body.String())
			assert.Equal(t, tc.wantWho, env["WHO"])
			assert.Equal(t, tc.wantScript, env["SCRIPT_NAME"])
			assert.Equal(t, tc.wantPath, env["PATH_INFO"])
		})
	}

	t.Run("no matching route", func(t *testing.T) {
		t.Parallel()
		h, _ := newTestHost(t, "handlers:\n- {name: a, module: TESTDATA/env.wasm, route: /a}\n", nil)
		assert.Equal(t, http.StatusNotFound, do(h, http.MethodGet, "/b", nil, nil).Code)
	})
}

func TestResponses(t *testing.T) {
	t.Parallel()
	// One respond.wasm handler per case; RESPONSE is written verbatim.
	cases := []struct {
		name       string
		env        string // YAML flow map
		wantCode   int
		wantHeader http.Header
		wantBody   string
		wantLog    string
	}{
		{"ok", `{RESPONSE: "content-type: text/plain\n\nhi"}`, 200, http.Header{"Content-Type": {"text/plain"}}, "hi", ""},
		{"location implies 302", `{RESPONSE: "location: /new\n\n"}`, 302, http.Header{"Location": {"/new"}}, "", ""},
		{"explicit status after location wins", `{RESPONSE: "location: /new\nstatus: 301\n\n"}`, 301, http.Header{"Location": {"/new"}}, "", ""},
		{"explicit status before location wins", `{RESPONSE: "status: 307\nlocation: /new\n\n"}`, 307, http.Header{"Location": {"/new"}}, "", ""},
		{"status sets the code", `{RESPONSE: "status: 404 Not Found\ncontent-type: text/html\n\ngone"}`, 404, http.Header{"Content-Type": {"text/html"}}, "gone", ""},
		{"repeated headers kept", `{RESPONSE: "content-type: text/plain\nset-cookie: a=1\nset-cookie: b=2\n\n"}`, 200, http.Header{"Set-Cookie": {"a=1", "b=2"}}, "", ""},
		{"no content type is 500 and logged", `{RESPONSE: "x-a: 1\n\nbody"}`, 500, nil, "", "no content-type, location or status"},
		{"no output at all", `{}`, 500, nil, "", "no content-type, location or status"},
		{"malformed header", `{RESPONSE: "content-type text/plain\n\n"}`, 500, nil, "", "malformed header line"},
		{"non-zero exit is 500 with stderr logged", `{RESPONSE: "content-type: text/plain\n\nhalf", EXIT: "3", STDERR: "respond: giving up"}`, 500, nil, "", "respond: giving up"},
	}
	var yaml strings.Builder
	yaml.WriteString("handlers:\n")
	for i, c := range cases {
		fmt.Fprintf(&yaml, "- {name: c%d, module: TESTDATA/respond.wasm, env: %s}\n", i, c.env)
	}
	h, logs := newTestHost(t, yaml.String(), nil)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := do(h, http.MethodGet, "/", nil, http.Header{HandlerHeader: {fmt.Sprintf("c%d", i)}})
			assert.Equal(t, tc.wantCode, rec.Code, rec.Body.String())
			for k, v := range tc.wantHeader {
				assert.Equal(t, v, rec.Header()[k], k)
			}
			if tc.wantCode < 500 {
				assert.Equal(t, tc.wantBody, rec.Body.String())
			} else {
				assert.NotContains(t, rec.Body.String(), "half", "no partial guest output on failure")
			}
			if tc.wantLog != "" {
				assert.Contains(t, logs.String(), tc.wantLog)
			}
		})
	}
}

func TestContentLength(t *testing.T) {
	t.Parallel()
	h, _ := newTestHost(t, `handlers:
- {name: r, module: TESTDATA/respond.wasm, route: /, env: {RESPONSE: "content-type: text/plain\ncontent-length: 1234\n\n"}}
`, nil)
	rec := do(h, http.MethodHead, "/", nil, nil)
	assert.Equal(t, "1234", rec.Header().Get("Content-Length"), "HEAD keeps the length a GET would have")
	assert.Empty(t, rec.Body.String())
	rec = do(h, http.MethodGet, "/", nil, nil)
	assert.Equal(t, "0", rec.Header().Get("Content-Length"), "a GET is framed by its real body")

	h, _ = newTestHost(t, `handlers:
- {name: r, module: TESTDATA/respond.wasm, route: /, env: {RESPONSE: "status: 304\netag: \"x\"\n\nstray body"}}
`, nil)
	srv := startServer(t, h)
	code, body := get(t, srv.URL+"/", nil)
	assert.Equal(t, http.StatusNotModified, code)
	assert.Empty(t, body, "a 304 never has a body")
}

// startServer serves h over real HTTP for tests that need concurrency.
func startServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	code, body, err := fetch(url, header)
	require.NoError(t, err)
	return code, body
}

// fetch is get for goroutines other than the test's own.
func fetch(url string, header http.Header) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestLimitsStopRunawayGuests(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h, logs := newTestHost(t, `handlers:
- {name: ok, module: TESTDATA/env.wasm, route: /ok}
- {name: loop, module: TESTDATA/loop.wasm, route: /loop, timeout: 300ms}
- {name: membomb, module: TESTDATA/membomb.wasm, route: /membomb, memory: 4MiB}
- {name: bigout, module: TESTDATA/bigout.wasm, route: /bigout, maxResponse: 1MiB}
- {name: trap, module: TESTDATA/trap.wasm, route: /trap}
- {name: small, module: TESTDATA/env.wasm, route: /small, maxRequestBody: 16}
`, reg)
	srv := startServer(t, h)

	tests := []struct {
		name     string
		path     string
		wantCode int
		wantLog  string
	}{
		{"infinite loop is stopped at its timeout", "/loop", http.StatusGatewayTimeout, "guest timed out"},
		{"memory bomb is stopped at its memory cap", "/membomb", http.StatusInternalServerError, "membomb: malloc failed after"},
		{"100 MB writer is stopped at maxResponse", "/bigout", http.StatusBadGateway, "guest output too large"},
		{"trap is a 500 with stderr logged", "/trap", http.StatusInternalServerError, "trap: about to crash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			done := make(chan struct{})
			var code int
			var body string
			var err error
			go func() {
				defer close(done)
				code, body, err = fetch(srv.URL+tc.path, nil)
			}()
			// Other requests keep being served while the runaway runs.
			for range 5 {
				c, _ := get(t, srv.URL+"/ok", nil)
				assert.Equal(t, http.StatusOK, c)
			}
			<-done
			require.NoError(t, err)
			assert.Equal(t, tc.wantCode, code, body)
			assert.Contains(t, logs.String(), tc.wantLog)
			c, _ := get(t, srv.URL+"/ok", nil)
			assert.Equal(t, http.StatusOK, c, "host still serving after the runaway")
		})
	}

	t.Run("request body over the limit is 413", func(t *testing.T) {
		t.Parallel()
		resp, err := http.Post(srv.URL+"/small", "text/plain", strings.NewReader(strings.Repeat("x", 17)))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)

		// Chunked, so the host cannot trust a Content-Length.
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/small", io.MultiReader(strings.NewReader(strings.Repeat("y", 10)), strings.NewReader(strings.Repeat("y", 10))))
		require.NoError(t, err)
		req.ContentLength = -1
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)

		code, body := func() (int, string) {
			resp, err := http.Post(srv.URL+"/small", "text/plain", strings.NewReader(strings.Repeat("z", 16)))
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}()
		assert.Equal(t, http.StatusOK, code)
		_, _, got := guestEnv(t, body)
		assert.Equal(t, strings.Repeat("z", 16), got, "a body at the limit is passed whole")
	})

	t.Cleanup(func() {
		// Metrics saw the limits (checked after the subtests ran).
		assert.Equal(t, 1.0, testutil.ToFloat64(h.metrics.timeouts.WithLabelValues("loop")))
		assert.Equal(t, 1.0, testutil.ToFloat64(h.metrics.rejected.WithLabelValues("bigout", "response_size")))
		assert.Equal(t, 2.0, testutil.ToFloat64(h.metrics.rejected.WithLabelValues("small", "request_body")))
		assert.Equal(t, 1.0, testutil.ToFloat64(h.metrics.requests.WithLabelValues("loop", "504")))
	})
}

func TestConcurrencyLimitQueuesThen503(t *testing.T) {
	t.Parallel()
	gateDir := t.TempDir()
	h, _ := newTestHost(t, fmt.Sprintf(`handlers:
- {name: gate, module: TESTDATA/gate.wasm, route: /gate, volumes: ["%s:/gate"], maxConcurrent: 1, queueTimeout: 50ms}
`, gateDir), nil)
	srv := startServer(t, h)
	hd := h.byName["gate"]

	first := make(chan int, 1)
	go func() {
		code, _, err := fetch(srv.URL+"/gate", nil)
		assert.NoError(t, err)
		first <- code
	}()
	testkit.WaitFor(t, "the first instance to hold the only slot", func() bool { return len(hd.slots) == 1 })

	code, body := get(t, srv.URL+"/gate", nil)
	assert.Equal(t, http.StatusServiceUnavailable, code, body)

	// A queued request gets the slot as soon as it frees up.
	queued := make(chan int, 1)
	go func() {
		// queueTimeout is short; retry until this one is the one queued
		// when the gate opens.
		for {
			code, _, err := fetch(srv.URL+"/gate", nil)
			if err != nil || code != http.StatusServiceUnavailable {
				queued <- code
				return
			}
		}
	}()
	require.NoError(t, os.WriteFile(filepath.Join(gateDir, "open"), nil, 0o644))
	assert.Equal(t, http.StatusOK, <-first)
	assert.Equal(t, http.StatusOK, <-queued)
	assert.GreaterOrEqual(t, testutil.ToFloat64(h.metrics.rejected.WithLabelValues("gate", "queue_timeout")), 1.0)
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notWasm := filepath.Join(dir, "bad.wasm")
	require.NoError(t, os.WriteFile(notWasm, []byte("not wasm"), 0o644))
	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{"missing module", "handlers:\n- {name: a, module: " + filepath.Join(dir, "nope.wasm") + "}", `handler "a": module:`},
		{"not wasm", "handlers:\n- {name: a, module: " + notWasm + "}", `handler "a": compiling module`},
		{"missing volume", "handlers:\n- {name: a, module: TESTDATA/env.wasm, volumes: [\"" + filepath.Join(dir, "nope") + ":/x\"]}", `handler "a": volumes[0]`},
		{"memory cap below the module's minimum", "handlers:\n- {name: a, module: TESTDATA/env.wasm, memory: 64KiB}", `handler "a": compiling module`},
		{"volume is a file", "handlers:\n- {name: a, module: TESTDATA/env.wasm, volumes: [\"" + notWasm + ":/x\"]}", "not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := LoadConfig(writeConfig(t, tc.yaml))
			require.NoError(t, err)
			_, err = New(t.Context(), cfg, Options{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}

	t.Run("config built in code is validated", func(t *testing.T) {
		t.Parallel()
		_, err := New(t.Context(), &Config{Handlers: []HandlerConfig{{Name: "a"}}}, Options{})
		assert.ErrorContains(t, err, "module: required")
	})
}

func TestCompilationCacheDir(t *testing.T) {
	t.Parallel()
	cacheDir := filepath.Join(t.TempDir(), "cache")
	cfg, err := LoadConfig(writeConfig(t, "handlers:\n- {name: a, module: TESTDATA/env.wasm, route: /}\n"))
	require.NoError(t, err)
	for range 2 { // the second start reads the cache the first wrote
		h, err := New(t.Context(), cfg, Options{CacheDir: cacheDir})
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, do(h, http.MethodGet, "/", nil, nil).Code)
		require.NoError(t, h.Close(t.Context()))
	}
	entries, err := os.ReadDir(cacheDir)
	require.NoError(t, err)
	assert.NotEmpty(t, entries, "compiled code persisted on disk")
}

func TestClosedHostAnswers503(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(writeConfig(t, "handlers:\n- {name: a, module: TESTDATA/env.wasm, route: /}\n"))
	require.NoError(t, err)
	h, err := New(t.Context(), cfg, Options{})
	require.NoError(t, err)
	require.NoError(t, h.Close(t.Context()))
	require.NoError(t, h.Close(t.Context()), "Close is idempotent")
	assert.Equal(t, http.StatusServiceUnavailable, do(h, http.MethodGet, "/", nil, nil).Code)
}

func TestVolumes(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	site := filepath.Join(root, "site")
	require.NoError(t, os.MkdirAll(filepath.Join(site, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(site, "hello.txt"), []byte("hello volume"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "outside.txt"), []byte("secret"), 0o644))
	h, _ := newTestHost(t, fmt.Sprintf(`handlers:
- {name: root, module: TESTDATA/fs.wasm, route: /root, volumes: ["%[1]s:/"], env: {MOUNT: /}}
- {name: srv, module: TESTDATA/fs.wasm, route: /srv, volumes: ["%[1]s:/srv"], env: {MOUNT: /srv}}
`, site), nil)
	for _, path := range []string{"/root", "/srv"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			rec := do(h, http.MethodGet, path, nil, nil)
			require.Equal(t, http.StatusOK, rec.Code)
			body := rec.Body.String()
			for _, want := range []string{
				"stat dir\n",
				"list0 hello.txt\n", "list0 sub\n",
				"list1 hello.txt\n", "list1 sub\n", // rewinddir works
				"read hello volume\n",
				"create denied\n",
				"escape denied\n",
			} {
				assert.Contains(t, body, want)
			}
			_, err := os.Stat(filepath.Join(site, "new.txt"))
			assert.True(t, os.IsNotExist(err), "volume is read-only")
		})
	}
}

func TestClientGoneStopsGuest(t *testing.T) {
	t.Parallel()
	h, _ := newTestHost(t, "handlers:\n- {name: loop, module: TESTDATA/loop.wasm, route: /, timeout: 1h}\n", nil)
	ctx, cancel := context.WithCancel(t.Context())
	req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}()
	hd := h.byName["loop"]
	testkit.WaitFor(t, "the guest to run", func() bool { return len(hd.slots) == 1 })
	cancel() // the client hangs up; the guest would otherwise spin for an hour
	<-done
	assert.Empty(t, hd.slots, "instance slot released")
	assert.Equal(t, 1.0, testutil.ToFloat64(h.metrics.requests.WithLabelValues("loop", "499")))
	assert.Zero(t, testutil.ToFloat64(h.metrics.timeouts.WithLabelValues("loop")))
}

func TestGuestsSeeRealClockAndRandom(t *testing.T) {
	t.Parallel()
	h, _ := newTestHost(t, "handlers:\n- {name: env, module: TESTDATA/env.wasm, route: /}\n", nil)
	line := func(body, prefix string) string {
		for _, l := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(l, prefix); ok {
				return v
			}
		}
		t.Fatalf("no %q line in %q", prefix, body)
		return ""
	}
	first := do(h, http.MethodGet, "/", nil, nil).Body.String()
	second := do(h, http.MethodGet, "/", nil, nil).Body.String()
	guestTime, err := strconv.ParseInt(line(first, "time "), 10, 64)
	require.NoError(t, err)
	// wazero's default clock is a fixed fake; a real one is near ours.
	assert.InDelta(t, time.Now().Unix(), guestTime, 24*3600)
	assert.Len(t, line(first, "random "), 16)
	assert.NotEqual(t, line(first, "random "), line(second, "random "), "crypto random, not wazero's deterministic default")
}

// TestEnvManyAndLarge: the guest reads every variable of a large
// environment intact, through the host's environ_get.
func TestEnvManyAndLarge(t *testing.T) {
	t.Parallel()
	h, _ := newTestHost(t, `handlers:
- name: env
  module: TESTDATA/env.wasm
  route: /
`, nil)
	header := http.Header{}
	for i := range 200 {
		header.Set(fmt.Sprintf("X-Big-%d", i), strings.Repeat(string(rune('a'+i%26)), 1000+i))
	}
	rec := do(h, http.MethodGet, "/", nil, header)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	env, _, _ := guestEnv(t, rec.Body.String())
	for i := range 200 {
		assert.Equal(t, strings.Repeat(string(rune('a'+i%26)), 1000+i), env[fmt.Sprintf("HTTP_X_BIG_%d", i)], i)
	}
}
