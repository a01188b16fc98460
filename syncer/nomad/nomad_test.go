package nomad_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/catalog/catalogtest"
	"github.com/whiskers-dev/whiskers/syncer/fakes/nomadfake"
	"github.com/whiskers-dev/whiskers/syncer/nomad"

	"github.com/whiskers-dev/whiskers/internal/testkit"
)

type harness struct {
	fake   *nomadfake.Server
	src    *nomad.Source
	errors atomic.Int64
}

type opt func(*nomad.Options)

func start(t *testing.T, fake *nomadfake.Server, token string, opts ...opt) *harness {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = fake.URL()
	cfg.SecretID = token
	h := startWith(t, cfg, opts...)
	h.fake = fake
	return h
}

// startWith runs a source with the client configuration cfg.
func startWith(t *testing.T, cfg *api.Config, opts ...opt) *harness {
	t.Helper()
	h := &harness{}
	o := testOptions(cfg, func(error) { h.errors.Add(1) })
	for _, f := range opts {
		f(&o)
	}
	src, err := nomad.New(o)
	require.NoError(t, err)
	h.src = src
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, func() {}) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return h
}

// testOptions are the options of a source under test: the client
// configuration cfg, fast retries, errors to onError.
func testOptions(cfg *api.Config, onError func(error)) nomad.Options {
	return nomad.Options{
		Config: cfg, WaitTime: time.Second, StreamRetry: 200 * time.Millisecond,
		MinInterval: time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), OnError: onError,
	}
}

// followModes are the source's two ways of following the catalog: Nomad's
// event stream, or blocking queries where the agent has none.
var followModes = []struct {
	name   string
	stream bool
}{{"event stream", true}, {"blocking-query fallback", false}}

// TestSourceConformance: the source keeps the contract of catalog.Source
// over the fake agent, following its event stream or, without one, its
// blocking queries.
func TestSourceConformance(t *testing.T) {
	t.Parallel()
	for _, tc := range followModes {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			catalogtest.TestSource(t, func(t *testing.T) *catalogtest.Harness {
				fake := nomadfake.New()
				t.Cleanup(fake.Close)
				fake.SetStreamDisabled(!tc.stream)
				cfg := api.DefaultConfig()
				cfg.Address = fake.URL()
				var faults atomic.Int64
				o := testOptions(cfg, func(error) { faults.Add(1) })
				if !tc.stream {
					o.StreamRetry = time.Hour
				}
				src, err := nomad.New(o)
				require.NoError(t, err)
				regs := map[string]api.ServiceRegistration{} // the test's goroutine only
				return &catalogtest.Harness{
					Source: src,
					Register: func(in catalog.Instance) {
						r := reg(in.ID, in.Service, in.Address, in.Port, "traefik.enable=true")
						regs[in.ID] = r
						fake.Register(r)
					},
					Deregister: func(id string) { fake.Deregister(id) },
					// A failed allocation is critical.
					SetCritical: func(id string) {
						r := regs[id]
						fake.SetAllocation(alloc(r.AllocID, r.NodeID, 1, func(a *api.Allocation) {
							a.JobID, a.Job.ID, a.ClientStatus = r.JobID, ptr(r.JobID), "failed"
						}))
					},
					SetDown: fake.SetDown,
					Faults:  func() int { return int(faults.Load()) },
				}
			})
		})
	}
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

// byService returns the instances of one service.
func (h *harness) byService(name string) []catalog.Instance {
	insts, _ := h.src.Snapshot()
	var out []catalog.Instance
	for _, in := range insts {
		if in.Service == name {
			out = append(out, in)
		}
	}
	return out
}

// registerOnNode registers instance s1 of service app (enabled), from
// allocation a1 on node n1, and the node.
func registerOnNode(fake *nomadfake.Server) {
	fake.SetNode(api.Node{ID: "n1"})
	r := reg("s1", "app", "10.0.0.1", 8080, "traefik.enable=true")
	r.AllocID, r.NodeID = "a1", "n1"
	fake.Register(r)
}

