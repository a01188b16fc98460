// Package nomadfake is an in-process Nomad agent for tests and demos: an
// httptest server that speaks the real HTTP API for the endpoints the syncer
// uses — native service registrations (/v1/services, /v1/service/:name) with
// blocking queries (index, wait, X-Nomad-Index), and the event stream
// (/v1/event/stream, NDJSON events and {} heartbeats) — with ACL tokens (403
// without the right X-Nomad-Token) and fault knobs (down, slow, 500, index
// reset, hang).
//
// Registrations enter through Register and Deregister (or SeedRecorded, which
// loads responses recorded from a real agent), at any time from any
// goroutine; the official client (github.com/hashicorp/nomad/api) reads them
// back through URL.
package nomadfake

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/whiskers-dev/whiskers/syncer/fakes/internal/fault"
)

// Endpoint names under which requests are counted. Service reads are also
// counted per service, as EndpointService+"/"+name.
const (
	EndpointServices    = "services"
	EndpointService     = "service"
	EndpointEventStream = "event/stream"
	EndpointAllocations = "allocations"
	EndpointNodes       = "nodes"
	EndpointDeployments = "deployments"
	EndpointJob         = "job"
	EndpointAllocChecks = "client/allocation/checks"
)

//go:embed testdata/*.json
var recorded embed.FS

// Server is a fake Nomad agent. Create it with New, release it with Close.
type Server struct {
	*fault.Box
	hs *httptest.Server

	mu        sync.Mutex
	index     uint64
	svcIndex  uint64                              // the index of the service registrations table, which /v1/services blocks on
	regs      map[string]*api.ServiceRegistration // by registration ID
	allocs    map[string]*api.Allocation          // by allocation ID
	nodes     map[string]*api.Node                // by node ID
	deploys   map[string]*api.Deployment          // by deployment ID
	jobs      map[string]*api.Job                 // by namespace + "/" + job ID
	checks    map[string]api.AllocCheckStatuses   // by allocation ID
	events    []api.Events                        // the event buffer, by index
	heartbeat time.Duration
	streamOff bool
	gen       int             // bumped by ResetIndex: open streams end, as on a restart
	denied    map[string]bool // endpoints the token may not read
}

// New starts a fake Nomad agent on a loopback port with no registrations. The
// event stream sends a heartbeat every 10 s, as Nomad does; see SetHeartbeat.
func New() *Server {
	s := &Server{
		Box: fault.New(), index: 100, heartbeat: 10 * time.Second,
		regs: map[string]*api.ServiceRegistration{}, allocs: map[string]*api.Allocation{},
		nodes: map[string]*api.Node{}, deploys: map[string]*api.Deployment{}, jobs: map[string]*api.Job{},
		checks: map[string]api.AllocCheckStatuses{},
		denied: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/services", s.services)
	mux.HandleFunc("GET /v1/service/{name}", s.service)
	mux.HandleFunc("GET /v1/event/stream", s.stream)
	mux.HandleFunc("GET /v1/allocations", s.allocations)
	mux.HandleFunc("GET /v1/nodes", s.nodesList)
	mux.HandleFunc("GET /v1/deployments", s.deployments)
	mux.HandleFunc("GET /v1/job/{id}", s.job)
	mux.HandleFunc("GET /v1/client/allocation/{id}/checks", s.allocChecks)
	s.hs = httptest.NewServer(mux)
	return s
}

// URL is the agent's address, e.g. for api.Config.Address or NOMAD_ADDR.
func (s *Server) URL() string { return s.hs.URL }

// Close stops the server and releases every blocked request and stream.
func (s *Server) Close() {
	s.Box.Close()
	s.hs.Close()
}

// SetHeartbeat sets the interval of the event stream's {} heartbeats.
func (s *Server) SetHeartbeat(d time.Duration) { s.mu.Lock(); s.heartbeat = d; s.mu.Unlock() }

// SetDenied makes an endpoint (EndpointNodes, EndpointAllocations,
// EndpointDeployments or EndpointJob) answer 403, and so the event stream when its topic is
// asked for, as with a token whose policy lacks that capability.
func (s *Server) SetDenied(endpoint string, denied bool) {
	s.mu.Lock()
	s.denied[endpoint] = denied
	s.mu.Unlock()
}

func (s *Server) isDenied(endpoint string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.denied[endpoint]
}

// SetStreamDisabled makes /v1/event/stream answer 500, as an agent whose
// event broker is disabled does; clients must fall back to blocking queries.
func (s *Server) SetStreamDisabled(off bool) { s.mu.Lock(); s.streamOff = off; s.mu.Unlock() }

// Index returns the current index.
func (s *Server) Index() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return s.index }

