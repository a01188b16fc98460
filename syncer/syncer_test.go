package syncer_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/syncer"
	"github.com/whiskers-dev/whiskers/syncer/builder"
	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/catalog/catalogtest"
	"github.com/whiskers-dev/whiskers/syncer/output"
	"github.com/whiskers-dev/whiskers/syncer/render"

	"github.com/whiskers-dev/whiskers/internal/syncbuf"

	"github.com/whiskers-dev/whiskers/internal/testkit"
)

// newMem is an in-memory catalog and its source, not ready before its
// first Set.
func newMem(name string) *catalogtest.Memory { return catalogtest.NewMemory(name) }

func inst(origin catalog.Origin, service, id, addr string, tags ...string) catalog.Instance {
	return catalog.Instance{
		Origin: origin, Service: service, ID: id, Address: addr, Port: 80, Health: catalog.HealthPassing,
		Tags: append([]string{"traefik.enable=true"}, tags...),
	}
}

type runnerHarness struct {
	runner    *syncer.Runner
	reg       *prometheus.Registry
	logs      *syncbuf.Buffer
	mu        sync.Mutex
	published [][]byte
}

func (h *runnerHarness) publishes() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.published...)
}

func startRunner(t *testing.T, opts syncer.Options) *runnerHarness {
	t.Helper()
	h := &runnerHarness{reg: prometheus.NewRegistry(), logs: &syncbuf.Buffer{}}
	m, err := output.NewMetrics(h.reg)
	require.NoError(t, err)
	b, err := builder.New(builder.Options{})
	require.NoError(t, err)
	opts.Builder, opts.Metrics = b, m
	opts.Logger = slog.New(slog.NewTextHandler(h.logs, nil))
	opts.Outputs = append(opts.Outputs, output.NewRecorder(render.YAML, func(p []byte) {
		h.mu.Lock()
		h.published = append(h.published, p)
		h.mu.Unlock()
	}))
	h.runner, err = syncer.New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); assert.NoError(t, <-done) })
	return h
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	b, err := builder.New(builder.Options{})
	require.NoError(t, err)
	src := []catalog.Source{newMem("a")}
	tests := []struct {
		name string
		opts syncer.Options
	}{
		{"no sources", syncer.Options{Builder: b}},
		{"no builder", syncer.Options{Sources: src}},
		{"bad format", syncer.Options{Sources: src, Builder: b, Format: "xml"}},
		{"negative throttle", syncer.Options{Sources: src, Builder: b, Throttle: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := syncer.New(tc.opts)
			assert.Error(t, err)
		})
	}
}

func TestRunnerWaitsForEverySource(t *testing.T) {
	t.Parallel()
	a, b := newMem("a"), newMem("b")
	h := startRunner(t, syncer.Options{Sources: []catalog.Source{a, b}})
	a.Set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"))
	b.Set(inst(catalog.OriginNomad, "beta", "b1", "10.0.0.2"))
	testkit.WaitFor(t, "a publish", func() bool { return len(h.publishes()) > 0 })
	first := string(h.publishes()[0])
	assert.Contains(t, first, "alpha")
	assert.Contains(t, first, "beta", "nothing is written before every source is ready")
}

// TestRunnerStartupTimeout: a source that is never ready holds the first
// write back for StartupTimeout (on the bubble's fake clock), not longer.
func TestRunnerStartupTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const timeout = 50 * time.Millisecond
		a, b := newMem("a"), newMem("b")
		h := startRunner(t, syncer.Options{Sources: []catalog.Source{a, b}, StartupTimeout: timeout})
		a.Set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"))
		time.Sleep(timeout - time.Nanosecond)
		synctest.Wait()
		assert.Empty(t, h.publishes(), "written before the startup timeout")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		require.Len(t, h.publishes(), 1, "written when the startup timeout passed")
		assert.Contains(t, string(h.publishes()[0]), "alpha")
		assert.Contains(t, h.logs.String(), "startup timeout passed")
		assert.Contains(t, h.logs.String(), "not_ready=b")
	})
}

