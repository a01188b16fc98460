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
	debounce, maxWait, startupTimeout, waitTime time.Duration
	consul, nomad                               bool
	consulAddr, consulToken, consulNS, consulDC string
	consulPartition                             string
	nomadAddr, nomadToken, nomadNS, nomadRegion string
	exposedByDefault, routeWarning, nomadAllocs bool
	defaultRule, prefix, logLevel               string
}

// envOr is the environment variable name, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newSyncFlagSet(stderr io.Writer) (*flag.FlagSet, *syncFlags) {
	f := &syncFlags{}
	fs := flag.NewFlagSet("whiskers sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.output, "output", "", "write the configuration to this file (atomically, only when it changes)")
	fs.StringVar(&f.format, "format", "yaml", "format of --output and --once: yaml, json or toml")
	fs.StringVar(&f.listen, "listen", "", "serve /config (JSON, for Traefik's HTTP provider), /healthz, /metrics and the status page (/, /status.json: why each instance is routed or not) on this address, e.g. 127.0.0.1:8081")
	fs.BoolVar(&f.once, "once", false, "print the configuration to stdout once every catalog has been read, and exit")
	fs.DurationVar(&f.debounce, "debounce", 50*time.Millisecond, "changes this close together are a burst, written once when it ends; a change after a quiet spell is written at once; 0 writes on every change")
	fs.DurationVar(&f.maxWait, "debounce-max", time.Second, "write at most this long after the first change of a burst")
	fs.DurationVar(&f.startupTimeout, "startup-timeout", 30*time.Second, "write even if a catalog has not been read after this long, unless --output is there from an earlier run (0: wait forever)")
	fs.DurationVar(&f.waitTime, "wait", 5*time.Minute, "how long a blocking catalog query may wait")
	fs.BoolVar(&f.consul, "consul", true, "watch the Consul catalog (--consul=false to switch it off)")
	fs.BoolVar(&f.nomad, "nomad", true, "watch the Nomad service catalog (--nomad=false to switch it off)")
	fs.StringVar(&f.consulAddr, "consul-addr", envOr("CONSUL_HTTP_ADDR", "127.0.0.1:8500"), "Consul HTTP address ($CONSUL_HTTP_ADDR); TLS from $CONSUL_CACERT, $CONSUL_CLIENT_CERT, …")
	fs.StringVar(&f.consulToken, "consul-token", "", `Consul ACL token; "" uses $CONSUL_HTTP_TOKEN (never printed)`)
	fs.StringVar(&f.consulNS, "consul-namespace", os.Getenv("CONSUL_NAMESPACE"), "Consul Enterprise namespaces to watch, comma-separated, one set of watches each; * is every one the token may read ($CONSUL_NAMESPACE)")
	fs.StringVar(&f.consulPartition, "consul-partition", os.Getenv("CONSUL_PARTITION"), "Consul Enterprise admin partition ($CONSUL_PARTITION)")
	fs.StringVar(&f.consulDC, "consul-datacenter", "", `Consul datacenter; "" is the agent's`)
	fs.StringVar(&f.nomadAddr, "nomad-addr", envOr("NOMAD_ADDR", "http://127.0.0.1:4646"), "Nomad HTTP address ($NOMAD_ADDR); TLS from $NOMAD_CACERT, $NOMAD_CLIENT_CERT, …")
	fs.StringVar(&f.nomadToken, "nomad-token", "", `Nomad ACL token; "" uses $NOMAD_TOKEN (never printed)`)
	fs.StringVar(&f.nomadNS, "nomad-namespace", envOr("NOMAD_NAMESPACE", "*"), "Nomad namespaces to watch, comma-separated; * is all ($NOMAD_NAMESPACE)")
	fs.BoolVar(&f.nomadAllocs, "nomad-allocations", true, "read Nomad allocations, nodes and deployments: route an instance only once its allocation is healthy, drop it when it is stopping or its node drains, mark canaries (needs read-job and node:read)")
	fs.StringVar(&f.nomadRegion, "nomad-region", os.Getenv("NOMAD_REGION"), "Nomad region ($NOMAD_REGION)")
	fs.BoolVar(&f.exposedByDefault, "exposed-by-default", false, "route services without traefik.enable=true")
	fs.StringVar(&f.defaultRule, "default-rule", builder.DefaultRule, "rule template of routers without a rule tag")
	fs.StringVar(&f.prefix, "prefix", builder.DefaultPrefix, "tag prefix")
	fs.BoolVar(&f.routeWarning, "route-warning", false, "also route Consul instances whose checks are warning")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: whiskers sync [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Watches the Consul and Nomad catalogs and writes Traefik dynamic configuration.")
		fmt.Fprintln(stderr, "SIGHUP forces a full re-read of the catalogs; SIGTERM stops cleanly.")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "flags:")
		printDefaults(stderr, fs)
	}
	return fs, f
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

