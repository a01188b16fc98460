package nomad

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
)

// facts are what Nomad knows about the allocations behind service
// registrations: desired and client status, deployment health and canary
// status, job version, the draining or eligibility of their nodes, and the
// HTTP checks their jobs define for their services.
type facts struct {
	allocs  map[string]allocFacts
	nodes   map[string]nodeFacts
	deploys map[string]deployFacts // by deployment ID
	latest  map[deployKey]string   // deployment ID of a job version
	checks  map[jobKey]map[string]*catalog.Check
	// intervals holds how often the client runs each check of a job
	// (setJob), for the gate.
	intervals map[jobKey]map[checkRef]time.Duration
	// starting holds new allocations, from when they were placed until
	// their Nomad checks first pass (see Source.gate): Nomad registers
	// their services before their tasks listen.
	starting map[string]time.Time
}

// jobKey names a job.
type jobKey struct{ namespace, id string }

type allocFacts struct {
	desired, client string
	nodeID          string
	jobVersion      uint64
	job             deployKey // job and version, which name its deployment in list stubs
	deployment      string    // deployment ID, where known
	createIndex     uint64
	fresh           bool // first seen in an event, not in a list
	taskGroup       string
	healthy         *bool // as its deployment judged it; nil if not (yet)
	canary          bool
	restarting      bool   // a task is pending again: restarting (a template change, a crash)
	restarts        uint64 // the tasks' restarts so far
}

// deployKey names a job version, and so its deployment, by what allocation
// stubs carry.
type deployKey struct {
	namespace, jobID string
	version          uint64
}

// deployFacts is what a deployment says: the job version it deploys and,
// per task group, whether its canaries were promoted.
type deployFacts struct {
	version     uint64
	createIndex uint64
	// canaried holds, per task group, whether its canaries still wait for
	// promotion: the deployment is still going, and the group has
	// canaries and is not promoted.
	canaried map[string]bool
}

type nodeFacts struct{ draining, ineligible bool }

func newFacts() facts {
	return facts{
		allocs: map[string]allocFacts{}, nodes: map[string]nodeFacts{}, deploys: map[string]deployFacts{}, latest: map[deployKey]string{},
		checks: map[jobKey]map[string]*catalog.Check{}, intervals: map[jobKey]map[checkRef]time.Duration{},
		starting: map[string]time.Time{},
	}
}

func allocFactsOf(desired, client, node string, job deployKey, deployment string, createIndex uint64, tg string, ds *api.AllocDeploymentStatus, tasks map[string]*api.TaskState) allocFacts {
	f := allocFacts{
		desired: desired, client: client, nodeID: node, jobVersion: job.version, job: job,
		deployment: deployment, createIndex: createIndex, taskGroup: tg,
	}
	if ds != nil {
		f.healthy = ds.Healthy
		f.canary = ds.Canary
	}
	for _, ts := range tasks {
		if ts == nil {
			continue
		}
		f.restarts += ts.Restarts
		// A task of a running allocation that is pending again is being
		// restarted; a dead one is a finished lifecycle task (or the
		// allocation is over, which its client status says).
		if client == api.AllocClientStatusRunning && ts.State == "pending" {
			f.restarting = true
		}
	}
	return f
}

// setDeployment records what d says.
func (f *facts) setDeployment(d *api.Deployment) {
	f.deploys[d.ID] = deployFactsOf(d)
	f.latest[deployKey{d.Namespace, d.JobID, d.JobVersion}] = d.ID
}

func deployFactsOf(d *api.Deployment) deployFacts {
	f := deployFacts{version: d.JobVersion, createIndex: d.CreateIndex, canaried: map[string]bool{}}
	var active bool
	switch d.Status {
	case "running", "paused", "pending", "initializing", "blocked", "unblocking":
		active = true // a finished deployment has no canaries left: promoted, or stopped
	}
	for tg, st := range d.TaskGroups {
		f.canaried[tg] = active && st != nil && st.DesiredCanaries > 0 && !st.Promoted
	}
	return f
}

