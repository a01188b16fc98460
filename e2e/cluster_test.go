package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/whiskers-dev/whiskers/internal/childproc"
	"github.com/whiskers-dev/whiskers/internal/gobin"
	"github.com/whiskers-dev/whiskers/internal/httpload"
	"github.com/whiskers-dev/whiskers/internal/realbin"
	"github.com/whiskers-dev/whiskers/internal/realbin/realbintest"
	"github.com/whiskers-dev/whiskers/internal/syncbuf"
	"github.com/whiskers-dev/whiskers/internal/testkit"
	"github.com/whiskers-dev/whiskers/internal/traefikproc"
	"github.com/whiskers-dev/whiskers/syncer/fakes/consulfake"
	"github.com/whiskers-dev/whiskers/syncer/fakes/nomadfake"
	"github.com/whiskers-dev/whiskers/wasmhost"
)

// Hosts the routers answer, and what the catalogs hold.
const (
	appHost        = "finicky.test"    // router finicky: fileserver first, then the workers
	scoreboardHost = "scoreboard.test" // router scoreboard, from Consul
	filesHost      = "files.test"      // router gofiles: Go's http.FileServer over the site, from Consul
	appService     = "finicky"         // in Nomad, one instance per worker
	scoreService   = "scoreboard"      // in Consul, two instances
	filesService   = "gofiles"         // in Consul, one instance
)

// siteDir is the static site the fileservers serve (the wasm host's at
// /site, the in-Traefik one at /site too, Go's http.FileServer).
const siteDir = "e2e/testdata/site"

// patience bounds every wait for something that normally takes
// milliseconds, generously, for a loaded 2-core machine.
const patience = 30 * time.Second

// repoRoot is the repository root seen from this package.
const repoRoot = ".."

// cluster is one whole system on loopback: fake catalogs, worker servers,
// `whiskers sync`, `whiskers wasm serve`, Traefik.
type cluster struct {
	tb         testing.TB
	dir        string
	nomad      *nomadfake.Server
	consul     *consulfake.Server
	workers    []*worker // finicky, registered in Nomad
	scoreboard []*worker // registered in Consul
	regs       []nomadapi.ServiceRegistration
	config     string // the syncer's output, Traefik's dynamic file
	socket     string // the wasm host's Unix socket
	syncer     *process
	wasm       *process
	traefik    *traefikproc.Proxy
}

// worker is a backend server that answers "<service> on <name>" and
// counts what it serves.
type worker struct {
	name string
	srv  *httptest.Server
	hits atomic.Int64
	last atomic.Int64 // UnixNano of the last request
}

func newWorker(tb testing.TB, service, name string) *worker {
	w := &worker{name: name}
	body := service + " on " + name + "\n"
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.hits.Add(1)
		w.last.Store(time.Now().UnixNano())
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(rw, body)
	}))
	tb.Cleanup(w.srv.Close)
	return w
}

// hostPort splits the worker's address.
func (w *worker) hostPort() (string, int) {
	addr := w.srv.Listener.Addr().(*net.TCPAddr)
	return addr.IP.String(), addr.Port
}

// lastHit is when the worker last served a request (zero if never).
func (w *worker) lastHit() time.Time {
	n := w.last.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// startCluster starts everything and returns once Traefik routes to the
// three workers through the configuration the syncer wrote.
func startCluster(tb testing.TB) *cluster {
	tb.Helper()
	traefikBin := realbintest.Bin(tb, realbin.Traefik)
	bin := gobin.Build(tb, whiskersPkg)
	c := &cluster{tb: tb, dir: tb.TempDir()}
	// A short directory for the socket: Unix socket paths are limited to
	// 107 bytes and test temp paths can be long.
	sockDir, err := os.MkdirTemp("", "e2e")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(sockDir) })
	c.socket = filepath.Join(sockDir, "wasm.sock")
	c.config = filepath.Join(c.dir, "dynamic.yaml")

	c.nomad = nomadfake.New()
	tb.Cleanup(c.nomad.Close)
	c.consul = consulfake.New()
	tb.Cleanup(c.consul.Close)
	for i := range 3 {
		w := newWorker(tb, appService, fmt.Sprintf("worker-%d", i+1))
		c.workers = append(c.workers, w)
		c.regs = append(c.regs, c.registration(i))
		c.nomad.Register(c.regs[i])
	}
	for i := range 2 {
		w := newWorker(tb, scoreService, fmt.Sprintf("scoreboard-%d", i+1))
		c.scoreboard = append(c.scoreboard, w)
		c.consul.Register(c.scoreboardInstance(i))
	}
	files := httptest.NewServer(http.FileServer(http.Dir(c.abs(siteDir))))
	tb.Cleanup(files.Close)
	c.consul.Register(filesInstance(files))

	c.wasm = c.startWasmHost(bin)
	c.syncer = startProcess(tb, "whiskers sync", bin, []string{
		"NOMAD_ADDR=" + c.nomad.URL(),
		"CONSUL_HTTP_ADDR=" + strings.TrimPrefix(c.consul.URL(), "http://"),
	}, "sync", "--output", c.config, "--throttle", "20ms", "--wait", "1m")
	c.waitConfig(func(b []byte) bool { return bytes.Contains(b, []byte("finicky")) }, "the syncer's first configuration")

	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c.traefik, err = traefikproc.Start(ctx, traefikproc.Options{
		Bin: traefikBin, Dir: filepath.Join(c.dir, "traefik"), DynamicFile: c.config,
		FileserverMounts: []string{c.abs(siteDir) + ":/site:ro"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = c.traefik.Close()
		if tb.Failed() {
			tb.Logf("traefik output:\n%s", c.traefik.Logs())
		}
	})
	if err := c.traefik.WaitRouters(ctx, "finicky@file", "finicky-old@file", "finicky-moved@file",
		"finicky-builtin@file", "finicky-edge-old@file", "finicky-edge@file", "scoreboard@file", "gofiles@file"); err != nil {
		tb.Fatal(err)
	}
	// The API can show a router a moment before the entry point serves it.
	c.eventually("every worker answering through Traefik", func() bool {
		for range 6 {
			c.get(appHost, "/hello")
		}
		for _, w := range c.workers {
			if w.hits.Load() == 0 {
				return false
			}
		}
		return true
	})
	return c
}

