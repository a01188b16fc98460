package consul_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/catalog/catalogtest"
	"github.com/whiskers-dev/whiskers/syncer/consul"
	"github.com/whiskers-dev/whiskers/syncer/fakes/consulfake"

	"github.com/whiskers-dev/whiskers/internal/testkit"
)

func allNamespaces(o consul.Options) (catalog.Source, error) { return consul.NewAllNamespaces(o) }

// TestAllNamespaces: with namespace * the source follows every namespace of
// a Consul Enterprise catalog (the fake in Enterprise mode, answering as
// api-docs/namespaces documents): instances carry their namespace, a new
// namespace's services are routed, a deleted one's leave, and the same
// service name in two namespaces stays two services.
func TestAllNamespaces(t *testing.T) {
	t.Parallel()
	fake := consulfake.New()
	t.Cleanup(fake.Close)
	fake.SetEnterprise()
	on := []string{"traefik.enable=true"}
	fake.Register(consulfake.Instance{ID: "web-1", Service: "web", Address: "10.0.0.1", Port: 80, Tags: on})
	fake.Register(consulfake.Instance{ID: "web-a", Service: "web", Namespace: "team-a", Address: "10.0.1.1", Port: 80, Tags: on})
	fake.Register(consulfake.Instance{ID: "db-a", Service: "db", Namespace: "team-a", Address: "10.0.1.2", Port: 5432})

	h := run(t, fake.URL(), "", allNamespaces)
	assert.Equal(t, "consul/*", h.src.Name())
	testkit.WaitFor(t, "both namespaces read", func() bool { return h.ready() && len(h.byID()) == 2 })
	got := h.byID()
	assert.Equal(t, "default", got["web-1"].Namespace)
	assert.Equal(t, "team-a", got["web-a"].Namespace)

	fake.AddNamespace("team-b")
	fake.Register(consulfake.Instance{ID: "api-b", Service: "api", Namespace: "team-b", Address: "10.0.2.1", Port: 90, Tags: on})
	testkit.WaitFor(t, "the new namespace's service", func() bool { _, ok := h.byID()["api-b"]; return ok })

	fake.DeleteNamespace("team-a")
	testkit.WaitFor(t, "the deleted namespace's services gone", func() bool { _, ok := h.byID()["web-a"]; return !ok })
	assert.Contains(t, h.byID(), "web-1")
	assert.Contains(t, h.byID(), "api-b")
	_, ready := h.src.Snapshot()
	assert.True(t, ready)
}

// TestAllNamespacesOnOpenSource: the open-source agent has no namespaces
// (404 on /v1/namespaces, TestAgentsAnswerAlike): the source says so in its
// errors and never becomes ready, so the syncer keeps its last output
// instead of writing one without Consul's routes.
func TestAllNamespacesOnOpenSource(t *testing.T) {
	t.Parallel()
	fake := consulfake.New()
	t.Cleanup(fake.Close)
	seed(fake)
	var last atomicError
	h := run(t, fake.URL(), "", func(o consul.Options) (catalog.Source, error) {
		o.OnError = last.Store
		return consul.NewAllNamespaces(o)
	})
	testkit.WaitFor(t, "an error", func() bool { return last.Load() != nil })
	assert.ErrorContains(t, last.Load(), "namespaces are a Consul Enterprise feature")
	assert.False(t, h.ready())
}

// atomicError keeps the last error it was given.
type atomicError struct {
	mu  sync.Mutex
	err error
}

func (a *atomicError) Store(err error) { a.mu.Lock(); a.err = err; a.mu.Unlock() }

func (a *atomicError) Load() error { a.mu.Lock(); defer a.mu.Unlock(); return a.err }

// TestAllNamespacesConformance: the source of every namespace keeps the
// contract of catalog.Source, its instances spread over two namespaces
// (service web in default, the others in team-a).
func TestAllNamespacesConformance(t *testing.T) {
	t.Parallel()
	catalogtest.TestSource(t, func(t *testing.T) *catalogtest.Harness {
		fake := consulfake.New()
		t.Cleanup(fake.Close)
		fake.SetEnterprise()
		fake.AddNamespace("team-a")
		var faults atomic.Int64
		src, err := consul.NewAllNamespaces(testOptions(fake.URL(), "", func(error) { faults.Add(1) }))
		require.NoError(t, err)
		return &catalogtest.Harness{
			Source: src,
			Register: func(in catalog.Instance) {
				ns := "team-a"
				if in.Service == "web" {
					ns = ""
				}
				fake.Register(consulfake.Instance{ID: in.ID, Service: in.Service, Namespace: ns, Address: in.Address, Port: in.Port,
					Tags: []string{"traefik.enable=true"}})
			},
			Deregister:  func(id string) { fake.Deregister(id) },
			SetCritical: func(id string) { fake.SetCheck(id, "critical") },
			SetDown:     fake.SetDown,
			Faults:      func() int { return int(faults.Load()) },
		}
	})
}
