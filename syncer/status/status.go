// Package status keeps what the syncer knows about its catalogs and what it
// decided, for people: why each catalog instance is routed or not, the last
// changes of those decisions, and each catalog's watch. It serves them as a
// status page (/, live through server-sent events), as JSON (/status.json),
// and is what `whiskers explain` reads.
//
// The runner hands it each build's decisions (Board.Update); each catalog
// source reports its answers and errors to its Tracker. Nothing here talks
// to a catalog.
package status

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/whiskers-dev/whiskers/syncer/builder"
)

// MaxChanges is how many changes Status keeps, newest first.
const MaxChanges = 50

// Status is everything the status page shows.
type Status struct {
	// Updated is when the decisions were last built; zero before the first.
	Updated time.Time `json:"updated"`
	// Catalogs are the watches, by name.
	Catalogs []Watch `json:"catalogs"`
	// Services are the decisions of the last build, by catalog service.
	Services []builder.ServiceDecisions `json:"services"`
	// Problems are the tag problems of the last build.
	Problems []string `json:"problems,omitempty"`
	// Changes are the last decisions that changed, newest first.
	Changes []Change `json:"changes"`
}

// Service returns the decisions about the catalog service name ("name" or
// "namespace/name"), and whether the last build saw it.
func (s Status) Service(name string) (builder.ServiceDecisions, bool) {
	i := slices.IndexFunc(s.Services, func(sd builder.ServiceDecisions) bool { return sd.Service == name })
	if i < 0 {
		return builder.ServiceDecisions{}, false
	}
	return s.Services[i], true
}

// Change is one instance whose decision changed between two builds.
type Change struct {
	At       time.Time `json:"at"`
	Service  string    `json:"service"`
	Instance string    `json:"instance"` // origin/id
	Address  string    `json:"address"`  // host:port
	// Was and Now are the reasons before and after; "" when the instance
	// was not in the catalog (new) or is no longer (gone).
	Was string `json:"was"`
	Now string `json:"now"`
	// Cause is what moved in the instance's catalog since the build
	// before, e.g. "nomad index 110 → 113"; "" when its index did not
	// move (a change of another kind, such as the syncer's own gate).
	Cause string `json:"cause,omitempty"`
}

// Watch is one catalog's watch, as the syncer sees it.
type Watch struct {
	Catalog string `json:"catalog"`
	// Ready is set once the catalog has been read completely.
	Ready bool `json:"ready"`
	// LastIndex is the catalog index of its last answer (Consul's
	// X-Consul-Index, Nomad's event or query index).
	LastIndex uint64 `json:"lastIndex,omitempty"`
	// LastContact is when it last answered.
	LastContact time.Time `json:"lastContact,omitzero"`
	// Errors counts the failed calls; LastError is the last one, at
	// LastErrorAt.
	Errors      int       `json:"errors"`
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	// KeptSince is set while the catalog fails: since when its last good
	// instances are kept in the configuration.
	KeptSince time.Time `json:"keptSince,omitzero"`
}

// Tracker follows one catalog's watch. Its methods are safe for concurrent
// use and never block: hand OnAnswer and OnError to the source.
type Tracker struct {
	mu    sync.Mutex
	w     Watch
	now   func() time.Time
	board *Board
}

// OnAnswer records an answer of the catalog at index.
func (t *Tracker) OnAnswer(index uint64) {
	t.mu.Lock()
	t.w.LastIndex, t.w.LastContact, t.w.KeptSince = index, t.now(), time.Time{}
	t.mu.Unlock()
}

// OnError records a failed call.
func (t *Tracker) OnError(err error) {
	t.mu.Lock()
	now := t.now()
	t.w.Errors++
	t.w.LastError, t.w.LastErrorAt = err.Error(), now
	if t.w.KeptSince.IsZero() {
		t.w.KeptSince = now
	}
	t.mu.Unlock()
	t.board.changed()
}

// watch is the tracker's watch; ready is the board's word on it.
func (t *Tracker) watch(ready bool) Watch {
	t.mu.Lock()
	w := t.w
	t.mu.Unlock()
	w.Ready = ready
	return w
}

// Board holds the latest status. Create it with NewBoard; it is safe for
// concurrent use.
type Board struct {
	now func() time.Time

	mu       sync.Mutex
	trackers map[string]*Tracker
	ready    map[string]bool
	indexes  map[string]uint64 // each catalog's last index at the last Update
	st       Status
	version  uint64        // counts changes, for the page's listeners
	wake     chan struct{} // closed and replaced at every change
	closed   chan struct{} // closed by Close: event streams end
	once     sync.Once
}

// NewBoard returns an empty Board; now is the clock (nil: time.Now).
func NewBoard(now func() time.Time) *Board {
	if now == nil {
		now = time.Now
	}
	return &Board{now: now, trackers: map[string]*Tracker{}, ready: map[string]bool{}, indexes: map[string]uint64{},
		wake: make(chan struct{}), closed: make(chan struct{})}
}

