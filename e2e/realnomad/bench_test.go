package realnomad

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

// side is one Traefik under comparison, the one on worker-1: whiskers +
// Traefik's file provider as the job files ship it, or Traefik with its own
// provider of the catalog under test at its best setting (watch, 100 ms
// throttle), the anchor (testdata/anchor-traefik.nomad.hcl: a system job
// like the shipped one, with the same CPU share).
type side struct {
	name    string
	api     traefikproc.API
	service string // the bench service's name in this Traefik
	load    *httpload.Load
	reads   *countproxy.Proxy // its API of the catalog under test, counted
}

// benchEnv is the real cluster with the shipped jobs, the bench job
// (testdata/bench.nomad.hcl: no shutdown_delay, a 1 s check) and the anchor
// Traefik, both Traefiks under the same client load.
type benchEnv struct {
	*env
	catalog  string // "nomad" or "consul": where the bench service registers
	versions int    // deployments so far
	delay    string // the bench job's shutdown_delay ("": none)
	sides    []*side
	fileAt   time.Time                // when worker-1's syncer wrote the change (renamed the file into place); zero if it did not
	gone     map[string]time.Duration // the last change's time until gone, by side
}

// startBench starts the cluster, the bench job registered in catalog
// ("nomad" or "consul") and the anchor Traefik with its own provider of
// that catalog.
func startBench(b *testing.B, catalog string) *benchEnv {
	// Without the finicky job: its plugin middleware would cost the
	// whiskers Traefik an interpreted plugin per reload, and the anchor
	// (which has no plugin) nothing.
	e := startEnvWith(b, true)
	be := &benchEnv{env: e, catalog: catalog}
	e.runFile(b, "testdata/bench.nomad.hcl", map[string]string{"command": e.testapp, "provider": catalog})

	target, whiskersReads, provider := e.c.Server.Addr, e.syncers, "nomad"
	if catalog == "consul" {
		target, whiskersReads, provider = "http://"+e.c.ConsulAddr, e.consuls, "consulcatalog"
	}
	anchorReads := newCounter(b, target)
	e.afterCluster(anchorReads.Close)
	args := fmt.Sprintf(`["--providers.%[1]s=true", "--providers.%[1]s.watch=true", "--providers.%[1]s.exposedByDefault=false", "--providers.%[1]s.endpoint.address=%[2]s"]`,
		provider, anchorReads.URL())
	e.runFile(b, "testdata/anchor-traefik.nomad.hcl", map[string]string{"provider_args": args})
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
		{name: "whiskers", api: traefikproc.API(e.api["worker-1"]), service: benchJob + "@file", reads: whiskersReads,
			load: httpload.Start(2, httpload.Target{URL: e.traefik["worker-1"], Host: benchHost, Path: "/"})},
		{name: "anchor", api: traefikproc.API(anchorAPI), service: benchJob + "@" + provider, reads: anchorReads,
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
		var last map[string]string // what it listed last, for the failure message
		defer func() {
			if tb.Failed() {
				tb.Logf("%s listed %v", s.name, last)
			}
		}()
		eventually(tb, s.name+" listing "+fmt.Sprint(n)+" servers up", func() bool {
			srv, err := s.api.Servers(tb.Context(), s.service)
			last = srv
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
	if be.catalog == "consul" {
		// Nomad names its Consul registrations _nomad-task-<alloc>-….
		entries, _, err := be.c.ConsulAPI().Catalog().Service(benchJob, "", nil)
		if err != nil {
			tb.Fatal(err)
		}
		for _, e := range entries {
			if strings.Contains(e.ServiceID, allocID) {
				return fmt.Sprintf("http://%s:%d", e.ServiceAddress, e.ServicePort)
			}
		}
		tb.Fatalf("no Consul registration of allocation %s", allocID)
	}
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
// in fileAt when worker-1's syncer wrote a file without url: possibly
// before t0, which is when the command returned, and may follow Nomad's
// own commit of the change on this busy machine.
func (be *benchEnv) watchGone(tb testing.TB, url string, t0 time.Time, limit time.Duration) map[string]time.Duration {
	tb.Helper()
	out := map[string]time.Duration{}
	deadline := t0.Add(limit)
	file := filepath.Join(be.c.Volume(0, "whiskers-dynamic"), "dynamic.yaml")
	be.fileAt = time.Time{}
	for len(out) < len(be.sides) {
		if be.fileAt.IsZero() {
			// Written through a rename: the file's change time is when
			// the syncer renamed it into place, which is when Traefik's
			// watcher hears of it (its modification time is the earlier
			// write of the temporary file); finer than this loop's
			// polling. url ends its line: http://…:2019 is in
			// http://…:20190.
			if b, err := os.ReadFile(file); err == nil && !strings.Contains(string(b), url+"\n") {
				if fi, err := os.Stat(file); err == nil {
					st := fi.Sys().(*syscall.Stat_t)
					be.fileAt = time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
				}
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

// cpuStall is how long, in all, some runnable task has waited for a CPU
// on this machine (/proc/pressure/cpu, "some"); -1 without it.
func cpuStall() time.Duration {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "some "); ok {
			for _, f := range strings.Fields(rest) {
				if v, ok := strings.CutPrefix(f, "total="); ok {
					if us, err := strconv.ParseInt(v, 10, 64); err == nil {
						return time.Duration(us) * time.Microsecond
					}
				}
			}
		}
	}
	return -1
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
	stall0, wall0 := cpuStall(), time.Now()
	tallies := map[string]*tally{}
	for _, s := range be.sides {
		tallies[s.name] = &tally{}
	}
	for i := range b.N {
		before := map[string][3]int64{}
		for _, s := range be.sides {
			before[s.name] = [3]int64{int64(s.load.Failures()), s.reads.Requests(), s.reads.Bytes()}
		}
		url, t0, settle := change(i)
		var gone map[string]time.Duration
		if url != "" { // "": failed requests only
			gone = be.watchGone(b, url, t0, limit)
			if !be.fileAt.IsZero() {
				fileGone = append(fileGone, be.fileAt.Sub(t0))
			}
		}
		be.gone = gone
		settle()
		time.Sleep(time.Second) // stragglers: requests already on their way
		for _, s := range be.sides {
			tl := tallies[s.name]
			tl.failed += s.load.Failures() - int(before[s.name][0])
			tl.requests += s.reads.Requests() - before[s.name][1]
			tl.bytes += s.reads.Bytes() - before[s.name][2]
			if gone != nil {
				tl.gone = append(tl.gone, gone[s.name])
			}
		}
	}
	// How busy the two cores were: the share of the time some runnable
	// task waited for a CPU (the kernel's pressure stall information).
	if stall0 >= 0 {
		b.ReportMetric(100*float64(cpuStall()-stall0)/float64(time.Since(wall0)), "cpu-wait-%")
	}
	// One line of log for the whole series (a benchmark's log keeps ten).
	var summary []string
	defer func() { b.Log(strings.Join(summary, "; ")) }()
	// The syncer's own part: the change in the file (catalog changes only).
	if len(fileGone) > 0 {
		slices.Sort(fileGone)
		b.ReportMetric(float64(fileGone[len(fileGone)/2].Microseconds())/1000, "whiskers-file-ms")
		summary = append(summary, fmt.Sprintf("file written after %v", fileGone))
	}
	// Every node's syncer, and every node's anchor, reads the catalog.
	readers := int64(len(be.c.Clients))
	for _, s := range be.sides {
		tl := tallies[s.name]
		slices.Sort(tl.gone)
		b.ReportMetric(float64(tl.failed)/float64(b.N), s.name+"-failed/op")
		if len(tl.gone) > 0 {
			// The median of the changes whose instance went (-1: none
			// did), and how many stayed in the pool past the watch.
			went := slices.DeleteFunc(slices.Clone(tl.gone), func(d time.Duration) bool { return d < 0 })
			median := float64(-1)
			if len(went) > 0 {
				median = float64(went[len(went)/2].Microseconds()) / 1000
			}
			b.ReportMetric(median, s.name+"-gone-ms")
			b.ReportMetric(float64(len(tl.gone)-len(went))/float64(b.N), s.name+"-never-gone/op")
		}
		b.ReportMetric(float64(tl.requests)/float64(readers)/float64(b.N), s.name+"-"+be.catalog+"-reqs/op")
		b.ReportMetric(float64(tl.bytes)/float64(readers)/float64(b.N), s.name+"-"+be.catalog+"-B/op")
		summary = append(summary, fmt.Sprintf("%s: failed %d over %d changes, gone after %v, %s", s.name, tl.failed, b.N, tl.gone, s.load.Summary()))
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
	benchScenarios(b, startBench(b, "nomad"))
}

// BenchmarkOnConsul is BenchmarkOnNomad with the bench service registered
// in Consul (Consul runs its check) and Traefik's own Consul Catalog
// provider (watch, 100 ms throttle) as the anchor.
//
//	go test ./e2e/realnomad -run '^$' -bench OnConsul -benchtime 5x
func BenchmarkOnConsul(b *testing.B) {
	benchScenarios(b, startBench(b, "consul"))
}

// BenchmarkOnNomadAtScale is BenchmarkOnNomad's allocation stop with 199
// more services of three instances each in the catalog (testdata/
// filler.nomad.hcl), all routed by both sides: Traefik's Nomad provider
// reads every service again on every change, whiskers the changed one
// (or none).
//
//	go test ./e2e/realnomad -run '^$' -bench OnNomadAtScale -benchtime 5x
func BenchmarkOnNomadAtScale(b *testing.B) {
	be := startBench(b, "nomad")
	const fillers = 199
	be.runFile(b, "testdata/filler.nomad.hcl", map[string]string{"command": be.testapp, "services": fmt.Sprint(fillers)})
	last := fmt.Sprintf("fill%d", fillers-1)
	for _, s := range be.sides {
		service := last + "@" + strings.SplitN(s.service, "@", 2)[1]
		eventually(b, s.name+" routing the filler services", func() bool {
			srv, err := s.api.Servers(b.Context(), service)
			return err == nil && len(srv) == 3
		})
	}
	b.Run("alloc-stop", func(b *testing.B) { be.allocStop(b) })
	// whiskers alone: the anchors, which read every service again on every
	// change on the same two cores, stopped.
	b.Run("alloc-stop-whiskers-alone", func(b *testing.B) {
		be.stopAnchors(b)
		be.allocStop(b)
	})
}

// stopAnchors stops the anchor Traefiks and their load; whiskers stays the
// only side.
func (be *benchEnv) stopAnchors(tb testing.TB) {
	tb.Helper()
	if len(be.sides) < 2 {
		return
	}
	be.sides[1].load.Stop()
	be.sides = be.sides[:1]
	be.nomad(tb, "job", "stop", "anchor")
}

// benchScenarios measures each kind of change on both sides.
func benchScenarios(b *testing.B, be *benchEnv) {
	b.Run("alloc-stop", func(b *testing.B) { be.allocStop(b) })

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

	b.Run("deploy", func(b *testing.B) {
		// Failed requests over a whole canary deployment and promotion
		// (what leaves when is the deployment's business).
		be.measure(b, time.Minute, func(i int) (string, time.Time, func()) {
			be.versions++
			be.deploy(b, fmt.Sprintf("v%d", be.versions+1))
			return "", time.Now(), func() {}
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

	// The same stops with what the shipped finicky job sets: a
	// shutdown_delay, which Nomad spends between deregistering the copy and
	// stopping it (2 s here, 5 s in the finicky job).
	b.Run("alloc-stop-shutdown-delay", func(b *testing.B) {
		if be.delay == "" {
			be.delay = "2s"
			be.versions++
			be.deploy(b, fmt.Sprintf("v%d", be.versions+1))
		}
		be.allocStop(b)
	})
}

// deploy rolls out version v of the bench job: one canary, promoted once it
// is healthy, then the rest. It returns when the deployment succeeded and
// both Traefiks route three copies of v.
func (be *benchEnv) deploy(b *testing.B, v string) {
	vars := map[string]string{"command": be.testapp, "provider": be.catalog, "version": v}
	if be.delay != "" {
		vars["shutdown_delay"] = be.delay
	}
	be.runFile(b, "testdata/bench.nomad.hcl", vars)
	job, _, err := be.c.API().Jobs().Info(benchJob, nil)
	if err != nil {
		b.Fatal(err)
	}
	var dep *nomadapi.Deployment
	eventually(b, "the canary of "+v+" healthy", func() bool {
		ds, _, err := be.c.API().Jobs().Deployments(benchJob, false, nil)
		if err != nil {
			return false
		}
		for _, d := range ds {
			if d.JobVersion == *job.Version && d.TaskGroups["app"] != nil {
				dep = d
				return d.TaskGroups["app"].HealthyAllocs >= 1
			}
		}
		return false
	})
	time.Sleep(2 * time.Second) // the canary serves a while before the promotion
	if _, _, err := be.c.API().Deployments().PromoteAll(dep.ID, nil); err != nil {
		b.Fatal(err)
	}
	eventually(b, "the deployment of "+v+" successful", func() bool {
		d, _, err := be.c.API().Deployments().Info(dep.ID, nil)
		return err == nil && d.Status == nomadapi.DeploymentStatusSuccessful
	})
	be.waitServers(b, 3)
}

// allocStop measures `nomad alloc stop` of a bench copy, b.N times: the
// failed requests and each side's time until the copy left its pool, and
// where that time went. Each change is logged on one line (a benchmark's
// log keeps ten).
func (be *benchEnv) allocStop(b *testing.B) {
	var stops []*stopParts
	be.measure(b, time.Minute, func(i int) (string, time.Time, func()) {
		victim := be.benchAlloc(b, "")
		url := be.benchAddr(b, victim.ID)
		ctx, cancel := context.WithCancel(b.Context())
		seen := be.watchStop(ctx, b, victim.ID)
		// From when Nomad has taken the stop: the command line's own start
		// (~100 ms of a 75 MB binary on this loaded machine) is no part
		// of either side.
		be.nomad(b, "alloc", "stop", "-detach", victim.ID)
		t0 := time.Now()
		return url, t0, func() {
			p := &stopParts{t0: t0, times: seen(), gone: be.gone, file: be.fileAt}
			cancel()
			be.waitReplaced(b, victim.ID)
			if k, ok := be.killedAt(b, victim.ID); ok {
				p.kill = k
			}
			stops = append(stops, p)
		}
	})
	var files []time.Time
	for _, p := range stops {
		files = append(files, p.file)
	}
	for i, t := range be.syncerTimes(b, files) {
		stops[i].syncer = t
	}
	parts := map[string][]time.Duration{}
	for i, p := range stops {
		b.Logf("stop %d/%d, from when Nomad took it: %s", i+1, len(stops), p.add(parts))
	}
	for _, unit := range slices.Sorted(maps.Keys(parts)) {
		d := parts[unit]
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, unit)
	}
}

// stopParts is one measured allocation stop: what happened when, as the
// clocks of this machine say; zero times for what was not seen.
type stopParts struct {
	t0     time.Time                // Nomad took the stop
	times  stopTimes                // what Nomad's event stream said
	file   time.Time                // worker-1's syncer renamed a file without the copy into place
	kill   time.Time                // the client began to kill the task
	gone   map[string]time.Duration // by side: after t0, out of that Traefik's pool (-1: never)
	syncer map[string]time.Duration // what the syncer logged with the file: after, build, render, write
}

// add adds the stop's parts to parts, by metric, and returns them on a line.
func (p *stopParts) add(parts map[string][]time.Duration) string {
	var line []string
	put := func(unit string, d time.Duration) {
		parts[unit] = append(parts[unit], d)
		line = append(line, fmt.Sprintf("%s %v", strings.TrimSuffix(unit, "-ms"), d.Round(100*time.Microsecond)))
	}
	since := func(t, from time.Time) (time.Duration, bool) { return t.Sub(from), !t.IsZero() && !from.IsZero() }
	// When the client killed the task: what stops first, the traffic or
	// the copy (without shutdown_delay, requests in flight then fail).
	if d, ok := since(p.kill, p.t0); ok {
		put("kill-ms", d)
	}
	// What the anchor waits for: the service's deregistration (Nomad's
	// catalog only), delivered by the stream.
	if d, ok := since(p.times.deregistered, p.t0); ok {
		put("deregistered-ms", d)
	}
	// The syncer: from the server's commit of the stop to the file, and
	// its own part: from when the stream delivered the stop (to this
	// benchmark, a subscriber of the same server like the syncers).
	if d, ok := since(p.file, p.times.committed); ok {
		put("whiskers-sync-ms", d)
	}
	if d, ok := since(p.file, p.times.delivered); ok {
		put("whiskers-own-ms", d)
	}
	// Of that, as the syncer logs it: from its sources' signal to the
	// file in place (renamed: visible) and written (the fsyncs too), and
	// the steps.
	for _, step := range []string{"visible", "after", "build", "render", "write"} {
		if d, ok := p.syncer[step]; ok {
			unit := "whiskers-" + step + "-ms"
			if step == "after" {
				unit = "whiskers-signal-ms"
			}
			put(unit, d)
		}
	}
	// Each Traefik from what it reacts to (whiskers' file; the anchor's
	// deregistration) until the copy is out of its pool.
	if g := p.gone["whiskers"]; g > 0 && !p.file.IsZero() {
		put("whiskers-traefik-ms", p.t0.Add(g).Sub(p.file))
	}
	if g := p.gone["anchor"]; g > 0 && !p.times.deregistered.IsZero() {
		put("anchor-traefik-ms", p.t0.Add(g).Sub(p.times.deregistered))
	}
	for _, side := range slices.Sorted(maps.Keys(p.gone)) {
		line = append(line, fmt.Sprintf("%s gone %v", side, p.gone[side].Round(100*time.Microsecond)))
	}
	return strings.Join(line, ", ")
}

// syncerTimes returns, for each of these writes of worker-1's file (zero:
// none), the durations its syncer logged with it ("configuration written"):
// after (its sources' signal to the file), build, render and write, by
// name; nil where none was found.
func (be *benchEnv) syncerTimes(tb testing.TB, writes []time.Time) []map[string]time.Duration {
	tb.Helper()
	logs, _ := filepath.Glob(filepath.Join(be.dir, "worker-1", "data", "alloc", "*", "alloc", "logs", "sync.stderr.*"))
	type written struct {
		at    time.Time
		times map[string]time.Duration
	}
	var lines []written
	re := regexp.MustCompile(`^time=(\S+) .*msg="configuration written"`)
	attr := regexp.MustCompile(` (after|build|render|write)=(\S+)`)
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			m := re.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			w := written{times: map[string]time.Duration{}}
			if w.at, err = time.Parse(time.RFC3339Nano, m[1]); err != nil {
				continue
			}
			for _, a := range attr.FindAllStringSubmatch(line, -1) {
				if d, err := time.ParseDuration(a[2]); err == nil {
					w.times[a[1]] = d
				}
			}
			lines = append(lines, w)
		}
	}
	out := make([]map[string]time.Duration, len(writes))
	for i, w := range writes {
		if w.IsZero() {
			continue
		}
		// The log line follows the rename and the fsyncs (its time is
		// truncated to the millisecond).
		for _, l := range lines {
			if d := l.at.Sub(w); d > -time.Millisecond && d < time.Second {
				out[i] = l.times
				// From the signal to the rename (the file's change time
				// w), before the fsyncs: at most this, the log's time
				// being truncated.
				if after, ok := l.times["after"]; ok {
					out[i]["visible"] = after - d
				}
				break
			}
		}
	}
	return out
}

// stopTimes is what Nomad's event stream said of an allocation's stop; zero
// times for what it has not said (yet).
type stopTimes struct {
	committed    time.Time // the server made its desired status stop (the update's modify time)
	delivered    time.Time // the stream delivered that update here
	deregistered time.Time // the stream delivered the deregistration of its service (Nomad's catalog)
}

// watchStop follows Nomad's event stream from now until ctx is done and
// returns a function that says what it has seen of the allocation's stop.
func (be *benchEnv) watchStop(ctx context.Context, tb testing.TB, allocID string) func() stopTimes {
	tb.Helper()
	_, meta, err := be.c.API().Jobs().List(nil)
	if err != nil {
		tb.Fatal(err)
	}
	topics := map[nomadapi.Topic][]string{nomadapi.TopicAllocation: {allocID}, nomadapi.TopicService: {benchJob}}
	events, err := be.c.API().EventStream().Stream(ctx, topics, meta.LastIndex, nil)
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var st stopTimes
	go func() {
		for batch := range events {
			now := time.Now()
			mu.Lock()
			for _, ev := range batch.Events {
				// The update's own time: when the server committed it.
				if a, err := ev.Allocation(); err == nil && a != nil && a.DesiredStatus == nomadapi.AllocDesiredStatusStop && st.committed.IsZero() {
					st.committed, st.delivered = time.Unix(0, a.ModifyTime), now
				}
				if r, err := ev.Service(); err == nil && r != nil && ev.Type == "ServiceDeregistration" && r.AllocID == allocID && st.deregistered.IsZero() {
					st.deregistered = now
				}
			}
			mu.Unlock()
		}
	}()
	return func() stopTimes {
		mu.Lock()
		defer mu.Unlock()
		return st
	}
}

// killedAt is when the client began to kill the allocation's task (its
// Killing event), as the client's clock says (the same machine's).
func (be *benchEnv) killedAt(tb testing.TB, allocID string) (time.Time, bool) {
	tb.Helper()
	a, _, err := be.c.API().Allocations().Info(allocID, nil)
	if err != nil || a.TaskStates["app"] == nil {
		return time.Time{}, false
	}
	for _, ev := range a.TaskStates["app"].Events {
		if ev.Type == nomadapi.TaskKilling {
			return time.Unix(0, ev.Time), true
		}
	}
	return time.Time{}, false
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
