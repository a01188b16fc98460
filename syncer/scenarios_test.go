package syncer_test

// Deploy scenarios (issue 6), each replayed end to end: fake Nomad and
// Consul → the real sources → the runner → the written file. docs/scenarios.md
// lists them with the command that runs each.

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/whiskers-dev/whiskers/syncer/consul"
	"github.com/whiskers-dev/whiskers/syncer/dynamic"
	"github.com/whiskers-dev/whiskers/syncer/nomad"

	"github.com/whiskers-dev/whiskers/internal/testkit"
)

// published records every configuration the runner writes and the
// violations of an invariant checked on each, so that a scenario can assert
// that no intermediate file broke it, not only the last one.
type published struct {
	mu         sync.Mutex
	configs    []dynamic.Configuration
	violations []string
	check      func(cfg dynamic.Configuration) string // "" when the invariant holds
}

func (p *published) onPublish(b []byte) {
	var cfg dynamic.Configuration
	err := yaml.Unmarshal(b, &cfg)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.violations = append(p.violations, fmt.Sprintf("unparsable config: %v\n%s", err, b))
		return
	}
	p.configs = append(p.configs, cfg)
	if p.check != nil {
		if v := p.check(cfg); v != "" {
			p.violations = append(p.violations, fmt.Sprintf("config #%d: %s\n%s", len(p.configs), v, b))
		}
	}
}

// last returns the last configuration written, or false before the first.
func (p *published) last() (dynamic.Configuration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.configs) == 0 {
		return dynamic.Configuration{}, false
	}
	return p.configs[len(p.configs)-1], true
}

func (p *published) assertNoViolations(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	assert.Empty(t, p.violations, "an intermediate configuration broke the scenario's invariant")
}

// waitLast waits until the last written configuration satisfies cond.
func (p *published) waitLast(t *testing.T, what string, cond func(dynamic.Configuration) bool) {
	t.Helper()
	testkit.WaitFor(t, what, func() bool {
		cfg, ok := p.last()
		return ok && cond(cfg)
	})
}

// routedServers follows router r to the servers that can answer it, through
// weighted services, with the weight of each leaf service.
func routedServers(cfg dynamic.Configuration, router string) (urls []string, weights map[string]int, ok bool) {
	if cfg.HTTP == nil || cfg.HTTP.Routers[router] == nil {
		return nil, nil, false
	}
	weights = map[string]int{}
	var walk func(name string, weight int)
	walk = func(name string, weight int) {
		s := cfg.HTTP.Services[name]
		switch {
		case s == nil:
		case s.Weighted != nil:
			for _, ws := range s.Weighted.Services {
				w := 1
				if ws.Weight != nil {
					w = *ws.Weight
				}
				walk(ws.Name, w)
			}
		case s.LoadBalancer != nil:
			weights[name] = weight
			for _, srv := range s.LoadBalancer.Servers {
				urls = append(urls, srv.URL)
			}
		}
	}
	walk(cfg.HTTP.Routers[router].Service, 1)
	slices.Sort(urls)
	return urls, weights, true
}

// routerHasServers is the invariant of a deploy: the router is there and
// leads to at least one server.
func routerHasServers(router string) func(dynamic.Configuration) string {
	return func(cfg dynamic.Configuration) string {
		urls, _, ok := routedServers(cfg, router)
		switch {
		case !ok:
			return "router " + router + " is missing"
		case len(urls) == 0:
			return "router " + router + " has no servers"
		}
		return ""
	}
}

// deployAlloc registers instance id of job hello at version v, with a healthy
// allocation of deployment dep (canary as given) on node.
func deployAlloc(c *cluster, id string, v uint64, canary bool, tags ...string) {
	healthy := true
	r := nomadReg(id, "10.0.1."+id[1:], 20000+int(id[1]-'0'))
	r.Tags = append([]string{"traefik.enable=true"}, tags...)
	r.NodeID = "n1"
	c.nomad.SetAllocation(nomadapi.Allocation{
		ID: r.AllocID, NodeID: "n1", JobID: "hello", TaskGroup: "hello", Job: &nomadapi.Job{Version: &v},
		DesiredStatus: "run", ClientStatus: "running",
		DeploymentStatus: &nomadapi.AllocDeploymentStatus{Healthy: &healthy, Canary: canary},
	})
	c.nomad.Register(r)
}

// stopAlloc marks a version-1 instance's allocation as being stopped, as
// Nomad does before it kills an allocation it replaces.
func stopAlloc(c *cluster, id string) {
	healthy := true
	v := uint64(1)
	c.nomad.SetAllocation(nomadapi.Allocation{
		ID: "alloc-" + id, NodeID: "n1", JobID: "hello", TaskGroup: "hello", Job: &nomadapi.Job{Version: &v},
		DesiredStatus: "stop", ClientStatus: "running",
		DeploymentStatus: &nomadapi.AllocDeploymentStatus{Healthy: &healthy},
	})
}

