package wasmhost

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"

	"github.com/whiskers-dev/whiskers/wasmhost/internal/wazerohooks"
)

// HandlerHeader is the request header that names the handler to run,
// overriding route matching. The Traefik plugin sets it.
const HandlerHeader = "X-Whiskers-Handler"

// maxStderr bounds how much of a guest's stderr is kept for the log.
const maxStderr = 4 << 10

// Options are the process-wide settings of a Host.
type Options struct {
	// Logger receives one line per failed request and per lifecycle event.
	// Nil means slog.Default().
	Logger *slog.Logger
	// CacheDir, if set, holds wazero's on-disk compilation cache so that a
	// restart does not recompile modules. It is created if missing.
	CacheDir string
	// Registerer receives the host's Prometheus metrics. Hosts built one
	// after another with the same Registerer share the same collectors,
	// so a reload keeps counting in the same series. Nil means a fresh
	// registry of the Host's (or Server's) own, never the process-wide
	// prometheus.DefaultRegisterer: a Host alone then exports its metrics
	// nowhere, and a Server serves that registry, with Go and process
	// collectors added, at /metrics.
	Registerer prometheus.Registerer
}

// Host runs WAGI handlers: every request gets a fresh, anonymous instance
// of its handler's precompiled module, closed when the response is done.
//
// A Host is safe for concurrent use by multiple goroutines. Its handlers
// are fixed at New; to change them build another Host and Close this one
// (Server does that on reload).
type Host struct {
	log      *slog.Logger
	metrics  *metrics
	cache    wazero.CompilationCache
	handlers []*handler          // by route length, longest first
	byName   map[string]*handler // all handlers

	mu       sync.RWMutex // guards closed and the Add side of inFlight
	closed   bool
	inFlight sync.WaitGroup
}

// handler is one compiled HandlerConfig.
type handler struct {
	cfg      HandlerConfig
	routeEsc string // cfg.Route as it appears in an escaped path
	log      *slog.Logger
	runtime  wazero.Runtime
	module   wazero.CompiledModule
	base     wazero.ModuleConfig // everything but the per-request parts
	slots    chan struct{}       // one token per running instance
	configs  chan *requestConfig // idle ones, at most MaxConcurrent
	env      [][2]string         // cfg.Env, sorted
}

// requestConfig is base with stdout and stderr that lead to whichever
// request holds it. A handler keeps the idle ones for the next requests:
// naming a request's own writers with ModuleConfig.WithStdout and
// WithStderr would copy the config twice per request. (The environment
// and argv travel in the call's context, see environ.go.)
type requestConfig struct {
	mc             wazero.ModuleConfig
	stdout, stderr redirectWriter
}

// redirectWriter writes to w.
type redirectWriter struct{ w io.Writer }

// Write implements io.Writer.
func (r *redirectWriter) Write(p []byte) (int, error) { return r.w.Write(p) }

// getConfig returns an idle requestConfig whose output goes to stdout and
// stderr until putConfig.
func (hd *handler) getConfig(stdout, stderr io.Writer) *requestConfig {
	var rc *requestConfig
	select {
	case rc = <-hd.configs:
	default:
		rc = &requestConfig{}
		rc.mc = hd.base.WithStdout(&rc.stdout).WithStderr(&rc.stderr)
	}
	rc.stdout.w, rc.stderr.w = stdout, stderr
	return rc
}

// putConfig keeps rc for another request. The guest must have stopped.
func (hd *handler) putConfig(rc *requestConfig) {
	rc.stdout.w, rc.stderr.w = nil, nil
	select {
	case hd.configs <- rc:
	default:
	}
}

