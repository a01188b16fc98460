package builder

import (
	"testing"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
)

// TestDecisions: every instance of every catalog service gets a decision,
// and each reason is the one its facts call for.
func TestDecisions(t *testing.T) {
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	on := []string{"traefik.enable=true"}
	inst := func(service, id string, tags []string, f func(*catalog.Instance)) catalog.Instance {
		in := catalog.Instance{Origin: catalog.OriginNomad, Service: service, ID: id, Node: "n-" + id,
			Address: "10.0.0.1", Port: 8000 + len(id), Tags: tags, Health: catalog.HealthPassing}
		if f != nil {
			f(&in)
		}
		return in
	}
	snap := catalog.Merge([]catalog.Instance{
		inst("app", "a-ok", on, nil),
		inst("app", "a-drain", on, func(in *catalog.Instance) { in.Draining = true }),
		inst("app", "a-critical", on, func(in *catalog.Instance) { in.Health = catalog.HealthCritical }),
		inst("app", "a-warning", on, func(in *catalog.Instance) { in.Health = catalog.HealthWarning }),
		inst("app", "a-consul-warning", on, func(in *catalog.Instance) { in.Origin, in.Health = catalog.OriginConsul, catalog.HealthWarning }),
		inst("app", "a-canary", on, func(in *catalog.Instance) { in.Canary = true }),
		inst("app", "a-off", []string{"traefik.enable=false"}, nil),
		inst("app", "a-none", nil, nil),
		inst("app", "a-bad", []string{"traefik.enable=maybe"}, nil),
		inst("panic", "p-1", []string{"traefik.enable=true", "whiskers.zero=panic"}, func(in *catalog.Instance) { in.Health = catalog.HealthCritical }),
		inst("broken", "b-1", []string{"traefik.enable=true", "traefik.http.routers.x.rule="}, nil),
		inst("hidden", "h-1", nil, nil),
		inst("both", "n-1", on, nil),
		inst("both", "c-1", on, func(in *catalog.Instance) { in.Origin, in.Port = catalog.OriginConsul, 8003 }), // n-1's address
		inst("weighted", "w-stable", on, nil),
		// The canary's own tags set its share: the decision says the share
		// the configuration gives it.
		inst("weighted", "w-canary", append([]string{"whiskers.canary.weight=30"}, on...), func(in *catalog.Instance) { in.Canary, in.Port = true, 9000 }),
	})
	res := b.Build(snap)
	want := map[string]struct {
		routed bool
		reason string
	}{
		"a-ok":             {true, ReasonRouted},
		"a-drain":          {false, ReasonDraining},
		"a-critical":       {false, ReasonCritical},
		"a-warning":        {false, ReasonNotReady},
		"a-consul-warning": {false, ReasonWarning},
		"a-canary":         {true, "routed as a canary: 10% of the requests"},
		"a-off":            {false, ReasonDisabled},
		"a-none":           {false, ReasonNotEnabled},
		"a-bad":            {false, ReasonBadEnable},
		"p-1":              {true, ReasonPanic},
		"b-1":              {true, ReasonRouted},
		"h-1":              {false, ReasonNotEnabled},
		"c-1":              {true, ReasonRouted},
		"n-1":              {true, "routed, merged with consul/c-1: the same address is one server"},
		"w-stable":         {true, ReasonRouted},
		"w-canary":         {true, "routed as a canary: 30% of the requests"},
	}
	services := map[string][]string{}
	seen := 0
	for _, sd := range res.Services {
		services[sd.Service] = sd.Routers
		for _, d := range sd.Instances {
			seen++
			w, ok := want[d.ID]
			if !ok {
				t.Errorf("%s: unexpected instance %s", sd.Service, d.ID)
				continue
			}
			if d.Routed != w.routed || d.Reason != w.reason {
				t.Errorf("%s/%s: routed %v %q, want %v %q", sd.Service, d.ID, d.Routed, d.Reason, w.routed, w.reason)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("%d decisions, want %d", seen, len(want))
	}
	if r := services["app"]; len(r) != 1 || r[0] != "http:app" {
		t.Errorf("app routers %v, want [http:app]", r)
	}
	if r, ok := services["hidden"]; !ok || len(r) != 0 {
		t.Errorf("hidden: routers %v (listed %v), want listed without routers", r, ok)
	}
}