func reg(id, service, addr string, port int, tags ...string) api.ServiceRegistration {
	return api.ServiceRegistration{
		ID: id, ServiceName: service, Address: addr, Port: port, Tags: tags,
		JobID: service, AllocID: "alloc-" + id, NodeID: "node-" + id,
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts nomad.Options
	}{
		{"backoff bounds", nomad.Options{MinBackoff: time.Second, MaxBackoff: time.Millisecond}},
		{"negative interval", nomad.Options{MinInterval: -1}},
		{"empty namespace", nomad.Options{Namespaces: []string{""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := nomad.New(tc.opts)
			assert.Error(t, err)
		})
	}
}

func TestSourceReadsRecordedRegistrations(t *testing.T) {
	t.Parallel()
	fake := nomadfake.New()
	t.Cleanup(fake.Close)
	require.NoError(t, fake.SeedRecorded())
	h := start(t, fake, "")
	testkit.WaitFor(t, "ready", h.ready)
	insts, _ := h.src.Snapshot()
	require.Len(t, insts, 2)
	assert.Equal(t, catalog.Instance{
		Origin: catalog.OriginNomad, Service: "hello-nomad", Namespace: "default",
		ID:   "_nomad-task-71a63a80-a98a-93ee-4fd7-73b808577c20-group-hello-nomad-hello-nomad-http",
		Node: "6d7f412e-e7ff-2e66-d47b-867b0e9d8726", Datacenter: "dc1", Address: "127.0.0.1", Port: 20627,
		Tags:   []string{"traefik.enable=true", "traefik.http.routers.hellon.entrypoints=web", "traefik.http.routers.hellon.service=hello-nomad"},
		Health: catalog.HealthPassing, AllocID: "71a63a80-a98a-93ee-4fd7-73b808577c20", JobID: "echo",
	}, insts[0])
	assert.Equal(t, "redis", insts[1].Service)
}

func TestSourceFollowsEvents(t *testing.T) {
	t.Parallel()
	for _, tc := range followModes {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := nomadfake.New()
			t.Cleanup(fake.Close)
			fake.SetStreamDisabled(!tc.stream)
			fake.Register(reg("a1", "app", "10.0.0.1", 8080, "traefik.enable=true"))
			fake.Register(reg("b1", "other", "10.0.0.2", 8080, "traefik.enable=true"))
			fake.Register(reg("c1", "hidden", "10.0.0.3", 8080))
			h := start(t, fake, "", func(o *nomad.Options) { o.StreamRetry = time.Hour })
			testkit.WaitFor(t, "ready", h.ready)
			assert.Len(t, h.byID(), 2)

			fake.Register(reg("a2", "app", "10.0.0.4", 8080, "traefik.enable=true"))
			testkit.WaitFor(t, "a2 appears", func() bool { _, ok := h.byID()["a2"]; return ok })
			fake.Deregister("a1")
			testkit.WaitFor(t, "a1 goes", func() bool { _, ok := h.byID()["a1"]; return !ok })
			fake.Deregister("b1")
			testkit.WaitFor(t, "other goes", func() bool { _, ok := h.byID()["b1"]; return !ok })
			// Enabled as Traefik reads the tag: True counts.
			fake.Register(reg("c1", "hidden", "10.0.0.3", 8080, "traefik.enable=True"))
			testkit.WaitFor(t, "hidden enabled", func() bool { _, ok := h.byID()["c1"]; return ok })

			if tc.stream {
				// O(1) watches: one stream, no blocking list queries, and a
				// change re-reads only its own service.
				before := fake.Requests(nomadfake.EndpointService + "/other")
				fake.Register(reg("a3", "app", "10.0.0.5", 8080, "traefik.enable=true"))
				testkit.WaitFor(t, "a3 appears", func() bool { _, ok := h.byID()["a3"]; return ok })
				assert.Equal(t, before, fake.Requests(nomadfake.EndpointService+"/other"))
				assert.Equal(t, 1, fake.Requests(nomadfake.EndpointEventStream))
				assert.Equal(t, 1, fake.Requests(nomadfake.EndpointServices))
			}
		})
	}
}

// TestSourceBackToTheStream: after the stream failed, the source does not
// sit in a blocking query for its whole wait: it tries the stream again
// within seconds, and from then on sees what only the stream carries
// (allocation facts).
func TestSourceBackToTheStream(t *testing.T) {
	t.Parallel()
	fake := nomadfake.New()
	t.Cleanup(fake.Close)
	registerOnNode(fake)
	fake.SetAllocation(alloc("a1", "n1", 1, nil))
	fake.SetStreamDisabled(true) // as while the agent restarts
	h := start(t, fake, "", func(o *nomad.Options) { o.WaitTime, o.StreamRetry = time.Hour, 2*time.Second })
	testkit.WaitFor(t, "ready", h.ready)
	testkit.WaitFor(t, "a failed stream", func() bool { return fake.Requests(nomadfake.EndpointEventStream) > 0 })
	fake.SetStreamDisabled(false)
	fake.SetAllocation(alloc("a1", "n1", 1, func(a *api.Allocation) { a.DesiredStatus = "stop" }))
	testkit.WaitFor(t, "the stop, through the stream", func() bool { return h.byID()["s1"].Draining })
}

func TestSourceFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fault   func(f *nomadfake.Server)
		recover func(f *nomadfake.Server)
	}{
		{"down, back with a lower index",
			func(f *nomadfake.Server) { f.SetDown(true) },
			func(f *nomadfake.Server) { f.ResetIndex(5); f.SetDown(false) }},
		{"500",
			func(f *nomadfake.Server) { f.SetFailCode(500) },
			func(f *nomadfake.Server) { f.SetFailCode(0) }},
		{"403",
			func(f *nomadfake.Server) { f.SetToken("other") },
			func(f *nomadfake.Server) { f.SetToken("") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := nomadfake.New()
			t.Cleanup(fake.Close)
			fake.Register(reg("a1", "app", "10.0.0.1", 8080, "traefik.enable=true"))
			fake.Register(reg("b1", "other", "10.0.0.2", 8080, "traefik.enable=true"))
			h := start(t, fake, "")
			testkit.WaitFor(t, "ready", h.ready)
			before, _ := h.src.Snapshot()

			tc.fault(fake) // the open stream is cut; reconnecting fails
			testkit.WaitFor(t, "an error", func() bool { return h.errors.Load() > 0 })
			fake.Deregister("b1")
			after, ready := h.src.Snapshot()
			assert.True(t, ready)
			assert.Equal(t, before, after, "last good instances kept")

			tc.recover(fake)
			fake.Register(reg("a2", "app", "10.0.0.4", 8080, "traefik.enable=true"))
			testkit.WaitFor(t, "recovered", func() bool {
				got := h.byID()
				_, b1 := got["b1"]
				_, a2 := got["a2"]
				return !b1 && a2
			})
			// And it follows changes again afterwards.
			fake.Deregister("a1")
			testkit.WaitFor(t, "a1 gone", func() bool { _, ok := h.byID()["a1"]; return !ok })
		})
	}
}

