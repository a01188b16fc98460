package builder

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/render"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from the builder's output")

// goldenInput is a testdata/*.input.json file: a catalog.Snapshot plus the
// builder options of the case.
type goldenInput struct {
	Options   Options            `json:"options"`
	Instances []catalog.Instance `json:"instances"`
}

func readInput(t testing.TB, path string) goldenInput {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var in goldenInput
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return in
}

// golden renders the result as the golden file holds it: the problems as
// YAML comments, then the configuration.
func golden(t testing.TB, res Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, p := range res.Problems {
		buf.WriteString("# problem: " + strings.ReplaceAll(p.Error(), "\n", " ") + "\n")
	}
	out, err := render.Marshal(res.Config, render.YAML)
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(out)
	return buf.Bytes()
}

// TestGolden builds each testdata/*.input.json and compares with its
// .golden.yaml; go test ./syncer/builder -update rewrites them.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.input.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) < 8 {
		t.Fatalf("found %d golden inputs, want at least 8", len(inputs))
	}
	for _, path := range inputs {
		name := strings.TrimSuffix(filepath.Base(path), ".input.json")
		t.Run(name, func(t *testing.T) {
			in := readInput(t, path)
			b, err := New(in.Options)
			if err != nil {
				t.Fatal(err)
			}
			got := golden(t, b.Build(catalog.Merge(in.Instances)))

			// Order of instances must not matter.
			shuffled := append([]catalog.Instance(nil), in.Instances...)
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			if again := golden(t, b.Build(catalog.Snapshot{Instances: shuffled})); !bytes.Equal(got, again) {
				t.Fatalf("output depends on instance order:\n%s\n---\n%s", got, again)
			}

			gp := filepath.Join("testdata", name+".golden.yaml")
			if *update {
				if err := os.WriteFile(gp, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(gp)
			if err != nil {
				t.Fatalf("%v (run go test ./syncer/builder -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("output differs from %s (review, then -update):\n--- got\n%s\n--- want\n%s", gp, got, want)
			}
		})
	}
}

// FuzzBuild feeds arbitrary snapshots to Build and every renderer: no panic,
// and the same snapshot gives the same bytes twice.
func FuzzBuild(f *testing.F) {
	inputs, _ := filepath.Glob("testdata/*.input.json")
	for _, p := range inputs {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var in goldenInput
		if json.Unmarshal(data, &in) != nil {
			return
		}
		b, err := New(in.Options)
		if err != nil {
			return
		}
		res := b.Build(catalog.Snapshot{Instances: in.Instances})
		for _, f := range []render.Format{render.YAML, render.JSON, render.TOML} {
			one, err := render.Marshal(res.Config, f)
			if err != nil {
				t.Fatalf("render %s: %v", f, err)
			}
			two, _ := render.Marshal(b.Build(catalog.Snapshot{Instances: in.Instances}).Config, f)
			if !bytes.Equal(one, two) {
				t.Fatalf("two builds of one snapshot differ in %s", f)
			}
		}
	})
}

// FuzzBuildTags builds two catalog services from fuzzed names and tags (the
// tag paths are where input is richest): no panic, and the YAML reads back.
func FuzzBuildTags(f *testing.F) {
	f.Add("web", "traefik.http.routers.r.rule=Host(`a`)", "traefik.http.services.s.loadbalancer.server.port=81", "whiskers.canary=true", uint64(2))
	f.Add("a_b", "traefik.tcp.routers.t.rule=HostSNI(`*`)", "traefik.udp.routers.u.entrypoints=dns", "traefik.http.middlewares.m.plugin.p.x.y=1", uint64(0))
	f.Add("x", "traefik.http.routers.r.tls.domains[3].sans=a,b", "traefik.http.services.s.loadbalancer.server.url=http://x", "whiskers.zero=panic", uint64(1))
	f.Fuzz(func(t *testing.T, name, t1, t2, t3 string, version uint64) {
		b, err := New(Options{})
		if err != nil {
			t.Fatal(err)
		}
		insts := []catalog.Instance{
			{Origin: catalog.OriginNomad, Service: name, ID: "1", Address: "10.0.0.1", Port: 80, Health: catalog.HealthPassing,
				Tags: []string{"traefik.enable=true", t1, t2, t3}, JobVersion: version},
			{Origin: catalog.OriginConsul, Service: name, ID: "2", Address: "10.0.0.2", Port: 80, Health: catalog.HealthPassing,
				Tags: []string{"traefik.enable=true", t1}, Canary: version%2 == 1},
			{Origin: catalog.OriginConsul, Service: name + "2", ID: "3", Address: "10.0.0.3", Port: 80, Health: catalog.HealthCritical,
				Tags: []string{"traefik.enable=true", t2, t3}},
		}
		res := b.Build(catalog.Merge(insts))
		one, err := render.Marshal(res.Config, render.YAML)
		if err != nil {
			t.Fatal(err)
		}
		two, _ := render.Marshal(b.Build(catalog.Merge(insts)).Config, render.YAML)
		if !bytes.Equal(one, two) {
			t.Fatal("two builds of one snapshot differ")
		}
		if _, err := render.Marshal(res.Config, render.JSON); err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Problems {
			_ = p.Error()
		}
	})
}
