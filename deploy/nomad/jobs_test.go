package nomad

import (
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"gopkg.in/yaml.v3"

	"github.com/whiskers-dev/whiskers/syncer/dynamic"
	"github.com/whiskers-dev/whiskers/syncer/tags"
	"github.com/whiskers-dev/whiskers/wasmhost"
)

// The model below is the part of a Nomad job specification these tests
// check, read with hclsyntax. Expressions are evaluated with the defaults of
// the file's variable blocks; Nomad's runtime interpolations (${NOMAD_*},
// ${node.*}, ${attr.*}) stay in the strings as written.

type job struct {
	file   string
	name   string
	typ    string
	groups []group
}

type group struct {
	name     string
	count    int
	volumes  map[string]string // group volume name → host volume source
	services []service
	tasks    []task
	blocks   []string // types of the other blocks (spread, constraint, …)
}

type service struct {
	name     string
	provider string
	tags     []string
}

type task struct {
	name      string
	driver    string
	command   string
	image     string
	args      []string
	mounts    []mount // volume_mount blocks
	binds     []bind  // docker config mount blocks
	templates []template
	artifacts []string // destinations of the artifact blocks
	blocks    []string
}

type mount struct{ volume, destination string }

type bind struct{ source, target string }

type template struct{ destination, data string }

