// Package demo runs the whole of whiskers on one machine, on loopback only,
// for `whiskers demo`: fake Nomad and Consul catalogs seeded with a
// Finicky-Whiskers-like app, three worker HTTP servers the catalogs point
// at, the real syncer (syncer/nomad and syncer/consul sources against the
// fakes) writing Traefik dynamic configuration to <Dir>/dynamic.yaml, and
// the wasm host serving the redirect and fileserver handlers over a small
// static site.
//
// A front stands in for Traefik: the whiskers middleware (package plugin,
// compiled) in front of a round-robin over the finicky servers of the last
// configuration written, so that requests show both roads at work. Given a
// Traefik binary (Options.Traefik), the demo also runs the real Traefik
// (internal/traefikproc) with the whiskers plugin as a local plugin, its
// file provider watching dynamic.yaml, and the wasm host on a Unix socket,
// as in a deployment.
//
// Data enters through the fakes: every DrainEvery the demo deregisters one
// finicky worker from the fake Nomad, and registers it again on the next
// tick. It leaves as the configuration file and as a few readable lines on
// Options.Out: where everything is, what to try, and every change of the
// servers in the configuration.
package demo

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/whiskers-dev/whiskers/internal/traefikproc"
	"github.com/whiskers-dev/whiskers/plugin"
	"github.com/whiskers-dev/whiskers/syncer"
	"github.com/whiskers-dev/whiskers/syncer/builder"
	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/consul"
	"github.com/whiskers-dev/whiskers/syncer/fakes/consulfake"
	"github.com/whiskers-dev/whiskers/syncer/fakes/nomadfake"
	"github.com/whiskers-dev/whiskers/syncer/nomad"
	"github.com/whiskers-dev/whiskers/syncer/output"
	"github.com/whiskers-dev/whiskers/syncer/render"
	"github.com/whiskers-dev/whiskers/syncer/status"
	"github.com/whiskers-dev/whiskers/wasmhost"
	"github.com/whiskers-dev/whiskers/wasmhost/handlers"
)

// Defaults of Options.
const (
	DefaultDir        = "whiskers-demo"
	DefaultDrainEvery = 5 * time.Second
	// ConfigFile is the name of the dynamic configuration file in Dir.
	ConfigFile = "dynamic.yaml"
	// WasmConfigFile is the name of the wasm host's config file in Dir.
	WasmConfigFile = "wasmhost.yaml"
)

// Names of the demo's catalog services.
const (
	AppService        = "finicky"    // in Nomad, one instance per worker
	ScoreboardService = "scoreboard" // in Consul
	RedisService      = "redis"      // in Nomad, without routing tags
)

// Workers are the names of the demo's three worker servers; each answers
// every request with "<AppService> on <worker>".
var Workers = []string{"worker-1", "worker-2", "worker-3"}

//go:embed site
var site embed.FS

// Options configure a Demo.
type Options struct {
	// Dir receives dynamic.yaml, wasmhost.yaml and the static site; it is
	// created if missing. Default DefaultDir (relative to the working
	// directory).
	Dir string
	// DrainEvery is the period of the drain cycle: one tick drains a
	// worker, the next brings it back. 0 means DefaultDrainEvery; negative
	// disables draining.
	DrainEvery time.Duration
	// HandlersDir holds redirect/redirect.wasm and fileserver/fileserver.wasm.
	// "" uses the modules built into the binary (handlers.Modules), written
	// to Dir/handlers when the demo runs.
	HandlersDir string
	// Traefik is a Traefik binary (v3.6, as `make traefik` builds it) to run
	// in front of the workers, beside the Go front; "" runs the Go front
	// only. New resolves a relative path against the working directory.
	Traefik string
	// Out receives the demo's readable lines. Nil discards them.
	Out io.Writer
	// Logger receives the components' logs. Nil logs warnings and errors
	// to os.Stderr.
	Logger *slog.Logger
}

// Demo is one run of the demo. Create it with New and call Run once;
// Ready and Addrs may be called from any goroutine.
type Demo struct {
	opts        Options
	handlersDir string
	lb          balancer      // the front's load balancer
	written     chan struct{} // closed at the first publish
	ready       chan struct{} // closed by Run once everything serves

	mu      sync.Mutex // serializes lines written to opts.Out and guards below
	names   map[string]string
	servers map[string][]string // last published: service → server URLs
	addrs   Addrs
	once    sync.Once
	board   *status.Board // the syncer's decisions, for the status page
}