// New compiles every handler's module and returns a Host ready to serve.
// cfg is validated again and defaults are filled in on a copy (relative
// paths in a Config not made by LoadConfig resolve against the working
// directory). Errors name the handler. New starts no goroutines.
func New(ctx context.Context, cfg *Config, opts Options) (*Host, error) {
	cfg = cfg.clone()
	if err := cfg.validate(""); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "wasmhost")
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	h := &Host{
		log:     log,
		metrics: newMetrics(reg),
		byName:  map[string]*handler{},
	}
	warmWazeroVersion(ctx)
	if opts.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasmhost: compilation cache %q: %w", opts.CacheDir, err)
		}
		h.cache = c
	} else {
		h.cache = wazero.NewCompilationCache()
	}
	for _, hc := range cfg.Handlers {
		hd, err := h.compile(ctx, hc)
		if err != nil {
			_ = h.closeNow(ctx)
			return nil, fmt.Errorf("wasmhost: handler %q: %w", hc.Name, err)
		}
		h.byName[hc.Name] = hd
		if hc.Route != "" {
			h.handlers = append(h.handlers, hd)
		}
	}
	sort.SliceStable(h.handlers, func(i, j int) bool {
		return len(h.handlers[i].routeEsc) > len(h.handlers[j].routeEsc)
	})
	return h, nil
}

// wazeroVersionOnce guards the first read of wazero's version string.
var wazeroVersionOnce sync.Once

// warmWazeroVersion creates and closes one compiler runtime, once per
// process, before any host makes its own. wazero v1.12.0 caches its version
// string in a package variable, unsynchronised, the first time a compiler
// engine is created, and reads it there and in NewCompilationCacheWithDir:
// two hosts created at the same moment (tests, `whiskers demo` beside
// `wasm serve` in one process) race on it. After this, later calls only
// read it.
func warmWazeroVersion(ctx context.Context) {
	wazeroVersionOnce.Do(func() {
		_ = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler()).Close(ctx)
	})
}

// compile builds hc's runtime (memory cap, WASI, compilation cache),
// compiles its module and checks its volumes, for New.
func (h *Host) compile(ctx context.Context, hc HandlerConfig) (*handler, error) {
	bin, err := os.ReadFile(hc.Module)
	if err != nil {
		return nil, fmt.Errorf("module: %w", err)
	}
	rc := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(h.cache).
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(uint32(hc.Memory / wasmPageSize))
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if err := instantiateWASI(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("instantiating wasi: %w", err)
	}
	mod, err := rt.CompileModule(ctx, bin)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("compiling module %s: %w", hc.Module, err)
	}
	if _, ok := mod.ExportedFunctions()["_start"]; !ok {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("module %s: no _start export (is it a wasm32-wasi command?)", hc.Module)
	}
	fsc := wazero.NewFSConfig()
	for i, v := range hc.Volumes {
		hostDir, guestDir, _ := strings.Cut(v, ":")
		if st, err := os.Stat(hostDir); err != nil || !st.IsDir() {
			_ = rt.Close(ctx)
			if err == nil {
				err = errors.New("not a directory")
			}
			return nil, fmt.Errorf("volumes[%d] %q: %w", i, hostDir, err)
		}
		fsc = wazerohooks.MountVolume(fsc, hostDir, guestDir)
	}
	env := make([][2]string, 0, len(hc.Env))
	for k, v := range hc.Env {
		env = append(env, [2]string{k, v})
	}
	sort.Slice(env, func(i, j int) bool { return env[i][0] < env[j][0] })
	routeEsc := ""
	if hc.Route != "" {
		routeEsc = (&url.URL{Path: hc.Route}).EscapedPath()
	}
	return &handler{
		cfg:      hc,
		routeEsc: routeEsc,
		log:      h.log.With("handler", hc.Name),
		runtime:  rt,
		module:   mod,
		base: wazero.NewModuleConfig().
			WithName("").
			WithStartFunctions(). // _start is called explicitly to tell traps from instantiation errors
			WithSysWalltime().
			WithSysNanotime().
			WithRandSource(rand.Reader).
			WithFSConfig(fsc),
		slots:   make(chan struct{}, hc.MaxConcurrent),
		configs: make(chan *requestConfig, hc.MaxConcurrent),
		env:     env,
	}, nil
}

// ServeHTTP routes r to a handler and answers with its guest's response:
// the handler named by the X-Whiskers-Handler header if present (404 if
// unknown), else the longest route matching the path on segment
// boundaries, else 404. After Close it answers 503.
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.serve(w, r) {
		http.Error(w, "wasm host is shutting down", http.StatusServiceUnavailable)
	}
}