func TestJobs(t *testing.T) {
	jobs := loadJobs(t)
	whiskers, traefik, app := jobs["whiskers"], jobs["traefik"], jobs["finicky-whiskers"]

	t.Run("job types", func(t *testing.T) {
		for _, tc := range []struct {
			job  *job
			want string
		}{
			{whiskers, "system"},
			{traefik, "system"},
			{app, "service"},
		} {
			if tc.job.typ != tc.want {
				t.Errorf("%s: job %q type = %q, want %q", tc.job.file, tc.job.name, tc.job.typ, tc.want)
			}
		}
	})

	t.Run("volume mounts name group volumes", func(t *testing.T) {
		for _, j := range jobs {
			for _, g := range j.groups {
				for _, tk := range g.tasks {
					for _, m := range tk.mounts {
						if _, ok := g.volumes[m.volume]; !ok {
							t.Errorf("%s: task %q mounts volume %q, which group %q does not declare", j.file, tk.name, m.volume, g.name)
						}
					}
				}
			}
		}
	})

	syncG, syncT := findTask(t, whiskers, "sync")
	wasmG, wasmT := findTask(t, whiskers, "wasm")
	trG, trT := findTask(t, traefik, "traefik")

	t.Run("traefik watches the directory sync writes", func(t *testing.T) {
		out := flagValue(syncT.args, "--output")
		if out == "" {
			t.Fatalf("sync task args %q: no --output", syncT.args)
		}
		if ext := path.Ext(out); ext != ".yaml" && ext != ".yml" {
			t.Errorf("sync --output %q: Traefik's file provider reads .yaml/.yml/.toml, want a YAML file", out)
		}
		dir := flagValue(trT.args, "--providers.file.directory")
		if dir == "" {
			t.Fatalf("traefik args %q: no --providers.file.directory", trT.args)
		}
		if w := flagValue(trT.args, "--providers.file.watch"); w != "true" {
			t.Errorf("traefik --providers.file.watch = %q, want true", w)
		}
		// Traefik's default 2s throttle would hold drained servers in the
		// pool for up to 2s; the syncer debounces already.
		if th, err := time.ParseDuration(flagValue(trT.args, "--providers.providersThrottleDuration")); err != nil || th > 500*time.Millisecond {
			t.Errorf("traefik --providers.providersThrottleDuration = %q (%v), want a duration ≤ 500ms", flagValue(trT.args, "--providers.providersThrottleDuration"), err)
		}
		wVol, wRel := hostPath(t, whiskers, syncG, syncT, out)
		tVol, tRel := hostPath(t, traefik, trG, trT, dir)
		if wVol != tVol || path.Dir(wRel) != tRel {
			t.Errorf("sync writes %q = host volume %q + %q; traefik watches %q = host volume %q + %q: not the same directory",
				out, wVol, wRel, dir, tVol, tRel)
		}
	})

	pluginName, moduleName := localPlugin(t, trT.args)

	t.Run("traefik loads the plugin as a local plugin", func(t *testing.T) {
		want := modulePath(t)
		if moduleName != want {
			t.Errorf("localPlugins.%s.moduleName = %q, want this module %q", pluginName, moduleName, want)
		}
		target := "/plugins-local/src/" + moduleName
		if !slices.ContainsFunc(trT.binds, func(b bind) bool { return b.target == target }) {
			t.Errorf("traefik task binds %v: none at %q, where Traefik looks for the local plugin", trT.binds, target)
		}
	})

	finicky := findService(t, app, "finicky")
	opts := pluginOptions(finicky.tags, pluginName)

	t.Run("plugin socket is the wasm host's socket", func(t *testing.T) {
		listen := flagValue(wasmT.args, "--listen")
		if !strings.HasPrefix(listen, "unix://") {
			t.Fatalf("wasm task --listen %q: want unix:///path", listen)
		}
		if len(opts) == 0 {
			t.Fatalf("finicky tags use no plugin.%s middleware", pluginName)
		}
		for mw, o := range opts {
			if o["socket"] != listen {
				t.Errorf("middleware %q socket = %q, wasm host listens on %q", mw, o["socket"], listen)
				continue
			}
			// Traefik (where the plugin runs) must see the socket at that
			// path, through the same host volume the wasm host writes.
			sock := strings.TrimPrefix(listen, "unix://")
			wVol, wRel := hostPath(t, whiskers, wasmG, wasmT, sock)
			tVol, tRel := hostPath(t, traefik, trG, trT, sock)
			if wVol != tVol || wRel != tRel {
				t.Errorf("socket %q: wasm host has it in host volume %q + %q, traefik in %q + %q", sock, wVol, wRel, tVol, tRel)
			}
		}
	})

	t.Run("wasm host modules come from the handlers artifact", func(t *testing.T) {
		cfg := flagValue(wasmT.args, "--config")
		for _, h := range wasmConfig(t, wasmT) {
			mod := path.Join(path.Dir(cfg), h.Module)
			found := false
			for _, dest := range wasmT.artifacts {
				rel, ok := strings.CutPrefix(mod, path.Clean(dest)+"/")
				if !ok {
					continue
				}
				found = true
				// The artifact is a release of wasmhost/handlers: the
				// module must exist there under the same path.
				if _, err := os.Stat(path.Join("../../wasmhost/handlers", rel)); err != nil {
					t.Errorf("handler %q module %q: %v", h.Name, h.Module, err)
				}
			}
			if !found {
				t.Errorf("handler %q module %q (%s) is in no artifact destination %q", h.Name, h.Module, mod, wasmT.artifacts)
			}
		}
	})

	t.Run("plugin handlers exist on the wasm host", func(t *testing.T) {
		var names []string
		for _, h := range wasmConfig(t, wasmT) {
			names = append(names, h.Name)
		}
		for mw, o := range opts {
			if !slices.Contains(names, o["handler"]) {
				t.Errorf("middleware %q handler = %q; the wasm host config has %q", mw, o["handler"], names)
			}
		}
	})

	t.Run("finicky app", func(t *testing.T) {
		g, tk := findTask(t, app, "spin")
		if g.count != 3 {
			t.Errorf("group %q count = %d, want 3", g.name, g.count)
		}
		if !slices.Contains(g.blocks, "spread") {
			t.Errorf("group %q: no spread block", g.name)
		}
		if tk.driver != "exec" || path.Base(tk.command) != "spin" || len(tk.args) == 0 || tk.args[0] != "up" {
			t.Errorf("task %q: driver %q command %q args %q, want exec of `spin up`", tk.name, tk.driver, tk.command, tk.args)
		}
		if finicky.provider != "nomad" {
			t.Errorf("service finicky provider = %q, want nomad (the syncer's Nomad source reads it)", finicky.provider)
		}
		if !slices.Contains(finicky.tags, "traefik.enable=true") {
			t.Errorf("service finicky tags %q: no traefik.enable=true", finicky.tags)
		}
	})

	t.Run("redis is not exposed", func(t *testing.T) {
		redis := findService(t, app, "redis")
		for _, tag := range redis.tags {
			if strings.HasPrefix(tag, "traefik.") && tag != "traefik.enable=false" {
				t.Errorf("service redis tag %q: redis must carry no routing tags", tag)
			}
		}
	})

	t.Run("tags are traefik tags", func(t *testing.T) {
		for _, j := range jobs {
			for _, g := range j.groups {
				for _, s := range g.services {
					for _, tag := range s.tags {
						if err := checkTag(tag); err != nil {
							t.Errorf("%s: service %q: tag %q: %v", j.file, s.name, tag, err)
						}
						// The syncer's own decoder must accept it too.
						key, val, _ := tags.Split(tag)
						if k, ok := strings.CutPrefix(key, "traefik."); ok && k != "enable" {
							if err := tags.Set(&dynamic.Configuration{}, k, val); err != nil {
								t.Errorf("%s: service %q: tag %q: syncer/tags: %v", j.file, s.name, tag, err)
							}
						}
					}
				}
			}
		}
	})
}

