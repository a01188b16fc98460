package e2e

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/whiskers-dev/whiskers/internal/gobin"
)

// TestBalancedOverThreeWorkers: requests to Host(finicky.test) that are not
// static files reach all three workers, round robin.
func TestBalancedOverThreeWorkers(t *testing.T) {
	c := startCluster(t)
	for _, w := range c.workers {
		w.hits.Store(0)
	}
	seen := map[string]int{}
	for range 30 {
		r := c.get(appHost, "/hello")
		require.NoError(t, r.Err)
		require.Equal(t, http.StatusOK, r.Status, r.Body)
		seen[strings.TrimSpace(r.Body)]++
	}
	t.Logf("30 requests: %v", seen)
	for _, w := range c.workers {
		// Traefik's weighted round robin with equal weights alternates
		// strictly: 10 each. A reload of the same configuration restarts
		// the rotation, which may move one request from one worker to
		// another, and no more.
		assert.InDelta(t, 10, w.hits.Load(), 1, "requests served by %s (all: %v)", w.name, seen)
	}
}

// TestDrainWithoutErrors: a worker deregistered from Nomad stops receiving
// traffic quickly, and then stops, while clients send requests throughout:
// no client sees an error.
func TestDrainWithoutErrors(t *testing.T) {
	c := startCluster(t)
	l := c.startLoad(2, appHost, "/hello")
	drained := c.workers[1]
	c.eventually("load on every worker", func() bool { return drained.hits.Load() > 20 })

	t0 := time.Now()
	require.True(t, c.nomad.Deregister(c.regs[1].ID))
	c.waitConfig(func(b []byte) bool { return !bytes.Contains(b, []byte(drained.srv.URL)) }, "the drained worker to leave the configuration")
	written := time.Since(t0)
	// The worker is out of Traefik's pool once no request has reached it
	// for a while (requests arrive every few hundred microseconds).
	c.eventually("traffic to leave the drained worker", func() bool {
		return time.Since(drained.lastHit()) > 500*time.Millisecond
	})
	gone := drained.lastHit().Sub(t0)
	t.Logf("drain: deregistered → file written %s, → last request to the worker %s (target ≤ 1s); load: %s",
		written.Round(time.Millisecond), gone.Round(time.Millisecond), l.Summary())
	// Timing is a benchmark's job (BenchmarkDrain); this bound only
	// catches a drain that waits for something it should not (e.g.
	// Traefik's default 2 s throttle, a polling interval).
	assert.Less(t, gone, 5*time.Second, "the drained worker got requests for too long")

	// The allocation stops: its server goes away. Nothing must notice.
	drained.srv.Close()
	before := l.Total()
	c.eventually("more requests after the worker stopped", func() bool { return l.Total() > before+200 })
	l.Stop()
	t.Logf("after the stop: %s", l.Summary())
	assert.Zero(t, l.Failures(), "clients saw errors: %s", l.Summary())
	for _, w := range []*worker{c.workers[0], c.workers[2]} {
		assert.Positive(t, w.hits.Load(), "%s served nothing", w.name)
	}
}

// TestConsulOutage: while Consul is down (connections dropped) and then
// hanging, clients of both routers see no change, and the configuration
// file stays byte for byte the same; when Consul is back, a change goes
// through again.
func TestConsulOutage(t *testing.T) {
	c := startCluster(t)
	before, err := os.ReadFile(c.config)
	require.NoError(t, err)
	score := c.startLoad(1, scoreboardHost, "/")
	app := c.startLoad(1, appHost, "/hello")

	for _, outage := range []struct {
		name string
		set  func(bool)
	}{{"down", c.consul.SetDown}, {"hanging", c.consul.SetHang}} {
		outage.set(true)
		start := score.Total()
		// Long enough for the syncer to retry several times and for
		// Traefik to have applied any change it would have written.
		c.eventually("requests during the outage", func() bool { return score.Total() > start+300 })
		time.Sleep(time.Second) // an outage of over a second, with requests throughout
		after, err := os.ReadFile(c.config)
		require.NoError(t, err)
		assert.Equal(t, string(before), string(after), "configuration changed while Consul was %s", outage.name)
		outage.set(false)
	}
	score.Stop()
	app.Stop()
	t.Logf("scoreboard: %s", score.Summary())
	t.Logf("finicky: %s", app.Summary())
	assert.Zero(t, score.Failures(), "scoreboard clients saw errors: %s", score.Summary())
	assert.Zero(t, app.Failures(), "finicky clients saw errors: %s", app.Summary())
	assert.Positive(t, c.scoreboard[0].hits.Load())
	assert.Positive(t, c.scoreboard[1].hits.Load())

	// Back: a third scoreboard instance registered now is served.
	third := newWorker(t, scoreService, "scoreboard-3")
	c.scoreboard = append(c.scoreboard, third)
	c.consul.Register(c.scoreboardInstance(2))
	c.eventually("the new scoreboard instance to get traffic", func() bool {
		c.get(scoreboardHost, "/")
		return third.hits.Load() > 0
	})
}