// serve is ServeHTTP that reports false, having written nothing, when the
// Host is closed, so a caller holding a newer Host can retry with it.
func (h *Host) serve(w http.ResponseWriter, r *http.Request) bool {
	h.mu.RLock()
	if h.closed {
		h.mu.RUnlock()
		return false
	}
	h.inFlight.Add(1)
	h.mu.RUnlock()
	defer h.inFlight.Done()

	hd, scriptName, rawRest, ok := h.route(r)
	if !ok {
		if name := r.Header.Get(HandlerHeader); name != "" {
			h.log.Warn("request names an unknown handler", "handler", name, "path", r.URL.Path)
			http.Error(w, fmt.Sprintf("no wasm handler named %q", name), http.StatusNotFound)
			return true
		}
		http.NotFound(w, r)
		return true
	}
	hd.serve(w, r, h.metrics, scriptName, rawRest)
	return true
}

// route picks the handler for r and splits the escaped path into
// SCRIPT_NAME and the raw PATH_INFO.
func (h *Host) route(r *http.Request) (hd *handler, scriptName, rawRest string, ok bool) {
	raw := r.URL.EscapedPath()
	if name := r.Header.Get(HandlerHeader); name != "" {
		hd, ok = h.byName[name]
		if !ok {
			return nil, "", "", false
		}
		scriptName, rawRest = hd.split(raw)
		return hd, scriptName, rawRest, true
	}
	for _, hd := range h.handlers {
		if matchRoute(hd.routeEsc, raw) {
			scriptName, rawRest = hd.split(raw)
			return hd, scriptName, rawRest, true
		}
	}
	return nil, "", "", false
}

// split divides an escaped path into SCRIPT_NAME and the raw PATH_INFO:
// the route and the rest when the route matches (the route "/" gives an
// empty SCRIPT_NAME), else "" and the whole path.
func (hd *handler) split(raw string) (scriptName, rawRest string) {
	if hd.routeEsc == "" || hd.routeEsc == "/" || !matchRoute(hd.routeEsc, raw) {
		return "", raw
	}
	return hd.cfg.Route, raw[len(hd.routeEsc):]
}

// matchRoute reports whether route is a prefix of path on a path-segment
// boundary. "/" matches every path.
func matchRoute(route, path string) bool {
	if route == "/" {
		return true
	}
	return strings.HasPrefix(path, route) && (len(path) == len(route) || path[len(route)] == '/')
}

// Close stops accepting requests (they get 503), waits for the ones in
// flight to finish or for ctx to end, then releases the compiled modules.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	already := h.closed
	h.closed = true
	h.mu.Unlock()
	if already {
		return nil
	}
	done := make(chan struct{})
	go func() {
		h.inFlight.Wait()
		close(done)
	}()
	var waitErr error
	select {
	case <-done:
	case <-ctx.Done():
		waitErr = fmt.Errorf("wasmhost: closing with requests in flight: %w", ctx.Err())
	}
	// Closing the runtimes also stops guests still running.
	return errors.Join(waitErr, h.closeNow(context.WithoutCancel(ctx)))
}

// closeNow closes every handler's runtime, stopping guests still running,
// and the compilation cache.
func (h *Host) closeNow(ctx context.Context) error {
	var errs []error
	for _, hd := range h.byName {
		errs = append(errs, hd.runtime.Close(ctx))
	}
	if h.cache != nil {
		errs = append(errs, h.cache.Close(ctx))
	}
	return errors.Join(errs...)
}

// Errors that end a guest early; they are the cancel cause of its context.
var (
	errResponseTooLarge = errors.New("guest output exceeds maxResponse")
	errTimeout          = errors.New("guest ran past its timeout")
)

