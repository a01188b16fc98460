// Package consul is the Consul catalog source of the syncer: it watches
// Consul's service catalog through the official client
// (github.com/hashicorp/consul/api) and keeps the latest instances, with
// their aggregated health, of every service Traefik may expose.
//
// Data enters through one blocking query on /v1/catalog/services and one
// blocking /v1/health/service/:name query per enabled service (tagged
// <prefix>.enable=true, or every service when exposed by default), started
// and stopped as the list changes; a health watch re-reads only its own
// service. It leaves through Snapshot, and Run's notify signals that it may
// have changed.
package consul

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/internal/blocking"
	"github.com/whiskers-dev/whiskers/syncer/tags"
)

// Options configures a Source. The zero value watches the agent named by the
// CONSUL_HTTP_* environment variables with the defaults documented below.
type Options struct {
	// Config is the client configuration; nil means api.DefaultConfig(),
	// which reads CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_CACERT, ….
	Config *api.Config
	// Prefix is the tag prefix that enables a service ("traefik").
	Prefix string
	// ExposedByDefault watches every service, not only those tagged
	// <prefix>.enable=true (services tagged <prefix>.enable=false are skipped).
	ExposedByDefault bool
	// Namespace and Partition are passed to every query (Consul Enterprise);
	// "" means the token's default.
	Namespace, Partition string
	// WaitTime is how long a blocking query may wait (default 5 minutes).
	WaitTime time.Duration
	// MinInterval rate-limits each watch: two queries of one watch start at
	// least this far apart, plus jitter (default 50 ms).
	MinInterval time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff after errors
	// (defaults 200 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// WatchdogGrace is how long past its wait (plus Consul's and Nomad's
	// wait/16 jitter) a blocking call may stay unanswered before it is torn
	// down and re-established (default 10 s).
	WatchdogGrace time.Duration
	// Logger receives the source's logs (default slog.Default()).
	Logger *slog.Logger
	// OnError, if set, is called for every failed catalog call (for metrics);
	// it must not block.
	OnError func(error)
}

// Source watches a Consul catalog. Create it with New; Run it once. Snapshot
// and Resync are safe to call from any goroutine.
type Source struct {
	opts   Options
	client *api.Client
	log    *slog.Logger

	resync chan struct{}

	mu        sync.Mutex
	instances map[string][]catalog.Instance // by service name
	listed    bool
	pending   map[string]bool // watched services without a first read
	ready     bool
}

var _ catalog.Source = (*Source)(nil)

// New validates opts and returns a Source; it does not contact Consul.
func New(opts Options) (*Source, error) {
	if opts.Config == nil {
		opts.Config = api.DefaultConfig()
	}
	if opts.Prefix == "" {
		opts.Prefix = "traefik"
	}
	if opts.WaitTime <= 0 {
		opts.WaitTime = 5 * time.Minute
	}
	if opts.MinInterval < 0 {
		return nil, errors.New("consul: negative MinInterval")
	}
	if opts.MinInterval == 0 {
		opts.MinInterval = 50 * time.Millisecond
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		return nil, fmt.Errorf("consul: MaxBackoff %v below MinBackoff %v", opts.MaxBackoff, opts.MinBackoff)
	}
	if opts.WatchdogGrace <= 0 {
		opts.WatchdogGrace = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	client, err := api.NewClient(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("consul: creating client: %w", err)
	}
	return &Source{
		opts:      opts,
		client:    client,
		log:       opts.Logger.With("source", "consul"),
		resync:    make(chan struct{}, 1),
		instances: map[string][]catalog.Instance{},
		pending:   map[string]bool{},
	}, nil
}

// Name returns "consul", or "consul/<namespace>" when a namespace is set.
func (s *Source) Name() string {
	if s.opts.Namespace != "" {
		return string(catalog.OriginConsul) + "/" + s.opts.Namespace
	}
	return string(catalog.OriginConsul)
}

// Snapshot returns the last instances read, sorted, and whether every watched
// service has been read at least once. After a fault it keeps returning the
// last good instances.
func (s *Source) Snapshot() ([]catalog.Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []catalog.Instance
	for _, name := range slices.Sorted(maps.Keys(s.instances)) {
		out = append(out, s.instances[name]...)
	}
	slices.SortFunc(out, catalog.Compare)
	return out, s.ready
}

// Resync makes Run drop its indexes and re-read the whole catalog; the last
// instances stay in the snapshot until replaced.
func (s *Source) Resync() {
	select {
	case s.resync <- struct{}{}:
	default:
	}
}

// Run watches the catalog until ctx is done, calling notify (which must not
// block) whenever the snapshot may have changed. Catalog errors are logged
// and retried with backoff; Run returns nil when ctx is done.
func (s *Source) Run(ctx context.Context, notify func()) error {
	for ctx.Err() == nil {
		inner, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() {
			select {
			case <-s.resync:
				s.log.Info("full resync")
				cancel()
			case <-inner.Done():
			}
		})
		s.watchList(inner, notify)
		cancel()
		wg.Wait()
	}
	return nil
}

