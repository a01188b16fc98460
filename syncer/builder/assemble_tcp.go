package builder

import (
	"fmt"

	"github.com/whiskers-dev/whiskers/syncer/dynamic"
)

// assembleTCP completes the TCP part t of the decoded tags d, if they have
// one: a default load balancer named def when no service is tagged, servers
// from members, each router bound to its service. Routers without a rule are
// dropped. It reports whether the tags configure TCP at all.
func assembleTCP(t *dynamic.TCPConfiguration, d *decoded, def string, members []member, report reportFunc) bool {
	if t == nil || !(len(t.Routers) > 0 || len(t.Services) > 0 || d.droppedKind("tcp", "routers") || d.droppedKind("tcp", "services")) {
		return false
	}
	if len(t.Services) == 0 && !d.droppedKind("tcp", "services") {
		t.Services = map[string]*dynamic.TCPService{def: {LoadBalancer: &dynamic.TCPServersLoadBalancer{}}}
	}
	fillLoadBalancers(&tcpServerKind, t.Services, d, members, report)
	n := len(t.Services) + d.countDropped("tcp", "services")
	for routerName := range sortedKeys(t.Routers) {
		r := t.Routers[routerName]
		if r.Rule == "" {
			delete(t.Routers, routerName)
			report("", fmt.Errorf("tcp router %q dropped: it has no rule (TCP routers need one, e.g. HostSNI(`*`))", routerName))
			continue
		}
		if !bindService(&r.Service, n, t.Services, d, "tcp", routerName, report) {
			delete(t.Routers, routerName)
		}
	}
	return true
}

// dropTCPRoutersWithDroppedMiddleware drops the TCP routers of t (may be
// nil) that use a middleware d dropped.
func dropTCPRoutersWithDroppedMiddleware(t *dynamic.TCPConfiguration, d *decoded, report reportFunc) {
	if t == nil {
		return
	}
	for routerName := range sortedKeys(t.Routers) {
		if m, ok := droppedMiddleware(t.Routers[routerName].Middlewares, d, "tcp"); ok {
			delete(t.Routers, routerName)
			report("", fmt.Errorf("tcp router %q dropped: its middleware %q was dropped", routerName, m))
		}
	}
}