// tagRE is the syntax of the Traefik tags the jobs use:
// traefik.enable=<bool>, or traefik.<http|tcp|udp>.<routers|services|middlewares>.<name>.<option path>=<value>.
var tagRE = regexp.MustCompile(`^traefik\.(enable=(true|false)|(http|tcp|udp)\.(routers|services|middlewares)\.[A-Za-z0-9_-]+(\.[A-Za-z][A-Za-z0-9_]*)+=.+)$`)

// checkTag checks a traefik.* tag's syntax; other tags are free.
func checkTag(tag string) error {
	if !strings.HasPrefix(tag, "traefik.") {
		return nil
	}
	if !tagRE.MatchString(tag) {
		return errString("not traefik.enable=<bool> or traefik.<protocol>.<kind>.<name>.<option>=<value>")
	}
	return nil
}

type errString string

func (e errString) Error() string { return string(e) }

func TestCheckTag(t *testing.T) {
	for _, tc := range []struct {
		tag string
		ok  bool
	}{
		{"traefik.enable=true", true},
		{"traefik.http.routers.a.rule=Host(`a`)", true},
		{"traefik.http.middlewares.m.plugin.whiskers.handler=fileserver", true},
		{"traefik.tcp.services.s.loadbalancer.server.port=1", true},
		{"other=1", true},
		{"traefik.enable=yes", false},
		{"traefik.http.router.a.rule=Host(`a`)", false},
		{"traefik.http.routers.a.rule", false},
		{"traefik.http.routers.a=x", false},
	} {
		t.Run(tc.tag, func(t *testing.T) {
			if err := checkTag(tc.tag); (err == nil) != tc.ok {
				t.Errorf("checkTag(%q) = %v, want ok=%v", tc.tag, err, tc.ok)
			}
		})
	}
}

// loadJobs parses every embedded job file and returns the jobs by name.
func loadJobs(t *testing.T) map[string]*job {
	t.Helper()
	files, err := fs.Glob(Files, "*.nomad.hcl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no job files embedded: %v", err)
	}
	jobs := map[string]*job{}
	for _, name := range files {
		src, err := Files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		j := parseJob(t, name, src)
		if _, dup := jobs[j.name]; dup {
			t.Fatalf("%s: job %q defined twice", name, j.name)
		}
		jobs[j.name] = j
	}
	for _, want := range []string{"whiskers", "traefik", "finicky-whiskers"} {
		if jobs[want] == nil {
			t.Fatalf("no job %q in %q", want, files)
		}
	}
	return jobs
}

