package yaegitest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

// TestStreamingResponseIsFlushed checks that a host response of unknown
// length reaches the client as it is produced: the host sends a first part
// and waits until the client has read it before sending the rest.
func TestStreamingResponseIsFlushed(t *testing.T) {
	for _, rt := range runtimes(t) {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			clientGotFirst := make(chan struct{})
			host := startHandlerHost(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "first\n")
				w.(http.Flusher).Flush()
				select {
				case <-clientGotFirst:
				case <-r.Context().Done():
					return
				}
				_, _ = io.WriteString(w, "second\n")
			}))
			h, err := rt.new(t.Context(), nextHandler, map[string]any{"handler": "stream", "socket": host, "timeout": "60s"}, "stream")
			if err != nil {
				t.Fatal(err)
			}
			front := httptest.NewServer(h)
			defer front.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", front.URL+"/stream", nil)
			resp, err := front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			line, err := br.ReadString('\n')
			if err != nil || line != "first\n" {
				t.Fatalf("first part = %q, %v (not flushed?)", line, err)
			}
			close(clientGotFirst)
			rest, err := io.ReadAll(br)
			if err != nil || string(rest) != "second\n" {
				t.Fatalf("rest = %q, %v", rest, err)
			}
		})
	}
}

// TestLargeResponseIntact streams 4 MiB from the host through the plugin.
func TestLargeResponseIntact(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	want := sha256.Sum256(payload)
	for _, rt := range runtimes(t) {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			host := startHandlerHost(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write(payload)
			}))
			h, err := rt.new(t.Context(), nextHandler, map[string]any{"handler": "big", "socket": host, "timeout": "60s"}, "big")
			if err != nil {
				t.Fatal(err)
			}
			front := httptest.NewServer(h)
			defer front.Close()
			resp, err := front.Client().Get(front.URL + "/big")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if sha256.Sum256(got) != want {
				t.Errorf("body differs: %d bytes, want %d", len(got), len(payload))
			}
		})
	}
}

// TestSlowHostDoesNotTripHostDown checks that a timed-out request does not
// make the plugin treat the host as down: the next request is served.
func TestSlowHostDoesNotTripHostDown(t *testing.T) {
	for _, rt := range runtimes(t) {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			host := newFakeHost(t)
			h, err := rt.new(t.Context(), nextHandler, map[string]any{
				// Generous: the fast request must not time out on a loaded machine.
				"handler": "app", "socket": host.socket, "timeout": "2s", "onHostDown": "503", "hostDownCooldown": "1h",
			}, "slow")
			if err != nil {
				t.Fatal(err)
			}
			front := httptest.NewServer(h)
			defer front.Close()
			for _, step := range []struct {
				path string
				want int
			}{{"/slow", 504}, {"/fast", 200}} {
				resp, err := front.Client().Get(front.URL + step.path)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != step.want {
					t.Errorf("%s: status %d, want %d", step.path, resp.StatusCode, step.want)
				}
			}
		})
	}
}

// TestHostRestart checks that pooled connections to a host that went away
// do not break requests once a new host listens on the same socket.
func TestHostRestart(t *testing.T) {
	for _, rt := range runtimes(t) {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(socketDir(t), "h.sock")
			first := startFakeHost(t, path)
			h, err := rt.new(t.Context(), nextHandler, map[string]any{
				"handler": "app", "socket": first.socket, "onHostDown": "503", "hostDownCooldown": "0s",
			}, "restart")
			if err != nil {
				t.Fatal(err)
			}
			front := httptest.NewServer(h)
			defer front.Close()
			get := func() int {
				resp, err := front.Client().Get(front.URL + "/x")
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			if code := get(); code != 200 {
				t.Fatalf("first host: status %d", code)
			}
			first.srv.Close()
			if code := get(); code != 503 {
				t.Errorf("no host: status %d, want 503", code)
			}
			second := startFakeHost(t, path)
			if code := get(); code != 200 {
				t.Errorf("second host: status %d, want 200", code)
			}
			if n := second.requests.Load(); n != 1 {
				t.Errorf("second host saw %d requests, want 1", n)
			}
		})
	}
}

// startHandlerHost serves h on a fresh Unix socket and returns its URL.
func startHandlerHost(t *testing.T, h http.Handler) string {
	t.Helper()
	return startHost(t, filepath.Join(socketDir(t), "h.sock"), h).socket
}