// Close ends the page's event streams (an http.Server's Shutdown waits for
// them otherwise: register it with RegisterOnShutdown). The board keeps
// working; new streams end at once.
func (b *Board) Close() { b.once.Do(func() { close(b.closed) }) }

// Tracker returns the tracker of the catalog named name (a source's Name),
// made at the first call.
func (b *Board) Tracker(name string) *Tracker {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.trackerLocked(name)
}

func (b *Board) trackerLocked(name string) *Tracker {
	t := b.trackers[name]
	if t == nil {
		t = &Tracker{w: Watch{Catalog: name}, now: b.now, board: b}
		b.trackers[name] = t
	}
	return t
}

// Update takes a build's result: its decisions replace the last ones, and
// every instance whose decision changed is a Change. ready says which
// catalogs have been read completely, by name.
func (b *Board) Update(res builder.Result, ready map[string]bool) {
	now := b.now()
	b.mu.Lock()
	for name, r := range ready {
		b.ready[name] = b.ready[name] || r // once read completely, a catalog stays so
		b.trackerLocked(name)
	}
	changes := diff(b.st.Services, res.Services, now, !b.st.Updated.IsZero())
	causes := map[string]string{} // catalog → what moved
	for name, t := range b.trackers {
		t.mu.Lock()
		idx := t.w.LastIndex
		t.mu.Unlock()
		if was, ok := b.indexes[name]; ok && idx != was {
			causes[name] = fmt.Sprintf("%s index %d → %d", name, was, idx)
		}
		b.indexes[name] = idx
	}
	for i := range changes {
		origin, _, _ := strings.Cut(changes[i].Instance, "/")
		for name, cause := range causes {
			if name == origin || strings.HasPrefix(name, origin+"/") {
				changes[i].Cause = cause
			}
		}
	}
	b.st.Changes = append(changes, b.st.Changes...)
	if len(b.st.Changes) > MaxChanges {
		b.st.Changes = b.st.Changes[:MaxChanges]
	}
	b.st.Services = res.Services
	b.st.Problems = b.st.Problems[:0]
	for _, p := range res.Problems {
		b.st.Problems = append(b.st.Problems, p.Error())
	}
	b.st.Updated = now
	b.mu.Unlock()
	b.changed()
}

// changed wakes the page's listeners.
func (b *Board) changed() {
	b.mu.Lock()
	b.version++
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
}

// Status returns the current status (a copy the caller may keep).
func (b *Board) Status() Status {
	st, _, _ := b.status()
	return st
}

// status returns the status, its version and a channel closed at the next
// change.
func (b *Board) status() (Status, uint64, <-chan struct{}) {
	b.mu.Lock()
	st := b.st
	st.Services = slices.Clone(st.Services)
	st.Problems = slices.Clone(st.Problems)
	st.Changes = slices.Clone(st.Changes)
	trackers := make([]*Tracker, 0, len(b.trackers))
	for _, t := range b.trackers {
		trackers = append(trackers, t)
	}
	ready := make(map[string]bool, len(b.ready))
	for k, v := range b.ready {
		ready[k] = v
	}
	version, wake := b.version, b.wake
	b.mu.Unlock()
	st.Catalogs = make([]Watch, 0, len(trackers))
	for _, t := range trackers {
		st.Catalogs = append(st.Catalogs, t.watch(ready[t.w.Catalog]))
	}
	slices.SortFunc(st.Catalogs, func(a, b Watch) int { return cmp.Compare(a.Catalog, b.Catalog) })
	return st, version, wake
}

// diff lists the instances whose decision differs between old and now;
// with first unset (the first build) there is nothing to compare with.
func diff(old, now []builder.ServiceDecisions, at time.Time, compare bool) []Change {
	if !compare {
		return nil
	}
	type key struct{ service, instance string }
	type entry struct {
		address, reason string
	}
	was := map[key]entry{}
	for _, sd := range old {
		for _, d := range sd.Instances {
			was[key{sd.Service, string(d.Origin) + "/" + d.ID}] = entry{d.HostPort(), d.Reason}
		}
	}
	var out []Change
	for _, sd := range now {
		for _, d := range sd.Instances {
			k := key{sd.Service, string(d.Origin) + "/" + d.ID}
			e, ok := was[k]
			delete(was, k)
			if ok && e.reason == d.Reason {
				continue
			}
			out = append(out, Change{At: at, Service: sd.Service, Instance: k.instance, Address: d.HostPort(), Was: e.reason, Now: d.Reason})
		}
	}
	for k, e := range was {
		out = append(out, Change{At: at, Service: k.service, Instance: k.instance, Address: e.address, Was: e.reason})
	}
	slices.SortFunc(out, func(a, b Change) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Instance, b.Instance))
	})
	return out
}
