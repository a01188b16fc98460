package builder

import (
	"slices"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
)

// group is the instances of one catalog service in one namespace.
type group struct {
	name  string // catalog service name
	ns    string // namespace; "" for the default one ("" or "default" in the catalogs)
	insts []catalog.Instance
}

// qualifiedName is how problems and decisions name the group: "name", or
// "namespace/name".
func (g group) qualifiedName() string {
	if g.ns == "" {
		return g.name
	}
	return g.ns + "/" + g.name
}

// normNS is the namespace ns as groups hold it: "" for the default one.
func normNS(ns string) string {
	if ns == "default" {
		return ""
	}
	return ns
}

// groupInstances splits insts (sorted first if they are not) into catalog
// services, in name order, then namespace order. It does not modify insts.
func groupInstances(insts []catalog.Instance) []group {
	if !slices.IsSortedFunc(insts, catalog.Compare) {
		insts = slices.Clone(insts)
		slices.SortFunc(insts, catalog.Compare)
	}
	names := 0
	for i := range insts {
		if i == 0 || insts[i].Service != insts[i-1].Service {
			names++
		}
	}
	groups := make([]group, 0, names)
	for start := 0; start < len(insts); {
		end := start + 1
		for end < len(insts) && insts[end].Service == insts[start].Service {
			end++
		}
		groups = appendGroups(groups, insts[start:end])
		start = end
	}
	return groups
}

// appendGroups splits the instances of one catalog service (sorted) by
// namespace: the same name in two namespaces is two services, while the
// default namespace of Nomad ("default") and of Consul ("") is one.
func appendGroups(groups []group, insts []catalog.Instance) []group {
	ns := normNS(insts[0].Namespace)
	oneNamespace := true
	for i := range insts {
		if normNS(insts[i].Namespace) != ns {
			oneNamespace = false
			break
		}
	}
	if oneNamespace {
		return append(groups, group{name: insts[0].Service, ns: ns, insts: insts})
	}
	byNS := map[string][]catalog.Instance{}
	for _, in := range insts {
		n := normNS(in.Namespace)
		byNS[n] = append(byNS[n], in)
	}
	for n := range sortedKeys(byNS) {
		groups = append(groups, group{name: insts[0].Service, ns: n, insts: byNS[n]})
	}
	return groups
}
