// Package onnomad runs the demo on a real cluster: a Consul agent, a Nomad
// server and three Nomad clients (worker-1…3) on loopback
// (internal/cluster), with the three job files of deploy/nomad submitted as
// a user would, variables only: whiskers (sync and the wasm host) and
// Traefik as system jobs, and the finicky app with three copies spread
// over the nodes. The app and Redis are this binary's `demo-app` (no Spin
// or images to fetch); the plugin and the handlers come from this build
// over loopback (internal/artifacts). `whiskers demo` runs it when Nomad,
// Consul and Traefik are in .cache/bin and it may run Nomad's exec driver
// (root, on Linux).
package onnomad

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	nomadjobs "github.com/whiskers-dev/whiskers/deploy/nomad"
	"github.com/whiskers-dev/whiskers/internal/artifacts"
	"github.com/whiskers-dev/whiskers/internal/cluster"
	"github.com/whiskers-dev/whiskers/internal/httpload"
)

// AppHost is the host the finicky app's router answers.
const AppHost = "finicky.localhost"

// startup bounds starting the cluster and the jobs until the app is routed.
const startup = 3 * time.Minute

// Options configure a Demo. Every field but Logger is required.
type Options struct {
	// Nomad, Consul and Traefik are the binaries (v1.6.1, v1.14.8, v3.6.12).
	Nomad, Consul, Traefik string
	// Whiskers is this binary: installed on every node for the whiskers
	// job, and run as the app and Redis (`whiskers demo-app`).
	Whiskers string
	// Site is the static site the fileservers serve.
	Site fs.FS
	// Out receives what the demo says.
	Out io.Writer
	// Logger receives the parts' warnings (default: discarded).
	Logger *slog.Logger
}

// Usable says why this machine cannot run the demo on a real Nomad, or ""
// when it can: Nomad's exec driver needs root on Linux.
func Usable() string {
	switch {
	case runtime.GOOS != "linux":
		return "Nomad's exec driver needs Linux"
	case os.Geteuid() != 0:
		return "Nomad's exec driver needs root"
	}
	return ""
}

// Addrs are where the parts of a running demo are.
type Addrs struct {
	Nomad, Consul string            // their HTTP APIs
	Traefik       map[string]string // node → Traefik's web entry point
	TraefikAPI    map[string]string // node → Traefik's API
}

// Demo is the demo on a real cluster. Create it with New, Run it once.
type Demo struct {
	opts  Options
	ready chan struct{}

	mu    sync.Mutex
	addrs Addrs
}

