package render

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"gopkg.in/yaml.v3"

	"github.com/whiskers-dev/whiskers/syncer/dynamic"
)

// referenceFile is a copy of Traefik's dynamic-file.yaml (MIT licence): every
// key of the dynamic configuration in the file provider's YAML form.
const referenceFile = "testdata/dynamic-file.yaml"

func readReference(t testing.TB) (*dynamic.Configuration, any) {
	t.Helper()
	b, err := os.ReadFile(referenceFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg dynamic.Configuration
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // every key of the reference must be a field of ours
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decoding %s into dynamic.Configuration: %v", referenceFile, err)
	}
	var tree any
	if err := yaml.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	return &cfg, tree
}

// normalize passes a decoded tree through JSON so that trees decoded by
// different libraries (int vs int64 vs float64) compare equal.
func normalize(t testing.TB, tree any) any {
	t.Helper()
	b, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReferenceCopyIsCurrent(t *testing.T) {
	shared, err := os.ReadFile("../../../shared/reference/traefik/dynamic-file.yaml")
	if os.IsNotExist(err) {
		t.Skip("../shared/reference not present beside the checkout")
	}
	if err != nil {
		t.Fatal(err)
	}
	ours, err := os.ReadFile(referenceFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shared, ours) {
		t.Fatalf("%s differs from ../shared/reference/traefik/dynamic-file.yaml: copy it again", referenceFile)
	}
}

// TestReferenceRoundTrip reads Traefik's reference file into our types and
// writes it in every format: the result must hold exactly the reference's
// keys and values, which proves names, nesting and casing.
func TestReferenceRoundTrip(t *testing.T) {
	cfg, tree := readReference(t)
	want := normalize(t, tree)
	decode := map[Format]func([]byte) (any, error){
		YAML: func(b []byte) (any, error) { var v any; return v, yaml.Unmarshal(b, &v) },
		JSON: func(b []byte) (any, error) { var v any; return v, json.Unmarshal(b, &v) },
		TOML: func(b []byte) (any, error) { var v map[string]any; _, err := toml.Decode(string(b), &v); return v, err },
	}
	for _, f := range []Format{YAML, JSON, TOML} {
		t.Run(string(f), func(t *testing.T) {
			out, err := Marshal(cfg, f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decode[f](out)
			if err != nil {
				t.Fatalf("reading back: %v\n%s", err, out)
			}
			if g := normalize(t, got); !reflect.DeepEqual(g, want) {
				gb, _ := json.MarshalIndent(g, "", " ")
				wb, _ := json.MarshalIndent(want, "", " ")
				t.Fatalf("round trip differs\n--- got\n%s\n--- want\n%s", gb, wb)
			}
			again, _ := Marshal(cfg, f)
			if !bytes.Equal(out, again) {
				t.Fatal("two renders of one configuration differ")
			}
		})
	}
}

// TestYAMLReadsBack checks, for strings that YAML could misread, that
// yaml.v3 reads back exactly the configuration that was written.
func TestYAMLReadsBack(t *testing.T) {
	for _, s := range []string{
		"plain", "Host(`a`) && PathPrefix(`/`)", "true", "False", "yes", "no", "on", "off", "y", "N", "null", "~",
		"42", "-1", "0x1F", "0o17", "017", "1e3", "1_000", ".5", "+1", ".inf", "-.inf", ".nan", "nan", "inf", "Infinity",
		"2001-12-14", "2001-12-14t21:59:43.10-05:00", "12:30", "190:20:30.15", "10.0.0.1:80", "10.0.0.0/8",
		"a: b", "a #b", "a:", "#x", "- x", "-x", "[a]", "{a}", "*.example.com", "&a", "!tag", "|", ">", "'q'", "\"q\"",
		"%x", "@x", "`x`", "<<", "=", "?", ",", " lead", "trail ", "tab\tin", "new\nline", "\x00nul", "ünïcödé",
		"\u2028", "\ufeffbom", "\xff\xfe", "", "500-599", "1.2.3", "42s", "1m0s",
		strings.Repeat("long", 300), strings.Repeat("\x01", 300), strings.Repeat("é", 999),
	} {
		t.Run(s, func(t *testing.T) {
			in := &dynamic.Configuration{HTTP: &dynamic.HTTPConfiguration{
				Routers: map[string]*dynamic.Router{s + "r": {Rule: s, EntryPoints: []string{s, "web"}}},
				Middlewares: map[string]*dynamic.Middleware{"m": {Headers: &dynamic.Headers{
					CustomRequestHeaders: map[string]string{s + "k": s}}}},
			}}
			checkReadsBack(t, in)
		})
	}
}

func checkReadsBack(t *testing.T, in *dynamic.Configuration) {
	t.Helper()
	out, err := Marshal(in, YAML)
	if err != nil {
		t.Fatal(err)
	}
	var got dynamic.Configuration
	if err := yaml.Unmarshal(out, &got); err != nil {
		t.Fatalf("yaml.v3 cannot read our output: %v\n%s", err, out)
	}
	// What we wrote for invalid UTF-8 is its valid form.
	want, _ := Marshal(in, JSON)
	have, _ := Marshal(&got, JSON)
	var wantTree, haveTree any
	if err := json.Unmarshal(want, &wantTree); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(have, &haveTree); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(wantTree, haveTree) {
		t.Fatalf("read back differently:\n%s\n--- yaml\n%s", have, out)
	}
}

func FuzzYAMLString(f *testing.F) {
	for _, s := range []string{"a", "true", "1e3", "a: b", "10.0.0.1:80", "\n", "- x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in := &dynamic.Configuration{HTTP: &dynamic.HTTPConfiguration{
			Routers: map[string]*dynamic.Router{s: {Rule: s, EntryPoints: []string{s}}},
		}}
		checkReadsBack(t, in)
	})
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in   string
		want Format
		err  bool
	}{
		{"", YAML, false}, {"yaml", YAML, false}, {"YML", YAML, false}, {"json", JSON, false},
		{" toml ", TOML, false}, {"xml", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseFormat(tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("ParseFormat(%q) = %q, %v", tc.in, got, err)
			}
		})
	}
}

