// Package consulfake is an in-process Consul agent for tests and demos: an
// httptest server that speaks the real HTTP API for the endpoints the syncer
// uses (/v1/catalog/services, /v1/health/service/:name, /v1/health/state,
// and with SetEnterprise /v1/namespaces), with blocking queries (index,
// wait, X-Consul-Index), ACL tokens (403 without the right X-Consul-Token)
// and fault knobs (down, slow, 500, index reset, hang).
//
// Instances enter through Register, Deregister and SetCheck, which may be
// called at any time from any goroutine; the official client
// (github.com/hashicorp/consul/api) reads them back through URL.
package consulfake

import (
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/consul/api"

	"github.com/whiskers-dev/whiskers/syncer/fakes/internal/fault"
)

// Endpoint names under which requests are counted. Health requests are also
// counted per service, as EndpointHealthService+"/"+name.
const (
	EndpointCatalogServices = "catalog/services"
	EndpointHealthService   = "health/service"
	EndpointHealthState     = "health/state"
	EndpointNamespaces      = "namespaces"
)

// Instance is one service instance registered in the fake.
type Instance struct {
	ID        string // service ID, unique in the fake
	Service   string // service name
	Namespace string // Consul Enterprise namespace (SetEnterprise); "" is "default"
	Node      string // node name; "node1" when empty
	Address   string
	Port      int
	Tags      []string
	Meta      map[string]string
}

type entry struct {
	inst   Instance
	status string // aggregated service check status: passing, warning, critical, maintenance
	index  uint64
}

// Server is a fake Consul agent. Create it with New, release it with Close.
type Server struct {
	*fault.Box
	hs *httptest.Server

	mu        sync.Mutex
	index     uint64            // the raft index: bumped by every change
	listIndex uint64            // index of the last registration change (what /v1/catalog/services reports)
	chkIndex  uint64            // index of the last check change (what /v1/health/state/any reports)
	svcIndex  map[string]uint64 // service name → index of its last change
	instances map[string]*entry // by service ID
	dc        string
	hidden    map[string]bool   // services the token's ACLs filter out
	nodes     map[string]string // node → its serfHealth status, when not passing

	enterprise bool            // answers ns and /v1/namespaces (SetEnterprise)
	namespaces map[string]bool // the namespaces, when enterprise
	nsIndex    uint64          // index of the last namespace change

	conns    atomic.Int64 // open client connections
	maxConns atomic.Int64 // the most open at once
	limit    atomic.Int64 // limits.http_max_conns_per_client; 0 is none
}

// New starts a fake Consul agent on a loopback port with no instances.
func New() *Server {
	s := &Server{
		Box:       fault.New(),
		index:     10,
		svcIndex:  map[string]uint64{},
		instances: map[string]*entry{},
		dc:        "dc1",
		hidden:    map[string]bool{},
		nodes:     map[string]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/namespaces", s.params(s.listNamespaces))
	mux.HandleFunc("GET /v1/catalog/services", s.params(s.catalogServices))
	mux.HandleFunc("GET /v1/health/service/{name}", s.params(s.healthService))
	mux.HandleFunc("GET /v1/health/state/{state}", s.params(s.healthState))
	s.hs = httptest.NewUnstartedServer(s.limitConns(mux))
	s.hs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			n := s.conns.Add(1)
			for m := s.maxConns.Load(); n > m && !s.maxConns.CompareAndSwap(m, n); m = s.maxConns.Load() {
			}
		case http.StateClosed, http.StateHijacked:
			s.conns.Add(-1)
		}
	}
	s.limit.Store(DefaultMaxConnsPerClient)
	s.hs.Start()
	return s
}

// SetFiltered makes the token's ACLs filter these services out (or none,
// with no names), as Consul does for a token without service:read on them:
// the answers leave them out, with 200 and the header
// X-Consul-Results-Filtered-By-ACLs: true, not a 403.
func (s *Server) SetFiltered(services ...string) {
	s.mu.Lock()
	clear(s.hidden)
	for _, n := range services {
		s.hidden[n] = true
	}
	s.index++
	s.listIndex = s.index
	s.mu.Unlock()
	s.Broadcast()
}

// DefaultMaxConnsPerClient is Consul's limits.http_max_conns_per_client.
const DefaultMaxConnsPerClient = 200

// SetMaxConnsPerClient sets how many connections one client may hold open
// (all of the fake's clients are on 127.0.0.1); past it a request is
// answered 429, as Consul does. 0 removes the limit.
func (s *Server) SetMaxConnsPerClient(n int) { s.limit.Store(int64(n)) }

// MaxConns reports the most client connections that were open at once.
func (s *Server) MaxConns() int { return int(s.maxConns.Load()) }