// TestEdgeHandlers: the plugin at the edge. Redirects come from
// redirect.wasm (301, 308), static files from fileserver.wasm, and what the
// fileserver does not have (404) falls through to the workers; Traefik's
// own redirectRegex answers next to it. The same handlers as http-wasm
// plugins inside Traefik answer under /edge-old and /edge/.
func TestEdgeHandlers(t *testing.T) {
	c := startCluster(t)
	tests := []struct {
		name, path string
		status     int
		header     map[string]string
		body       string // a substring
	}{
		{"redirect 301", "/old/page?x=1", http.StatusMovedPermanently, map[string]string{"Location": "https://finicky.example/page?x=1"}, ""},
		{"redirect 308", "/moved/here", http.StatusPermanentRedirect, map[string]string{"Location": "/new/here"}, ""},
		{"built-in redirect", "/builtin-old/page", http.StatusMovedPermanently, map[string]string{"Location": "https://finicky.example/page"}, ""},
		{"static file", "/cat.txt", http.StatusOK, map[string]string{"Content-Type": "text/plain; charset=utf-8"}, "served by fileserver.wasm"},
		{"index", "/", http.StatusOK, map[string]string{"Content-Type": "text/html; charset=utf-8"}, "finicky whiskers, static"},
		{"not a file: the app", "/hello", http.StatusOK, nil, "finicky on worker-"},
		{"missing file: the app", "/missing.txt", http.StatusOK, nil, "finicky on worker-"},
		{"redirect in Traefik", "/edge-old/page?x=1", http.StatusMovedPermanently, map[string]string{"Location": "https://finicky.example/page?x=1"}, ""},
		{"static file in Traefik", "/edge/cat.txt", http.StatusOK, map[string]string{"Content-Type": "text/plain; charset=utf-8"}, "served by fileserver.wasm"},
		{"index in Traefik", "/edge/", http.StatusOK, map[string]string{"Content-Type": "text/html; charset=utf-8"}, "finicky whiskers, static"},
		{"missing file in Traefik: the app", "/edge/missing.txt", http.StatusOK, nil, "finicky on worker-"},
		{"traversal in Traefik refused", "/edge/..%2fcluster_test.go", http.StatusBadRequest, nil, "400 Bad Request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.get(appHost, tc.path)
			require.NoError(t, r.Err)
			assert.Equal(t, tc.status, r.Status, "body %q", r.Body)
			for k, v := range tc.header {
				assert.Equal(t, v, r.Header.Get(k), "header %s", k)
			}
			assert.Contains(t, r.Body, tc.body)
		})
	}
}

// TestWasmHostDown: with the wasm host stopped, each middleware's
// onHostDown is what clients see: the static middleware ("next") passes
// requests to the workers, the redirect ("503") answers 503. When the host
// is back, the handlers answer again.
func TestWasmHostDown(t *testing.T) {
	c := startCluster(t)
	require.Contains(t, c.get(appHost, "/cat.txt").Body, "served by fileserver.wasm")

	c.wasm.Stop(syscall.SIGKILL, 10*time.Second) // as if it crashed: no graceful close
	r := c.get(appHost, "/cat.txt")
	require.NoError(t, r.Err)
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, "finicky on worker-", "onHostDown=next: the app answers")
	r = c.get(appHost, "/old/page")
	require.NoError(t, r.Err)
	assert.Equal(t, http.StatusServiceUnavailable, r.Status, "onHostDown=503: body %q", r.Body)

	c.wasm = c.startWasmHost(gobin.Build(t, whiskersPkg))
	// Each middleware has its own connection pool and cool-down: after a
	// failed dial it answers host-down without dialing for
	// hostDownCooldown (1 s), so each comes back on its own.
	c.eventually("the fileserver to answer again", func() bool {
		return strings.Contains(c.get(appHost, "/cat.txt").Body, "served by fileserver.wasm")
	})
	c.eventually("the redirect to answer again", func() bool {
		return c.get(appHost, "/old/page").Status == http.StatusMovedPermanently
	})
}