// appTags are the finicky service's tags: the app behind a fileserver
// (static files first, 404 falls through), two edge redirect routers
// through the plugin and one through Traefik's built-in redirectRegex; and
// the same redirect and fileserver run inside Traefik (the http-wasm
// plugins) at /edge-old and /edge/.
func (c *cluster) appTags() []string {
	sock := "unix://" + c.socket
	plugin := func(mw, handler, onHostDown string, extra ...string) []string {
		p := "traefik.http.middlewares." + mw + ".plugin.whiskers."
		tags := []string{p + "handler=" + handler, p + "socket=" + sock, p + "onHostDown=" + onHostDown}
		for _, e := range extra {
			tags = append(tags, p+e)
		}
		return tags
	}
	router := func(name, rule, mw string) []string {
		r := "traefik.http.routers." + name + "."
		return []string{r + "rule=" + rule, r + "middlewares=" + mw, r + "service=" + appService}
	}
	tags := []string{"traefik.enable=true"}
	tags = append(tags, router("finicky", "Host(`"+appHost+"`)", "finicky-static")...)
	tags = append(tags, plugin("finicky-static", "fileserver", "next", "fallthroughStatus=404")...)
	tags = append(tags, router("finicky-old", "Host(`"+appHost+"`) && PathPrefix(`/old`)", "finicky-old")...)
	tags = append(tags, plugin("finicky-old", "redirect", "503")...)
	tags = append(tags, router("finicky-moved", "Host(`"+appHost+"`) && PathPrefix(`/moved`)", "finicky-moved")...)
	tags = append(tags, plugin("finicky-moved", "redirect-308", "503")...)
	tags = append(tags, router("finicky-builtin", "Host(`"+appHost+"`) && PathPrefix(`/builtin-old`)", "finicky-builtin")...)
	tags = append(tags,
		"traefik.http.middlewares.finicky-builtin.redirectregex.regex=^http://[^/]+/builtin-old(.*)",
		"traefik.http.middlewares.finicky-builtin.redirectregex.replacement=https://finicky.example${1}",
		"traefik.http.middlewares.finicky-builtin.redirectregex.permanent=true",
	)
	tags = append(tags, router("finicky-edge-old", "Host(`"+appHost+"`) && PathPrefix(`/edge-old`)", "finicky-edge-old")...)
	rd := "traefik.http.middlewares.finicky-edge-old.plugin." + traefikproc.RedirectPlugin + "."
	tags = append(tags, rd+"destination=https://finicky.example", rd+"status=301", rd+"includePath=true",
		rd+"trimPrefix=/edge-old", rd+"keepQuery=true")
	tags = append(tags, router("finicky-edge", "Host(`"+appHost+"`) && PathPrefix(`/edge/`)", "finicky-edge-strip,finicky-edge-files")...)
	tags = append(tags, "traefik.http.middlewares.finicky-edge-strip.stripprefix.prefixes=/edge",
		"traefik.http.middlewares.finicky-edge-files.plugin."+traefikproc.FileserverPlugin+".root=/site")
	return tags
}

// filesInstance is the Consul instance of Go's file server over the site.
func filesInstance(srv *httptest.Server) consulfake.Instance {
	addr := srv.Listener.Addr().(*net.TCPAddr)
	return consulfake.Instance{
		ID: "gofiles-1", Service: filesService, Node: "node-1", Address: addr.IP.String(), Port: addr.Port,
		Tags: []string{"traefik.enable=true", "traefik.http.routers.gofiles.rule=Host(`" + filesHost + "`)"},
	}
}

