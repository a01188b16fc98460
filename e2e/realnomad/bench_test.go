package realnomad

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/whiskers-dev/whiskers/internal/cluster"
	"github.com/whiskers-dev/whiskers/internal/countproxy"
	"github.com/whiskers-dev/whiskers/internal/httpload"
	"github.com/whiskers-dev/whiskers/internal/traefikproc"
)

const (
	benchHost = "bench.test"
	benchJob  = "bench"
)

// side is one Traefik under comparison: whiskers + Traefik's file provider
// as the job files ship it (on worker-1), or Traefik with its own Nomad
// provider at its best setting (watch, 100 ms throttle), the anchor
// (testdata/anchor-traefik.nomad.hcl: a Nomad task like the shipped one, on
// the same node, with the same CPU share).
type side struct {
	name    string
	api     traefikproc.API
	service string // the bench service's name in this Traefik
	load    *httpload.Load
	nomad   *countproxy.Proxy // its Nomad API, counted
}

// benchEnv is the real cluster with the shipped jobs, the bench job
// (testdata/bench.nomad.hcl: no shutdown_delay, a 1 s check) and the anchor
// Traefik, both Traefiks under the same client load.
type benchEnv struct {
	*env
	sides    []*side
	fileGone time.Duration // when worker-1's syncer wrote the change, after t0; -1 if it did not
}

func startBench(b *testing.B) *benchEnv {
	// Without the finicky job: its plugin middleware would cost the
	// whiskers Traefik an interpreted plugin per reload, and the anchor
	// (which has no plugin) nothing.
	e := startEnvWith(b, true)
	be := &benchEnv{env: e}
	e.runFile(b, "testdata/bench.nomad.hcl", map[string]string{"command": e.testapp})

	anchorNomad := newCounter(b, e.c.Server.Addr)
	e.afterCluster(anchorNomad.Close)
	e.runFile(b, "testdata/anchor-traefik.nomad.hcl", map[string]string{"node": "worker-1", "nomad_addr": anchorNomad.URL()})
	var anchorWeb, anchorAPI string
	eventually(b, "the anchor Traefik running", func() bool {
		ports, err := e.c.Ports(b.Context(), "anchor")
		if err != nil {
			return false
		}
		anchorWeb, anchorAPI = ports["worker-1"]["web"], ports["worker-1"]["admin"]
		return anchorWeb != "" && anchorAPI != ""
	})
	be.sides = []*side{
		{name: "whiskers", api: traefikproc.API(e.api["worker-1"]), service: benchJob + "@file", nomad: e.syncers,
			load: httpload.Start(2, httpload.Target{URL: e.traefik["worker-1"], Host: benchHost, Path: "/"})},
		{name: "anchor", api: traefikproc.API(anchorAPI), service: benchJob + "@nomad", nomad: anchorNomad,
			load: httpload.Start(2, httpload.Target{URL: anchorWeb, Host: benchHost, Path: "/"})},
	}
	for _, s := range be.sides {
		b.Cleanup(s.load.Stop)
	}
	be.waitServers(b, 3)
	return be
}

// runFile submits a job file of this package with variables.
func (e *env) runFile(tb testing.TB, file string, vars map[string]string) {
	tb.Helper()
	abs, err := filepath.Abs(file)
	if err != nil {
		tb.Fatal(err)
	}
	e.run(tb, abs, vars)
}

// waitServers waits until both Traefiks list n bench servers, all up.
func (be *benchEnv) waitServers(tb testing.TB, n int) {
	tb.Helper()
	for _, s := range be.sides {
		eventually(tb, s.name+" listing "+fmt.Sprint(n)+" servers up", func() bool {
			srv, err := s.api.Servers(tb.Context(), s.service)
			if err != nil || len(srv) != n {
				return false
			}
			for _, st := range srv {
				if st != "UP" {
					return false
				}
			}
			return true
		})
	}
}