// Addrs are where the parts of a running demo are.
type Addrs struct {
	Nomad, Consul string   // fake catalogs' HTTP APIs
	Workers       []string // URLs of the finicky workers, in the order of Workers
	Scoreboard    string   // URL of the scoreboard server
	Wasm          string   // URL of the wasm host: http://… or, with Traefik, unix:///…
	Front         string   // URL of the front: the plugin, then round-robin over finicky
	Config        string   // path of dynamic.yaml
	Status        string   // URL of the syncer's status page: why each instance is routed or not
	Traefik       string   // URL of Traefik's web entry point; "" without Traefik
	TraefikAPI    string   // URL of Traefik's API and /ping; "" without Traefik
}

// Addrs returns where the parts are. It is complete once Ready is closed.
func (d *Demo) Addrs() Addrs {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addrs
}

// New validates opts and returns a Demo; it starts nothing and writes nothing.
func New(opts Options) (*Demo, error) {
	opts.Dir = cmp.Or(opts.Dir, DefaultDir)
	if opts.DrainEvery == 0 {
		opts.DrainEvery = DefaultDrainEvery
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	dir := opts.HandlersDir
	if dir != "" {
		for _, m := range handlerModules {
			if _, err := os.Stat(filepath.Join(dir, m)); err != nil {
				return nil, fmt.Errorf("demo: handler module: %w", err)
			}
		}
	}
	if opts.Traefik != "" {
		bin, err := checkTraefik(opts.Traefik)
		if err != nil {
			return nil, err
		}
		opts.Traefik = bin
	}
	return &Demo{
		opts: opts, handlersDir: dir, names: map[string]string{},
		written: make(chan struct{}), ready: make(chan struct{}), board: status.NewBoard(nil),
	}, nil
}

// handlerModules are the modules the demo runs, relative to HandlersDir.
var handlerModules = []string{"redirect/redirect.wasm", "fileserver/fileserver.wasm"}

// Ready is closed once the demo serves: the first configuration has been
// written and, with Traefik, Traefik routes by it.
func (d *Demo) Ready() <-chan struct{} { return d.ready }

// Run starts every part of the demo, prints where they are, runs the drain
// cycle until ctx is done, then stops everything and returns. It returns an
// error only when a part cannot start.
func (d *Demo) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	p := &parts{ctx: ctx, log: d.opts.Logger.With("component", "demo")}
	defer p.stop(cancel)

	dirs, err := d.writeFiles()
	if err != nil {
		return err
	}
	cats, err := d.startServers(p, dirs)
	if err != nil {
		return err
	}
	d.banner(dirs.root)

	if err := d.startSyncer(p, cats.nomad.URL(), cats.consul.URL(), filepath.Join(dirs.root, ConfigFile)); err != nil {
		return err
	}
	select {
	case <-d.written:
	case <-ctx.Done():
		return nil
	}
	// Traefik starts from the configuration just written, so that it never
	// routes by a dynamic.yaml left behind by an earlier run.
	if d.opts.Traefik != "" {
		if err := d.startTraefikFront(p, dirs.root); err != nil {
			if ctx.Err() != nil {
				return nil // stopped while Traefik was starting
			}
			return err
		}
	}
	close(d.ready)

	if d.opts.DrainEvery < 0 {
		<-ctx.Done()
		return nil
	}
	d.printf("every %s one %s worker is drained or brought back; the config changes follow:\n", d.opts.DrainEvery, AppService)
	d.drainCycle(ctx, cats.nomad, cats.regs)
	return nil
}

// startServers starts everything but the syncer and Traefik, and records
// where each part is in d.addrs.
func (d *Demo) startServers(p *parts, dirs demoDirs) (*fakeCatalogs, error) {
	workers, scoreboard, err := d.startWorkers(p)
	if err != nil {
		return nil, err
	}
	wasmURL, err := d.startWasmHost(p, dirs)
	if err != nil {
		return nil, err
	}
	frontURL, err := d.startFront(p, wasmURL)
	if err != nil {
		return nil, err
	}
	cats, err := startCatalogs(p, workers, scoreboard, wasmURL)
	if err != nil {
		return nil, err
	}
	statusURL, err := p.serveHTTP(d.board.Handler())
	if err != nil {
		return nil, fmt.Errorf("demo: starting the status page: %w", err)
	}
	d.mu.Lock()
	d.addrs = Addrs{
		Nomad: cats.nomad.URL(), Consul: cats.consul.URL(), Workers: workers, Scoreboard: scoreboard,
		Wasm: wasmURL, Front: frontURL, Config: filepath.Join(dirs.root, ConfigFile), Status: statusURL + "/",
	}
	d.mu.Unlock()
	return cats, nil
}

