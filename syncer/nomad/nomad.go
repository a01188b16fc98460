// Package nomad is the Nomad catalog source of the syncer: it reads Nomad's
// native service registrations through the official client
// (github.com/hashicorp/nomad/api) and keeps the latest instances of every
// service Traefik may expose.
//
// Data enters through one full read (/v1/services, then /v1/service/:name per
// enabled service) and then the event stream (/v1/event/stream, topic
// Service): an event re-reads only the service it names, so the number of open
// watches is constant. When the stream fails, the source falls back to
// blocking queries on /v1/services (a changed index means a full re-read)
// and tries the stream again later. It leaves through Snapshot, and Run's
// notify signals that it may have changed.
package nomad

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/internal/blocking"
	"github.com/whiskers-dev/whiskers/syncer/tags"
)

// Options configures a Source. The zero value watches the agent named by the
// NOMAD_* environment variables in every namespace.
type Options struct {
	// Config is the client configuration; nil means api.DefaultConfig(),
	// which reads NOMAD_ADDR, NOMAD_TOKEN, NOMAD_CACERT, ….
	Config *api.Config
	// Namespaces to watch; "*" (the default) means all.
	Namespaces []string
	// Prefix is the tag prefix that enables a service ("traefik").
	Prefix string
	// ExposedByDefault reads every service, not only those tagged
	// <prefix>.enable=true (services tagged <prefix>.enable=false are skipped).
	ExposedByDefault bool
	// WaitTime is how long a blocking query may wait (default 5 minutes).
	WaitTime time.Duration
	// MinInterval rate-limits the fallback blocking queries (default 50 ms,
	// plus jitter).
	MinInterval time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff after errors
	// (defaults 200 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// StreamRetry bounds how long the source uses blocking queries after
	// the event stream failed before trying the stream again (default
	// 30 s): the first retry comes after a second, later ones after
	// doubling waits, until the stream delivers again.
	StreamRetry time.Duration
	// WatchdogGrace is how long past its wait (plus Consul's and Nomad's
	// wait/16 jitter) a blocking call may stay unanswered before it is torn
	// down and re-established (default 10 s).
	WatchdogGrace time.Duration
	// StreamWatchdog is how long the event stream may stay silent (no event,
	// no heartbeat; Nomad sends one every 10 s) before it is torn down and
	// re-established (default 35 s).
	StreamWatchdog time.Duration
	// StartGate bounds how long a new allocation is held back until its
	// Nomad checks first pass (default 2 minutes); GatePoll is how often
	// its checks are asked for meanwhile (default 250 ms), at most: when
	// the job says their intervals, only when a check can have run anew.
	StartGate, GatePoll time.Duration
	// IgnoreAllocations skips reading allocations, nodes and deployments:
	// instances are then always passing, never draining nor canaries. By
	// default they are read (three list calls per full read, and the
	// Allocation, Node and Deployment topics of the same event stream), which
	// needs a token that may read jobs and nodes.
	IgnoreAllocations bool
	// Logger receives the source's logs (default slog.Default()).
	Logger *slog.Logger
	// OnError, if set, is called for every failed catalog call (for metrics);
	// it must not block.
	OnError func(error)
	// OnAnswer, if set, is called with the catalog index of every answer
	// (for the status page); it must not block.
	OnAnswer func(index uint64)
}

// Source watches Nomad's service registrations. Create it with New; Run it
// once. Snapshot and Resync are safe to call from any goroutine.
type Source struct {
	opts   Options
	client *api.Client
	log    *slog.Logger
	allNS  bool
	ns     map[string]bool

	resync chan struct{}

	activity      streamActivity // bytes seen on the event stream
	streamWatched bool           // whether activity is recorded
	factsOff      atomic.Bool    // allocation facts turned out forbidden to the token

	mu        sync.Mutex
	base      map[svcKey][]catalog.Instance // as registered
	facts     facts                         // allocations, nodes, deployments
	instances map[svcKey][]catalog.Instance // base with facts applied
	ready     bool
	// seen is the highest catalog index read. When a full read answers
	// below it (a server restored to an older state, as after a restart),
	// the catalog is behind what it said before until its index passes
	// behindUntil: meanwhile lastGood, the instances that were routable
	// then, keep their health and drain state (see derive).
	seen, behindUntil uint64
	lastGood          map[string]catalog.Instance
	// watched holds the allocations behind other catalogs' instances, as
	// Annotate last saw them, and whether each was being stopped.
	watched map[string]bool
}

