// Package catalogtest checks that a catalog.Source keeps the contract the
// syncer relies on, as testing/fstest.TestFS does for a file system, and
// holds Memory, a catalog and source in memory for the tests of the
// sources' consumers.
//
// Each source's tests call TestSource with a function that makes a
// Harness: a fresh fake catalog (consulfake, nomadfake, Memory), a source
// over it that is not running yet, and the knobs that change the catalog.
// TestSource runs the source against it and drives the catalog through the
// knobs; what a catalog cannot do (have a health, fail) is left nil and
// the checks that need it are skipped.
package catalogtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whiskers-dev/whiskers/internal/testkit"
	"github.com/whiskers-dev/whiskers/syncer/catalog"
)

// Harness is one fake catalog, with no instances, and a source over it.
// The knobs are called from the test's goroutine while the source runs.
type Harness struct {
	// Source reads the catalog; TestSource runs it. It must not be running
	// yet. Required.
	Source catalog.Source
	// Register adds, or replaces, the instance with in's ID: of service
	// in.Service at in.Address and in.Port, enabled for Traefik and
	// passing. The other fields of in are unset. Required.
	Register func(in catalog.Instance)
	// Deregister removes the instance with this ID. Required.
	Deregister func(id string)
	// SetCritical makes the registered instance with this ID critical;
	// nil if the catalog keeps no health.
	SetCritical func(id string)
	// SetDown takes the catalog down (its source's calls fail) or brings
	// it back; nil if the catalog cannot fail.
	SetDown func(down bool)
	// Faults returns how many failed calls the source has reported (its
	// OnError); TestSource waits for one after SetDown(true) before it
	// checks what the source kept. nil if SetDown takes effect at once.
	Faults func() int
}

// TestSource checks the contract of catalog.Source on sources made by
// newHarness, which is called once per check, from parallel subtests:
//
//   - Snapshot is not ready before Run;
//   - the first ready snapshot holds every instance registered before Run
//     (a complete read), sorted by catalog.Compare;
//   - a change (registration, health, deregistration, a service's last
//     instance leaving) is signalled through notify, after which Snapshot
//     shows it;
//   - a catalog fault keeps the last good instances, ready, and what
//     changed meanwhile is seen once the catalog is back;
//   - Snapshot is safe to call from other goroutines while Run runs;
//   - Run returns nil soon after its context is done, also while its
//     catalog is down.
func TestSource(t *testing.T, newHarness func(t *testing.T) *Harness) {
	t.Helper()
	checks := []struct {
		name string
		f    func(t *testing.T, h *Harness)
	}{
		{"NotReadyBeforeRun", testNotReadyBeforeRun},
		{"FirstSnapshotCompleteAndSorted", testFirstSnapshot},
		{"ChangesSignalledThenSeen", testChanges},
		{"FaultKeepsLastGood", testFault},
		{"CancelWhileDown", testCancelWhileDown},
		{"SnapshotFromOtherGoroutines", testConcurrentSnapshots},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if h == nil || h.Source == nil || h.Register == nil || h.Deregister == nil {
				t.Fatal("catalogtest: the harness needs Source, Register and Deregister")
			}
			c.f(t, h)
		})
	}
}

// running is a source whose Run runs until the test ends.
type running struct {
	src     catalog.Source
	signals chan struct{} // notify's signals, as the runner keeps them
	calls   atomic.Int64
}

// run starts h.Source; the test's cleanup cancels it and checks that Run
// returns nil within testkit.Patience.
func run(t *testing.T, h *Harness) *running {
	t.Helper()
	r := &running{src: h.Source, signals: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- h.Source.Run(ctx, func() {
			r.calls.Add(1)
			select {
			case r.signals <- struct{}{}:
			default:
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after its context was cancelled, want nil", err)
			}
		case <-time.After(testkit.Patience):
			t.Errorf("Run had not returned %v after its context was cancelled", testkit.Patience)
		}
	})
	return r
}

