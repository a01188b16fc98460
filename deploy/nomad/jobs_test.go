package nomad

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/nomad/api"
	"github.com/zclconf/go-cty/cty"
	"gopkg.in/yaml.v3"

	"github.com/whiskers-dev/whiskers/internal/realbin"
	"github.com/whiskers-dev/whiskers/internal/realbin/realbintest"
	"github.com/whiskers-dev/whiskers/syncer/dynamic"
	"github.com/whiskers-dev/whiskers/syncer/tags"
	"github.com/whiskers-dev/whiskers/wasmhost"
)

// The model below is the part of a Nomad job specification these tests
// check, taken from what Nomad's own parser makes of the files (with the
// defaults of their variables); Nomad's runtime interpolations
// (${NOMAD_*}, ${node.*}, ${attr.*}) stay in the strings as written.

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

	t.Run("variables are documented", func(t *testing.T) {
		files, _ := fs.Glob(Files, "*.nomad.hcl")
		for _, name := range files {
			src, _ := Files.ReadFile(name)
			f, diags := hclparse.NewParser().ParseHCL(src, name)
			if diags.HasErrors() {
				t.Fatalf("%s: %v", name, diags)
			}
			for _, b := range f.Body.(*hclsyntax.Body).Blocks {
				if b.Type != "variable" {
					continue
				}
				for _, attr := range []string{"description", "type", "default"} {
					if _, ok := b.Body.Attributes[attr]; !ok {
						t.Errorf("%s: variable %q has no %s", name, b.Labels[0], attr)
					}
				}
			}
		}
	})

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
		// pool for up to 2s; the syncer throttles its writes already.
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

	pluginName, moduleName, wasmPlugins := localPlugin(t, trT.args)

	t.Run("traefik loads the wasm plugins from the same artifact", func(t *testing.T) {
		if len(wasmPlugins) != 2 {
			t.Errorf("local plugins besides %s: %v, want the redirect and the fileserver", pluginName, wasmPlugins)
		}
		for name, module := range wasmPlugins {
			dir, ok := strings.CutPrefix(module, moduleName+"/")
			if !ok {
				t.Errorf("localPlugins.%s.moduleName = %q: not a directory of %s, which the plugin artifact holds", name, module, moduleName)
				continue
			}
			var manifest struct{ Runtime, WasmPath string }
			data, err := os.ReadFile(path.Join("../..", dir, ".traefik.yml"))
			if err == nil {
				err = yaml.Unmarshal(data, &manifest)
			}
			if err != nil {
				t.Errorf("localPlugins.%s: %v", name, err)
				continue
			}
			if _, err := os.Stat(path.Join("../..", dir, manifest.WasmPath)); manifest.Runtime != "wasm" || err != nil {
				t.Errorf("localPlugins.%s: %s/.traefik.yml runtime %q wasmPath %q (%v), want a wasm plugin with its module", name, dir, manifest.Runtime, manifest.WasmPath, err)
			}
		}
		withSite := fromAPI("traefik.nomad.hcl", parseJob(t, "traefik.nomad.hcl", "static_site_artifact=https://example.com/site.tar.gz"))
		_, tk := findTask(t, withSite, "traefik")
		mounts := flagValue(tk.args, "--experimental.localPlugins.whiskers-fileserver.settings.mounts")
		if !strings.HasSuffix(mounts, ":ro") || !slices.Contains(tk.artifacts, "local/static") {
			t.Errorf("with a static site: fileserver mounts %q, artifacts %q, want the site fetched into local/static and mounted read-only", mounts, tk.artifacts)
		}
		if m := flagValue(trT.args, "--experimental.localPlugins.whiskers-fileserver.settings.mounts"); m != "" {
			t.Errorf("without a static site: fileserver mounts %q, want none", m)
		}
	})

	t.Run("traefik loads the plugin as a local plugin", func(t *testing.T) {
		want := modulePath(t)
		if moduleName != want {
			t.Errorf("localPlugins.%s.moduleName = %q, want this module %q", pluginName, moduleName, want)
		}
		// Traefik looks for ./plugins-local/src/<moduleName> in its working
		// directory: / of the exec chroot (the task directory) and of the
		// image, where the task directory's plugins-local is bound.
		dest := "plugins-local/src/" + moduleName
		if !slices.Contains(trT.artifacts, dest) {
			t.Errorf("traefik task artifacts go to %q: none to %q, where Traefik looks for the local plugin", trT.artifacts, dest)
		}
		if trT.driver == "docker" && !slices.Contains(trT.binds, bind{source: "plugins-local", target: "/plugins-local"}) {
			t.Errorf("traefik task binds %v: plugins-local is not at /plugins-local in the image", trT.binds)
		}
		exec := fromAPI("traefik.nomad.hcl", parseJob(t, "traefik.nomad.hcl", "driver=exec"))
		if _, tk := findTask(t, exec, "traefik"); tk.driver != "exec" || tk.command != "/usr/local/bin/traefik" || !slices.Equal(tk.args, trT.args) {
			t.Errorf("traefik with driver=exec: driver %q command %q args %q, want exec of /usr/local/bin/traefik with the image's args", tk.driver, tk.command, tk.args)
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

// loadJobs parses every job file with Nomad's own parser (`nomad job run
// -output`, which contacts no agent) and the files' variable defaults, and
// returns the jobs by name.
func loadJobs(t *testing.T) map[string]*job {
	t.Helper()
	files, err := fs.Glob(Files, "*.nomad.hcl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no job files embedded: %v", err)
	}
	jobs := map[string]*job{}
	for _, name := range files {
		j := fromAPI(name, parseJob(t, name))
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

// parseJob runs Nomad's parser on a job file of this directory, with the
// defaults of its variables and the given -var arguments.
func parseJob(t *testing.T, file string, vars ...string) *api.Job {
	t.Helper()
	j, err := nomadParse(realbintest.Bin(t, realbin.Nomad), file, vars...)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return j
}

// nomadParse is `nomad job run -output`: Nomad's own parser (unknown
// attributes and blocks, bad types and expressions are errors), without an
// agent.
func nomadParse(bin, file string, vars ...string) (*api.Job, error) {
	args := []string{"job", "run", "-output"}
	for _, v := range vars {
		args = append(args, "-var", v)
	}
	cmd := exec.Command(bin, append(args, file)...)
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("nomad job run -output: %w\n%s", err, stderr.String())
	}
	var wrapper struct{ Job *api.Job }
	if err := json.Unmarshal(out, &wrapper); err != nil || wrapper.Job == nil {
		return nil, fmt.Errorf("decoding the parsed job: %v", err)
	}
	return wrapper.Job, nil
}

// TestParserCatchesTypos: what checks the job files is Nomad's parser, which
// rejects a misspelt attribute, also inside a dynamic block.
func TestParserCatchesTypos(t *testing.T) {
	bin := realbintest.Bin(t, realbin.Nomad)
	for name, body := range map[string]string{
		"attribute":     `volume_mount { read_onyl = true }`,
		"dynamic block": `dynamic "artifact" { for_each = ["x"] content { sorce = "x" } }`,
		"block":         `nosuchblock {}`,
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "typo.nomad.hcl")
			src := `job "x" { group "g" { task "t" { driver = "exec" ` + "\n" + body + "\n" + `} } }`
			if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := nomadParse(bin, file); err == nil {
				t.Errorf("nomad's parser accepted %s", body)
			}
		})
	}
}

