package consul_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/catalog/catalogtest"
	"github.com/whiskers-dev/whiskers/syncer/consul"
	"github.com/whiskers-dev/whiskers/syncer/fakes/consulfake"

	"github.com/whiskers-dev/whiskers/internal/testkit"
)

func TestAggregate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status []string
		want   catalog.Health
	}{
		{"no checks", nil, catalog.HealthPassing},
		{"passing", []string{"passing", "passing"}, catalog.HealthPassing},
		{"warning beats passing", []string{"passing", "warning"}, catalog.HealthWarning},
		{"critical beats warning", []string{"warning", "critical", "passing"}, catalog.HealthCritical},
		{"maintenance is critical", []string{"passing", "maintenance"}, catalog.HealthCritical},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var checks api.HealthChecks
			for _, s := range tc.status {
				checks = append(checks, &api.HealthCheck{Status: s})
			}
			assert.Equal(t, tc.want, consul.Aggregate(checks))
		})
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	_, err := consul.New(consul.Options{MinBackoff: time.Second, MaxBackoff: time.Millisecond})
	assert.Error(t, err)
	_, err = consul.New(consul.Options{MinInterval: -1})
	assert.Error(t, err)
}

type harness struct {
	fake   *consulfake.Server
	src    catalog.Source
	errors atomic.Int64
	notes  atomic.Int64
}

func start(t *testing.T, fake *consulfake.Server, token string, exposed bool) *harness {
	t.Helper()
	return startWait(t, fake, token, exposed, time.Second)
}

func startWait(t *testing.T, fake *consulfake.Server, token string, exposed bool, wait time.Duration) *harness {
	t.Helper()
	h := startAddr(t, fake.URL(), token, exposed, wait)
	h.fake = fake
	return h
}

// startAt runs a source (not exposed by default) against the agent at addr.
func startAt(t testing.TB, addr, token string, wait time.Duration) *harness {
	t.Helper()
	return startAddr(t, addr, token, false, wait)
}

func startAddr(t testing.TB, addr, token string, exposed bool, wait time.Duration) *harness {
	t.Helper()
	return run(t, addr, token, func(o consul.Options) (catalog.Source, error) {
		o.ExposedByDefault, o.WaitTime = exposed, wait
		return consul.New(o)
	})
}

// run runs the source that newSource makes from the test options (fast
// retries, errors counted) against the agent at addr.
func run(t testing.TB, addr, token string, newSource func(consul.Options) (catalog.Source, error)) *harness {
	t.Helper()
	h := &harness{}
	src, err := newSource(testOptions(addr, token, func(error) { h.errors.Add(1) }))
	require.NoError(t, err)
	h.src = src
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, func() { h.notes.Add(1) }) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return h
}

// testOptions are the options of a source under test: the agent at addr,
// fast retries, errors to onError.
func testOptions(addr, token string, onError func(error)) consul.Options {
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.Token = token
	return consul.Options{
		Config: cfg, WaitTime: time.Second,
		MinInterval: time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), OnError: onError,
	}
}

// TestSourceConformance: the source keeps the contract of catalog.Source
// over the fake agent.
func TestSourceConformance(t *testing.T) {
	t.Parallel()
	catalogtest.TestSource(t, func(t *testing.T) *catalogtest.Harness {
		fake := consulfake.New()
		t.Cleanup(fake.Close)
		var faults atomic.Int64
		src, err := consul.New(testOptions(fake.URL(), "", func(error) { faults.Add(1) }))
		require.NoError(t, err)
		return &catalogtest.Harness{
			Source: src,
			Register: func(in catalog.Instance) {
				fake.Register(consulfake.Instance{ID: in.ID, Service: in.Service, Address: in.Address, Port: in.Port,
					Tags: []string{"traefik.enable=true"}})
			},
			Deregister:  func(id string) { fake.Deregister(id) },
			SetCritical: func(id string) { fake.SetCheck(id, "critical") },
			SetDown:     fake.SetDown,
			Faults:      func() int { return int(faults.Load()) },
		}
	})
}

func (h *harness) byID() map[string]catalog.Instance {
	insts, _ := h.src.Snapshot()
	out := map[string]catalog.Instance{}
	for _, in := range insts {
		out[in.ID] = in
	}
	return out
}