// SeedRecorded registers the service registrations recorded from a real Nomad
// agent (services hello-nomad and redis, from Traefik's Nomad provider tests).
func (s *Server) SeedRecorded() error {
	for _, f := range []string{"testdata/service_hello.json", "testdata/service_redis.json"} {
		b, err := recorded.ReadFile(f)
		if err != nil {
			return fmt.Errorf("nomadfake: reading %s: %w", f, err)
		}
		var regs []*api.ServiceRegistration
		if err := json.Unmarshal(b, &regs); err != nil {
			return fmt.Errorf("nomadfake: decoding %s: %w", f, err)
		}
		for _, r := range regs {
			s.Register(*r)
		}
	}
	return nil
}

// Register adds or replaces a service registration (keyed by ID) and
// publishes a ServiceRegistration event. Namespace defaults to "default",
// Datacenter to "dc1".
func (s *Server) Register(reg api.ServiceRegistration) {
	if reg.Namespace == "" {
		reg.Namespace = "default"
	}
	if reg.Datacenter == "" {
		reg.Datacenter = "dc1"
	}
	s.mu.Lock()
	s.index++
	if old, ok := s.regs[reg.ID]; ok {
		reg.CreateIndex = old.CreateIndex
	} else {
		reg.CreateIndex = s.index
	}
	reg.ModifyIndex = s.index
	s.svcIndex = s.index
	r := reg
	s.regs[reg.ID] = &r
	s.publishLocked("ServiceRegistration", &r)
	s.mu.Unlock()
	s.Broadcast()
}

// Deregister removes the registration with this ID and publishes a
// ServiceDeregistration event; it reports whether there was one.
func (s *Server) Deregister(id string) bool {
	s.mu.Lock()
	r, ok := s.regs[id]
	if ok {
		s.index++
		s.svcIndex = s.index
		delete(s.regs, id)
		s.publishLocked("ServiceDeregistration", r)
	}
	s.mu.Unlock()
	if ok {
		s.Broadcast()
	}
	return ok
}

// ResetIndex sets the index to idx and forgets the event buffer, as a cluster
// restored from a snapshot or rebuilt would; use a value lower than Index to
// exercise a client's index-reset handling. Open event streams are closed.
func (s *Server) ResetIndex(idx uint64) {
	s.mu.Lock()
	s.index, s.svcIndex = idx, min(s.svcIndex, idx)
	s.events = nil
	s.gen++
	for _, r := range s.regs {
		r.ModifyIndex = min(r.ModifyIndex, idx)
		r.CreateIndex = min(r.CreateIndex, idx)
	}
	s.mu.Unlock()
	s.Broadcast()
}

func (s *Server) publishLocked(typ string, r *api.ServiceRegistration) {
	s.publishTopicLocked(api.TopicService, typ, r.ServiceName, "Service", r)
}

// publishTopicLocked appends an event of topic carrying v as payload[field].
func (s *Server) publishTopicLocked(topic api.Topic, typ, key, field string, v any) {
	var payload map[string]any
	b, _ := json.Marshal(map[string]any{field: v})
	_ = json.Unmarshal(b, &payload)
	s.events = append(s.events, api.Events{Index: s.index, Events: []api.Event{{
		Topic: topic, Type: typ, Key: key, Index: s.index, Payload: payload,
	}}})
	if len(s.events) > 1000 {
		s.events = slices.Delete(s.events, 0, len(s.events)-1000)
	}
}

