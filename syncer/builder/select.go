package builder

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/tags"
)

// member is an enabled instance and the variant of its tags.
type member struct {
	in       *catalog.Instance
	v        *variant
	canary   bool // a canary allocation, or tagged whiskers.canary=true
	routable bool // may receive traffic (Builder.routable)
}

// selection is what the select and decode stages chose for one catalog
// service. Every list keeps the catalog order of the instances.
type selection struct {
	eligible []member // the enabled instances
	winner   *variant // the variant whose tags configure the service
	tags     *decoded // winner's decoded tags; nil when no variant is usable
	servers  []member // the instances that get traffic
}

// variant is a group of instances of one catalog service carrying the same
// relevant tags.
type variant struct {
	key     string
	tags    []string
	n       int    // instances in the pool that decides the winner
	version uint64 // highest job version among them
	first   *catalog.Instance
	d       *decoded // decoded tags; nil until decoded or when they name no object
}

// eligibleMembers returns the enabled instances of g, each marked canary
// or not and routable or not; malformed enable and canary tags are reported.
func (b *Builder) eligibleMembers(g group, problems *problemList) []member {
	eligible := make([]member, 0, len(g.insts))
	for i := range g.insts {
		in := &g.insts[i]
		if !b.enabled(in, problems) {
			continue
		}
		eligible = append(eligible, member{in: in, canary: isCanary(in, problems), routable: b.routable(in)})
	}
	return eligible
}

// routable reports whether in may receive traffic.
func (b *Builder) routable(in *catalog.Instance) bool {
	if in.Draining {
		return false
	}
	switch in.Health {
	case catalog.HealthPassing, "":
		return true
	case catalog.HealthWarning:
		// Consul's warning state. A Nomad instance in it is not ready yet
		// (its checks have not passed since it started, or its deployment
		// has not judged it healthy): no option routes that.
		return b.routeWarning && in.Origin == catalog.OriginConsul
	}
	return false
}

// enabled reports whether the tags of an instance opt it in, as Traefik
// reads them (tags.Enabled); a malformed enable tag is reported.
func (b *Builder) enabled(in *catalog.Instance, problems *problemList) bool {
	en, bad := tags.Enabled(in.Tags, b.prefix, b.exposed)
	if bad != "" {
		problems.add(in.Origin, in.Service, bad, errors.New("want true or false: instance not routed"))
	}
	return en
}

// isCanary reports whether in is a canary: a canary allocation of a Nomad
// deployment, or an instance tagged whiskers.canary=true.
func isCanary(in *catalog.Instance, problems *problemList) bool {
	canary := in.Canary
	for _, tag := range in.Tags {
		if !hasPrefixFold(strings.TrimSpace(tag), whiskersPrefix+".canary") {
			continue
		}
		k, v, _ := tags.Split(tag)
		if !strings.EqualFold(k, whiskersPrefix+".canary") {
			continue
		}
		tagged, err := strconv.ParseBool(v)
		if err != nil {
			problems.add(in.Origin, in.Service, tag, errors.New("want true or false: ignored"))
			continue
		}
		canary = canary || tagged
	}
	return canary
}

// hasPrefixFold is strings.HasPrefix, case-insensitive.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// chooseTags sets sel.winner and sel.tags from the variants of sel.eligible
// and decodes the tags of the other variants, whose instances keep their own
// server port and scheme during a rolling deploy.
func (b *Builder) chooseTags(sel *selection, service string, problems *problemList) {
	variants := b.variants(sel.eligible, tagPool(sel.eligible))
	// The first variant wins, unless its tags have problems and another's
	// have none: a rolling deploy that brings a broken tag keeps the router.
	sel.winner, sel.tags = b.chooseVariant(service, variants, problems)
	if sel.tags == nil {
		return
	}
	win := sel.winner
	if len(variants) > 1 {
		at := ""
		if win.version > 0 {
			at = fmt.Sprintf(" at job version %d", win.version)
		}
		problems.add(win.first.Origin, service, "", fmt.Errorf(
			"instances disagree on tags (%d variants): using those of %d instance(s)%s",
			len(variants), win.n, at))
	}
	for _, m := range sel.eligible {
		if m.v.d == nil && m.v != win {
			if d, err := b.decode(m.v.tags, func(string, error) {}); err == nil {
				m.v.d = d
			}
		}
	}
}