func (h *harness) ready() bool { _, ok := h.src.Snapshot(); return ok }

func seed(f *consulfake.Server) {
	f.Register(consulfake.Instance{ID: "web-1", Service: "web", Address: "10.0.0.1", Port: 8080, Tags: []string{"traefik.enable=true"}})
	f.Register(consulfake.Instance{ID: "web-2", Service: "web", Address: "10.0.0.2", Port: 8080, Tags: []string{"traefik.enable=true"}, Node: "node2"})
	f.Register(consulfake.Instance{ID: "api-1", Service: "api", Address: "10.0.0.3", Port: 9090, Tags: []string{"traefik.enable=true"}})
	f.Register(consulfake.Instance{ID: "db-1", Service: "db", Address: "10.0.0.4", Port: 5432})
}

func TestSourceFollowsCatalog(t *testing.T) {
	t.Parallel()
	fake := consulfake.New()
	t.Cleanup(fake.Close)
	seed(fake)
	h := start(t, fake, "", false)

	testkit.WaitFor(t, "ready", h.ready)
	got := h.byID()
	require.Len(t, got, 3, "db is not enabled")
	web1 := got["web-1"]
	assert.Equal(t, catalog.Instance{
		Origin: catalog.OriginConsul, Service: "web", ID: "web-1", Node: "node1", Datacenter: "dc1",
		Address: "10.0.0.1", Port: 8080, Tags: []string{"traefik.enable=true"}, Health: catalog.HealthPassing,
	}, web1)

	fake.SetCheck("web-2", "critical")
	testkit.WaitFor(t, "web-2 critical", func() bool { return h.byID()["web-2"].Health == catalog.HealthCritical })
	fake.SetCheck("web-2", "warning")
	testkit.WaitFor(t, "web-2 warning", func() bool { return h.byID()["web-2"].Health == catalog.HealthWarning })

	fake.Deregister("web-1")
	testkit.WaitFor(t, "web-1 gone", func() bool { _, ok := h.byID()["web-1"]; return !ok })

	// A service that becomes enabled gets a watch; one that goes away loses it.
	fake.Register(consulfake.Instance{ID: "db-1", Service: "db", Address: "10.0.0.4", Port: 5432, Tags: []string{"traefik.enable=true"}})
	testkit.WaitFor(t, "db enabled", func() bool { _, ok := h.byID()["db-1"]; return ok })
	fake.Deregister("api-1")
	testkit.WaitFor(t, "api gone", func() bool { _, ok := h.byID()["api-1"]; return !ok })
	assert.Positive(t, h.notes.Load())
}

func TestSourceExposedByDefault(t *testing.T) {
	t.Parallel()
	fake := consulfake.New()
	t.Cleanup(fake.Close)
	seed(fake)
	fake.Register(consulfake.Instance{ID: "off-1", Service: "off", Address: "10.0.0.9", Port: 1, Tags: []string{"traefik.enable=false"}})
	h := start(t, fake, "", true)
	testkit.WaitFor(t, "ready", h.ready)
	got := h.byID()
	assert.Len(t, got, 4)
	assert.Contains(t, got, "db-1")
	assert.NotContains(t, got, "off-1")
}

func TestSourceOnlyRereadsChangedService(t *testing.T) {
	t.Parallel()
	fake := consulfake.New()
	t.Cleanup(fake.Close)
	seed(fake)
	h := startWait(t, fake, "", false, time.Hour)
	testkit.WaitFor(t, "ready", h.ready)
	// Let both watches settle into their blocking query.
	testkit.WaitFor(t, "watches blocked", func() bool {
		return fake.Requests(consulfake.EndpointCatalogServices) >= 2 && fake.Requests(consulfake.EndpointHealthState) >= 2
	})
	apiBefore := fake.Requests(consulfake.EndpointHealthService + "/api")
	webBefore := fake.Requests(consulfake.EndpointHealthService + "/web")
	listBefore := fake.Requests(consulfake.EndpointCatalogServices)
	for i := range 5 {
		status := []string{"critical", "passing"}[i%2]
		fake.SetCheck("web-1", status)
		testkit.WaitFor(t, "web-1 "+status, func() bool { return string(h.byID()["web-1"].Health) == status })
	}
	assert.GreaterOrEqual(t, fake.Requests(consulfake.EndpointHealthService+"/web")-webBefore, 5)
	// A check change names its service: api was not read, the list not
	// asked again.
	assert.Equal(t, apiBefore, fake.Requests(consulfake.EndpointHealthService+"/api"))
	assert.Equal(t, listBefore, fake.Requests(consulfake.EndpointCatalogServices))
}

