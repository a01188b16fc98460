package builder

import "github.com/whiskers-dev/whiskers/syncer/dynamic"

// assembleUDP completes the UDP part u of the decoded tags d, if they have
// one: a default load balancer named def when no service is tagged, servers
// from members, each router bound to its service. It reports whether the
// tags configure UDP at all.
func assembleUDP(u *dynamic.UDPConfiguration, d *decoded, def string, members []member, report reportFunc) bool {
	if u == nil || !(len(u.Routers) > 0 || len(u.Services) > 0 || d.droppedKind("udp", "routers") || d.droppedKind("udp", "services")) {
		return false
	}
	if len(u.Services) == 0 && !d.droppedKind("udp", "services") {
		u.Services = map[string]*dynamic.UDPService{def: {LoadBalancer: &dynamic.UDPServersLoadBalancer{}}}
	}
	fillLoadBalancers(&udpServerKind, u.Services, d, members, report)
	n := len(u.Services) + d.countDropped("udp", "services")
	for routerName := range sortedKeys(u.Routers) {
		if !bindService(&u.Routers[routerName].Service, n, u.Services, d, "udp", routerName, report) {
			delete(u.Routers, routerName)
		}
	}
	return true
}
