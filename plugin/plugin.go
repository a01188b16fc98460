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
//   - bounds the whole exchange by Timeout (504 Gateway Timeout) and the
//     connection by DialTimeout; after a failed connection it treats the host
//     as down for HostDownCooldown without dialing, so a dead host costs
//     nothing per request, and answers per OnHostDown (next, or a status with
//     a plain-text body).
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
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Middleware is what New returns to Traefik.
var _ http.Handler = (*Middleware)(nil)

// HandlerHeader is the request header naming the handler on the host.
const HandlerHeader = "X-Whiskers-Handler"

// Middleware forwards requests to the wasm host. Create it with New.
type Middleware struct {
	name      string
	next      http.Handler
	cfg       *settings
	dialer    *hostDialer
	transport *http.Transport
	buffers   sync.Pool // *[]byte of copyBufferSize
}

const copyBufferSize = 32 << 10

// New validates cfg and returns the middleware named name in front of next.
// Errors name the configuration field that is wrong. New starts no
// goroutines; connections are opened on demand and idle ones are closed by
// the pool after a while.
func New(ctx context.Context, next http.Handler, cfg *Config, name string) (http.Handler, error) {
	if next == nil {
		return nil, fmt.Errorf("whiskers plugin %q: next handler is nil", name)
	}
	s, err := parse(cfg)
	if err != nil {
		return nil, fmt.Errorf("whiskers plugin %q: %w", name, err)
	}
	d := &hostDialer{
		network:  s.network,
		address:  s.address,
		cooldown: int64(s.cooldown),
		name:     name,
	}
	d.dialer.Timeout = s.dialTimeout
	t := newTransport(d, s.maxIdleConns)
	return &Middleware{name: name, next: next, cfg: s, dialer: d, transport: t}, nil
}

// newTransport returns a keep-alive pool of at most maxIdle idle
// connections (0: no keep-alive) that dials through d.
func newTransport(d *hostDialer, maxIdle int) *http.Transport {
	t := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConns:        maxIdle,
		MaxIdleConnsPerHost: maxIdle,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	if maxIdle == 0 {
		t.DisableKeepAlives = true
	}
	return t
}

// Yaegi v0.16.1 builds the reflect type of a method value (d.DialContext
// above) on the first evaluation of the expression, without locking, so
// two first calls of New at once race. Building one transport while the
// package initialises does it before anyone can call New.
var _ = newTransport(&hostDialer{}, 0)

// ServeHTTP forwards r to the host, or to next on fallthrough or host-down.
//
// The code is shaped for Yaegi, where a call allocates every slot of the
// callee's frame (each local and each intermediate value) on entry, and
// where every statement costs far more than compiled:
//   - ServeHTTP and forward hold only the common path;
//   - request bodies, host-down, failures, fallthrough and body copying
//     live in helpers that run only when needed;
//   - helpers are plain functions, not methods: Yaegi v0.16.1 turns each
//     call of an interpreted method into a fresh reflect.MakeFunc wrapper.
//
// BenchmarkNativeAllocs in plugin/yaegitest counts the allocations.
func (m *Middleware) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if atomic.LoadInt64(&m.dialer.downUntil) != 0 || (r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody) {
		serveSpecial(m, rw, r)
		return
	}
	forward(m, rw, r, nil, 0, nil, true)
}

// serveSpecial handles requests that are not on the common path: while the
// host may be down, and requests with a body.
func serveSpecial(m *Middleware, rw http.ResponseWriter, r *http.Request) {
	s := m.cfg
	if until := atomic.LoadInt64(&m.dialer.downUntil); until != 0 && time.Now().UnixNano() < until {
		hostDown(m, rw, r, true)
		return
	}
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		forward(m, rw, r, nil, 0, nil, true)
		return
	}
	if !s.downNext && len(s.fallthroughs) == 0 {
		forward(m, rw, r, r.Body, r.ContentLength, nil, false) // stream it; nothing to replay
		return
	}
	body, length, buffered, replayable, toNext, err := prepareBody(s, r)
	if err != nil {
		http.Error(rw, "whiskers: reading request body failed", http.StatusBadRequest)
		return
	}
	if toNext {
		m.next.ServeHTTP(rw, r)
		return
	}
	forward(m, rw, r, body, length, buffered, replayable)
}

