package realnomad

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whiskers-dev/whiskers/internal/httpload"
)

// TestOnNomad runs the shipped jobs on the real cluster and then each
// scenario in turn on the same cluster. The app has the shipped job's
// shutdown_delay; BenchmarkOnNomad measures without.
func TestOnNomad(t *testing.T) {
	e := startEnv(t)

	t.Run("every node balances and writes the same file", func(t *testing.T) {
		var first []byte
		for i := range e.c.Clients {
			b, err := os.ReadFile(filepath.Join(e.c.Volume(i, "whiskers-dynamic"), "dynamic.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = b
			} else if !bytes.Equal(first, b) {
				t.Errorf("dynamic.yaml on %s differs from worker-1's", e.c.Clients[i].Name)
			}
		}
	})

	t.Run("static files at the edge through the plugin", func(t *testing.T) {
		want, err := os.ReadFile("../testdata/site/cat.txt")
		if err != nil {
			t.Fatal(err)
		}
		for _, node := range e.nodes() {
			// Served by fileserver.wasm in the node's wasm host, through the
			// plugin in Traefik and the socket in the shared host volume.
			r := e.get(node, appHost, "/cat.txt")
			if r.Err != nil || r.Status != http.StatusOK || r.Body != string(want) {
				t.Errorf("%s: GET /cat.txt: %d %v %q, want the site's cat.txt", node, r.Status, r.Err, r.Body)
			}
		}
	})

	t.Run("static files and redirects inside Traefik", func(t *testing.T) {
		want, err := os.ReadFile("../testdata/site/cat.txt")
		if err != nil {
			t.Fatal(err)
		}
		e.runFile(t, "testdata/files.nomad.hcl", map[string]string{"command": e.testapp})
		for _, node := range e.nodes() {
			// Served by the fileserver's http-wasm plugin in the node's
			// Traefik, from the site its job fetched and mounted read-only.
			eventually(t, node+" serving /files/cat.txt", func() bool {
				r := e.get(node, "files.test", "/files/cat.txt")
				return r.Err == nil && r.Status == http.StatusOK && r.Body == string(want)
			})
			// What it does not have goes on to the app, once the app runs.
			eventually(t, node+" passing /files/missing.txt to the app", func() bool {
				r := e.get(node, "files.test", "/files/missing.txt")
				return r.Err == nil && r.Status == http.StatusOK && strings.Contains(r.Body, "files app")
			})
			if r := e.get(node, "files.test", "/moved"); r.Status != http.StatusPermanentRedirect || r.Header.Get("Location") != "/files/" {
				t.Errorf("%s: GET /moved: %d %v Location %q, want 308 to /files/", node, r.Status, r.Err, r.Header.Get("Location"))
			}
		}
	})

	t.Run("one service from both catalogs, merged", func(t *testing.T) {
		e.runFile(t, "testdata/scoreboard.nomad.hcl", map[string]string{"command": e.testapp})
		eventually(t, "both copies of scoreboard answering", func() bool {
			seen := map[string]bool{}
			for range 6 {
				r := e.get("worker-1", scoreHost, "/")
				if r.Err != nil || r.Status != http.StatusOK {
					return false
				}
				seen[strings.TrimSpace(r.Body)] = true
			}
			return seen["scoreboard from consul"] && seen["scoreboard from nomad"]
		})
	})

	t.Run("allocation stop", func(t *testing.T) {
		l := e.load(t, "worker-1")
		e.stopAndReplace(t, "worker-3")
		e.waitBalanced(t, "worker-1", "v1", 3)
		noFailures(t, l, "the stop")
	})

	t.Run("node drain", func(t *testing.T) {
		// A node with a copy of the app but not Redis (nor worker-1, whose
		// Traefik the clients use): when Redis moves, the app's template
		// restarts every copy, which is the job's own doing, not a drain's.
		node := e.nodeWithout(t, "redis")
		l := e.load(t, "worker-1")
		e.nomad(t, "node", "drain", "-enable", "-yes", "-detach", "-deadline", "1m", node.NodeID)
		eventually(t, node.Name+"'s copy moved", func() bool {
			return e.allocOn(t, appJob, appService, node.Name) == nil && len(e.allocs(t, appJob, appService)) == 3
		})
		e.waitBalanced(t, "worker-1", "v1", 3)
		e.nomad(t, "node", "drain", "-disable", "-yes", node.NodeID)
		// The system jobs come back to the node; its Traefik has new ports.
		e.findTraefiks(t)
		eventually(t, "whiskers back on "+node.Name, func() bool {
			return e.allocOn(t, "whiskers", "whiskers", node.Name) != nil
		})
		e.waitBalanced(t, node.Name, "v1", 3)
		noFailures(t, l, "the drain")
	})

	t.Run("failing check", func(t *testing.T) {
		l := e.load(t, "worker-1")
		sick := e.appAddr(t, e.allocs(t, appJob, appService)[0].NodeName)
		post(t, sick+"/_sick")
		e.waitBalanced(t, "worker-1", "v1", 2)
		failed := l.Failures()
		post(t, sick+"/_well")
		e.waitBalanced(t, "worker-1", "v1", 3)
		l.Stop()
		t.Logf("%d requests, %d failed until the sick copy left: %s", l.Total(), failed, l.Summary())
	})

	t.Run("syncer restarted", func(t *testing.T) {
		l := e.load(t, "worker-1")
		file := filepath.Join(e.c.Volume(0, "whiskers-dynamic"), "dynamic.yaml")
		// The cluster settled after the last scenario: the file has not
		// changed for two seconds.
		eventually(t, "a settled file", func() bool {
			fi, err := os.Stat(file)
			return err == nil && time.Since(fi.ModTime()) > 2*time.Second
		})
		e.recordFile(t, 0)
		before, _ := os.ReadFile(file)
		fi, _ := os.Stat(file)
		sync := e.allocOn(t, "whiskers", "whiskers", "worker-1")
		e.nomad(t, "alloc", "restart", sync.ID, "sync")
		time.Sleep(2 * time.Second) // the syncer back and caught up: nothing to observe but its silence
		after, _ := os.ReadFile(file)
		fi2, _ := os.Stat(file)
		if !bytes.Equal(before, after) || !fi.ModTime().Equal(fi2.ModTime()) {
			t.Errorf("the restarted syncer rewrote an unchanged file")
		}
		noFailures(t, l, "the syncer's restart")
	})

	t.Run("canary, then promotion", func(t *testing.T) {
		l := e.load(t, "worker-1")
		vars := e.with(map[string]string{"canaries": "1", "app_args": appArgs("v2")})
		e.run(t, "finicky-whiskers.nomad.hcl", vars)
		// One canary at whiskers' default weight (10%) beside the three v1.
		eventually(t, "the canary routed at its weight", func() bool {
			counts := e.round("worker-1", 100)
			return counts["v2"] >= 5 && counts["v2"] <= 15 && counts["v1"] == 100-counts["v2"]
		})
		e.nomad(t, "deployment", "promote", e.deployment(t, e.jobVersion(t)).ID)
		e.waitBalanced(t, "worker-1", "v2", 3)
		e.appVars = vars
		noFailures(t, l, "the canary deployment")
	})

	t.Run("failed deployment reverts", func(t *testing.T) {
		l := e.load(t, "worker-1")
		// v3 never passes its check: the deployment fails and Nomad rolls
		// back to v2.
		e.run(t, "finicky-whiskers.nomad.hcl", e.with(map[string]string{"canaries": "0", "app_args": appArgs("v3", "--sick")}))
		v3 := e.jobVersion(t)
		eventually(t, "the v3 deployment failed", func() bool {
			d := e.deployment(t, v3)
			return d != nil && d.Status == "failed"
		})
		eventually(t, "the job reverted", func() bool { return e.jobVersion(t) > v3 })
		e.waitBalanced(t, "worker-1", "v2", 3)
		noFailures(t, l, "the failed deployment")
	})

	t.Run("job stopped", func(t *testing.T) {
		e.nomad(t, "job", "stop", "-detach", appJob)
		// A stopped job's services leave Nomad's catalog: its routers go, as
		// with Traefik's own provider. (whiskers.zero is for services whose
		// instances are registered but none is healthy.)
		eventually(t, "404 for the stopped app", func() bool {
			return e.get("worker-1", appHost, "/hello").Status == http.StatusNotFound
		})
		e.run(t, "finicky-whiskers.nomad.hcl", e.appVars)
		e.waitBalanced(t, "worker-1", "v2", 3)
	})

	t.Run("nomad server restarted", func(t *testing.T) {
		l := e.load(t, "worker-1")
		e.recordFile(t, 0)
		e.c.Server.Stop()
		// The last good configuration stays while Nomad is gone.
		start := l.Total()
		eventually(t, "requests while Nomad is down", func() bool { return l.Total() > start+500 })
		if err := e.c.Server.Restart(t.Context()); err != nil {
			t.Fatal(err)
		}
		// Recovery: a change after the restart reaches Traefik.
		e.stopAndReplace(t, "worker-2")
		e.waitBalanced(t, "worker-1", "v2", 3)
		noFailures(t, l, "the server's restart")
	})
}

// noFailures stops the clients and fails t if any request failed through
// what happened meanwhile.
func noFailures(t *testing.T, l *httpload.Load, what string) {
	t.Helper()
	l.Stop()
	t.Logf("%d requests: %s", l.Total(), l.Summary())
	if n := l.Failures(); n > 0 {
		t.Errorf("%d failed requests through %s", n, what)
	}
}