// fromAPI is the part of a parsed job these tests check.
func fromAPI(file string, aj *api.Job) *job {
	j := &job{file: file, name: deref(aj.ID), typ: deref(aj.Type)}
	if j.typ == "" {
		j.typ = "service" // Nomad's default
	}
	for _, ag := range aj.TaskGroups {
		g := group{name: deref(ag.Name), count: 1, volumes: map[string]string{}}
		if ag.Count != nil {
			g.count = *ag.Count
		}
		for name, v := range ag.Volumes {
			g.volumes[name] = v.Source
		}
		for _, s := range ag.Services {
			g.services = append(g.services, service{name: s.Name, provider: s.Provider, tags: s.Tags})
		}
		if len(ag.Spreads) > 0 {
			g.blocks = append(g.blocks, "spread")
		}
		if len(ag.Constraints) > 0 {
			g.blocks = append(g.blocks, "constraint")
		}
		for _, at := range ag.Tasks {
			g.tasks = append(g.tasks, taskFromAPI(at))
			for _, s := range at.Services { // a task's services count as its group's here
				g.services = append(g.services, service{name: s.Name, provider: s.Provider, tags: s.Tags})
			}
		}
		j.groups = append(j.groups, g)
	}
	return j
}

func taskFromAPI(at *api.Task) task {
	tk := task{name: at.Name, driver: at.Driver}
	tk.command, _ = at.Config["command"].(string)
	tk.image, _ = at.Config["image"].(string)
	tk.args = strings_(at.Config["args"])
	mounts, _ := at.Config["mount"].([]any)
	for _, m := range mounts {
		if mm, ok := m.(map[string]any); ok {
			src, _ := mm["source"].(string)
			dst, _ := mm["target"].(string)
			tk.binds = append(tk.binds, bind{source: src, target: dst})
		}
	}
	for _, vm := range at.VolumeMounts {
		tk.mounts = append(tk.mounts, mount{volume: deref(vm.Volume), destination: deref(vm.Destination)})
	}
	for _, a := range at.Artifacts {
		tk.artifacts = append(tk.artifacts, deref(a.RelativeDest))
	}
	for _, tpl := range at.Templates {
		tk.templates = append(tk.templates, template{destination: deref(tpl.DestPath), data: deref(tpl.EmbeddedTmpl)})
	}
	return tk
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// strings_ converts a decoded JSON list of strings.
func strings_(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
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
// localPlugin returns the local plugin of args whose module is this
// repository's (the Yaegi plugin), and the others, module by name.
func localPlugin(t *testing.T, args []string) (name, module string, others map[string]string) {
	t.Helper()
	root := modulePath(t)
	others = map[string]string{}
	for _, a := range args {
		if m := localPluginRE.FindStringSubmatch(a); m != nil {
			if m[2] != root {
				others[m[1]] = m[2]
				continue
			}
			if name != "" {
				t.Fatalf("traefik args declare the module %s twice", root)
			}
			name, module = m[1], m[2]
		}
	}
	if name == "" {
		t.Fatalf("traefik args %q: no --experimental.localPlugins.<name>.moduleName=%s", args, root)
	}
	return name, module, others
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
