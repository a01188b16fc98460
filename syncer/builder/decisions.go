package builder

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/dynamic"
	"github.com/whiskers-dev/whiskers/syncer/tags"
)

// ServiceDecisions is what a build did with one catalog service: the
// routers its tags gave, and each of its instances.
type ServiceDecisions struct {
	// Service is the catalog service: "name", or "namespace/name".
	Service string `json:"service"`
	// Routers are the routers built for it, as "http:name", "tcp:name" or
	// "udp:name", sorted (before they are merged with other services').
	Routers []string `json:"routers,omitempty"`
	// Instances are its instances in catalog order.
	Instances []Decision `json:"instances"`
}

// Decision is what a build did with one catalog instance, and why.
type Decision struct {
	Origin  catalog.Origin `json:"origin"`
	ID      string         `json:"id"`
	Node    string         `json:"node,omitempty"`
	Address string         `json:"address"` // as registered
	Port    int            `json:"port"`
	Routed  bool           `json:"routed"`
	Reason  string         `json:"reason"`
}

// HostPort is the instance's address and port, "host:port".
func (d Decision) HostPort() string { return net.JoinHostPort(d.Address, strconv.Itoa(d.Port)) }

// Reasons an instance is, or is not, routed.
const (
	ReasonRouted        = "routed"
	ReasonNotEnabled    = "not enabled: no traefik.enable=true tag (and exposedByDefault is off)"
	ReasonDisabled      = "not enabled: traefik.enable=false"
	ReasonBadEnable     = "not enabled: its traefik.enable tag is not a boolean"
	ReasonDraining      = "not routed: allocation stopping or node draining"
	ReasonCritical      = "not routed: check critical"
	ReasonWarning       = "not routed: check warning (routing warnings is off)"
	ReasonNotReady      = "not routed: not ready yet (its Nomad checks have not passed since it started, or its deployment has not judged it healthy)"
	ReasonBadTags       = "not routed: the service's tags are unusable (see the problems)"
	ReasonPanic         = "routed although not healthy: no healthy instance, and whiskers.zero=panic routes them all"
	ReasonVariantLoser  = "routed; its tags differ from the service's and lost (see the problems)"
	reasonCanaryPattern = "routed as a canary: %d%% of the requests"
	reasonMergedPattern = "routed, merged with %s: the same address is one server"
)

// decide records what became of every instance of g, given what the
// select and decode stages chose (sel) and the configuration cfg built from
// it (nil when none).
func (b *Builder) decide(g group, sel selection, cfg *dynamic.Configuration) ServiceDecisions {
	sd := ServiceDecisions{Service: g.qualifiedName(), Instances: make([]Decision, 0, len(g.insts))}
	hasStable := slices.ContainsFunc(sel.servers, func(m member) bool { return !m.canary })
	canaryShare := 0 // the canaries' share, as splitCanaries gives it
	if sel.tags != nil {
		var canaries []member
		for _, m := range sel.servers {
			if m.canary {
				canaries = append(canaries, m)
			}
		}
		canaryShare = canaryWeight(sel.tags, canaries)
	}
	// sel.eligible and sel.servers list their instances in the order of
	// g.insts: one cursor each, no lookup.
	nextEligible, nextServer := 0, 0
	for i := range g.insts {
		in := &g.insts[i]
		eligible := nextEligible < len(sel.eligible) && sel.eligible[nextEligible].in == in
		var m member
		if eligible {
			m = sel.eligible[nextEligible]
			nextEligible++
		}
		routed := nextServer < len(sel.servers) && sel.servers[nextServer].in == in
		if routed {
			nextServer++
		}
		dec := Decision{Origin: in.Origin, ID: in.ID, Node: in.Node, Address: in.Address, Port: in.Port}
		switch {
		case !eligible:
			dec.Reason = b.notEnabled(in)
		case routed && sel.tags != nil:
			dec.Routed = true
			// The routed instances before this one are sel.servers[:nextServer-1].
			dec.Reason = routedReason(m, sel, hasStable, canaryShare, sel.servers[:nextServer-1])
		default:
			dec.Reason = notRoutedReason(in, sel.tags != nil)
		}
		sd.Instances = append(sd.Instances, dec)
	}
	if cfg != nil {
		sd.Routers = routerNames(cfg)
	}
	return sd
}

// routedReason is why m, routed, is routed; canaryShare is the canaries'
// share of requests, before are the instances routed before it.
func routedReason(m member, sel selection, hasStable bool, canaryShare int, before []member) string {
	// The same address from both catalogs (a service registered in each)
	// is one server in Traefik.
	for _, o := range before {
		if o.in.Address == m.in.Address && o.in.Port == m.in.Port {
			return fmt.Sprintf(reasonMergedPattern, string(o.in.Origin)+"/"+o.in.ID)
		}
	}
	switch {
	case !m.routable:
		return ReasonPanic
	case m.canary && hasStable:
		return fmt.Sprintf(reasonCanaryPattern, canaryShare)
	case m.v != nil && m.v != sel.winner:
		return ReasonVariantLoser
	}
	return ReasonRouted
}

// notRoutedReason is why in, enabled, is not routed; usableTags says
// whether its service's tags could be used.
func notRoutedReason(in *catalog.Instance, usableTags bool) string {
	switch {
	case !usableTags:
		return ReasonBadTags
	case in.Draining:
		return ReasonDraining
	case in.Health == catalog.HealthCritical:
		return ReasonCritical
	case in.Health == catalog.HealthWarning && in.Origin == catalog.OriginNomad:
		return ReasonNotReady
	case in.Health == catalog.HealthWarning:
		return ReasonWarning
	}
	return "not routed: health " + string(in.Health)
}

// notEnabled is the reason an instance that is not enabled gives.
func (b *Builder) notEnabled(in *catalog.Instance) string {
	en, bad := tags.Enabled(in.Tags, b.prefix, false)
	switch {
	case bad != "":
		return ReasonBadEnable
	case !en && hasEnableTag(in.Tags, b.prefix):
		return ReasonDisabled
	}
	return ReasonNotEnabled
}

// hasEnableTag reports whether ts has an enable tag of prefix.
func hasEnableTag(ts []string, prefix string) bool {
	return slices.ContainsFunc(ts, func(tag string) bool {
		k, _, _ := tags.Split(tag)
		rest, ok := cutPrefix(k, prefix)
		return ok && strings.EqualFold(rest, "enable")
	})
}

// routerNames lists the routers of c as "http:name", "tcp:name", "udp:name".
func routerNames(c *dynamic.Configuration) []string {
	var out []string
	if c.HTTP != nil {
		for n := range c.HTTP.Routers {
			out = append(out, "http:"+n)
		}
	}
	if c.TCP != nil {
		for n := range c.TCP.Routers {
			out = append(out, "tcp:"+n)
		}
	}
	if c.UDP != nil {
		for n := range c.UDP.Routers {
			out = append(out, "udp:"+n)
		}
	}
	slices.Sort(out)
	return out
}