// limitConns answers 429 while more connections are open than the limit.
func (s *Server) limitConns(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l := s.limit.Load(); l > 0 && s.conns.Load() > l {
			s.Count("429")
			w.Header().Set("Connection", "close")
			http.Error(w, "Your IP is issuing too many concurrent connections, please rate limit your calls\n", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// URL is the agent's address, e.g. for api.Config.Address or CONSUL_HTTP_ADDR.
func (s *Server) URL() string { return s.hs.URL }

// Close stops the server and releases every blocked request.
func (s *Server) Close() {
	s.Box.Close()
	s.hs.Close()
}

// Index returns the catalog's current index.
func (s *Server) Index() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return s.index }

// Register adds or replaces an instance, with a passing check.
func (s *Server) Register(in Instance) { s.RegisterAll(in) }

// RegisterAll adds or replaces the instances at one raft index, as one
// transaction (/v1/txn) does: the services change together, and a blocking
// query sees them in one answer.
func (s *Server) RegisterAll(ins ...Instance) {
	s.mu.Lock()
	s.index++
	for _, in := range ins {
		if in.Node == "" {
			in.Node = "node1"
		}
		if s.enterprise && !s.namespaces[namespaceOf(in)] {
			s.namespaces[namespaceOf(in)] = true
			s.nsIndex = s.index
		}
		status := "passing"
		if old, ok := s.instances[in.ID]; ok {
			status = old.status
			if old.inst.Service != in.Service {
				s.svcIndex[old.inst.Service] = s.index
			}
		}
		s.instances[in.ID] = &entry{inst: in, status: status, index: s.index}
		s.svcIndex[in.Service] = s.index
	}
	s.listIndex, s.chkIndex = s.index, s.index // their service checks come and go with them
	s.mu.Unlock()
	s.Broadcast()
}

// Deregister removes the instance with this service ID; it reports whether
// there was one.
func (s *Server) Deregister(id string) bool {
	s.mu.Lock()
	e, ok := s.instances[id]
	if ok {
		delete(s.instances, id)
		s.bumpLocked(e.inst.Service)
		s.listIndex, s.chkIndex = s.index, s.index
	}
	s.mu.Unlock()
	if ok {
		s.Broadcast()
	}
	return ok
}

// SetCheck sets the status of the instance's service check: "passing",
// "warning", "critical" or "maintenance". It reports whether the instance
// exists.
func (s *Server) SetCheck(id, status string) bool {
	s.mu.Lock()
	e, ok := s.instances[id]
	if ok && e.status != status {
		e.status = status
		s.bumpLocked(e.inst.Service)
		s.chkIndex = s.index // the catalog's list does not change
	}
	s.mu.Unlock()
	if ok {
		s.Broadcast()
	}
	return ok
}

// SetNodeHealth sets the status of node's serfHealth check (passing,
// warning, critical), as when the agent on that node fails: every
// instance on it then carries the node's check too, and Consul counts it
// in their health. It moves the indexes of the checks and of those
// services.
func (s *Server) SetNodeHealth(node, status string) {
	s.mu.Lock()
	if status == api.HealthPassing {
		delete(s.nodes, node)
	} else {
		s.nodes[node] = status
	}
	for _, e := range s.instances {
		if e.inst.Node == node {
			s.bumpLocked(e.inst.Service)
		}
	}
	s.chkIndex = s.index
	s.mu.Unlock()
	s.Broadcast()
}

// ResetIndex sets the catalog's index (and every service's) to idx, as after
// a restore from snapshot or a new cluster; use a value lower than Index to
// exercise a client's index-reset handling.
func (s *Server) ResetIndex(idx uint64) {
	s.mu.Lock()
	s.index = idx
	s.listIndex, s.chkIndex = idx, idx
	for k := range s.svcIndex {
		s.svcIndex[k] = idx
	}
	s.mu.Unlock()
	s.Broadcast()
}

func (s *Server) bumpLocked(service string) {
	s.index++
	s.svcIndex[service] = s.index
}

func (s *Server) currentListIndex() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return s.listIndex }

func (s *Server) serviceIndex(name string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.svcIndex[name]; ok {
		return i
	}
	return 1
}

func token(r *http.Request) string {
	if t := r.Header.Get("X-Consul-Token"); t != "" {
		return t
	}
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return t
	}
	return r.URL.Query().Get("token")
}

// params refuses what Consul 1.14.8, the open-source edition, refuses
// before reading anything (recorded from the real agent, see
// syncer/consul's TestAgentsAnswerAlike): ns and partition, Enterprise
// features, with 400 (ns is taken after SetEnterprise); a datacenter other
// than its own with 500 "No path to datacenter".
func (s *Server) params(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case q.Has("ns") && !s.isEnterprise():
			http.Error(w, `Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature`, http.StatusBadRequest)
		case q.Has("partition"):
			http.Error(w, `Invalid query parameter: "partition" - Partitions are a Consul Enterprise feature`, http.StatusBadRequest)
		case q.Get("dc") != "" && q.Get("dc") != s.dc:
			http.Error(w, "No path to datacenter", http.StatusInternalServerError)
		default:
			h(w, r)
		}
	}
}