func TestSourceNamespaces(t *testing.T) {
	t.Parallel()
	fake := nomadfake.New()
	t.Cleanup(fake.Close)
	in := func(ns string, r api.ServiceRegistration) api.ServiceRegistration { r.Namespace = ns; return r }
	fake.Register(in("default", reg("d1", "app", "10.0.0.1", 80, "traefik.enable=true")))
	fake.Register(in("prod", reg("p1", "app", "10.0.0.2", 80, "traefik.enable=true")))
	fake.Register(in("dev", reg("x1", "app", "10.0.0.3", 80, "traefik.enable=true")))
	tests := []struct {
		name string
		ns   []string
		want []string
	}{
		{"all", []string{"*"}, []string{"d1", "p1", "x1"}},
		{"one", []string{"prod"}, []string{"p1"}},
		{"two", []string{"prod", "default"}, []string{"d1", "p1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, fake, "", func(o *nomad.Options) { o.Namespaces = tc.ns })
			testkit.WaitFor(t, "ready", h.ready)
			var ids []string
			insts, _ := h.src.Snapshot()
			for _, i := range insts {
				ids = append(ids, i.ID)
			}
			assert.ElementsMatch(t, tc.want, ids)
		})
	}
}

func TestSourceTokenAndResync(t *testing.T) {
	t.Parallel()
	fake := nomadfake.New()
	t.Cleanup(fake.Close)
	fake.SetToken("s3cret")
	fake.Register(reg("a1", "app", "10.0.0.1", 8080, "traefik.enable=true"))
	good := start(t, fake, "s3cret")
	bad := start(t, fake, "nope")
	testkit.WaitFor(t, "good ready", good.ready)
	testkit.WaitFor(t, "bad errors", func() bool { return bad.errors.Load() > 0 })
	assert.False(t, bad.ready())

	before := fake.Requests(nomadfake.EndpointServices)
	good.src.Resync()
	testkit.WaitFor(t, "full re-read", func() bool { return fake.Requests(nomadfake.EndpointServices) > before })
	assert.Len(t, good.byID(), 1)
}

func TestSourceWatchdog(t *testing.T) {
	t.Parallel()
	fake := nomadfake.New()
	t.Cleanup(fake.Close)
	fake.SetHeartbeat(20 * time.Millisecond)
	fake.Register(reg("a1", "app", "10.0.0.1", 8080, "traefik.enable=true"))
	var stuck atomic.Int64
	h := start(t, fake, "", func(o *nomad.Options) {
		o.StreamWatchdog = 300 * time.Millisecond
		o.WaitTime = 300 * time.Millisecond
		o.WatchdogGrace = 200 * time.Millisecond
		o.StreamRetry = 100 * time.Millisecond
		o.OnError = func(err error) {
			if errors.Is(err, context.DeadlineExceeded) {
				stuck.Add(1)
			}
		}
	})
	testkit.WaitFor(t, "ready", h.ready)
	testkit.WaitFor(t, "stream open", func() bool { return fake.Requests(nomadfake.EndpointEventStream) == 1 })

	fake.SetHang(true) // partition: the open stream goes silent, new calls hang
	testkit.WaitFor(t, "the watchdog to fire", func() bool { return stuck.Load() > 0 })
	before, _ := h.src.Snapshot()
	assert.Len(t, before, 1, "last good instances kept")

	fake.SetHang(false)
	fake.Register(reg("a2", "app", "10.0.0.2", 8080, "traefik.enable=true"))
	testkit.WaitFor(t, "re-established", func() bool { _, ok := h.byID()["a2"]; return ok })
	fake.Deregister("a1")
	testkit.WaitFor(t, "following again", func() bool { _, ok := h.byID()["a1"]; return !ok })
}

func ptr[T any](v T) *T { return &v }

func alloc(id, node string, version uint64, mod func(*api.Allocation)) api.Allocation {
	a := api.Allocation{
		ID: id, NodeID: node, JobID: "app", TaskGroup: "web", DesiredStatus: "run", ClientStatus: "running",
		Job: &api.Job{ID: ptr("app"), Version: ptr(version)},
	}
	if mod != nil {
		mod(&a)
	}
	return a
}

// checkJob is job "app" whose group service "app" has an http check on path
// (and a script check, which Traefik cannot run, before it).
func checkJob(path string) api.Job {
	return api.Job{ID: ptr("app"), Name: ptr("app"), TaskGroups: []*api.TaskGroup{{
		Name: ptr("web"),
		Services: []*api.Service{{Name: "app", Provider: "nomad", PortLabel: "http", Checks: []api.ServiceCheck{
			{Type: "script", Command: "true"},
			{Name: "up", Type: "http", Path: path, Interval: time.Second, Timeout: time.Second, Method: "HEAD"},
		}}},
	}}}
}

