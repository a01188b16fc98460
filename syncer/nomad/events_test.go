package nomad_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/whiskers-dev/whiskers/syncer/fakes/nomadfake"
	"github.com/whiskers-dev/whiskers/syncer/nomad"

	"github.com/whiskers-dev/whiskers/internal/testkit"
)

// TestSourceAppliesServiceEvents: a registration or deregistration of a
// service the source routes is applied from the event itself (Nomad's
// service events carry the whole registration), with no read of the
// service; a service it does not route yet is read, since its other
// registrations decide whether it is enabled; a tag change that disables
// the service takes it out.
func TestSourceAppliesServiceEvents(t *testing.T) {
	t.Parallel()
	fake := nomadfake.New()
	t.Cleanup(fake.Close)
	fake.Register(reg("a1", "app", "10.0.0.1", 8080, "traefik.enable=true"))
	h := start(t, fake, "", func(o *nomad.Options) { o.StreamRetry = time.Hour })
	testkit.WaitFor(t, "ready", h.ready)
	reads := func(name string) int { return fake.Requests(nomadfake.EndpointService + "/" + name) }
	appReads := reads("app")

	fake.Register(reg("a2", "app", "10.0.0.2", 8080, "traefik.enable=true"))
	testkit.WaitFor(t, "a2 appears", func() bool { _, ok := h.byID()["a2"]; return ok })
	fake.Deregister("a1")
	testkit.WaitFor(t, "a1 goes", func() bool { _, ok := h.byID()["a1"]; return !ok })
	fake.Register(reg("a2", "app", "10.0.0.2", 9090, "traefik.enable=true"))
	testkit.WaitFor(t, "a2 moves", func() bool { return h.byID()["a2"].Port == 9090 })
	assert.Equal(t, appReads, reads("app"), "events of a routed service are applied without reading it")

	fake.Register(reg("n1", "new", "10.0.0.3", 8080, "traefik.enable=true"))
	testkit.WaitFor(t, "new appears", func() bool { _, ok := h.byID()["n1"]; return ok })
	assert.Equal(t, 1, reads("new"), "a service not routed yet is read")

	fake.Register(reg("a2", "app", "10.0.0.2", 9090, "traefik.enable=false"))
	testkit.WaitFor(t, "app disabled", func() bool { return len(h.byService("app")) == 0 })
	assert.Equal(t, appReads, reads("app"))
	assert.Equal(t, 1, fake.Requests(nomadfake.EndpointEventStream))
}
