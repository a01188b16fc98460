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
	ReasonBadTags       = "not routed: the service's tags are unusable (see the problems)"
	ReasonPanic         = "routed although not healthy: no healthy instance, and whiskers.zero=panic routes them all"
	ReasonVariantLoser  = "routed; its tags differ from the service's and lost (see the problems)"
	reasonCanaryPattern = "routed as a canary: %d%% of the requests"
	reasonMergedPattern = "routed, merged with %s: the same address is one server"
)

// decide records the decision about every instance of g: eligible are the
// enabled ones, servers those routed, d the winning tags (nil when none is
// usable), win the winning variant.
func (st *state) decide(g group, eligible, servers []member, d *decoded, win *variant) {
	sd := ServiceDecisions{Service: g.shown(), Instances: make([]Decision, 0, len(g.insts))}
	hasStable := slices.ContainsFunc(servers, func(m member) bool { return !m.canary })
	// eligible and servers list their instances in the order of g.insts:
	// one cursor each, no lookup.
	e, r := 0, 0
	for i := range g.insts {
		in := &g.insts[i]
		var m member
		ok := e < len(eligible) && eligible[e].in == in
		if ok {
			m = eligible[e]
			e++
		}
		routed := r < len(servers) && servers[r].in == in
		if routed {
			r++
		}
		dec := Decision{Origin: in.Origin, ID: in.ID, Node: in.Node, Address: in.Address, Port: in.Port}
		switch {
		case !ok:
			dec.Reason = st.b.notEnabled(in)
		case routed && d != nil:
			dec.Routed = true
			switch {
			case !st.b.routable(in):
				dec.Reason = ReasonPanic
			case m.canary && hasStable:
				dec.Reason = fmt.Sprintf(reasonCanaryPattern, d.weight)
			case m.v != nil && m.v != win:
				dec.Reason = ReasonVariantLoser
			default:
				dec.Reason = ReasonRouted
			}
			// The same address from both catalogs (a service registered
			// in each) is one server in Traefik: the routed instances
			// before this one are servers[:r-1], in the same order.
			for _, o := range servers[:r-1] {
				if o.in.Address == in.Address && o.in.Port == in.Port {
					dec.Reason = fmt.Sprintf(reasonMergedPattern, string(o.in.Origin)+"/"+o.in.ID)
					break
				}
			}
		case d == nil:
			dec.Reason = ReasonBadTags
		case in.Draining:
			dec.Reason = ReasonDraining
		case in.Health == catalog.HealthCritical:
			dec.Reason = ReasonCritical
		case in.Health == catalog.HealthWarning:
			dec.Reason = ReasonWarning
		default:
			dec.Reason = "not routed: health " + string(in.Health)
		}
		sd.Instances = append(sd.Instances, dec)
	}
	if st.part != nil {
		sd.Routers = routerNames(st.part)
	}
	st.decisions = sd
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