// SetAllocation adds or replaces an allocation (keyed by ID; Namespace
// defaults to "default"; CreateIndex is kept, or set when it is new) and
// publishes an AllocationUpdated event.
func (s *Server) SetAllocation(a api.Allocation) {
	if a.Namespace == "" {
		a.Namespace = "default"
	}
	s.mu.Lock()
	s.index++
	a.ModifyIndex = s.index
	if old, ok := s.allocs[a.ID]; ok && a.CreateIndex == 0 {
		a.CreateIndex = old.CreateIndex
	} else if a.CreateIndex == 0 {
		a.CreateIndex = s.index
	}
	s.allocs[a.ID] = &a
	ev := a
	ev.Job = nil // Nomad leaves the job out of allocation events
	s.publishTopicLocked(api.TopicAllocation, "AllocationUpdated", a.ID, "Allocation", &ev)
	s.mu.Unlock()
	s.Broadcast()
}

// SetNode adds or replaces a client node (keyed by ID) and publishes a
// NodeRegistration event; set DrainStrategy or SchedulingEligibility
// "ineligible" to drain it.
func (s *Server) SetNode(n api.Node) {
	if n.SchedulingEligibility == "" {
		n.SchedulingEligibility = "eligible"
	}
	if n.Status == "" {
		n.Status = "ready"
	}
	s.mu.Lock()
	s.index++
	n.ModifyIndex = s.index
	s.nodes[n.ID] = &n
	s.publishTopicLocked(api.TopicNode, "NodeRegistration", n.ID, "Node", &n)
	s.mu.Unlock()
	s.Broadcast()
}

// SetDeployment adds or replaces a deployment (keyed by ID; Namespace
// defaults to "default"; CreateIndex is kept, or set when it is new) and
// publishes a DeploymentStatusUpdate event.
func (s *Server) SetDeployment(d api.Deployment) {
	if d.Namespace == "" {
		d.Namespace = "default"
	}
	s.mu.Lock()
	s.index++
	d.ModifyIndex = s.index
	if old, ok := s.deploys[d.ID]; ok && d.CreateIndex == 0 {
		d.CreateIndex = old.CreateIndex
	} else if d.CreateIndex == 0 {
		d.CreateIndex = s.index
	}
	s.deploys[d.ID] = &d
	s.publishTopicLocked(api.TopicDeployment, "DeploymentStatusUpdate", d.ID, "Deployment", &d)
	s.mu.Unlock()
	s.Broadcast()
}

// SetAllocChecks sets the results of an allocation's Nomad checks, as its
// client reports them (GET /v1/client/allocation/:id/checks); an
// allocation without any has none.
func (s *Server) SetAllocChecks(allocID string, checks api.AllocCheckStatuses) {
	s.mu.Lock()
	s.checks[allocID] = checks
	s.mu.Unlock()
}

func (s *Server) allocChecks(w http.ResponseWriter, r *http.Request) {
	if !s.Enter(w, r, EndpointAllocChecks, token(r)) {
		return
	}
	s.mu.Lock()
	out := s.checks[r.PathValue("id")]
	idx := s.index
	s.mu.Unlock()
	if out == nil {
		out = api.AllocCheckStatuses{}
	}
	writeJSON(w, idx, out)
}

// SetJob adds or replaces a job (keyed by namespace and ID; Namespace
// defaults to "default") and publishes a JobRegistered event carrying it,
// as Nomad does on every registration.
func (s *Server) SetJob(j api.Job) {
	if j.Namespace == nil {
		j.Namespace = ptr("default")
	}
	s.mu.Lock()
	s.index++
	j.ModifyIndex = ptr(s.index)
	s.jobs[*j.Namespace+"/"+*j.ID] = &j
	s.publishTopicLocked(api.TopicJob, "JobRegistered", *j.ID, "Job", &j)
	s.mu.Unlock()
	s.Broadcast()
}