func (s *Server) catalogServices(w http.ResponseWriter, r *http.Request) {
	if !s.Enter(w, r, EndpointCatalogServices, token(r)) {
		return
	}
	idx, wait := fault.Blocking(r)
	if !s.Wait(w, r, token(r), idx, wait, s.currentListIndex) {
		return
	}
	s.mu.Lock()
	out := map[string][]string{}
	filtered := false
	for _, e := range s.instances {
		if !inNamespace(r, e.inst) {
			continue
		}
		if s.hidden[e.inst.Service] {
			filtered = true
			continue
		}
		tags := append(out[e.inst.Service], e.inst.Tags...)
		slices.Sort(tags)
		out[e.inst.Service] = append([]string{}, slices.Compact(tags)...) // [] without tags, as Consul answers
	}
	index := max(s.listIndex, 1)
	s.mu.Unlock()
	if filtered {
		w.Header().Set("X-Consul-Results-Filtered-By-ACLs", "true")
	}
	writeJSON(w, index, out)
}

func (s *Server) healthService(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.Count(EndpointHealthService + "/" + name)
	if !s.Enter(w, r, EndpointHealthService, token(r)) {
		return
	}
	idx, wait := fault.Blocking(r)
	if !s.Wait(w, r, token(r), idx, wait, func() uint64 { return s.serviceIndex(name) }) {
		return
	}
	passingOnly := r.URL.Query().Has("passing")
	s.mu.Lock()
	out := []*api.ServiceEntry{}
	if s.hidden[name] {
		w.Header().Set("X-Consul-Results-Filtered-By-ACLs", "true")
	}
	for _, e := range s.instances {
		if e.inst.Service != name || s.hidden[name] || !inNamespace(r, e.inst) {
			continue
		}
		if passingOnly && e.status != api.HealthPassing {
			continue
		}
		out = append(out, s.entryLocked(e))
	}
	index := s.svcIndex[name]
	if index == 0 {
		index = 1
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *api.ServiceEntry) int { return strings.Compare(a.Service.ID, b.Service.ID) })
	writeJSON(w, index, out)
}

// healthState serves GET /v1/health/state/:state: every check of the
// catalog (each node's serfHealth and each instance's service check) in
// that state ("any" for all), blocking on the checks' own index, which a
// registration without a tag change or a check change moves, and the
// service list's does not (as Consul 1.14 does).
func (s *Server) healthState(w http.ResponseWriter, r *http.Request) {
	if !s.Enter(w, r, EndpointHealthState, token(r)) {
		return
	}
	idx, wait := fault.Blocking(r)
	current := func() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return max(s.chkIndex, 1) }
	if !s.Wait(w, r, token(r), idx, wait, current) {
		return
	}
	state := r.PathValue("state")
	s.mu.Lock()
	out := api.HealthChecks{}
	nodes := map[string]bool{}
	filtered := false
	for _, id := range slices.Sorted(maps.Keys(s.instances)) {
		e := s.instances[id]
		if !inNamespace(r, e.inst) {
			continue
		}
		if s.hidden[e.inst.Service] { // its checks are filtered too, as Consul 1.14 does
			filtered = true
			continue
		}
		checks := s.entryLocked(e).Checks
		if nodes[e.inst.Node] {
			checks = checks[1:] // the node's serfHealth, once
		}
		nodes[e.inst.Node] = true
		for _, c := range checks {
			if state == "any" || c.Status == state {
				out = append(out, c)
			}
		}
	}
	s.mu.Unlock()
	if filtered {
		w.Header().Set("X-Consul-Results-Filtered-By-ACLs", "true")
	}
	writeJSON(w, current(), out)
}