type svcKey struct{ namespace, name string }

var _ catalog.Source = (*Source)(nil)

// New validates opts and returns a Source; it does not contact Nomad.
func New(opts Options) (*Source, error) {
	if opts.Config == nil {
		opts.Config = api.DefaultConfig()
	}
	if len(opts.Namespaces) == 0 {
		opts.Namespaces = []string{"*"}
	}
	if opts.Prefix == "" {
		opts.Prefix = "traefik"
	}
	if opts.WaitTime <= 0 {
		opts.WaitTime = 5 * time.Minute
	}
	if opts.MinInterval < 0 {
		return nil, errors.New("nomad: negative MinInterval")
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
		return nil, fmt.Errorf("nomad: MaxBackoff %v below MinBackoff %v", opts.MaxBackoff, opts.MinBackoff)
	}
	if opts.StreamRetry <= 0 {
		opts.StreamRetry = 30 * time.Second
	}
	if opts.StreamWatchdog <= 0 {
		opts.StreamWatchdog = 35 * time.Second
	}
	if opts.WatchdogGrace <= 0 {
		opts.WatchdogGrace = 10 * time.Second
	}
	if opts.StartGate <= 0 {
		opts.StartGate = 2 * time.Minute
	}
	if opts.GatePoll <= 0 {
		opts.GatePoll = 250 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Source{
		opts:      opts,
		log:       opts.Logger.With("source", "nomad"),
		ns:        map[string]bool{},
		resync:    make(chan struct{}, 1),
		base:      map[svcKey][]catalog.Instance{},
		facts:     newFacts(),
		instances: map[svcKey][]catalog.Instance{},
	}
	for _, n := range opts.Namespaces {
		if n == "" {
			return nil, errors.New("nomad: empty namespace")
		}
		if n == "*" {
			s.allNS = true
		}
		s.ns[n] = true
	}
	cfg, watched, err := watchedConfig(opts.Config, &s.activity)
	if err != nil {
		return nil, fmt.Errorf("nomad: configuring TLS: %w", err)
	}
	s.streamWatched = watched
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("nomad: creating client: %w", err)
	}
	s.client = client
	return s, nil
}

// Name returns "nomad".
func (s *Source) Name() string { return string(catalog.OriginNomad) }

// Snapshot returns the last instances read, sorted, and whether a first full
// read has completed. After a fault it keeps returning the last good
// instances.
func (s *Source) Snapshot() ([]catalog.Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []catalog.Instance
	for _, v := range s.instances {
		out = append(out, v...)
	}
	slices.SortFunc(out, catalog.Compare)
	return out, s.ready
}

var _ catalog.Annotator = (*Source)(nil)

// Annotate marks Draining the instances of other catalogs (Consul) that a
// Nomad allocation registered and that Nomad is stopping: desired status
// stop or evict, or a draining or ineligible node. They leave the pool when
// Nomad decides, as the Nomad source's own instances do, not when the
// client deregisters them and kills the task. It remembers those
// allocations: when one starts or stops being stopped, Run calls notify.
func (s *Source) Annotate(insts []catalog.Instance) []catalog.Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, copied := insts, false
	watched := map[string]bool{}
	for i, in := range insts {
		if in.Origin == catalog.OriginNomad || in.AllocID == "" {
			continue
		}
		stopping := s.factsWanted() && s.facts.stopping(in.AllocID)
		watched[in.AllocID] = stopping
		if stopping && !in.Draining {
			if !copied {
				out, copied = slices.Clone(insts), true
			}
			out[i].Draining = true
		}
	}
	s.watched = watched
	return out
}

