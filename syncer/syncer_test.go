package syncer_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/syncer"
	"github.com/whiskers-dev/whiskers/syncer/builder"
	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/output"
	"github.com/whiskers-dev/whiskers/syncer/render"

	"github.com/whiskers-dev/whiskers/internal/syncbuf"
)

// memSource is a catalog.Source held in memory.
type memSource struct {
	name    string
	mu      sync.Mutex
	insts   []catalog.Instance
	ready   bool
	notify  func()
	resyncs atomic.Int64
	running chan struct{}
}

func newMem(name string) *memSource { return &memSource{name: name, running: make(chan struct{})} }

func (m *memSource) Name() string { return m.name }

func (m *memSource) Run(ctx context.Context, notify func()) error {
	m.mu.Lock()
	m.notify = notify
	m.mu.Unlock()
	close(m.running)
	<-ctx.Done()
	return nil
}

func (m *memSource) Snapshot() ([]catalog.Instance, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]catalog.Instance(nil), m.insts...), m.ready
}

func (m *memSource) Resync() { m.resyncs.Add(1) }

// set replaces the instances, marks the source ready and signals.
func (m *memSource) set(insts ...catalog.Instance) {
	<-m.running
	m.mu.Lock()
	m.insts, m.ready = insts, true
	n := m.notify
	m.mu.Unlock()
	n()
}

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
	opts.OnPublish = func(p []byte) { h.mu.Lock(); h.published = append(h.published, p); h.mu.Unlock() }
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
		{"negative debounce", syncer.Options{Sources: src, Builder: b, Debounce: -1}},
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
	a.set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"))
	b.set(inst(catalog.OriginNomad, "beta", "b1", "10.0.0.2"))
	waitFor(t, "a publish", func() bool { return len(h.publishes()) > 0 })
	first := string(h.publishes()[0])
	assert.Contains(t, first, "alpha")
	assert.Contains(t, first, "beta", "nothing is written before every source is ready")
}

func TestRunnerStartupTimeout(t *testing.T) {
	t.Parallel()
	a, b := newMem("a"), newMem("b")
	h := startRunner(t, syncer.Options{Sources: []catalog.Source{a, b}, StartupTimeout: 50 * time.Millisecond})
	a.set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"))
	waitFor(t, "a publish", func() bool { return len(h.publishes()) > 0 })
	assert.Contains(t, string(h.publishes()[0]), "alpha")
	assert.Contains(t, h.logs.String(), "startup timeout passed")
	assert.Contains(t, h.logs.String(), "not_ready=b")
}

// TestRunnerKeepsTheFileOfAnEarlierRun: restarted while a catalog is down,
// the syncer does not replace the file from before (which still routes that
// catalog's services) when the startup timeout passes; it writes once every
// catalog has answered.
func TestRunnerKeepsTheFileOfAnEarlierRun(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "dynamic.yaml")
	require.NoError(t, os.WriteFile(path, []byte("# from before the restart\n"), 0o644))
	file, err := output.NewFile(path)
	require.NoError(t, err)
	a, b := newMem("a"), newMem("b")
	h := startRunner(t, syncer.Options{Sources: []catalog.Source{a, b}, File: file, StartupTimeout: time.Millisecond})
	a.set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"))
	waitFor(t, "the runner waiting", func() bool { return strings.Contains(h.logs.String(), "stays until every catalog has been read") })
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "# from before the restart\n", string(got))
	assert.Empty(t, h.publishes())
	b.set(inst(catalog.OriginNomad, "beta", "b1", "10.0.0.2"))
	waitFor(t, "the file written", func() bool {
		got, err := os.ReadFile(path)
		return err == nil && strings.Contains(string(got), "beta") && strings.Contains(string(got), "alpha")
	})
}

func TestRunnerPublishesOnlyChanges(t *testing.T) {
	t.Parallel()
	a := newMem("a")
	h := startRunner(t, syncer.Options{Sources: []catalog.Source{a}})
	one := inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1")
	a.set(one)
	waitFor(t, "first publish", func() bool { return len(h.publishes()) == 1 })
	for range 5 {
		syncs := metric(t, h.reg, "whiskers_sync_total", "")
		a.set(one)
		waitFor(t, "a rebuild", func() bool { return metric(t, h.reg, "whiskers_sync_total", "") > syncs })
	}
	assert.Len(t, h.publishes(), 1, "same snapshot, same bytes, no write")
	a.set(one, inst(catalog.OriginConsul, "alpha", "a2", "10.0.0.2"))
	waitFor(t, "second publish", func() bool { return len(h.publishes()) == 2 })
	assert.Contains(t, string(h.publishes()[1]), "10.0.0.2")
	assert.Equal(t, 2.0, metric(t, h.reg, "whiskers_sync_writes_total", ""))
}