func ptr[T any](v T) *T { return &v }

// job serves GET /v1/job/:id: the job, or 404.
func (s *Server) job(w http.ResponseWriter, r *http.Request) {
	if !s.Enter(w, r, EndpointJob, token(r)) {
		return
	}
	if s.isDenied(EndpointJob) {
		http.Error(w, "Permission denied", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	j, ok := s.jobs[namespace(r)+"/"+r.PathValue("id")]
	idx := s.index
	s.mu.Unlock()
	if !ok {
		http.Error(w, "job not found", http.StatusNotFound)
		return
	}
	writeJSON(w, idx, j)
}

// blockingList serves a list endpoint with blocking-query semantics: build
// runs under the lock with the request's namespace and returns the body.
func (s *Server) blockingList(w http.ResponseWriter, r *http.Request, endpoint string, build func(ns string) any) {
	s.blockingListAt(w, r, endpoint, s.currentIndex, build)
}

// blockingListAt is blockingList for a list whose index is current's, as
// each of Nomad's tables has its own.
func (s *Server) blockingListAt(w http.ResponseWriter, r *http.Request, endpoint string, current func() uint64, build func(ns string) any) {
	if !s.Enter(w, r, endpoint, token(r)) {
		return
	}
	if s.isDenied(endpoint) {
		http.Error(w, "Permission denied", http.StatusForbidden)
		return
	}
	idx, wait := fault.Blocking(r)
	if !s.Wait(w, r, token(r), idx, wait, current) {
		return
	}
	ns := namespace(r)
	out := func() any { s.mu.Lock(); defer s.mu.Unlock(); return build(ns) }()
	writeJSON(w, current(), out)
}

func (s *Server) allocations(w http.ResponseWriter, r *http.Request) {
	s.blockingList(w, r, EndpointAllocations, func(ns string) any {
		out := []*api.AllocationListStub{}
		for _, id := range sortedKeys(s.allocs) {
			if a := s.allocs[id]; ns == "*" || a.Namespace == ns {
				out = append(out, allocStub(a))
			}
		}
		return out
	})
}

// allocStub is a.Stub() without its dereferences of optional job fields.
func allocStub(a *api.Allocation) *api.AllocationListStub {
	stub := &api.AllocationListStub{
		ID: a.ID, EvalID: a.EvalID, Name: a.Name, Namespace: a.Namespace, NodeID: a.NodeID, NodeName: a.NodeName,
		JobID: a.JobID, TaskGroup: a.TaskGroup, DesiredStatus: a.DesiredStatus, DesiredDescription: a.DesiredDescription,
		ClientStatus: a.ClientStatus, ClientDescription: a.ClientDescription, DeploymentStatus: a.DeploymentStatus,
		TaskStates: a.TaskStates, FollowupEvalID: a.FollowupEvalID,
		CreateIndex: a.CreateIndex, ModifyIndex: a.ModifyIndex, CreateTime: a.CreateTime, ModifyTime: a.ModifyTime,
	}
	if a.Job != nil {
		if a.Job.Type != nil {
			stub.JobType = *a.Job.Type
		}
		if a.Job.Version != nil {
			stub.JobVersion = *a.Job.Version
		}
	}
	return stub
}

func (s *Server) nodesList(w http.ResponseWriter, r *http.Request) {
	s.blockingList(w, r, EndpointNodes, func(string) any {
		out := []*api.NodeListStub{}
		for _, id := range sortedKeys(s.nodes) {
			n := s.nodes[id]
			out = append(out, &api.NodeListStub{
				ID: n.ID, Name: n.Name, Datacenter: n.Datacenter, NodeClass: n.NodeClass, NodePool: n.NodePool,
				Drain: n.DrainStrategy != nil, SchedulingEligibility: n.SchedulingEligibility, Status: n.Status,
				CreateIndex: n.CreateIndex, ModifyIndex: n.ModifyIndex,
			})
		}
		return out
	})
}

func (s *Server) deployments(w http.ResponseWriter, r *http.Request) {
	s.blockingList(w, r, EndpointDeployments, func(ns string) any {
		out := []*api.Deployment{}
		for _, id := range sortedKeys(s.deploys) {
			if d := s.deploys[id]; ns == "*" || d.Namespace == ns {
				out = append(out, d)
			}
		}
		return out
	})
}

func (s *Server) currentIndex() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return s.index }

func token(r *http.Request) string {
	if t := r.Header.Get("X-Nomad-Token"); t != "" {
		return t
	}
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return t
	}
	return ""
}