// watchedChangedLocked reports whether an allocation Annotate saw has
// started or stopped being stopped since.
func (s *Source) watchedChangedLocked() bool {
	for id, was := range s.watched {
		if s.factsWanted() && s.facts.stopping(id) != was {
			return true
		}
	}
	return false
}

// Resync makes Run re-read the whole catalog and reconnect its stream; the
// last instances stay in the snapshot until replaced.
func (s *Source) Resync() {
	select {
	case s.resync <- struct{}{}:
	default:
	}
}

// listNamespace is the namespace parameter of the list query and the stream.
func (s *Source) listNamespace() string {
	if s.allNS || len(s.ns) > 1 {
		return "*"
	}
	return s.opts.Namespaces[0]
}

func (s *Source) wantNS(ns string) bool { return s.allNS || s.ns[ns] }

// callTimeout bounds one blocking call; a call that has not answered well
// after its wait is stuck and is torn down (the watchdog).
func (s *Source) callTimeout() time.Duration {
	return s.opts.WaitTime + s.opts.WaitTime/16 + s.opts.WatchdogGrace
}

func (s *Source) failed(ctx context.Context, err error, bo *blocking.Backoff) {
	if ctx.Err() != nil {
		return
	}
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("watchdog: blocking query stuck, re-establishing")
	}
	if s.opts.OnError != nil {
		s.opts.OnError(err)
	}
	d := bo.Next()
	s.log.Warn("catalog call failed, retrying", "err", err, "retry_in", d)
	blocking.Sleep(ctx, d)
}

// Run watches the catalog until ctx is done, calling notify (which must not
// block) whenever the snapshot may have changed. Catalog errors are logged
// and retried with backoff; Run returns nil when ctx is done.
func (s *Source) Run(ctx context.Context, notify func()) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { s.gate(ctx, notify) })
	w := &watch{
		bo: blocking.Backoff{Min: s.opts.MinBackoff, Max: s.opts.MaxBackoff},
		// After the stream fails it is tried again soon (an agent restart
		// takes seconds), then less and less often, up to StreamRetry.
		streamBo: blocking.Backoff{Min: min(time.Second, s.opts.StreamRetry), Max: s.opts.StreamRetry},
		needFull: true,
	}
	for ctx.Err() == nil {
		select {
		case <-s.resync:
			s.log.Info("full resync")
			w.index, w.needFull, w.streamAfter = 0, true, time.Time{}
			s.factsOff.Store(false) // the token may have been granted more since
		default:
		}
		switch {
		case w.needFull:
			s.readAll(ctx, w, notify)
		case !time.Now().Before(w.streamAfter):
			s.stream(ctx, w, notify)
		default:
			s.fallback(ctx, w, notify)
		}
	}
	return nil
}

// watch is where Run stands: the index read up to, whether a full read is
// due, and when the event stream may be tried again.
type watch struct {
	index       uint64
	needFull    bool
	streamAfter time.Time // the stream is not tried before this
	bo          blocking.Backoff
	streamBo    blocking.Backoff
}

// readAll reads the whole catalog (after a start, a resync or a stream
// that ended), backing off after a failure.
func (s *Source) readAll(ctx context.Context, w *watch, notify func()) {
	idx, err := s.fullRead(ctx, notify)
	if err != nil {
		s.failed(ctx, err, &w.bo)
		return
	}
	w.bo.Reset()
	if s.opts.OnAnswer != nil {
		s.opts.OnAnswer(idx)
	}
	if idx < w.index {
		s.log.Info("catalog index went backwards, re-read", "was", w.index, "now", idx)
	}
	w.index, w.needFull = idx, false
}

// stream follows the event stream until it ends; then a full read is due,
// and the stream is tried again after a backoff (the fallback serves
// meanwhile).
func (s *Source) stream(ctx context.Context, w *watch, notify func()) {
	got, healthy, err := s.follow(ctx, w.index, notify)
	if ctx.Err() != nil {
		return
	}
	if errors.Is(err, errResync) {
		w.index, w.needFull = 0, true
		return
	}
	if s.opts.OnError != nil && err != nil {
		s.opts.OnError(err)
	}
	if healthy {
		w.streamBo.Reset()
	}
	retry := w.streamBo.Next()
	s.log.Warn("event stream ended, re-reading and falling back to blocking queries",
		"err", err, "retry_stream_in", retry.Round(time.Millisecond))
	w.index, w.needFull = got, true
	w.streamAfter = time.Now().Add(retry)
}

