package builder

import (
	"cmp"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/dynamic"
)

// Build turns snap into a configuration: one router and one service per
// enabled catalog service unless its tags say otherwise, servers from its
// healthy instances in every catalog. It never panics, whatever the snapshot,
// and does not modify it. For large snapshots it spreads the work over
// GOMAXPROCS goroutines, all finished when it returns; the result is the
// same as a sequential build.
func (b *Builder) Build(snap catalog.Snapshot) Result {
	groups := groupInstances(snap.Instances)
	acc := newAccumulator(len(groups))
	// Catalog services are built independently (in parallel when there are
	// many) and merged one by one in name order, so the result does not
	// depend on scheduling.
	results := make([]serviceResult, len(groups))
	forEach(len(groups), func(i int) {
		results[i] = b.buildService(groups[i])
	}, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			acc.add(&results[i])
			results[i] = serviceResult{} // merged: its configuration now belongs to acc
		}
	})
	return acc.result()
}

// parallelMin is the number of catalog services from which Build uses
// several goroutines.
const parallelMin = 1024

// forEach calls f(0) … f(n-1), spread over GOMAXPROCS goroutines when n is
// large, and done(lo, hi) on the caller's goroutine for consecutive ranges
// that cover 0 … n-1 in order, each once f has returned for all of its
// range: done of a range runs while f runs for later ones. It returns when
// all calls have returned.
func forEach(n int, f func(i int), done func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 || n < parallelMin {
		for i := range n {
			f(i)
		}
		done(0, n)
		return
	}
	const chunk = 64
	chunks := (n + chunk - 1) / chunk
	finished := make([]chan struct{}, chunks)
	for c := range finished {
		finished[c] = make(chan struct{})
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				c := int(next.Add(1)) - 1
				if c >= chunks {
					return
				}
				for i := c * chunk; i < min((c+1)*chunk, n); i++ {
					f(i)
				}
				close(finished[c])
			}
		})
	}
	for c := range chunks {
		<-finished[c]
		done(c*chunk, min((c+1)*chunk, n))
	}
	wg.Wait()
}

// accumulator is one Build in progress: the configuration merged so far from
// the catalog services already built, and what was said about them.
type accumulator struct {
	cfg        *dynamic.Configuration
	owners     map[string]map[string]string // "http.routers" → name → catalog service that defined it first
	conflicted map[objKey]bool              // objects defined differently by several catalog services
	size       int                          // number of catalog services, to size maps
	problems   []Problem
	seen       map[string]bool    // problems already in problems
	services   []ServiceDecisions // per catalog service, in merge order
}

// newAccumulator starts a build of size catalog services.
func newAccumulator(size int) *accumulator {
	return &accumulator{
		cfg:        &dynamic.Configuration{},
		owners:     map[string]map[string]string{},
		conflicted: map[objKey]bool{},
		size:       size,
		seen:       map[string]bool{},
	}
}

// add merges the result of one catalog service into the build.
func (acc *accumulator) add(res *serviceResult) {
	for _, p := range res.problems {
		acc.problem(p.Origin, p.Service, p.Tag, p.Err)
	}
	if res.config != nil {
		acc.merge(res.name, res.origin, res.config)
	}
	acc.services = append(acc.services, res.decisions)
}

// problem records a problem once, however often it is reported.
func (acc *accumulator) problem(origin catalog.Origin, service, tag string, err error) {
	k := string(origin) + "\x00" + service + "\x00" + tag + "\x00" + err.Error()
	if acc.seen[k] {
		return
	}
	acc.seen[k] = true
	acc.problems = append(acc.problems, Problem{Origin: origin, Service: service, Tag: tag, Err: err})
}

// result is the finished build: empty sections removed, problems sorted.
func (acc *accumulator) result() Result {
	c := acc.cfg
	if c.HTTP != nil && reflect.ValueOf(*c.HTTP).IsZero() {
		c.HTTP = nil
	}
	if c.TCP != nil && reflect.ValueOf(*c.TCP).IsZero() {
		c.TCP = nil
	}
	if c.UDP != nil && reflect.ValueOf(*c.UDP).IsZero() {
		c.UDP = nil
	}
	if c.TLS != nil && reflect.ValueOf(*c.TLS).IsZero() {
		c.TLS = nil
	}
	slices.SortFunc(acc.problems, func(a, b Problem) int {
		return cmp.Or(
			cmp.Compare(a.Service, b.Service),
			cmp.Compare(a.Tag, b.Tag),
			cmp.Compare(a.Origin, b.Origin),
			cmp.Compare(a.Err.Error(), b.Err.Error()),
		)
	})
	return Result{Config: c, Problems: acc.problems, Services: acc.services}
}
