package nomad_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/internal/cluster"
	"github.com/whiskers-dev/whiskers/internal/realbin"
	"github.com/whiskers-dev/whiskers/internal/realbin/realbintest"
	"github.com/whiskers-dev/whiskers/syncer/nomad"

	"github.com/whiskers-dev/whiskers/internal/testkit"
)

// storyJob is two copies of a native service with traefik tags, and one
// without, on a real Nomad.
const storyJob = `
job "story" {
  datacenters = ["*"]
  group "web" {
    count = 2
    network {
      port "http" {}
    }
    service {
      name     = "web"
      provider = "nomad"
      port     = "http"
      tags     = ["traefik.enable=True"]
    }
    task "app" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
    }
  }
  group "db" {
    network {
      port "db" {}
    }
    service {
      name     = "db"
      provider = "nomad"
      port     = "db"
    }
    task "db" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
    }
  }
}
`

// TestSourceOnRealNomad follows the source's story on a real Nomad 1.6.1
// (one server, one client): registrations read, opted in as Traefik reads
// traefik.enable, an allocation told to stop drains before its service
// goes, and a stopped job's services leave.
func TestSourceOnRealNomad(t *testing.T) {
	t.Parallel()
	nomadBin := realbintest.Bin(t, realbin.Nomad)
	consulBin := realbintest.Bin(t, realbin.Consul)
	dir, err := os.MkdirTemp("", "wkn")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{Nomad: nomadBin, Consul: consulBin, Dir: dir, Clients: 1})
	require.NoError(t, err)
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			t.Logf("agents:\n%s", c.Logs())
		}
	})
	job, err := c.API().Jobs().ParseHCLOpts(&api.JobsParseRequest{JobHCL: storyJob, Canonicalize: true})
	require.NoError(t, err)
	_, _, err = c.API().Jobs().Register(job, nil)
	require.NoError(t, err)

	cfg := api.DefaultConfig()
	cfg.Address = c.Server.Addr
	h := startWith(t, cfg, func(o *nomad.Options) { o.StreamRetry = time.Hour })
	testkit.WaitFor(t, "both web copies", func() bool {
		in := h.byService("web")
		return len(in) == 2 && in[0].Health == "passing" && in[1].Health == "passing"
	})
	assert.Empty(t, h.byService("db"), "db is not opted in")

	allocs, _, err := c.API().Jobs().Allocations("story", false, nil)
	require.NoError(t, err)
	var victim string
	for _, a := range allocs {
		if a.TaskGroup == "web" {
			victim = a.ID
			break
		}
	}
	_, err = c.API().Allocations().Stop(&api.Allocation{ID: victim}, nil)
	require.NoError(t, err)
	testkit.WaitFor(t, "the stopped copy drained or gone", func() bool {
		for _, in := range h.byService("web") {
			if in.AllocID == victim && !in.Draining {
				return false
			}
		}
		return true
	})
	_, _, err = c.API().Jobs().Deregister("story", false, nil)
	require.NoError(t, err)
	testkit.WaitFor(t, "the stopped job's services gone", func() bool { return len(h.byService("web")) == 0 })
}
