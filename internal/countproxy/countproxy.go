// Package countproxy is a reverse proxy in front of one HTTP API (a
// catalog's, in the benchmarks) that counts its clients' requests and the
// response bytes they got, so that a benchmark can say what a change cost a
// reader. Streams (Nomad's event stream) pass through as they come.
package countproxy

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
)

// Proxy is a running counting proxy. Close stops it.
type Proxy struct {
	srv             *httptest.Server
	requests, bytes atomic.Int64
}

// New starts a proxy to target ("http://host:port") on a loopback port.
func New(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("countproxy: %w", err)
	}
	p := &Proxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	rp.ErrorLog = log.New(io.Discard, "", 0) // a client gone mid-call is no news
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		rp.ServeHTTP(&countingWriter{ResponseWriter: w, n: &p.bytes}, r)
	}))
	return p, nil
}

// URL is the proxy's address, for NOMAD_ADDR or CONSUL_HTTP_ADDR.
func (p *Proxy) URL() string { return p.srv.URL }

// Requests is the number of requests so far.
func (p *Proxy) Requests() int64 { return p.requests.Load() }

// Bytes is the number of response body bytes so far.
func (p *Proxy) Bytes() int64 { return p.bytes.Load() }

// Close stops the proxy, cutting its clients' connections.
func (p *Proxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
}

// countingWriter counts the bytes of a response.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n.Add(int64(n))
	return n, err
}

// Flush passes a stream's chunks on at once.
func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