// parser evaluates one file's expressions.
type parser struct {
	t    *testing.T
	file string
	vars map[string]cty.Value
}

func parseJob(t *testing.T, file string, src []byte) *job {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCL(src, file)
	if diags.HasErrors() {
		t.Fatalf("%s: %v", file, diags)
	}
	body := f.Body.(*hclsyntax.Body)
	p := &parser{t: t, file: file, vars: map[string]cty.Value{}}
	var jobBlock *hclsyntax.Block
	for _, b := range body.Blocks {
		switch b.Type {
		case "variable":
			def, ok := b.Body.Attributes["default"]
			if !ok {
				t.Errorf("%s: variable %q has no default", file, b.Labels[0])
				continue
			}
			if _, ok := b.Body.Attributes["description"]; !ok {
				t.Errorf("%s: variable %q has no description", file, b.Labels[0])
			}
			p.vars[b.Labels[0]] = p.eval(def.Expr)
		case "job":
			if jobBlock != nil {
				t.Fatalf("%s: more than one job block", file)
			}
			jobBlock = b
		default:
			t.Errorf("%s: unexpected top-level block %q", file, b.Type)
		}
	}
	if jobBlock == nil {
		t.Fatalf("%s: no job block", file)
	}
	j := &job{file: file, name: jobBlock.Labels[0], typ: p.str(jobBlock.Body, "type")}
	if j.typ == "" {
		j.typ = "service" // Nomad's default
	}
	for _, gb := range blocks(jobBlock.Body, "group") {
		g := group{name: gb.Labels[0], count: 1, volumes: map[string]string{}}
		if a, ok := gb.Body.Attributes["count"]; ok {
			n, _ := p.eval(a.Expr).AsBigFloat().Int64()
			g.count = int(n)
		}
		for _, b := range gb.Body.Blocks {
			switch b.Type {
			case "volume":
				g.volumes[b.Labels[0]] = p.str(b.Body, "source")
			case "service":
				g.services = append(g.services, service{
					name:     p.str(b.Body, "name"),
					provider: p.str(b.Body, "provider"),
					tags:     p.strs(b.Body, "tags"),
				})
			case "task":
				g.tasks = append(g.tasks, p.task(b))
			default:
				g.blocks = append(g.blocks, b.Type)
			}
		}
		j.groups = append(j.groups, g)
	}
	return j
}

func (p *parser) task(b *hclsyntax.Block) task {
	tk := task{name: b.Labels[0], driver: p.str(b.Body, "driver")}
	for _, c := range b.Body.Blocks {
		switch c.Type {
		case "config":
			tk.command = p.str(c.Body, "command")
			tk.image = p.str(c.Body, "image")
			tk.args = p.strs(c.Body, "args")
			for _, m := range blocks(c.Body, "mount") {
				tk.binds = append(tk.binds, bind{source: p.str(m.Body, "source"), target: p.str(m.Body, "target")})
			}
		case "volume_mount":
			tk.mounts = append(tk.mounts, mount{volume: p.str(c.Body, "volume"), destination: p.str(c.Body, "destination")})
		case "artifact":
			tk.artifacts = append(tk.artifacts, p.str(c.Body, "destination"))
		case "template":
			tk.templates = append(tk.templates, template{destination: p.str(c.Body, "destination"), data: p.str(c.Body, "data")})
		default:
			tk.blocks = append(tk.blocks, c.Type)
		}
	}
	return tk
}