// callTimeout bounds one blocking call: Consul answers within WaitTime plus
// up to WaitTime/16 of jitter; a call that has not answered well after that is
// stuck and is torn down (the watchdog).
func (s *Source) callTimeout() time.Duration {
	return s.opts.WaitTime + s.opts.WaitTime/16 + s.opts.WatchdogGrace
}

func (s *Source) query(ctx context.Context, index uint64) *api.QueryOptions {
	q := &api.QueryOptions{WaitIndex: index, WaitTime: s.opts.WaitTime, Namespace: s.opts.Namespace, Partition: s.opts.Partition}
	return q.WithContext(ctx)
}

func (s *Source) failed(ctx context.Context, what string, err error, bo *blocking.Backoff) {
	if ctx.Err() != nil {
		return
	}
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("watchdog: blocking query stuck, re-establishing", "what", what)
	}
	if s.opts.OnError != nil {
		s.opts.OnError(err)
	}
	d := bo.Next()
	s.log.Warn("catalog call failed, retrying", "what", what, "err", err, "retry_in", d)
	blocking.Sleep(ctx, d)
}

// watchList runs the blocking query on /v1/catalog/services and one health
// watch per enabled service until ctx is done.
func (s *Source) watchList(ctx context.Context, notify func()) {
	watches := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	defer func() {
		for _, stop := range watches {
			stop()
		}
		wg.Wait()
	}()
	bo := blocking.Backoff{Min: s.opts.MinBackoff, Max: s.opts.MaxBackoff}
	var index uint64
	var last time.Time
	for {
		if !blocking.Sleep(ctx, time.Until(last.Add(blocking.Jitter(s.opts.MinInterval)))) {
			return
		}
		last = time.Now()
		callCtx, cancel := context.WithTimeout(ctx, s.callTimeout())
		services, meta, err := s.client.Catalog().Services(s.query(callCtx, index))
		cancel()
		if err != nil {
			s.failed(ctx, "catalog/services", fmt.Errorf("consul: listing services: %w", err), &bo)
			continue
		}
		bo.Reset()
		newIndex, reset := blocking.NextIndex(index, meta.LastIndex)
		if reset && index != 0 {
			s.log.Info("catalog index went backwards, re-reading", "was", index, "now", meta.LastIndex)
		}
		if !reset && newIndex == index && s.isListed() {
			continue
		}
		index = newIndex

		enabled := map[string]bool{}
		for name, tags := range services {
			if s.enabled(tags) {
				enabled[name] = true
			}
		}
		changed := false
		s.mu.Lock()
		for name, stop := range watches {
			if !enabled[name] {
				stop()
				delete(watches, name)
				delete(s.pending, name)
				if _, ok := s.instances[name]; ok {
					delete(s.instances, name)
					changed = true
				}
			}
		}
		// Services that were kept across a resync but are gone now.
		for name := range s.instances {
			if !enabled[name] {
				delete(s.instances, name)
				changed = true
			}
		}
		for name := range enabled {
			if _, ok := watches[name]; ok {
				continue
			}
			wctx, stop := context.WithCancel(ctx)
			watches[name] = stop
			if _, ok := s.instances[name]; !ok {
				s.pending[name] = true
			}
			wg.Go(func() { s.watchService(wctx, name, notify) })
		}
		s.listed = true
		if s.updateReadyLocked() {
			changed = true
		}
		s.mu.Unlock()
		if changed {
			notify()
		}
	}
}

