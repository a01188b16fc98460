package yaegitest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// nextHandler stands for the rest of the Traefik chain (the Spin app): it
// answers 200 "next <method> <body>" with X-Next: yes.
var nextHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Next", "yes")
	_, _ = io.WriteString(w, "next "+r.Method+" "+string(body))
})

// hostState says how the case's host is set up.
type hostState int

const (
	hostUnix hostState = iota // fake host on a Unix socket
	hostTCP                   // fake host on loopback TCP
	hostDown                  // socket path where nothing listens
)

type behaviourCase struct {
	name    string
	host    hostState
	options map[string]any // Traefik dynamic options; "socket" is filled in

	method string
	target string
	body   string
	header map[string]string
	// unknownLength sends the body chunked, without Content-Length.
	unknownLength bool

	wantStatus   int
	wantBody     string            // substring of the client's body
	wantNext     bool              // next answered
	wantHeader   map[string]string // response headers ("" means absent)
	wantHostHits int64             // requests the host saw; -1: don't check
	// hostSaw checks the request as the host saw it (JSON echo).
	hostSaw func(t *testing.T, s seen)
}

func behaviourCases() []behaviourCase {
	return []behaviourCase{
		{
			name:    "forwards a GET over the Unix socket with forwarding headers",
			options: map[string]any{"handler": "redirect"},
			method:  "GET", target: "/a/b%2Fc?x=1&y=2",
			header:       map[string]string{"X-Client": "c1", "X-Forwarded-For": "203.0.113.9"},
			wantStatus:   200,
			wantHeader:   map[string]string{"X-Host": "yes", "X-Next": "", "X-Hop": "", "Content-Type": "application/json"},
			wantHostHits: 1,
			hostSaw: func(t *testing.T, s seen) {
				wantEq(t, "method", s.Method, "GET")
				wantEq(t, "uri", s.URI, "/a/b%2Fc?x=1&y=2")
				wantEq(t, "host", s.Host, "app.example")
				wantEq(t, "X-Whiskers-Handler", first(s.Header, "X-Whiskers-Handler"), "redirect")
				wantEq(t, "X-Client", first(s.Header, "X-Client"), "c1")
				wantEq(t, "X-Forwarded-For", first(s.Header, "X-Forwarded-For"), "203.0.113.9, 127.0.0.1")
				wantEq(t, "X-Forwarded-Proto", first(s.Header, "X-Forwarded-Proto"), "http")
				wantEq(t, "X-Forwarded-Host", first(s.Header, "X-Forwarded-Host"), "app.example")
			},
		},
		{
			name:    "forwards over loopback TCP",
			host:    hostTCP,
			options: map[string]any{"handler": "redirect"},
			method:  "GET", target: "/tcp",
			wantStatus: 200, wantHostHits: 1,
			hostSaw: func(t *testing.T, s seen) { wantEq(t, "uri", s.URI, "/tcp") },
		},
		{
			name:    "streams a POST body to the host",
			options: map[string]any{"handler": "app"},
			method:  "POST", target: "/upload", body: strings.Repeat("b", 100_000), unknownLength: true,
			wantStatus: 200, wantHostHits: 1,
			hostSaw: func(t *testing.T, s seen) { wantEq(t, "body length", len(s.Body), 100_000) },
		},
		{
			name:    "passes the host's status through",
			options: map[string]any{"handler": "app", "fallthroughStatus": []any{404}},
			method:  "GET", target: "/status/500",
			wantStatus: 500, wantBody: "host 500", wantHostHits: 1,
			wantHeader: map[string]string{"X-Host": "yes"},
		},
		{
			name:    "falls through to next on 404",
			options: map[string]any{"handler": "fileserver", "fallthroughStatus": []any{404}},
			method:  "GET", target: "/status/404",
			wantStatus: 200, wantBody: "next GET ", wantNext: true, wantHostHits: 1,
			wantHeader: map[string]string{"X-Host": ""},
		},
		{
			name:    "fallthrough statuses as a comma-separated string",
			options: map[string]any{"handler": "fileserver", "fallthroughStatus": "404,410"},
			method:  "GET", target: "/status/410",
			wantStatus: 200, wantNext: true, wantHostHits: 1,
		},
		{
			name:    "fallthrough replays a small body to next",
			options: map[string]any{"handler": "fileserver", "fallthroughStatus": "404"},
			method:  "POST", target: "/status/404", body: "form=1",
			wantStatus: 200, wantBody: "next POST form=1", wantNext: true, wantHostHits: 1,
		},
		{
			name:    "fallthrough replays a body of unknown length to next",
			options: map[string]any{"handler": "fileserver", "fallthroughStatus": "404"},
			method:  "POST", target: "/status/404", body: "chunked=1", unknownLength: true,
			wantStatus: 200, wantBody: "next POST chunked=1", wantNext: true, wantHostHits: 1,
		},
		{
			name:    "a body over maxBufferedBody goes straight to next when falling through",
			options: map[string]any{"handler": "fileserver", "fallthroughStatus": "404", "maxBufferedBody": "4"},
			method:  "POST", target: "/anything", body: "0123456789",
			wantStatus: 200, wantBody: "next POST 0123456789", wantNext: true, wantHostHits: 0,
		},
		{
			name:    "an unannounced body over maxBufferedBody goes to next intact",
			options: map[string]any{"handler": "fileserver", "fallthroughStatus": "404", "maxBufferedBody": 4},
			method:  "POST", target: "/anything", body: "0123456789", unknownLength: true,
			wantStatus: 200, wantBody: "next POST 0123456789", wantNext: true, wantHostHits: 0,
		},
		{
			name:    "host down calls next",
			host:    hostDown,
			options: map[string]any{"handler": "fileserver", "onHostDown": "next"},
			method:  "POST", target: "/x", body: "kept",
			wantStatus: 200, wantBody: "next POST kept", wantNext: true,
		},
		{
			name:    "host down answers the configured status",
			host:    hostDown,
			options: map[string]any{"handler": "redirect", "onHostDown": 503},
			method:  "GET", target: "/x",
			wantStatus: 503, wantBody: "wasm host unavailable",
			wantHeader: map[string]string{"Content-Type": "text/plain; charset=utf-8"},
		},
		{
			name:    "slow host answers 504 after the timeout",
			options: map[string]any{"handler": "app", "timeout": "100ms"},
			method:  "GET", target: "/slow",
			wantStatus: 504, wantBody: "did not answer within 100ms", wantHostHits: 1,
		},
		{
			name: "forwardHeaders allow-list",
			options: map[string]any{
				"handler":        "app",
				"forwardHeaders": "x-allowed, Accept",
			},
			method: "GET", target: "/h",
			header:     map[string]string{"X-Allowed": "a", "X-Secret": "s", "Accept": "text/html", "X-Whiskers-Handler": "spoofed"},
			wantStatus: 200, wantHostHits: 1,
			hostSaw: func(t *testing.T, s seen) {
				wantEq(t, "X-Allowed", first(s.Header, "X-Allowed"), "a")
				wantEq(t, "Accept", first(s.Header, "Accept"), "text/html")
				wantEq(t, "X-Secret", first(s.Header, "X-Secret"), "")
				wantEq(t, "X-Whiskers-Handler", first(s.Header, "X-Whiskers-Handler"), "app")
				wantEq(t, "X-Forwarded-Proto", first(s.Header, "X-Forwarded-Proto"), "http")
			},
		},
		{
			name:    "hop-by-hop headers are not forwarded and the handler header is not spoofable",
			options: map[string]any{"handler": "app"},
			method:  "GET", target: "/hop",
			header: map[string]string{
				"Connection": "X-Drop", "X-Drop": "1", "Proxy-Authorization": "secret",
				"Te": "trailers", "X-Whiskers-Handler": "spoofed",
			},
			wantStatus: 200, wantHostHits: 1,
			hostSaw: func(t *testing.T, s seen) {
				wantEq(t, "X-Drop", first(s.Header, "X-Drop"), "")
				wantEq(t, "Proxy-Authorization", first(s.Header, "Proxy-Authorization"), "")
				wantEq(t, "X-Whiskers-Handler", first(s.Header, "X-Whiskers-Handler"), "app")
			},
		},
	}
}

