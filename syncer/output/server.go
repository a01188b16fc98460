package output

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/whiskers-dev/whiskers/syncer/render"
)

// Server serves the configuration to Traefik's HTTP provider. Create it with
// NewServer and mount Handler on an http.Server; Set and the handlers are
// safe for concurrent use.
//
// Routes: GET /config (JSON; ETag, If-None-Match → 304; 503 until the first
// Set), GET /healthz (200 once a configuration is published, 503 before),
// GET /metrics (Prometheus text format of the given gatherer).
type Server struct {
	metrics http.Handler

	mu      sync.RWMutex
	body    []byte
	etag    string
	updated time.Time
}

// NewServer returns a Server whose /metrics serves g (nil: no /metrics).
func NewServer(g prometheus.Gatherer) *Server {
	s := &Server{}
	if g != nil {
		s.metrics = promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	}
	return s
}

// Set publishes a new JSON configuration; it reports whether it differed
// from the published one.
func (s *Server) Set(body []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.body != nil && bytes.Equal(s.body, body) {
		return false
	}
	sum := sha256.Sum256(body)
	s.body = bytes.Clone(body)
	s.etag = `"` + hex.EncodeToString(sum[:16]) + `"`
	s.updated = time.Now()
	return true
}

// Format is JSON, what Traefik's HTTP provider reads.
func (s *Server) Format() render.Format { return render.JSON }

// Publish is Set.
func (s *Server) Publish(body []byte) (bool, error) { return s.Set(body), nil }

// Handler returns the HTTP handler with the routes above.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config", s.config)
	mux.HandleFunc("GET /healthz", s.healthz)
	if s.metrics != nil {
		mux.Handle("GET /metrics", s.metrics)
	}
	return mux
}

func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	body, etag, updated := s.body, s.etag, s.updated
	s.mu.RUnlock()
	if body == nil {
		http.Error(w, "no configuration yet: catalogs not read", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-cache")
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatch(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Last-Modified", updated.UTC().Format(http.TimeFormat))
	_, _ = w.Write(body)
}

// etagMatch reports whether an If-None-Match header matches etag.
func etagMatch(header, etag string) bool {
	for _, m := range strings.Split(header, ",") {
		m = strings.TrimSpace(m)
		m = strings.TrimPrefix(m, "W/")
		if m == "*" || m == etag {
			return true
		}
	}
	return false
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	s.mu.RLock()
	ready := s.body != nil
	s.mu.RUnlock()
	if !ready {
		http.Error(w, "waiting for catalogs", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}
