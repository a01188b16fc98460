package consul

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/internal/blocking"
)

// AllNamespaces is the namespace that means every one the token may read
// (Consul Enterprise): see NewAllNamespaces.
const AllNamespaces = "*"

// Namespaces watches every namespace of a Consul Enterprise catalog: one
// blocking query on /v1/namespaces, and a Source for each namespace listed,
// started and stopped as namespaces come and go. The connections to the
// agent grow with the namespaces (1 + 4 per namespace), never with the
// services. Create it with NewAllNamespaces; Run it once.
//
// The open-source edition has no namespaces (it answers /v1/namespaces
// with 404): the watch then fails, with an error that says so, and the
// source never becomes ready.
type Namespaces struct {
	opts   Options
	client *api.Client

	mu      sync.Mutex
	sources map[string]*Source // by namespace, the running ones
	listed  bool
}

var _ catalog.Source = (*Namespaces)(nil)

// NewAllNamespaces validates opts (whose Namespace is ignored) and returns a
// source of every namespace; it does not contact Consul.
func NewAllNamespaces(opts Options) (*Namespaces, error) {
	opts.Namespace = ""
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	client, err := api.NewClient(limitConns(opts.Config, 1))
	if err != nil {
		return nil, fmt.Errorf("consul: creating client: %w", err)
	}
	return &Namespaces{opts: opts, client: client, sources: map[string]*Source{}}, nil
}

// Name returns "consul/*".
func (n *Namespaces) Name() string { return string(catalog.OriginConsul) + "/" + AllNamespaces }

// Snapshot returns the instances of every namespace, sorted, and whether the
// namespaces have been listed and each of them read.
func (n *Namespaces) Snapshot() ([]catalog.Instance, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []catalog.Instance
	ready := n.listed
	for _, ns := range slices.Sorted(maps.Keys(n.sources)) {
		insts, ok := n.sources[ns].Snapshot()
		out = append(out, insts...)
		ready = ready && ok
	}
	slices.SortFunc(out, catalog.Compare)
	return out, ready
}

// Run watches the namespace list and every namespace's catalog until ctx is
// done, calling notify (which must not block) whenever the snapshot may have
// changed. It returns nil when ctx is done, after every namespace's watch
// has.
func (n *Namespaces) Run(ctx context.Context, notify func()) error {
	var wg sync.WaitGroup
	stops := map[string]context.CancelFunc{}
	defer func() {
		for _, stop := range stops {
			stop()
		}
		wg.Wait()
	}()
	changed := func(_ context.Context, l namespaceList) error {
		added, err := n.apply(l)
		if err != nil {
			return err
		}
		for ns, stop := range stops {
			if !l.names[ns] {
				stop()
				delete(stops, ns)
			}
		}
		for ns, src := range added {
			nsCtx, stop := context.WithCancel(ctx)
			stops[ns] = stop
			wg.Go(func() { _ = src.Run(nsCtx, notify) })
		}
		notify()
		return nil
	}
	blocking.Run(ctx, blocking.Loop{
		Name: "consul namespaces", Wait: n.opts.WaitTime, MinInterval: n.opts.MinInterval,
		MinBackoff: n.opts.MinBackoff, MaxBackoff: n.opts.MaxBackoff, Grace: n.opts.WatchdogGrace,
		Logger: n.opts.Logger.With("source", "consul"), OnError: n.opts.OnError, OnAnswer: n.opts.OnAnswer,
	}, n.fetch, changed)
	return nil
}

// namespaceList is an answer of /v1/namespaces.
type namespaceList struct {
	names    map[string]bool
	filtered bool // X-Consul-Results-Filtered-By-ACLs
}

func (n *Namespaces) fetch(ctx context.Context, index uint64, wait time.Duration) (namespaceList, uint64, error) {
	q := (&api.QueryOptions{WaitIndex: index, WaitTime: wait, Partition: n.opts.Partition}).WithContext(ctx)
	list, meta, err := n.client.Namespaces().List(q)
	if err != nil {
		var se api.StatusError
		if errors.As(err, &se) && se.Code == 404 {
			return namespaceList{}, 0, fmt.Errorf("consul: listing namespaces: the agent has none (namespaces are a Consul Enterprise feature): %w", err)
		}
		return namespaceList{}, 0, fmt.Errorf("consul: listing namespaces: %w", err)
	}
	l := namespaceList{names: map[string]bool{}, filtered: meta.ResultsFilteredByACLs}
	for _, ns := range list {
		if ns != nil && ns.DeletedAt == nil {
			l.names[ns.Name] = true
		}
	}
	return l, meta.LastIndex, nil
}

// apply makes the sources follow a namespace list: those of namespaces no
// longer listed leave (with their instances), new ones are made and
// returned to be run. A list that the token's ACLs filtered and that would
// drop namespaces whose instances are routed is a fault: nothing changes.
func (n *Namespaces) apply(l namespaceList) (map[string]*Source, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if l.filtered {
		var lost []string
		for ns, src := range n.sources {
			if insts, _ := src.Snapshot(); !l.names[ns] && len(insts) > 0 {
				lost = append(lost, ns)
			}
		}
		if len(lost) > 0 {
			slices.Sort(lost)
			return nil, fmt.Errorf("consul: the token may not read namespaces it could read before (%s): keeping their last instances; "+
				"it needs namespace:read or service:read in them: %w", strings.Join(lost, ", "), ErrFilteredByACLs)
		}
	}
	for ns := range n.sources {
		if !l.names[ns] {
			delete(n.sources, ns)
		}
	}
	added := map[string]*Source{}
	for ns := range l.names {
		if n.sources[ns] != nil {
			continue
		}
		opts := n.opts
		opts.Namespace = ns
		c := *opts.Config // NewClient rewrites Address
		opts.Config = &c
		src, err := New(opts)
		if err != nil {
			return nil, err
		}
		n.sources[ns] = src
		added[ns] = src
	}
	n.listed = true
	return added, nil
}
