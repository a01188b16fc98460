package nomad

import (
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
)

func TestChecksOf(t *testing.T) {
	t.Parallel()
	p := func(s string) *string { return &s }
	job := &api.Job{ID: p("shop"), Name: p("shop"), TaskGroups: []*api.TaskGroup{{
		Name: p("web"),
		Services: []*api.Service{
			{Name: "${NOMAD_JOB_NAME}-front", PortLabel: "http", Checks: []api.ServiceCheck{
				{Type: "http", Path: "/healthz", Protocol: "https", Interval: 5 * time.Second, Timeout: time.Second,
					Header: map[string][]string{"X-Probe": {"1"}}},
			}},
			// The check is on another port than the service: Traefik could not run it.
			{Name: "admin", PortLabel: "http", Checks: []api.ServiceCheck{{Type: "http", Path: "/", PortLabel: "admin"}}},
			// A tcp check only.
			{Name: "raw", PortLabel: "tcp", Checks: []api.ServiceCheck{{Type: "tcp"}}},
			// No name: Nomad's default, <job>-<group>.
			{PortLabel: "http", Checks: []api.ServiceCheck{{Type: "http", Path: "/up", Interval: time.Second, Timeout: time.Second}}},
		},
		Tasks: []*api.Task{{Name: "api", Services: []*api.Service{
			{Name: "${TASK}-svc", PortLabel: "api", Checks: []api.ServiceCheck{
				{Type: "http", Path: "/a", AddressMode: "driver"}, // on the container's address
				{Type: "HTTP", Path: "/b", Interval: 2 * time.Second, Timeout: time.Second, Method: "HEAD"},
			}},
		}}},
	}}}
	want := map[string]*catalog.Check{
		"shop-front": {Path: "/healthz", Scheme: "https", Interval: 5 * time.Second, Timeout: time.Second, Headers: map[string][]string{"X-Probe": {"1"}}},
		"shop-web":   {Path: "/up", Interval: time.Second, Timeout: time.Second},
		"api-svc":    {Path: "/b", Method: "HEAD", Interval: 2 * time.Second, Timeout: time.Second},
	}
	assert.Equal(t, want, checksOf(job))
	assert.Empty(t, checksOf(nil))
}
