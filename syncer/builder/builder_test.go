package builder

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/whiskers-dev/whiskers/syncer/catalog"
	"github.com/whiskers-dev/whiskers/syncer/render"
	"github.com/whiskers-dev/whiskers/syncer/tags"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		err  bool
	}{
		{"defaults", Options{}, false},
		{"custom rule", Options{DefaultRule: "Host(`{{ lower .Name }}.example.com`)"}, false},
		{"unparsable rule", Options{DefaultRule: "Host(`{{ .Name `)"}, true},
		{"unknown function", Options{DefaultRule: "{{ sprig .Name }}"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := New(tc.opts)
			if (err != nil) != tc.err {
				t.Fatalf("New = %v, want error %v", err, tc.err)
			}
			if err == nil && b == nil {
				t.Fatal("New returned nil without error")
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"web": "web", "my_app.v2": "my-app-v2", "__x__": "x", "a--b": "a-b", "Ünïcode/Tëst": "Ünïcode-Tëst", "": "", "___": "",
		"-a": "a", "a-": "a", "app-00001": "app-00001", "A-b-C": "A-b-C", "-": "", "a-b--": "a-b",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProblemError(t *testing.T) {
	p := Problem{Origin: catalog.OriginConsul, Service: "web", Tag: "traefik.http.routers.r.priority=x", Err: errors.New("bad")}
	if got, want := p.Error(), `consul service "web": tag "traefik.http.routers.r.priority=x": bad`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if p.String() != p.Error() || !errors.Is(p, p.Err) {
		t.Fatal("String or Unwrap disagree with Error")
	}
	p.Tag = ""
	if got, want := p.Error(), `consul service "web": bad`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func one(service string, ts ...string) catalog.Snapshot {
	return catalog.Snapshot{Instances: []catalog.Instance{{
		Origin: catalog.OriginConsul, Service: service, ID: service + "-1",
		Address: "10.0.0.1", Port: 8080, Health: catalog.HealthPassing, Tags: ts,
	}}}
}

func TestDefaultRuleFailures(t *testing.T) {
	tests := []struct {
		name, rule, want string
	}{
		{"execution error", "Host(`{{ .Nope }}`)", "default rule"},
		{"empty rule", "{{ if false }}x{{ end }}", "default rule is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := New(Options{DefaultRule: tc.rule})
			if err != nil {
				t.Fatal(err)
			}
			res := b.Build(one("web", "traefik.enable=true", "traefik.http.routers.explicit.rule=Host(`x`)", "traefik.http.routers.implicit.entrypoints=web"))
			if res.Config.HTTP == nil || res.Config.HTTP.Routers["explicit"] == nil {
				t.Fatalf("router with its own rule was dropped: %+v", res.Config.HTTP)
			}
			if res.Config.HTTP.Routers["implicit"] != nil {
				t.Fatal("router whose default rule failed was kept")
			}
			if len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Error(), tc.want) {
				t.Fatalf("problems = %v, want one containing %q", res.Problems, tc.want)
			}
		})
	}
}

func TestEmptySnapshot(t *testing.T) {
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := b.Build(catalog.Snapshot{})
	out, err := render.Marshal(res.Config, render.YAML)
	if err != nil || string(out) != "{}\n" || len(res.Problems) != 0 {
		t.Fatalf("empty snapshot gave %q, %v, %v", out, err, res.Problems)
	}
}

// TestEveryTraefikLabelThroughBuild puts each line of Traefik's labels.yml
// on an enabled service: the build must report no problem and the line must
// change the output.
func TestEveryTraefikLabelThroughBuild(t *testing.T) {
	raw, err := os.ReadFile("../tags/testdata/labels.yml")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	if err := yaml.Unmarshal(raw, &lines); err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	base, err := render.Marshal(b.Build(one("svc", "traefik.enable=true")).Config, render.YAML)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range lines {
		t.Run(line, func(t *testing.T) {
			t.Parallel()
			k, v, _ := tags.Split(line)
			if strings.HasSuffix(k, ".server.port") {
				v = "9000" // the builder checks ports; labels.yml has "foobar"
			}
			ts := []string{"traefik.enable=true", k + "=" + v}
			if o, ok := tags.ObjectOf(strings.TrimPrefix(k, "traefik.")); ok && o.Section == "tcp" && o.Kind == "routers" {
				ts = append(ts, "traefik.tcp.routers."+o.Name+".rule=HostSNI(`*`)") // TCP routers need a rule
			}
			res := b.Build(one("svc", ts...))
			if len(res.Problems) != 0 {
				t.Fatalf("problems: %v", res.Problems)
			}
			out, err := render.Marshal(res.Config, render.YAML)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(out, base) {
				t.Fatalf("tag changed nothing:\n%s", out)
			}
		})
	}
}

// TestParallelBuildMatchesSequential builds a snapshot large enough for
// Build to use several goroutines, and once with one: same bytes, same
// problems.
func TestParallelBuildMatchesSequential(t *testing.T) {
	var insts []catalog.Instance
	for s := range 3 * parallelMin {
		name := fmt.Sprintf("svc-%04d", s)
		ts := []string{"traefik.enable=true", "traefik.http.middlewares.shared.compress=true"}
		switch s % 5 {
		case 1:
			ts = append(ts, "traefik.http.routers.clash.rule=Host(`"+name+"`)") // conflicts across services
		case 2:
			ts = append(ts, "traefik.http.routers.r"+name+".priority=high") // malformed
		case 3:
			ts = append(ts, "whiskers.canary.weight=20")
		}
		for i := range 2 {
			insts = append(insts, catalog.Instance{
				Origin: catalog.OriginNomad, Service: name, ID: fmt.Sprintf("%s-%d", name, i), Address: "10.0.0.1",
				Port: 1000 + s, Health: catalog.HealthPassing, Tags: ts, Canary: s%5 == 3 && i == 1,
			})
		}
	}
	snap := catalog.Merge(insts)
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	parallel := golden(t, b.Build(snap))
	prev := runtime.GOMAXPROCS(1)
	sequential := golden(t, b.Build(snap))
	runtime.GOMAXPROCS(prev)
	if prev < 2 {
		t.Log("GOMAXPROCS is 1: both builds were sequential")
	}
	if !bytes.Equal(parallel, sequential) {
		t.Fatal("parallel and sequential builds differ")
	}
}

// FuzzNormalize checks Normalize's fast path against the definition.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"web", "a-b", "a--b", "-a", "a-", "Ünï", "x.y_z", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := strings.Join(strings.FieldsFunc(s, func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsNumber(r)
		}), "-")
		if got := Normalize(s); got != want {
			t.Fatalf("Normalize(%q) = %q, want %q", s, got, want)
		}
	})
}