// eval evaluates expr with var.* bound to the variables' defaults. Other
// variables are Nomad's runtime interpolations and evaluate to their own
// "${…}" text.
func (p *parser) eval(expr hclsyntax.Expression) cty.Value {
	p.t.Helper()
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(p.vars)}}
	runtime := map[string]any{}
	for _, tr := range expr.Variables() {
		root := tr.RootName()
		if root == "var" {
			continue
		}
		m := runtime
		parts := []string{root}
		for i, step := range tr {
			if i == 0 {
				continue
			}
			if a, ok := step.(hcl.TraverseAttr); ok {
				parts = append(parts, a.Name)
			}
		}
		for _, name := range parts[:len(parts)-1] {
			next, ok := m[name].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[name] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = "${" + strings.Join(parts, ".") + "}"
	}
	for name, v := range runtime {
		ctx.Variables[name] = toCty(v)
	}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		p.t.Errorf("%s: %v", p.file, diags)
		return cty.DynamicVal
	}
	return v
}

func toCty(v any) cty.Value {
	switch v := v.(type) {
	case string:
		return cty.StringVal(v)
	case map[string]any:
		m := map[string]cty.Value{}
		for k, e := range v {
			m[k] = toCty(e)
		}
		return cty.ObjectVal(m)
	}
	panic("unreachable")
}

// str returns body's attribute name as a string, "" when it is absent.
func (p *parser) str(body *hclsyntax.Body, name string) string {
	a, ok := body.Attributes[name]
	if !ok {
		return ""
	}
	v := p.eval(a.Expr)
	if !v.IsKnown() || v.IsNull() || !v.Type().Equals(cty.String) {
		p.t.Errorf("%s:%d: %s is not a known string", p.file, a.SrcRange.Start.Line, name)
		return ""
	}
	return v.AsString()
}

// strs returns body's attribute name as a list of strings.
func (p *parser) strs(body *hclsyntax.Body, name string) []string {
	a, ok := body.Attributes[name]
	if !ok {
		return nil
	}
	v := p.eval(a.Expr)
	if !v.IsKnown() || v.IsNull() || !v.CanIterateElements() {
		p.t.Errorf("%s:%d: %s is not a list", p.file, a.SrcRange.Start.Line, name)
		return nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if !e.IsKnown() || !e.Type().Equals(cty.String) {
			p.t.Errorf("%s:%d: %s: element is not a known string", p.file, a.SrcRange.Start.Line, name)
			continue
		}
		out = append(out, e.AsString())
	}
	return out
}

