package wasmhost

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/internal/syncbuf"

	"github.com/whiskers-dev/whiskers/internal/testkit"
)

func newTestServer(t *testing.T, path string) (*Server, *syncbuf.Buffer) {
	t.Helper()
	log, logs := testLogger()
	s, err := NewServer(t.Context(), path, Options{Logger: log, Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close(context.Background())) })
	return s, logs
}

const reloadConfig = `handlers:
- {name: env, module: TESTDATA/env.wasm, route: /env, env: {VERSION: "%d"}}
- {name: gate, module: TESTDATA/gate.wasm, route: /gate, volumes: ["%s:/gate"]}
`

func TestReloadKeepsInFlightRequests(t *testing.T) {
	t.Parallel()
	gateDir := t.TempDir()
	path := writeConfig(t, fmt.Sprintf(reloadConfig, 1, gateDir))
	s, _ := newTestServer(t, path)
	srv := startServer(t, s.Handler())
	version := func() string {
		code, body := get(t, srv.URL+"/env", nil)
		require.Equal(t, http.StatusOK, code)
		env, _, _ := guestEnv(t, body)
		return env["VERSION"]
	}
	require.Equal(t, "1", version())

	// A request is in flight on the first Host …
	old := s.current.Load()
	inFlight := make(chan string, 1)
	go func() {
		code, body, err := fetch(srv.URL+"/gate", nil)
		assert.NoError(t, err)
		inFlight <- fmt.Sprint(code, " ", strings.TrimSpace(body))
	}()
	testkit.WaitFor(t, "the gate request to run", func() bool { return len(old.byName["gate"].slots) == 1 })

	// … when the config changes and is reloaded.
	abs, err := filepath.Abs("testdata")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(strings.ReplaceAll(fmt.Sprintf(reloadConfig, 2, gateDir), "TESTDATA", abs)), 0o644))
	reloaded := make(chan error, 1)
	go func() { reloaded <- s.Reload(context.Background()) }()

	// New requests see the new handlers while the old one is still running.
	testkit.WaitFor(t, "the new config to serve", func() bool { return version() == "2" })
	select {
	case got := <-inFlight:
		t.Fatalf("in-flight request finished before its gate opened: %s", got)
	default:
	}

	require.NoError(t, os.WriteFile(filepath.Join(gateDir, "open"), nil, 0o644))
	assert.Equal(t, "200 released", <-inFlight, "the in-flight request completed on the old host")
	require.NoError(t, <-reloaded)
	assert.Equal(t, http.StatusServiceUnavailable, do(old, http.MethodGet, "/env", nil, nil).Code, "the old host is closed")
}

func TestReloadErrorKeepsServing(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "handlers:\n- {name: env, module: TESTDATA/env.wasm, route: /}\n")
	s, logs := newTestServer(t, path)
	require.NoError(t, os.WriteFile(path, []byte("handlers:\n- {name: env, module: missing.wasm, route: /}\n"), 0o644))
	err := s.Reload(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `handler "env": module`)
	assert.Contains(t, logs.String(), "config reload failed")
	assert.Equal(t, http.StatusOK, do(s.Handler(), http.MethodGet, "/x", nil, nil).Code)
}

func TestWatchReloadsOnFileChangeAndSignal(t *testing.T) {
	t.Parallel()
	abs, err := filepath.Abs("testdata")
	require.NoError(t, err)
	cfg := func(v int) []byte {
		return fmt.Appendf(nil, "handlers:\n- {name: env, module: %s/env.wasm, route: /, env: {VERSION: \"%d\"}}\n", abs, v)
	}
	path := writeConfig(t, string(cfg(1)))
	s, _ := newTestServer(t, path)
	version := func() string {
		rec := do(s.Handler(), http.MethodGet, "/", nil, nil)
		env, _, _ := guestEnv(t, rec.Body.String())
		return env["VERSION"]
	}
	watch := func(interval time.Duration, hup chan os.Signal) (stop func()) {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Watch(ctx, interval, hup)
		}()
		return func() { cancel(); <-done }
	}

	// A file change is picked up by polling.
	stop := watch(10*time.Millisecond, nil)
	require.NoError(t, os.WriteFile(path, cfg(22), 0o644))
	testkit.WaitFor(t, "the file change to reload", func() bool { return version() == "22" })
	stop()

	// SIGHUP reloads at once (the poller here would take an hour).
	hup := make(chan os.Signal, 1)
	stop = watch(time.Hour, hup)
	defer stop()
	require.NoError(t, os.WriteFile(path, cfg(33), 0o644))
	hup <- syscall.SIGHUP
	testkit.WaitFor(t, "the signal to reload", func() bool { return version() == "33" })
}