func TestSourceAllocationFacts(t *testing.T) {
	t.Parallel()
	type want struct {
		health   catalog.Health
		draining bool
		canary   bool
		version  uint64
		check    string // the path of the instance's check
	}
	tests := []struct {
		name   string
		setup  func(f *nomadfake.Server) // state before the source starts, read by lists
		change func(f *nomadfake.Server) // a later change, seen through events
		before want
		after  want
	}{
		{
			name:  "desired stop drains before the allocation stops",
			setup: func(f *nomadfake.Server) { f.SetAllocation(alloc("a1", "n1", 1, nil)) },
			change: func(f *nomadfake.Server) {
				f.SetAllocation(alloc("a1", "n1", 1, func(a *api.Allocation) { a.DesiredStatus = "stop" }))
			},
			before: want{catalog.HealthPassing, false, false, 1, ""},
			after:  want{catalog.HealthPassing, true, false, 1, ""},
		},
		{
			name:   "draining node",
			setup:  func(f *nomadfake.Server) { f.SetAllocation(alloc("a1", "n1", 1, nil)) },
			change: func(f *nomadfake.Server) { f.SetNode(api.Node{ID: "n1", DrainStrategy: &api.DrainStrategy{}}) },
			before: want{catalog.HealthPassing, false, false, 1, ""},
			after:  want{catalog.HealthPassing, true, false, 1, ""},
		},
		{
			name: "ineligible node, then eligible again",
			setup: func(f *nomadfake.Server) {
				f.SetAllocation(alloc("a1", "n1", 1, nil))
				f.SetNode(api.Node{ID: "n1", SchedulingEligibility: "ineligible"})
			},
			change: func(f *nomadfake.Server) { f.SetNode(api.Node{ID: "n1"}) },
			before: want{catalog.HealthPassing, true, false, 1, ""},
			after:  want{catalog.HealthPassing, false, false, 1, ""},
		},
		{
			name: "deployment health pending, then healthy",
			setup: func(f *nomadfake.Server) {
				f.SetDeployment(api.Deployment{ID: "d3", JobID: "app", JobVersion: 3, Status: "running"})
				f.SetAllocation(alloc("a1", "n1", 3, func(a *api.Allocation) { a.DeploymentStatus = &api.AllocDeploymentStatus{} }))
			},
			change: func(f *nomadfake.Server) {
				f.SetAllocation(alloc("a1", "n1", 3, func(a *api.Allocation) {
					a.DeploymentStatus = &api.AllocDeploymentStatus{Healthy: ptr(true)}
				}))
			},
			before: want{catalog.HealthWarning, false, false, 3, ""},
			after:  want{catalog.HealthPassing, false, false, 3, ""},
		},
		{
			name: "unhealthy deployment, failed allocation",
			setup: func(f *nomadfake.Server) {
				f.SetAllocation(alloc("a1", "n1", 1, func(a *api.Allocation) { a.DeploymentStatus = &api.AllocDeploymentStatus{Healthy: ptr(false)} }))
			},
			change: func(f *nomadfake.Server) {
				f.SetAllocation(alloc("a1", "n1", 1, func(a *api.Allocation) { a.ClientStatus = "failed" }))
			},
			before: want{catalog.HealthCritical, false, false, 1, ""},
			after:  want{catalog.HealthCritical, false, false, 1, ""},
		},
		{
			name: "canary until promoted",
			setup: func(f *nomadfake.Server) {
				f.SetDeployment(api.Deployment{ID: "d2", JobID: "app", JobVersion: 2, Status: "running", TaskGroups: map[string]*api.DeploymentState{"web": {DesiredCanaries: 1}}})
				f.SetAllocation(alloc("a1", "n1", 2, func(a *api.Allocation) {
					a.DeploymentStatus = &api.AllocDeploymentStatus{Healthy: ptr(true), Canary: true}
				}))
			},
			change: func(f *nomadfake.Server) {
				f.SetDeployment(api.Deployment{ID: "d2", JobID: "app", JobVersion: 2, Status: "running", TaskGroups: map[string]*api.DeploymentState{"web": {DesiredCanaries: 1, Promoted: true}}})
			},
			before: want{catalog.HealthPassing, false, true, 2, ""},
			after:  want{catalog.HealthPassing, false, false, 2, ""},
		},
		{
			name: "allocation events carry no job: the version stays",
			setup: func(f *nomadfake.Server) {
				f.SetAllocation(alloc("a1", "n1", 4, nil))
			},
			change: func(f *nomadfake.Server) {
				f.SetAllocation(alloc("a1", "n1", 0, func(a *api.Allocation) { a.Job, a.DesiredStatus = nil, "stop" }))
			},
			before: want{catalog.HealthPassing, false, false, 4, ""},
			after:  want{catalog.HealthPassing, true, false, 4, ""},
		},
		{
			name: "canary of a deployment named by ID in events",
			setup: func(f *nomadfake.Server) {
				f.SetDeployment(api.Deployment{ID: "d5", JobID: "app", JobVersion: 5, Status: "running", TaskGroups: map[string]*api.DeploymentState{"web": {DesiredCanaries: 1}}})
				f.SetAllocation(alloc("a1", "n1", 4, nil))
			},
			change: func(f *nomadfake.Server) {
				f.SetAllocation(alloc("a1", "n1", 0, func(a *api.Allocation) {
					a.Job, a.DeploymentID = nil, "d5"
					a.DeploymentStatus = &api.AllocDeploymentStatus{Healthy: ptr(true), Canary: true}
				}))
			},
			before: want{catalog.HealthPassing, false, false, 4, ""},
			after:  want{catalog.HealthPassing, false, true, 5, ""},
		},
		{
			// A finished deployment leaves its canary groups unpromoted
			// (a revert to a job with canaries updates in place): the
			// canary flag an allocation kept from an earlier deployment
			// says nothing.
			name: "a canary flag from an earlier deployment",
			setup: func(f *nomadfake.Server) {
				f.SetDeployment(api.Deployment{ID: "d6", JobID: "app", JobVersion: 6, Status: "successful",
					TaskGroups: map[string]*api.DeploymentState{"web": {DesiredCanaries: 1}}})
				f.SetAllocation(alloc("a1", "n1", 6, func(a *api.Allocation) {
					a.CreateIndex = 1
					a.DeploymentStatus = &api.AllocDeploymentStatus{Healthy: ptr(true), Canary: true}
				}))
			},
			change: func(f *nomadfake.Server) {},
			before: want{catalog.HealthPassing, false, false, 6, ""},
			after:  want{catalog.HealthPassing, false, false, 6, ""},
		},
		{
			name: "updated in place by a deployment with canaries: not one of them",
			setup: func(f *nomadfake.Server) {
				f.SetAllocation(alloc("a1", "n1", 6, func(a *api.Allocation) {
					a.DeploymentStatus = &api.AllocDeploymentStatus{Healthy: ptr(true), Canary: true}
				}))
			},
			change: func(f *nomadfake.Server) {
				f.SetDeployment(api.Deployment{ID: "d7", JobID: "app", JobVersion: 7, Status: "running",
					TaskGroups: map[string]*api.DeploymentState{"web": {DesiredCanaries: 1}}})
				f.SetAllocation(alloc("a1", "n1", 7, func(a *api.Allocation) {
					a.Job, a.DeploymentID = nil, "d7"
					a.DeploymentStatus = &api.AllocDeploymentStatus{Healthy: ptr(true), Canary: true}
				}))
			},
			before: want{catalog.HealthPassing, false, false, 6, ""},
			after:  want{catalog.HealthPassing, false, false, 7, ""},
		},
		{
			name: "placed by a running deployment: not healthy until judged",
			setup: func(f *nomadfake.Server) {
				f.SetDeployment(api.Deployment{ID: "d3", JobID: "app", JobVersion: 3, Status: "running"})
				f.SetAllocation(alloc("a1", "n1", 3, nil)) // a list stub names no deployment
			},
			change: func(f *nomadfake.Server) {
				f.SetAllocation(alloc("a1", "n1", 3, func(a *api.Allocation) {
					a.Job, a.DeploymentID = nil, "d3"
					a.DeploymentStatus = &api.AllocDeploymentStatus{Healthy: ptr(true)}
				}))
			},
			before: want{catalog.HealthWarning, false, false, 3, ""},
			after:  want{catalog.HealthPassing, false, false, 3, ""},
		},
		{
			name:  "a new allocation names a deployment not seen yet: not healthy until judged",
			setup: func(f *nomadfake.Server) {},
			change: func(f *nomadfake.Server) {
				f.SetAllocation(alloc("a1", "n1", 3, func(a *api.Allocation) { a.Job, a.DeploymentID = nil, "d4" }))
			},
			before: want{catalog.HealthPassing, false, false, 0, ""}, // no allocation known: as registered
			after:  want{catalog.HealthWarning, false, false, 0, ""},
		},
		{
			name: "updated in place by a deployment: keeps serving",
			setup: func(f *nomadfake.Server) {
				f.SetAllocation(alloc("a1", "n1", 3, func(a *api.Allocation) {
					a.DeploymentStatus = &api.AllocDeploymentStatus{Healthy: ptr(true)}
				}))
			},
			change: func(f *nomadfake.Server) {
				f.SetDeployment(api.Deployment{ID: "d4", JobID: "app", JobVersion: 4, Status: "running"})
				f.SetAllocation(alloc("a1", "n1", 4, func(a *api.Allocation) { a.DeploymentID, a.DeploymentStatus = "d4", nil }))
			},
			before: want{catalog.HealthPassing, false, false, 3, ""},
			after:  want{catalog.HealthPassing, false, false, 4, ""},
		},
		{
			name: "http check of the service in its job, then changed",
			setup: func(f *nomadfake.Server) {
				f.SetAllocation(alloc("a1", "n1", 1, nil))
				f.SetJob(checkJob("/healthz"))
			},
			change: func(f *nomadfake.Server) { f.SetJob(checkJob("/ready")) },
			before: want{catalog.HealthPassing, false, false, 1, "/healthz"},
			after:  want{catalog.HealthPassing, false, false, 1, "/ready"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := nomadfake.New()
			t.Cleanup(fake.Close)
			registerOnNode(fake)
			tc.setup(fake)
			h := start(t, fake, "", func(o *nomad.Options) { o.StreamRetry = time.Hour })
			testkit.WaitFor(t, "ready", h.ready)
			got := func() want {
				in := h.byID()["s1"]
				w := want{in.Health, in.Draining, in.Canary, in.JobVersion, ""}
				if in.Check != nil {
					w.check = in.Check.Path
				}
				return w
			}
			assert.Equal(t, tc.before, got())
			tc.change(fake)
			testkit.WaitFor(t, "the change", func() bool { return got() == tc.after })
			assert.Equal(t, 1, fake.Requests(nomadfake.EndpointAllocations), "facts come from the stream, not re-reads")
		})
	}
}

