package tags

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/whiskers-dev/whiskers/syncer/dynamic"
	"github.com/whiskers-dev/whiskers/syncer/render"
)

// labelsFile is a copy of Traefik's reference list of every tag it accepts
// (../shared/reference/traefik/labels.yml, MIT licence);
// TestLabelsCopyIsCurrent keeps it equal to the shared one.
const labelsFile = "testdata/labels.yml"

func readLabels(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(labelsFile)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	if err := yaml.Unmarshal(b, &lines); err != nil {
		t.Fatalf("parsing %s: %v", labelsFile, err)
	}
	return lines
}

func TestLabelsCopyIsCurrent(t *testing.T) {
	shared, err := os.ReadFile("../../../shared/reference/traefik/labels.yml")
	if os.IsNotExist(err) {
		t.Skip("../shared/reference not present beside the checkout")
	}
	if err != nil {
		t.Fatal(err)
	}
	ours, err := os.ReadFile(labelsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shared, ours) {
		t.Fatalf("%s differs from ../shared/reference/traefik/labels.yml: copy it again", labelsFile)
	}
}

// TestEveryTraefikLabel sets each line of labels.yml on its own, renders the
// configuration as YAML and finds the value at the path the tag names.
func TestEveryTraefikLabel(t *testing.T) {
	lines := readLabels(t)
	if len(lines) < 280 {
		t.Fatalf("read %d labels, want the whole file", len(lines))
	}
	for _, line := range lines {
		t.Run(line, func(t *testing.T) {
			t.Parallel()
			key, value, ok := Split(line)
			if !ok {
				t.Fatalf("no '=' in %q", line)
			}
			key, ok = strings.CutPrefix(key, "traefik.")
			if !ok {
				t.Fatalf("no traefik. prefix in %q", line)
			}
			if _, ok := ObjectOf(key); !ok {
				t.Errorf("ObjectOf(%q) found no object", key)
			}
			var cfg dynamic.Configuration
			if err := Set(&cfg, key, value); err != nil {
				t.Fatalf("Set: %v", err)
			}
			segs := strings.Split(key, ".")
			last := segs[len(segs)-1]
			if (last == "port" || last == "scheme") && strings.EqualFold(segs[len(segs)-2], "server") {
				// Tag-only fields: never rendered, the builder folds them into URLs.
				got := tagOnlyField(t, &cfg, segs)
				if got != value {
					t.Fatalf("tag-only field = %q, want %q", got, value)
				}
				return
			}
			out, err := render.Marshal(&cfg, render.YAML)
			if err != nil {
				t.Fatal(err)
			}
			var tree any
			if err := yaml.Unmarshal(out, &tree); err != nil {
				t.Fatal(err)
			}
			got, err := walk(tree, segs)
			if err != nil {
				t.Fatalf("%v in\n%s", err, out)
			}
			checkValue(t, got, value, out)
		})
	}
}

// walk follows tag segments through a decoded YAML tree, matching keys
// case-insensitively as Traefik does.
func walk(node any, segs []string) (any, error) {
	for _, seg := range segs {
		name, idx, hasIdx, err := splitIndex(seg)
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(name, "server") {
			name, idx, hasIdx = "servers", 0, true
		}
		m, ok := node.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("at %q: not a mapping: %#v", seg, node)
		}
		found := false
		for k, v := range m {
			if strings.EqualFold(k, name) {
				node, found = v, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("no key %q", name)
		}
		if hasIdx {
			l, ok := node.([]any)
			if !ok || len(l) <= idx {
				return nil, fmt.Errorf("at %q: no element %d", seg, idx)
			}
			node = l[idx]
		}
	}
	return node, nil
}

func checkValue(t *testing.T, got any, want string, out []byte) {
	t.Helper()
	switch g := got.(type) {
	case map[string]any:
		if want != "true" {
			t.Fatalf("got a group of options for value %q", want)
		}
	case []any:
		parts := make([]string, len(g))
		for i, p := range g {
			parts[i] = fmt.Sprint(p)
		}
		if s := strings.Join(parts, ", "); s != want {
			t.Fatalf("got list %q, want %q\n%s", s, want, out)
		}
	default:
		if s := fmt.Sprint(g); s != want {
			t.Fatalf("got %q, want %q\n%s", s, want, out)
		}
	}
}

// tagOnlyField reads a label-only field (Server.Port, Server.Scheme, …)
// through reflection, following the same path as Set.
func tagOnlyField(t *testing.T, cfg *dynamic.Configuration, segs []string) string {
	t.Helper()
	v := reflect.ValueOf(cfg).Elem()
	for _, seg := range segs {
		for v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		switch v.Kind() {
		case reflect.Map:
			v = v.MapIndex(reflect.ValueOf(seg))
		case reflect.Struct:
			f, ok := fieldOf(v.Type(), strings.ToLower(seg))
			if !ok {
				t.Fatalf("no field %q", seg)
			}
			v = v.Field(f.index)
			if f.alias {
				v = v.Index(0)
			}
		default:
			t.Fatalf("cannot walk %q into %s", seg, v.Kind())
		}
		if !v.IsValid() {
			t.Fatalf("nothing at %q", seg)
		}
	}
	return v.String()
}