// TestSourceConstantConnections: 300 enabled services, more than Consul lets
// one client hold connections (200): all are read, with at most four
// connections to the agent, and a check change among them is followed.
func TestSourceConstantConnections(t *testing.T) {
	t.Parallel()
	fake := consulfake.New()
	t.Cleanup(fake.Close)
	for i := range 300 {
		fake.Register(consulfake.Instance{ID: fmt.Sprintf("s%d-1", i), Service: fmt.Sprintf("s%d", i),
			Address: "10.1.0.1", Port: 8000 + i, Tags: []string{"traefik.enable=true"}})
	}
	h := startWait(t, fake, "", false, time.Hour)
	testkit.WaitFor(t, "ready", h.ready)
	assert.Len(t, h.byID(), 300)
	fake.SetCheck("s150-1", "critical")
	testkit.WaitFor(t, "s150 critical", func() bool { return h.byID()["s150-1"].Health == catalog.HealthCritical })
	fake.Register(consulfake.Instance{ID: "s7-2", Service: "s7", Address: "10.1.0.2", Port: 9000, Tags: []string{"traefik.enable=true"}})
	testkit.WaitFor(t, "s7-2 registered", func() bool { _, ok := h.byID()["s7-2"]; return ok })
	assert.LessOrEqual(t, fake.MaxConns(), 4, "connections to the agent")
	assert.Zero(t, fake.Requests("429"))
}

func TestSourceFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fault   func(f *consulfake.Server)
		recover func(f *consulfake.Server)
	}{
		{"down, back with a lower index",
			func(f *consulfake.Server) { f.SetDown(true) },
			func(f *consulfake.Server) { f.ResetIndex(2); f.SetDown(false) }},
		{"500",
			func(f *consulfake.Server) { f.SetFailCode(500) },
			func(f *consulfake.Server) { f.SetFailCode(0) }},
		{"403 after token change",
			func(f *consulfake.Server) { f.SetToken("other") },
			func(f *consulfake.Server) { f.SetToken("") }},
		{"slow",
			func(f *consulfake.Server) { f.SetDelay(100 * time.Millisecond) },
			func(f *consulfake.Server) { f.SetDelay(0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := consulfake.New()
			t.Cleanup(fake.Close)
			seed(fake)
			h := start(t, fake, "", false)
			testkit.WaitFor(t, "ready", h.ready)
			before, _ := h.src.Snapshot()

			tc.fault(fake)
			fake.Deregister("api-1") // a change the source cannot see while faulted… or sees late (slow)
			if tc.name != "slow" {
				testkit.WaitFor(t, "an error", func() bool { return h.errors.Load() > 0 })
				after, ready := h.src.Snapshot()
				assert.True(t, ready)
				assert.Equal(t, before, after, "last good instances kept")
			}
			tc.recover(fake)
			fake.Register(consulfake.Instance{ID: "web-3", Service: "web", Address: "10.0.0.5", Port: 8080, Tags: []string{"traefik.enable=true"}})
			testkit.WaitFor(t, "recovered", func() bool {
				got := h.byID()
				_, api := got["api-1"]
				_, web3 := got["web-3"]
				return !api && web3
			})
		})
	}
}

func TestSourceToken(t *testing.T) {
	t.Parallel()
	fake := consulfake.New()
	t.Cleanup(fake.Close)
	fake.SetToken("s3cret")
	seed(fake)
	good := start(t, fake, "s3cret", false)
	bad := start(t, fake, "wrong", false)
	testkit.WaitFor(t, "good ready", good.ready)
	testkit.WaitFor(t, "bad errors", func() bool { return bad.errors.Load() > 0 })
	assert.False(t, bad.ready())
	assert.Len(t, good.byID(), 3)
}

func TestSourceHangIsCancelled(t *testing.T) {
	t.Parallel()
	fake := consulfake.New()
	t.Cleanup(fake.Close)
	seed(fake)
	fake.SetHang(true)
	h := start(t, fake, "", false)
	testkit.WaitFor(t, "a hanging request", func() bool { return fake.Requests(consulfake.EndpointCatalogServices) > 0 })
	// Cleanup cancels Run; it must return although the call never answers.
	assert.False(t, h.ready())
}

