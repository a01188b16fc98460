package plugin

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// unixHost serves h on a Unix socket in a short temporary directory and
// returns its socket URL.
func unixHost(t *testing.T, path string, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("listening on %s: %v", path, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// shortDir is a temporary directory with a path short enough for sockets.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wskp")
	if err != nil {
		t.Fatalf("creating temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// handlerEcho answers with the X-Whiskers-Handler header it received.
type handlerEcho struct{}

func (handlerEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "handler="+r.Header.Get(HandlerHeader))
}

// nextMarker stands for the next handler.
type nextMarker struct{}

func (nextMarker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(299)
	io.WriteString(w, "next")
}

func newMiddleware(t *testing.T, edit func(c *Config)) http.Handler {
	t.Helper()
	cfg := CreateConfig()
	cfg.Handler = "redirect"
	edit(cfg)
	h, err := New(context.Background(), nextMarker{}, cfg, "mw")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

func serve(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func TestCooldownSkipsTheHost(t *testing.T) {
	tests := []struct {
		name     string
		cooldown string
		// wantAfterStart is the status once the host is up again.
		wantAfterStart int
	}{
		{"cooldown keeps answering host-down without dialing", "1h", 503},
		{"no cooldown dials every time", "0s", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			socket := filepath.Join(shortDir(t), "h.sock")
			m := newMiddleware(t, func(c *Config) {
				c.Socket = "unix://" + socket
				c.OnHostDown = "503"
				c.HostDownCooldown = tc.cooldown
			})
			if rec := serve(m, "GET", "/"); rec.Code != 503 {
				t.Fatalf("host down: status %d, want 503", rec.Code)
			}
			unixHost(t, socket, handlerEcho{})
			rec := serve(m, "GET", "/")
			if rec.Code != tc.wantAfterStart {
				t.Errorf("host up again: status %d, want %d (body %q)", rec.Code, tc.wantAfterStart, rec.Body)
			}
		})
	}
}

func TestConcurrentRequestsShareThePool(t *testing.T) {
	socket := filepath.Join(shortDir(t), "h.sock")
	unixHost(t, socket, handlerEcho{})
	var m http.Handler = newMiddleware(t, func(c *Config) { c.Socket = "unix://" + socket })
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				rec := serve(m, "GET", "/x")
				if rec.Code != 200 || rec.Body.String() != "handler=redirect" {
					errs <- rec.Body.String()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("bad answer %q", e)
	}
}

// headerEcho answers with the request headers it received, as JSON.
type headerEcho struct{}

func (headerEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	json.NewEncoder(w).Encode(r.Header)
}

// TestForwardedHeaders checks the headers the host receives.
func TestForwardedHeaders(t *testing.T) {
	tests := []struct {
		name    string
		allow   []string
		in      http.Header
		remote  string
		tls     bool
		want    map[string]string
		wantNot []string
	}{
		{
			name:   "all headers, forwarding headers added",
			in:     http.Header{"X-A": {"1"}, "Connection": {"keep-alive, X-Gone"}, "X-Gone": {"x"}, "Upgrade": {"h2c"}},
			remote: "192.0.2.7:5555",
			tls:    true,
			want: map[string]string{
				"X-A": "1", "X-Forwarded-For": "192.0.2.7", "X-Forwarded-Proto": "https",
				"X-Forwarded-Host": "site.example", HandlerHeader: "redirect",
			},
			wantNot: []string{"Connection", "X-Gone", "Upgrade"},
		},
		{
			name:   "allow-list keeps only listed headers, prior forwarding headers kept",
			allow:  []string{"X-A"},
			in:     http.Header{"X-A": {"1"}, "X-B": {"2"}, "X-Forwarded-For": {"10.0.0.1"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"orig.example"}},
			remote: "[2001:db8::1]:443",
			want: map[string]string{
				"X-A": "1", "X-Forwarded-For": "10.0.0.1, 2001:db8::1", "X-Forwarded-Proto": "https",
				"X-Forwarded-Host": "orig.example",
			},
			wantNot: []string{"X-B"},
		},
		{
			name:   "unparsable remote address keeps prior X-Forwarded-For",
			in:     http.Header{"X-Forwarded-For": {"10.0.0.1"}},
			remote: "pipe",
			want:   map[string]string{"X-Forwarded-For": "10.0.0.1", "X-Forwarded-Proto": "http"},
		},
	}
	socket := filepath.Join(shortDir(t), "h.sock")
	unixHost(t, socket, headerEcho{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMiddleware(t, func(c *Config) {
				c.ForwardHeaders = tc.allow
				c.Socket = "unix://" + socket
			})
			r := httptest.NewRequest("GET", "http://site.example/", nil)
			r.Header = tc.in
			r.RemoteAddr = tc.remote
			r.TLS = nil
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			before := len(r.Header)
			rec := httptest.NewRecorder()
			m.ServeHTTP(rec, r)
			var h http.Header
			if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
				t.Fatalf("host answer %q: %v", rec.Body, err)
			}
			for k, v := range tc.want {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for _, k := range tc.wantNot {
				if _, ok := h[k]; ok {
					t.Errorf("%s forwarded, want it dropped", k)
				}
			}
			if len(r.Header) != before {
				t.Errorf("incoming headers modified: %v", r.Header)
			}
		})
	}
}

func TestReadUpTo(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		length  int64
		limit   int64
		want    string
		wantErr bool
	}{
		{"known length within limit", "hello", 5, 10, "hello", false},
		{"unknown length within limit", "hello", -1, 10, "hello", false},
		{"unknown length over limit reads limit+1", "hello world", -1, 4, "hello", false},
		{"known length shorter than announced", "hi", 5, 10, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readUpTo(strings.NewReader(tc.body), tc.length, tc.limit)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && !bytes.Equal(got, []byte(tc.want)) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestConcurrentHostDownAndRecovery hammers a host that is down, then comes
// up, from several goroutines with a short cool-down, so that the race
// detector sees the host-down state shared between requests and dials.
func TestConcurrentHostDownAndRecovery(t *testing.T) {
	socket := filepath.Join(shortDir(t), "h.sock")
	var m http.Handler = newMiddleware(t, func(c *Config) {
		c.Socket = "unix://" + socket
		c.OnHostDown = "503"
		c.HostDownCooldown = "1ms"
	})
	hammer := func(want map[int]bool) []int {
		var wg sync.WaitGroup
		codes := make(chan int, 8*10)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 10; j++ {
					codes <- serve(m, "GET", "/").Code
				}
			}()
		}
		wg.Wait()
		close(codes)
		var bad []int
		for c := range codes {
			if !want[c] {
				bad = append(bad, c)
			}
		}
		return bad
	}
	if bad := hammer(map[int]bool{503: true}); len(bad) > 0 {
		t.Fatalf("host down: unexpected statuses %v", bad)
	}
	unixHost(t, socket, handlerEcho{})
	if bad := hammer(map[int]bool{200: true, 503: true}); len(bad) > 0 {
		t.Fatalf("host coming up: unexpected statuses %v", bad)
	}
	deadline := time.Now().Add(30 * time.Second)
	for serve(m, "GET", "/").Code != 200 {
		if time.Now().After(deadline) {
			t.Fatal("host up, but requests still fail after 30s")
		}
		runtime.Gosched()
	}
}

// TestNewReturnsTheProxyWhenNothingGoesToNext checks which handler New
// gives Traefik: the compiled ReverseProxy when no request can reach next
// (so Yaegi interprets only rewrite per request), the Middleware otherwise.
func TestNewReturnsTheProxyWhenNothingGoesToNext(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(c *Config)
		wantProxy bool
	}{
		{"status on host down, no fallthrough", func(c *Config) { c.OnHostDown = "503" }, true},
		{"fallthrough", func(c *Config) { c.FallthroughStatus = []int{404} }, false},
		{"next on host down", func(c *Config) { c.OnHostDown = OnHostDownNext }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newMiddleware(t, tc.edit)
			_, isProxy := h.(*httputil.ReverseProxy)
			if isProxy != tc.wantProxy {
				t.Errorf("New returned %T, want the ReverseProxy: %v", h, tc.wantProxy)
			}
		})
	}
}
