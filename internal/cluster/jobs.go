package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	nomadapi "github.com/hashicorp/nomad/api"
)

// RunJob submits the job file at path with `nomad job run -detach` and the
// variables vars (HCL values: strings are quoted here, lists "[…]" are
// written as they are), through a var file in the cluster's directory.
func (c *Cluster) RunJob(ctx context.Context, path string, vars map[string]string) error {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := vars[k]
		if !strings.HasPrefix(v, "[") {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&b, "%s = %s\n", k, v)
	}
	varFile := filepath.Join(c.opts.Dir, strings.TrimSuffix(filepath.Base(path), ".nomad.hcl")+".vars.hcl")
	if err := os.WriteFile(varFile, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	_, err := c.Nomad(ctx, "job", "run", "-detach", "-var-file", varFile, path)
	return err
}

// Ports returns the ports of job's running allocations (not being
// stopped), by node name and then port label, as loopback URLs
// ("http://127.0.0.1:port"): where a node's Traefik listens, say.
func (c *Cluster) Ports(ctx context.Context, job string) (map[string]map[string]string, error) {
	q := func() *nomadapi.QueryOptions { return (&nomadapi.QueryOptions{}).WithContext(ctx) }
	stubs, _, err := c.api.Jobs().Allocations(job, false, q())
	if err != nil {
		return nil, fmt.Errorf("cluster: allocations of %s: %w", job, err)
	}
	out := map[string]map[string]string{}
	for _, s := range stubs {
		if s.ClientStatus != nomadapi.AllocClientStatusRunning || s.DesiredStatus != nomadapi.AllocDesiredStatusRun {
			continue
		}
		a, _, err := c.api.Allocations().Info(s.ID, q())
		if err != nil {
			return nil, fmt.Errorf("cluster: allocation %s: %w", s.ID, err)
		}
		if a.AllocatedResources == nil {
			continue
		}
		for _, p := range a.AllocatedResources.Shared.Ports {
			if out[s.NodeName] == nil {
				out[s.NodeName] = map[string]string{}
			}
			out[s.NodeName][p.Label] = fmt.Sprintf("http://127.0.0.1:%d", p.Value)
		}
	}
	return out, nil
}
