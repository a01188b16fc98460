package realnomad

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/whiskers-dev/whiskers/internal/artifacts"
	"github.com/whiskers-dev/whiskers/internal/cluster"
	"github.com/whiskers-dev/whiskers/internal/countproxy"
	"github.com/whiskers-dev/whiskers/internal/gobin"
	"github.com/whiskers-dev/whiskers/internal/httpload"
	"github.com/whiskers-dev/whiskers/internal/realbin"
	"github.com/whiskers-dev/whiskers/internal/realbin/realbintest"
	"github.com/whiskers-dev/whiskers/internal/testkit"
)

// Hosts Traefik routes, and the shipped job files.
const (
	appHost    = "finicky.test"
	scoreHost  = "scoreboard.test"
	jobsDir    = "../../deploy/nomad"
	appJob     = "finicky-whiskers"
	appService = "finicky"
)

// patience bounds every wait for the cluster; Nomad's own steps (placing,
// health, deployments) take seconds, and the machine may be loaded.
const patience = 3 * time.Minute

func TestMain(m *testing.M) {
	code := m.Run()
	gobin.Cleanup()
	os.Exit(code)
}

// env is the real cluster with the three shipped jobs running on it.
type env struct {
	t         testing.TB
	c         *cluster.Cluster
	dir       string
	testapp   string            // the stand-in app's binary (raw_exec runs it from the host)
	artifacts *httptest.Server  // the plugin's source and the wasm handlers, as tar.gz
	traefik   map[string]string // node name → Traefik's web entry point
	api       map[string]string // node name → Traefik's API entry point
	appVars   map[string]string // the finicky job's variables
	syncers   *countproxy.Proxy // the syncers' Nomad API, counted
	consuls   *countproxy.Proxy // the syncers' Consul API, counted
	closers   []func()          // run after the cluster stopped
}

// afterCluster runs f once the cluster has stopped (its clients gone).
func (e *env) afterCluster(f func()) { e.closers = append(e.closers, f) }

// startEnv starts the cluster and runs whiskers.nomad.hcl,
// traefik.nomad.hcl and finicky-whiskers.nomad.hcl on it with variables
// only, and returns once every node's Traefik balances the app over the
// three nodes.
func startEnv(t testing.TB) *env { return startEnvWith(t, false) }

// startEnvWith is startEnv, without the finicky job when noApp.
func startEnvWith(t testing.TB, noApp bool) *env {
	t.Helper()
	nomadBin := realbintest.Bin(t, realbin.Nomad)
	consulBin := realbintest.Bin(t, realbin.Consul)
	traefikBin := realbintest.Bin(t, realbin.Traefik)
	whiskersBin := gobin.Build(t, "github.com/whiskers-dev/whiskers/cmd/whiskers")
	e := &env{t: t, testapp: gobin.Build(t, "github.com/whiskers-dev/whiskers/e2e/realnomad/testapp")}

	dir, err := os.MkdirTemp("", "wk") // short: sockets live under it
	if err != nil {
		t.Fatal(err)
	}
	e.dir = dir
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	e.artifacts = httptest.NewServer(artifactHandler(t))
	t.Cleanup(e.artifacts.Close)

	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	e.c, err = cluster.Start(ctx, cluster.Options{
		Nomad: nomadBin, Consul: consulBin, Dir: dir,
		// Installed on every node, where the jobs' defaults look.
		ChrootFiles: map[string]string{whiskersBin: "/usr/local/bin/whiskers", traefikBin: "/usr/local/bin/traefik"},
		HostVolumes: []string{"whiskers-dynamic", "whiskers-run"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			e.dumpAllocs()
			e.dumpSyncLogs()
			t.Logf("agents:\n%s", tail(e.c.Logs(), 400))
		}
		e.c.Close()
		for _, f := range slices.Backward(e.closers) {
			f()
		}
	})
	t.Logf("cluster up in %v", time.Since(start).Round(time.Millisecond))

	e.syncers = newCounter(t, e.c.Server.Addr)
	e.afterCluster(e.syncers.Close)
	e.consuls = newCounter(t, "http://"+e.c.ConsulAddr)
	e.afterCluster(e.consuls.Close)
	e.run(t, "whiskers.nomad.hcl", map[string]string{
		"nomad_addr":             e.syncers.URL(),
		"consul_addr":            e.consuls.URL(),
		"wasm_handlers_artifact": e.artifacts.URL + "/handlers.tar.gz",
	})
	e.run(t, "traefik.nomad.hcl", map[string]string{
		"driver":        "exec",
		"http_port":     "0",
		"admin_port":    "0",
		"bind_ip":       "127.0.0.1",
		"plugin_source": e.artifacts.URL + "/plugin.tar.gz",
		// The site (handlers.tar.gz holds it in site/), for the fileserver
		// inside Traefik.
		"static_site_artifact": e.artifacts.URL + "/handlers.tar.gz",
		// The API for the tests; an access log of failed requests only, to
		// say which server failed.
		// (This Traefik, built from its module, has no dashboard files.)
		"extra_args": `["--api.insecure=true", "--api.dashboard=false", "--log.level=WARN", "--accesslog=true", "--accesslog.filters.statuscodes=500-599"]`,
	})
	e.appVars = map[string]string{
		"host":          appHost,
		"app_driver":    "raw_exec",
		"app_command":   e.testapp,
		"app_args":      appArgs("v1"),
		"spin_artifact": "",
		"health_path":   "/healthz",
		// Nomad's check and Traefik's health check every second, and
		// deployments in seconds rather than minutes.
		"check_interval":    "1s",
		"min_healthy_time":  "2s",
		"healthy_deadline":  "10s",
		"progress_deadline": "0s", // a deployment fails at its first unhealthy copy
		"redis_driver":      "raw_exec",
		"redis_command":     e.testapp,
		"redis_args":        `["--listen", "$${NOMAD_ADDR_redis}", "--name", "redis"]`,
	}
	e.findTraefiks(t)
	if !noApp {
		e.run(t, "finicky-whiskers.nomad.hcl", e.appVars)
		for _, node := range e.nodes() {
			e.waitBalanced(t, node, "v1", 3)
		}
	}
	t.Logf("jobs running and routed in %v", time.Since(start).Round(time.Millisecond))
	return e
}