// waitSignalled waits until, after a signal from notify, the snapshot
// satisfies cond: a change is signalled, and seen once signalled. It fails
// the test after testkit.Patience.
func (r *running) waitSignalled(t *testing.T, what string, cond func(insts []catalog.Instance, ready bool) bool) []catalog.Instance {
	t.Helper()
	deadline := time.NewTimer(testkit.Patience)
	defer deadline.Stop()
	for {
		select {
		case <-r.signals:
			insts, ready := r.src.Snapshot()
			if cond(insts, ready) {
				return insts
			}
		case <-deadline.C:
			insts, ready := r.src.Snapshot()
			t.Fatalf("%s: no signal followed by a snapshot showing %s within %v (%d signals; now ready=%v, %s)",
				r.src.Name(), what, testkit.Patience, r.calls.Load(), ready, ids(insts))
		}
	}
}

// waitReady waits for the first ready snapshot and returns it.
func (r *running) waitReady(t *testing.T) []catalog.Instance {
	t.Helper()
	return r.waitSignalled(t, "ready", func(_ []catalog.Instance, ready bool) bool { return ready })
}

func ids(insts []catalog.Instance) string {
	out := make([]string, len(insts))
	for i, in := range insts {
		out[i] = fmt.Sprintf("%s/%s(%s)", in.Service, in.ID, in.Health)
	}
	return fmt.Sprint(out)
}

func find(insts []catalog.Instance, id string) (catalog.Instance, bool) {
	for _, in := range insts {
		if in.ID == id {
			return in, true
		}
	}
	return catalog.Instance{}, false
}

func has(id string) func([]catalog.Instance, bool) bool {
	return func(insts []catalog.Instance, _ bool) bool { _, ok := find(insts, id); return ok }
}

func lacks(ids ...string) func([]catalog.Instance, bool) bool {
	return func(insts []catalog.Instance, _ bool) bool {
		for _, id := range ids {
			if _, ok := find(insts, id); ok {
				return false
			}
		}
		return true
	}
}

// checkSorted fails t unless insts are sorted by catalog.Compare.
func checkSorted(t *testing.T, insts []catalog.Instance) {
	t.Helper()
	if !slices.IsSortedFunc(insts, catalog.Compare) {
		t.Errorf("snapshot not sorted by catalog.Compare: %s", ids(insts))
	}
}

// seed is registered before Run, out of order.
var seed = []catalog.Instance{
	{Service: "web", ID: "web-2", Address: "10.0.0.2", Port: 8080},
	{Service: "api", ID: "api-1", Address: "10.0.0.3", Port: 9090},
	{Service: "web", ID: "web-1", Address: "10.0.0.1", Port: 8080},
	{Service: "api", ID: "api-2", Address: "10.0.0.4", Port: 9090},
}

func register(h *Harness, insts ...catalog.Instance) {
	for _, in := range insts {
		h.Register(in)
	}
}

func testNotReadyBeforeRun(t *testing.T, h *Harness) {
	register(h, seed...)
	if _, ready := h.Source.Snapshot(); ready {
		t.Error("Snapshot is ready before Run has read the catalog")
	}
}

func testFirstSnapshot(t *testing.T, h *Harness) {
	register(h, seed...)
	r := run(t, h)
	got := r.waitReady(t)
	checkSorted(t, got)
	if len(got) != len(seed) {
		t.Fatalf("first ready snapshot %s, want the %d instances registered before Run", ids(got), len(seed))
	}
	for _, want := range seed {
		in, ok := find(got, want.ID)
		switch {
		case !ok:
			t.Errorf("first ready snapshot lacks %s: %s", want.ID, ids(got))
		case in.Service != want.Service || in.Address != want.Address || in.Port != want.Port:
			t.Errorf("%s read as %s at %s:%d, registered as %s at %s:%d",
				want.ID, in.Service, in.Address, in.Port, want.Service, want.Address, want.Port)
		case in.Health != catalog.HealthPassing:
			t.Errorf("%s read with health %q, want passing", want.ID, in.Health)
		}
	}
}