func blocks(body *hclsyntax.Body, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range body.Blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

func findTask(t *testing.T, j *job, name string) (group, task) {
	t.Helper()
	for _, g := range j.groups {
		for _, tk := range g.tasks {
			if tk.name == name {
				return g, tk
			}
		}
	}
	t.Fatalf("%s: no task %q", j.file, name)
	return group{}, task{}
}

func findService(t *testing.T, j *job, name string) service {
	t.Helper()
	for _, g := range j.groups {
		for _, s := range g.services {
			if s.name == name {
				return s
			}
		}
	}
	t.Fatalf("%s: no service %q", j.file, name)
	return service{}
}

// flagValue returns the value of a flag in args, written "--f v" or "--f=v".
func flagValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// hostPath maps a path inside task tk to the host volume holding it: the
// volume's source name and the path relative to the volume's root.
func hostPath(t *testing.T, j *job, g group, tk task, p string) (source, rel string) {
	t.Helper()
	p = path.Clean(p)
	for _, m := range tk.mounts {
		d := path.Clean(m.destination)
		if r, ok := strings.CutPrefix(p, d); ok && (r == "" || r[0] == '/') {
			return g.volumes[m.volume], path.Clean("." + r)
		}
	}
	t.Fatalf("%s: task %q: %q is not inside any volume_mount %v", j.file, tk.name, p, tk.mounts)
	return "", ""
}

var localPluginRE = regexp.MustCompile(`^--experimental\.localPlugins\.([A-Za-z0-9_-]+)\.moduleName=(.+)$`)

// localPlugin returns the name and module of the one local plugin in Traefik's args.
func localPlugin(t *testing.T, args []string) (name, module string) {
	t.Helper()
	for _, a := range args {
		if m := localPluginRE.FindStringSubmatch(a); m != nil {
			if name != "" {
				t.Fatalf("traefik args declare more than one local plugin")
			}
			name, module = m[1], m[2]
		}
	}
	if name == "" {
		t.Fatalf("traefik args %q: no --experimental.localPlugins.<name>.moduleName", args)
	}
	return name, module
}

// pluginOptions returns, for each middleware of plugin in tags, its options.
func pluginOptions(tags []string, plugin string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, tag := range tags {
		key, val, ok := strings.Cut(tag, "=")
		if !ok {
			continue
		}
		rest, ok := strings.CutPrefix(key, "traefik.http.middlewares.")
		if !ok {
			continue
		}
		mw, opt, ok := strings.Cut(rest, ".plugin."+plugin+".")
		if !ok {
			continue
		}
		if out[mw] == nil {
			out[mw] = map[string]string{}
		}
		out[mw][opt] = val
	}
	return out
}

// wasmHandler is the part of a wasm host handler config these tests check.
type wasmHandler struct {
	Name   string `yaml:"name"`
	Module string `yaml:"module"`
}

// wasmConfig returns the handlers of the wasm host config the wasm task
// renders and passes with --config.
func wasmConfig(t *testing.T, tk task) []wasmHandler {
	t.Helper()
	cfg := flagValue(tk.args, "--config")
	for _, tpl := range tk.templates {
		if path.Clean(tpl.destination) != path.Clean(cfg) {
			continue
		}
		// The wasm host's own parser: unknown keys, bad limits, duplicate
		// names or routes are errors.
		if _, err := wasmhost.ParseConfig([]byte(tpl.data), ""); err != nil {
			t.Errorf("wasm host config template %q: %v", tpl.destination, err)
		}
		var c struct {
			Handlers []wasmHandler `yaml:"handlers"`
		}
		if err := yaml.Unmarshal([]byte(tpl.data), &c); err != nil {
			t.Fatalf("wasm host config template %q: %v", tpl.destination, err)
		}
		return c.Handlers
	}
	t.Fatalf("task %q: --config %q is not rendered by a template", tk.name, cfg)
	return nil
}

// modulePath reads this repository's module path from go.mod.
func modulePath(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if m, ok := strings.CutPrefix(line, "module "); ok {
			return strings.TrimSpace(m)
		}
	}
	t.Fatal("go.mod: no module line")
	return ""
}

// TestPolicies checks that the ACL policies parse and grant what the syncer
// needs, read-only.
func TestPolicies(t *testing.T) {
	for _, tc := range []struct {
		file string
		want map[string]string // block "type label" → attribute = value it must hold
	}{
		{"whiskers-sync.nomad-policy.hcl", map[string]string{`namespace "*"`: `capabilities = ["read-job"]`, `node ""`: `policy = "read"`}},
		{"whiskers-sync.consul-policy.hcl", map[string]string{`service_prefix ""`: `policy = "read"`, `node_prefix ""`: `policy = "read"`}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			src, err := Files.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			f, diags := hclparse.NewParser().ParseHCL(src, tc.file)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			got := map[string]string{}
			for _, b := range f.Body.(*hclsyntax.Body).Blocks {
				key := b.Type + ` "` + strings.Join(b.Labels, `" "`) + `"`
				for name, a := range b.Body.Attributes {
					v, diags := a.Expr.Value(nil)
					if diags.HasErrors() {
						t.Fatalf("%s: %v", tc.file, diags)
					}
					got[key] = name + " = " + ctyString(v)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("%s grants %q, want exactly %q", tc.file, got, tc.want)
			}
			for k, w := range tc.want {
				if got[k] != w {
					t.Errorf("%s: %s: %q, want %q", tc.file, k, got[k], w)
				}
			}
		})
	}
}

// ctyString writes a string or a list of strings in HCL syntax.
func ctyString(v cty.Value) string {
	if v.Type() == cty.String {
		return `"` + v.AsString() + `"`
	}
	var parts []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		parts = append(parts, ctyString(e))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
