// Package plugin is the Traefik middleware plugin that hands requests to the
// node-local whiskers wasm host (`whiskers wasm serve`).
//
// Traefik loads it from source with its Yaegi interpreter (see .traefik.yml
// at the repository root), so the package imports the standard library only
// and avoids constructs Yaegi handles badly (closures returning error, build
// constraints, unsafe). Data enters as the request Traefik routed to the
// middleware and leaves either as the host's response, streamed back, or as
// a call to the next handler.
//
// For each request the middleware:
//
//   - forwards method, URI, end-to-end headers (or the ForwardHeaders
//     allow-list), X-Forwarded-For/Proto/Host and X-Whiskers-Handler, and the
//     body to the host over a keep-alive pool (Unix socket or TCP);
//   - streams the host's status, headers and body back, unless the status is
//     listed in FallthroughStatus: then the host's body is discarded and the
//     request goes to next, as if the host had not been asked;
//   - bounds the wait for the host's answer by Timeout (504 Gateway
//     Timeout) and the connection by DialTimeout; after a failed connection
//     it treats the host as down for HostDownCooldown without dialing, so a
//     dead host costs nothing per request, and answers per OnHostDown (next,
//     or a status with a plain-text body).
//
// The proxying itself (hop-by-hop headers, streaming and flushing,
// trailers) is net/http/httputil.ReverseProxy: compiled code, so that Yaegi
// interprets only the decisions around it.
//
// Request bodies: when the request may still go to next (FallthroughStatus
// set, or OnHostDown "next"), a body of at most MaxBufferedBody bytes is read
// into memory, forwarded from there and replayed to next. A larger body is
// never sent to the host when FallthroughStatus is set: the request goes
// straight to next with its body intact. Without FallthroughStatus a larger
// body is streamed to the host, and if the host is down the client gets
// 502 Bad Gateway (the body is consumed, next cannot have it).
//
// A Middleware is safe for concurrent use; the only state shared between
// requests is the connection pool and the host-down deadline (an atomic).
package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Middleware is what New returns to Traefik when a request may go to next.
var _ http.Handler = (*Middleware)(nil)

// HandlerHeader is the request header naming the handler on the host.
const HandlerHeader = "X-Whiskers-Handler"

// Middleware forwards requests to the wasm host. Create it with New.
type Middleware struct {
	name   string
	next   http.Handler
	cfg    *settings
	dialer *hostDialer
	proxy  *httputil.ReverseProxy
}

// errFallthrough is how modifyResponse tells onProxyError that the host's
// status sends the request to next.
var errFallthrough = errors.New("whiskers: fall through to next")

// Request context keys, compiled pointer types so that Yaegi compares them
// natively. ReverseProxy hands its error handler its own modified copy of
// the request; next must get the original.
var (
	originalKey = new(int) // *http.Request as it reached the middleware
	bufferedKey = new(int) // []byte: the body, buffered for replay
)

// New validates cfg and returns the middleware named name in front of next.
// Errors name the configuration field that is wrong. New starts no
// goroutines; connections are opened on demand and idle ones are closed by
// the pool after a while.
//
// When no request can go to next (no FallthroughStatus, OnHostDown a
// status), the handler returned is the middleware's
// httputil.ReverseProxy itself rather than a *Middleware: Traefik then
// calls compiled code, and Yaegi interprets only rewrite per request (and
// onProxyError on failures). Through a real Traefik that saves about
// 20-30 µs per request; docs/benchmarks.md has the numbers.
func New(ctx context.Context, next http.Handler, cfg *Config, name string) (http.Handler, error) {
	if next == nil {
		return nil, fmt.Errorf("whiskers plugin %q: next handler is nil", name)
	}
	s, err := parse(cfg)
	if err != nil {
		return nil, fmt.Errorf("whiskers plugin %q: %w", name, err)
	}
	m := assemble(name, next, s)
	if !s.downNext && len(s.fallthroughs) == 0 {
		// Nothing goes to next: Traefik gets the ReverseProxy itself, so
		// that only rewrite is interpreted per request.
		return m.proxy, nil
	}
	return m, nil
}

// assemble builds a Middleware from validated settings.
func assemble(name string, next http.Handler, s *settings) *Middleware {
	d := &hostDialer{
		network:  s.network,
		address:  s.address,
		cooldown: int64(s.cooldown),
		name:     name,
	}
	d.dialer.Timeout = s.dialTimeout
	t := &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          s.maxIdleConns,
		MaxIdleConnsPerHost:   s.maxIdleConns,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: s.timeout,
		DisableCompression:    true,
	}
	if s.maxIdleConns == 0 {
		t.DisableKeepAlives = true
	}
	m := &Middleware{name: name, next: next, cfg: s, dialer: d}
	m.proxy = &httputil.ReverseProxy{
		Rewrite:      m.rewrite,
		Transport:    t,
		ErrorHandler: m.onProxyError,
	}
	if len(s.fallthroughs) > 0 {
		m.proxy.ModifyResponse = m.modifyResponse
	}
	// Assigned on its own: Yaegi v0.16.1 cannot convert an interpreted
	// value to a compiled interface inside a composite literal.
	var pool httputil.BufferPool = &bufferPool{}
	m.proxy.BufferPool = pool
	return m
}