func TestSourceIgnoreAllocations(t *testing.T) {
	t.Parallel()
	fake := nomadfake.New()
	t.Cleanup(fake.Close)
	r := reg("s1", "app", "10.0.0.1", 8080, "traefik.enable=true")
	r.AllocID = "a1"
	fake.Register(r)
	fake.SetAllocation(alloc("a1", "n1", 1, func(a *api.Allocation) { a.DesiredStatus = "stop" }))
	h := start(t, fake, "", func(o *nomad.Options) { o.IgnoreAllocations = true })
	testkit.WaitFor(t, "ready", h.ready)
	assert.False(t, h.byID()["s1"].Draining)
	assert.Equal(t, 0, fake.Requests(nomadfake.EndpointAllocations))
}

func TestSourceFactsForbidden(t *testing.T) {
	t.Parallel()
	// A token without node:read: the source routes without allocation facts
	// rather than not at all, and keeps its O(1) stream.
	fake := nomadfake.New()
	t.Cleanup(fake.Close)
	fake.SetDenied(nomadfake.EndpointNodes, true)
	r := reg("s1", "app", "10.0.0.1", 8080, "traefik.enable=true")
	r.AllocID = "a1"
	fake.Register(r)
	fake.SetAllocation(alloc("a1", "n1", 1, func(a *api.Allocation) { a.DesiredStatus = "stop" }))
	h := start(t, fake, "")
	testkit.WaitFor(t, "ready", h.ready)
	assert.False(t, h.byID()["s1"].Draining, "no facts")
	fake.Register(reg("s2", "app", "10.0.0.2", 8080, "traefik.enable=true"))
	testkit.WaitFor(t, "follows changes", func() bool { _, ok := h.byID()["s2"]; return ok })
	assert.Equal(t, 1, fake.Requests(nomadfake.EndpointEventStream), "one stream, opened without the denied topics")
	assert.Zero(t, h.errors.Load())
}