// serve runs one instance for r and writes its response.
func (hd *handler) serve(w http.ResponseWriter, r *http.Request, m *metrics, scriptName, rawRest string) {
	start := time.Now()
	name := hd.cfg.Name
	code := hd.run(w, r, m, scriptName, rawRest)
	took := time.Since(start)
	m.requests.WithLabelValues(name, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(name).Observe(took.Seconds())
	if hd.log.Enabled(r.Context(), slog.LevelDebug) {
		hd.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", code, "took", took)
	}
}

// run does the work of serve in its steps (read the body, take a slot,
// run the guest, answer how it ended) and returns the status code it
// answered (499 when the client went away first).
func (hd *handler) run(w http.ResponseWriter, r *http.Request, m *metrics, scriptName, rawRest string) int {
	if holdsNUL(r) {
		m.rejected.WithLabelValues(hd.cfg.Name, "nul").Inc()
		return fail(w, http.StatusBadRequest, "request path or query holds a NUL byte")
	}
	// The body is read before taking an instance slot, so slow uploads do
	// not hold instances.
	body, status := hd.readBody(w, r, m)
	if status != 0 {
		return status
	}
	if status := hd.takeSlot(w, r, m); status != 0 {
		return status
	}
	stdout := getBuffer()
	defer putBuffer(stdout)
	var stderr boundedBuffer
	exitErr, instErr := hd.instantiate(r, body, scriptName, rawRest, &stdout.limitBuffer, &stderr)
	hd.releaseSlot(m)

	end := classifyEnd(r.Context(), exitErr, instErr, stdout.overflow)
	if end != endExited {
		return hd.answerFailure(w, m, end, cmp.Or(instErr, exitErr), &stderr)
	}
	return hd.answerCGI(w, r, stdout.buf, &stderr)
}

// readBody reads r's whole body, at most MaxRequestBody bytes. A non-zero
// status means it answered r instead: 413 for a body over the limit, 400
// when reading failed.
func (hd *handler) readBody(w http.ResponseWriter, r *http.Request, m *metrics) (body []byte, status int) {
	limit := int64(hd.cfg.MaxRequestBody)
	if r.ContentLength > limit {
		m.rejected.WithLabelValues(hd.cfg.Name, "request_body").Inc()
		return nil, fail(w, http.StatusRequestEntityTooLarge, "request body too large")
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, 0
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		hd.log.Info("reading request body", "err", err)
		return nil, fail(w, http.StatusBadRequest, "reading request body failed")
	}
	if int64(len(body)) > limit {
		m.rejected.WithLabelValues(hd.cfg.Name, "request_body").Inc()
		return nil, fail(w, http.StatusRequestEntityTooLarge, "request body too large")
	}
	return body, 0
}

// takeSlot takes an instance slot for r, waiting up to QueueTimeout, and
// counts the instance in flight until releaseSlot. A non-zero status
// means it answered r instead: 503 when no slot came free, 499 (nothing
// written) when the client went away first.
func (hd *handler) takeSlot(w http.ResponseWriter, r *http.Request, m *metrics) (status int) {
	if !hd.acquire(r.Context()) {
		if r.Context().Err() != nil {
			return 499
		}
		m.rejected.WithLabelValues(hd.cfg.Name, "queue_timeout").Inc()
		hd.log.Warn("no free instance slot", "max_concurrent", hd.cfg.MaxConcurrent, "queue_timeout", hd.cfg.QueueTimeout)
		w.Header().Set("Retry-After", "1")
		return fail(w, http.StatusServiceUnavailable, "wasm handler busy")
	}
	m.inFlight.WithLabelValues(hd.cfg.Name).Inc()
	return 0
}

// releaseSlot gives back the slot of takeSlot.
func (hd *handler) releaseSlot(m *metrics) {
	<-hd.slots
	m.inFlight.WithLabelValues(hd.cfg.Name).Dec()
}

// guestEnd is how a guest's run ended, as far as the response goes.
type guestEnd int

const (
	endExited     guestEnd = iota // returned from _start or exited 0: its stdout is the response
	endNotStarted                 // the instance could not be created
	endTooLarge                   // stopped: its output passed MaxResponse
	endTimedOut                   // stopped: it ran past Timeout
	endClientGone                 // stopped: the client went away
	endFailed                     // trapped or exited non-zero (a guest at its memory cap aborts: a trap)
)

// classifyEnd tells how a guest ended from instantiate's errors, whether
// its stdout overflowed, and the request's context. The limits come
// first: a guest stopped by one also sees its context cancelled.
func classifyEnd(ctx context.Context, exitErr, instErr error, overflow bool) guestEnd {
	switch {
	case instErr != nil:
		return endNotStarted
	case errors.Is(exitErr, errResponseTooLarge) || overflow:
		return endTooLarge
	case errors.Is(exitErr, errTimeout):
		return endTimedOut
	case exitErr != nil && ctx.Err() != nil:
		return endClientGone
	case exitErr != nil:
		return endFailed
	}
	return endExited
}

// answerFailure counts, logs (with the guest's stderr) and answers a
// guest that did not end with a response, and returns the status: 500
// when it could not start or failed, 502 when its output was too large,
// 504 when it timed out, 499 (nothing written) when the client went away.
func (hd *handler) answerFailure(w http.ResponseWriter, m *metrics, end guestEnd, err error, stderr *boundedBuffer) int {
	name := hd.cfg.Name
	switch end {
	case endNotStarted:
		m.instantiateErr.WithLabelValues(name).Inc()
		hd.log.Error("instantiating guest", "err", err)
		return fail(w, http.StatusInternalServerError, "wasm handler failed")
	case endTooLarge:
		m.rejected.WithLabelValues(name, "response_size").Inc()
		hd.log.Error("guest output too large, stopped", "max_response", int64(hd.cfg.MaxResponse), "stderr", stderr.String())
		return fail(w, http.StatusBadGateway, "wasm handler response too large")
	case endTimedOut:
		m.timeouts.WithLabelValues(name).Inc()
		hd.log.Error("guest timed out, stopped", "timeout", hd.cfg.Timeout, "stderr", stderr.String())
		return fail(w, http.StatusGatewayTimeout, "wasm handler timed out")
	case endClientGone:
		hd.log.Debug("client went away, guest stopped", "err", err)
		return 499
	}
	hd.log.Error("guest failed", "err", err, "stderr", stderr.String())
	return fail(w, http.StatusInternalServerError, "wasm handler failed")
}

// answerCGI parses the guest's stdout as a CGI response and writes it,
// or answers 500 if it is not one, and returns the status.
func (hd *handler) answerCGI(w http.ResponseWriter, r *http.Request, stdout []byte, stderr *boundedBuffer) int {
	resp, err := parseCGIResponse(stdout)
	if err != nil {
		hd.log.Error("invalid guest response", "err", err, "stdout_head", truncate(stdout, 200), "stderr", stderr.String())
		return fail(w, http.StatusInternalServerError, "wasm handler sent an invalid response")
	}
	if stderr.Len() > 0 {
		hd.log.Debug("guest stderr", "stderr", stderr.String())
	}
	return writeResponse(w, r.Method, resp)
}

// writeResponse writes resp's headers, status and body, framed by the
// host: 204 and 304 without a body or its length, every other status
// with the Content-Length of its body (for a HEAD answered without body,
// the guest's own Content-Length, what a GET would send). It returns the
// status.
func writeResponse(w http.ResponseWriter, method string, resp *cgiResponse) int {
	hdr := w.Header()
	for k, v := range resp.header {
		hdr[k] = v
	}
	if resp.status == http.StatusNoContent || resp.status == http.StatusNotModified {
		w.WriteHeader(resp.status)
		return resp.status
	}
	length := strconv.Itoa(len(resp.body))
	if method == http.MethodHead && len(resp.body) == 0 && resp.contentLength != "" {
		if n, err := strconv.ParseUint(resp.contentLength, 10, 63); err == nil {
			length = strconv.FormatUint(n, 10)
		}
	}
	hdr.Set("Content-Length", length)
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
	return resp.status
}

// acquire takes an instance slot, waiting up to QueueTimeout.
func (hd *handler) acquire(ctx context.Context) bool {
	select {
	case hd.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(time.Duration(hd.cfg.QueueTimeout))
	defer t.Stop()
	select {
	case hd.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// instantiate runs one fresh instance to completion. instErr is set when
// the instance could not be created; exitErr when the guest trapped,
// exited non-zero or was stopped (the cause is errTimeout,
// errResponseTooLarge or the request's own cancellation).
func (hd *handler) instantiate(r *http.Request, body []byte, scriptName, rawRest string, stdout *limitBuffer, stderr io.Writer) (exitErr, instErr error) {
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	// The timeout cancels the same context (one context and a timer
	// instead of a second, deadline context).
	timer := time.AfterFunc(time.Duration(hd.cfg.Timeout), func() { cancel(errTimeout) })
	defer timer.Stop()
	mem := &wazerohooks.Memory{}
	defer mem.Release() // after mod.Close below: the guest has stopped
	ctx = wazerohooks.WithMemory(ctx, mem)
	stdout.limit = int(hd.cfg.MaxResponse)
	stdout.cancel = cancel

	req := cgiRequest{
		r:            r,
		route:        hd.cfg.Route,
		scriptName:   scriptName,
		rawPathInfo:  rawRest,
		contentLen:   len(body),
		trustForward: trustedPeer(r),
	}
	strs, err := newGuestStrings(mergeEnv(hd.env, req.env()), argv(hd.cfg.Argv, scriptName, r.URL.RawQuery))
	if err != nil {
		return nil, err
	}
	rc := hd.getConfig(stdout, stderr)
	defer hd.putConfig(rc) // after mod.Close below: the guest has stopped
	mc := rc.mc
	if len(body) > 0 { // without, stdin is wazero's, at EOF at once
		mc = mc.WithStdin(bytes.NewReader(body))
	}
	ctx = withGuestStrings(ctx, strs)
	mod, err := hd.runtime.InstantiateModule(ctx, hd.module, mc)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return cause, nil
		}
		return nil, err
	}
	defer mod.Close(context.WithoutCancel(ctx))
	_, err = mod.ExportedFunction("_start").Call(ctx)
	return exitError(ctx, err), nil
}

// exitError is how a guest's _start call, returning err, ended: nil when
// it returned or exited 0, the cause of ctx when the guest was stopped,
// an error naming the exit code when it exited non-zero, else the trap.
func exitError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var ee *sys.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 0 {
		return nil
	}
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	if ee != nil {
		return fmt.Errorf("guest exited with code %d", ee.ExitCode())
	}
	return err
}

// holdsNUL reports whether the decoded path or a decoded query argument of r
// holds a NUL byte. WASI passes the environment and argv as C strings, so
// such a request cannot reach a guest; it is the client's fault (400), not
// the guest's (500).
func holdsNUL(r *http.Request) bool {
	return strings.IndexByte(r.URL.Path, 0) >= 0 || strings.Contains(r.URL.RawQuery, "%00")
}

// fail writes a short plain-text error and returns its status.
func fail(w http.ResponseWriter, code int, msg string) int {
	http.Error(w, msg, code)
	return code
}

// limitBuffer collects a guest's stdout up to limit bytes. The write that
// would pass the limit fails and cancels the guest's context, so a guest
// ignoring write errors is stopped too.
type limitBuffer struct {
	buf      []byte
	limit    int
	overflow bool
	cancel   context.CancelCauseFunc
}

// Write implements io.Writer.
func (b *limitBuffer) Write(p []byte) (int, error) {
	if b.overflow || len(b.buf)+len(p) > b.limit {
		b.overflow = true
		if b.cancel != nil {
			b.cancel(errResponseTooLarge)
		}
		return 0, errResponseTooLarge
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// pooledBuffer is a limitBuffer reused across requests.
type pooledBuffer struct{ limitBuffer }

var bufferPool = sync.Pool{New: func() any { return &pooledBuffer{limitBuffer{buf: make([]byte, 0, 4096)}} }}

// getBuffer returns an empty buffer from bufferPool.
func getBuffer() *pooledBuffer { return bufferPool.Get().(*pooledBuffer) }

// putBuffer returns b, emptied, to bufferPool unless it grew past 1 MiB.
func putBuffer(b *pooledBuffer) {
	if cap(b.buf) > 1<<20 {
		return // let big buffers go
	}
	b.limitBuffer = limitBuffer{buf: b.buf[:0]}
	bufferPool.Put(b)
}

// boundedBuffer keeps the first maxStderr bytes written to it and drops
// the rest without failing the writer.
type boundedBuffer struct {
	bytes.Buffer
	dropped bool
}

// Write implements io.Writer.
func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := maxStderr - b.Len(); room < len(p) {
		b.dropped = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// String returns the kept bytes, marked when some were dropped.
func (b *boundedBuffer) String() string {
	if b.dropped {
		return b.Buffer.String() + "…(truncated)"
	}
	return b.Buffer.String()
}
