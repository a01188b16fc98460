package cluster_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/internal/cluster"
	"github.com/whiskers-dev/whiskers/internal/realbin"
	"github.com/whiskers-dev/whiskers/internal/realbin/realbintest"
)

// An exec task that writes into a host volume and a raw_exec task with a
// native and a Consul service, on every node.
const probeJob = `
job "probe" {
  type = "system"
  datacenters = ["*"]
  group "g" {
    volume "data" {
      type   = "host"
      source = "data"
    }
    network {
      port "http" {}
    }
    service {
      name     = "probe"
      provider = "nomad"
      port     = "http"
      tags     = ["traefik.enable=true"]
    }
    task "exec" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo ${node.unique.name} > /data/node; exec /usr/local/bin/sleep 3600"]
      }
      volume_mount {
        volume      = "data"
        destination = "/data"
      }
    }
  }
  group "consul" {
    network {
      port "http" {}
    }
    service {
      name     = "probe-consul"
      provider = "consul"
      port     = "http"
    }
    task "raw" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
    }
  }
}
`

// TestCluster: three clients come up with the exec and raw_exec drivers; a
// system job runs on each, its services reach both catalogs; Close leaves
// no process, mount or directory behind.
func TestCluster(t *testing.T) {
	nomadBin := realbintest.Bin(t, realbin.Nomad)
	consulBin := realbintest.Bin(t, realbin.Consul)
	dir, err := os.MkdirTemp("", "wk")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	start := time.Now()
	c, err := cluster.Start(t.Context(), cluster.Options{
		Nomad: nomadBin, Consul: consulBin, Dir: dir,
		ChrootFiles: map[string]string{"/bin/sleep": "/usr/local/bin/sleep", "/bin/sh": "/bin/sh"},
		HostVolumes: []string{"data"},
	})
	require.NoError(t, err)
	t.Logf("cluster up in %v", time.Since(start).Round(time.Millisecond))
	closed := false
	t.Cleanup(func() {
		if !closed {
			c.Close()
		}
		if t.Failed() {
			t.Logf("agents:\n%s", c.Logs())
		}
	})
	require.Len(t, c.Clients, 3)
	for i, a := range c.Clients {
		require.Equal(t, "worker-"+string(rune('1'+i)), a.Name)
		require.NotEmpty(t, a.NodeID)
	}

	job, err := c.API().Jobs().ParseHCLOpts(&nomadapi.JobsParseRequest{JobHCL: probeJob, Canonicalize: true})
	require.NoError(t, err)
	_, _, err = c.API().Jobs().Register(job, nil)
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		regs, _, err := c.API().Services().Get("probe", nil)
		if err != nil || len(regs) != 3 {
			return false
		}
		entries, _, err := c.ConsulAPI().Catalog().Service("probe-consul", "", nil)
		return err == nil && len(entries) == 3
	}, 2*time.Minute, 200*time.Millisecond, "three instances in each catalog")
	t.Logf("services registered after %v", time.Since(start).Round(time.Millisecond))
	// Group services register before the tasks start.
	for i := range c.Clients {
		require.Eventually(t, func() bool {
			b, err := os.ReadFile(filepath.Join(c.Volume(i, "data"), "node"))
			return err == nil && strings.TrimSpace(string(b)) == c.Clients[i].Name
		}, time.Minute, 100*time.Millisecond, "the exec task on %s writes its node name into its host volume", c.Clients[i].Name)
	}
	t.Logf("exec tasks running after %v", time.Since(start).Round(time.Millisecond))

	c.Close()
	closed = true
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	require.NotContains(t, string(mounts), dir, "no mount left under the cluster's directory")
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		require.NotContains(t, string(b), dir, "no process of the cluster left: %s", p)
	}
	_, err = os.Stat(c.Clients[0].Dir)
	require.True(t, os.IsNotExist(err), "client directories removed")
}
