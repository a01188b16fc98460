package yaegitest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/go-viper/mapstructure/v2"
	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"
	"gopkg.in/yaml.v3"

	"github.com/whiskers-dev/whiskers/plugin"

	"github.com/whiskers-dev/whiskers"
)

// moduleName is the plugin's module, as in Traefik's
// experimental.localPlugins.<name>.moduleName.
const moduleName = "github.com/whiskers-dev/whiskers"

// repoRoot is the repository root seen from this package's directory.
const repoRoot = "../.."

// manifest is the part of .traefik.yml Traefik reads (pkg/plugins.Manifest).
type manifest struct {
	DisplayName string         `yaml:"displayName"`
	Type        string         `yaml:"type"`
	Runtime     string         `yaml:"runtime"`
	Import      string         `yaml:"import"`
	BasePkg     string         `yaml:"basePkg"`
	Summary     string         `yaml:"summary"`
	TestData    map[string]any `yaml:"testData"`
}

// readManifest reads the repository's .traefik.yml.
func readManifest(t testing.TB) manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, ".traefik.yml"))
	if err != nil {
		t.Fatalf("reading manifest: %v", err)
	}
	var m manifest
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("parsing manifest: %v", err)
	}
	return m
}

// newFunc builds a middleware from Traefik-style options (the map under
// plugin.<name> in the dynamic configuration).
type newFunc func(ctx context.Context, next http.Handler, options map[string]any, name string) (http.Handler, error)

// decodeOptions does what Traefik's yaegiMiddlewareBuilder.createConfig does:
// weakly typed mapstructure decoding, comma-separated strings split into
// slices, into the value CreateConfig returned. Traefik v3.6 uses
// github.com/mitchellh/mapstructure v1.5, whose StringToSliceHookFunc splits
// into any slice type; go-viper/mapstructure v2 calls that behaviour
// StringToWeakSliceHookFunc (its StringToSliceHookFunc only fills []string).
func decodeOptions(options map[string]any, result any) error {
	if len(options) == 0 {
		return nil
	}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.StringToWeakSliceHookFunc(","),
		WeaklyTypedInput: true,
		Result:           result,
	})
	if err != nil {
		return fmt.Errorf("creating configuration decoder: %w", err)
	}
	if err := dec.Decode(options); err != nil {
		return fmt.Errorf("decoding configuration: %w", err)
	}
	return nil
}

// newNative builds the middleware compiled, through the same decoding.
func newNative(ctx context.Context, next http.Handler, options map[string]any, name string) (http.Handler, error) {
	cfg := plugin.CreateConfig()
	if err := decodeOptions(options, cfg); err != nil {
		return nil, err
	}
	return plugin.New(ctx, next, cfg, name)
}

// yaegiPlugin is the plugin loaded by Yaegi as Traefik loads it.
type yaegiPlugin struct {
	fnNew          reflect.Value
	fnCreateConfig reflect.Value
}

var (
	yaegiOnce   sync.Once
	yaegiLoaded *yaegiPlugin
	yaegiErr    error
	goPathDir   string
)

// TestMain removes the GOPATH built for Yaegi.
func TestMain(m *testing.M) {
	code := m.Run()
	if goPathDir != "" {
		_ = os.RemoveAll(goPathDir)
	}
	os.Exit(code)
}

// loadYaegi returns the Yaegi-loaded plugin, loading it on first use. All
// tests share one interpreter, as all middlewares of a plugin do in Traefik.
func loadYaegi(t testing.TB) *yaegiPlugin {
	t.Helper()
	yaegiOnce.Do(func() {
		yaegiLoaded, yaegiErr = buildYaegi()
	})
	if yaegiErr != nil {
		t.Fatalf("loading plugin in yaegi: %v", yaegiErr)
	}
	return yaegiLoaded
}

