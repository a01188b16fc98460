package nomad

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/nomad/api"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
)

// facts are what Nomad knows about the allocations behind service
// registrations: desired and client status, deployment health and canary
// status, job version, and the draining or eligibility of their nodes.
type facts struct {
	allocs  map[string]allocFacts
	nodes   map[string]nodeFacts
	deploys map[deployKey]map[string]bool // task group → promoted
}

type allocFacts struct {
	desired, client string
	nodeID          string
	jobVersion      uint64
	deploy          deployKey
	taskGroup       string
	inDeployment    bool // the allocation has a deployment status
	healthy         *bool
	canary          bool
}

// deployKey names a deployment by what allocation stubs carry: a job version.
type deployKey struct {
	namespace, jobID string
	version          uint64
}

type nodeFacts struct{ draining, ineligible bool }

func newFacts() facts {
	return facts{allocs: map[string]allocFacts{}, nodes: map[string]nodeFacts{}, deploys: map[deployKey]map[string]bool{}}
}

func allocFactsOf(desired, client, node string, dk deployKey, tg string, ds *api.AllocDeploymentStatus) allocFacts {
	f := allocFacts{desired: desired, client: client, nodeID: node, jobVersion: dk.version, deploy: dk, taskGroup: tg}
	if ds != nil {
		f.inDeployment = true
		f.healthy = ds.Healthy
		f.canary = ds.Canary
	}
	return f
}

func deployKeyOf(d *api.Deployment) deployKey {
	return deployKey{d.Namespace, d.JobID, d.JobVersion}
}

func promotedOf(d *api.Deployment) map[string]bool {
	out := map[string]bool{}
	for tg, st := range d.TaskGroups {
		out[tg] = st != nil && st.Promoted
	}
	return out
}

// readFacts reads every allocation, node and deployment (three list calls).
func (s *Source) readFacts(ctx context.Context) (facts, error) {
	f := newFacts()
	q := func() *api.QueryOptions { return (&api.QueryOptions{Namespace: s.listNamespace()}).WithContext(ctx) }
	allocs, _, err := s.client.Allocations().List(q())
	if err != nil {
		return f, fmt.Errorf("nomad: listing allocations: %w", err)
	}
	for _, a := range allocs {
		if a != nil {
			dk := deployKey{a.Namespace, a.JobID, a.JobVersion}
			f.allocs[a.ID] = allocFactsOf(a.DesiredStatus, a.ClientStatus, a.NodeID, dk, a.TaskGroup, a.DeploymentStatus)
		}
	}
	nodes, _, err := s.client.Nodes().List((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return f, fmt.Errorf("nomad: listing nodes: %w", err)
	}
	for _, n := range nodes {
		if n != nil {
			f.nodes[n.ID] = nodeFacts{draining: n.Drain, ineligible: n.SchedulingEligibility == api.NodeSchedulingIneligible}
		}
	}
	deps, _, err := s.client.Deployments().List(q())
	if err != nil {
		return f, fmt.Errorf("nomad: listing deployments: %w", err)
	}
	for _, d := range deps {
		if d != nil {
			f.deploys[deployKeyOf(d)] = promotedOf(d)
		}
	}
	return f, nil
}

// applyEvent records what an Allocation, Node or Deployment event says; it
// reports whether the event was one of those.
func (f *facts) applyEvent(ev *api.Event) (bool, error) {
	switch ev.Topic {
	case api.TopicAllocation:
		a, err := ev.Allocation()
		if err != nil || a == nil {
			return true, fmt.Errorf("nomad: decoding allocation event %q: %w", ev.Key, err)
		}
		dk := deployKey{namespace: a.Namespace, jobID: a.JobID}
		if a.Job != nil && a.Job.Version != nil {
			dk.version = *a.Job.Version
		}
		f.allocs[a.ID] = allocFactsOf(a.DesiredStatus, a.ClientStatus, a.NodeID, dk, a.TaskGroup, a.DeploymentStatus)
	case api.TopicNode:
		n, err := ev.Node()
		if err != nil || n == nil {
			return true, fmt.Errorf("nomad: decoding node event %q: %w", ev.Key, err)
		}
		if ev.Type == "NodeDeregistration" {
			delete(f.nodes, n.ID)
		} else {
			f.nodes[n.ID] = nodeFacts{draining: n.DrainStrategy != nil || n.Drain, ineligible: n.SchedulingEligibility == api.NodeSchedulingIneligible}
		}
	case api.TopicDeployment:
		d, err := ev.Deployment()
		if err != nil || d == nil {
			return true, fmt.Errorf("nomad: decoding deployment event %q: %w", ev.Key, err)
		}
		f.deploys[deployKeyOf(d)] = promotedOf(d)
	default:
		return false, nil
	}
	return true, nil
}

// apply returns in with what the facts say about its allocation:
//   - Draining when the allocation's desired status is stop or evict, or its
//     node is draining or ineligible;
//   - Health critical when the allocation is not running or its deployment
//     marked it unhealthy, warning while its deployment has not yet decided
//     (so it is routed only once healthy, unless warning is routed);
//   - Canary for a canary of a deployment whose task group is not promoted;
//   - JobVersion.
//
// An instance whose allocation is unknown is left as read.
func (f *facts) apply(in catalog.Instance) catalog.Instance {
	a, ok := f.allocs[in.AllocID]
	if !ok {
		return in
	}
	in.JobVersion = a.jobVersion
	if a.desired == api.AllocDesiredStatusStop || a.desired == api.AllocDesiredStatusEvict {
		in.Draining = true
	}
	node := a.nodeID
	if node == "" {
		node = in.Node
	}
	if n, ok := f.nodes[node]; ok && (n.draining || n.ineligible) {
		in.Draining = true
	}
	switch {
	case a.client != "" && a.client != api.AllocClientStatusRunning:
		in.Health = catalog.HealthCritical
	case a.inDeployment && a.healthy != nil && !*a.healthy:
		in.Health = catalog.HealthCritical
	case a.inDeployment && a.healthy == nil:
		in.Health = catalog.HealthWarning
	}
	if a.canary {
		if promoted, known := f.deploys[a.deploy][a.taskGroup]; known && !promoted {
			in.Canary = true
		}
	}
	return in
}

// deriveLocked recomputes s.instances from the registrations and facts; it
// reports whether they changed.
func (s *Source) deriveLocked() bool {
	next := make(map[svcKey][]catalog.Instance, len(s.base))
	for k, insts := range s.base {
		out := make([]catalog.Instance, len(insts))
		for i, in := range insts {
			out[i] = s.facts.apply(in)
		}
		next[k] = out
	}
	changed := !maps.EqualFunc(s.instances, next, func(a, b []catalog.Instance) bool {
		return slices.EqualFunc(a, b, catalog.Instance.Equal)
	})
	s.instances = next
	return changed
}