// parts are what one Run started. Shutdown order: cancel ctx, which stops
// every goroutine Run started (servers close through context.AfterFunc),
// wait for them, then release the rest, last opened first.
type parts struct {
	ctx     context.Context // done when Run stops
	log     *slog.Logger
	wg      sync.WaitGroup
	closers []func()
}

// onStop adds release to what stop releases.
func (p *parts) onStop(release func()) { p.closers = append(p.closers, release) }

// serveHTTP serves h on a loopback port until p.ctx is done and returns its
// URL.
func (p *parts) serveHTTP(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	context.AfterFunc(p.ctx, func() { _ = srv.Close() })
	p.wg.Go(func() { _ = srv.Serve(ln) })
	return "http://" + ln.Addr().String(), nil
}

// stop cancels p.ctx with cancel and stops everything.
func (p *parts) stop(cancel context.CancelFunc) {
	cancel()
	p.wg.Wait()
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
}

// demoDirs are where the demo's files are.
type demoDirs struct {
	root     string // Options.Dir, absolute
	site     string // the static site
	handlers string // the handler modules
}

// writeFiles writes the static site and, unless Options.HandlersDir names
// them, the handler modules into Options.Dir.
func (d *Demo) writeFiles() (demoDirs, error) {
	dir, err := filepath.Abs(d.opts.Dir)
	if err != nil {
		return demoDirs{}, fmt.Errorf("demo: dir: %w", err)
	}
	dirs := demoDirs{root: dir, site: filepath.Join(dir, "site"), handlers: d.handlersDir}
	if err := writeSite(dirs.site); err != nil {
		return demoDirs{}, err
	}
	if dirs.handlers == "" {
		dirs.handlers = filepath.Join(dir, "handlers")
		if err := writeModules(dirs.handlers); err != nil {
			return demoDirs{}, err
		}
	}
	return dirs, nil
}

// startWorkers starts the workers, plain HTTP servers that say who they
// are, and the scoreboard, and returns their URLs.
func (d *Demo) startWorkers(p *parts) (workers []string, scoreboard string, err error) {
	workers = make([]string, len(Workers))
	var url string
	for i, name := range Workers {
		url, err = p.serveHTTP(textHandler(AppService + " on " + name))
		if err != nil {
			return nil, "", fmt.Errorf("demo: starting %s: %w", name, err)
		}
		workers[i] = url
		d.names[url] = name
	}
	scoreboard, err = p.serveHTTP(textHandler(ScoreboardService + " on worker-1"))
	if err != nil {
		return nil, "", fmt.Errorf("demo: starting scoreboard: %w", err)
	}
	d.names[scoreboard] = ScoreboardService
	return workers, scoreboard, nil
}

// startWasmHost starts the wasm host from a config file the user can edit
// while it runs, and returns its URL for the plugin's socket option: over
// TCP loopback for the Go front alone; with Traefik on a Unix socket, as
// deployed.
func (d *Demo) startWasmHost(p *parts, dirs demoDirs) (string, error) {
	wasmCfg := filepath.Join(dirs.root, WasmConfigFile)
	wasmYAML, err := wasmConfig(dirs.handlers, dirs.site)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(wasmCfg, wasmYAML, 0o644); err != nil {
		return "", fmt.Errorf("demo: writing wasm host config: %w", err)
	}
	wasmSrv, err := wasmhost.NewServer(p.ctx, wasmCfg, wasmhost.Options{Logger: d.opts.Logger})
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	p.onStop(func() { _ = wasmSrv.Close(context.WithoutCancel(p.ctx)) })
	listen := "127.0.0.1:0"
	if d.opts.Traefik != "" {
		sock, cleanup, err := socketPath(dirs.root)
		if err != nil {
			return "", err
		}
		p.onStop(cleanup)
		listen = "unix://" + sock
	}
	wasmLn, err := wasmhost.Listen(listen, 0)
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	wasmURL := listen
	if addr, ok := wasmLn.Addr().(*net.TCPAddr); ok {
		wasmURL = "http://" + addr.String()
	}
	p.wg.Go(func() {
		if err := wasmSrv.Serve(p.ctx, wasmLn, 0, nil); err != nil {
			p.log.Error("wasm host stopped", "err", err)
		}
	})
	return wasmURL, nil
}

