package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/whiskers-dev/whiskers/internal/syncbuf"
	"github.com/whiskers-dev/whiskers/syncer/builder"
	"github.com/whiskers-dev/whiskers/syncer/status"

	"github.com/whiskers-dev/whiskers/internal/testkit"
)

// startDemo runs a demo with opts (Out and Logger set by it) until the
// test ends, and returns it with what it prints.
func startDemo(t *testing.T, opts Options) (*Demo, *syncbuf.Buffer) {
	t.Helper()
	out := &syncbuf.Buffer{}
	opts.Out = out
	opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return 30s after its context ended")
		}
		t.Logf("demo output:\n%s", out.String())
	})
	return d, out
}

// TestDemo runs the demo with a short drain period and checks the
// configuration file it writes: the three finicky workers, then a worker
// drained, then back.
func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "whiskers-demo")
	d, out := startDemo(t, Options{Dir: dir, DrainEvery: time.Second})

	file := filepath.Join(dir, ConfigFile)
	read := func(t *testing.T) map[string][]string {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil
		}
		s, err := Servers(b)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return s
	}

	var servers map[string][]string
	testkit.WaitFor(t, "the first configuration", func() bool {
		servers = read(t)
		return len(servers[AppService]) == 3
	})
	t.Run("initial configuration", func(t *testing.T) {
		if got := len(servers[ScoreboardService]); got != 1 {
			t.Errorf("scoreboard servers = %d, want 1 (from Consul)", got)
		}
		if _, ok := servers[RedisService]; ok {
			t.Errorf("redis is in the configuration; it has no routing tags")
		}
		// Every server is a worker, each worker once.
		var who []string
		for _, u := range servers[AppService] {
			who = append(who, strings.TrimPrefix(get(t, u+"/"), AppService+" on "))
		}
		slices.Sort(who)
		if !slices.Equal(who, Workers) {
			t.Errorf("finicky servers answer as %q, want %q", who, Workers)
		}
		cfg, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Host(`finicky.localhost`)", "handler: fileserver", "finicky-static"} {
			if !bytes.Contains(cfg, []byte(want)) {
				t.Errorf("configuration lacks %q:\n%s", want, cfg)
			}
		}
	})
	// The file is written before the demo hears of it; the front's servers
	// are set when it does.
	select {
	case <-d.Ready():
	case <-time.After(60 * time.Second):
		t.Fatal("Ready not closed 60s after the configuration was written")
	}
	addrs := d.Addrs()
	t.Run("wasm host", func(t *testing.T) {
		// The middleware in the configuration forwards to the demo's wasm host.
		cfg, _ := os.ReadFile(file)
		if want := "socket: " + addrs.Wasm + "\n"; !bytes.Contains(cfg, []byte(want)) {
			t.Errorf("configuration lacks %q:\n%s", want, cfg)
		}
		if body := get(t, addrs.Wasm+"/cat.txt"); !strings.Contains(body, "finicky") {
			t.Errorf("GET %s/cat.txt = %q, want the site's cat.txt", addrs.Wasm, body)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(addrs.Wasm + "/old")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/" {
			t.Errorf("GET /old = %d Location %q, want 301 to /", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("front", func(t *testing.T) {
		// A file: answered by fileserver.wasm through the plugin.
		if body := get(t, addrs.Front+"/cat.txt"); !strings.Contains(body, "finicky, but served") {
			t.Errorf("GET front/cat.txt = %q, want the site's cat.txt", body)
		}
		// Not a file: the plugin falls through to the workers, which take
		// turns. At most one is drained at a time, so six requests reach at
		// least two of them.
		seen := map[string]bool{}
		for range 6 {
			body := get(t, addrs.Front+"/hello")
			if !strings.HasPrefix(body, AppService+" on worker-") {
				t.Fatalf("GET front/hello = %q, want an answer from a worker", body)
			}
			seen[body] = true
		}
		if len(seen) < 2 {
			t.Errorf("six requests through the front reached %d worker(s): %v", len(seen), seen)
		}
	})

	t.Run("drain cycle", func(t *testing.T) {
		testkit.WaitFor(t, "a finicky worker drained from the file", func() bool {
			return len(read(t)[AppService]) == 2
		})
		// The status page says why: the drained worker's instance is not
		// routed because its node drains.
		testkit.WaitFor(t, "the status saying which instance drains", func() bool {
			var st status.Status
			if err := json.Unmarshal([]byte(get(t, addrs.Status+"status.json")), &st); err != nil {
				t.Fatal(err)
			}
			sd, _ := st.Service(AppService)
			draining := 0
			for _, d := range sd.Instances {
				if !d.Routed && d.Reason == builder.ReasonDraining {
					draining++
				}
			}
			return draining == 1
		})
		if page := get(t, addrs.Status); !strings.Contains(page, builder.ReasonDraining) {
			t.Errorf("the status page does not say %q", builder.ReasonDraining)
		}
		testkit.WaitFor(t, "the drained worker back in the file", func() bool {
			return len(read(t)[AppService]) == 3
		})
		testkit.WaitFor(t, "the demo to print both changes", func() bool {
			s := out.String()
			return strings.Contains(s, "config: - finicky server") && strings.Contains(s, "config: + finicky server")
		})
		s := out.String()
		for _, want := range []string{"fake Nomad", "wasm host", "front", "curl ", "config: dynamic.yaml written: finicky: 3 servers (worker-1, worker-2, worker-3)", "drain: worker-1 drained"} {
			if !strings.Contains(s, want) {
				t.Errorf("output lacks %q", want)
			}
		}
	})
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestNewMissingHandlers(t *testing.T) {
	_, err := New(Options{HandlersDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "redirect.wasm") {
		t.Errorf("New with an empty handlers dir: err = %v, want one naming redirect.wasm", err)
	}
}

func TestDiff(t *testing.T) {
	names := map[string]string{"http://a": "worker-1", "http://b": "worker-2"}
	for _, tc := range []struct {
		name     string
		old, cur map[string][]string
		want     []string
	}{
		{"same", map[string][]string{"f": {"http://a"}}, map[string][]string{"f": {"http://a"}}, nil},
		{"removed", map[string][]string{"f": {"http://a", "http://b"}}, map[string][]string{"f": {"http://a"}},
			[]string{"- f server http://b (worker-2), 1 left"}},
		{"added", map[string][]string{"f": {"http://a"}}, map[string][]string{"f": {"http://a", "http://c"}},
			[]string{"+ f server http://c (http://c), 2 now"}},
		{"service gone", map[string][]string{"f": {"http://a"}, "g": nil}, map[string][]string{"f": {"http://a"}},
			[]string{"- service g"}},
		{"service new", nil, map[string][]string{"f": {"http://a"}},
			[]string{"+ service f", "+ f server http://a (worker-1), 1 now"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Diff(tc.old, tc.cur, names); !slices.Equal(got, tc.want) {
				t.Errorf("Diff = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	names := map[string]string{"http://a": "worker-1", "http://b": "worker-2"}
	for _, tc := range []struct {
		name    string
		servers map[string][]string
		want    string
	}{
		{"empty", nil, "no HTTP services"},
		{"two", map[string][]string{"s": {"http://x"}, "f": {"http://b", "http://a"}},
			"f: 2 servers (worker-1, worker-2); s: 1 server (http://x)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Summary(tc.servers, names); got != tc.want {
				t.Errorf("Summary = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestServers(t *testing.T) {
	cfg := []byte(`http:
  services:
    f:
      loadBalancer:
        servers:
          - url: http://b
          - url: http://a
    w:
      weighted: {}
`)
	got, err := Servers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got["f"], []string{"http://a", "http://b"}) || got["w"] != nil || len(got) != 2 {
		t.Errorf("Servers = %q", got)
	}
	if _, err := Servers([]byte("http: [")); err == nil {
		t.Errorf("Servers of broken YAML: no error")
	}
}