// appArgs are the stand-in app's arguments for the app_args variable: it
// answers "finicky <version> on <node> <allocation>".
func appArgs(version string, extra ...string) string {
	args := []string{`"--listen"`, `"$${NOMAD_ADDR_http}"`, `"--name"`, `"finicky ` + version + ` on $${node.unique.name} $${NOMAD_SHORT_ALLOC_ID}"`}
	for _, a := range extra {
		args = append(args, fmt.Sprintf("%q", a))
	}
	return "[" + strings.Join(args, ", ") + "]"
}

// run submits a shipped job file (or the one at an absolute path) with
// `nomad job run` and the given variables (HCL values; strings are quoted
// here unless they are lists).
func (e *env) run(t testing.TB, file string, vars map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	path := file
	if !filepath.IsAbs(path) {
		path = filepath.Join(jobsDir, file)
	}
	if err := e.c.RunJob(ctx, path, vars); err != nil {
		t.Fatal(err)
	}
}

// findTraefiks waits for Traefik's allocation on every node and records
// its entry points.
func (e *env) findTraefiks(t testing.TB) {
	t.Helper()
	eventually(t, "Traefik running on every node", func() bool {
		ports, err := e.c.Ports(t.Context(), "traefik")
		if err != nil {
			return false
		}
		e.traefik, e.api = map[string]string{}, map[string]string{}
		for node, p := range ports {
			if p["web"] != "" && p["admin"] != "" {
				e.traefik[node], e.api[node] = p["web"], p["admin"]
			}
		}
		return len(e.traefik) == len(e.c.Clients)
	})
}

// nodes are the client names, sorted.
func (e *env) nodes() []string {
	var out []string
	for _, a := range e.c.Clients {
		out = append(out, a.Name)
	}
	return out
}

// get asks node's Traefik for path on host.
func (e *env) get(node, host, path string) httpload.Response {
	return httpload.Get(client, e.traefik[node], host, path)
}

var client = httpload.NewClient()

// waitBalanced waits until node's Traefik answers from n copies of the app
// at version, and nothing else, over a round of requests.
func (e *env) waitBalanced(t testing.TB, node, version string, n int) {
	t.Helper()
	var seen map[string]int
	eventually(t, fmt.Sprintf("Traefik on %s balancing over %d copies of %s", node, n, version), func() bool {
		seen = map[string]int{}
		for range 3 * n {
			r := e.get(node, appHost, "/hello")
			if r.Err != nil || r.Status != http.StatusOK {
				return false
			}
			seen[strings.TrimSpace(r.Body)]++
		}
		if len(seen) != n {
			return false
		}
		for body := range seen {
			if !strings.HasPrefix(body, "finicky "+version+" on ") {
				return false
			}
		}
		return true
	})
}

