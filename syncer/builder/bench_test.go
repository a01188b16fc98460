package builder

import (
	"fmt"
	"testing"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/render"
)

// snapshot10k is 10 000 services × 3 instances, half from Nomad and half
// from Consul, each with a router rule, entry points, a middleware and a
// health check, as a large cluster would tag them.
func snapshot10k() catalog.Snapshot { return snapshotN(10_000, true) }

// snapshotN is n services × 3 instances; with rich tags each service also
// names its router, entry point, a middleware and a health check, else it
// only opts in and gets Traefik's defaults (default rule from the template).
func snapshotN(n int, rich bool) catalog.Snapshot {
	var insts []catalog.Instance
	for s := range n {
		name := fmt.Sprintf("app-%05d", s)
		origin := catalog.OriginNomad
		if s%2 == 1 {
			origin = catalog.OriginConsul
		}
		tags := []string{"traefik.enable=true"}
		if rich {
			tags = []string{
				"traefik.enable=true",
				"traefik.http.routers." + name + ".rule=Host(`" + name + ".example.com`)",
				"traefik.http.routers." + name + ".entrypoints=websecure",
				"traefik.http.routers." + name + ".middlewares=" + name + "-strip",
				"traefik.http.middlewares." + name + "-strip.stripprefix.prefixes=/api",
				"traefik.http.services." + name + ".loadbalancer.healthcheck.path=/healthz",
			}
		}
		for i := range 3 {
			insts = append(insts, catalog.Instance{
				Origin:  origin,
				Service: name,
				ID:      fmt.Sprintf("%s-%d", name, i),
				Address: fmt.Sprintf("10.%d.%d.%d", i, s/256, s%256),
				Port:    20000 + i,
				Tags:    tags,
				Health:  catalog.HealthPassing,
			})
		}
	}
	return catalog.Merge(insts)
}

// BenchmarkBuild10k builds and renders (YAML) the configuration of 10 000
// services × 3 instances. Targets: < 100 ms/op, < 100 MB/op.
func BenchmarkBuild10k(b *testing.B) {
	snap := snapshot10k()
	bld, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res := bld.Build(snap)
		if len(res.Problems) != 0 {
			b.Fatalf("problems: %v", res.Problems[0])
		}
		out, err := render.Marshal(res.Config, render.YAML)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}

// BenchmarkBuildOnly10k is BenchmarkBuild10k without rendering.
func BenchmarkBuildOnly10k(b *testing.B) {
	snap := snapshot10k()
	bld, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		bld.Build(snap)
	}
}

// BenchmarkBuild10kMinimal is BenchmarkBuild10k with services that only opt
// in (traefik.enable=true) and get the default router and rule.
func BenchmarkBuild10kMinimal(b *testing.B) {
	snap := snapshotN(10_000, false)
	bld, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res := bld.Build(snap)
		out, err := render.Marshal(res.Config, render.YAML)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}