// TestRunnerKeepsTheFileOfAnEarlierRun: restarted while a catalog is down,
// the syncer does not replace the file from before (which still routes that
// catalog's services) when the startup timeout passes; it writes once every
// catalog has answered.
func TestRunnerKeepsTheFileOfAnEarlierRun(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "dynamic.yaml")
	require.NoError(t, os.WriteFile(path, []byte("# from before the restart\n"), 0o644))
	synctest.Test(t, func(t *testing.T) {
		file, err := output.NewFile(path, render.YAML)
		require.NoError(t, err)
		a, b := newMem("a"), newMem("b")
		h := startRunner(t, syncer.Options{Sources: []catalog.Source{a, b}, Outputs: []output.Output{file}, StartupTimeout: time.Millisecond})
		a.Set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"))
		time.Sleep(time.Hour) // on the bubble's clock: long past the startup timeout
		synctest.Wait()
		assert.Contains(t, h.logs.String(), "stays until every catalog has been read")
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, "# from before the restart\n", string(got))
		assert.Empty(t, h.publishes())
		b.Set(inst(catalog.OriginNomad, "beta", "b1", "10.0.0.2"))
		synctest.Wait()
		got, err = os.ReadFile(path)
		require.NoError(t, err)
		assert.Contains(t, string(got), "alpha")
		assert.Contains(t, string(got), "beta")
	})
}

func TestRunnerPublishesOnlyChanges(t *testing.T) {
	t.Parallel()
	a := newMem("a")
	h := startRunner(t, syncer.Options{Sources: []catalog.Source{a}})
	one := inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1")
	a.Set(one)
	testkit.WaitFor(t, "first publish", func() bool { return len(h.publishes()) == 1 })
	for range 5 {
		syncs := metric(t, h.reg, "whiskers_sync_total", "")
		a.Set(one)
		testkit.WaitFor(t, "a rebuild", func() bool { return metric(t, h.reg, "whiskers_sync_total", "") > syncs })
	}
	assert.Len(t, h.publishes(), 1, "same snapshot, same bytes, no write")
	a.Set(one, inst(catalog.OriginConsul, "alpha", "a2", "10.0.0.2"))
	testkit.WaitFor(t, "second publish", func() bool { return len(h.publishes()) == 2 })
	assert.Contains(t, string(h.publishes()[1]), "10.0.0.2")
	assert.Equal(t, 2.0, metric(t, h.reg, "whiskers_sync_writes_total", ""))
}

func TestRunnerLogsProblemsOnce(t *testing.T) {
	t.Parallel()
	a := newMem("a")
	h := startRunner(t, syncer.Options{Sources: []catalog.Source{a}, Throttle: time.Millisecond})
	bad := inst(catalog.OriginNomad, "alpha", "a1", "10.0.0.1", "traefik.http.routers.alpha.priority=high")
	for range 4 {
		syncs := metric(t, h.reg, "whiskers_sync_total", "")
		a.Set(bad)
		testkit.WaitFor(t, "a rebuild", func() bool { return metric(t, h.reg, "whiskers_sync_total", "") > syncs })
	}
	logs := h.logs.String()
	assert.Equal(t, 1, strings.Count(logs, "tag problem"), logs)
	assert.Contains(t, logs, "traefik.http.routers.alpha.priority=high")
	assert.Contains(t, logs, "service=alpha")
}

func TestRunnerResync(t *testing.T) {
	t.Parallel()
	a, b := newMem("a"), newMem("b")
	h := startRunner(t, syncer.Options{Sources: []catalog.Source{a, b}})
	h.runner.Resync()
	assert.Equal(t, 1, a.Resyncs())
	assert.Equal(t, 1, b.Resyncs())
}

func TestOnce(t *testing.T) {
	t.Parallel()
	b, err := builder.New(builder.Options{})
	require.NoError(t, err)
	tests := []struct {
		name    string
		ready   bool
		wantErr string
		want    string
	}{
		{"ready", true, "", "http://10.0.0.1:80"},
		{"never ready", false, "catalogs not ready: a", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				a := newMem("a")
				r, err := syncer.New(syncer.Options{
					Sources: []catalog.Source{a}, Builder: b, Format: render.JSON,
					StartupTimeout: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
				})
				require.NoError(t, err)
				if tc.ready {
					go a.Set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"))
				}
				out, err := r.Once(t.Context())
				if tc.wantErr != "" {
					assert.ErrorContains(t, err, tc.wantErr)
					return
				}
				require.NoError(t, err)
				assert.Contains(t, string(out), tc.want)
				assert.True(t, strings.HasPrefix(string(out), "{"), "json")
			})
		})
	}
}

