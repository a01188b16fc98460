// Package builder turns a catalog snapshot into Traefik dynamic configuration.
//
// It is the one place where catalogs become configuration: a
// catalog.Snapshot (instances of Consul and Nomad services, with their tags
// and health) goes in, a *dynamic.Configuration and the list of tag problems
// come out. The builder is pure: no I/O, no clock, no logging; the same
// snapshot always gives the same configuration. Callers log Result.Problems.
//
// Tags follow Traefik's Consul Catalog and Nomad providers (see docs/sync.md,
// "Tags" section): opt in with traefik.enable=true, then
// traefik.http|tcp|udp.routers|services|middlewares.<name>.<option>=<value>.
//
// Build runs these stages, each a set of functions that return values:
//
//  1. group (group.go): the instances of the snapshot, by catalog service
//     and namespace. Each group is then built on its own (service.go,
//     buildService), in parallel for large snapshots (build.go, forEach).
//  2. select (select.go): the enabled instances, which are canaries, and
//     the variants of their tags, ranked; the instances that get traffic.
//  3. decode (decode.go; whiskers.go for whiskers.* tags): tags into a
//     configuration; the first variant whose tags decode cleanly wins.
//  4. assemble (assemble.go, then assemble_tcp.go, assemble_udp.go,
//     assemble_http.go): Traefik's defaults per protocol, the default rule,
//     routers bound to services, RetryMiddleware.
//  5. servers (servers.go): one generic loop makes every protocol's servers
//     from the instances.
//  6. canary split (canary.go): an HTTP load balancer over canaries and
//     stable instances becomes a weighted service over the two.
//  7. decisions (decisions.go): what became of each instance, and why.
//  8. merge (merge.go): each catalog service's result, in name order, into
//     the one configuration (build.go, accumulator).
package builder

import (
	"fmt"
	"text/template"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/dynamic"
)

// DefaultPrefix is the tag prefix Traefik's providers use.
const DefaultPrefix = "traefik"

// DefaultRule is Traefik's default router rule template.
const DefaultRule = "Host(`{{ normalize .Name }}`)"

// Options configure a Builder. The zero value is Traefik's defaults.
type Options struct {
	// Prefix is the tag prefix; "" means "traefik". Tags of other prefixes are ignored.
	Prefix string
	// ExposedByDefault routes services without traefik.enable=true.
	// traefik.enable=false always excludes a service.
	ExposedByDefault bool
	// DefaultRule is the text/template of the rule of a router without one;
	// "" means DefaultRule. It sees .Name (catalog service name), .Labels
	// (tags as key→value), .Tags and .Namespace, and the functions described
	// in docs/sync.md (normalize, lower, upper, replace, trimPrefix, trimSuffix).
	DefaultRule string
	// RouteWarning also routes Consul instances whose health is warning.
	RouteWarning bool
}

// Builder builds configurations. It is immutable after New and safe for
// concurrent use by several goroutines.
type Builder struct {
	prefix       string
	exposed      bool
	rule         *template.Template
	routeWarning bool
}

// New validates opts (the rule template must parse) and returns a Builder.
func New(opts Options) (*Builder, error) {
	b := &Builder{
		prefix:       opts.Prefix,
		exposed:      opts.ExposedByDefault,
		routeWarning: opts.RouteWarning,
	}
	if b.prefix == "" {
		b.prefix = DefaultPrefix
	}
	rule := opts.DefaultRule
	if rule == "" {
		rule = DefaultRule
	}
	t, err := template.New("defaultRule").Funcs(funcs).Option("missingkey=error").Parse(rule)
	if err != nil {
		return nil, fmt.Errorf("builder: parsing default rule %q: %w", rule, err)
	}
	b.rule = t
	return b, nil
}

// Result is what Build returns: the configuration and the problems met on
// the way. Problems never stop a build; each one cost at most the router,
// service or middleware (or catalog service) it names.
type Result struct {
	Config   *dynamic.Configuration
	Problems []Problem
	// Services says, per catalog service in name order, what became of
	// each of its instances and why: routed, or not and the reason.
	Services []ServiceDecisions
}

// Problem is a tag, or a set of tags, that could not be used.
type Problem struct {
	Origin  catalog.Origin // catalog the tag came from
	Service string         // catalog service name; "namespace/name" outside the default namespace
	Tag     string         // the offending tag, "" when the problem is not one tag
	Err     error          // what is wrong and what was dropped
}

// Error describes the problem in one line.
func (p Problem) Error() string {
	if p.Tag == "" {
		return fmt.Sprintf("%s service %q: %v", p.Origin, p.Service, p.Err)
	}
	return fmt.Sprintf("%s service %q: tag %q: %v", p.Origin, p.Service, p.Tag, p.Err)
}

// String is Error.
func (p Problem) String() string { return p.Error() }

// Unwrap returns Err.
func (p Problem) Unwrap() error { return p.Err }
