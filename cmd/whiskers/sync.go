package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/whiskers-dev/whiskers/syncer"
	"github.com/whiskers-dev/whiskers/syncer/builder"
	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/consul"
	"github.com/whiskers-dev/whiskers/syncer/nomad"
	"github.com/whiskers-dev/whiskers/syncer/output"
	"github.com/whiskers-dev/whiskers/syncer/render"
	"github.com/whiskers-dev/whiskers/syncer/status"
)

func init() {
	commands["sync"] = command{
		summary: "watch the Nomad and Consul catalogs, write Traefik dynamic configuration",
		run:     runSync,
	}
}

// syncFlags are the flags of `whiskers sync`.
type syncFlags struct {
	output, format, listen                      string
	once                                        bool
	throttle, startupTimeout, waitTime          time.Duration
	consul, nomad                               bool
	consulAddr, consulToken, consulNS, consulDC string
	consulPartition                             string
	nomadAddr, nomadToken, nomadNS, nomadRegion string
	exposedByDefault, routeWarning, nomadAllocs bool
	defaultRule, prefix, logLevel               string
}

// syncIntro is the help of `whiskers sync` before its flags.
const syncIntro = `usage: whiskers sync [flags]

Watches the Consul and Nomad catalogs and writes Traefik dynamic configuration.
SIGHUP forces a full re-read of the catalogs; SIGTERM stops cleanly.

flags:
`

// newSyncFlagSet declares the flags of `whiskers sync`; its help goes to
// stderr.
func newSyncFlagSet(stderr io.Writer) (*flag.FlagSet, *syncFlags) {
	t := newFlagTable("whiskers sync", stderr, syncIntro)
	return t.fs, declareSyncFlags(t, "info")
}

// declareSyncFlags declares the flags of `whiskers sync` on t, which
// `whiskers explain` shares; logLevel is the default of --log-level.
func declareSyncFlags(t *flagTable, logLevel string) *syncFlags {
	f := &syncFlags{}
	t.stringFlag(&f.output, flagSpec{name: "output", usage: "write the configuration to this file (atomically, only when it changes)"})
	t.stringFlag(&f.format, flagSpec{name: "format", def: "yaml", usage: "format of --output and --once: yaml, json or toml"})
	t.stringFlag(&f.listen, flagSpec{name: "listen", usage: "serve /config (JSON, for Traefik's HTTP provider), /healthz, /metrics and the status page (/, /status.json: why each instance is routed or not) on this address, e.g. 127.0.0.1:8081"})
	t.boolFlag(&f.once, flagSpec{name: "once", def: "false", usage: "print the configuration to stdout once every catalog has been read, and exit"})
	t.durationFlag(&f.throttle, flagSpec{name: "throttle", def: "50ms", usage: "at least this long between two writes: a change after a quiet spell is written at once, one sooner when this has passed since the last write (with what came meanwhile); 0 writes on every change"})
	t.durationFlag(&f.startupTimeout, flagSpec{name: "startup-timeout", def: "30s", usage: "write even if a catalog has not been read after this long, unless --output is there from an earlier run (0: wait forever)"})
	t.durationFlag(&f.waitTime, flagSpec{name: "wait", def: "5m", usage: "how long a blocking catalog query may wait"})
	t.boolFlag(&f.consul, flagSpec{name: "consul", def: "true", usage: "watch the Consul catalog (--consul=false to switch it off)"})
	t.boolFlag(&f.nomad, flagSpec{name: "nomad", def: "true", usage: "watch the Nomad service catalog (--nomad=false to switch it off)"})
	t.stringFlag(&f.consulAddr, flagSpec{name: "consul-addr", env: "CONSUL_HTTP_ADDR", def: "127.0.0.1:8500", usage: "Consul HTTP address; TLS from $CONSUL_CACERT, $CONSUL_CLIENT_CERT, …"})
	t.stringFlag(&f.consulToken, flagSpec{name: "consul-token", env: "CONSUL_HTTP_TOKEN", usage: `Consul ACL token (never printed); even "" uses $CONSUL_HTTP_TOKEN`})
	t.stringFlag(&f.consulNS, flagSpec{name: "consul-namespace", env: "CONSUL_NAMESPACE", usage: "Consul Enterprise namespaces to watch, comma-separated, one set of watches each; * is every one the token may read"})
	t.stringFlag(&f.consulPartition, flagSpec{name: "consul-partition", env: "CONSUL_PARTITION", usage: "Consul Enterprise admin partition"})
	t.stringFlag(&f.consulDC, flagSpec{name: "consul-datacenter", usage: `Consul datacenter; "" is the agent's`})
	t.stringFlag(&f.nomadAddr, flagSpec{name: "nomad-addr", env: "NOMAD_ADDR", def: "http://127.0.0.1:4646", usage: "Nomad HTTP address; TLS from $NOMAD_CACERT, $NOMAD_CLIENT_CERT, …"})
	t.stringFlag(&f.nomadToken, flagSpec{name: "nomad-token", env: "NOMAD_TOKEN", usage: `Nomad ACL token (never printed); even "" uses $NOMAD_TOKEN`})
	t.stringFlag(&f.nomadNS, flagSpec{name: "nomad-namespace", env: "NOMAD_NAMESPACE", def: "*", usage: "Nomad namespaces to watch, comma-separated; * is all"})
	t.boolFlag(&f.nomadAllocs, flagSpec{name: "nomad-allocations", def: "true", usage: "read Nomad allocations, nodes and deployments: route an instance only once its allocation is healthy, drop it when it is stopping or its node drains, mark canaries (needs read-job and node:read)"})
	t.stringFlag(&f.nomadRegion, flagSpec{name: "nomad-region", env: "NOMAD_REGION", usage: "Nomad region"})
	t.boolFlag(&f.exposedByDefault, flagSpec{name: "exposed-by-default", def: "false", usage: "route services without traefik.enable=true"})
	t.stringFlag(&f.defaultRule, flagSpec{name: "default-rule", def: builder.DefaultRule, usage: "rule template of routers without a rule tag"})
	t.stringFlag(&f.prefix, flagSpec{name: "prefix", def: builder.DefaultPrefix, usage: "tag prefix"})
	t.boolFlag(&f.routeWarning, flagSpec{name: "route-warning", def: "false", usage: "also route Consul instances whose checks are warning"})
	t.stringFlag(&f.logLevel, flagSpec{name: "log-level", def: logLevel, usage: "log level: debug, info, warn or error"})
	return f
}