// TestScenarioRollingDeployTagChange: a rolling deploy replaces three
// version-1 instances (rule A) one by one with version-2 instances (rule B).
// No written configuration ever lacks the router or its servers, and the
// newest version's rule wins once it is healthy.
func TestScenarioRollingDeployTagChange(t *testing.T) {
	t.Parallel()
	p := &published{check: routerHasServers("hello")}
	c := newCluster(t, 0, p.onPublish)
	c.nomad.SetNode(nomadapi.Node{ID: "n1"})
	ruleA := "traefik.http.routers.hello.rule=Host(`a.example`)"
	ruleB := "traefik.http.routers.hello.rule=Host(`b.example`)"
	for _, id := range []string{"h1", "h2", "h3"} {
		deployAlloc(c, id, 1, false, ruleA)
	}
	c.run(t)
	p.waitLast(t, "three v1 servers with rule A", func(cfg dynamic.Configuration) bool {
		urls, _, _ := routedServers(cfg, "hello")
		return len(urls) == 3 && cfg.HTTP.Routers["hello"].Rule == "Host(`a.example`)"
	})

	for i, old := range []string{"h1", "h2", "h3"} {
		repl := fmt.Sprintf("h%d", i+4)
		deployAlloc(c, repl, 2, false, ruleB)
		p.waitLast(t, repl+" routed", func(cfg dynamic.Configuration) bool {
			urls, _, _ := routedServers(cfg, "hello")
			return slices.Contains(urls, fmt.Sprintf("http://10.0.1.%d:%d", i+4, 20000+i+4))
		})
		stopAlloc(c, old)
		p.waitLast(t, old+" drained", func(cfg dynamic.Configuration) bool {
			urls, _, _ := routedServers(cfg, "hello")
			return !slices.Contains(urls, fmt.Sprintf("http://10.0.1.%d:%d", i+1, 20000+i+1))
		})
		c.nomad.Deregister(old)
	}
	p.waitLast(t, "three v2 servers with rule B", func(cfg dynamic.Configuration) bool {
		urls, _, _ := routedServers(cfg, "hello")
		return len(urls) == 3 && cfg.HTTP.Routers["hello"].Rule == "Host(`b.example`)"
	})
	p.assertNoViolations(t)
}

// TestScenarioCanaryWeight: a canary allocation of an unpromoted deployment
// gets 10% of the traffic through a weighted service (weight from
// whiskers.canary.weight); promotion folds it back into one plain service,
// with no configuration in between that lacks servers.
func TestScenarioCanaryWeight(t *testing.T) {
	t.Parallel()
	p := &published{check: routerHasServers("hello")}
	c := newCluster(t, 0, p.onPublish)
	c.nomad.SetNode(nomadapi.Node{ID: "n1"})
	weight := "whiskers.canary.weight=10"
	for _, id := range []string{"h1", "h2", "h3"} {
		deployAlloc(c, id, 1, false, weight)
	}
	c.nomad.SetDeployment(nomadapi.Deployment{ID: "d2", Namespace: "default", JobID: "hello", JobVersion: 2,
		Status: "running", TaskGroups: map[string]*nomadapi.DeploymentState{"hello": {Promoted: false, DesiredCanaries: 1}}})
	deployAlloc(c, "h4", 2, true, weight)
	c.run(t)

	p.waitLast(t, "a weighted service 90/10", func(cfg dynamic.Configuration) bool {
		s := cfg.HTTP.Services["hello"]
		return s != nil && s.Weighted != nil
	})
	cfg, _ := p.last()
	urls, weights, ok := routedServers(cfg, "hello")
	require.True(t, ok)
	assert.Len(t, urls, 4)
	assert.Equal(t, map[string]int{"hello-stable": 90, "hello-canary": 10}, weights)
	assert.Equal(t, []dynamic.Server{{URL: "http://10.0.1.4:20004"}}, cfg.HTTP.Services["hello-canary"].LoadBalancer.Servers)

	t.Log("promotion folds the canary back")
	c.nomad.SetDeployment(nomadapi.Deployment{ID: "d2", Namespace: "default", JobID: "hello", JobVersion: 2,
		Status: "running", TaskGroups: map[string]*nomadapi.DeploymentState{"hello": {Promoted: true, DesiredCanaries: 1}}})
	p.waitLast(t, "one plain service", func(cfg dynamic.Configuration) bool {
		s := cfg.HTTP.Services["hello"]
		return s != nil && s.Weighted == nil && s.LoadBalancer != nil && len(s.LoadBalancer.Servers) == 4 &&
			cfg.HTTP.Services["hello-canary"] == nil && cfg.HTTP.Services["hello-stable"] == nil
	})
	p.assertNoViolations(t)
}

