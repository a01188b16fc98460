package syncer_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/whiskers-dev/whiskers/syncer"
	"github.com/whiskers-dev/whiskers/syncer/builder"
	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/consul"
	"github.com/whiskers-dev/whiskers/syncer/dynamic"
	"github.com/whiskers-dev/whiskers/syncer/fakes/consulfake"
	"github.com/whiskers-dev/whiskers/syncer/fakes/nomadfake"
	"github.com/whiskers-dev/whiskers/syncer/nomad"
	"github.com/whiskers-dev/whiskers/syncer/output"
	"github.com/whiskers-dev/whiskers/syncer/render"

	"github.com/whiskers-dev/whiskers/internal/testkit"
)

// cluster is the two fake catalogs with sources and a runner writing a file.
type cluster struct {
	consul  *consulfake.Server
	nomad   *nomadfake.Server
	path    string
	metrics *output.Metrics
	reg     *prometheus.Registry
	runner  *syncer.Runner
}

func newCluster(t testing.TB, throttle time.Duration, onPublish func([]byte)) *cluster {
	t.Helper()
	return newClusterIn(t, t.TempDir(), throttle, 500*time.Millisecond, onPublish)
}

// newClusterIn is newCluster writing its file in dir (dir "" writes no file),
// with blocking queries waiting up to wait.
func newClusterIn(t testing.TB, dir string, throttle, wait time.Duration, onPublish func([]byte)) *cluster {
	t.Helper()
	return newClusterWith(t, dir, throttle, wait, onPublish, nil)
}

