package syncer_test

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/syncer"
	"github.com/whiskers-dev/whiskers/syncer/builder"
	"github.com/whiskers-dev/whiskers/syncer/catalog"
)

// stopper is a source that annotates: it holds no instances of its own and
// marks Draining the instances of one allocation (as the Nomad source does
// for allocations Nomad is stopping).
type stopper struct {
	fixed
	alloc string
}

func (s stopper) Name() string { return "stopper" }

func (s stopper) Annotate(insts []catalog.Instance) []catalog.Instance {
	out := append([]catalog.Instance(nil), insts...)
	for i := range out {
		if out[i].AllocID == s.alloc {
			out[i].Draining = true
		}
	}
	return out
}

// TestRunnerAnnotates: the runner hands the merged instances to every
// source that annotates before it builds, so that an instance another
// catalog holds leaves the configuration when the annotating source says
// it is stopping.
func TestRunnerAnnotates(t *testing.T) {
	t.Parallel()
	b, err := builder.New(builder.Options{})
	require.NoError(t, err)
	web := func(id, alloc, addr string) catalog.Instance {
		return catalog.Instance{Origin: catalog.OriginConsul, Service: "web", ID: id, AllocID: alloc, Address: addr, Port: 80,
			Health: catalog.HealthPassing, Tags: []string{"traefik.enable=true"}}
	}
	consul := fixed{web("w1", "a1", "10.0.0.1"), web("w2", "a2", "10.0.0.2")}
	r, err := syncer.New(syncer.Options{
		Sources: []catalog.Source{consul, stopper{alloc: "a1"}}, Builder: b, Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	out, err := r.Once(t.Context())
	require.NoError(t, err)
	assert.NotContains(t, string(out), "10.0.0.1", "the stopping allocation's instance is out")
	assert.Contains(t, string(out), "10.0.0.2")
	assert.False(t, consul[0].Draining, "the source's own instances are not changed")
}