func TestSetErrors(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"unknown option", "http.routers.r.rulez", "x", `unknown option "rulez"`},
		{"unknown section", "ftp.routers.r.rule", "x", `unknown option "ftp"`},
		{"bad int", "http.routers.r.priority", "high", "want an integer"},
		{"bad bool", "http.routers.r.observability.metrics", "yes please", "want a boolean"},
		{"bad duration", "http.middlewares.m.retry.initialinterval", "soon", "duration"},
		{"map needs name", "http.routers", "x", "needs a name"},
		{"group is not a value", "http.routers.r.tls", "maybe", "group of options"},
		{"index out of range", "http.routers.r.tls.domains[100].main", "x", "index"},
		{"index on non-list", "http.routers.r.rule[0]", "x", "not a list"},
		{"list of groups", "http.routers.r.tls.domains", "a,b", "address an element"},
		{"empty segment", "http..r.rule", "x", "empty segment"},
		{"value below leaf", "http.routers.r.rule.x", "x", `unknown option "x"`},
		{"int overflow", "http.routers.r.priority", "99999999999999999999", "want an integer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var cfg dynamic.Configuration
			err := Set(&cfg, tc.key, tc.value)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Set(%q, %q) = %v, want error containing %q", tc.key, tc.value, err, tc.want)
			}
		})
	}
}

func TestSetValues(t *testing.T) {
	var cfg dynamic.Configuration
	for _, kv := range [][2]string{
		{"http.routers.Web.rule", "Host(`a`) || Host(`b`)"},
		{"http.routers.Web.entrypoints", " web ,websecure,"},
		{"http.middlewares.m.headers.customrequestheaders.X-Foo", "bar"},
		{"http.middlewares.m.retry.initialinterval", "3"},
		{"http.middlewares.p.plugin.wasm.socket.path", "/run/w.sock"},
		{"http.services.s.loadbalancer.passhostheader", "false"},
		{"http.services.s.loadbalancer.sticky", "false"},
	} {
		if err := Set(&cfg, kv[0], kv[1]); err != nil {
			t.Fatalf("Set(%q): %v", kv[0], err)
		}
	}
	r := cfg.HTTP.Routers["Web"]
	if r == nil || r.Rule != "Host(`a`) || Host(`b`)" || !reflect.DeepEqual(r.EntryPoints, []string{"web", "websecure"}) {
		t.Fatalf("router = %+v", r)
	}
	m := cfg.HTTP.Middlewares["m"]
	if m.Headers.CustomRequestHeaders["X-Foo"] != "bar" {
		t.Fatalf("header name case not kept: %v", m.Headers.CustomRequestHeaders)
	}
	if got := m.Retry.InitialInterval.String(); got != "3s" {
		t.Fatalf("bare integer duration = %s, want 3s", got)
	}
	p := cfg.HTTP.Middlewares["p"].Plugin["wasm"]["socket"].(map[string]any)["path"]
	if p != "/run/w.sock" {
		t.Fatalf("nested plugin option = %v", p)
	}
	lb := cfg.HTTP.Services["s"].LoadBalancer
	if lb.PassHostHeader == nil || *lb.PassHostHeader {
		t.Fatalf("passHostHeader = %v, want explicit false", lb.PassHostHeader)
	}
	if lb.Sticky != nil {
		t.Fatalf("sticky=false created a sticky block")
	}
}

// FuzzParseTag feeds arbitrary tags to Split and Set: they may fail, never panic.
func FuzzParseTag(f *testing.F) {
	for _, l := range readLabels(f) {
		f.Add(l)
	}
	f.Add("traefik.http.routers.r.tls.domains[99].sans=a,b")
	f.Add("traefik.http.middlewares.p.plugin.x.y.z=1")
	f.Add("traefik.http.services.s.loadbalancer.server[0].port=1")
	f.Fuzz(func(t *testing.T, tag string) {
		key, value, _ := Split(tag)
		key = strings.TrimPrefix(key, "traefik.")
		var cfg dynamic.Configuration
		_ = Set(&cfg, key, value)
		_, _ = ObjectOf(key)
		if _, err := render.Marshal(&cfg, render.YAML); err != nil {
			t.Fatalf("render after Set(%q): %v", key, err)
		}
	})
}

func TestEnabled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		tags    []string
		def     bool
		want    bool
		wantBad string
	}{
		{"none, not exposed", []string{"a=b"}, false, false, ""},
		{"none, exposed by default", nil, true, true, ""},
		{"true", []string{"traefik.enable=true"}, false, true, ""},
		{"True, as Traefik reads it", []string{"traefik.enable=True"}, false, true, ""},
		{"1", []string{"traefik.enable=1"}, false, true, ""},
		{"key in any case, spaces", []string{" Traefik.Enable = TRUE "}, false, true, ""},
		{"false beats exposed", []string{"traefik.enable=false"}, true, false, ""},
		{"the last one decides", []string{"traefik.enable=false", "traefik.enable=true"}, false, true, ""},
		{"not a boolean", []string{"traefik.enable=yes"}, true, false, "traefik.enable=yes"},
		{"other keys with the prefix", []string{"traefik.enabled=true", "traefik.http.enable=true"}, false, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, bad := Enabled(tc.tags, "traefik", tc.def)
			if got != tc.want || bad != tc.wantBad {
				t.Errorf("Enabled(%q, %v) = %v, %q; want %v, %q", tc.tags, tc.def, got, bad, tc.want, tc.wantBad)
			}
		})
	}
}
