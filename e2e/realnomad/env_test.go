package realnomad

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/whiskers-dev/whiskers"
	"github.com/whiskers-dev/whiskers/internal/cluster"
	"github.com/whiskers-dev/whiskers/internal/gobin"
	"github.com/whiskers-dev/whiskers/internal/httpload"
	"github.com/whiskers-dev/whiskers/internal/realbin"
	"github.com/whiskers-dev/whiskers/internal/realbin/realbintest"
	"github.com/whiskers-dev/whiskers/wasmhost/handlers"
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
	t         *testing.T
	c         *cluster.Cluster
	dir       string
	testapp   string            // the stand-in app's binary (raw_exec runs it from the host)
	artifacts *httptest.Server  // the plugin's source and the wasm handlers, as tar.gz
	traefik   map[string]string // node name → Traefik's web entry point
	api       map[string]string // node name → Traefik's API entry point
	appVars   map[string]string // the finicky job's variables
}

// startEnv starts the cluster and runs whiskers.nomad.hcl,
// traefik.nomad.hcl and finicky-whiskers.nomad.hcl on it with variables
// only, and returns once every node's Traefik balances the app over the
// three nodes.
func startEnv(t *testing.T) *env {
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
			t.Logf("agents:\n%s", tail(e.c.Logs(), 400))
		}
		e.c.Close()
	})
	t.Logf("cluster up in %v", time.Since(start).Round(time.Millisecond))

	e.run(ctx, "whiskers.nomad.hcl", map[string]string{
		"nomad_addr":             e.c.Server.Addr,
		"consul_addr":            e.c.ConsulAddr,
		"wasm_handlers_artifact": e.artifacts.URL + "/handlers.tar.gz",
	})
	e.run(ctx, "traefik.nomad.hcl", map[string]string{
		"driver":        "exec",
		"http_port":     "0",
		"admin_port":    "0",
		"bind_ip":       "127.0.0.1",
		"plugin_source": e.artifacts.URL + "/plugin.tar.gz",
		"extra_args":    `["--api.insecure=true", "--log.level=WARN"]`,
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
		"check_interval":   "1s",
		"min_healthy_time": "2s",
		"healthy_deadline": "20s",
		"redis_driver":     "raw_exec",
		"redis_command":    e.testapp,
		"redis_args":       `["--listen", "$${NOMAD_ADDR_redis}", "--name", "redis"]`,
	}
	e.run(ctx, "finicky-whiskers.nomad.hcl", e.appVars)
	e.findTraefiks(ctx)
	for _, node := range e.nodes() {
		e.waitBalanced(node, "v1", 3)
	}
	t.Logf("jobs running and routed in %v", time.Since(start).Round(time.Millisecond))
	return e
}

// appArgs are the stand-in app's arguments for the app_args variable: it
// answers "finicky <version> on <node>".
func appArgs(version string, extra ...string) string {
	args := []string{`"--listen"`, `"$${NOMAD_ADDR_http}"`, `"--name"`, `"finicky ` + version + ` on $${node.unique.name}"`}
	for _, a := range extra {
		args = append(args, fmt.Sprintf("%q", a))
	}
	return "[" + strings.Join(args, ", ") + "]"
}

// run submits a shipped job file with `nomad job run` and the given
// variables (HCL values; strings are quoted here unless they are lists).
func (e *env) run(ctx context.Context, file string, vars map[string]string) {
	e.t.Helper()
	var b strings.Builder
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := vars[k]
		if !strings.HasPrefix(v, "[") {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&b, "%s = %s\n", k, v)
	}
	varFile := filepath.Join(e.dir, strings.TrimSuffix(file, ".nomad.hcl")+".vars.hcl")
	if err := os.WriteFile(varFile, []byte(b.String()), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.c.Nomad(ctx, "job", "run", "-detach", "-var-file", varFile, filepath.Join(jobsDir, file)); err != nil {
		e.t.Fatal(err)
	}
}

// findTraefiks waits for Traefik's allocation on every node and records
// its entry points.
func (e *env) findTraefiks(ctx context.Context) {
	e.t.Helper()
	e.traefik, e.api = map[string]string{}, map[string]string{}
	e.eventually("Traefik running on every node", func() bool {
		allocs, _, err := e.c.API().Jobs().Allocations("traefik", false, nil)
		if err != nil {
			return false
		}
		for _, stub := range allocs {
			if stub.ClientStatus != nomadapi.AllocClientStatusRunning {
				continue
			}
			a, _, err := e.c.API().Allocations().Info(stub.ID, nil)
			if err != nil || a.AllocatedResources == nil {
				return false
			}
			for _, p := range a.AllocatedResources.Shared.Ports {
				url := fmt.Sprintf("http://127.0.0.1:%d", p.Value)
				switch p.Label {
				case "web":
					e.traefik[stub.NodeName] = url
				case "admin":
					e.api[stub.NodeName] = url
				}
			}
		}
		return len(e.traefik) == len(e.c.Clients) && len(e.api) == len(e.c.Clients)
	})
	_ = ctx
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
func (e *env) waitBalanced(node, version string, n int) {
	e.t.Helper()
	var seen map[string]int
	e.eventually(fmt.Sprintf("Traefik on %s balancing over %d copies of %s", node, n, version), func() bool {
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
// holds, failing after patience.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v waiting for %s", patience, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dumpAllocs logs every allocation's status and recent task events.
func (e *env) dumpAllocs() {
	allocs, _, err := e.c.API().Allocations().List(nil)
	if err != nil {
		e.t.Logf("listing allocations: %v", err)
		return
	}
	for _, a := range allocs {
		e.t.Logf("alloc %s %s/%s on %s: desired %s, client %s", a.ID[:8], a.JobID, a.TaskGroup, a.NodeName, a.DesiredStatus, a.ClientStatus)
		for task, st := range a.TaskStates {
			for _, ev := range st.Events {
				e.t.Logf("  %s: %s %s %s", task, ev.Type, ev.DisplayMessage, ev.DriverError)
			}
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
// production: /plugin.tar.gz (the repository's local plugin, as Traefik
// loads it) and /handlers.tar.gz (the wasm handlers and a static site).
func artifactHandler(t *testing.T) http.Handler {
	site := fstest.MapFS{}
	err := fs.WalkDir(os.DirFS("../testdata/site"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join("../testdata/site", p))
		site["site/"+p] = &fstest.MapFile{Data: b, Mode: 0o644}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	archives := map[string][]byte{
		"/plugin.tar.gz":   tarGz(t, whiskers.PluginSource),
		"/handlers.tar.gz": tarGz(t, handlers.Modules, site),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := archives[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(b)
	})
}

// tarGz packs the files of fsyses into one tar.gz.
func tarGz(t *testing.T, fsyses ...fs.FS) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, fsys := range fsyses {
		if err := tw.AddFS(fsys); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