// readFacts reads every allocation, node and deployment (three list calls)
// and the jobs behind regs (one call per job).
func (s *Source) readFacts(ctx context.Context, regs map[svcKey][]catalog.Instance) (facts, error) {
	f := newFacts()
	q := func() *api.QueryOptions { return (&api.QueryOptions{Namespace: s.listNamespace()}).WithContext(ctx) }
	allocs, _, err := s.client.Allocations().List(q())
	if err != nil {
		return f, fmt.Errorf("nomad: listing allocations: %w", err)
	}
	for _, a := range allocs {
		if a != nil {
			f.allocs[a.ID] = allocFactsOf(a.DesiredStatus, a.ClientStatus, a.NodeID, deployKey{a.Namespace, a.JobID, a.JobVersion}, "", a.CreateIndex, a.TaskGroup, a.DeploymentStatus, a.TaskStates)
			if a.ClientStatus == api.AllocClientStatusPending {
				f.starting[a.ID] = time.Now()
			}
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
			f.setDeployment(d)
		}
	}
	for _, insts := range regs {
		for _, in := range insts {
			k := jobKey{in.Namespace, in.JobID}
			if _, done := f.checks[k]; done || in.JobID == "" {
				continue
			}
			j, _, err := s.client.Jobs().Info(in.JobID, (&api.QueryOptions{Namespace: in.Namespace}).WithContext(ctx))
			if isNotFound(err) {
				j, err = nil, nil // purged since it registered the service
			}
			if err != nil {
				return f, fmt.Errorf("nomad: reading job %q in namespace %q: %w", in.JobID, in.Namespace, err)
			}
			f.setJob(k, j)
		}
	}
	return f, nil
}

// setJob records the checks of job k as j says them (nil: none).
func (f *facts) setJob(k jobKey, j *api.Job) {
	f.checks[k], f.intervals[k] = checksOf(j), intervalsOf(j)
}

// checksOf returns, by service name, the first HTTP check of each service of
// j that Traefik can run as its health check: on the service's own address
// and port.
func checksOf(j *api.Job) map[string]*catalog.Check {
	out := map[string]*catalog.Check{}
	if j == nil {
		return out
	}
	job := deref(j.Name)
	eachService(j, func(group, task string, svc *api.Service) {
		name := serviceName(svc.Name, job, group, task)
		if _, ok := out[name]; ok {
			return
		}
		for _, c := range svc.Checks {
			if !strings.EqualFold(c.Type, "http") || c.PortLabel != "" && c.PortLabel != svc.PortLabel ||
				c.AddressMode != "" && c.AddressMode != "auto" && c.AddressMode != "host" {
				continue
			}
			out[name] = &catalog.Check{
				Path: c.Path, Method: c.Method, Scheme: c.Protocol,
				Interval: c.Interval, Timeout: c.Timeout, Headers: maps.Clone(c.Header),
			}
			return
		}
	})
	return out
}

// eachService calls fn with every service of j (none if j is nil): the
// group's, then each task's (task "" for the group's).
func eachService(j *api.Job, fn func(group, task string, svc *api.Service)) {
	if j == nil {
		return
	}
	for _, tg := range j.TaskGroups {
		if tg == nil {
			continue
		}
		group := deref(tg.Name)
		for _, svc := range tg.Services {
			if svc != nil {
				fn(group, "", svc)
			}
		}
		for _, t := range tg.Tasks {
			if t == nil {
				continue
			}
			for _, svc := range t.Services {
				if svc != nil {
					fn(group, t.Name, svc)
				}
			}
		}
	}
}