func namespace(r *http.Request) string {
	if ns := r.URL.Query().Get("namespace"); ns != "" {
		return ns
	}
	return "default"
}

// services serves GET /v1/services, blocking on the registrations' own
// index as Nomad does (an allocation or node change does not wake it).
func (s *Server) services(w http.ResponseWriter, r *http.Request) {
	svcIndex := func() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return max(s.svcIndex, 1) }
	s.blockingListAt(w, r, EndpointServices, svcIndex, func(ns string) any {
		byNS := map[string]map[string][]string{}
		for _, reg := range s.regs {
			if ns != "*" && reg.Namespace != ns {
				continue
			}
			if byNS[reg.Namespace] == nil {
				byNS[reg.Namespace] = map[string][]string{}
			}
			tags := append(byNS[reg.Namespace][reg.ServiceName], reg.Tags...)
			slices.Sort(tags)
			byNS[reg.Namespace][reg.ServiceName] = slices.Compact(tags)
		}
		out := []*api.ServiceRegistrationListStub{}
		for _, n := range sortedKeys(byNS) {
			stub := &api.ServiceRegistrationListStub{Namespace: n}
			for _, name := range sortedKeys(byNS[n]) {
				tags := byNS[n][name]
				if tags == nil {
					tags = []string{}
				}
				stub.Services = append(stub.Services, &api.ServiceRegistrationStub{ServiceName: name, Tags: tags})
			}
			out = append(out, stub)
		}
		return out
	})
}

func (s *Server) service(w http.ResponseWriter, r *http.Request) {
	name, ns := r.PathValue("name"), namespace(r)
	s.Count(EndpointService + "/" + name)
	if !s.Enter(w, r, EndpointService, token(r)) {
		return
	}
	current := func() uint64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		var m uint64 = 1
		for _, reg := range s.regs {
			if reg.ServiceName == name && (ns == "*" || reg.Namespace == ns) {
				m = max(m, reg.ModifyIndex)
			}
		}
		return m
	}
	idx, wait := fault.Blocking(r)
	if !s.Wait(w, r, token(r), idx, wait, current) {
		return
	}
	s.mu.Lock()
	out := []*api.ServiceRegistration{}
	for _, reg := range s.regs {
		if reg.ServiceName == name && (ns == "*" || reg.Namespace == ns) {
			c := *reg
			out = append(out, &c)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *api.ServiceRegistration) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(w, current(), out)
}

// stream serves /v1/event/stream: buffered events above the requested index
// first, then new ones as they happen, with heartbeats in between. The
// Service, Allocation, Node, Deployment and Job topics are published.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if !s.Enter(w, r, EndpointEventStream, token(r)) {
		return
	}
	s.mu.Lock()
	off, hb, gen := s.streamOff, s.heartbeat, s.gen
	s.mu.Unlock()
	if off {
		http.Error(w, "event broker disabled", http.StatusInternalServerError)
		return
	}
	want := streamTopics(r)
	if s.streamDenied(want) {
		http.Error(w, "Permission denied", http.StatusForbidden)
		return
	}
	next, _ := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	out := &eventWriter{w: w, enc: json.NewEncoder(w)}
	out.flush()
	ticker := time.NewTicker(hb)
	defer ticker.Stop()
	for {
		changed := s.Changed()
		if !s.streamUsable(w, r, gen) {
			return
		}
		var ok bool
		if next, ok = out.send(s.eventsAfter(next), next, want); !ok {
			return
		}
		select {
		case <-changed:
		case <-ticker.C:
			if !out.heartbeat() {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.Quit():
			fault.Drop(w)
			return
		}
	}
}