// New checks opts; it starts nothing.
func New(opts Options) (*Demo, error) {
	if opts.Nomad == "" || opts.Consul == "" || opts.Traefik == "" || opts.Whiskers == "" || opts.Site == nil || opts.Out == nil {
		return nil, errors.New("demo on nomad: Nomad, Consul, Traefik, Whiskers, Site and Out are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Demo{opts: opts, ready: make(chan struct{})}, nil
}

// Ready is closed once every node's Traefik routes the app.
func (d *Demo) Ready() <-chan struct{} { return d.ready }

// Addrs returns where the parts are; complete once Ready is closed.
func (d *Demo) Addrs() Addrs {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addrs
}

// Run starts the cluster and the jobs, prints where everything is, and
// keeps them until ctx is done; then it stops the cluster (its tasks and
// mounts end with it) and removes its files. Stopped while starting, it
// returns nil.
func (d *Demo) Run(ctx context.Context) error {
	err := d.run(ctx)
	if err != nil && ctx.Err() != nil {
		return nil // Ctrl-C while starting
	}
	return err
}

func (d *Demo) run(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "wkdemo") // short: Unix sockets live under it
	if err != nil {
		return fmt.Errorf("demo on nomad: %w", err)
	}
	defer os.RemoveAll(dir)
	art, err := serveArtifacts(ctx, d.opts.Site)
	if err != nil {
		return err
	}

	d.say("starting Consul, a Nomad server and three Nomad clients on 127.0.0.1 (a few seconds)\n")
	sctx, cancel := context.WithTimeout(ctx, startup)
	defer cancel()
	c, err := cluster.Start(sctx, cluster.Options{
		Nomad: d.opts.Nomad, Consul: d.opts.Consul, Dir: dir,
		ChrootFiles: map[string]string{d.opts.Whiskers: "/usr/local/bin/whiskers", d.opts.Traefik: "/usr/local/bin/traefik"},
		HostVolumes: []string{"whiskers-dynamic", "whiskers-run"},
	})
	if err != nil {
		return fmt.Errorf("demo on nomad: %w", err)
	}
	defer c.Close()

	// The app and Redis: `whiskers demo-app`, answering with its name.
	const (
		appArgs   = `["demo-app", "--listen", "$${NOMAD_ADDR_http}", "--name", "finicky on $${node.unique.name} $${NOMAD_SHORT_ALLOC_ID}"]`
		redisArgs = `["demo-app", "--listen", "$${NOMAD_ADDR_redis}", "--name", "redis"]`
	)
	jobs := []struct {
		file string
		vars map[string]string
	}{
		{"whiskers.nomad.hcl", map[string]string{
			"nomad_addr": c.Server.Addr, "consul_addr": c.ConsulAddr, "wasm_handlers_artifact": art + "/handlers.tar.gz",
		}},
		{"traefik.nomad.hcl", map[string]string{
			"driver": "exec", "http_port": "0", "admin_port": "0", "bind_ip": "127.0.0.1",
			"plugin_source": art + "/plugin.tar.gz", "static_site_artifact": art + "/handlers.tar.gz",
			"extra_args": `["--api.insecure=true", "--api.dashboard=false", "--log.level=WARN"]`,
		}},
		{"finicky-whiskers.nomad.hcl", map[string]string{
			"host": AppHost, "app_driver": "raw_exec", "app_command": d.opts.Whiskers, "app_args": appArgs,
			"spin_artifact": "", "health_path": "/healthz", "check_interval": "2s", "min_healthy_time": "2s",
			"redis_driver": "raw_exec", "redis_command": d.opts.Whiskers, "redis_args": redisArgs,
		}},
	}
	for _, j := range jobs {
		d.say("nomad job run deploy/nomad/%s\n", j.file)
		if err := runJob(sctx, c, dir, j.file, j.vars); err != nil {
			return err
		}
	}
	traefik, api, err := findTraefiks(sctx, c)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.addrs = Addrs{Nomad: c.Server.Addr, Consul: "http://" + c.ConsulAddr, Traefik: traefik, TraefikAPI: api}
	d.mu.Unlock()
	if err := waitBalanced(sctx, traefik); err != nil {
		return err
	}
	d.banner(c)
	close(d.ready)
	<-ctx.Done()
	d.say("stopping the cluster\n")
	return nil
}

func (d *Demo) say(format string, args ...any) {
	fmt.Fprintf(d.opts.Out, "whiskers demo: "+format, args...)
}

// banner prints where everything is and what to try.
func (d *Demo) banner(c *cluster.Cluster) {
	a := d.Addrs()
	var b strings.Builder
	fmt.Fprintf(&b, "whiskers demo on a real Nomad: everything listens on 127.0.0.1 only; Ctrl-C stops it.\n")
	fmt.Fprintf(&b, "  Nomad        %s   (server; clients worker-1, worker-2, worker-3)\n", a.Nomad)
	fmt.Fprintf(&b, "  Consul       %s\n", a.Consul)
	nodes := slices.Sorted(maps.Keys(a.Traefik))
	for _, n := range nodes {
		fmt.Fprintf(&b, "  Traefik on %s  %s   (API %s/api/http/routers)\n", n, a.Traefik[n], a.TraefikAPI[n])
	}
	first := a.Traefik[nodes[0]]
	fmt.Fprintf(&b, "try:\n")
	fmt.Fprintf(&b, "  curl -H 'Host: %s' %s/hello        # round robin over the three copies\n", AppHost, first)
	fmt.Fprintf(&b, "  curl -H 'Host: %s' %s/cat.txt      # a static file from fileserver.wasm (plugin + wasm host)\n", AppHost, first)
	fmt.Fprintf(&b, "  export NOMAD_ADDR=%s CONSUL_HTTP_ADDR=%s\n", a.Nomad, strings.TrimPrefix(a.Consul, "http://"))
	fmt.Fprintf(&b, "  %s job status finicky-whiskers\n", d.opts.Nomad)
	if len(c.Clients) > 1 {
		fmt.Fprintf(&b, "  %s node drain -enable -yes %s   # %s: its copy moves; no request fails\n", d.opts.Nomad, c.Clients[1].NodeID, c.Clients[1].Name)
	}
	fmt.Fprintf(&b, "  %s explain --nomad-addr %s --consul-addr %s finicky   # why each copy is routed or not\n", d.opts.Whiskers, a.Nomad, c.ConsulAddr)
	fmt.Fprint(d.opts.Out, b.String())
}

// serveArtifacts serves the plugin and handlers archives on loopback until
// ctx is done and returns their base URL.
func serveArtifacts(ctx context.Context, site fs.FS) (string, error) {
	h, err := artifacts.Handler(site)
	if err != nil {
		return "", fmt.Errorf("demo on nomad: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("demo on nomad: artifacts: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with Close, below
	context.AfterFunc(ctx, func() { _ = srv.Close() })
	return "http://" + ln.Addr().String(), nil
}

// runJob writes the embedded job file into dir and submits it with vars.
func runJob(ctx context.Context, c *cluster.Cluster, dir, file string, vars map[string]string) error {
	src, err := fs.ReadFile(nomadjobs.Jobs, file)
	if err != nil {
		return fmt.Errorf("demo on nomad: %w", err)
	}
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, src, 0o644); err != nil {
		return fmt.Errorf("demo on nomad: %w", err)
	}
	if err := c.RunJob(ctx, path, vars); err != nil {
		return fmt.Errorf("demo on nomad: %w", err)
	}
	return nil
}

// findTraefiks waits for Traefik on every node and returns, by node, its
// web entry point and its API.
func findTraefiks(ctx context.Context, c *cluster.Cluster) (web, api map[string]string, err error) {
	err = cluster.WaitFor(ctx, "Traefik running on every node", func() error {
		ports, err := c.Ports(ctx, "traefik")
		if err != nil {
			return err
		}
		web, api = map[string]string{}, map[string]string{}
		for node, p := range ports {
			if p["web"] != "" && p["admin"] != "" {
				web[node], api[node] = p["web"], p["admin"]
			}
		}
		if len(web) != len(c.Clients) {
			return fmt.Errorf("on %d of %d nodes", len(web), len(c.Clients))
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("demo on nomad: %w", err)
	}
	return web, api, nil
}

// waitBalanced waits until every node's Traefik answers the app from its
// three copies.
func waitBalanced(ctx context.Context, traefik map[string]string) error {
	client := httpload.NewClient()
	for node, url := range traefik {
		err := cluster.WaitFor(ctx, "Traefik on "+node+" routing the app's three copies", func() error {
			seen := map[string]bool{}
			for range 9 {
				r := httpload.Get(client, url, AppHost, "/hello")
				if r.Err != nil || r.Status != http.StatusOK {
					return fmt.Errorf("GET /hello: %d %v", r.Status, r.Err)
				}
				seen[r.Body] = true
			}
			if len(seen) != 3 {
				return fmt.Errorf("%d copies answered", len(seen))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("demo on nomad: %w", err)
		}
	}
	return nil
}