// fallback runs until it is time to try the stream again (or a resync):
// the shared blocking-query loop on the service list, where a new index
// is a full re-read.
func (s *Source) fallback(ctx context.Context, w *watch, notify func()) {
	fctx, cancel := context.WithDeadline(ctx, w.streamAfter)
	resynced := s.watchResync(fctx, cancel)
	defer resynced() // waits for the watcher (a resync queued itself again for Run)
	defer cancel()
	blocking.Run(fctx, s.loop(), s.fetchList, func(ctx context.Context, listIndex uint64) error {
		if listIndex == w.index {
			return nil // what the last full read saw
		}
		idx, err := s.fullRead(ctx, notify)
		if err == nil {
			w.index = idx
		}
		return err
	})
}

// loop is the blocking-query loop of the fallback on the service list.
func (s *Source) loop() blocking.Loop {
	return blocking.Loop{
		Name: "nomad services", Wait: s.opts.WaitTime, MinInterval: s.opts.MinInterval,
		MinBackoff: s.opts.MinBackoff, MaxBackoff: s.opts.MaxBackoff, Grace: s.opts.WatchdogGrace,
		Logger: s.log, OnError: s.opts.OnError, OnAnswer: s.opts.OnAnswer,
	}
}

// fetchList is one blocking query on the service list; it returns the
// list's index.
func (s *Source) fetchList(ctx context.Context, index uint64, wait time.Duration) (uint64, uint64, error) {
	q := (&api.QueryOptions{Namespace: s.listNamespace(), WaitIndex: index, WaitTime: wait}).WithContext(ctx)
	_, meta, err := s.client.Services().List(q)
	if err != nil {
		return 0, 0, fmt.Errorf("nomad: listing services: %w", err)
	}
	return meta.LastIndex, meta.LastIndex, nil
}

var errResync = errors.New("nomad: resync requested")

// watchResync cancels a blocking call when Resync is called during it, and
// puts the request back for Run to see. The returned function, called after
// cancel, reports whether that happened.
func (s *Source) watchResync(ctx context.Context, cancel context.CancelFunc) (fired func() bool) {
	done := make(chan bool, 1)
	go func() {
		select {
		case <-s.resync:
			cancel()
			s.Resync()
			done <- true
		case <-ctx.Done():
			done <- false
		}
	}()
	return func() bool { return <-done }
}

// fullRead lists every service and reads each enabled one, replacing the
// whole snapshot only if every read succeeded. It returns the list's index.
func (s *Source) fullRead(ctx context.Context, notify func()) (uint64, error) {
	callCtx, cancel := context.WithTimeout(ctx, s.callTimeout())
	defer cancel()
	stubs, meta, err := s.client.Services().List((&api.QueryOptions{Namespace: s.listNamespace()}).WithContext(callCtx))
	if err != nil {
		return 0, fmt.Errorf("nomad: listing services: %w", err)
	}
	next := map[svcKey][]catalog.Instance{}
	for _, stub := range stubs {
		if stub == nil || !s.wantNS(stub.Namespace) {
			continue
		}
		for _, svc := range stub.Services {
			if svc == nil || !s.enabled(svc.Tags) {
				continue
			}
			key := svcKey{stub.Namespace, svc.ServiceName}
			insts, err := s.read(callCtx, key)
			if err != nil {
				return 0, err
			}
			if len(insts) > 0 {
				next[key] = insts
			}
		}
	}
	f := newFacts()
	if s.factsWanted() {
		f, err = s.readFacts(callCtx, next)
		switch {
		case isForbidden(err):
			s.log.Warn("allocation facts not readable with this token, routing without them (health, drains, canaries); grant node:read and read-job, or pass --nomad-allocations=false", "err", err)
			s.factsOff.Store(true)
			f = newFacts()
		case err != nil:
			return 0, err
		}
	}
	s.mu.Lock()
	f.keepDecided(s.facts)
	if s.ready && meta.LastIndex < s.seen && s.behindUntil == 0 {
		s.behindUntil, s.lastGood = s.seen, map[string]catalog.Instance{}
		for _, insts := range s.instances {
			for _, in := range insts {
				if in.Health == catalog.HealthPassing && !in.Draining {
					s.lastGood[in.Key()] = in
				}
			}
		}
	}
	s.base, s.facts = next, f
	s.advanceLocked(meta.LastIndex)
	changed := s.deriveLocked() || !s.ready || s.watchedChangedLocked()
	if !s.ready {
		s.ready = true
		s.log.Info("catalog ready", "services", len(next))
	}
	s.mu.Unlock()
	if changed {
		notify()
	}
	return meta.LastIndex, nil
}