// TestForEachDoneInOrder checks forEach's promise: done sees consecutive
// ranges covering every index in order, each after f returned for all of it.
func TestForEachDoneInOrder(t *testing.T) {
	for _, n := range []int{0, 1, parallelMin - 1, parallelMin, 5*parallelMin + 17} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			called := make([]atomic.Bool, n)
			next := 0
			forEach(n, func(i int) { called[i].Store(true) }, func(lo, hi int) {
				if lo != next || hi < lo || hi > n {
					t.Fatalf("done(%d, %d) after done up to %d", lo, hi, next)
				}
				for i := lo; i < hi; i++ {
					if !called[i].Load() {
						t.Fatalf("done(%d, %d) before f(%d)", lo, hi, i)
					}
				}
				next = hi
			})
			if next != n {
				t.Fatalf("done covered 0 … %d, want 0 … %d", next, n)
			}
		})
	}
}

// TestHostPortMatchesJoinHostPort checks hostPort's addresses and URLs
// against net.JoinHostPort.
func TestHostPortMatchesJoinHostPort(t *testing.T) {
	fail := func(string, error) { t.Fatal("unexpected problem") }
	for _, addr := range []string{"10.0.0.1", "::1", "fe80::1%eth0", "host.example", "[::1]"} {
		for _, tc := range []struct {
			port int
			tag  string
		}{{8080, ""}, {1, ""}, {65535, ""}, {8080, "9090"}, {0, "443"}} {
			in := catalog.Instance{Address: addr, Port: tc.port}
			port := cmp.Or(tc.tag, strconv.Itoa(tc.port))
			want := net.JoinHostPort(addr, port)
			if got, _ := hostPort(&in, "", tc.tag, fail); got != want {
				t.Errorf("hostPort(%q, %d, %q) = %q, want %q", addr, tc.port, tc.tag, got, want)
			}
			if got, _ := hostPort(&in, "h2c", tc.tag, fail); got != "h2c://"+want {
				t.Errorf("hostPort(%q, %d, %q) with a scheme = %q, want %q", addr, tc.port, tc.tag, got, "h2c://"+want)
			}
		}
	}
}

// TestTCPRouterWithDroppedMiddleware: a bad tag drops only its own router,
// for a service with TCP routers alone as for one with HTTP tags too.
func TestTCPRouterWithDroppedMiddleware(t *testing.T) {
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, extra := range [][]string{nil, {"traefik.http.routers.web.rule=Host(`db.test`)"}} {
		tags := append([]string{
			"traefik.enable=true",
			"traefik.tcp.routers.db.rule=HostSNI(`*`)",
			"traefik.tcp.routers.db.middlewares=mw",
			"traefik.tcp.middlewares.mw.ipallowlist.bogus=1",
			"traefik.tcp.routers.other.rule=HostSNI(`other`)",
		}, extra...)
		res := b.Build(one("db", tags...))
		tcp := res.Config.TCP
		if tcp == nil || tcp.Routers["other"] == nil {
			t.Fatalf("with %v: router without the bad middleware dropped: %+v", extra, tcp)
		}
		if tcp.Routers["db"] != nil {
			t.Errorf("with %v: router whose middleware was dropped kept", extra)
		}
		found := false
		for _, p := range res.Problems {
			found = found || strings.Contains(p.Error(), `tcp router "db" dropped: its middleware "mw" was dropped`)
		}
		if !found {
			t.Errorf("with %v: problems %v, want the dropped router said", extra, res.Problems)
		}
	}
}
