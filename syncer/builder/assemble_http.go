package builder

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/whiskers-dev/whiskers/syncer/dynamic"
	"github.com/whiskers-dev/whiskers/syncer/tags"
)

// httpTagged reports whether the decoded tags d configure HTTP (h is their
// HTTP part, may be nil).
func httpTagged(h *dynamic.HTTPConfiguration, d *decoded) bool {
	return h != nil && (len(h.Routers) > 0 || len(h.Services) > 0 || len(h.Middlewares) > 0) ||
		d.droppedKind("http", "routers") || d.droppedKind("http", "services") || d.droppedKind("http", "middlewares")
}

// assembleHTTP completes the HTTP part h of the decoded tags d of catalog
// service g: a default load balancer and router named def when none is
// tagged, servers from members, the default rule, each router bound to its
// service, RetryMiddleware, and canaries split from stable instances.
func (b *Builder) assembleHTTP(h *dynamic.HTTPConfiguration, g group, d *decoded, def string, members []member, report reportFunc) {
	if len(h.Services) == 0 && !d.droppedKind("http", "services") {
		h.Services = map[string]*dynamic.Service{def: {LoadBalancer: &dynamic.ServersLoadBalancer{PassHostHeader: ptr(true)}}}
	}
	fillHTTPLoadBalancers(h, d, members, report)
	n := len(h.Services) + d.countDropped("http", "services")
	if len(h.Routers) == 0 && !d.droppedKind("http", "routers") {
		switch {
		case n > 1:
			report("", fmt.Errorf("no default router: %d services, and no router names one", n))
		case len(h.Services) == 1:
			h.Routers = map[string]*dynamic.Router{def: {}}
		}
	}
	b.completeHTTPRouters(h, g, d, n, members, report)
	addRetry(h, d)
	splitCanaries(h, d, members, report)
}

// fillHTTPLoadBalancers gives each load balancer of h its servers
// (httpServers) and Traefik's default of passHostHeader; a load balancer
// whose servers cannot be made is dropped. The catalog's own HTTP check
// becomes Traefik's health check of the servers, where the tags set none
// and the servers are the checked address and port.
func fillHTTPLoadBalancers(h *dynamic.HTTPConfiguration, d *decoded, members []member, report reportFunc) {
	for name := range sortedKeys(h.Services) {
		lb := h.Services[name].LoadBalancer
		if lb == nil {
			continue
		}
		if lb.PassHostHeader == nil {
			lb.PassHostHeader = ptr(true) // Traefik's default, written out for every reader
		}
		servers, err := httpServers(name, d, members, report)
		if err != nil {
			delete(h.Services, name)
			d.drop(tags.Object{Section: "http", Kind: "services", Name: name})
			report("", fmt.Errorf("service %q dropped: %w", name, err))
			continue
		}
		lb.Servers = servers
		if tmpl := d.httpTemplates[name]; lb.HealthCheck == nil && !d.noHealthCheck && tmpl.URL == "" && tmpl.Port == "" {
			if c := commonCheck(members); c != nil {
				lb.HealthCheck = healthCheckOf(c)
			}
		}
	}
}

// completeHTTPRouters gives each router of h without a rule the default
// rule, and without a service the only one (n counts the services including
// the dropped ones); it drops the routers for which either fails and those
// that use a dropped middleware.
func (b *Builder) completeHTTPRouters(h *dynamic.HTTPConfiguration, g group, d *decoded, n int, members []member, report reportFunc) {
	var data *ruleData // made for the first router without a rule
	for routerName := range sortedKeys(h.Routers) {
		r := h.Routers[routerName]
		if r.Rule == "" {
			if data == nil {
				data = &ruleData{Name: g.name, Namespace: g.ns, Labels: b.labels(d.tags), Tags: firstTags(members)}
			}
			rule, err := b.defaultRule(data)
			if err != nil {
				delete(h.Routers, routerName)
				report("", fmt.Errorf("router %q dropped: %w", routerName, err))
				continue
			}
			r.Rule = rule
		}
		if !bindService(&r.Service, n, h.Services, d, "http", routerName, report) {
			delete(h.Routers, routerName)
			continue
		}
		if m, ok := droppedMiddleware(r.Middlewares, d, "http"); ok {
			delete(h.Routers, routerName)
			report("", fmt.Errorf("router %q dropped: its middleware %q was dropped", routerName, m))
		}
	}
}

// ruleData is what the default rule template sees.
type ruleData struct {
	Name      string            // catalog service name
	Namespace string            // catalog namespace, "" for the default one ("default" in Nomad)
	Labels    map[string]string // tags with the prefix, keys rewritten to "traefik.…"
	Tags      []string          // all tags of the instance
}

// defaultRule is the default rule template run on data; it fails when the
// template does, or gives a rule Traefik would reject.
func (b *Builder) defaultRule(data *ruleData) (string, error) {
	var buf bytes.Buffer
	if err := b.rule.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("default rule: %w", err)
	}
	rule := buf.String()
	if strings.TrimSpace(rule) == "" {
		return "", errors.New("default rule is empty")
	}
	if strings.Contains(rule, "``") {
		// Traefik rejects matchers with an empty argument: a template value was empty.
		return "", fmt.Errorf("default rule %s has an empty argument", rule)
	}
	return rule, nil
}

// labels maps the prefixed tags to their values, keys rewritten to
// "traefik.…" as Traefik's providers show them to the default rule.
func (b *Builder) labels(relevant []string) map[string]string {
	m := make(map[string]string, len(relevant))
	for _, tag := range relevant {
		k, v, _ := tags.Split(tag)
		if rest, ok := cutPrefix(k, b.prefix); ok {
			m["traefik."+rest] = v
		}
	}
	return m
}

// firstTags is all tags of the first of members, nil when there is none.
func firstTags(members []member) []string {
	if len(members) == 0 {
		return nil
	}
	return members[0].in.Tags
}

// addRetry appends RetryMiddleware to the HTTP routers that route to a load
// balancer of this catalog service and have no retry middleware of their
// own, and defines it, unless d opts out.
func addRetry(h *dynamic.HTTPConfiguration, d *decoded) {
	if d.noRetry {
		return
	}
	for _, r := range h.Routers {
		if svc := h.Services[r.Service]; svc == nil || svc.LoadBalancer == nil {
			continue // another provider's service, or a weighted one of tagged services
		}
		if slices.ContainsFunc(r.Middlewares, func(m string) bool {
			mw := h.Middlewares[m]
			return m == RetryMiddleware || mw != nil && mw.Retry != nil
		}) {
			continue
		}
		r.Middlewares = append(r.Middlewares, RetryMiddleware)
		if h.Middlewares == nil {
			h.Middlewares = map[string]*dynamic.Middleware{}
		}
		h.Middlewares[RetryMiddleware] = retryConfig()
	}
}