// read returns the enabled instances of one service, sorted.
func (s *Source) read(ctx context.Context, key svcKey) ([]catalog.Instance, error) {
	regs, _, err := s.client.Services().Get(key.name, (&api.QueryOptions{Namespace: key.namespace}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("nomad: reading service %q in namespace %q: %w", key.name, key.namespace, err)
	}
	var tags []string
	out := make([]catalog.Instance, 0, len(regs))
	for _, r := range regs {
		if r == nil {
			continue
		}
		tags = append(tags, r.Tags...)
		out = append(out, toInstance(r))
	}
	if !s.enabled(tags) {
		return nil, nil
	}
	slices.SortFunc(out, catalog.Compare)
	return out, nil
}

// refresh re-reads one service and stores the result; it reports whether the
// snapshot changed.
func (s *Source) refresh(ctx context.Context, key svcKey) (bool, error) {
	callCtx, cancel := context.WithTimeout(ctx, s.callTimeout())
	defer cancel()
	insts, err := s.read(callCtx, key)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storeLocked(key, insts), nil
}

// applyServiceEvent applies a ServiceRegistration or ServiceDeregistration
// event to a service the snapshot holds, from the registration the event
// carries (Nomad's service events carry it whole), without asking Nomad;
// it reports whether it could, and whether the snapshot changed. A service
// not held (not enabled before, or new) is not: it must be read, as its
// other registrations decide whether it is enabled.
func (s *Source) applyServiceEvent(key svcKey, typ string, reg *api.ServiceRegistration) (applied, changed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.base[key]
	if !had || (typ != "ServiceRegistration" && typ != "ServiceDeregistration") {
		return false, false
	}
	insts := slices.DeleteFunc(slices.Clone(old), func(in catalog.Instance) bool { return in.ID == reg.ID })
	if typ == "ServiceRegistration" {
		insts = append(insts, toInstance(reg))
		slices.SortFunc(insts, catalog.Compare)
	}
	var tags []string
	for _, in := range insts {
		tags = append(tags, in.Tags...)
	}
	if !s.enabled(tags) {
		insts = nil
	}
	return true, s.storeLocked(key, insts)
}

// storeLocked stores a service's instances as read (none: the service is
// gone or no longer enabled), derived with the facts; it reports whether
// the snapshot changed.
func (s *Source) storeLocked(key svcKey, insts []catalog.Instance) bool {
	old, had := s.base[key]
	if len(insts) == 0 {
		delete(s.base, key)
		delete(s.instances, key)
		return had
	}
	s.base[key] = insts
	if had && slices.EqualFunc(old, insts, catalog.Instance.Equal) {
		return false
	}
	// A registration that appears for an allocation already running is
	// its task's service registered again after a restart, which the
	// allocation's own update may not have said yet: gate it like a new
	// allocation until a check passes.
	for _, in := range insts {
		a, known := s.facts.allocs[in.AllocID]
		if known && a.client == api.AllocClientStatusRunning && !slices.ContainsFunc(old, func(o catalog.Instance) bool { return o.ID == in.ID }) {
			if _, gated := s.facts.starting[in.AllocID]; !gated && s.factsWanted() {
				s.facts.starting[in.AllocID] = time.Now()
			}
		}
	}
	derived := make([]catalog.Instance, len(insts))
	for i, in := range insts {
		derived[i] = s.derive(in)
	}
	s.instances[key] = derived
	return true
}

// follow consumes the event stream from index, re-reading the services that
// events name, until the stream fails, ctx is done or a resync is requested.
// It returns the last index seen, and whether the stream delivered events
// before it ended.
func (s *Source) follow(ctx context.Context, index uint64, notify func()) (uint64, bool, error) {
	var batches int
	last, err := s.followEvents(ctx, index, notify, &batches)
	return last, batches > 0, err
}

// followEvents is follow's loop; it counts the batches it handled.
func (s *Source) followEvents(ctx context.Context, index uint64, notify func(), batches *int) (uint64, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := s.openStream(sctx, cancel, index)
	if err != nil {
		return index, err
	}
	var check <-chan time.Time
	if s.streamWatched {
		t := time.NewTicker(s.opts.StreamWatchdog / 4)
		defer t.Stop()
		check = t.C
	}
	for {
		batch, err := s.nextBatch(ctx, events, check)
		if err != nil {
			return index, err
		}
		if batch == nil {
			continue // the watchdog found the stream alive
		}
		if batch.Index < index {
			return 0, fmt.Errorf("nomad: event index went backwards (%d < %d)", batch.Index, index)
		}
		index = batch.Index
		*batches++
		if s.opts.OnAnswer != nil {
			s.opts.OnAnswer(index)
		}
		if err := s.applyBatch(ctx, batch, notify); err != nil {
			return index, err
		}
	}
}

// openStream opens the event stream from index on the topics the source
// reads. Opening waits for the response headers: a partition at that
// moment must not hang the source, so the open is bounded like a call
// (cancel ends sctx when it takes too long).
func (s *Source) openStream(sctx context.Context, cancel context.CancelFunc, index uint64) (<-chan *api.Events, error) {
	q := &api.QueryOptions{Namespace: s.listNamespace()}
	topics := map[api.Topic][]string{api.TopicService: {"*"}}
	if s.factsWanted() {
		for _, t := range []api.Topic{api.TopicAllocation, api.TopicNode, api.TopicDeployment, api.TopicJob} {
			topics[t] = []string{"*"}
		}
	}
	openTimer := time.AfterFunc(s.callTimeout(), cancel)
	events, err := s.client.EventStream().Stream(sctx, topics, index, q)
	if !openTimer.Stop() {
		s.log.Warn("watchdog: event stream did not open, re-establishing")
		return nil, fmt.Errorf("nomad: opening event stream: no answer within %v: %w", s.callTimeout(), context.DeadlineExceeded)
	}
	if err != nil {
		return nil, fmt.Errorf("nomad: opening event stream: %w", err)
	}
	s.log.Debug("event stream open", "index", index)
	s.activity.touch()
	return events, nil
}

// nextBatch waits for the stream's next batch of events. It returns nil
// and no error when the watchdog's check found the stream alive, and an
// error when the stream ends, fails, stays silent past StreamWatchdog, a
// resync is asked for (errResync) or ctx is done.
func (s *Source) nextBatch(ctx context.Context, events <-chan *api.Events, check <-chan time.Time) (*api.Events, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-check:
		if silent := s.activity.since(); silent > s.opts.StreamWatchdog {
			s.log.Warn("watchdog: event stream silent, re-establishing", "silent", silent.Round(time.Millisecond))
			return nil, fmt.Errorf("nomad: event stream silent for %v: %w", silent.Round(time.Millisecond), context.DeadlineExceeded)
		}
		return nil, nil
	case <-s.resync:
		s.log.Info("full resync")
		return nil, errResync
	case batch, ok := <-events:
		if !ok {
			return nil, errors.New("nomad: event stream closed")
		}
		if batch.Err != nil {
			return nil, fmt.Errorf("nomad: reading event stream: %w", batch.Err)
		}
		return batch, nil
	}
}