// tagPool returns whether a member's tags compete for the service: those of
// stable instances win over those of canaries, healthy instances over the
// others.
func tagPool(eligible []member) func(*member) bool {
	var healthy, stable, healthyStable int
	for _, m := range eligible {
		if m.routable {
			healthy++
		}
		if !m.canary {
			stable++
			if m.routable {
				healthyStable++
			}
		}
	}
	return func(m *member) bool {
		switch {
		case healthyStable > 0:
			return m.routable && !m.canary
		case healthy > 0:
			return m.routable
		case stable > 0:
			return !m.canary
		}
		return true
	}
}

// variants assigns each member its variant and returns the variants that
// have members in the pool (inPool), the winner first: highest job version,
// then most instances, then the lexically smallest tags.
func (b *Builder) variants(members []member, inPool func(*member) bool) []*variant {
	var byKey map[string]*variant // made when a second tag set shows up
	var prev *member
	for i := range members {
		m := &members[i]
		if prev != nil && slices.Equal(prev.in.Tags, m.in.Tags) {
			m.v = prev.v
			continue
		}
		relevant := b.relevant(m.in.Tags)
		k := strings.Join(relevant, "\n")
		switch {
		case prev == nil:
			m.v = &variant{key: k, tags: relevant}
		case byKey == nil && k == members[0].v.key:
			m.v = members[0].v
		default:
			if byKey == nil {
				byKey = map[string]*variant{members[0].v.key: members[0].v}
			}
			if m.v = byKey[k]; m.v == nil {
				m.v = &variant{key: k, tags: relevant}
				byKey[k] = m.v
			}
		}
		prev = m
	}
	return rankVariants(members, inPool)
}

// rankVariants counts the members in the pool per variant and returns the
// variants that have some, the winner first.
func rankVariants(members []member, inPool func(*member) bool) []*variant {
	var ranked []*variant
	for i := range members {
		m := &members[i]
		if !inPool(m) {
			continue
		}
		if m.v.n == 0 {
			m.v.first = m.in
			ranked = append(ranked, m.v)
		}
		m.v.n++
		m.v.version = max(m.v.version, m.in.JobVersion)
	}
	slices.SortFunc(ranked, func(a, b *variant) int {
		return cmp.Or(
			-cmp.Compare(a.version, b.version),
			-cmp.Compare(a.n, b.n),
			cmp.Compare(a.key, b.key),
		)
	})
	return ranked
}

// relevant returns the sorted, deduplicated tags that shape configuration:
// those with the prefix (but enable) and the whiskers ones (but the canary
// marker, which says what an instance is, not how to route).
func (b *Builder) relevant(all []string) []string {
	out := make([]string, 0, len(all))
	for _, tag := range all {
		k, _, _ := tags.Split(tag)
		if rest, ok := cutPrefix(k, b.prefix); ok {
			if strings.EqualFold(rest, "enable") {
				continue
			}
			out = append(out, strings.TrimSpace(tag))
			continue
		}
		if wk, ok := cutPrefix(k, whiskersPrefix); ok && !strings.EqualFold(wk, "canary") {
			out = append(out, strings.TrimSpace(tag))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// routedMembers returns the eligible members that get traffic: the routable
// ones; when there are none, all of them under whiskers.zero=panic, and
// keep is false under whiskers.zero=drop (the service is not configured).
func routedMembers(eligible []member, zero zeroPolicy) (servers []member, keep bool) {
	servers = make([]member, 0, len(eligible))
	for _, m := range eligible {
		if m.routable {
			servers = append(servers, m)
		}
	}
	if len(servers) == 0 {
		switch zero {
		case zeroRouteAll:
			return eligible, true
		case zeroDropAll:
			return nil, false
		}
	}
	return servers, true
}