func TestRunnerLogsProblemsOnce(t *testing.T) {
	t.Parallel()
	a := newMem("a")
	h := startRunner(t, syncer.Options{Sources: []catalog.Source{a}, Debounce: time.Millisecond})
	bad := inst(catalog.OriginNomad, "alpha", "a1", "10.0.0.1", "traefik.http.routers.alpha.priority=high")
	for range 4 {
		syncs := metric(t, h.reg, "whiskers_sync_total", "")
		a.set(bad)
		waitFor(t, "a rebuild", func() bool { return metric(t, h.reg, "whiskers_sync_total", "") > syncs })
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
	assert.Equal(t, int64(1), a.resyncs.Load())
	assert.Equal(t, int64(1), b.resyncs.Load())
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
			a := newMem("a")
			r, err := syncer.New(syncer.Options{
				Sources: []catalog.Source{a}, Builder: b, Format: render.JSON,
				StartupTimeout: 100 * time.Millisecond, Logger: quiet(),
			})
			require.NoError(t, err)
			if tc.ready {
				go a.set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"))
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
	}
}

func TestRunnerDebounceIsBounded(t *testing.T) {
	t.Parallel()
	// A debounce that never goes quiet still publishes within MaxWait.
	a := newMem("a")
	h := startRunner(t, syncer.Options{Sources: []catalog.Source{a}, Debounce: time.Hour, MaxWait: 20 * time.Millisecond})
	a.set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"))
	waitFor(t, "first publish", func() bool { return len(h.publishes()) == 1 })
	a.set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"), inst(catalog.OriginConsul, "alpha", "a2", "10.0.0.2"))
	waitFor(t, "publish bounded by MaxWait", func() bool { return len(h.publishes()) == 2 })
}

func TestRunnerWritesAChangeAfterQuietAtOnce(t *testing.T) {
	t.Parallel()
	// The first change after a quiet spell does not wait for the debounce
	// (an hour here): only bursts do.
	a := newMem("a")
	h := startRunner(t, syncer.Options{Sources: []catalog.Source{a}, Debounce: time.Hour, MaxWait: time.Hour})
	a.set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"))
	waitFor(t, "first publish", func() bool { return len(h.publishes()) == 1 })
	a.set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"), inst(catalog.OriginConsul, "alpha", "a2", "10.0.0.2"))
	waitFor(t, "the change published at once", func() bool { return len(h.publishes()) == 2 })
}

// earlySignal is a memSource that is ready at once and signals while the
// runner first asks whether it is ready: a signal queued before the first
// sync, as when a source answers just before the runner looks.
type earlySignal struct {
	*memSource
	once sync.Once
}

func (e *earlySignal) Snapshot() ([]catalog.Instance, bool) {
	e.once.Do(func() {
		<-e.running // its Run has its notify
		e.mu.Lock()
		n := e.notify
		e.mu.Unlock()
		n()
	})
	return e.memSource.Snapshot()
}

// TestRunnerIgnoresSignalsBeforeFirstSync: a signal queued before the
// first sync is covered by it, and does not make the first real change
// look like part of a burst (which, with an hour's debounce, would wait an
// hour: seen in CI as a flake of TestRunnerWritesAChangeAfterQuietAtOnce).
func TestRunnerIgnoresSignalsBeforeFirstSync(t *testing.T) {
	t.Parallel()
	m := newMem("a")
	m.insts, m.ready = []catalog.Instance{inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1")}, true
	src := &earlySignal{memSource: m}
	h := startRunner(t, syncer.Options{Sources: []catalog.Source{src}, Debounce: time.Hour, MaxWait: time.Hour})
	waitFor(t, "first publish", func() bool { return len(h.publishes()) == 1 })
	m.set(inst(catalog.OriginConsul, "alpha", "a1", "10.0.0.1"), inst(catalog.OriginConsul, "alpha", "a2", "10.0.0.2"))
	waitFor(t, "the change published at once", func() bool { return len(h.publishes()) == 2 })
}