// startFront starts the front, the demo's stand-in for Traefik, and
// returns its URL: the whiskers middleware (the plugin package compiled,
// where Traefik interprets it) configured as the finicky tags configure
// it, then round-robin over the finicky servers of the configuration the
// syncer wrote.
func (d *Demo) startFront(p *parts, wasmURL string) (string, error) {
	mw, err := plugin.New(p.ctx, &d.lb, frontConfig(wasmURL), "finicky-static")
	if err != nil {
		return "", fmt.Errorf("demo: front: %w", err)
	}
	frontURL, err := p.serveHTTP(mw)
	if err != nil {
		return "", fmt.Errorf("demo: starting front: %w", err)
	}
	return frontURL, nil
}

// fakeCatalogs are the demo's catalogs.
type fakeCatalogs struct {
	nomad  *nomadfake.Server
	consul *consulfake.Server
	regs   []nomadapi.ServiceRegistration // the finicky instances, in the order of Workers
}

// startCatalogs starts the fake catalogs with the demo's services: in
// Nomad, the finicky instances on the workers and Redis; in Consul, the
// scoreboard.
func startCatalogs(p *parts, workers []string, scoreboard, wasmURL string) (*fakeCatalogs, error) {
	nomadSrv := nomadfake.New()
	p.onStop(nomadSrv.Close)
	consulSrv := consulfake.New()
	p.onStop(consulSrv.Close)
	regs := make([]nomadapi.ServiceRegistration, len(Workers))
	for i := range Workers {
		// Each worker is a node with one running allocation of the app,
		// so that a drain of the node is seen as Nomad shows it.
		nomadSrv.SetNode(workerNode(i, false))
		nomadSrv.SetAllocation(nomadapi.Allocation{
			ID: fmt.Sprintf("finicky-%d", i), Namespace: "default", NodeID: Workers[i], NodeName: Workers[i],
			JobID: "finicky-whiskers", TaskGroup: AppService, DesiredStatus: nomadapi.AllocDesiredStatusRun,
			ClientStatus: nomadapi.AllocClientStatusRunning,
		})
		regs[i] = appRegistration(i, workers[i], wasmURL)
		nomadSrv.Register(regs[i])
	}
	nomadSrv.Register(nomadapi.ServiceRegistration{
		ID: "_nomad-task-redis-0-redis-redis", ServiceName: RedisService, NodeID: "node-1",
		JobID: "finicky-whiskers", AllocID: "redis-0", Address: "127.0.0.1", Port: 6379,
	})
	host, port, err := hostPort(scoreboard)
	if err != nil {
		return nil, err
	}
	consulSrv.Register(consulfake.Instance{
		ID: "scoreboard-1", Service: ScoreboardService, Node: "worker-1", Address: host, Port: port,
		Tags: []string{"traefik.enable=true", "traefik.http.routers.scoreboard.rule=Host(`" + ScoreboardHost + "`)"},
	})
	return &fakeCatalogs{nomad: nomadSrv, consul: consulSrv, regs: regs}, nil
}

// startSyncer starts the syncer: the real sources, builder, runner and
// file output, against the fake catalogs.
func (d *Demo) startSyncer(p *parts, nomadURL, consulURL, file string) error {
	runner, err := d.newRunner(nomadURL, consulURL, file)
	if err != nil {
		return err
	}
	p.wg.Go(func() {
		if err := runner.Run(p.ctx); err != nil {
			p.log.Error("syncer stopped", "err", err)
		}
	})
	return nil
}

// startTraefikFront starts Traefik (startTraefik), records where it is and
// says so.
func (d *Demo) startTraefikFront(p *parts, dir string) error {
	proxy, err := d.startTraefik(p.ctx, dir)
	if err != nil {
		return err
	}
	p.onStop(func() { _ = proxy.Close() })
	d.mu.Lock()
	d.addrs.Traefik, d.addrs.TraefikAPI = proxy.URL, proxy.APIURL
	d.mu.Unlock()
	d.traefikBanner()
	return nil
}