func testChanges(t *testing.T, h *Harness) {
	register(h, seed...)
	r := run(t, h)
	r.waitReady(t)

	h.Register(catalog.Instance{Service: "web", ID: "web-3", Address: "10.0.0.5", Port: 8080})
	checkSorted(t, r.waitSignalled(t, "web-3 registered", has("web-3")))

	h.Register(catalog.Instance{Service: "new", ID: "new-1", Address: "10.0.0.6", Port: 7070})
	checkSorted(t, r.waitSignalled(t, "new-1 of a new service", has("new-1")))

	if h.SetCritical != nil {
		h.SetCritical("web-1")
		r.waitSignalled(t, "web-1 critical", func(insts []catalog.Instance, _ bool) bool {
			in, ok := find(insts, "web-1")
			return ok && in.Health == catalog.HealthCritical
		})
	}

	h.Deregister("web-2")
	r.waitSignalled(t, "web-2 gone", lacks("web-2"))

	// The last instances of a service leave with it.
	h.Deregister("api-1")
	h.Deregister("api-2")
	got := r.waitSignalled(t, "service api gone", lacks("api-1", "api-2"))
	checkSorted(t, got)
	for _, id := range []string{"web-1", "web-3", "new-1"} {
		if _, ok := find(got, id); !ok {
			t.Errorf("%s left with the others: %s", id, ids(got))
		}
	}
	if _, ready := r.src.Snapshot(); !ready {
		t.Error("no longer ready after changes")
	}
}

func testFault(t *testing.T, h *Harness) {
	if h.SetDown == nil {
		t.Skip("the catalog cannot fail")
	}
	register(h, seed...)
	r := run(t, h)
	before := r.waitReady(t)

	faults := 0
	if h.Faults != nil {
		faults = h.Faults()
	}
	h.SetDown(true)
	if h.Faults != nil {
		testkit.WaitFor(t, "a fault reported", func() bool { return h.Faults() > faults })
	}
	h.Deregister("web-2") // unseen while down
	after, ready := r.src.Snapshot()
	if !ready {
		t.Error("not ready after a fault: the last good instances must stay")
	}
	if !slices.EqualFunc(before, after, catalog.Instance.Equal) {
		t.Errorf("snapshot changed while the catalog was down: before %s, after %s", ids(before), ids(after))
	}

	h.SetDown(false)
	r.waitSignalled(t, "web-2 gone, once the catalog is back", lacks("web-2"))
	h.Register(catalog.Instance{Service: "web", ID: "web-3", Address: "10.0.0.5", Port: 8080})
	checkSorted(t, r.waitSignalled(t, "web-3 registered after the fault", has("web-3")))
}

func testCancelWhileDown(t *testing.T, h *Harness) {
	if h.SetDown == nil {
		t.Skip("the catalog cannot fail")
	}
	register(h, seed...)
	h.SetDown(true)
	run(t, h) // its cleanup checks that Run returns nil once cancelled
	if h.Faults != nil {
		testkit.WaitFor(t, "a fault reported", func() bool { return h.Faults() > 0 })
	}
	if _, ready := h.Source.Snapshot(); ready {
		t.Error("ready although the catalog has been down since before Run")
	}
}

func testConcurrentSnapshots(t *testing.T, h *Harness) {
	register(h, seed...)
	r := run(t, h)
	r.waitReady(t)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var unsorted atomic.Int64
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				insts, _ := h.Source.Snapshot()
				// Read every field a consumer reads, so that the race
				// detector sees a source writing what it handed out.
				n := 0
				for _, in := range insts {
					n += len(in.Tags) + len(in.Meta) + in.Port
				}
				if !slices.IsSortedFunc(insts, catalog.Compare) {
					unsorted.Add(1)
				}
				_ = n
			}
		})
	}
	for i := range 10 {
		id := fmt.Sprintf("web-x%d", i)
		h.Register(catalog.Instance{Service: "web", ID: id, Address: fmt.Sprintf("10.0.1.%d", i), Port: 8080})
		r.waitSignalled(t, id+" registered", has(id))
		if i%2 == 1 {
			h.Deregister(id)
			r.waitSignalled(t, id+" gone", lacks(id))
		}
	}
	close(stop)
	wg.Wait()
	if n := unsorted.Load(); n > 0 {
		t.Errorf("%d snapshots read from other goroutines were not sorted", n)
	}
}