// TestRunnerThrottles: a change after a quiet spell is written at once; one
// that comes within Throttle of the last write is written when Throttle has
// passed since that write, with every change that came meanwhile — and
// changes that keep coming do not hold it back longer (on the bubble's
// fake clock).
func TestRunnerThrottles(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const throttle = time.Second
		a := newMem("a")
		file, err := output.NewFile(filepath.Join(t.TempDir(), "dynamic.yaml"), render.YAML)
		require.NoError(t, err)
		h := startRunner(t, syncer.Options{Sources: []catalog.Source{a}, Throttle: throttle, Outputs: []output.Output{file}})
		one, two := inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"), inst(catalog.OriginConsul, "alpha", "a2", "10.0.0.2")
		three := inst(catalog.OriginConsul, "alpha", "a3", "10.0.0.3")
		a.Set(one)
		synctest.Wait()
		require.Len(t, h.publishes(), 1, "first publish")
		a.Set(one, two)
		synctest.Wait()
		require.Len(t, h.publishes(), 2, "a change after a quiet spell, at once")

		a.Set(one, two, three)
		synctest.Wait()
		assert.Len(t, h.publishes(), 2, "a change right after a write waits")
		time.Sleep(throttle / 2)
		a.Set(one, three) // more changes meanwhile
		time.Sleep(throttle/2 - time.Nanosecond)
		synctest.Wait()
		assert.Len(t, h.publishes(), 2, "Throttle has not passed since the last write")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		require.Len(t, h.publishes(), 3, "written once Throttle has passed")
		assert.NotContains(t, string(h.publishes()[2]), "10.0.0.2", "with the latest state")

		// Changes that keep coming, closer together than Throttle: still
		// one write per Throttle, not one when they stop.
		// (A change every 0.4 s for 2 s: writes at 1 s and 2 s.)
		for i := range 5 {
			a.Set(one, three, inst(catalog.OriginConsul, "alpha", "a4", fmt.Sprintf("10.0.1.%d", i)))
			time.Sleep(throttle * 2 / 5)
		}
		synctest.Wait()
		assert.Len(t, h.publishes(), 5, "two more writes in two Throttle periods")

		// The latency of the changes written: none on the bubble's clock
		// for the one after a quiet spell; from the first change not yet
		// written for the others: 1 s, 1 s, 0.8 s.
		count, sum := histogram(t, h.reg, "whiskers_sync_change_seconds")
		assert.Equal(t, uint64(4), count)
		assert.InDelta(t, 2.8, sum, 1e-9)
		assert.Contains(t, h.logs.String(), "after=1s", "the written file's log says how long the change took")
	})
}

// failOnce is an output whose Publish fails once when armed, as a full
// disk would.
type failOnce struct {
	output.Output
	armed atomic.Bool
}

func (f *failOnce) Publish(b []byte) (bool, error) {
	if f.armed.Swap(false) {
		return false, errors.New("disk full")
	}
	return f.Output.Publish(b)
}

// TestRunnerChangeLatencyAcrossARetry: a change that no output could
// publish is published by the retry a second later, and its latency counts
// from its signal, not from the retry.
func TestRunnerChangeLatencyAcrossARetry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		m, err := output.NewMetrics(reg)
		require.NoError(t, err)
		b, err := builder.New(builder.Options{})
		require.NoError(t, err)
		file, err := output.NewFile(filepath.Join(t.TempDir(), "dynamic.yaml"), render.YAML)
		require.NoError(t, err)
		out := &failOnce{Output: file}
		a := newMem("a")
		r, err := syncer.New(syncer.Options{Sources: []catalog.Source{a}, Builder: b, Metrics: m, Outputs: []output.Output{out},
			Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		t.Cleanup(func() { cancel(); assert.NoError(t, <-done) })

		a.Set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"))
		synctest.Wait() // the first publish
		out.armed.Store(true)
		a.Set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"), inst(catalog.OriginConsul, "alpha", "a2", "10.0.0.2"))
		synctest.Wait()
		count, _ := histogram(t, reg, "whiskers_sync_change_seconds")
		assert.Zero(t, count, "not published yet")
		time.Sleep(time.Second) // the retry
		synctest.Wait()
		count, sum := histogram(t, reg, "whiskers_sync_change_seconds")
		assert.Equal(t, uint64(1), count, "observed once, when published")
		assert.InDelta(t, 1, sum, 1e-9, "from the change's signal, across the retry")
	})
}

