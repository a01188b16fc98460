package builder

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/whiskers-dev/whiskers/internal/realbin"
	"github.com/whiskers-dev/whiskers/internal/realbin/realbintest"
	"github.com/whiskers-dev/whiskers/internal/traefikproc"
)

// traefikExpected lists the objects of a golden file that Traefik is
// expected to reject, and why.
var traefikExpected = map[string]map[string]string{
	"middlewares.golden.yaml": {
		"middlewares/wasm@file": "plugin: unknown plugin type", // no plugin in this Traefik
		"routers/app@file":      "plugin: unknown plugin type", // uses it
	},
}

// traefikStatus lists requests (by Host header, on the web entry point) and
// the status Traefik must answer, per golden file.
var traefikStatus = map[string]map[string]int{
	// whiskers.zero=503: the router stays, its service has no servers.
	"health.golden.yaml": {"all-down": http.StatusServiceUnavailable, "no-such-host": http.StatusNotFound},
}

// TestGoldensLoadInTraefik loads every golden file into a real Traefik (file
// provider) and checks through its API that every router, service and
// middleware is enabled. The binary comes from `make traefik` (or
// $WHISKERS_TRAEFIK_BIN); without it the test skips, or fails under CI=true.
func TestGoldensLoadInTraefik(t *testing.T) {
	bin := realbintest.Bin(t, realbin.Traefik)
	goldens, err := filepath.Glob("testdata/*.golden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		t.Run(filepath.Base(g), func(t *testing.T) {
			checkInTraefik(t, bin, g, traefikExpected[filepath.Base(g)], traefikStatus[filepath.Base(g)])
		})
	}
}

// objects lists "kind/name@file" for every object of a golden file, with
// kind as Traefik's API names it (routers, tcpServices, …).
func objects(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]map[string]map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	var out []string
	for sec, kinds := range cfg {
		if sec == "tls" {
			continue
		}
		for kind, objs := range kinds {
			api := kind
			if sec != "http" {
				api = sec + strings.ToUpper(kind[:1]) + kind[1:]
			}
			for name := range objs {
				out = append(out, api+"/"+name+"@file")
			}
		}
	}
	return out
}

func checkInTraefik(t *testing.T, bin, golden string, expected map[string]string, status map[string]int) {
	abs, err := filepath.Abs(golden)
	if err != nil {
		t.Fatal(err)
	}
	// The golden file is the file provider's, read as it is; Start picks
	// the web and API ports (again, if one was taken meanwhile).
	p, err := traefikproc.Start(t.Context(), traefikproc.Options{
		Bin: bin, Dir: t.TempDir(), DynamicFile: abs, NoPlugins: true, // no plugin in this Traefik
		EntryPoints: map[string]string{
			"websecure": "127.0.0.1:0", "postgres": "127.0.0.1:0", "mqtt": "127.0.0.1:0",
			"raw": "127.0.0.1:0", "dns": "127.0.0.1:0/udp",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Close()
		if t.Failed() {
			t.Logf("traefik output:\n%s", p.Logs())
		}
	})

	want := objects(t, golden)
	var raw map[string]map[string]struct {
		Status string   `json:"status"`
		Err    []string `json:"error"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		raw = nil
		if resp, err := http.Get(p.APIURL + "/api/rawdata"); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&raw)
			resp.Body.Close()
		}
		missing := ""
		for _, o := range want {
			kind, name, _ := strings.Cut(o, "/")
			if _, ok := raw[kind][name]; !ok {
				missing = o
				break
			}
		}
		if missing == "" && raw != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Traefik did not load %s within 60 s (missing %s)", golden, missing)
		}
		time.Sleep(100 * time.Millisecond) // polling Traefik's API for a condition
	}
	for _, o := range want {
		kind, name, _ := strings.Cut(o, "/")
		got := raw[kind][name]
		if why, ok := expected[o]; ok {
			if got.Status == "enabled" || !strings.Contains(fmt.Sprint(got.Err), why) {
				t.Errorf("%s: status %q %v, want an error containing %q", o, got.Status, got.Err, why)
			}
			continue
		}
		if got.Status != "enabled" {
			t.Errorf("%s: status %q, errors %v", o, got.Status, got.Err)
		}
	}
	for host, want := range status {
		// The API may show the configuration a moment before the entry
		// point serves it: ask until the answer is right or a deadline.
		got, deadline := 0, time.Now().Add(30*time.Second)
		for got != want && time.Now().Before(deadline) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, p.URL+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = host
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				got = resp.StatusCode
			}
			if got != want {
				time.Sleep(100 * time.Millisecond) // polling Traefik for a condition
			}
		}
		if got != want {
			t.Errorf("GET Host %s: status %d, want %d", host, got, want)
		}
	}
}