// applyBatch applies one batch of events at its index: allocation, node,
// deployment and job events to the facts, service events by reading those
// services again; notify is called once if the snapshot changed.
func (s *Source) applyBatch(ctx context.Context, batch *api.Events, notify func()) error {
	s.mu.Lock()
	factsChanged := s.advanceLocked(batch.Index) // caught up: derive afresh
	s.mu.Unlock()
	keys := map[svcKey]bool{} // services to read
	eventChanged := false
	for _, ev := range batch.Events {
		if ev.Topic != api.TopicService {
			s.mu.Lock()
			known, err := s.facts.applyEvent(&ev)
			s.mu.Unlock()
			if err != nil {
				s.log.Warn("undecodable event", "topic", ev.Topic, "err", err)
			}
			factsChanged = factsChanged || (known && err == nil)
			continue
		}
		reg, err := ev.Service()
		if err != nil || reg == nil {
			s.log.Warn("undecodable service event", "key", ev.Key, "err", err)
			continue
		}
		key := svcKey{reg.Namespace, reg.ServiceName}
		if !s.wantNS(reg.Namespace) || keys[key] {
			continue // to be read anyway
		}
		applied, c := s.applyServiceEvent(key, ev.Type, reg)
		eventChanged = eventChanged || c
		if !applied {
			keys[key] = true
		}
	}
	changed := eventChanged
	if factsChanged {
		s.mu.Lock()
		changed = s.deriveLocked() || s.watchedChangedLocked() || changed
		s.mu.Unlock()
	}
	for key := range keys {
		c, err := s.refresh(ctx, key)
		if err != nil {
			return err
		}
		changed = changed || c
	}
	if changed {
		notify()
	}
	return nil
}