// newRunner builds the syncer against the fake catalogs.
func (d *Demo) newRunner(nomadURL, consulURL, file string) (*syncer.Runner, error) {
	nomadT, consulT := d.board.Tracker("nomad"), d.board.Tracker("consul")
	nomadSrc, err := nomad.New(nomad.Options{
		Config:      &nomadapi.Config{Address: nomadURL},
		WaitTime:    time.Minute,
		MinInterval: 20 * time.Millisecond,
		Logger:      d.opts.Logger,
		OnError:     nomadT.OnError,
		OnAnswer:    nomadT.OnAnswer,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	host := strings.TrimPrefix(consulURL, "http://")
	consulSrc, err := consul.New(consul.Options{
		Config:      &consulapi.Config{Address: host, Scheme: "http"},
		WaitTime:    time.Minute,
		MinInterval: 20 * time.Millisecond,
		Logger:      d.opts.Logger,
		OnError:     consulT.OnError,
		OnAnswer:    consulT.OnAnswer,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	b, err := builder.New(builder.Options{})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	out, err := output.NewFile(file, render.YAML)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	r, err := syncer.New(syncer.Options{
		Sources:        []catalog.Source{nomadSrc, consulSrc},
		Builder:        b,
		Outputs:        []output.Output{out, output.NewRecorder(render.YAML, d.published)},
		Throttle:       50 * time.Millisecond,
		StartupTimeout: 10 * time.Second,
		Logger:         d.opts.Logger,
		Status:         d.board,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return r, nil
}

// drainCycle alternates until ctx is done: drain the next worker's node
// (Nomad marks it draining, so its finicky instance leaves the pool while
// still registered, as in a real drain), then make it eligible again.
func (d *Demo) drainCycle(ctx context.Context, srv *nomadfake.Server, regs []nomadapi.ServiceRegistration) {
	t := time.NewTicker(d.opts.DrainEvery)
	defer t.Stop()
	next, drained := 0, -1
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if drained < 0 {
			drained, next = next, (next+1)%len(regs)
			srv.SetNode(workerNode(drained, true))
			d.printf("drain: %s drained: Nomad marks its node draining, its %s instance leaves the pool\n", Workers[drained], AppService)
		} else {
			srv.SetNode(workerNode(drained, false))
			d.printf("drain: %s is eligible again\n", Workers[drained])
			drained = -1
		}
	}
}

// workerNode is worker i's Nomad node, draining or not.
func workerNode(i int, draining bool) nomadapi.Node {
	n := nomadapi.Node{ID: Workers[i], Name: Workers[i], Datacenter: "dc1", Status: nomadapi.NodeStatusReady,
		SchedulingEligibility: nomadapi.NodeSchedulingEligible}
	if draining {
		n.Drain = true
		n.SchedulingEligibility = nomadapi.NodeSchedulingIneligible
		n.DrainStrategy = &nomadapi.DrainStrategy{}
	}
	return n
}

// published is told every configuration the runner publishes (through a
// Recorder): it prints how the servers changed.
func (d *Demo) published(b []byte) {
	now, err := Servers(b)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		fmt.Fprintf(d.opts.Out, "config: unreadable: %v\n", err)
		return
	}
	first := d.servers == nil
	if first {
		fmt.Fprintf(d.opts.Out, "config: %s written: %s\n", ConfigFile, Summary(now, d.names))
	} else {
		for _, line := range Diff(d.servers, now, d.names) {
			fmt.Fprintf(d.opts.Out, "config: %s\n", line)
		}
	}
	d.servers = now
	d.lb.set(now[AppService])
	d.once.Do(func() { close(d.written) })
}

func (d *Demo) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.opts.Out, format, args...)
}

// banner prints where everything is and what to try.
func (d *Demo) banner(dir string) {
	a := d.Addrs()
	rel := dir
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, dir); err == nil && !strings.HasPrefix(r, "..") {
			rel = "./" + r
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "whiskers demo: everything listens on 127.0.0.1 only; Ctrl-C stops it.\n")
	fmt.Fprintf(&b, "  fake Nomad   %s   %s on %s, %s (no routing tags)\n", a.Nomad, AppService, strings.Join(Workers, ", "), RedisService)
	fmt.Fprintf(&b, "  fake Consul  %s   %s\n", a.Consul, ScoreboardService)
	for i, w := range a.Workers {
		fmt.Fprintf(&b, "  %-12s %s\n", Workers[i], w)
	}
	fmt.Fprintf(&b, "  scoreboard   %s\n", a.Scoreboard)
	fmt.Fprintf(&b, "  wasm host    %s   fileserver on /, redirect on /old (config %s/%s)\n", a.Wasm, rel, WasmConfigFile)
	fmt.Fprintf(&b, "  syncer       writes %s/%s (Traefik file provider format)\n", rel, ConfigFile)
	fmt.Fprintf(&b, "  front        %s   stand-in for Traefik: the whiskers plugin, then round-robin over %s in %s\n", a.Front, AppService, ConfigFile)
	fmt.Fprintf(&b, "  status page  %s   why each instance is routed or not, live (open it in a browser)\n", a.Status)
	fmt.Fprintf(&b, "try:\n")
	fmt.Fprintf(&b, "  cat %s/%s\n", rel, ConfigFile)
	fmt.Fprintf(&b, "  curl %s/cat.txt       # a static file: the plugin asks fileserver.wasm\n", a.Front)
	fmt.Fprintf(&b, "  curl %s/hello         # not a file (404): falls through to a %s worker; repeat it\n", a.Front, AppService)
	if sock, ok := strings.CutPrefix(a.Wasm, "unix://"); ok {
		fmt.Fprintf(&b, "  curl -i --unix-socket %s http://wasm/old   # a redirect, by redirect.wasm\n", sock)
	} else {
		fmt.Fprintf(&b, "  curl -i %s/old           # a redirect, by redirect.wasm\n", a.Wasm)
	}
	fmt.Fprintf(&b, "  curl %s/v1/service/%s\n", a.Nomad, AppService)
	if d.opts.Traefik == "" {
		fmt.Fprintf(&b, "  traefik --providers.file.filename=%s/%s --providers.file.watch   # a real Traefik, if you have one\n", rel, ConfigFile)
	}
	d.printf("%s", b.String())
}

// appRegistration is the Nomad registration of worker i's finicky instance.
func appRegistration(i int, url, wasmURL string) nomadapi.ServiceRegistration {
	host, port, _ := hostPort(url)
	return nomadapi.ServiceRegistration{
		ID:          fmt.Sprintf("_nomad-task-finicky-%d-spin-%s-http", i, AppService),
		ServiceName: AppService,
		NodeID:      Workers[i],
		JobID:       "finicky-whiskers",
		AllocID:     fmt.Sprintf("finicky-%d", i),
		Address:     host,
		Port:        port,
		Tags:        appTags(wasmURL),
	}
}

// Hosts and routers of the finicky tags.
const (
	AppHost        = "finicky.localhost"    // router AppRouter and EdgeRouter
	ScoreboardHost = "scoreboard.localhost" // router scoreboard
	AppRouter      = "finicky"              // the app behind the fileserver
	EdgeRouter     = "finicky-old"          // /old: an edge redirect by redirect.wasm
	FilesRouter    = "finicky-files"        // /files/: the fileserver inside Traefik (http-wasm)
	MovedRouter    = "finicky-moved"        // /moved: the redirect inside Traefik (http-wasm)
)

// appTags are the finicky service's tags, as in deploy/nomad/finicky-whiskers.nomad.hcl,
// with the middlewares forwarding to the demo's wasm host: the app behind
// the fileserver (a 404 falls through to the app), and an edge redirect
// router for /old that never reaches the app. /files/ and /moved are the
// same fileserver and redirect run inside Traefik (the http-wasm plugins;
// only a real Traefik has them).
func appTags(wasmURL string) []string {
	return []string{
		"traefik.http.routers." + FilesRouter + ".rule=Host(`" + AppHost + "`) && PathPrefix(`/files/`)",
		"traefik.http.routers." + FilesRouter + ".middlewares=finicky-files-strip,finicky-files",
		"traefik.http.routers." + FilesRouter + ".service=" + AppService,
		"traefik.http.middlewares.finicky-files-strip.stripprefix.prefixes=/files",
		"traefik.http.middlewares.finicky-files.plugin." + traefikproc.FileserverPlugin + ".root=/site",
		"traefik.http.routers." + MovedRouter + ".rule=Host(`" + AppHost + "`) && PathPrefix(`/moved`)",
		"traefik.http.routers." + MovedRouter + ".middlewares=finicky-moved",
		"traefik.http.routers." + MovedRouter + ".service=" + AppService,
		"traefik.http.middlewares.finicky-moved.plugin." + traefikproc.RedirectPlugin + ".destination=/files/",
		"traefik.http.middlewares.finicky-moved.plugin." + traefikproc.RedirectPlugin + ".status=308",
		"traefik.enable=true",
		"traefik.http.routers." + AppRouter + ".rule=Host(`" + AppHost + "`)",
		"traefik.http.routers." + AppRouter + ".middlewares=finicky-static",
		"traefik.http.routers." + AppRouter + ".service=" + AppService,
		"traefik.http.middlewares.finicky-static.plugin.whiskers.handler=fileserver",
		"traefik.http.middlewares.finicky-static.plugin.whiskers.socket=" + wasmURL,
		"traefik.http.middlewares.finicky-static.plugin.whiskers.fallthroughStatus=404",
		"traefik.http.middlewares.finicky-static.plugin.whiskers.onHostDown=next",
		"traefik.http.routers." + EdgeRouter + ".rule=Host(`" + AppHost + "`) && PathPrefix(`/old`)",
		"traefik.http.routers." + EdgeRouter + ".middlewares=finicky-redirect",
		"traefik.http.routers." + EdgeRouter + ".service=" + AppService,
		"traefik.http.middlewares.finicky-redirect.plugin.whiskers.handler=redirect",
		"traefik.http.middlewares.finicky-redirect.plugin.whiskers.socket=" + wasmURL,
		"traefik.http.middlewares.finicky-redirect.plugin.whiskers.onHostDown=503",
	}
}

// frontConfig is the middleware of appTags as a plugin configuration.
func frontConfig(wasmURL string) *plugin.Config {
	c := plugin.CreateConfig()
	c.Handler = "fileserver"
	c.Socket = wasmURL
	c.FallthroughStatus = []int{http.StatusNotFound}
	c.OnHostDown = plugin.OnHostDownNext
	return c
}

// wasmConfig is the wasm host's config file: fileserver over the site on
// /, redirect on /old.
func wasmConfig(handlersDir, siteDir string) ([]byte, error) {
	cfg := &wasmhost.Config{Handlers: []wasmhost.HandlerConfig{
		{Name: "fileserver", Module: filepath.Join(handlersDir, "fileserver", "fileserver.wasm"), Route: "/",
			Volumes: []string{siteDir + ":/site"}, Env: map[string]string{"ROOT": "/site"}},
		{Name: "redirect", Module: filepath.Join(handlersDir, "redirect", "redirect.wasm"), Route: "/old",
			Env: map[string]string{"DESTINATION": "/", "STATUS": "301"}},
	}}
	b, err := cfg.YAML()
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return append([]byte("# The demo's wasm host; edit and save, the host reloads it.\n"), b...), nil
}

// Site is the demo's static site (index.html, cat.txt, style.css).
func Site() fs.FS {
	sub, err := fs.Sub(site, "site")
	if err != nil {
		panic(err) // "site" is embedded: cannot fail
	}
	return sub
}

// writeSite copies the embedded static site into dir.
func writeSite(dir string) error {
	sub := Site()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo: site: %w", err)
	}
	if err := os.CopyFS(dir, sub); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("demo: writing site: %w", err)
	}
	return nil
}

// writeModules writes the handler modules built into the binary into dir,
// replacing older copies.
func writeModules(dir string) error {
	for _, m := range handlerModules {
		b, err := handlers.Modules.ReadFile(m)
		if err != nil {
			return fmt.Errorf("demo: handler module: %w", err)
		}
		p := filepath.Join(dir, filepath.FromSlash(m))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("demo: writing handler module: %w", err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return fmt.Errorf("demo: writing handler module: %w", err)
		}
	}
	return nil
}

// textHandler answers every request with text.
func textHandler(text string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, text+"\n")
	})
}

// hostPort splits the URL http://host:port.
func hostPort(url string) (string, int, error) {
	h, p, err := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	if err != nil {
		return "", 0, fmt.Errorf("demo: address %q: %w", url, err)
	}
	var port int
	if _, err := fmt.Sscanf(p, "%d", &port); err != nil {
		return "", 0, fmt.Errorf("demo: port of %q: %w", url, err)
	}
	return h, port, nil
}
