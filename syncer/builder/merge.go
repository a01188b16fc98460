package builder

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/dynamic"
	"github.com/whiskers-dev/whiskers/syncer/tags"
)

// merge adds the objects of one catalog service to st.cfg. An object that
// another catalog service defined identically is shared; load balancers that
// differ only in servers share one pool (union of servers); any other
// difference drops the object from both, as Traefik does.
func (st *state) merge(service string, origin catalog.Origin, part *dynamic.Configuration) {
	dst := reflect.ValueOf(st.cfg).Elem()
	src := reflect.ValueOf(part).Elem()
	for i := range src.NumField() {
		ss := src.Field(i)
		if ss.IsNil() {
			continue
		}
		ds := dst.Field(i)
		if ds.IsNil() {
			ds.Set(reflect.New(ss.Type().Elem()))
		}
		secName := yamlName(src.Type().Field(i))
		for j := range ss.Elem().NumField() {
			sm := ss.Elem().Field(j)
			if sm.Kind() != reflect.Map || sm.Len() == 0 {
				continue
			}
			dm := ds.Elem().Field(j)
			if dm.IsNil() {
				dm.Set(reflect.MakeMapWithSize(dm.Type(), st.size))
			}
			kind := yamlName(ss.Elem().Type().Field(j))
			keys := sm.MapKeys()
			slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.String(), b.String()) })
			for _, k := range keys {
				path := objKey{i, j, k.String()}
				if st.conflicted[path] {
					st.problem(origin, service, "", fmt.Errorf("%s %q is defined differently by several catalog services: dropped",
						singular(tags.Object{Section: secName, Kind: kind}), k.String()))
					continue
				}
				nv := sm.MapIndex(k)
				old := dm.MapIndex(k)
				if !old.IsValid() {
					dm.SetMapIndex(k, nv)
					st.owners[path] = service
					continue
				}
				if mergeInto(old.Interface(), nv.Interface()) {
					continue
				}
				dm.SetMapIndex(k, reflect.Value{})
				st.conflicted[path] = true
				err := fmt.Errorf("%s %q is defined differently by several catalog services (%s, %s): dropped",
					singular(tags.Object{Section: secName, Kind: kind}), k.String(), st.owners[path], service)
				st.problem(origin, service, "", err)
				st.problem(origin, st.owners[path], "", err)
			}
		}
	}
}

// objKey names an object of the configuration: section and collection by
// field index, then name.
type objKey struct {
	section, kind int
	name          string
}

func yamlName(f reflect.StructField) string {
	n, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return n
}

// mergeInto folds b into a when they may share a name: equal objects, or
// load balancers equal but for their servers (whose union a keeps).
func mergeInto(a, b any) bool {
	switch a := a.(type) {
	case *dynamic.Service:
		b := b.(*dynamic.Service)
		if a.LoadBalancer != nil && b.LoadBalancer != nil {
			x, y := *a.LoadBalancer, *b.LoadBalancer
			x.Servers, y.Servers = nil, nil
			if !reflect.DeepEqual(x, y) || !reflect.DeepEqual(withoutLB(a), withoutLB(b)) {
				return false
			}
			s := append(slices.Clone(a.LoadBalancer.Servers), b.LoadBalancer.Servers...)
			slices.SortFunc(s, func(p, q dynamic.Server) int { return cmp.Compare(p.URL, q.URL) })
			a.LoadBalancer.Servers = slices.CompactFunc(s, func(p, q dynamic.Server) bool { return p.URL == q.URL })
			return true
		}
	case *dynamic.TCPService:
		b := b.(*dynamic.TCPService)
		if a.LoadBalancer != nil && b.LoadBalancer != nil && a.Weighted == nil && b.Weighted == nil {
			x, y := *a.LoadBalancer, *b.LoadBalancer
			x.Servers, y.Servers = nil, nil
			if !reflect.DeepEqual(x, y) {
				return false
			}
			s := append(slices.Clone(a.LoadBalancer.Servers), b.LoadBalancer.Servers...)
			slices.SortFunc(s, func(p, q dynamic.TCPServer) int { return cmp.Compare(p.Address, q.Address) })
			a.LoadBalancer.Servers = slices.CompactFunc(s, func(p, q dynamic.TCPServer) bool { return p.Address == q.Address })
			return true
		}
	case *dynamic.UDPService:
		b := b.(*dynamic.UDPService)
		if a.LoadBalancer != nil && b.LoadBalancer != nil && a.Weighted == nil && b.Weighted == nil {
			s := append(slices.Clone(a.LoadBalancer.Servers), b.LoadBalancer.Servers...)
			slices.SortFunc(s, func(p, q dynamic.UDPServer) int { return cmp.Compare(p.Address, q.Address) })
			a.LoadBalancer.Servers = slices.CompactFunc(s, func(p, q dynamic.UDPServer) bool { return p.Address == q.Address })
			return true
		}
	}
	return reflect.DeepEqual(a, b)
}

func withoutLB(s *dynamic.Service) dynamic.Service {
	c := *s
	c.LoadBalancer = nil
	return c
}