// TestScenarioDrainBeforeStop: when a node starts draining, or an allocation
// is told to stop, its instances leave the file while Nomad still lists their
// registrations, before the allocations are killed.
func TestScenarioDrainBeforeStop(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 0, nil)
	for i, node := range []string{"n1", "n1", "n2"} {
		r := nomadReg(fmt.Sprintf("h%d", i+1), fmt.Sprintf("10.0.1.%d", i+1), 20001+i)
		r.NodeID = node
		c.nomad.Register(r)
		c.nomad.SetAllocation(nomadapi.Allocation{ID: r.AllocID, NodeID: node, JobID: "hello", TaskGroup: "hello",
			DesiredStatus: "run", ClientStatus: "running"})
	}
	c.nomad.SetNode(nomadapi.Node{ID: "n1"})
	c.nomad.SetNode(nomadapi.Node{ID: "n2"})
	c.run(t)
	c.waitServers(t, "three servers", map[string][]string{
		"hello": {"http://10.0.1.1:20001", "http://10.0.1.2:20002", "http://10.0.1.3:20003"},
	})
	c.nomad.SetNode(nomadapi.Node{ID: "n1", Drain: true, DrainStrategy: &nomadapi.DrainStrategy{}})
	c.waitServers(t, "n1's instances gone", map[string][]string{"hello": {"http://10.0.1.3:20003"}})
	c.nomad.SetAllocation(nomadapi.Allocation{ID: "alloc-h3", NodeID: "n2", JobID: "hello", TaskGroup: "hello",
		DesiredStatus: "stop", ClientStatus: "running"})
	c.waitServers(t, "h3 gone", map[string][]string{"hello": nil})
	// Every registration is still there: the routes left first.
	for _, id := range []string{"h1", "h2", "h3"} {
		assert.True(t, c.nomad.Deregister(id), "registration %s should still exist", id)
	}
}

// TestScenarioPartition: both catalogs' connections hang (a network
// partition: no answer, no error). The watchdogs tear the stuck calls down
// and re-establish them; the metric says so; a change made after the
// partition heals reaches the file.
func TestScenarioPartition(t *testing.T) {
	t.Parallel()
	c := newClusterWith(t, t.TempDir(), 0, 200*time.Millisecond, nil, func(n *nomad.Options, cs *consul.Options) {
		n.WatchdogGrace = 200 * time.Millisecond
		n.StreamWatchdog = 400 * time.Millisecond
		cs.WatchdogGrace = 200 * time.Millisecond
	})
	c.nomad.SetHeartbeat(50 * time.Millisecond)
	c.nomad.Register(nomadReg("h1", "10.0.1.1", 20001))
	c.consul.Register(consulInst("web-1", "10.0.2.1"))
	c.run(t)
	c.waitServers(t, "initial config", map[string][]string{
		"hello": {"http://10.0.1.1:20001"}, "web": {"http://10.0.2.1:8080"},
	})

	c.nomad.SetHang(true)
	c.consul.SetHang(true)
	for _, source := range []string{"nomad", "consul"} {
		testkit.WaitFor(t, "the "+source+" watchdog to fire", func() bool {
			return metric(t, c.reg, "whiskers_watchdog_restarts_total", source) > 0
		})
	}
	before, err := os.ReadFile(c.path)
	require.NoError(t, err)
	assert.Contains(t, string(before), "http://10.0.1.1:20001", "the partition keeps the last good config")

	c.nomad.SetHang(false)
	c.consul.SetHang(false)
	c.nomad.Register(nomadReg("h2", "10.0.1.2", 20002))
	c.consul.Register(consulInst("web-2", "10.0.2.2"))
	c.waitServers(t, "changes after the partition", map[string][]string{
		"hello": {"http://10.0.1.1:20001", "http://10.0.1.2:20002"},
		"web":   {"http://10.0.2.1:8080", "http://10.0.2.2:8080"},
	})
}

// TestScenarioZeroHealthy: every instance of a Consul service turns critical.
// The whiskers.zero tag decides what Traefik gets: 503 (default) keeps the
// router on a service without servers (Traefik answers 503 instead of 404),
// panic routes to every instance, drop removes the router.
func TestScenarioZeroHealthy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		tag        string
		wantRouter bool
		wantURLs   []string
	}{
		{name: "default 503", wantRouter: true, wantURLs: nil},
		{name: "explicit 503", tag: "whiskers.zero=503", wantRouter: true, wantURLs: nil},
		{name: "panic", tag: "whiskers.zero=panic", wantRouter: true,
			wantURLs: []string{"http://10.0.2.1:8080", "http://10.0.2.2:8080"}},
		{name: "drop", tag: "whiskers.zero=drop", wantRouter: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &published{}
			c := newCluster(t, 0, p.onPublish)
			for _, id := range []string{"web-1", "web-2"} {
				in := consulInst(id, "10.0.2."+id[len(id)-1:])
				if tc.tag != "" {
					in.Tags = append(in.Tags, tc.tag)
				}
				c.consul.Register(in)
			}
			c.run(t)
			p.waitLast(t, "two servers", func(cfg dynamic.Configuration) bool {
				urls, _, _ := routedServers(cfg, "web")
				return len(urls) == 2
			})
			c.consul.SetCheck("web-1", "critical")
			c.consul.SetCheck("web-2", "critical")
			p.waitLast(t, "the zero-healthy policy", func(cfg dynamic.Configuration) bool {
				urls, _, ok := routedServers(cfg, "web")
				if !tc.wantRouter {
					return !ok
				}
				return ok && slices.Equal(urls, tc.wantURLs) &&
					(tc.wantURLs != nil || cfg.HTTP.Services["web"] != nil)
			})
		})
	}
}