func (s *Server) entryLocked(e *entry) *api.ServiceEntry {
	in := e.inst
	tags := in.Tags
	if tags == nil {
		tags = []string{}
	}
	serf := api.HealthPassing
	if st, ok := s.nodes[in.Node]; ok {
		serf = st
	}
	checks := api.HealthChecks{{
		Node: in.Node, CheckID: "serfHealth", Name: "Serf Health Status", Status: serf,
	}}
	if e.status == api.HealthMaint {
		checks = append(checks, &api.HealthCheck{
			Node: in.Node, CheckID: "_service_maintenance:" + in.ID, Name: "Service Maintenance Mode",
			Status: api.HealthCritical, ServiceID: in.ID, ServiceName: in.Service,
		})
	} else {
		checks = append(checks, &api.HealthCheck{
			Node: in.Node, CheckID: "service:" + in.ID, Name: "Service '" + in.Service + "' check",
			Status: e.status, ServiceID: in.ID, ServiceName: in.Service, ServiceTags: tags, Type: "http",
		})
	}
	ns := ""
	if s.enterprise {
		ns = namespaceOf(in)
		for _, c := range checks {
			c.Namespace = ns
		}
	}
	return &api.ServiceEntry{
		Node: &api.Node{ID: "node-" + in.Node, Node: in.Node, Address: "127.0.0.1", Datacenter: s.dc},
		Service: &api.AgentService{
			ID: in.ID, Service: in.Service, Tags: tags, Meta: in.Meta, Port: in.Port, Address: in.Address,
			Weights: api.AgentWeights{Passing: 1, Warning: 1}, Datacenter: s.dc, Namespace: ns,
			// As Consul 1.14 answers (testdata/consul-1.14.8).
			TaggedAddresses: map[string]api.ServiceAddress{
				"lan_ipv4": {Address: in.Address, Port: in.Port}, "wan_ipv4": {Address: in.Address, Port: in.Port},
			},
			Proxy: &api.AgentServiceConnectProxyConfig{}, Connect: &api.AgentServiceConnect{},
			CreateIndex: e.index, ModifyIndex: e.index,
		},
		Checks: checks,
	}
}

// SetEnterprise makes the fake answer as Consul Enterprise does to
// namespaces (api-docs/namespaces): the ns parameter selects one ("" is
// "default", and "*" every one, as the health endpoints document for
// wildcard reads), /v1/namespaces lists them (a blocking query), and the
// answers carry each instance's and check's Namespace. A namespace exists
// once added or once an instance is registered in it; "default" always
// does.
func (s *Server) SetEnterprise() {
	s.mu.Lock()
	s.enterprise = true
	s.namespaces = map[string]bool{"default": true}
	s.index++
	s.nsIndex = s.index
	s.mu.Unlock()
	s.Broadcast()
}

func (s *Server) isEnterprise() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.enterprise }

// AddNamespace creates a namespace (SetEnterprise first).
func (s *Server) AddNamespace(name string) {
	s.mu.Lock()
	s.index++
	s.namespaces[name] = true
	s.nsIndex = s.index
	s.mu.Unlock()
	s.Broadcast()
}

// DeleteNamespace deletes a namespace and, as Consul does, everything
// registered in it.
func (s *Server) DeleteNamespace(name string) {
	s.mu.Lock()
	s.index++
	delete(s.namespaces, name)
	for id, e := range s.instances {
		if namespaceOf(e.inst) == name {
			delete(s.instances, id)
			s.svcIndex[e.inst.Service] = s.index
		}
	}
	s.nsIndex, s.listIndex, s.chkIndex = s.index, s.index, s.index
	s.mu.Unlock()
	s.Broadcast()
}

func namespaceOf(in Instance) string {
	if in.Namespace == "" {
		return "default"
	}
	return in.Namespace
}

// inNamespace reports whether the request's ns selects the instance (always
// on the open-source edition, which has none and refuses ns).
func inNamespace(r *http.Request, in Instance) bool {
	ns := r.URL.Query().Get("ns")
	if ns == "" {
		ns = "default"
	}
	return ns == "*" || ns == namespaceOf(in)
}

// listNamespaces serves GET /v1/namespaces: 404 on the open-source edition,
// as Consul 1.14.8 answers; with SetEnterprise, the namespaces sorted by
// name, blocking on the index of their last change.
func (s *Server) listNamespaces(w http.ResponseWriter, r *http.Request) {
	if !s.isEnterprise() {
		http.Error(w, "Invalid URL path: not a recognized HTTP API endpoint", http.StatusNotFound)
		return
	}
	if !s.Enter(w, r, EndpointNamespaces, token(r)) {
		return
	}
	idx, wait := fault.Blocking(r)
	current := func() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return max(s.nsIndex, 1) }
	if !s.Wait(w, r, token(r), idx, wait, current) {
		return
	}
	s.mu.Lock()
	out := []*api.Namespace{}
	for _, name := range slices.Sorted(maps.Keys(s.namespaces)) {
		out = append(out, &api.Namespace{Name: name, CreateIndex: s.nsIndex, ModifyIndex: s.nsIndex})
	}
	s.mu.Unlock()
	writeJSON(w, current(), out)
}

func writeJSON(w http.ResponseWriter, index uint64, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Consul-Index", strconv.FormatUint(index, 10))
	h.Set("X-Consul-KnownLeader", "true")
	h.Set("X-Consul-LastContact", "0")
	h.Set("X-Consul-Effective-Consistency", "leader")
	_ = json.NewEncoder(w).Encode(v)
}