// histogram returns the count and sum of a histogram without labels.
func histogram(t testing.TB, g prometheus.Gatherer, name string) (count uint64, sum float64) {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	t.Fatalf("no histogram %s", name)
	return 0, 0
}

func TestRunnerWritesAChangeAfterQuietAtOnce(t *testing.T) {
	t.Parallel()
	// The first change after a quiet spell does not wait for the throttle
	// (an hour here): only a change soon after a write does. No time passes on the bubble's
	// clock between the first publish, the change and the check.
	synctest.Test(t, func(t *testing.T) {
		a := newMem("a")
		h := startRunner(t, syncer.Options{Sources: []catalog.Source{a}, Throttle: time.Hour})
		a.Set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"))
		synctest.Wait()
		require.Len(t, h.publishes(), 1, "first publish")
		a.Set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"), inst(catalog.OriginConsul, "alpha", "a2", "10.0.0.2"))
		synctest.Wait()
		assert.Len(t, h.publishes(), 2, "the change published at once")
	})
}

// earlySignal is a source that signals while the runner first asks
// whether it is ready: a signal queued before the first sync, as when a
// source answers just before the runner looks.
type earlySignal struct {
	*catalogtest.Memory
	started chan struct{} // closed once Run has notify
	notify  func()
	once    sync.Once
}

func (e *earlySignal) Run(ctx context.Context, notify func()) error {
	e.notify = notify
	close(e.started)
	return e.Memory.Run(ctx, notify)
}

func (e *earlySignal) Snapshot() ([]catalog.Instance, bool) {
	e.once.Do(func() {
		<-e.started
		e.notify()
	})
	return e.Memory.Snapshot()
}

// lateSignal is a source that can signal without a change, as a real
// source does when its notify arrives after the runner's first sync had
// already read what it announced.
type lateSignal struct {
	*catalogtest.Memory
	notify chan func()
}

func (l *lateSignal) Run(ctx context.Context, notify func()) error {
	l.notify <- notify
	return l.Memory.Run(ctx, notify)
}

// TestRunnerIgnoresSignalsThatChangeNothing: a signal that changes nothing
// does not make the first real change look like part of a burst (which,
// with an hour's throttle, would wait an hour): neither one queued before
// the first sync, which covers it (seen in CI as a flake of
// TestRunnerWritesAChangeAfterQuietAtOnce), nor one arriving after it (late,
// or repeated).
func TestRunnerIgnoresSignalsThatChangeNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		source func(*catalogtest.Memory) (catalog.Source, func())
	}{
		{"before the first sync", func(m *catalogtest.Memory) (catalog.Source, func()) {
			return &earlySignal{Memory: m, started: make(chan struct{})}, func() {}
		}},
		{"after the first sync", func(m *catalogtest.Memory) (catalog.Source, func()) {
			src := &lateSignal{Memory: m, notify: make(chan func(), 1)}
			return src, func() { (<-src.notify)() }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				m := newMem("a")
				m.Set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"))
				src, lateNotify := tc.source(m)
				h := startRunner(t, syncer.Options{Sources: []catalog.Source{src}, Throttle: time.Hour})
				synctest.Wait()
				require.Len(t, h.publishes(), 1, "first publish")
				lateNotify()
				synctest.Wait()
				require.Len(t, h.publishes(), 1, "nothing changed")
				m.Set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"), inst(catalog.OriginConsul, "alpha", "a2", "10.0.0.2"))
				synctest.Wait()
				assert.Len(t, h.publishes(), 2, "the change published at once")
			})
		})
	}
}
