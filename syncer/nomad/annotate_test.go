package nomad_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/internal/testkit"
	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/fakes/nomadfake"
	"github.com/whiskers-dev/whiskers/syncer/nomad"
)

// TestSourceAnnotatesConsulInstances: an instance that a Nomad allocation
// registered in Consul is marked Draining as soon as Nomad stops the
// allocation or drains its node, as the Nomad source's own instances are,
// and the source signals the change; instances of other allocations, and
// those not registered by Nomad, are left as they are.
func TestSourceAnnotatesConsulInstances(t *testing.T) {
	t.Parallel()
	const a1, a2 = "11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-aaaaaaaaaaaa"
	fake := nomadfake.New()
	t.Cleanup(fake.Close)
	fake.SetAllocation(alloc(a1, "n1", 1, nil))
	fake.SetAllocation(alloc(a2, "n2", 1, nil))
	var notes atomic.Int64
	src, err := nomad.New(nomad.Options{
		Config: &api.Config{Address: fake.URL()}, StreamRetry: time.Hour,
		MinInterval: time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, func() { notes.Add(1) }) }()
	t.Cleanup(func() { cancel(); assert.NoError(t, <-done) })
	testkit.WaitFor(t, "ready", func() bool { _, ok := src.Snapshot(); return ok })

	consul := func(id string) catalog.Instance {
		return catalog.Instance{Origin: catalog.OriginConsul, Service: "web", ID: id, AllocID: catalog.NomadAllocID(id), Health: catalog.HealthPassing}
	}
	in := []catalog.Instance{
		consul("_nomad-task-" + a1 + "-group-web-web-http"),
		consul("_nomad-task-" + a2 + "-group-web-web-http"),
		consul("web-by-hand"),
	}
	draining := func() []bool {
		var out []bool
		for _, i := range src.Annotate(in) {
			out = append(out, i.Draining)
		}
		return out
	}
	assert.Equal(t, []bool{false, false, false}, draining())

	before := notes.Load()
	fake.SetAllocation(alloc(a1, "n1", 1, func(a *api.Allocation) { a.DesiredStatus = "stop" }))
	testkit.WaitFor(t, "a signal for the stopped allocation", func() bool { return notes.Load() > before })
	assert.Equal(t, []bool{true, false, false}, draining())
	assert.False(t, in[0].Draining, "the given instances are not changed")

	before = notes.Load()
	fake.SetNode(api.Node{ID: "n2", DrainStrategy: &api.DrainStrategy{}})
	testkit.WaitFor(t, "a signal for the draining node", func() bool { return notes.Load() > before })
	assert.Equal(t, []bool{true, true, false}, draining())
}
