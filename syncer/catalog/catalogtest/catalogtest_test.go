package catalogtest_test

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/catalog/catalogtest"
)

// TestMemory: the in-memory source keeps the contract it stands in for.
func TestMemory(t *testing.T) {
	t.Parallel()
	catalogtest.TestSource(t, func(*testing.T) *catalogtest.Harness {
		m := catalogtest.NewMemory("memory")
		var mu sync.Mutex
		insts := map[string]catalog.Instance{}
		change := func(f func()) {
			mu.Lock()
			defer mu.Unlock()
			f()
			m.Set(slices.Collect(maps.Values(insts))...)
		}
		return &catalogtest.Harness{
			Source: m,
			Register: func(in catalog.Instance) {
				change(func() {
					in.Origin, in.Health, in.Tags = catalog.OriginConsul, catalog.HealthPassing, []string{"traefik.enable=true"}
					insts[in.ID] = in
				})
			},
			Deregister: func(id string) { change(func() { delete(insts, id) }) },
			SetCritical: func(id string) {
				change(func() {
					in := insts[id]
					in.Health = catalog.HealthCritical
					insts[id] = in
				})
			},
			SetDown: m.SetDown,
		}
	})
}

// TestMemoryRunsOnce: a second Run is refused.
func TestMemoryRunsOnce(t *testing.T) {
	t.Parallel()
	m := catalogtest.NewMemory("memory")
	m.Set()
	ctx, cancel := context.WithCancel(t.Context())
	read := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, func() { close(read) }) }()
	<-read // the first Run has read the catalog
	if err := m.Run(t.Context(), func() {}); err == nil {
		t.Error("a second Run succeeded")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