// buildGoPath lays out the plugin as Traefik expects local plugins,
// plugins-local/src/<moduleName>: the manifest, go.mod and the plugin
// package's files, from the sources embedded in package whiskers (the same
// bytes as the checkout; see TestPluginSourceComplete). It returns the GOPATH.
func buildGoPath() (string, error) {
	dir, err := os.MkdirTemp("", "whiskers-plugins-local-")
	if err != nil {
		return "", fmt.Errorf("creating gopath: %w", err)
	}
	goPathDir = dir
	// Test files too: Traefik's Yaegi skips them, and `yaegi test`
	// (TestYaegiPackageTests) needs them.
	mod := filepath.Join(dir, "src", filepath.FromSlash(moduleName))
	if err := os.CopyFS(mod, whiskers.PluginSource); err != nil {
		return "", fmt.Errorf("laying out the plugin: %w", err)
	}
	return dir, nil
}

// newInterpreter creates an interpreter as Traefik's newInterpreter does:
// GOPATH, environment, the standard library's symbols and nothing else.
func newInterpreter(goPath string) (*interp.Interpreter, error) {
	i := interp.New(interp.Options{GoPath: goPath, Env: os.Environ()})
	if err := i.Use(stdlib.Symbols); err != nil {
		return nil, fmt.Errorf("loading symbols: %w", err)
	}
	return i, nil
}

var (
	goPathOnce sync.Once
	goPathErr  error
)

// sharedGoPath builds the GOPATH once per test binary.
func sharedGoPath() (string, error) {
	goPathOnce.Do(func() {
		_, goPathErr = buildGoPath()
	})
	return goPathDir, goPathErr
}

// buildYaegi loads the plugin as Traefik does for a local plugin (following
// v3.6.12's pkg/plugins: newInterpreter and yaegiMiddlewareBuilder).
func buildYaegi() (*yaegiPlugin, error) {
	goPath, err := sharedGoPath()
	if err != nil {
		return nil, err
	}
	mb, err := os.ReadFile(filepath.Join(goPath, "src", moduleName, ".traefik.yml"))
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	var m manifest
	if err := yaml.Unmarshal(mb, &m); err != nil {
		return nil, fmt.Errorf("parsing manifest: %w", err)
	}
	i, err := newInterpreter(goPath)
	if err != nil {
		return nil, err
	}
	if _, err := i.Eval(fmt.Sprintf(`import "%s"`, m.Import)); err != nil {
		return nil, fmt.Errorf("importing plugin code %q: %w", m.Import, err)
	}
	basePkg := m.BasePkg
	if basePkg == "" {
		basePkg = strings.ReplaceAll(filepath.Base(m.Import), "-", "_")
	}
	fnNew, err := i.Eval(basePkg + `.New`)
	if err != nil {
		return nil, fmt.Errorf("evaluating New: %w", err)
	}
	fnCreateConfig, err := i.Eval(basePkg + `.CreateConfig`)
	if err != nil {
		return nil, fmt.Errorf("evaluating CreateConfig: %w", err)
	}
	return &yaegiPlugin{fnNew: fnNew, fnCreateConfig: fnCreateConfig}, nil
}

// newYaegi builds the middleware with the Yaegi-loaded plugin, as Traefik's
// yaegiMiddlewareBuilder does: CreateConfig, decode, New through reflection.
func newYaegi(t testing.TB) newFunc {
	p := loadYaegi(t)
	return p.new
}

// new implements newFunc for the Yaegi-loaded plugin.
func (p *yaegiPlugin) new(ctx context.Context, next http.Handler, options map[string]any, name string) (http.Handler, error) {
	results := p.fnCreateConfig.Call(nil)
	if len(results) != 1 {
		return nil, fmt.Errorf("CreateConfig returned %d values", len(results))
	}
	cfg := results[0]
	if err := decodeOptions(options, cfg.Interface()); err != nil {
		return nil, err
	}
	out := p.fnNew.Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(next), cfg, reflect.ValueOf(name)})
	if len(out) > 1 && out[1].Interface() != nil {
		err, ok := out[1].Interface().(error)
		if !ok {
			return nil, fmt.Errorf("invalid error type: %T", out[1].Interface())
		}
		return nil, err
	}
	h, ok := out[0].Interface().(http.Handler)
	if !ok {
		return nil, fmt.Errorf("invalid handler type: %T", out[0].Interface())
	}
	return h, nil
}

// runtimes are the two ways the behaviour tests build the middleware.
func runtimes(t *testing.T) []struct {
	name string
	new  newFunc
} {
	return []struct {
		name string
		new  newFunc
	}{
		{"native", newNative},
		{"yaegi", newYaegi(t)},
	}
}