// serviceName is a service's name as Nomad registers it: the job's name
// with the job, group and task variables Nomad interpolates in it, or its
// default "<job>-<group>[-<task>]".
func serviceName(name, job, group, task string) string {
	if name == "" {
		if task == "" {
			return job + "-" + group
		}
		return job + "-" + group + "-" + task
	}
	if !strings.Contains(name, "${") {
		return name
	}
	return strings.NewReplacer(
		"${NOMAD_JOB_NAME}", job, "${JOB}", job,
		"${NOMAD_GROUP_NAME}", group, "${TASKGROUP}", group,
		"${NOMAD_TASK_NAME}", task, "${TASK}", task,
		"${BASE}", job+"-"+group+"-"+task,
	).Replace(name)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// applyEvent records what an Allocation, Node, Job or Deployment event
// says; it reports whether the event was one of those.
func (f *facts) applyEvent(ev *api.Event) (bool, error) {
	switch ev.Topic {
	case api.TopicAllocation:
		a, err := slim(ev, "Allocation", allocFields).Allocation()
		if err != nil || a == nil {
			return true, fmt.Errorf("nomad: decoding allocation event %q: %w", ev.Key, err)
		}
		f.applyAllocation(a)
	case api.TopicNode:
		n, err := slim(ev, "Node", nodeFields).Node()
		if err != nil || n == nil {
			return true, fmt.Errorf("nomad: decoding node event %q: %w", ev.Key, err)
		}
		if ev.Type == "NodeDeregistration" {
			delete(f.nodes, n.ID)
		} else {
			f.nodes[n.ID] = nodeFacts{draining: n.DrainStrategy != nil || n.Drain, ineligible: n.SchedulingEligibility == api.NodeSchedulingIneligible}
		}
	case api.TopicJob:
		j, err := ev.Job()
		if err != nil || j == nil || j.ID == nil {
			return true, fmt.Errorf("nomad: decoding job event %q: %w", ev.Key, err)
		}
		k := jobKey{deref(j.Namespace), *j.ID}
		if ev.Type == "JobDeregistered" {
			delete(f.checks, k)
			delete(f.intervals, k)
		} else {
			f.setJob(k, j)
		}
	case api.TopicDeployment:
		d, err := ev.Deployment()
		if err != nil || d == nil {
			return true, fmt.Errorf("nomad: decoding deployment event %q: %w", ev.Key, err)
		}
		f.setDeployment(d)
	default:
		return false, nil
	}
	return true, nil
}

// applyAllocation records an allocation event's allocation, and when it
// started (placed or restarted: ready again once its checks pass).
func (f *facts) applyAllocation(a *api.Allocation) {
	// Allocation events carry no job: the version is the one the
	// allocation had, or its deployment's.
	prev, known := f.allocs[a.ID]
	version := prev.jobVersion
	switch {
	case a.Job != nil && a.Job.Version != nil:
		version = *a.Job.Version
	case a.DeploymentID != "":
		if d, ok := f.deploys[a.DeploymentID]; ok {
			version = d.version
		}
	}
	af := allocFactsOf(a.DesiredStatus, a.ClientStatus, a.NodeID, deployKey{a.Namespace, a.JobID, version}, a.DeploymentID, a.CreateIndex, a.TaskGroup, a.DeploymentStatus, a.TaskStates)
	af.fresh = !known || prev.fresh
	if known {
		af.keepUnsaid(a, prev)
	}
	f.allocs[a.ID] = af
	switch {
	case !known && a.ClientStatus == api.AllocClientStatusPending:
		f.starting[a.ID] = time.Now() // placed just now
	case known && (af.restarting || af.restarts > prev.restarts):
		f.starting[a.ID] = time.Now() // restarted: ready again once its checks pass
	case a.ClientStatus != api.AllocClientStatusPending && a.ClientStatus != api.AllocClientStatusRunning:
		delete(f.starting, a.ID) // over before it started
	}
}

// keepUnsaid keeps from prev what the event's allocation a leaves out: a
// plan's events (PlanResult) carry a sparse allocation, and what they leave
// out has not changed.
func (af *allocFacts) keepUnsaid(a *api.Allocation, prev allocFacts) {
	if a.DeploymentStatus == nil && (a.DeploymentID == "" || a.DeploymentID == prev.deployment) {
		af.healthy, af.canary = prev.healthy, prev.canary
	}
	if a.DeploymentID == "" {
		af.deployment = prev.deployment
	}
	if a.TaskStates == nil {
		af.restarts, af.restarting = prev.restarts, prev.restarting
	}
	if a.CreateIndex == 0 {
		af.createIndex = prev.createIndex
	}
	if a.ClientStatus == "" {
		af.client = prev.client
	}
	if a.TaskGroup == "" {
		af.taskGroup = prev.taskGroup
	}
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
	in.Check = f.checks[jobKey{in.Namespace, in.JobID}][in.Service]
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
	case a.client != "" && a.client != api.AllocClientStatusRunning, a.restarting:
		in.Health = catalog.HealthCritical
	case a.healthy != nil && !*a.healthy:
		in.Health = catalog.HealthCritical
	case a.healthy == nil && f.placedByDeployment(a):
		in.Health = catalog.HealthWarning
	}
	if _, ok := f.starting[in.AllocID]; ok && in.Health == catalog.HealthPassing {
		in.Health = catalog.HealthWarning // not ready yet
	}
	// A canary placed by a deployment that is still going and has its
	// canaries unpromoted; the flag an allocation keeps from an earlier
	// deployment (one that updated it in place since) says nothing.
	if a.canary && f.placedByDeployment(a) && f.deploys[f.deploymentOf(a)].canaried[a.taskGroup] {
		in.Canary = true
	}
	return in
}