// streamTopics is the set of topics a stream request asks for; none is
// every topic, as Nomad does.
func streamTopics(r *http.Request) map[api.Topic]bool {
	want := map[api.Topic]bool{}
	for _, t := range r.URL.Query()["topic"] {
		topic, _, _ := strings.Cut(t, ":")
		want[api.Topic(topic)] = true
	}
	if len(want) == 0 {
		want[api.TopicAll] = true
	}
	return want
}

// streamDenied reports whether the token may not read a topic asked for
// (the stream then answers 403, as Nomad does).
func (s *Server) streamDenied(want map[api.Topic]bool) bool {
	for topic, endpoint := range map[api.Topic]string{
		api.TopicNode: EndpointNodes, api.TopicAllocation: EndpointAllocations, api.TopicDeployment: EndpointDeployments,
		api.TopicJob: EndpointJob,
	} {
		if (want[topic] || want[api.TopicAll]) && s.isDenied(endpoint) {
			return true
		}
	}
	return false
}

// streamUsable applies the fault knobs to an open stream: broken or
// restarted (another generation) drops it; hung holds it silent until the
// client gives up. It reports whether the stream may go on.
func (s *Server) streamUsable(w http.ResponseWriter, r *http.Request, gen int) bool {
	if s.Broken(token(r)) {
		fault.Drop(w)
		return false
	}
	if s.Hung() { // partitioned: no events, no heartbeats, until the client gives up
		select {
		case <-r.Context().Done():
		case <-s.Quit():
		}
		return false
	}
	s.mu.Lock()
	restarted := s.gen != gen
	s.mu.Unlock()
	if restarted {
		fault.Drop(w)
		return false
	}
	return true
}

// eventsAfter returns the buffered batches above index, oldest first.
func (s *Server) eventsAfter(index uint64) []api.Events {
	s.mu.Lock()
	defer s.mu.Unlock()
	var batch []api.Events
	for _, ev := range s.events {
		if ev.Index > index {
			batch = append(batch, ev)
		}
	}
	return batch
}

// eventWriter writes an event stream: one JSON object per line, flushed.
type eventWriter struct {
	w   http.ResponseWriter
	enc *json.Encoder
}

func (e *eventWriter) flush() {
	if fl, ok := e.w.(http.Flusher); ok {
		fl.Flush()
	}
}

// send writes the batches of the wanted topics and returns the index of the
// last batch (next if none); false when the client is gone.
func (e *eventWriter) send(batches []api.Events, next uint64, want map[api.Topic]bool) (uint64, bool) {
	for _, ev := range batches {
		next = ev.Index
		if !want[api.TopicAll] && !want[ev.Events[0].Topic] {
			continue
		}
		if err := e.enc.Encode(ev); err != nil {
			return next, false
		}
	}
	if len(batches) > 0 {
		e.flush()
	}
	return next, true
}

// heartbeat writes Nomad's empty heartbeat object; false when the client
// is gone.
func (e *eventWriter) heartbeat() bool {
	if _, err := e.w.Write([]byte("{}\n")); err != nil {
		return false
	}
	e.flush()
	return true
}

func writeJSON(w http.ResponseWriter, index uint64, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Nomad-Index", strconv.FormatUint(index, 10))
	h.Set("X-Nomad-KnownLeader", "true")
	h.Set("X-Nomad-LastContact", "0")
	_ = json.NewEncoder(w).Encode(v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