func TestEmpty(t *testing.T) {
	for _, f := range []Format{YAML, JSON, TOML} {
		for _, cfg := range []*dynamic.Configuration{{}, {HTTP: &dynamic.HTTPConfiguration{}}} {
			out, err := Marshal(cfg, f)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if f == YAML && cfg.HTTP == nil && string(out) != "{}\n" {
				t.Fatalf("empty yaml = %q", out)
			}
			if f == JSON && strings.TrimSpace(string(out)) != "{}" && !strings.Contains(string(out), `"http": {}`) {
				t.Fatalf("empty json = %q", out)
			}
		}
	}
	if out, err := Marshal(nil, YAML); err != nil || string(out) != "{}\n" {
		t.Fatalf("nil configuration = %q, %v", out, err)
	}
	if _, err := Marshal(nil, "xml"); err == nil {
		t.Fatal("Marshal with unknown format did not fail")
	}
}

// TestLargeMapsInParallel writes maps large enough to be split over
// goroutines and once with a single one: same bytes, and yaml.v3 reads them.
func TestLargeMapsInParallel(t *testing.T) {
	cfg := configN(parallelEntries + 500)
	// A large map inside an entry of a large map, and empty groups ("{}")
	// around them.
	headers := map[string]string{}
	for i := range parallelEntries + 10 {
		headers[fmt.Sprintf("X-H%05d", i)] = "v"
	}
	cfg.HTTP.Middlewares["app-00001-strip"].Headers = &dynamic.Headers{CustomRequestHeaders: headers}
	cfg.HTTP.Routers["app-00001"].TLS = &dynamic.RouterTLSConfig{}
	cfg.HTTP.Routers["zzz"] = &dynamic.Router{TLS: &dynamic.RouterTLSConfig{}}
	par, err := Marshal(cfg, YAML)
	if err != nil {
		t.Fatal(err)
	}
	prev := runtime.GOMAXPROCS(1)
	seq, err := Marshal(cfg, YAML)
	runtime.GOMAXPROCS(prev)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(par, seq) {
		t.Fatal("parallel and sequential YAML differ")
	}
	checkReadsBack(t, cfg)
}

// TestSortParallel compares sortParallel with slices.Sort on sizes around
// its thresholds, whatever GOMAXPROCS.
func TestSortParallel(t *testing.T) {
	for _, procs := range []int{1, 2, 3, 8} {
		prev := runtime.GOMAXPROCS(procs)
		for _, n := range []int{0, 1, 511, 1024, 1025, 3000, 8*512 + 7} {
			s := make([]int, n)
			for i := range s {
				s[i] = (i * 7919) % (n + 13)
			}
			want := slices.Clone(s)
			slices.Sort(want)
			sortParallel(s, cmp.Compare[int])
			if !slices.Equal(s, want) {
				t.Errorf("GOMAXPROCS %d, %d elements: not sorted like slices.Sort", procs, n)
			}
		}
		runtime.GOMAXPROCS(prev)
	}
}
