package yaegitest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// seen is what the fake host reports about the request it received.
type seen struct {
	Method string              `json:"method"`
	URI    string              `json:"uri"`
	Host   string              `json:"host"`
	Header map[string][]string `json:"header"`
	Body   string              `json:"body"`
}

// fakeHost is a stand-in for `whiskers wasm serve`: a real HTTP server on a
// Unix socket (or TCP) whose answer depends on the path:
//
//	/status/NNN  answers NNN with body "host NNN"
//	/slow        answers only when the request is cancelled
//	anything else answers 200 with the request as JSON (seen)
type fakeHost struct {
	srv      *httptest.Server
	socket   string // unix:///… or http://…
	requests atomic.Int64
}

// socketDir returns a short temporary directory for Unix sockets (their
// paths are limited to ~100 bytes, t.TempDir's can be longer).
func socketDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wsk")
	if err != nil {
		t.Fatalf("creating socket dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// startFakeHost starts a fake host on a Unix socket at path, or on loopback
// TCP when path is "".
func startFakeHost(t *testing.T, path string) *fakeHost {
	t.Helper()
	return startHost(t, path, nil)
}

// startHost starts a fake host on path ("" for TCP) that answers with h, or
// with the fake host's own handler when h is nil.
func startHost(t *testing.T, path string, h http.Handler) *fakeHost {
	t.Helper()
	f := &fakeHost{}
	if h == nil {
		h = http.HandlerFunc(f.serve)
	}
	f.srv = httptest.NewUnstartedServer(h)
	if path != "" {
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatalf("listening on %s: %v", path, err)
		}
		_ = f.srv.Listener.Close()
		f.srv.Listener = ln
		f.socket = "unix://" + path
	}
	f.srv.Start()
	if path == "" {
		f.socket = f.srv.URL
	}
	t.Cleanup(f.srv.Close)
	return f
}

// newFakeHost starts a fake host on a fresh Unix socket.
func newFakeHost(t *testing.T) *fakeHost {
	t.Helper()
	return startFakeHost(t, filepath.Join(socketDir(t), "h.sock"))
}

func (f *fakeHost) serve(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	var code int
	switch {
	case r.URL.Path == "/slow":
		<-r.Context().Done()
		return
	case len(r.URL.Path) == len("/status/NNN") && r.URL.Path[:8] == "/status/":
		for _, c := range r.URL.Path[8:] {
			code = code*10 + int(c-'0')
		}
		w.Header().Set("X-Host", "yes")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "host "+r.URL.Path[8:])
		return
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Host", "yes")
	w.Header().Set("Connection", "X-Hop")
	w.Header().Set("X-Hop", "must not reach the client")
	_ = json.NewEncoder(w).Encode(seen{
		Method: r.Method,
		URI:    r.RequestURI,
		Host:   r.Host,
		Header: r.Header,
		Body:   string(body),
	})
}