// printDefaults is flag.PrintDefaults, except that every flag shows its
// default, zero values included.
func printDefaults(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		def := f.DefValue
		if name == "string" {
			def = fmt.Sprintf("%q", def)
		}
		fmt.Fprintf(w, "%s\n    \t%s (default %s)\n", line, strings.ReplaceAll(usage, "\n", "\n    \t"), def)
	})
}

func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, f := newSyncFlagSet(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "whiskers sync: unexpected arguments %q\n", fs.Args())
		return errUsage
	}
	log, err := f.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "whiskers sync: %v\n", err)
		return errUsage
	}
	format, err := render.ParseFormat(f.format)
	if err != nil {
		fmt.Fprintf(stderr, "whiskers sync: %v\n", err)
		return errUsage
	}
	if !f.once && f.output == "" && f.listen == "" {
		fmt.Fprintln(stderr, "whiskers sync: nothing to do: give --output, --listen or --once")
		return errUsage
	}
	b, err := f.builder()
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := output.NewMetrics(reg)
	if err != nil {
		return err
	}
	board := status.NewBoard(nil)
	sources, err := f.sources(log, metrics, board)
	if err != nil {
		return err
	}
	opts := syncer.Options{
		Sources: sources, Builder: b, Format: format, Metrics: metrics, Status: board,
		Debounce: f.debounce, MaxWait: f.maxWait, StartupTimeout: f.startupTimeout, Logger: log,
	}
	if f.once {
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
	if f.output != "" {
		if opts.File, err = output.NewFile(f.output); err != nil {
			return err
		}
	}
	var srv *http.Server
	if f.listen != "" {
		opts.HTTP = output.NewServer(reg)
		ln, err := net.Listen("tcp", f.listen)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", f.listen, err)
		}
		log.Info("serving configuration", "addr", ln.Addr().String(), "status_page", "http://"+ln.Addr().String()+"/")
		mux := http.NewServeMux()
		mux.Handle("/", board.Handler())
		for _, p := range []string{"/config", "/healthz", "/metrics"} {
			mux.Handle(p, opts.HTTP.Handler())
		}
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		srv.RegisterOnShutdown(board.Close) // the status page's event streams
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server stopped", "err", err)
			}
		}()
	}
	r, err := syncer.New(opts)
	if err != nil {
		return err
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var wg sync.WaitGroup
	hctx, hcancel := context.WithCancel(ctx)
	defer wg.Wait()
	defer hcancel()
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

	err = r.Run(ctx)
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	log.Info("stopped")
	return err
}

// sources builds the enabled catalog sources from the flags; the tools'
// environment variables are read by the clients' DefaultConfig and the flags
// override them.
func (f *syncFlags) sources(log *slog.Logger, m *output.Metrics, board *status.Board) ([]catalog.Source, error) {
	var out []catalog.Source
	// hooks are a source's OnError and OnAnswer: the metrics and its
	// tracker on the status board, known once the source (and its name) is.
	type hooks struct {
		t      *status.Tracker
		metric func(error)
	}
	newHooks := func(origin string) *hooks { return &hooks{metric: m.WatchError(origin)} }
	onError := func(h *hooks) func(error) {
		return func(err error) {
			h.metric(err)
			h.t.OnError(err)
		}
	}
	onAnswer := func(h *hooks) func(uint64) { return func(i uint64) { h.t.OnAnswer(i) } }
	if f.consul {
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
		for _, ns := range namespaces {
			c := *cfg // NewClient rewrites Address
			h := newHooks("consul")
			opts := consul.Options{
				Config: &c, Prefix: f.prefix, ExposedByDefault: f.exposedByDefault, Namespace: ns, Partition: f.consulPartition,
				WaitTime: f.waitTime, Logger: log, OnError: onError(h), OnAnswer: onAnswer(h),
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
			h.t = board.Tracker(s.Name())
			out = append(out, s)
		}
	}
	if f.nomad {
		cfg := nomadapi.DefaultConfig()
		cfg.Address = f.nomadAddr
		if f.nomadToken != "" {
			cfg.SecretID = f.nomadToken
		}
		if f.nomadRegion != "" {
			cfg.Region = f.nomadRegion
		}
		nss := splitList(f.nomadNS)
		h := newHooks("nomad")
		s, err := nomad.New(nomad.Options{
			Config: cfg, Namespaces: nss, Prefix: f.prefix, ExposedByDefault: f.exposedByDefault, IgnoreAllocations: !f.nomadAllocs,
			WaitTime: f.waitTime, Logger: log, OnError: onError(h), OnAnswer: onAnswer(h),
		})
		if err != nil {
			return nil, err
		}
		h.t = board.Tracker(s.Name())
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, errors.New("both catalogs are switched off (--consul=false --nomad=false)")
	}
	return out, nil
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