// registration is worker i's finicky registration in Nomad.
func (c *cluster) registration(i int) nomadapi.ServiceRegistration {
	host, port := c.workers[i].hostPort()
	return nomadapi.ServiceRegistration{
		ID:          fmt.Sprintf("_nomad-task-finicky-%d-spin-finicky-http", i),
		ServiceName: appService,
		Namespace:   "default",
		NodeID:      fmt.Sprintf("node-%d", i+1),
		Datacenter:  "dc1",
		JobID:       "finicky-whiskers",
		AllocID:     fmt.Sprintf("alloc-%d", i),
		Address:     host,
		Port:        port,
		Tags:        c.appTags(),
	}
}

// scoreboardInstance is scoreboard server i's instance in Consul.
func (c *cluster) scoreboardInstance(i int) consulfake.Instance {
	host, port := c.scoreboard[i].hostPort()
	return consulfake.Instance{
		ID: fmt.Sprintf("scoreboard-%d", i+1), Service: scoreService, Node: fmt.Sprintf("node-%d", i+1),
		Address: host, Port: port,
		Tags: []string{"traefik.enable=true", "traefik.http.routers.scoreboard.rule=Host(`" + scoreboardHost + "`)"},
	}
}

// startWasmHost writes the wasm host's config and starts `whiskers wasm
// serve` on c.socket, returning once it answers.
func (c *cluster) startWasmHost(bin string) *process {
	c.tb.Helper()
	abs := c.abs
	cfg := filepath.Join(c.dir, "wasmhost.yaml")
	redirect := abs("wasmhost/handlers/redirect/redirect.wasm")
	conf := &wasmhost.Config{Handlers: []wasmhost.HandlerConfig{
		{Name: "fileserver", Module: abs("wasmhost/handlers/fileserver/fileserver.wasm"), Route: "/",
			Volumes: []string{abs(siteDir) + ":/site"}, Env: map[string]string{"ROOT": "/site"}},
		{Name: "redirect", Module: redirect, Route: "/old",
			Env: map[string]string{"DESTINATION": "https://finicky.example", "STATUS": "301", "INCLUDE_PATH": "1", "KEEP_QUERY": "1"}},
		{Name: "redirect-308", Module: redirect, Route: "/moved",
			Env: map[string]string{"DESTINATION": "/new", "STATUS": "308", "INCLUDE_PATH": "1"}},
	}}
	yaml, err := conf.YAML()
	if err != nil {
		c.tb.Fatal(err)
	}
	if err := os.WriteFile(cfg, yaml, 0o644); err != nil {
		c.tb.Fatal(err)
	}
	p := startProcess(c.tb, "whiskers wasm serve", bin, nil,
		"wasm", "serve", "--config", cfg, "--listen", "unix://"+c.socket, "--log-level", "warn")
	client := unixClient(c.socket)
	c.eventually("the wasm host answering /healthz", func() bool {
		resp, err := client.Get("http://wasm/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// abs is the absolute path of p, relative to the repository's root.
func (c *cluster) abs(p string) string {
	a, err := filepath.Abs(filepath.Join(repoRoot, p))
	if err != nil {
		c.tb.Fatal(err)
	}
	return a
}

// unixClient is an HTTP client for a Unix socket.
func unixClient(socket string) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}
}

// waitConfig waits until the syncer's file satisfies ok.
func (c *cluster) waitConfig(ok func([]byte) bool, what string) []byte {
	c.tb.Helper()
	var b []byte
	c.eventually(what, func() bool {
		var err error
		b, err = os.ReadFile(c.config)
		return err == nil && ok(b)
	})
	return b
}

// eventually polls cond until it holds, failing after patience.
func (c *cluster) eventually(what string, cond func() bool) {
	c.tb.Helper()
	testkit.WaitWithin(c.tb, what, patience, 20*time.Millisecond, cond) // other processes: polling is all there is
}

// get sends GET path with Host host to Traefik's web entry point with a
// keep-alive client that does not follow redirects.
func (c *cluster) get(host, path string) httpload.Response {
	return httpload.Get(sharedClient, c.traefik.URL, host, path)
}

// sharedClient keeps connections to Traefik alive and returns redirects
// as they are.
var sharedClient = httpload.NewClient()

// startLoad starts n keep-alive clients asking for host+path; the test's
// cleanup stops them.
func (c *cluster) startLoad(n int, host, path string) *httpload.Load {
	l := httpload.Start(n, httpload.Target{URL: c.traefik.URL, Host: host, Path: path})
	c.tb.Cleanup(l.Stop)
	return l
}

// process is a child process whose output is kept for failure messages.
type process struct {
	*childproc.Process
	out *syncbuf.Buffer
}

// startProcess runs bin with args and extra environment; the test's
// cleanup stops it.
func startProcess(tb testing.TB, name, bin string, env []string, args ...string) *process {
	tb.Helper()
	p := &process{out: &syncbuf.Buffer{}}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	var err error
	if p.Process, err = childproc.Start(cmd); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	tb.Cleanup(func() {
		p.Stop(syscall.SIGTERM, 10*time.Second)
		if tb.Failed() {
			tb.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// whiskersPkg is the whiskers command, built once per test binary from
// this checkout (internal/gobin).
const whiskersPkg = "github.com/whiskers-dev/whiskers/cmd/whiskers"

// TestMain removes the built binaries after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	gobin.Cleanup()
	os.Exit(code)
}