func (s *Source) isListed() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.listed }

// updateReadyLocked marks the source ready once the list and every watched
// service have been read; it reports whether readiness changed.
func (s *Source) updateReadyLocked() bool {
	if !s.ready && s.listed && len(s.pending) == 0 {
		s.ready = true
		s.log.Info("catalog ready", "services", len(s.instances))
		return true
	}
	return false
}

// enabled reports whether a service with these tags is watched: opted in as
// Traefik reads the enable tag (tags.Enabled), or with a malformed one, which
// the builder reports.
func (s *Source) enabled(ts []string) bool {
	en, bad := tags.Enabled(ts, s.opts.Prefix, s.opts.ExposedByDefault)
	return en || bad != ""
}

// watchService runs the blocking health query of one service until ctx is
// done, replacing that service's instances whenever they change.
func (s *Source) watchService(ctx context.Context, name string, notify func()) {
	bo := blocking.Backoff{Min: s.opts.MinBackoff, Max: s.opts.MaxBackoff}
	var index uint64
	var last time.Time
	first := true
	for {
		if !blocking.Sleep(ctx, time.Until(last.Add(blocking.Jitter(s.opts.MinInterval)))) {
			return
		}
		last = time.Now()
		callCtx, cancel := context.WithTimeout(ctx, s.callTimeout())
		entries, meta, err := s.client.Health().Service(name, "", false, s.query(callCtx, index))
		cancel()
		if err != nil {
			s.failed(ctx, "health/service/"+name, fmt.Errorf("consul: reading health of %q: %w", name, err), &bo)
			continue
		}
		bo.Reset()
		newIndex, reset := blocking.NextIndex(index, meta.LastIndex)
		if !reset && newIndex == index && !first {
			continue
		}
		index = newIndex
		first = false
		insts := toInstances(entries)
		s.mu.Lock()
		if ctx.Err() != nil { // stopped while reading: the list owner has removed us
			s.mu.Unlock()
			return
		}
		old, had := s.instances[name]
		changed := !had || !slices.EqualFunc(old, insts, catalog.Instance.Equal)
		s.instances[name] = insts
		delete(s.pending, name)
		if s.updateReadyLocked() {
			changed = true
		}
		s.mu.Unlock()
		if changed {
			notify()
		}
	}
}

// toInstances converts health entries into sorted instances.
func toInstances(entries []*api.ServiceEntry) []catalog.Instance {
	out := make([]catalog.Instance, 0, len(entries))
	for _, e := range entries {
		if e == nil || e.Service == nil {
			continue
		}
		in := catalog.Instance{
			Origin:    catalog.OriginConsul,
			Service:   e.Service.Service,
			Namespace: e.Service.Namespace,
			ID:        e.Service.ID,
			Address:   e.Service.Address,
			Port:      e.Service.Port,
			Tags:      slices.Clone(e.Service.Tags),
			Meta:      maps.Clone(e.Service.Meta),
			Health:    Aggregate(e.Checks),
		}
		if e.Node != nil {
			in.Node = e.Node.Node
			in.Datacenter = e.Node.Datacenter
			if in.Address == "" {
				in.Address = e.Node.Address
			}
		}
		if in.Datacenter == "" {
			in.Datacenter = e.Service.Datacenter
		}
		out = append(out, in)
	}
	slices.SortFunc(out, catalog.Compare)
	return out
}

// Aggregate returns the worst status of checks: critical beats warning beats
// passing; maintenance counts as critical. No checks means passing.
func Aggregate(checks api.HealthChecks) catalog.Health {
	worst := catalog.HealthPassing
	for _, c := range checks {
		if c == nil {
			continue
		}
		switch c.Status {
		case api.HealthCritical, api.HealthMaint:
			return catalog.HealthCritical
		case api.HealthWarning:
			worst = catalog.HealthWarning
		}
	}
	return worst
}