// startGated starts a source that asks for new allocations' checks every
// 5 ms, on a fake Nomad with node n1, and waits until it is ready.
func startGated(t *testing.T) (*nomadfake.Server, *harness) {
	t.Helper()
	fake := nomadfake.New()
	t.Cleanup(fake.Close)
	fake.SetNode(api.Node{ID: "n1"})
	h := start(t, fake, "", func(o *nomad.Options) { o.StreamRetry, o.GatePoll = time.Hour, 5*time.Millisecond })
	testkit.WaitFor(t, "ready", h.ready)
	return fake, h
}

// TestSourceGatesNewAllocations: Nomad registers a new allocation's service
// before its task listens. The copy gets traffic only once it runs and its
// Nomad checks (GET /v1/client/allocation/:id/checks) pass.
func TestSourceGatesNewAllocations(t *testing.T) {
	t.Parallel()
	fake, h := startGated(t)

	fake.SetAllocation(alloc("a1", "n1", 1, func(a *api.Allocation) { a.Job, a.ClientStatus = nil, "pending" }))
	r := reg("s1", "app", "10.0.0.1", 8080, "traefik.enable=true")
	r.AllocID, r.NodeID = "a1", "n1"
	fake.Register(r) // group services register before the task starts
	testkit.WaitFor(t, "s1 listed", func() bool { _, ok := h.byID()["s1"]; return ok })
	assert.Equal(t, catalog.HealthCritical, h.byID()["s1"].Health, "pending: not routed")

	fake.SetAllocChecks("a1", api.AllocCheckStatuses{"c1": {ID: "c1", Mode: "healthiness", Status: "failure"}})
	fake.SetAllocation(alloc("a1", "n1", 1, func(a *api.Allocation) { a.Job = nil }))
	testkit.WaitFor(t, "checks asked", func() bool { return fake.Requests(nomadfake.EndpointAllocChecks) >= 2 })
	assert.Equal(t, catalog.HealthWarning, h.byID()["s1"].Health, "running, check failing: not routed yet")

	passed := time.Now().Unix() + 1 // Nomad stamps results in whole seconds
	fake.SetAllocChecks("a1", api.AllocCheckStatuses{"c1": {ID: "c1", Mode: "healthiness", Status: "success", Timestamp: passed}})
	testkit.WaitFor(t, "routed once its check passes", func() bool { return h.byID()["s1"].Health == catalog.HealthPassing })
	n := fake.Requests(nomadfake.EndpointAllocChecks)
	time.Sleep(50 * time.Millisecond) // ten poll periods: nothing left to ask
	assert.Equal(t, n, fake.Requests(nomadfake.EndpointAllocChecks), "no polling once released")

	// A restart (a template re-rendered, a crash): out while the task is
	// pending, and back only once a check passed after it.
	restarting := func(state string, restarts uint64) func(*api.Allocation) {
		return func(a *api.Allocation) {
			a.Job = nil
			a.TaskStates = map[string]*api.TaskState{"app": {State: state, Restarts: restarts}}
		}
	}
	testkit.WaitFor(t, "a later second than the last result", func() bool { return time.Now().Unix() > passed })
	fake.SetAllocation(alloc("a1", "n1", 1, restarting("pending", 1)))
	testkit.WaitFor(t, "out while restarting", func() bool { return h.byID()["s1"].Health == catalog.HealthCritical })
	fake.SetAllocation(alloc("a1", "n1", 1, restarting("running", 1)))
	testkit.WaitFor(t, "running again, its old check result ignored", func() bool { return h.byID()["s1"].Health == catalog.HealthWarning })
	fake.SetAllocChecks("a1", api.AllocCheckStatuses{"c1": {ID: "c1", Mode: "healthiness", Status: "success", Timestamp: time.Now().Unix() + 2}})
	testkit.WaitFor(t, "back once a check passed since", func() bool { return h.byID()["s1"].Health == catalog.HealthPassing })
}