// forward sends r with the given body to the host and answers from its
// response. buffered is the body's copy to replay to next (nil if none);
// replayable says whether next can still read r's body.
func forward(m *Middleware, rw http.ResponseWriter, r *http.Request, body io.ReadCloser, length int64, buffered []byte, replayable bool) {
	s := m.cfg
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()

	out := r.WithContext(ctx)
	u := *r.URL
	u.Scheme = "http"
	u.Host = s.urlHost
	out.URL = &u
	out.RequestURI = ""
	out.Header = outHeader(s, r)
	out.Body = body
	out.ContentLength = length
	// One assignment per line: Yaegi v0.16.1 panics on a multi-assignment
	// with an untyped nil on the right.
	out.TransferEncoding = nil
	out.Trailer = nil
	out.Close = false

	resp, err := m.transport.RoundTrip(out)
	if err != nil {
		roundTripFailed(m, rw, r, ctx, err, replayable, buffered)
		return
	}
	defer resp.Body.Close()

	for _, code := range s.fallthroughs {
		if code == resp.StatusCode {
			fallThrough(m, rw, r, resp, buffered)
			return
		}
	}

	h := rw.Header()
	for k, vv := range resp.Header {
		if !hopHeaders[k] {
			h[k] = vv
		}
	}
	if c := resp.Header["Connection"]; c != nil {
		dropConnectionTokens(h, c)
	}
	rw.WriteHeader(resp.StatusCode)
	if resp.ContentLength != 0 {
		copyBody(m, rw, resp)
	}
}

// fallThrough discards the host's answer and passes r to next, with its
// body restored from buffered.
func fallThrough(m *Middleware, rw http.ResponseWriter, r *http.Request, resp *http.Response, buffered []byte) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10) // so the connection can be reused
	resp.Body.Close()
	if buffered != nil {
		r.Body = io.NopCloser(bytes.NewReader(buffered))
	}
	m.next.ServeHTTP(rw, r)
}

// copyBody streams the host's body to the client, flushing as it goes when
// the length is unknown (a streaming handler).
func copyBody(m *Middleware, rw http.ResponseWriter, resp *http.Response) {
	bp, _ := m.buffers.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, copyBufferSize)
		bp = &b
	}
	if flusher, ok := rw.(http.Flusher); ok && resp.ContentLength < 0 {
		copyFlushing(rw, flusher, resp.Body, *bp)
	} else {
		_, _ = io.CopyBuffer(rw, resp.Body, *bp)
	}
	m.buffers.Put(bp)
}

// prepareBody makes r's body replayable for next when the host's answer or
// failure may send the request there. It returns what to send to the host,
// the buffered copy (nil if none), whether next can still get the body, and
// whether to skip the host and call next right away.
func prepareBody(s *settings, r *http.Request) (body io.ReadCloser, length int64, buffered []byte, replayable, toNext bool, err error) {
	if r.ContentLength > s.maxBufferedBody {
		if len(s.fallthroughs) > 0 {
			return nil, 0, nil, true, true, nil
		}
		return r.Body, r.ContentLength, nil, false, false, nil // stream it; nothing to replay
	}
	buf, err := readUpTo(r.Body, r.ContentLength, s.maxBufferedBody)
	if err != nil {
		return nil, 0, nil, false, false, err
	}
	if int64(len(buf)) > s.maxBufferedBody {
		// An unannounced large body: next gets all of it, or the host a
		// stream of it. The server closes the original body after the handler.
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(buf), r.Body))
		if len(s.fallthroughs) > 0 {
			return nil, 0, nil, true, true, nil
		}
		return r.Body, -1, nil, false, false, nil
	}
	if len(buf) == 0 {
		return nil, 0, buf, true, false, nil
	}
	return io.NopCloser(bytes.NewReader(buf)), int64(len(buf)), buf, true, false, nil
}