func TestSourceResync(t *testing.T) {
	t.Parallel()
	fake := consulfake.New()
	t.Cleanup(fake.Close)
	seed(fake)
	h := start(t, fake, "", false)
	testkit.WaitFor(t, "ready", h.ready)
	before := fake.Requests(consulfake.EndpointCatalogServices)
	h.src.(*consul.Source).Resync()
	testkit.WaitFor(t, "re-list", func() bool { return fake.Requests(consulfake.EndpointCatalogServices) > before })
	testkit.WaitFor(t, "still complete", func() bool { return len(h.byID()) == 3 })
}

func TestSourceWatchdog(t *testing.T) {
	t.Parallel()
	fake := consulfake.New()
	t.Cleanup(fake.Close)
	seed(fake)
	var stuck atomic.Int64
	cfg := api.DefaultConfig()
	cfg.Address = fake.URL()
	src, err := consul.New(consul.Options{
		Config: cfg, WaitTime: 300 * time.Millisecond, WatchdogGrace: 200 * time.Millisecond,
		MinInterval: time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
		OnError: func(err error) {
			if errors.Is(err, context.DeadlineExceeded) {
				stuck.Add(1)
			}
		},
	})
	require.NoError(t, err)
	h := &harness{fake: fake, src: src}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, func() {}) }()
	t.Cleanup(func() { cancel(); assert.NoError(t, <-done) })
	testkit.WaitFor(t, "ready", h.ready)

	fake.SetHang(true) // partition: blocked queries in flight are never answered
	testkit.WaitFor(t, "the watchdog to fire", func() bool { return stuck.Load() > 0 })
	assert.Len(t, h.byID(), 3, "last good instances kept")
	fake.SetHang(false)
	fake.SetCheck("web-1", "critical")
	testkit.WaitFor(t, "re-established", func() bool { return h.byID()["web-1"].Health == catalog.HealthCritical })
}

// TestSourceACLFiltered: Consul answers a token that may not read a service
// with 200, the service left out and X-Consul-Results-Filtered-By-ACLs
// (developer.hashicorp.com/consul/api-docs/api-structure#results-filtered-by-acls).
// That is a fault, not "the service left": its last instances stay, the
// error says what the token lacks; a token scoped from the start is fine.
func TestSourceACLFiltered(t *testing.T) {
	t.Parallel()
	fake := consulfake.New()
	t.Cleanup(fake.Close)
	seed(fake)
	h := start(t, fake, "", false)
	testkit.WaitFor(t, "ready", h.ready)
	errsBefore := h.errors.Load()
	fake.SetFiltered("api")
	// A registration moves every index: the checks watch answers too (api's
	// checks filtered out) and the service is read again, filtered (as
	// the real agent does; TestSourceACLFilteredOnRealConsul).
	fake.Register(consulfake.Instance{ID: "web-9", Service: "web", Address: "10.0.0.9", Port: 8080, Tags: []string{"traefik.enable=true"}})
	testkit.WaitFor(t, "the fault counted", func() bool { return h.errors.Load() > errsBefore })
	testkit.WaitFor(t, "web-9 read", func() bool { _, ok := h.byID()["web-9"]; return ok })
	assert.Contains(t, h.byID(), "api-1", "last good instances kept")
	fake.SetFiltered()
	fake.Register(consulfake.Instance{ID: "api-2", Service: "api", Address: "10.0.0.5", Port: 9090, Tags: []string{"traefik.enable=true"}})
	testkit.WaitFor(t, "recovered", func() bool { _, ok := h.byID()["api-2"]; return ok })

	scoped := consulfake.New()
	t.Cleanup(scoped.Close)
	seed(scoped)
	scoped.SetFiltered("api")
	h2 := start(t, scoped, "", false)
	testkit.WaitFor(t, "ready with what the token may read", h2.ready)
	assert.Contains(t, h2.byID(), "web-1")
	assert.NotContains(t, h2.byID(), "api-1")
}