// logger is the logger --log-level asks for, writing to w.
func (f *syncFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q", f.logLevel)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), nil
}

// builder is the builder the routing flags configure.
func (f *syncFlags) builder() (*builder.Builder, error) {
	return builder.New(builder.Options{
		Prefix: f.prefix, ExposedByDefault: f.exposedByDefault, DefaultRule: f.defaultRule, RouteWarning: f.routeWarning,
	})
}

// runSync is `whiskers sync`.
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, f := newSyncFlagSet(stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, format, err := f.check(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "whiskers sync: %v\n", err)
		return errUsage
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts, err := f.runnerOptions(log, format, reg)
	if err != nil {
		return err
	}
	if f.once {
		return syncOnce(ctx, opts, stdout)
	}
	return f.syncUntilDone(ctx, opts, reg)
}

// check returns the logger and format the flags ask for, and says what is
// wrong with them: errors meant for the user, not wrapped.
func (f *syncFlags) check(stderr io.Writer) (*slog.Logger, render.Format, error) {
	log, err := f.logger(stderr)
	if err != nil {
		return nil, render.Format(""), err
	}
	format, err := render.ParseFormat(f.format)
	if err != nil {
		return nil, format, err
	}
	if !f.once && f.output == "" && f.listen == "" {
		return nil, format, errors.New("nothing to do: give --output, --listen or --once")
	}
	return log, format, nil
}

// runnerOptions are the runner's options the flags configure: the builder,
// the enabled catalogs, metrics registered on reg and a status board; no
// output yet.
func (f *syncFlags) runnerOptions(log *slog.Logger, format render.Format, reg *prometheus.Registry) (syncer.Options, error) {
	b, err := f.builder()
	if err != nil {
		return syncer.Options{}, err
	}
	metrics, err := output.NewMetrics(reg)
	if err != nil {
		return syncer.Options{}, err
	}
	board := status.NewBoard(nil)
	sources, err := f.sources(log, metrics, board)
	if err != nil {
		return syncer.Options{}, err
	}
	return syncer.Options{
		Sources: sources, Builder: b, Format: format, Metrics: metrics, Status: board,
		Throttle: f.throttle, StartupTimeout: f.startupTimeout, Logger: log,
	}, nil
}

// syncOnce writes the configuration to stdout once every catalog has been
// read (--once).
func syncOnce(ctx context.Context, opts syncer.Options, stdout io.Writer) error {
	r, err := syncer.New(opts)
	if err != nil {
		return err
	}
	out, err := r.Once(ctx)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// syncUntilDone writes the configuration to --output and serves it on
// --listen until ctx is done; SIGHUP re-reads the catalogs.
func (f *syncFlags) syncUntilDone(ctx context.Context, opts syncer.Options, reg *prometheus.Registry) error {
	log := opts.Logger
	var err error
	if f.output != "" {
		file, err := output.NewFile(f.output, opts.Format)
		if err != nil {
			return err
		}
		opts.Outputs = append(opts.Outputs, file)
	}
	var srv *http.Server
	if f.listen != "" {
		provider := output.NewServer(reg)
		opts.Outputs = append(opts.Outputs, provider)
		if srv, err = serveSync(f.listen, provider, opts.Status, log); err != nil {
			return err
		}
	}
	r, err := syncer.New(opts)
	if err != nil {
		if srv != nil {
			_ = srv.Close()
		}
		return err
	}
	stopResync := resyncOnHUP(ctx, r, log)
	defer stopResync()

	err = r.Run(ctx)
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	log.Info("stopped")
	return err
}

// serveSync serves the configuration (/config), /healthz, /metrics and the
// status page on addr, in a goroutine that ends when the returned server
// is shut down.
func serveSync(addr string, out *output.Server, board *status.Board, log *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	log.Info("serving configuration", "addr", ln.Addr().String(), "status_page", "http://"+ln.Addr().String()+"/")
	mux := http.NewServeMux()
	mux.Handle("/", board.Handler())
	for _, p := range []string{"/config", "/healthz", "/metrics"} {
		mux.Handle(p, out.Handler())
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(board.Close) // the status page's event streams
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	return srv, nil
}

// resyncOnHUP makes r re-read every catalog on each SIGHUP until the
// returned stop is called (or ctx is done); stop waits for that to end.
func resyncOnHUP(ctx context.Context, r *syncer.Runner, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	hctx, hcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-hup:
				log.Info("SIGHUP: full resync")
				r.Resync()
			case <-hctx.Done():
				return
			}
		}
	})
	return func() {
		hcancel()
		wg.Wait()
		signal.Stop(hup)
	}
}

