package demo

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/whiskers-dev/whiskers/internal/realbin"
	"github.com/whiskers-dev/whiskers/internal/realbin/realbintest"
)

// traefikPatience bounds every wait in TestDemoTraefik, generously for a
// loaded 2-core machine: what it waits for normally takes a few seconds.
const traefikPatience = 2 * time.Minute

// TestDemoTraefik runs the demo with the real Traefik (`make traefik`) and
// checks, through Traefik's entry point only: the fileserver and the edge
// redirect answer, requests reach all three workers, and a worker the
// demo drains stops getting requests and gets them again once it is back.
func TestDemoTraefik(t *testing.T) {
	bin := realbintest.Bin(t, realbin.Traefik)
	dir := filepath.Join(t.TempDir(), "whiskers-demo")
	// Each worker is out of the configuration for DrainEvery: long enough
	// to see through Traefik (it applies a change within ~0.2 s on an idle
	// machine), short enough to see several drains before the deadline.
	d, out := startDemo(t, Options{Dir: dir, DrainEvery: 2 * time.Second, Traefik: bin})
	select {
	case <-d.Ready():
	case <-time.After(traefikPatience):
		t.Fatalf("Ready not closed after %s", traefikPatience)
	}
	a := d.Addrs()
	if a.Traefik == "" || !strings.HasPrefix(a.Wasm, "unix://") {
		t.Fatalf("Addrs = %+v, want Traefik's URL and the wasm host on a Unix socket", a)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := "socket: " + a.Wasm + "\n"; !strings.Contains(string(cfg), want) {
		t.Errorf("configuration lacks %q:\n%s", want, cfg)
	}
	if s := out.String(); !strings.Contains(s, "curl -H 'Host: "+AppHost+"' "+a.Traefik+"/hello") {
		t.Errorf("output lacks the curl line for Traefik:\n%s", s)
	}

	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	get := func(t *testing.T, host, path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, a.Traefik+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s%s through Traefik: %v", host, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s%s through Traefik: %v", host, path, err)
		}
		return resp, strings.TrimSpace(string(b))
	}

	t.Run("fileserver", func(t *testing.T) {
		resp, body := get(t, AppHost, "/cat.txt")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "finicky, but served") {
			t.Errorf("GET /cat.txt = %d %q, want the site's cat.txt from fileserver.wasm", resp.StatusCode, body)
		}
	})
	t.Run("edge redirect", func(t *testing.T) {
		resp, _ := get(t, AppHost, "/old")
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/" {
			t.Errorf("GET /old = %d Location %q, want 301 to / from redirect.wasm", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("fileserver inside Traefik", func(t *testing.T) {
		resp, body := get(t, AppHost, "/files/cat.txt")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "finicky, but served") || resp.Header.Get("Etag") == "" {
			t.Errorf("GET /files/cat.txt = %d %q (ETag %q), want the site's cat.txt from the http-wasm fileserver",
				resp.StatusCode, body, resp.Header.Get("Etag"))
		}
		if resp, body := get(t, AppHost, "/files/missing"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, AppService+" on ") {
			t.Errorf("GET /files/missing = %d %q, want the app (the fileserver falls through)", resp.StatusCode, body)
		}
	})
	t.Run("redirect inside Traefik", func(t *testing.T) {
		resp, _ := get(t, AppHost, "/moved")
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "/files/" {
			t.Errorf("GET /moved = %d Location %q, want 308 to /files/ from the http-wasm redirect", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("scoreboard", func(t *testing.T) {
		if _, body := get(t, ScoreboardHost, "/"); body != ScoreboardService+" on worker-1" {
			t.Errorf("GET scoreboard / = %q", body)
		}
	})

	t.Run("round robin and drains", func(t *testing.T) {
		// Traefik's round robin over n servers reaches each within n
		// requests, so a worker missing from window consecutive answers is
		// out of Traefik's pool.
		const window = 6
		var (
			recent []string // the last window answers
			seen   = map[string]bool{}
			gone   = map[string]bool{} // missing from a full window
			back   string              // a worker seen again after it was gone
		)
		deadline := time.Now().Add(traefikPatience)
		for back == "" || len(seen) < len(Workers) {
			if time.Now().After(deadline) {
				t.Fatalf("after %s: workers seen %v, gone from Traefik's pool %v, none back; output:\n%s",
					traefikPatience, seen, gone, out.String())
			}
			resp, body := get(t, AppHost, "/hello")
			w, ok := strings.CutPrefix(body, AppService+" on ")
			if resp.StatusCode != http.StatusOK || !ok || !slices.Contains(Workers, w) {
				t.Fatalf("GET /hello = %d %q, want an answer from a worker", resp.StatusCode, body)
			}
			seen[w] = true
			if gone[w] {
				back = w
			}
			recent = append(recent, w)
			if len(recent) > window {
				recent = recent[1:]
			}
			if len(recent) == window && len(seen) == len(Workers) {
				for _, x := range Workers {
					if !slices.Contains(recent, x) {
						gone[x] = true
					}
				}
			}
			time.Sleep(20 * time.Millisecond) // pacing the requests, not a wait for a result
		}
		if s := out.String(); !strings.Contains(s, "drain: "+back+" drained") {
			t.Errorf("%s left Traefik's pool and came back, but the demo did not drain it:\n%s", back, s)
		}
	})
}

func TestSocketPath(t *testing.T) {
	t.Parallel()
	short := t.TempDir()
	if p, cleanup, err := socketPath(short); err != nil || p != filepath.Join(short, "wasm.sock") {
		t.Errorf("socketPath(%q) = %q, %v; want the socket in that directory", short, p, err)
	} else {
		cleanup()
	}

	long := filepath.Join(t.TempDir(), strings.Repeat("d", maxSocketPath))
	p, cleanup, err := socketPath(long)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) > maxSocketPath || strings.HasPrefix(p, long) {
		t.Errorf("socketPath(<%d bytes>) = %q, want a short path elsewhere", len(long), p)
	}
	if _, err := os.Stat(filepath.Dir(p)); err != nil {
		t.Errorf("the socket's directory: %v", err)
	}
	cleanup()
	if _, err := os.Stat(filepath.Dir(p)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after cleanup, the socket's directory: %v, want it gone", err)
	}
}