// TestSourceGatesReregistration: a task's service registered again for an
// allocation that was running all along (its task restarted faster than
// the allocation's update said) is held back until a check passes after.
func TestSourceGatesReregistration(t *testing.T) {
	t.Parallel()
	fake := nomadfake.New()
	t.Cleanup(fake.Close)
	fake.SetNode(api.Node{ID: "n1"})
	fake.SetAllocation(alloc("a1", "n1", 1, nil))
	r := reg("s1", "app", "10.0.0.1", 8080, "traefik.enable=true")
	r.AllocID, r.NodeID = "a1", "n1"
	fake.Register(r)
	h := start(t, fake, "", func(o *nomad.Options) { o.StreamRetry, o.GatePoll = time.Hour, 5*time.Millisecond })
	testkit.WaitFor(t, "ready", h.ready)
	assert.Equal(t, catalog.HealthPassing, h.byID()["s1"].Health, "running at the start: routed")

	// The check's last result is from before the restart.
	fake.SetAllocChecks("a1", api.AllocCheckStatuses{"c1": {ID: "c1", Mode: "healthiness", Status: "success", Timestamp: time.Now().Unix() - 1}})
	fake.Deregister("s1") // the task stops: its service goes
	testkit.WaitFor(t, "s1 gone", func() bool { _, ok := h.byID()["s1"]; return !ok })
	fake.Register(r) // and comes back with the restarted task
	testkit.WaitFor(t, "s1 back", func() bool { _, ok := h.byID()["s1"]; return ok })
	assert.Equal(t, catalog.HealthWarning, h.byID()["s1"].Health, "not routed before a check passed")
	fake.SetAllocChecks("a1", api.AllocCheckStatuses{"c1": {ID: "c1", Mode: "healthiness", Status: "success", Timestamp: time.Now().Unix() + 1}})
	testkit.WaitFor(t, "routed", func() bool { return h.byID()["s1"].Health == catalog.HealthPassing })
}

// TestSourceGateAsksWhenTheChecksRun: the gate asks for a new allocation's
// checks when their client can have run them (schedule.go), here with a
// check every hour: not before its first run, half an interval after the
// allocation started. A restart keeps the checks' rhythm: asked for at the
// second after it, then not again before the check can have run again (its
// interval after its last result); routed once a check passed since.
func TestSourceGateAsksWhenTheChecksRun(t *testing.T) {
	t.Parallel()
	fake, h := startGated(t)
	job := checkJob("/healthz")
	job.TaskGroups[0].Services[0].Checks[1].Interval = time.Hour
	fake.SetJob(job)

	check := func(status string, stamp int64) api.AllocCheckStatuses {
		return api.AllocCheckStatuses{"c1": {ID: "c1", Service: "app", Check: "up", Mode: "healthiness", Status: status, Timestamp: stamp}}
	}
	asked := func() int { return fake.Requests(nomadfake.EndpointAllocChecks) }
	fake.SetAllocChecks("a1", check("pending", time.Now().Unix()))
	fake.SetAllocation(alloc("a1", "n1", 1, func(a *api.Allocation) { a.ClientStatus = "pending" }))
	r := reg("s1", "app", "10.0.0.1", 8080, "traefik.enable=true")
	r.AllocID, r.NodeID = "a1", "n1"
	fake.Register(r)
	testkit.WaitFor(t, "s1 listed", func() bool { _, ok := h.byID()["s1"]; return ok })
	fake.SetAllocation(alloc("a1", "n1", 1, nil))
	testkit.WaitFor(t, "running, held back", func() bool { return h.byID()["s1"].Health == catalog.HealthWarning })
	time.Sleep(100 * time.Millisecond) // twenty poll periods
	assert.Zero(t, asked(), "not asked before the check's first run")

	restarted := func(state string, restarts uint64) func(*api.Allocation) {
		return func(a *api.Allocation) {
			a.TaskStates = map[string]*api.TaskState{"app": {State: state, Restarts: restarts}}
		}
	}
	fake.SetAllocation(alloc("a1", "n1", 1, restarted("pending", 1)))
	testkit.WaitFor(t, "out while restarting", func() bool { return h.byID()["s1"].Health == catalog.HealthCritical })
	fake.SetAllocChecks("a1", check("failure", time.Now().Unix())) // no later than the restart's second
	fake.SetAllocation(alloc("a1", "n1", 1, restarted("running", 1)))
	testkit.WaitFor(t, "asked after the restart", func() bool { return asked() > 0 })
	n := asked()
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, n, asked(), "not asked again before the check's next run")
	assert.Equal(t, catalog.HealthWarning, h.byID()["s1"].Health, "still held back")

	fake.SetAllocation(alloc("a1", "n1", 1, restarted("pending", 2)))
	testkit.WaitFor(t, "out while restarting again", func() bool { return h.byID()["s1"].Health == catalog.HealthCritical })
	fake.SetAllocChecks("a1", check("success", time.Now().Unix()+2))
	fake.SetAllocation(alloc("a1", "n1", 1, restarted("running", 2)))
	testkit.WaitFor(t, "routed once a check passed since the restart", func() bool { return h.byID()["s1"].Health == catalog.HealthPassing })
	assert.Greater(t, asked(), n)
}

