package builder

import (
	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/dynamic"
)

// serviceResult is what building one catalog service (in one namespace)
// gives, before it is merged with the others.
type serviceResult struct {
	name      string                 // "name", or "namespace/name"
	origin    catalog.Origin         // catalog of the winning tags' first instance
	config    *dynamic.Configuration // its objects; nil when it has none
	problems  problemList
	decisions ServiceDecisions
}

// problemList collects the problems of one catalog service; the build
// removes duplicates when it merges them.
type problemList []Problem

// add appends a problem.
func (l *problemList) add(origin catalog.Origin, service, tag string, err error) {
	*l = append(*l, Problem{Origin: origin, Service: service, Tag: tag, Err: err})
}

// reportFunc receives a problem of the catalog service being assembled:
// tag is the offending tag, or "".
type reportFunc func(tag string, err error)

// buildService runs the stages of one catalog service: select the enabled
// instances and the tags that win (select.go, decode.go), choose the
// instances that get traffic, assemble the configuration (assemble*.go,
// servers.go, canary.go) and record the decisions (decisions.go).
func (b *Builder) buildService(g group) serviceResult {
	res := serviceResult{name: g.qualifiedName()}
	var sel selection
	sel.eligible = b.eligibleMembers(g, &res.problems)
	if len(sel.eligible) > 0 {
		b.chooseTags(&sel, res.name, &res.problems)
	}
	if sel.tags != nil {
		if servers, keep := routedMembers(sel.eligible, sel.tags.zero); keep {
			sel.servers = servers
			res.origin = sel.winner.first.Origin
			report := func(tag string, err error) { res.problems.add(res.origin, res.name, tag, err) }
			res.config = b.assemble(g, sel.tags, sel.servers, report)
		}
	}
	res.decisions = b.decide(g, sel, res.config)
	return res
}
