// Package syncer runs the syncer: it owns the catalog sources, waits for
// them to signal, debounces, builds Traefik dynamic configuration with the
// pure builder (syncer/builder), renders it (syncer/render) and hands the
// bytes to the outputs (syncer/output), which write only what changed.
//
// Data flows one way: sources → notify channel (size 1; watchers only
// signal) → Runner → catalog.Merge → builder.Build → render.Marshal →
// output.Output (a File, the HTTP provider's Server, a Recorder).
package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whiskers-dev/whiskers/syncer/builder"
	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/dynamic"
	"github.com/whiskers-dev/whiskers/syncer/internal/blocking"
	"github.com/whiskers-dev/whiskers/syncer/output"
	"github.com/whiskers-dev/whiskers/syncer/render"
	"github.com/whiskers-dev/whiskers/syncer/status"
)

// Options configures a Runner.
type Options struct {
	// Sources are the enabled catalogs; at least one.
	Sources []catalog.Source
	// Builder turns snapshots into configuration; required.
	Builder *builder.Builder
	// Outputs receive the configuration, each in its own format, after
	// every build; each writes only when its bytes changed.
	Outputs []output.Output
	// Format is the format Once returns (default YAML).
	Format render.Format
	// Metrics, if set, records syncs.
	Metrics *output.Metrics
	// Status, if set, receives every build's decisions and the catalogs'
	// readiness (the status page and `whiskers explain`).
	Status *status.Board
	// Throttle is how long after a write that changed the configuration
	// the next one may come, as Traefik's providersThrottleDuration: a
	// change after a quiet spell is written at once, one that comes sooner
	// when Throttle has passed since the last write, with every change
	// that came meanwhile. 0 writes on every change.
	Throttle time.Duration
	// StartupTimeout is how long the runner waits for every source to be
	// ready before writing anyway (logged); 0 waits forever. When an
	// output file already exists (a restart), the runner waits for every
	// source however long it takes: the file from before keeps routing.
	StartupTimeout time.Duration
	// Logger receives the runner's logs (default slog.Default()).
	Logger *slog.Logger
}

// Runner runs sources and publishes their configuration. Create it with New;
// call Run (or Once) once. Resync is safe to call from any goroutine.
type Runner struct {
	opts   Options
	log    *slog.Logger
	notify chan struct{}
	// signalled is when the earliest signal not yet built came (Unix
	// nanoseconds; 0: none): the start of a change's way to the outputs.
	signalled atomic.Int64

	mu       sync.Mutex
	problems map[string]bool // problems logged for the current configuration
}

