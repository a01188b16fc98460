package tags

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/whiskers-dev/whiskers/syncer/dynamic"
)

// planKeys are keys beyond labels.yml that reach the plan's edge cases.
var planKeys = []string{
	"http.routers.r",                           // the object itself: enable
	"http.routers.R.RULE",                      // case of fields and names
	"http.routers.r.tls",                       // pointer group at the end
	"http.routers.r.tls.domains[2].sans",       // list grown past its length
	"http.routers.r.tls.domains[01].main",      // index spelt with a zero
	"http.services.s.loadbalancer.server.port", // alias of servers[0]
	"http.services.s.loadbalancer.server[0].port",
	"http.services.s.loadbalancer.servers[1].url",
	"http.services.s.loadbalancer.healthcheck",
	"http.middlewares.m.headers.customrequestheaders.X-Foo", // a map below the object: no plan
	"http.middlewares.p.plugin.wasm.socket.path",            // plugin options: no plan
	"http.routers.r.rulez",                                  // unknown option: no plan
	"http.routers.r.rule[0]",                                // index on a scalar
	"http.routers.r.rule.x",                                 // below a leaf
	"http.routers",                                          // a map without a name
	"tls.certificates[0].stores",                            // a list, not a map, at the third segment: no plan…
	"tls.certificates[0].0",                                 // …for this key of the same shape either
	"tls.options.o.minversion",
	"tcp.routers.t.tls.passthrough",
	"udp.services.u.loadbalancer.server.port",
	"ftp.routers.r.rule",
}

// planValues are tried on every key: valid and invalid for most types.
var planValues = []string{"true", "false", "x", "42", "1s", "a,b", ""}

// setBoth applies key=value with Set (plans) on one configuration and with
// set (segment by segment) on the other, and fails if results differ.
func setBoth(t *testing.T, viaPlan, viaSet *dynamic.Configuration, key, value string) {
	t.Helper()
	errPlan := Set(viaPlan, key, value)
	errSet := set(reflect.ValueOf(viaSet).Elem(), key, value)
	if fmt.Sprint(errPlan) != fmt.Sprint(errSet) {
		t.Fatalf("%s=%s: error %v with the plan, %v without", key, value, errPlan, errSet)
	}
	if !reflect.DeepEqual(viaPlan, viaSet) {
		t.Fatalf("%s=%s: configurations differ:\nplan %#v\nset  %#v", key, value, viaPlan, viaSet)
	}
}

// TestPlanMatchesSet checks that a key's cached plan does exactly what the
// walk by segment does, on fresh objects and on existing ones.
func TestPlanMatchesSet(t *testing.T) {
	var keys []string
	for _, l := range readLabels(t) {
		k, _, _ := Split(l)
		keys = append(keys, strings.TrimPrefix(k, "traefik."))
	}
	keys = append(keys, planKeys...)
	planned := 0
	for _, k := range keys {
		if p, _ := planFor(k); p != nil {
			planned++
		}
	}
	if planned < len(keys)/2 {
		t.Fatalf("only %d of %d keys have a plan", planned, len(keys))
	}
	for _, v := range planValues {
		// Fresh: each key alone.
		for _, k := range keys {
			var a, b dynamic.Configuration
			setBoth(t, &a, &b, k, v)
		}
		// Existing: all keys in turn on one configuration, twice.
		var a, b dynamic.Configuration
		for range 2 {
			for _, k := range keys {
				setBoth(t, &a, &b, k, v)
			}
		}
	}
}

// TestPlanConcurrent sets keys of many shapes from several goroutines while
// the cache fills (run with -race).
func TestPlanConcurrent(t *testing.T) {
	lines := readLabels(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range lines {
				l := lines[(i+g*37)%len(lines)]
				k, v, _ := Split(l)
				k = strings.TrimPrefix(k, "traefik.")
				var cfg dynamic.Configuration
				if err := Set(&cfg, k, v); err != nil {
					t.Errorf("Set(%q): %v", k, err)
				}
			}
		})
	}
	wg.Wait()
}

// TestPlanCacheBounded feeds more index spellings than the cache holds.
func TestPlanCacheBounded(t *testing.T) {
	for i := range maxPlans + 10 {
		var cfg dynamic.Configuration
		key := fmt.Sprintf("http.routers.r.tls.domains[%s1].main", strings.Repeat("0", i%200))
		key = strings.Replace(key, "r.", fmt.Sprintf("r%d.", i), 1)
		if err := Set(&cfg, key, "x"); err != nil {
			t.Fatalf("Set(%q): %v", key, err)
		}
		if got := cfg.HTTP.Routers[fmt.Sprintf("r%d", i)].TLS.Domains[1].Main; got != "x" {
			t.Fatalf("Set(%q) set %q", key, got)
		}
	}
	if n := len(*plans.Load()); n > maxPlans {
		t.Fatalf("%d plans cached, want at most %d", n, maxPlans)
	}
}

// FuzzPlanMatchesSet compares Set with plans and the walk by segment on
// arbitrary keys, applied twice to the same configurations.
func FuzzPlanMatchesSet(f *testing.F) {
	for _, l := range readLabels(f) {
		f.Add(l)
	}
	for _, k := range planKeys {
		f.Add("traefik." + k + "=true")
	}
	f.Fuzz(func(t *testing.T, tag string) {
		key, value, _ := Split(tag)
		key = strings.TrimPrefix(key, "traefik.")
		if key == "" || strings.Contains(key, "..") || key[0] == '.' || key[len(key)-1] == '.' {
			return // rejected by Set before any walk
		}
		var a, b dynamic.Configuration
		setBoth(t, &a, &b, key, value)
		setBoth(t, &a, &b, key, value)
	})
}

// TestObjectMapsComplete checks that every map of named objects has typed
// access, and that the typed access is used.
func TestObjectMapsComplete(t *testing.T) {
	root := reflect.TypeFor[dynamic.Configuration]()
	n := 0
	for sec, kinds := range collections {
		sf, _ := fieldOf(root, sec)
		st := root.Field(sf.index).Type.Elem()
		for kind := range kinds {
			kf, _ := fieldOf(st, kind)
			mt := st.Field(kf.index).Type
			if objectMaps[mt] == nil {
				t.Errorf("%s.%s (%s) has no objectMap", sec, kind, mt)
			}
			n++
		}
	}
	if n != len(objectMaps) {
		t.Errorf("%d maps of named objects, %d objectMaps", n, len(objectMaps))
	}
	p, _ := planFor("http.routers.r.rule")
	if p == nil {
		t.Fatal("no plan for a router's rule")
	}
	for _, s := range p.steps {
		if s.op == opObject && s.objs == nil {
			t.Fatalf("plan of a router's rule does not use typed access: %+v", p)
		}
	}
}