func TestServerEndpoints(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "handlers:\n- {name: env, module: TESTDATA/env.wasm, route: /, env: {WHO: root}}\n")
	s, _ := newTestServer(t, path)
	h := s.Handler()
	require.Equal(t, http.StatusOK, do(h, http.MethodGet, "/page", nil, nil).Code)

	for _, p := range []string{HealthPath, ReservedHealthPath} {
		rec := do(h, http.MethodGet, p, nil, nil)
		assert.Equal(t, http.StatusOK, rec.Code, p)
		assert.Equal(t, "ok\n", rec.Body.String(), p)
	}
	for _, p := range []string{MetricsPath, ReservedMetricPath} {
		rec := do(h, http.MethodGet, p, nil, nil)
		assert.Equal(t, http.StatusOK, rec.Code, p)
		body := rec.Body.String()
		assert.Contains(t, body, `whiskers_wasm_requests_total{code="200",handler="env"} 1`, p)
		assert.Contains(t, body, `whiskers_wasm_request_duration_seconds_bucket{handler="env"`, p)
	}
	// With the handler header, /healthz and /metrics are the site's paths.
	rec := do(h, http.MethodGet, "/healthz", nil, http.Header{HandlerHeader: {"env"}})
	env, _, _ := guestEnv(t, rec.Body.String())
	assert.Equal(t, "root", env["WHO"])
	assert.Equal(t, "/healthz", env["PATH_INFO"])
}

func TestServeOverUnixSocket(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "handlers:\n- {name: env, module: TESTDATA/env.wasm, route: /}\n")
	s, _ := newTestServer(t, path)
	sock := filepath.Join(t.TempDir(), "run", "wasm.sock")
	ln, err := Listen("unix://"+sock, 0)
	require.NoError(t, err)
	st, err := os.Stat(sock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o666), st.Mode().Perm())

	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, time.Hour, nil) }()

	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := client.Get("http://wasm/hello")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// A second server cannot steal a live socket.
	_, err = Listen("unix://"+sock, 0)
	assert.ErrorContains(t, err, "another process is serving")

	cancel()
	require.NoError(t, <-served)
	_, err = os.Stat(sock)
	assert.True(t, os.IsNotExist(err), "socket removed on shutdown")
}

func TestListenUnixSocket(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	t.Run("removes a stale socket and sets the mode", func(t *testing.T) {
		t.Parallel()
		sock := filepath.Join(dir, "stale.sock")
		stale, err := net.Listen("unix", sock)
		require.NoError(t, err)
		stale.(*net.UnixListener).SetUnlinkOnClose(false)
		require.NoError(t, stale.Close()) // leaves the file behind, like a crash
		ln, err := Listen("unix://"+sock, 0o660)
		require.NoError(t, err)
		defer ln.Close()
		st, err := os.Stat(sock)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o660), st.Mode().Perm())
	})
	t.Run("refuses to remove a regular file", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(dir, "file.sock")
		require.NoError(t, os.WriteFile(file, []byte("keep me"), 0o644))
		_, err := Listen("unix://"+file, 0)
		assert.ErrorContains(t, err, "is not a socket")
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		assert.Equal(t, "keep me", string(b))
	})
	t.Run("empty path", func(t *testing.T) {
		t.Parallel()
		_, err := Listen("unix://", 0)
		assert.ErrorContains(t, err, "empty socket path")
	})
	t.Run("tcp", func(t *testing.T) {
		t.Parallel()
		ln, err := Listen("127.0.0.1:0", 0)
		require.NoError(t, err)
		assert.NoError(t, ln.Close())
	})
}