// New validates opts and returns a Runner; it starts nothing.
func New(opts Options) (*Runner, error) {
	if len(opts.Sources) == 0 {
		return nil, errors.New("syncer: no catalog source enabled")
	}
	if opts.Builder == nil {
		return nil, errors.New("syncer: no builder")
	}
	if opts.Format == "" {
		opts.Format = render.YAML
	}
	if _, err := render.ParseFormat(string(opts.Format)); err != nil {
		return nil, fmt.Errorf("syncer: %w", err)
	}
	if opts.Throttle < 0 || opts.StartupTimeout < 0 {
		return nil, errors.New("syncer: negative duration")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Outputs = slices.Clone(opts.Outputs)
	return &Runner{
		opts:     opts,
		log:      opts.Logger.With("component", "syncer"),
		notify:   make(chan struct{}, 1),
		problems: map[string]bool{},
	}, nil
}

// signal is the notify function handed to sources: it never blocks; a full
// channel means a build is already pending.
func (r *Runner) signal() {
	r.signalled.CompareAndSwap(0, time.Now().UnixNano())
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// Resync makes every source that supports it (a Resync() method) drop its
// indexes and re-read its whole catalog, then rebuilds. Used on SIGHUP.
func (r *Runner) Resync() {
	for _, s := range r.opts.Sources {
		if rs, ok := s.(interface{ Resync() }); ok {
			rs.Resync()
		}
	}
	r.signal()
}

// startSources runs every source in its own goroutine; wait waits for them
// all to return after ctx is done.
func (r *Runner) startSources(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	for _, s := range r.opts.Sources {
		wg.Go(func() {
			if err := s.Run(ctx, r.signal); err != nil && ctx.Err() == nil {
				r.log.Error("source stopped", "source", s.Name(), "err", err)
			}
		})
	}
	return wg.Wait
}

// notReady returns the names of the sources without a first snapshot.
func (r *Runner) notReady() []string {
	var names []string
	for _, s := range r.opts.Sources {
		if _, ok := s.Snapshot(); !ok {
			names = append(names, s.Name())
		}
	}
	return names
}

// waitReady waits until every source is ready, the startup timeout passes
// (logged; true) or ctx is done (false).
func (r *Runner) waitReady(ctx context.Context) bool {
	var timeout <-chan time.Time
	// A file from before a restart keeps routing while a catalog is down:
	// it is not replaced by one without that catalog's routes.
	if earlier := r.earlierFile(); r.opts.StartupTimeout > 0 && earlier == "" {
		t := time.NewTimer(r.opts.StartupTimeout)
		defer t.Stop()
		timeout = t.C
	} else if r.opts.StartupTimeout > 0 {
		r.log.Info("an earlier configuration is there: it stays until every catalog has been read", "path", earlier)
	}
	for {
		if len(r.notReady()) == 0 {
			r.log.Info("all catalogs ready")
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-r.notify:
		case <-timeout:
			r.log.Warn("startup timeout passed, writing without catalogs that are not ready",
				"timeout", r.opts.StartupTimeout, "not_ready", strings.Join(r.notReady(), ","))
			return true
		}
	}
}

// earlierFile is the path of an output file written by an earlier run, or
// "" when there is none.
func (r *Runner) earlierFile() string {
	for _, out := range r.opts.Outputs {
		if f, ok := out.(*output.File); ok && f.Exists() {
			return f.Path()
		}
	}
	return ""
}

// Run runs the sources and publishes configuration until ctx is done, then
// waits for the sources to stop and returns nil. Nothing is published before
// every source is ready, or StartupTimeout has passed and there is no file
// from an earlier run to keep.
func (r *Runner) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	wait := r.startSources(ctx)
	defer wait()
	defer cancel()

	if !r.waitReady(ctx) {
		return nil
	}
	// The first sync reads every source as it is now: a signal still
	// queued from before is no change after it.
	select {
	case <-r.notify:
	default:
	}
	var (
		retry <-chan time.Time
		// lastChange is when a sync after the first one changed what was
		// published: a signal that changed nothing (a source's late or
		// repeated one) does not hold the next change back.
		lastChange time.Time
		first      = true
		// unpublished is when the change a failed sync could not publish
		// anywhere was signalled: its retry's latency counts from there.
		unpublished time.Time
	)
	for {
		// The signals until now are what this sync builds; how long ago
		// the first of them came is the change's latency (not for the
		// first sync: its signals came while the sources started).
		since := unpublished
		if n := r.signalled.Swap(0); n != 0 && !first && since.IsZero() {
			since = time.Unix(0, n)
		}
		changed, err := r.publish(since)
		unpublished, retry = time.Time{}, nil
		if err != nil {
			r.log.Error("sync failed, retrying", "err", err)
			retry = time.After(time.Second)
			if !changed {
				unpublished = since
			}
		}
		if changed && !first {
			lastChange = time.Now()
		}
		first = false
		select {
		case <-ctx.Done():
			return nil
		case <-r.notify:
		case <-retry:
		}
		// A change after a quiet spell is written at once; one that comes
		// within Throttle of the last write waits until Throttle has
		// passed since it (a change is never held back longer), and
		// is written together with what came meanwhile.
		if wait := r.opts.Throttle - time.Since(lastChange); wait > 0 {
			if !blocking.Sleep(ctx, wait) {
				return nil
			}
			select { // the build that follows covers the signals so far
			case <-r.notify:
			default:
			}
		}
	}
}

// snapshot merges the sources' current snapshots, and says by name which
// sources have been read completely.
func (r *Runner) snapshot() (catalog.Snapshot, map[string]bool) {
	parts := make([][]catalog.Instance, 0, len(r.opts.Sources))
	ready := make(map[string]bool, len(r.opts.Sources))
	for _, s := range r.opts.Sources {
		insts, ok := s.Snapshot()
		parts = append(parts, insts)
		ready[s.Name()] = ok
	}
	snap := catalog.Merge(parts...)
	for _, s := range r.opts.Sources {
		if a, ok := s.(catalog.Annotator); ok {
			snap.Instances = a.Annotate(snap.Instances)
		}
	}
	return snap, ready
}

// build builds the configuration of the current snapshot and logs problems
// not logged before (once per distinct problem while it persists).
func (r *Runner) build() *dynamic.Configuration {
	snap, ready := r.snapshot()
	res := r.opts.Builder.Build(snap)
	if r.opts.Status != nil {
		r.opts.Status.Update(res, ready)
	}
	r.mu.Lock()
	seen := make(map[string]bool, len(res.Problems))
	for _, p := range res.Problems {
		key := p.Error()
		seen[key] = true
		if !r.problems[key] {
			r.log.Warn("tag problem", "origin", p.Origin, "service", p.Service, "tag", p.Tag, "reason", p.Err)
		}
	}
	r.problems = seen
	r.mu.Unlock()
	return res.Config
}

// publish builds the configuration, renders it once per format and hands it
// to every output; each writes only if its bytes changed. It reports
// whether one did; a failed output does not keep the others from theirs.
// since, when not zero, is when the change it publishes was signalled.
func (r *Runner) publish(since time.Time) (changed bool, err error) {
	start := time.Now()
	cfg := r.build()
	var took struct{ build, render time.Duration } // for the log
	took.build = time.Since(start)
	rendered := map[render.Format][]byte{}
	var errs []error
	for _, out := range r.opts.Outputs {
		format := out.Format()
		b, ok := rendered[format]
		if !ok {
			var err error
			t := time.Now()
			if b, err = render.Marshal(cfg, format); err != nil {
				return false, fmt.Errorf("syncer: rendering %s: %w", format, err)
			}
			took.render += time.Since(t)
			rendered[format] = b
		}
		t := time.Now()
		wrote, err := out.Publish(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("syncer: publishing configuration: %w", err))
			continue
		}
		changed = changed || wrote
		if f, ok := out.(interface{ Path() string }); ok && wrote {
			attrs := []any{"path", f.Path(), "bytes", len(b)}
			if !since.IsZero() {
				// How long the change took, and in what: the sources'
				// signal to this file, and the build, render and write.
				attrs = append(attrs, "after", roundMicro(time.Since(since)),
					"build", roundMicro(took.build), "render", roundMicro(took.render), "write", roundMicro(time.Since(t)))
			}
			r.log.Info("configuration written", attrs...)
		}
	}
	now := time.Now()
	if changed && !since.IsZero() {
		r.opts.Metrics.ChangePublished(now.Sub(since))
	}
	services, servers := count(cfg)
	r.opts.Metrics.Synced(now, services, servers, changed)
	return changed, errors.Join(errs...)
}