// eventually polls cond (other processes: polling is all there is) until it
// holds, failing t after patience.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testkit.WaitWithin(t, what, patience, 100*time.Millisecond, cond)
}

// dumpAllocs logs every allocation's status and recent task events.
func (e *env) dumpAllocs() {
	allocs, _, err := e.c.API().Allocations().List(nil)
	if err != nil {
		e.t.Logf("listing allocations: %v", err)
		return
	}
	for _, a := range allocs {
		ds := "-"
		if d := a.DeploymentStatus; d != nil {
			ds = fmt.Sprintf("healthy=%v canary=%v", d.Healthy != nil && *d.Healthy, d.Canary)
		}
		e.t.Logf("alloc %s %s/%s v%d on %s: desired %s, client %s, deployment %s", a.ID[:8], a.JobID, a.TaskGroup, a.JobVersion, a.NodeName, a.DesiredStatus, a.ClientStatus, ds)
		for task, st := range a.TaskStates {
			for _, ev := range st.Events {
				e.t.Logf("  %s: %s %s %s", task, ev.Type, ev.DisplayMessage, ev.DriverError)
			}
		}
	}
}

// dumpSyncLogs logs the end of every syncer's log, Traefik's log of failed
// requests, and worker-1's file.
func (e *env) dumpSyncLogs() {
	apps, _ := filepath.Glob(filepath.Join(e.dir, "worker-*", "data", "alloc", "*", "alloc", "logs", "spin.stderr.*"))
	for _, l := range apps {
		if b, err := os.ReadFile(l); err == nil && len(b) > 0 {
			e.t.Logf("%s:\n%s", l, tail(string(b), 5))
		}
	}
	traefikLogs, _ := filepath.Glob(filepath.Join(e.dir, "worker-*", "data", "alloc", "*", "alloc", "logs", "traefik.std*"))
	for _, l := range traefikLogs {
		if b, err := os.ReadFile(l); err == nil && len(b) > 0 {
			var bad []string // requests a server failed, with the server
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, `" 502 `) || strings.Contains(line, `" 504 `) {
					bad = append(bad, line)
				}
			}
			e.t.Logf("%s:\n%s\n(502/504: %d)\n%s", l, tail(string(b), 30), len(bad), strings.Join(bad[:min(len(bad), 5)], "\n"))
		}
	}
	if b, err := os.ReadFile(filepath.Join(e.c.Volume(0, "whiskers-dynamic"), "dynamic.yaml")); err == nil {
		e.t.Logf("worker-1's dynamic.yaml:\n%s", b)
	}
	if deps, _, err := e.c.API().Deployments().List(nil); err == nil {
		for _, d := range deps {
			e.t.Logf("deployment %s %s v%d: %s %s", d.ID[:8], d.JobID, d.JobVersion, d.Status, d.StatusDescription)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(e.dir, "worker-*", "data", "alloc", "*", "alloc", "logs", "sync.std*"))
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err == nil && len(b) > 0 {
			e.t.Logf("%s:\n%s", l, tail(string(b), 40))
		}
	}
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// artifactHandler serves what the job files fetch from releases in
// production (internal/artifacts), with the e2e site.
func artifactHandler(t testing.TB) http.Handler {
	h, err := artifacts.Handler(os.DirFS("../testdata/site"))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// load starts two keep-alive clients on node's Traefik asking for the app;
// the test's cleanup stops them.
func (e *env) load(t testing.TB, node string) *httpload.Load {
	l := httpload.Start(2, httpload.Target{URL: e.traefik[node], Host: appHost, Path: "/hello"})
	t.Cleanup(l.Stop)
	return l
}

// allocs returns the running allocations of a job's group that are not
// being stopped.
func (e *env) allocs(t testing.TB, job, group string) []*nomadapi.AllocationListStub {
	t.Helper()
	stubs, _, err := e.c.API().Jobs().Allocations(job, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []*nomadapi.AllocationListStub
	for _, a := range stubs {
		if a.TaskGroup == group && a.ClientStatus == nomadapi.AllocClientStatusRunning && a.DesiredStatus == nomadapi.AllocDesiredStatusRun {
			out = append(out, a)
		}
	}
	return out
}

// allocOn returns the first running allocation of a job's group on node,
// or nil.
func (e *env) allocOn(t testing.TB, job, group, node string) *nomadapi.AllocationListStub {
	t.Helper()
	for _, a := range e.allocs(t, job, group) {
		if a.NodeName == node {
			return a
		}
	}
	return nil
}

// nomad runs the nomad command line against the cluster.
func (e *env) nomad(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	out, err := e.c.Nomad(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// appAddr is the address of the app's copy on node, from Nomad's catalog
// (a task's service registers a moment after the allocation runs).
func (e *env) appAddr(t testing.TB, node string) string {
	t.Helper()
	var addr string
	eventually(t, "the registration of the app's copy on "+node, func() bool {
		regs, _, err := e.c.API().Services().Get(appService, nil)
		a := e.allocOn(t, appJob, appService, node)
		if err != nil || a == nil {
			return false
		}
		for _, r := range regs {
			if r.AllocID == a.ID {
				addr = fmt.Sprintf("http://%s:%d", r.Address, r.Port)
				return true
			}
		}
		return false
	})
	return addr
}

// post sends an empty POST to url.
func post(t testing.TB, url string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// with returns the app's variables with overrides.
func (e *env) with(overrides map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range e.appVars {
		out[k] = v
	}
	for k, v := range overrides {
		out[k] = v
	}
	return out
}

// round sends n requests to node's Traefik and counts the answers by app
// version ("v1", …); anything else counts under its status.
func (e *env) round(node string, n int) map[string]int {
	counts := map[string]int{}
	for range n {
		r := e.get(node, appHost, "/hello")
		version, _, ok := strings.Cut(strings.TrimPrefix(r.Body, "finicky "), " on ")
		if r.Err != nil || r.Status != http.StatusOK || !ok {
			counts[fmt.Sprint(r.Status, r.Err)]++
			continue
		}
		counts[version]++
	}
	return counts
}

// jobVersion is the app job's current version.
func (e *env) jobVersion(t testing.TB) uint64 {
	t.Helper()
	j, _, err := e.c.API().Jobs().Info(appJob, nil)
	if err != nil {
		t.Fatal(err)
	}
	return *j.Version
}

// deployment returns the app's deployment of a job version, or nil.
func (e *env) deployment(t testing.TB, version uint64) *nomadapi.Deployment {
	t.Helper()
	ds, _, err := e.c.API().Jobs().Deployments(appJob, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.JobVersion == version {
			return d
		}
	}
	return nil
}

// recordFile records every version of client i's dynamic.yaml until the
// test ends, and logs them if it failed.
func (e *env) recordFile(t *testing.T, i int) {
	file := filepath.Join(e.c.Volume(i, "whiskers-dynamic"), "dynamic.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var versions []string
	go func() {
		defer close(done)
		var last []byte
		for ctx.Err() == nil {
			if b, err := os.ReadFile(file); err == nil && !bytes.Equal(b, last) {
				versions = append(versions, time.Now().Format("15:04:05.000")+":\n"+string(b))
				last = b
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("versions of %s:\n%s", file, strings.Join(versions, "\n"))
		}
	})
}

// nodeWithout is worker-2 or worker-3, whichever runs a copy of the app and
// no allocation of the app job's group.
func (e *env) nodeWithout(t testing.TB, group string) *cluster.Agent {
	t.Helper()
	for _, a := range e.c.Clients[1:] {
		if e.allocOn(t, appJob, appService, a.Name) != nil && e.allocOn(t, appJob, group, a.Name) == nil {
			return a
		}
	}
	t.Fatalf("no node but worker-1 runs the app without %s", group)
	return nil
}

// stopAndReplace stops the app's copy on node and waits until Nomad runs
// three copies again.
func (e *env) stopAndReplace(t testing.TB, node string) {
	t.Helper()
	victim := e.allocOn(t, appJob, appService, node)
	if victim == nil {
		t.Fatalf("no copy of the app on %s", node)
	}
	e.nomad(t, "alloc", "stop", "-detach", victim.ID)
	eventually(t, "the stopped copy replaced", func() bool {
		a := e.allocs(t, appJob, appService)
		return len(a) == 3 && !slices.ContainsFunc(a, func(s *nomadapi.AllocationListStub) bool { return s.ID == victim.ID })
	})
}

// newCounter starts a countproxy to target for t.
func newCounter(t testing.TB, target string) *countproxy.Proxy {
	p, err := countproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
