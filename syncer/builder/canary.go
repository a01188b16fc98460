package builder

import (
	"fmt"
	"slices"

	"github.com/whiskers-dev/whiskers/syncer/dynamic"
)

// splitCanaries turns each HTTP load balancer whose servers include both
// canaries and stable instances into a weighted service of the same name
// over "<name>-stable" and "<name>-canary", the canaries getting
// canaryWeight percent of requests. Routers keep pointing at the same name,
// so promotion (no canaries left) folds the service back into a plain load
// balancer.
func splitCanaries(h *dynamic.HTTPConfiguration, d *decoded, members []member, report reportFunc) {
	if !slices.ContainsFunc(members, func(m member) bool { return m.canary }) {
		return
	}
	var stable, canary []member
	for _, m := range members {
		if m.canary {
			canary = append(canary, m)
		} else {
			stable = append(stable, m)
		}
	}
	if len(canary) == 0 || len(stable) == 0 {
		return
	}
	for name := range sortedKeys(h.Services) {
		svc := h.Services[name]
		if svc.LoadBalancer == nil || d.httpTemplates[name].URL != "" {
			continue
		}
		stableName, canaryName := name+"-stable", name+"-canary"
		if h.Services[stableName] != nil || h.Services[canaryName] != nil {
			report("", fmt.Errorf("service %q: canaries not split: %q or %q is already a service", name, stableName, canaryName))
			continue
		}
		stableServers, _ := httpServers(name, d, stable, report)
		canaryServers, _ := httpServers(name, d, canary, report)
		if len(stableServers) == 0 || len(canaryServers) == 0 {
			continue
		}
		stableLB, canaryLB := *svc.LoadBalancer, *svc.LoadBalancer
		stableLB.Servers, canaryLB.Servers = stableServers, canaryServers
		weight := canaryWeight(d, canary)
		h.Services[stableName] = &dynamic.Service{LoadBalancer: &stableLB}
		h.Services[canaryName] = &dynamic.Service{LoadBalancer: &canaryLB}
		h.Services[name] = &dynamic.Service{Weighted: &dynamic.WeightedRoundRobin{Services: []dynamic.WRRService{
			{Name: stableName, Weight: ptr(100 - weight)},
			{Name: canaryName, Weight: ptr(weight)},
		}}}
	}
}

// canaryWeight is the share (percent) of requests the canaries get: that of
// the first canary whose own tags set whiskers.canary.weight, else that of
// the winning tags d.
func canaryWeight(d *decoded, canary []member) int {
	for _, m := range canary {
		if m.v.d != nil && m.v.d.weightSet {
			return m.v.d.weight // the canaries' own tags say how much traffic they want
		}
	}
	return d.weight
}