// stopping reports whether the allocation is being stopped: its desired
// status is stop or evict, or its node is draining or ineligible. An
// unknown allocation is not.
func (f *facts) stopping(allocID string) bool {
	a, ok := f.allocs[allocID]
	if !ok {
		return false
	}
	if a.desired == api.AllocDesiredStatusStop || a.desired == api.AllocDesiredStatusEvict {
		return true
	}
	n, ok := f.nodes[a.nodeID]
	return ok && (n.draining || n.ineligible)
}

// keepDecided carries over from old, the facts of the read before, what
// Nomad never takes back about an allocation of the same job version: its
// deployment's judgement of its health, and that it ran (an allocation
// does not go from running back to pending). A server restored to an older
// state (its index gone backwards: seen on the real Nomad after a restart)
// answers as if neither had happened yet, which would take healthy
// instances out of the pool until the clients report again.
func (f *facts) keepDecided(old facts) {
	for id, a := range f.allocs {
		o, ok := old.allocs[id]
		if !ok || o.job != a.job {
			continue
		}
		if a.healthy == nil && o.healthy != nil {
			a.healthy = o.healthy
		}
		if a.client == api.AllocClientStatusPending && o.client == api.AllocClientStatusRunning {
			a.client = o.client
			delete(f.starting, id)
		}
		f.allocs[id] = a
	}
}

// deploymentOf is the ID of a's deployment: named by its event, or the
// deployment of its job version.
func (f *facts) deploymentOf(a allocFacts) string {
	if a.deployment != "" {
		return a.deployment
	}
	return f.latest[a.job]
}

// placedByDeployment reports whether a deployment placed a (it was created
// with or after the deployment), as opposed to an allocation it updated in
// place, which kept serving. Until the deployment judges such a new
// allocation healthy, it gets no traffic.
func (f *facts) placedByDeployment(a allocFacts) bool {
	d, ok := f.deploys[f.deploymentOf(a)]
	if !ok {
		// An event can name a deployment not seen yet: only an allocation
		// that is new to the source is taken to be its placement.
		return a.deployment != "" && a.fresh
	}
	return a.createIndex >= d.createIndex
}

// derive is in with what the facts say (facts.apply), except while the
// catalog is behind what it said before (a restored older state): an
// instance that was routable then keeps its health and drain state until
// the catalog has caught up, so that a server restart does not take
// healthy instances out of the pool (seen on the real Nomad: 2 to 118
// failed requests). s.mu is held.
func (s *Source) derive(in catalog.Instance) catalog.Instance {
	out := s.facts.apply(in)
	if s.behindUntil != 0 {
		if g, ok := s.lastGood[in.Key()]; ok && (out.Health != g.Health || out.Draining) {
			out.Health, out.Draining = g.Health, g.Draining
		}
	}
	return out
}

// advanceLocked records that the catalog answered at index; it reports
// whether the catalog has now caught up with what it said before it went
// back (and the instances are to be derived afresh).
func (s *Source) advanceLocked(index uint64) bool {
	s.seen = max(s.seen, index)
	if s.behindUntil == 0 || index < s.behindUntil {
		return false
	}
	s.behindUntil, s.lastGood = 0, nil
	return true
}

// deriveLocked recomputes s.instances from the registrations and facts; it
// reports whether they changed.
func (s *Source) deriveLocked() bool {
	next := make(map[svcKey][]catalog.Instance, len(s.base))
	for k, insts := range s.base {
		out := make([]catalog.Instance, len(insts))
		for i, in := range insts {
			out[i] = s.derive(in)
		}
		next[k] = out
	}
	changed := !maps.EqualFunc(s.instances, next, func(a, b []catalog.Instance) bool {
		return slices.EqualFunc(a, b, catalog.Instance.Equal)
	})
	s.instances = next
	return changed
}