// TestBehaviour runs the behaviour table against the compiled plugin and
// against the plugin loaded by Yaegi as Traefik loads it.
func TestBehaviour(t *testing.T) {
	t.Parallel()
	for _, rt := range runtimes(t) {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range behaviourCases() {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					runBehaviour(t, rt.new, tc)
				})
			}
		})
	}
}

func runBehaviour(t *testing.T, newMiddleware newFunc, tc behaviourCase) {
	options := map[string]any{}
	for k, v := range tc.options {
		options[k] = v
	}
	var host *fakeHost
	switch tc.host {
	case hostUnix:
		host = newFakeHost(t)
		options["socket"] = host.socket
	case hostTCP:
		host = startFakeHost(t, "")
		options["socket"] = host.socket
	case hostDown:
		options["socket"] = "unix://" + filepath.Join(socketDir(t), "nobody.sock")
	}

	h, err := newMiddleware(t.Context(), nextHandler, options, "whiskers-test")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	front := httptest.NewServer(h)
	t.Cleanup(front.Close)

	var body io.Reader
	if tc.body != "" {
		body = strings.NewReader(tc.body)
		if tc.unknownLength {
			body = io.MultiReader(body) // hides the length: sent chunked
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), tc.method, front.URL+tc.target, body)
	if err != nil {
		t.Fatalf("creating request: %v", err)
	}
	req.Host = "app.example"
	for k, v := range tc.header {
		req.Header.Set(k, v)
	}
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatalf("request through the middleware: %v", err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}

	if resp.StatusCode != tc.wantStatus {
		t.Errorf("status = %d, want %d (body %q)", resp.StatusCode, tc.wantStatus, got)
	}
	if !strings.Contains(string(got), tc.wantBody) {
		t.Errorf("body = %q, want it to contain %q", got, tc.wantBody)
	}
	if gotNext := resp.Header.Get("X-Next") == "yes"; gotNext != tc.wantNext {
		t.Errorf("next called = %v, want %v", gotNext, tc.wantNext)
	}
	for k, v := range tc.wantHeader {
		if g := resp.Header.Get(k); g != v {
			t.Errorf("response header %s = %q, want %q", k, g, v)
		}
	}
	if host != nil && tc.wantHostHits >= 0 {
		if n := host.requests.Load(); n != tc.wantHostHits {
			t.Errorf("host saw %d requests, want %d", n, tc.wantHostHits)
		}
	}
	if tc.hostSaw != nil {
		var s seen
		if err := json.Unmarshal(got, &s); err != nil {
			t.Fatalf("host echo %q: %v", got, err)
		}
		tc.hostSaw(t, s)
	}
}

func first(h map[string][]string, k string) string {
	if vv := h[k]; len(vv) > 0 {
		return vv[0]
	}
	return ""
}

func wantEq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