// enabled reports whether a service with these tags is read: opted in as
// Traefik reads the enable tag (tags.Enabled), or with a malformed one, which
// the builder reports.
func (s *Source) enabled(ts []string) bool {
	en, bad := tags.Enabled(ts, s.opts.Prefix, s.opts.ExposedByDefault)
	return en || bad != ""
}

func toInstance(r *api.ServiceRegistration) catalog.Instance {
	return catalog.Instance{
		Origin:     catalog.OriginNomad,
		Service:    r.ServiceName,
		Namespace:  r.Namespace,
		ID:         r.ID,
		Node:       r.NodeID,
		Datacenter: r.Datacenter,
		Address:    r.Address,
		Port:       r.Port,
		Tags:       slices.Clone(r.Tags),
		Health:     catalog.HealthPassing,
		AllocID:    r.AllocID,
		JobID:      r.JobID,
	}
}

// gate releases new allocations (facts.starting) once they run and their
// Nomad checks pass, asking the client that runs each, through the agent,
// when a result that counts can be there by the schedule the client runs
// them on (schedule.go), and every GatePoll where that is not known; it
// returns when ctx is done. Nomad registers a new allocation's services
// before its tasks listen, and keeps its checks' results on that client
// only: without the gate, the first requests to a new copy (after a drain,
// a reschedule, a scale-up) would find nothing listening.
func (s *Source) gate(ctx context.Context, notify func()) {
	t := time.NewTicker(s.opts.GatePoll)
	defer t.Stop()
	// notBefore is, by allocation, when its checks can next have answered
	// anew, and the start (since) that was for: a restart starts them over.
	type wait struct{ since, until time.Time }
	notBefore := map[string]wait{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		// The allocations to ask about: when each started, its group, and
		// how often the client runs its job's checks.
		type asking struct {
			since     time.Time
			group     string
			intervals map[checkRef]time.Duration
		}
		ask := map[string]asking{}
		released := false
		for id := range notBefore {
			if _, ok := s.facts.starting[id]; !ok {
				delete(notBefore, id)
			}
		}
		now := time.Now()
		for id, since := range s.facts.starting {
			a := s.facts.allocs[id]
			switch {
			case now.Sub(since) > s.opts.StartGate:
				s.log.Warn("new allocation's checks did not pass in time, routing it anyway", "alloc", id, "after", s.opts.StartGate)
				delete(s.facts.starting, id)
				released = true
			case a.client == api.AllocClientStatusRunning && !a.restarting && !now.Before(s.firstAskLocked(id, since)) &&
				!(notBefore[id].since.Equal(since) && now.Before(notBefore[id].until)):
				ask[id] = asking{since, a.taskGroup, s.facts.intervals[jobKey{a.job.namespace, a.job.jobID}]}
			}
		}
		s.mu.Unlock()
		for id, q := range ask {
			if ctx.Err() != nil {
				return
			}
			ok, next, err := s.checksPass(ctx, id, q.since, q.group, q.intervals)
			if err != nil {
				s.log.Debug("reading a new allocation's checks", "alloc", id, "err", err)
				continue
			}
			notBefore[id] = wait{q.since, next}
			if ok {
				s.mu.Lock()
				delete(s.facts.starting, id)
				s.mu.Unlock()
				released = true
			}
		}
		if released {
			s.mu.Lock()
			changed := s.deriveLocked()
			s.mu.Unlock()
			if changed {
				notify()
			}
		}
	}
}

