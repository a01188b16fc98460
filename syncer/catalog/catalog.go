// Package catalog holds the snapshot model that every catalog source produces
// and the builder consumes: a flat, sorted list of service instances, with the
// origin (Consul or Nomad) and health of each.
//
// Data enters through a Source (syncer/consul, syncer/nomad, or a fake), which
// keeps the latest instances it has seen and signals changes; it leaves through
// Snapshot, which the syncer hands to the pure builder (syncer/builder).
package catalog

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"time"
)

// Origin names the catalog an instance was read from.
type Origin string

// The catalogs whiskers reads.
const (
	OriginConsul Origin = "consul"
	OriginNomad  Origin = "nomad"
)

// Health is the aggregated health of one instance, as Consul reports it.
// Nomad instances without checks are Passing.
type Health string

// Health values, ordered from best to worst.
const (
	HealthPassing  Health = "passing"
	HealthWarning  Health = "warning"
	HealthCritical Health = "critical"
)

// Instance is one registered instance of a catalog service.
type Instance struct {
	Origin     Origin            `json:"origin"`
	Service    string            `json:"service"`             // catalog service name
	Namespace  string            `json:"namespace,omitempty"` // Nomad namespace or Consul namespace; "" means default
	ID         string            `json:"id"`                  // unique within Origin: Consul ServiceID, Nomad registration ID
	Node       string            `json:"node,omitempty"`      // node name (Consul) or node ID (Nomad)
	Datacenter string            `json:"datacenter,omitempty"`
	Address    string            `json:"address"`
	Port       int               `json:"port"`
	Tags       []string          `json:"tags,omitempty"`
	Meta       map[string]string `json:"meta,omitempty"`
	Health     Health            `json:"health"`

	// Deployment facts, filled where the catalog knows them (Nomad).
	AllocID    string `json:"allocID,omitempty"`
	JobID      string `json:"jobID,omitempty"`
	JobVersion uint64 `json:"jobVersion,omitempty"`
	Canary     bool   `json:"canary,omitempty"`   // a canary allocation of an unpromoted deployment
	Draining   bool   `json:"draining,omitempty"` // on a draining or ineligible node, or desired status stop/evict

	// Check is the HTTP check the catalog runs against the instance (Nomad:
	// the first http check of its service in the job), from which the
	// builder makes Traefik's health check of the servers; nil if none.
	Check *Check `json:"check,omitempty"`
}

// Check is an HTTP health check of an instance, on its own address and
// port.
type Check struct {
	Path     string              `json:"path"`
	Method   string              `json:"method,omitempty"` // "" is GET
	Scheme   string              `json:"scheme,omitempty"` // "" is http
	Interval time.Duration       `json:"interval"`
	Timeout  time.Duration       `json:"timeout"`
	Headers  map[string][]string `json:"headers,omitempty"`
}

// Equal reports whether c and o are the same check (both may be nil).
func (c *Check) Equal(o *Check) bool {
	if c == nil || o == nil {
		return c == o
	}
	return c.Path == o.Path && c.Method == o.Method && c.Scheme == o.Scheme && c.Interval == o.Interval &&
		c.Timeout == o.Timeout && maps.EqualFunc(c.Headers, o.Headers, slices.Equal)
}

// Key identifies an instance across catalogs.
func (i Instance) Key() string {
	return string(i.Origin) + "/" + i.Namespace + "/" + i.ID
}

// Equal reports whether i and o are the same instance with the same facts.
func (i Instance) Equal(o Instance) bool {
	return i.Origin == o.Origin && i.Service == o.Service && i.Namespace == o.Namespace && i.ID == o.ID &&
		i.Node == o.Node && i.Datacenter == o.Datacenter && i.Address == o.Address && i.Port == o.Port &&
		slices.Equal(i.Tags, o.Tags) && maps.Equal(i.Meta, o.Meta) && i.Health == o.Health &&
		i.AllocID == o.AllocID && i.JobID == o.JobID && i.JobVersion == o.JobVersion &&
		i.Canary == o.Canary && i.Draining == o.Draining && i.Check.Equal(o.Check)
}

// Snapshot is the state of all enabled catalogs at one moment. Instances are
// sorted by Compare so that equal catalogs give equal snapshots.
type Snapshot struct {
	Instances []Instance `json:"instances"`
}

// Compare orders instances by service, namespace, origin, then ID.
func Compare(a, b Instance) int {
	return cmp.Or(
		cmp.Compare(a.Service, b.Service),
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Origin, b.Origin),
		cmp.Compare(a.ID, b.ID),
		cmp.Compare(a.Address, b.Address),
		cmp.Compare(a.Port, b.Port),
	)
}

// Merge returns a snapshot of the instances of all parts, sorted. It does not
// modify its arguments.
func Merge(parts ...[]Instance) Snapshot {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	all := make([]Instance, 0, n)
	for _, p := range parts {
		all = append(all, p...)
	}
	slices.SortFunc(all, Compare)
	return Snapshot{Instances: all}
}

// Source is one catalog being watched.
//
// Run watches the catalog until ctx is done and calls notify (which must not
// block) whenever its instances may have changed. Snapshot returns the last
// instances read successfully, and whether a first complete read has
// happened; after a fault it keeps returning the last good instances.
// Snapshot is safe to call from any goroutine while Run is running.
type Source interface {
	Name() string
	Run(ctx context.Context, notify func()) error
	Snapshot() (instances []Instance, ready bool)
}

// Annotator is a Source that knows more about instances that other sources
// read: the Nomad source knows which allocations are being stopped or sit
// on draining nodes, also those whose services Nomad registered in Consul.
// The runner hands it the merged instances before every build.
//
// Annotate returns instances with what the source knows added (it does
// not change those of its own origin, nor the slice it was given), and
// remembers which of them it may have more to say about: when that
// changes, its Run calls notify.
type Annotator interface {
	Annotate(instances []Instance) []Instance
}

// nomadTaskPrefix begins the service IDs Nomad gives its registrations, in
// its own catalog and in Consul: _nomad-task-<allocation ID>-….
const nomadTaskPrefix = "_nomad-task-"

// NomadAllocID returns the ID of the Nomad allocation that registered the
// service with this ID, or "" when Nomad did not register it.
func NomadAllocID(serviceID string) string {
	rest, ok := strings.CutPrefix(serviceID, nomadTaskPrefix)
	if !ok || len(rest) < 36 {
		return ""
	}
	id := rest[:36]
	for i, c := range id {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return ""
			}
		case !('0' <= c && c <= '9' || 'a' <= c && c <= 'f'):
			return ""
		}
	}
	return id
}