// bufferPool recycles ReverseProxy's copy buffers, which it would otherwise
// allocate (32 KiB) for every response.
type bufferPool struct{ pool sync.Pool }

// Get returns a copy buffer.
func (p *bufferPool) Get() []byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

// Put returns a copy buffer for reuse.
func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }

// Yaegi v0.16.1 builds the reflect type of a method value (d.DialContext,
// m.rewrite, … above) on the first evaluation of the expression, without
// locking, so two first calls of New at once race. Building one middleware
// while the package initialises does it before anyone can call New.
var _ = assemble("init", http.NotFoundHandler(), &settings{handler: "init", network: "unix", urlHost: "init"})

// ServeHTTP forwards r to the host, or to next on fallthrough or host-down.
//
// The code is shaped for Yaegi, where a call allocates every slot of the
// callee's frame (each local and each intermediate value) on entry, and
// every statement costs far more than compiled: the common path is
// ReverseProxy (compiled) plus the small rewrite, and modifyResponse when
// FallthroughStatus is set; bodies and host-down live in helpers that run
// only when needed. Helpers are plain
// functions or methods called once per request by compiled code: Yaegi
// v0.16.1 turns each interpreted call of a method into a fresh
// reflect.MakeFunc wrapper. BenchmarkNativeAllocs in plugin/yaegitest
// counts the allocations.
func (m *Middleware) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if atomic.LoadInt64(&m.dialer.downUntil) != 0 || (r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody) {
		serveSpecial(m, rw, r)
		return
	}
	if m.cfg.downNext || len(m.cfg.fallthroughs) > 0 {
		r = r.WithContext(context.WithValue(r.Context(), originalKey, r))
	}
	m.proxy.ServeHTTP(rw, r)
}

// serveSpecial handles requests that are not on the common path: while the
// host may be down, and requests with a body.
func serveSpecial(m *Middleware, rw http.ResponseWriter, r *http.Request) {
	s := m.cfg
	if until := atomic.LoadInt64(&m.dialer.downUntil); until != 0 && time.Now().UnixNano() < until {
		hostDown(m, rw, r, true)
		return
	}
	if !s.downNext && len(s.fallthroughs) == 0 {
		m.proxy.ServeHTTP(rw, r) // nothing to replay: stream any body
		return
	}
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		m.proxy.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), originalKey, r)))
		return
	}
	if r.ContentLength > s.maxBufferedBody {
		if len(s.fallthroughs) > 0 {
			m.next.ServeHTTP(rw, r)
			return
		}
		// Stream it; next cannot have it any more.
		m.proxy.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), originalKey, r)))
		return
	}
	buf, err := readUpTo(r.Body, r.ContentLength, s.maxBufferedBody)
	if err != nil {
		http.Error(rw, "whiskers: reading request body failed", http.StatusBadRequest)
		return
	}
	if int64(len(buf)) > s.maxBufferedBody {
		// An unannounced large body: next gets all of it, or the host a
		// stream of it. The server closes the original body after the handler.
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(buf), r.Body))
		if len(s.fallthroughs) > 0 {
			m.next.ServeHTTP(rw, r)
			return
		}
		m.proxy.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), originalKey, r)))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(buf))
	r.ContentLength = int64(len(buf))
	r = r.WithContext(context.WithValue(r.Context(), bufferedKey, buf))
	r = r.WithContext(context.WithValue(r.Context(), originalKey, r))
	m.proxy.ServeHTTP(rw, r)
}

// rewrite prepares the proxy's copy of the request (pr.Out): address of
// the host, handler header, forwarding headers, the ForwardHeaders
// allow-list. ReverseProxy has already dropped hop-by-hop headers and the
// client's X-Forwarded-*; the ones Traefik passed on (it vets them against
// its forwardedHeaders.trustedIPs) are kept and the client IP is appended.
func (m *Middleware) rewrite(pr *httputil.ProxyRequest) {
	in, out := pr.In, pr.Out
	out.URL.Scheme = "http"
	out.URL.Host = m.cfg.urlHost
	if m.cfg.forwardHeaders != nil {
		out.Header = allowedHeaders(m.cfg, out.Header)
	}
	h := out.Header
	prior := in.Header["X-Forwarded-For"]
	if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		if len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h["X-Forwarded-For"] = []string{ip}
	} else if len(prior) > 0 {
		h["X-Forwarded-For"] = prior
	}
	if vv := in.Header["X-Forwarded-Proto"]; len(vv) > 0 {
		h["X-Forwarded-Proto"] = vv
	} else if in.TLS != nil {
		h["X-Forwarded-Proto"] = []string{"https"}
	} else {
		h["X-Forwarded-Proto"] = []string{"http"}
	}
	if vv := in.Header["X-Forwarded-Host"]; len(vv) > 0 {
		h["X-Forwarded-Host"] = vv
	} else if in.Host != "" {
		h["X-Forwarded-Host"] = []string{in.Host}
	}
	h[HandlerHeader] = []string{m.cfg.handler}
}