// copyFlushing streams a body of unknown length, flushing after each read
// so that a streaming handler's output reaches the client as it comes.
func copyFlushing(w io.Writer, flusher http.Flusher, body io.Reader, buf []byte) {
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			flusher.Flush()
		}
		if err != nil {
			return
		}
	}
}

// dropConnectionTokens deletes from h the headers named in Connection values.
func dropConnectionTokens(h http.Header, connection []string) {
	for _, v := range connection {
		for _, token := range strings.Split(v, ",") {
			if token = strings.TrimSpace(token); token != "" {
				delete(h, http.CanonicalHeaderKey(token))
			}
		}
	}
}

// roundTripFailed answers for an exchange with the host that failed before
// a response arrived.
func roundTripFailed(m *Middleware, rw http.ResponseWriter, r *http.Request, ctx context.Context, err error, replayable bool, buffered []byte) {
	if r.Context().Err() != nil {
		return // the client is gone; nobody to answer
	}
	if isDialError(err) {
		if buffered != nil {
			r.Body = io.NopCloser(bytes.NewReader(buffered))
		}
		hostDown(m, rw, r, replayable)
		return
	}
	if ctx.Err() == context.DeadlineExceeded || isTimeout(err) {
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

// outHeader returns the headers sent to the host for r. It does not modify r.
func outHeader(cfg *settings, r *http.Request) http.Header {
	var h http.Header
	if cfg.forwardHeaders != nil {
		h = allowedHeaders(cfg, r)
	} else {
		// One compiled Clone and a loop of deletes cost Yaegi less than an
		// interpreted loop over the headers.
		h = r.Header.Clone()
		if h == nil {
			h = make(http.Header, 4)
		}
		for _, k := range hopHeaderList {
			delete(h, k)
		}
	}
	// "keep-alive" and "close" name no header to drop: skip the parsing.
	if c := r.Header["Connection"]; len(c) > 1 || (len(c) == 1 && !strings.EqualFold(c[0], "keep-alive") && !strings.EqualFold(c[0], "close")) {
		dropConnectionTokens(h, c)
	}

	prior := r.Header["X-Forwarded-For"]
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h["X-Forwarded-For"] = []string{ip}
	} else if len(prior) > 0 {
		h["X-Forwarded-For"] = prior
	}
	if vv := r.Header["X-Forwarded-Proto"]; len(vv) > 0 {
		h["X-Forwarded-Proto"] = vv
	} else if r.TLS != nil {
		h["X-Forwarded-Proto"] = []string{"https"}
	} else {
		h["X-Forwarded-Proto"] = []string{"http"}
	}
	if vv := r.Header["X-Forwarded-Host"]; len(vv) > 0 {
		h["X-Forwarded-Host"] = vv
	} else if r.Host != "" {
		h["X-Forwarded-Host"] = []string{r.Host}
	}
	h[HandlerHeader] = []string{cfg.handler}
	return h
}

// allowedHeaders returns the headers of r listed in cfg.forwardHeaders.
func allowedHeaders(cfg *settings, r *http.Request) http.Header {
	h := make(http.Header, len(cfg.forwardHeaders)+4)
	for _, k := range cfg.forwardHeaders {
		if vv, ok := r.Header[k]; ok && !hopHeaders[k] {
			h[k] = vv
		}
	}
	return h
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

// hopHeaderList lists the keys of hopHeaders.
var hopHeaderList = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// hopHeaders are the hop-by-hop headers (RFC 9110, section 7.6.1), never
// forwarded in either direction. Read-only.
var hopHeaders = map[string]bool{
	"Connection":          true,
	"Proxy-Connection":    true,
	"Keep-Alive":          true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
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

// DialContext connects to the host, ignoring the transport's address.
func (d *hostDialer) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
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