// firstAskLocked is when the gate first asks for the checks of an
// allocation that started at since: at once when the client runs none for
// its group, or the syncer does not know its job; for a new allocation,
// once each of them can have a result that counts (firstCountableRun);
// for a restarted one, whose checks keep the rhythm they had, at the
// second after since (no result from since's second can count), to learn
// when they ran last.
func (s *Source) firstAskLocked(allocID string, since time.Time) time.Time {
	a := s.facts.allocs[allocID]
	first := since
	for ref, every := range s.facts.intervals[jobKey{a.job.namespace, a.job.jobID}] {
		if ref.group != a.taskGroup {
			continue
		}
		t := time.Unix(since.Unix()+1, 0)
		if a.restarts == 0 {
			t = firstCountableRun(since, every).Add(askMargin)
		}
		if t.After(first) {
			first = t
		}
	}
	return first
}

// checksPass reports whether every health check of an allocation has
// passed since it started (or it has none, or its checks cannot be read
// with this token): a result from before a restart does not count. When
// not, next is when to ask again (nextAsk: the latest of its checks that
// have not passed, by the intervals of its group's checks); zero when a
// check's interval is not known.
func (s *Source) checksPass(ctx context.Context, allocID string, since time.Time, group string, intervals map[checkRef]time.Duration) (ok bool, next time.Time, err error) {
	callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	statuses, err := s.client.Allocations().Checks(allocID, (&api.QueryOptions{}).WithContext(callCtx))
	switch {
	case isForbidden(err) || isNotFound(err):
		return true, time.Time{}, nil
	case err != nil:
		return false, time.Time{}, fmt.Errorf("nomad: reading checks of allocation %s: %w", allocID, err)
	}
	ok, known := true, true
	now := time.Now()
	for _, st := range statuses {
		// Nomad stamps results in whole seconds: only one from a later
		// second than the start surely ran after it.
		if st.Mode == "readiness" || st.Status == "success" && st.Timestamp > since.Unix() {
			continue
		}
		ok = false
		every, found := intervals[checkRef{group, st.Service, st.Check}]
		if !found {
			known = false
			continue
		}
		if t := nextAsk(since, every, st.Status == "pending", st.Timestamp, now); t.IsZero() {
			known = false
		} else if t.After(next) {
			next = t
		}
	}
	if ok || !known {
		return ok, time.Time{}, nil
	}
	return false, next, nil
}

// factsWanted reports whether allocation facts are read: asked for, and not
// found forbidden.
func (s *Source) factsWanted() bool { return !s.opts.IgnoreAllocations && !s.factsOff.Load() }

// isForbidden reports whether err is a 403 answer.
func isForbidden(err error) bool { return statusOf(err) == http.StatusForbidden }

// isNotFound reports whether err is a 404 answer.
func isNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// statusOf is the HTTP status of an API error, or 0.
func statusOf(err error) int {
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) {
		return sc.StatusCode()
	}
	return 0
}