// TestSourceServerBackOlder: the Nomad server restarts with an older state
// (its index gone backwards, as the real one did after a restart in
// e2e/realnomad), in which the allocation is not running yet and its
// deployment has not judged it healthy. Nomad never takes either back: the
// instance stays routed through the re-read, and a change afterwards is
// followed.
func TestSourceServerBackOlder(t *testing.T) {
	t.Parallel()
	fake := nomadfake.New()
	t.Cleanup(fake.Close)
	registerOnNode(fake)
	fake.SetDeployment(api.Deployment{ID: "d3", JobID: "app", JobVersion: 3, Status: "running"})
	fake.SetAllocation(alloc("a1", "n1", 3, func(a *api.Allocation) {
		a.DeploymentStatus = &api.AllocDeploymentStatus{Healthy: ptr(true)}
	}))
	h := start(t, fake, "")
	testkit.WaitFor(t, "ready and routed", func() bool { return h.ready() && h.byID()["s1"].Health == catalog.HealthPassing })

	fake.SetDown(true)
	testkit.WaitFor(t, "an error", func() bool { return h.errors.Load() > 0 })
	// The restored state: the allocation not running yet, its health not
	// judged yet.
	fake.SetAllocation(alloc("a1", "n1", 3, func(a *api.Allocation) {
		a.ClientStatus, a.DeploymentStatus = "pending", &api.AllocDeploymentStatus{}
	}))
	fake.ResetIndex(5)
	reads := fake.Requests(nomadfake.EndpointAllocations)
	fake.SetDown(false)
	testkit.WaitFor(t, "re-read", func() bool { return fake.Requests(nomadfake.EndpointAllocations) > reads })
	fake.Register(reg("s2", "app", "10.0.0.2", 8080, "traefik.enable=true"))
	testkit.WaitFor(t, "following again", func() bool { _, ok := h.byID()["s2"]; return ok })
	assert.Equal(t, catalog.HealthPassing, h.byID()["s1"].Health, "still routed")
}

// TestSourceServerBehind: a server restored to an older state says, of a
// routable instance, what it no longer says (here its node ineligible, as
// during an old drain). Until its index passes what it said before, the
// instance stays as it was; once it has caught up, the catalog's word
// holds again.
func TestSourceServerBehind(t *testing.T) {
	t.Parallel()
	fake := nomadfake.New()
	t.Cleanup(fake.Close)
	registerOnNode(fake)
	fake.SetAllocation(alloc("a1", "n1", 1, nil))
	h := start(t, fake, "")
	testkit.WaitFor(t, "ready and routed", func() bool { in := h.byID()["s1"]; return h.ready() && !in.Draining })
	before := fake.Index()

	fake.SetDown(true)
	testkit.WaitFor(t, "an error", func() bool { return h.errors.Load() > 0 })
	fake.SetNode(api.Node{ID: "n1", SchedulingEligibility: "ineligible"}) // what the older state says
	fake.ResetIndex(5)
	reads := fake.Requests(nomadfake.EndpointAllocations)
	fake.SetDown(false)
	testkit.WaitFor(t, "re-read", func() bool { return fake.Requests(nomadfake.EndpointAllocations) > reads })
	fake.Register(reg("x0", "other", "10.0.0.9", 8080, "traefik.enable=true"))
	testkit.WaitFor(t, "following again", func() bool { _, ok := h.byID()["x0"]; return ok })
	assert.False(t, h.byID()["s1"].Draining, "kept while the catalog is behind")

	for i := 1; fake.Index() <= before; i++ { // changes until the catalog has caught up
		fake.Register(reg(fmt.Sprintf("x%d", i), "other", "10.0.0.9", 8080+i, "traefik.enable=true"))
	}
	fake.Register(reg("x-last", "other", "10.0.0.9", 9999, "traefik.enable=true"))
	testkit.WaitFor(t, "the catalog's word once caught up", func() bool { return h.byID()["s1"].Draining })
}