// sources builds the enabled catalog sources from the flags; the tools'
// environment variables are read by the clients' DefaultConfig and the flags
// override them. Each source reports its errors to m and its answers to its
// tracker on board.
func (f *syncFlags) sources(log *slog.Logger, m *output.Metrics, board *status.Board) ([]catalog.Source, error) {
	var out []catalog.Source
	if f.consul {
		consulSources, err := f.consulSources(log, m, board)
		if err != nil {
			return nil, err
		}
		out = append(out, consulSources...)
	}
	if f.nomad {
		s, err := f.nomadSource(log, m, board)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, errors.New("both catalogs are switched off (--consul=false --nomad=false)")
	}
	return out, nil
}

// sourceHooks are a source's OnError and OnAnswer: the metrics and its
// tracker on the status board, known once the source (and its name) is.
type sourceHooks struct {
	tracker *status.Tracker
	metric  func(error)
}

func newSourceHooks(m *output.Metrics, origin string) *sourceHooks {
	return &sourceHooks{metric: m.WatchError(origin)}
}

// onError is the source's OnError.
func (h *sourceHooks) onError(err error) {
	h.metric(err)
	h.tracker.OnError(err)
}

// onAnswer is the source's OnAnswer.
func (h *sourceHooks) onAnswer(index uint64) { h.tracker.OnAnswer(index) }

// consulSources are the Consul sources: one per --consul-namespace.
func (f *syncFlags) consulSources(log *slog.Logger, m *output.Metrics, board *status.Board) ([]catalog.Source, error) {
	cfg := consulapi.DefaultConfig()
	cfg.Address = f.consulAddr
	if f.consulToken != "" {
		cfg.Token = f.consulToken
	}
	if f.consulDC != "" {
		cfg.Datacenter = f.consulDC
	}
	namespaces := splitList(f.consulNS)
	if len(namespaces) == 0 {
		namespaces = []string{""} // the token's default
	}
	if slices.Contains(namespaces, consul.AllNamespaces) && len(namespaces) > 1 {
		return nil, fmt.Errorf("--consul-namespace: %s is every namespace, not to be listed with others", consul.AllNamespaces)
	}
	var out []catalog.Source
	for _, ns := range namespaces {
		c := *cfg // NewClient rewrites Address
		h := newSourceHooks(m, "consul")
		opts := consul.Options{
			Config: &c, Prefix: f.prefix, ExposedByDefault: f.exposedByDefault, Namespace: ns, Partition: f.consulPartition,
			WaitTime: f.waitTime, Logger: log, OnError: h.onError, OnAnswer: h.onAnswer,
		}
		var s catalog.Source
		var err error
		if ns == consul.AllNamespaces {
			s, err = consul.NewAllNamespaces(opts)
		} else {
			s, err = consul.New(opts)
		}
		if err != nil {
			return nil, err
		}
		h.tracker = board.Tracker(s.Name())
		out = append(out, s)
	}
	return out, nil
}

// nomadSource is the Nomad source, for every --nomad-namespace.
func (f *syncFlags) nomadSource(log *slog.Logger, m *output.Metrics, board *status.Board) (catalog.Source, error) {
	cfg := nomadapi.DefaultConfig()
	cfg.Address = f.nomadAddr
	if f.nomadToken != "" {
		cfg.SecretID = f.nomadToken
	}
	if f.nomadRegion != "" {
		cfg.Region = f.nomadRegion
	}
	h := newSourceHooks(m, "nomad")
	s, err := nomad.New(nomad.Options{
		Config: cfg, Namespaces: splitList(f.nomadNS), Prefix: f.prefix, ExposedByDefault: f.exposedByDefault,
		IgnoreAllocations: !f.nomadAllocs, WaitTime: f.waitTime, Logger: log, OnError: h.onError, OnAnswer: h.onAnswer,
	})
	if err != nil {
		return nil, err
	}
	h.tracker = board.Tracker(s.Name())
	return s, nil
}

// splitList splits a comma-separated flag value, dropping empty elements.
func splitList(v string) []string {
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
