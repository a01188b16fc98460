package builder

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/dynamic"
)

// whiskersPrefix starts the tags that whiskers reads on top of Traefik's.
const whiskersPrefix = "whiskers"

// DefaultCanaryWeight is the share (percent) of requests canaries get when
// no whiskers.canary.weight tag says otherwise.
const DefaultCanaryWeight = 10

// onUnlessFalse reads a whiskers switch that is on by default: false turns
// it off; a value that is not a boolean is reported and leaves it on.
func onUnlessFalse(tag, value string, report func(string, error)) bool {
	b, err := strconv.ParseBool(value)
	if err != nil {
		report(tag, errors.New("want true or false: using true"))
		return true
	}
	return b
}

// RetryMiddleware is the middleware that every HTTP router of a catalog
// service gets last in its chain, unless the service is tagged
// whiskers.retry=false or a router already has a retry middleware: Traefik's
// retry, five attempts, no wait. Traefik retries only requests that never
// reached a server (connection refused or reset before the request was
// written), so a request to an instance that was just stopped goes to
// another one, and no request is sent twice. Five attempts, because the
// load balancer does not skip the server that failed: with concurrent
// requests a retry may be handed the same one again (measured with one dead
// server of three and two clients in lock step: 671 of 8818 requests failed
// with two attempts, 81 of 6085 with three, none of 8682 with five).
const RetryMiddleware = "whiskers-retry"

// retryConfig is RetryMiddleware's definition.
func retryConfig() *dynamic.Middleware {
	return &dynamic.Middleware{Retry: &dynamic.Retry{Attempts: 5}}
}

// healthCheckOf is Traefik's health check of servers that all have check c:
// the same request, as often, with the same timeout. (Nomad passes 2xx;
// Traefik 2xx and 3xx.)
func healthCheckOf(c *catalog.Check) *dynamic.ServerHealthCheck {
	hc := &dynamic.ServerHealthCheck{
		Path: cmp.Or(c.Path, "/"), Method: c.Method, Scheme: c.Scheme,
		Interval: dynamic.Duration(c.Interval), Timeout: dynamic.Duration(c.Timeout),
	}
	for k, vs := range c.Headers {
		if len(vs) > 0 {
			if hc.Headers == nil {
				hc.Headers = map[string]string{}
			}
			hc.Headers[k] = vs[0]
		}
	}
	return hc
}

// commonCheck is the check every one of members has, or nil.
func commonCheck(members []member) *catalog.Check {
	if len(members) == 0 || members[0].in.Check == nil {
		return nil
	}
	for _, m := range members[1:] {
		if !m.in.Check.Equal(members[0].in.Check) {
			return nil
		}
	}
	return members[0].in.Check
}

// zeroPolicy is what a catalog service with no healthy instance becomes.
type zeroPolicy string

const (
	zeroKeepRouters zeroPolicy = "503"   // keep routers; the service has no servers, Traefik answers 503
	zeroRouteAll    zeroPolicy = "panic" // route to all instances, healthy or not
	zeroDropAll     zeroPolicy = "drop"  // drop routers and services, as Traefik's providers do (404)
)

// whiskers reads one whiskers.* tag (key without the prefix).
func (d *decoded) whiskers(tag, key, value string, hasEq bool, report func(string, error)) {
	if !hasEq {
		report(tag, errors.New("no '=' in tag: ignored"))
		return
	}
	switch strings.ToLower(key) {
	case "canary.weight":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 || n > 100 {
			report(tag, fmt.Errorf("want 0..100: using %d", DefaultCanaryWeight))
			return
		}
		d.weight, d.weightSet = n, true
	case "retry":
		d.noRetry = !onUnlessFalse(tag, value, report)
	case "healthcheck":
		d.noHealthCheck = !onUnlessFalse(tag, value, report)
	case "zero":
		switch p := zeroPolicy(strings.ToLower(value)); p {
		case zeroKeepRouters, zeroRouteAll, zeroDropAll:
			d.zero = p
		default:
			report(tag, fmt.Errorf("want 503, panic or drop: using 503"))
		}
	default:
		report(tag, errors.New("unknown whiskers tag: ignored"))
	}
}
