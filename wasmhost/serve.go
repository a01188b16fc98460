package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Paths of the server's own endpoints. They answer only requests without
// an X-Whiskers-Handler header (the Traefik plugin always sets it, so
// site traffic never reaches them); the /_whiskers/ forms exist so that a
// probe never collides with a handler's own /healthz.
const (
	HealthPath         = "/healthz"
	MetricsPath        = "/metrics"
	ReservedHealthPath = "/_whiskers/healthz"
	ReservedMetricPath = "/_whiskers/metrics"
)

// DefaultPollInterval is how often Server.Watch checks the config file's
// modification time.
const DefaultPollInterval = 2 * time.Second

// Server serves the handlers of a config file and swaps in a new Host
// when the file changes or Reload is called; requests in flight finish on
// the Host they started on. It also answers /healthz and /metrics.
//
// Create it with NewServer, serve with Serve (or mount Handler), and
// Close it when done. Its methods are safe for concurrent use.
type Server struct {
	path     string
	opts     Options
	log      *slog.Logger
	gatherer prometheus.Gatherer
	reloads  *prometheus.CounterVec

	current atomic.Pointer[Host]

	mu      sync.Mutex // serializes Reload and Close
	modTime time.Time
	size    int64
	closed  bool
}

// NewServer loads the config at path and builds its Host. If
// opts.Registerer is nil a fresh registry (with Go and process collectors)
// is created, shared by every Host it builds and served at /metrics (see
// Options.Registerer); if it is set and also a prometheus.Gatherer, that
// is served, else prometheus.DefaultGatherer.
func NewServer(ctx context.Context, path string, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{path: path, log: opts.Logger.With("component", "wasmhost")}
	if opts.Registerer == nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		opts.Registerer, s.gatherer = reg, reg
	} else if g, ok := opts.Registerer.(prometheus.Gatherer); ok {
		s.gatherer = g
	} else {
		s.gatherer = prometheus.DefaultGatherer
	}
	s.opts = opts
	s.reloads = register(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "whiskers", Subsystem: "wasm", Name: "config_reloads_total",
		Help: "Config reloads by result (ok, error).",
	}, []string{"result"}))
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("wasmhost: config: %w", err)
	}
	h, err := s.build(ctx)
	if err != nil {
		return nil, err
	}
	s.modTime, s.size = st.ModTime(), st.Size()
	s.current.Store(h)
	return s, nil
}

// build loads the config file and builds a Host from it.
func (s *Server) build(ctx context.Context) (*Host, error) {
	cfg, err := LoadConfig(s.path)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg, s.opts)
}

// Reload reads the config file again and atomically replaces the Host.
// On error the current Host keeps serving. The old Host is closed once
// its requests in flight are done (waiting at most as long as ctx).
func (s *Server) Reload(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("wasmhost: reload: server closed")
	}
	if st, err := os.Stat(s.path); err == nil {
		s.modTime, s.size = st.ModTime(), st.Size()
	}
	h, err := s.build(ctx)
	if err != nil {
		s.mu.Unlock()
		s.reloads.WithLabelValues("error").Inc()
		s.log.Error("config reload failed, keeping the running handlers", "config", s.path, "err", err)
		return fmt.Errorf("wasmhost: reload: %w", err)
	}
	old := s.current.Swap(h)
	s.mu.Unlock()
	s.reloads.WithLabelValues("ok").Inc()
	s.log.Info("config reloaded", "config", s.path, "handlers", len(h.byName))
	closeCtx, cancel := context.WithTimeout(ctx, closeGrace)
	defer cancel()
	if err := old.Close(closeCtx); err != nil {
		s.log.Warn("closing the previous handlers", "err", err)
	}
	return nil
}

// closeGrace bounds how long a replaced Host waits for its requests.
const closeGrace = time.Minute

// changed reports whether the config file's mtime or size differs from
// what the last load saw.
func (s *Server) changed() bool {
	st, err := os.Stat(s.path)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !st.ModTime().Equal(s.modTime) || st.Size() != s.size
}

// Watch reloads when the config file changes (polled every interval,
// DefaultPollInterval if zero) or when hup receives; it returns when ctx
// ends. hup may be nil.
func (s *Server) Watch(ctx context.Context, interval time.Duration, hup <-chan os.Signal) {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			s.log.Info("reload requested by signal", "config", s.path)
			_ = s.Reload(ctx)
		case <-t.C:
			if s.changed() {
				s.log.Info("config file changed", "config", s.path)
				_ = s.Reload(ctx)
			}
		}
	}
}

// Handler returns the HTTP handler: health and metrics endpoints for
// requests without an X-Whiskers-Handler header, the current Host for
// everything else.
func (s *Server) Handler() http.Handler {
	metrics := promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HandlerHeader) == "" {
			switch r.URL.Path {
			case HealthPath, ReservedHealthPath:
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				_, _ = w.Write([]byte("ok\n"))
				return
			case MetricsPath, ReservedMetricPath:
				metrics.ServeHTTP(w, r)
				return
			}
		}
		s.ServeHTTP(w, r)
	})
}

// ServeHTTP runs r on the current Host. A request that races with a
// reload is retried on the new Host, never dropped.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for range 3 {
		if s.current.Load().serve(w, r) {
			return
		}
	}
	http.Error(w, "wasm host is shutting down", http.StatusServiceUnavailable)
}

// Serve answers HTTP on ln until ctx ends, reloading on config changes
// and hup (see Watch; pollInterval 0 means the default), then shuts down
// gracefully: in-flight requests get up to 10 seconds. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener, pollInterval time.Duration, hup <-chan os.Signal) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.Watch(watchCtx, pollInterval, hup) })
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving wasm handlers", "listen", ln.Addr().String(), "config", s.path)

	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = srv.Shutdown(shutCtx)
		cancel()
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
		}
	}
	stopWatch()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("wasmhost: serving: %w", err)
	}
	return nil
}

// Close closes the current Host, waiting for its requests in flight up to
// ctx.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.current.Load().Close(ctx)
}

// Listen opens the listener for addr: "unix:///path/to.sock" or a TCP
// "host:port". For a Unix socket it creates the parent directory, removes
// a stale socket file left by a previous run (refusing to remove anything
// that is not a socket, or a socket someone still serves on) and sets the
// socket's mode to socketMode (0o666 if zero, so that a proxy running as
// another user can connect; pass 0o660 to limit it to the group).
func Listen(addr string, socketMode os.FileMode) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix://")
	if !ok {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("wasmhost: listen %s: %w", addr, err)
		}
		return ln, nil
	}
	if path == "" {
		return nil, fmt.Errorf("wasmhost: listen %q: empty socket path", addr)
	}
	if socketMode == 0 {
		socketMode = 0o666
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("wasmhost: listen %s: %w", addr, err)
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("wasmhost: listen %s: %s exists and is not a socket", addr, path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("wasmhost: listen %s: another process is serving on %s", addr, path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("wasmhost: removing stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("wasmhost: listen %s: %w", addr, err)
	}
	if err := os.Chmod(path, socketMode); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("wasmhost: chmod socket: %w", err)
	}
	return ln, nil
}
