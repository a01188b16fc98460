package catalogtest

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
)

// Memory is a catalog held in memory together with the catalog.Source
// that reads it, for the tests of whatever consumes sources (the syncer's
// runner). Set replaces the catalog's instances; SetDown takes it down.
//
// The source is ready once it has read the catalog while running: Run
// reads it when it starts and after every Set, unless the catalog is down
// or has never been Set, and calls notify after every read (before the
// snapshot of that read can be seen). While the
// catalog is down the snapshot keeps the last instances read.
//
// All methods are safe to call from any goroutine; Run may be called once.
type Memory struct {
	name string

	mu       sync.Mutex
	insts    []catalog.Instance // the catalog
	answered bool               // Set has been called
	down     bool
	running  bool
	notify   func()
	view     []catalog.Instance // the last read, sorted
	ready    bool
	resyncs  int
}

var _ catalog.Source = (*Memory)(nil)

// NewMemory returns an empty catalog named name that has not answered yet
// (its source is not ready before the first Set).
func NewMemory(name string) *Memory { return &Memory{name: name} }

// Name returns the name given to NewMemory.
func (m *Memory) Name() string { return m.name }

// Run reads the catalog, then again after every change, until ctx is done;
// it returns nil then. A second call returns an error at once.
func (m *Memory) Run(ctx context.Context, notify func()) error {
	m.mu.Lock()
	if m.running || m.notify != nil {
		m.mu.Unlock()
		return errors.New("catalogtest: Memory.Run called twice")
	}
	m.running, m.notify = true, notify
	m.readAndSignal()
	<-ctx.Done()
	m.mu.Lock()
	m.running = false
	m.mu.Unlock()
	return nil
}

// Snapshot returns the instances last read, sorted, and whether a read has
// happened.
func (m *Memory) Snapshot() ([]catalog.Instance, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.view), m.ready
}

// Set replaces the catalog's instances (in any order) and, while Run runs
// and the catalog is up, has them read and signalled.
func (m *Memory) Set(insts ...catalog.Instance) {
	m.mu.Lock()
	m.insts, m.answered = slices.Clone(insts), true
	m.readAndSignal()
}

// SetDown takes the catalog down (the snapshot keeps the last instances
// read) or brings it back (it is read again).
func (m *Memory) SetDown(down bool) {
	m.mu.Lock()
	m.down = down
	m.readAndSignal()
}

// Resync reads the catalog again, as Consul's and Nomad's sources re-read
// theirs on SIGHUP, and counts the call.
func (m *Memory) Resync() {
	m.mu.Lock()
	m.resyncs++
	m.readAndSignal()
}

// Resyncs returns how many times Resync was called.
func (m *Memory) Resyncs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.resyncs
}

// readAndSignal reads the catalog if it can and signals the read, then
// unlocks m.mu (held by the caller). It signals before it unlocks (notify
// does not block), so that whoever sees the new snapshot finds the signal
// already sent: a consumer that drops the signals sent before a read of
// its own then drops this one.
func (m *Memory) readAndSignal() {
	if m.readLocked() {
		m.notify()
	}
	m.mu.Unlock()
}

// readLocked copies the catalog into the snapshot if Run runs and the
// catalog answers; it reports whether it did.
func (m *Memory) readLocked() bool {
	if !m.running || !m.answered || m.down {
		return false
	}
	m.view = slices.Clone(m.insts)
	slices.SortFunc(m.view, catalog.Compare)
	m.ready = true
	return true
}