// modifyResponse turns a fallthrough status into errFallthrough, after
// draining a little of the body so the connection can be reused.
func (m *Middleware) modifyResponse(resp *http.Response) error {
	for _, code := range m.cfg.fallthroughs {
		if code == resp.StatusCode {
			_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
			return errFallthrough
		}
	}
	return nil
}

// onProxyError answers when the exchange with the host did not produce a
// response for the client: fallthrough, host down, timeout, bad answer.
func (m *Middleware) onProxyError(rw http.ResponseWriter, out *http.Request, err error) {
	r, _ := out.Context().Value(originalKey).(*http.Request)
	if r == nil {
		r = out // only without fallthrough and onHostDown next: next is never called
	}
	buffered, _ := r.Context().Value(bufferedKey).([]byte)
	if err == errFallthrough {
		if buffered != nil {
			r.Body = io.NopCloser(bytes.NewReader(buffered))
		}
		m.next.ServeHTTP(rw, r)
		return
	}
	if r.Context().Err() != nil {
		return // the client is gone; nobody to answer
	}
	if isDialError(err) {
		if buffered != nil {
			r.Body = io.NopCloser(bytes.NewReader(buffered))
		}
		hostDown(m, rw, r, buffered != nil || r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody)
		return
	}
	if isTimeout(err) {
		msg := "whiskers: handler " + m.cfg.handler + ": wasm host did not answer within " + m.cfg.timeout.String()
		http.Error(rw, msg, http.StatusGatewayTimeout)
		return
	}
	http.Error(rw, "whiskers: handler "+m.cfg.handler+": bad answer from wasm host", http.StatusBadGateway)
}

// hostDown answers while the host is unreachable: next when configured and
// the request body is still available, the configured status otherwise.
func hostDown(m *Middleware, rw http.ResponseWriter, r *http.Request, replayable bool) {
	if m.cfg.downNext && replayable {
		m.next.ServeHTTP(rw, r)
		return
	}
	code := m.cfg.downStatus
	if code == 0 {
		code = http.StatusBadGateway
	}
	http.Error(rw, "whiskers: handler "+m.cfg.handler+": wasm host unavailable", code)
}

// allowedHeaders returns the headers of h listed in cfg.forwardHeaders.
func allowedHeaders(cfg *settings, h http.Header) http.Header {
	out := make(http.Header, len(cfg.forwardHeaders)+4)
	for _, k := range cfg.forwardHeaders {
		if vv, ok := h[k]; ok {
			out[k] = vv
		}
	}
	return out
}

// readUpTo reads body, expecting length bytes (-1: unknown), and stops after
// limit+1 bytes so a caller can tell that the body is larger than limit.
func readUpTo(body io.Reader, length, limit int64) ([]byte, error) {
	if length >= 0 && length <= limit {
		buf := make([]byte, length)
		_, err := io.ReadFull(body, buf)
		return buf, err
	}
	return io.ReadAll(io.LimitReader(body, limit+1))
}

// isDialError reports whether err means the host could not be reached.
func isDialError(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// hostDialer connects to the host and remembers, for a cool-down, that it
// could not.
type hostDialer struct {
	// downUntil is the Unix time in nanoseconds until which the host is
	// considered down; first field so 64-bit atomics are aligned everywhere.
	downUntil int64
	cooldown  int64 // nanoseconds
	network   string
	address   string
	name      string
	dialer    net.Dialer
}

// errHostDown is the dial error while the host-down cool-down lasts.
var errHostDown = errors.New("host down, cooling down")

// DialContext connects to the host, ignoring the transport's address. While
// the cool-down after a failed connection lasts it fails at once without
// dialing.
func (d *hostDialer) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	if until := atomic.LoadInt64(&d.downUntil); until != 0 && time.Now().UnixNano() < until {
		return nil, &net.OpError{Op: "dial", Net: d.network, Err: errHostDown}
	}
	conn, err := d.dialer.DialContext(ctx, d.network, d.address)
	if err != nil {
		if ctx.Err() == nil && d.cooldown > 0 {
			until := time.Now().UnixNano() + d.cooldown
			if atomic.SwapInt64(&d.downUntil, until) == 0 {
				log.Printf("whiskers plugin %q: wasm host %s unreachable, cooling down %s: %v", d.name, d.address, time.Duration(d.cooldown), err)
			}
		}
		return nil, err
	}
	if atomic.SwapInt64(&d.downUntil, 0) != 0 {
		log.Printf("whiskers plugin %q: wasm host %s reachable again", d.name, d.address)
	}
	return conn, nil
}