// roundMicro rounds d to the microsecond, for logs.
func roundMicro(d time.Duration) time.Duration { return d.Round(time.Microsecond) }

// Once runs the sources until they are all ready (or StartupTimeout passes),
// then returns the configuration rendered in Format, without writing any
// output. It is the dry run of `whiskers sync --once`.
func (r *Runner) Once(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	wait := r.startSources(ctx)
	defer wait()
	defer cancel()
	if !r.waitReady(ctx) {
		return nil, ctx.Err()
	}
	if nr := r.notReady(); len(nr) > 0 {
		return nil, fmt.Errorf("syncer: catalogs not ready: %s", strings.Join(nr, ", "))
	}
	b, err := render.Marshal(r.build(), r.opts.Format)
	if err != nil {
		return nil, fmt.Errorf("syncer: rendering: %w", err)
	}
	return b, nil
}

// count returns the number of services (HTTP, TCP, UDP) of cfg and of
// servers across their load balancers.
func count(cfg *dynamic.Configuration) (services, servers int) {
	if cfg == nil {
		return 0, 0
	}
	if cfg.HTTP != nil {
		for _, s := range cfg.HTTP.Services {
			services++
			if s != nil && s.LoadBalancer != nil {
				servers += len(s.LoadBalancer.Servers)
			}
		}
	}
	if cfg.TCP != nil {
		for _, s := range cfg.TCP.Services {
			services++
			if s != nil && s.LoadBalancer != nil {
				servers += len(s.LoadBalancer.Servers)
			}
		}
	}
	if cfg.UDP != nil {
		for _, s := range cfg.UDP.Services {
			services++
			if s != nil && s.LoadBalancer != nil {
				servers += len(s.LoadBalancer.Servers)
			}
		}
	}
	return services, servers
}