// newClusterWith is newClusterIn with tweak (if not nil) applied to the
// sources' options before they are created.
func newClusterWith(t testing.TB, dir string, throttle, wait time.Duration, onPublish func([]byte),
	tweak func(*nomad.Options, *consul.Options)) *cluster {
	t.Helper()
	c := &cluster{consul: consulfake.New(), nomad: nomadfake.New()}
	if dir != "" {
		c.path = filepath.Join(dir, "dynamic.yaml")
	}
	t.Cleanup(c.consul.Close)
	t.Cleanup(c.nomad.Close)
	c.reg = prometheus.NewRegistry()
	var err error
	c.metrics, err = output.NewMetrics(c.reg)
	require.NoError(t, err)

	ccfg := consulapi.DefaultConfig()
	ccfg.Address = c.consul.URL()
	copts := consul.Options{
		Config: ccfg, WaitTime: wait, MinInterval: time.Millisecond,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), OnError: c.metrics.WatchError("consul"),
	}
	ncfg := nomadapi.DefaultConfig()
	ncfg.Address = c.nomad.URL()
	nopts := nomad.Options{
		Config: ncfg, WaitTime: wait, MinInterval: time.Millisecond, StreamRetry: 100 * time.Millisecond,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), OnError: c.metrics.WatchError("nomad"),
	}
	if tweak != nil {
		tweak(&nopts, &copts)
	}
	cs, err := consul.New(copts)
	require.NoError(t, err)
	ns, err := nomad.New(nopts)
	require.NoError(t, err)
	b, err := builder.New(builder.Options{})
	require.NoError(t, err)
	var outputs []output.Output
	if c.path != "" {
		f, err := output.NewFile(c.path, render.YAML)
		require.NoError(t, err)
		outputs = append(outputs, f)
	}
	if onPublish != nil {
		outputs = append(outputs, output.NewRecorder(render.YAML, onPublish))
	}
	c.runner, err = syncer.New(syncer.Options{
		Sources: []catalog.Source{ns, cs}, Builder: b, Outputs: outputs, Metrics: c.metrics,
		Throttle: throttle, Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	return c
}

func (c *cluster) run(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.runner.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
}

// servers reads the written file and returns the server URLs of every HTTP
// service, or nil if the file is not there yet.
func (c *cluster) servers(t testing.TB) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(c.path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var cfg dynamic.Configuration
	require.NoError(t, yaml.Unmarshal(b, &cfg), "file must always be complete YAML:\n%s", b)
	out := map[string][]string{}
	if cfg.HTTP != nil {
		for name, s := range cfg.HTTP.Services {
			var urls []string
			if s.LoadBalancer != nil {
				for _, srv := range s.LoadBalancer.Servers {
					urls = append(urls, srv.URL)
				}
			}
			out[name] = urls
		}
	}
	return out
}

func (c *cluster) waitServers(t testing.TB, what string, want map[string][]string) {
	t.Helper()
	testkit.WaitFor(t, what, func() bool {
		got := c.servers(t)
		if len(got) != len(want) {
			return false
		}
		for k, v := range want {
			if !slices.Equal(got[k], v) {
				return false
			}
		}
		return true
	})
}

func nomadReg(id, addr string, port int) nomadapi.ServiceRegistration {
	return nomadapi.ServiceRegistration{
		ID: id, ServiceName: "hello", Address: addr, Port: port, JobID: "hello", AllocID: "alloc-" + id,
		NodeID: "node-" + id, Tags: []string{"traefik.enable=true"},
	}
}

func consulInst(id, addr string) consulfake.Instance {
	return consulfake.Instance{ID: id, Service: "web", Address: addr, Port: 8080, Tags: []string{"traefik.enable=true"}}
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 10*time.Millisecond, nil)
	c.nomad.Register(nomadReg("h1", "10.0.1.1", 20001))
	c.nomad.Register(nomadReg("h2", "10.0.1.2", 20002))
	c.nomad.Register(nomadReg("h3", "10.0.1.3", 20003))
	c.consul.Register(consulInst("web-1", "10.0.2.1"))
	c.consul.Register(consulInst("web-2", "10.0.2.2"))
	c.run(t)

	t.Log("three Nomad instances and two Consul instances")
	c.waitServers(t, "initial config", map[string][]string{
		"hello": {"http://10.0.1.1:20001", "http://10.0.1.2:20002", "http://10.0.1.3:20003"},
		"web":   {"http://10.0.2.1:8080", "http://10.0.2.2:8080"},
	})
	b, err := os.ReadFile(c.path)
	require.NoError(t, err)
	var cfg dynamic.Configuration
	require.NoError(t, yaml.Unmarshal(b, &cfg))
	require.NotNil(t, cfg.HTTP)
	require.Contains(t, cfg.HTTP.Routers, "hello")
	require.Contains(t, cfg.HTTP.Routers, "web")
	assert.Equal(t, "Host(`hello`)", cfg.HTTP.Routers["hello"].Rule)
	assert.Equal(t, "hello", cfg.HTTP.Routers["hello"].Service)
	assert.Equal(t, "Host(`web`)", cfg.HTTP.Routers["web"].Rule)

	t.Log("deregistering a Nomad instance")
	c.nomad.Deregister("h2")
	c.waitServers(t, "h2 removed", map[string][]string{
		"hello": {"http://10.0.1.1:20001", "http://10.0.1.3:20003"},
		"web":   {"http://10.0.2.1:8080", "http://10.0.2.2:8080"},
	})

	t.Log("a Consul check turns critical")
	c.consul.SetCheck("web-2", "critical")
	c.waitServers(t, "web-2 unhealthy", map[string][]string{
		"hello": {"http://10.0.1.1:20001", "http://10.0.1.3:20003"},
		"web":   {"http://10.0.2.1:8080"},
	})

	t.Log("killing Consul keeps its part of the file; Nomad keeps working")
	c.consul.SetDown(true)
	testkit.WaitFor(t, "consul watch errors", func() bool { return metric(t, c.reg, "whiskers_watch_errors_total", "consul") > 0 })
	c.nomad.Register(nomadReg("h4", "10.0.1.4", 20004))
	c.waitServers(t, "h4 added while consul is down", map[string][]string{
		"hello": {"http://10.0.1.1:20001", "http://10.0.1.3:20003", "http://10.0.1.4:20004"},
		"web":   {"http://10.0.2.1:8080"},
	})

	t.Log("killing Nomad too leaves the file unchanged")
	before, err := os.ReadFile(c.path)
	require.NoError(t, err)
	c.nomad.SetDown(true)
	testkit.WaitFor(t, "nomad watch errors", func() bool { return metric(t, c.reg, "whiskers_watch_errors_total", "nomad") > 0 })
	syncs := metric(t, c.reg, "whiskers_sync_total", "")
	c.runner.Resync() // forces a rebuild from the last good snapshots
	testkit.WaitFor(t, "a rebuild", func() bool { return metric(t, c.reg, "whiskers_sync_total", "") > syncs })
	after, err := os.ReadFile(c.path)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after))

	t.Log("catalogs come back with lower indexes and a change each")
	c.consul.SetCheck("web-2", "passing")
	c.consul.ResetIndex(3)
	c.consul.SetDown(false)
	c.nomad.Deregister("h1")
	c.nomad.ResetIndex(7)
	c.nomad.SetDown(false)
	c.waitServers(t, "recovered", map[string][]string{
		"hello": {"http://10.0.1.3:20003", "http://10.0.1.4:20004"},
		"web":   {"http://10.0.2.1:8080", "http://10.0.2.2:8080"},
	})

	t.Log("and they keep following changes")
	c.consul.Deregister("web-1")
	c.nomad.Register(nomadReg("h5", "10.0.1.5", 20005))
	c.waitServers(t, "after recovery", map[string][]string{
		"hello": {"http://10.0.1.3:20003", "http://10.0.1.4:20004", "http://10.0.1.5:20005"},
		"web":   {"http://10.0.2.2:8080"},
	})
}

// metric returns the value of a counter, of the series with this source label
// if source is not "".
func metric(t testing.TB, g prometheus.Gatherer, name, source string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if source == "" {
				return m.GetCounter().GetValue()
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == source {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