// TestSourceIndexReset: Consul back from an outage with a lower index (a
// snapshot restore, a rebuilt cluster). The watches must not block on their
// old index until their wait (an hour here) runs out: after a failed query
// the next one does not block, so a new registration is seen at once.
func TestSourceIndexReset(t *testing.T) {
	t.Parallel()
	fake := consulfake.New()
	t.Cleanup(fake.Close)
	seed(fake)
	for range 20 {
		fake.SetCheck("web-1", "warning")
		fake.SetCheck("web-1", "passing")
	}
	h := startWait(t, fake, "", false, time.Hour)
	testkit.WaitFor(t, "ready", h.ready)
	fake.SetDown(true)
	testkit.WaitFor(t, "an error", func() bool { return h.errors.Load() > 0 })
	fake.ResetIndex(2)
	fake.SetDown(false)
	fake.Register(consulfake.Instance{ID: "web-3", Service: "web", Address: "10.0.0.5", Port: 8080, Tags: []string{"traefik.enable=true"}})
	testkit.WaitFor(t, "the new registration", func() bool { _, ok := h.byID()["web-3"]; return ok })
}

// holdingProxy is a proxy to the fake that holds the health watch's
// requests while hold is set: each waits, before it reaches the fake,
// until release is closed.
type holdingProxy struct {
	url     string
	hold    atomic.Bool
	held    chan struct{} // a request is being held
	release chan struct{}
}

func newHoldingProxy(t *testing.T, fake *consulfake.Server) *holdingProxy {
	t.Helper()
	target, err := url.Parse(fake.URL())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	p := &holdingProxy{held: make(chan struct{}, 1), release: make(chan struct{})}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/health/state/") && p.hold.CompareAndSwap(true, false) {
			p.held <- struct{}{}
			<-p.release
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	p.url = front.URL
	return p
}

// TestSourceRereadsWhatTheHealthWatchContradicts: a service is read again
// when its last read says other of its checks than the health watch's
// answer, however the read and the answers interleave. Here the answer is
// held back while a check changes, so that the read sees what the answer
// does not:
//   - a read before the watch's first answer, which holds a change made
//     after the read (seen as a flake of TestSourceOnAgents);
//   - a read between two answers that saw a check critical, which had
//     flapped back to passing before the next answer: compared with the
//     answer before, nothing changed.
func TestSourceRereadsWhatTheHealthWatchContradicts(t *testing.T) {
	t.Parallel()
	web1 := consulfake.Instance{ID: "web-1", Service: "web", Address: "10.0.0.1", Port: 8080, Tags: []string{"traefik.enable=true"}}
	health := func(h *harness) catalog.Health { return h.byID()["web-1"].Health }
	// web-1 in the fake, behind a proxy that can hold the health watch.
	setup := func(t *testing.T) (*consulfake.Server, *holdingProxy) {
		fake := consulfake.New()
		t.Cleanup(fake.Close)
		fake.Register(web1)
		return fake, newHoldingProxy(t, fake)
	}
	t.Run("a read before the first answer", func(t *testing.T) {
		t.Parallel()
		fake, p := setup(t)
		p.hold.Store(true)
		h := startAt(t, p.url, "", time.Second)
		<-p.held
		testkit.WaitFor(t, "web-1 read", func() bool { return health(h) == catalog.HealthPassing })
		fake.SetCheck("web-1", api.HealthCritical)
		close(p.release)
		testkit.WaitFor(t, "web-1 critical", func() bool { return health(h) == catalog.HealthCritical })
	})
	t.Run("a read of a state that flapped back", func(t *testing.T) {
		t.Parallel()
		fake, p := setup(t)
		h := startAt(t, p.url, "", time.Second)
		testkit.WaitFor(t, "ready", h.ready)
		p.hold.Store(true) // the watch's next request, once its current one times out
		<-p.held
		fake.SetCheck("web-1", api.HealthCritical)
		// Another service registered: the list changes, and every service
		// is read again, web with its check critical.
		fake.Register(consulfake.Instance{ID: "api-1", Service: "api", Address: "10.0.0.2", Port: 9090, Tags: []string{"traefik.enable=true"}})
		testkit.WaitFor(t, "web-1 read critical", func() bool { return health(h) == catalog.HealthCritical })
		fake.SetCheck("web-1", api.HealthPassing)
		close(p.release)
		testkit.WaitFor(t, "web-1 passing again", func() bool { return health(h) == catalog.HealthPassing })
	})
}