// benchAddr is the server URL of a bench allocation.
func (be *benchEnv) benchAddr(tb testing.TB, allocID string) string {
	tb.Helper()
	regs, _, err := be.c.API().Services().Get(benchJob, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range regs {
		if r.AllocID == allocID {
			return fmt.Sprintf("http://%s:%d", r.Address, r.Port)
		}
	}
	tb.Fatalf("no registration of allocation %s", allocID)
	return ""
}

// watchGone polls both Traefiks every 5 ms from t0 until url is out of
// their pool (gone, or down after a failed health check) and returns how
// long that took on each side; -1 where it stayed past limit. It records
// in fileGone when worker-1's syncer wrote a file without url.
func (be *benchEnv) watchGone(tb testing.TB, url string, t0 time.Time, limit time.Duration) map[string]time.Duration {
	tb.Helper()
	out := map[string]time.Duration{}
	deadline := t0.Add(limit)
	file := filepath.Join(be.c.Volume(0, "whiskers-dynamic"), "dynamic.yaml")
	be.fileGone = -1
	for len(out) < len(be.sides) {
		if be.fileGone < 0 {
			if b, err := os.ReadFile(file); err == nil && !strings.Contains(string(b), url) {
				be.fileGone = time.Since(t0)
			}
		}
		for _, s := range be.sides {
			if _, done := out[s.name]; done {
				continue
			}
			srv, err := s.api.Servers(tb.Context(), s.service)
			if err != nil {
				continue
			}
			if st, ok := srv[url]; !ok || st == "DOWN" {
				out[s.name] = time.Since(t0)
			}
		}
		if time.Now().After(deadline) {
			for _, s := range be.sides {
				if _, done := out[s.name]; !done {
					out[s.name] = -1 // not within limit
				}
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return out
}

// tally is what one side paid for a series of changes.
type tally struct {
	failed   int
	gone     []time.Duration
	requests int64
	bytes    int64
}

// measure runs change n times on both sides and reports, per side, the
// failed requests and Nomad requests per change and the median time until
// the changed instance left the pool.
func (be *benchEnv) measure(b *testing.B, limit time.Duration, change func(i int) (url string, t0 time.Time, settle func())) {
	var fileGone []time.Duration
	tallies := map[string]*tally{}
	for _, s := range be.sides {
		tallies[s.name] = &tally{}
	}
	for i := range b.N {
		before := map[string][3]int64{}
		for _, s := range be.sides {
			before[s.name] = [3]int64{int64(s.load.Failures()), s.nomad.Requests(), s.nomad.Bytes()}
		}
		url, t0, settle := change(i)
		gone := be.watchGone(b, url, t0, limit)
		fileGone = append(fileGone, be.fileGone)
		settle()
		time.Sleep(time.Second) // stragglers: requests already on their way
		for _, s := range be.sides {
			tl := tallies[s.name]
			tl.failed += s.load.Failures() - int(before[s.name][0])
			tl.requests += s.nomad.Requests() - before[s.name][1]
			tl.bytes += s.nomad.Bytes() - before[s.name][2]
			tl.gone = append(tl.gone, gone[s.name])
		}
	}
	// The syncer's own part: the change in the file (catalog changes only).
	fileGone = slices.DeleteFunc(fileGone, func(d time.Duration) bool { return d < 0 })
	if len(fileGone) > 0 {
		slices.Sort(fileGone)
		b.ReportMetric(float64(fileGone[len(fileGone)/2].Microseconds())/1000, "whiskers-file-ms")
		b.Logf("file written after %v", fileGone)
	}
	syncers := int64(len(be.c.Clients)) // every node's syncer reads Nomad
	for _, s := range be.sides {
		tl := tallies[s.name]
		readers := int64(1)
		if s.name == "whiskers" {
			readers = syncers
		}
		slices.Sort(tl.gone)
		b.ReportMetric(float64(tl.failed)/float64(b.N), s.name+"-failed/op")
		b.ReportMetric(float64(tl.gone[len(tl.gone)/2].Milliseconds()), s.name+"-gone-ms")
		b.ReportMetric(float64(tl.requests)/float64(readers)/float64(b.N), s.name+"-nomad-reqs/op")
		b.ReportMetric(float64(tl.bytes)/float64(readers)/float64(b.N), s.name+"-nomad-B/op")
		b.Logf("%s: failed %d over %d changes, gone after %v, %s", s.name, tl.failed, b.N, tl.gone, s.load.Summary())
	}
}

// BenchmarkOnNomad compares whiskers with Traefik's own Nomad provider on
// the real cluster, under two keep-alive clients per Traefik, for each kind
// of change: failed requests per change, the median time until the changed
// instance leaves the pool (ms), and each reader's Nomad requests and bytes
// per change. Run it with a count, e.g.
//
//	go test ./e2e/realnomad -run '^$' -bench OnNomad -benchtime 5x
func BenchmarkOnNomad(b *testing.B) {
	be := startBench(b)

	b.Run("alloc-stop", func(b *testing.B) {
		be.measure(b, time.Minute, func(i int) (string, time.Time, func()) {
			victim := be.benchAlloc(b, "")
			url := be.benchAddr(b, victim.ID)
			// From when Nomad has taken the stop: the command line's own start
			// (~100 ms of a 75 MB binary on this loaded machine) is no part
			// of either side.
			be.nomad(b, "alloc", "stop", "-detach", victim.ID)
			t0 := time.Now()
			return url, t0, func() { be.waitReplaced(b, victim.ID) }
		})
	})

	b.Run("node-drain", func(b *testing.B) {
		be.measure(b, time.Minute, func(i int) (string, time.Time, func()) {
			// Not worker-1: it carries the measured Traefik.
			victim := be.benchAllocNotOn(b, "worker-1")
			node := be.clientNamed(b, victim.NodeName)
			url := be.benchAddr(b, victim.ID)
			be.nomad(b, "node", "drain", "-enable", "-yes", "-detach", "-ignore-system", node.NodeID)
			t0 := time.Now() // from when Nomad has taken the drain
			return url, t0, func() {
				be.waitReplaced(b, victim.ID)
				be.nomad(b, "node", "drain", "-disable", "-yes", node.NodeID)
			}
		})
	})

	b.Run("check-fails", func(b *testing.B) {
		be.measure(b, 3*time.Second, func(i int) (string, time.Time, func()) {
			victim := be.benchAlloc(b, "")
			url := be.benchAddr(b, victim.ID)
			t0 := time.Now()
			post(b, url+"/_sick")
			return url, t0, func() {
				// Both sides pay for 3 s of a sick instance, then it heals.
				post(b, url+"/_well")
				be.waitServers(b, 3)
			}
		})
	})
}

// benchAlloc is a running bench allocation, on node if given.
func (be *benchEnv) benchAlloc(tb testing.TB, node string) *nomadapi.AllocationListStub {
	tb.Helper()
	for _, a := range be.allocs(tb, benchJob, "app") {
		if node == "" || a.NodeName == node {
			return a
		}
	}
	tb.Fatalf("no bench allocation on %q", node)
	return nil
}

// benchAllocNotOn is a running bench allocation on another node than node.
func (be *benchEnv) benchAllocNotOn(tb testing.TB, node string) *nomadapi.AllocationListStub {
	tb.Helper()
	for _, a := range be.allocs(tb, benchJob, "app") {
		if a.NodeName != node {
			return a
		}
	}
	tb.Fatalf("every bench allocation is on %s", node)
	return nil
}

// clientNamed is the cluster's client agent called name.
func (be *benchEnv) clientNamed(tb testing.TB, name string) *cluster.Agent {
	tb.Helper()
	for _, a := range be.c.Clients {
		if a.Name == name {
			return a
		}
	}
	tb.Fatalf("no client %s", name)
	return nil
}

// waitReplaced waits until Nomad runs three bench copies without victim
// and both Traefiks route to them.
func (be *benchEnv) waitReplaced(tb testing.TB, victim string) {
	tb.Helper()
	eventually(tb, "the bench copy replaced", func() bool {
		a := be.allocs(tb, benchJob, "app")
		return len(a) == 3 && !slices.ContainsFunc(a, func(s *nomadapi.AllocationListStub) bool { return s.ID == victim })
	})
	be.waitServers(tb, 3)
}
