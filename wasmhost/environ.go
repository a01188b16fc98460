package wasmhost

import (
	"reflect"
	"unsafe"

	"github.com/tetratelabs/wazero"
)

// Setting a request's ~25 environment variables with ModuleConfig.WithEnv
// clones the config, including a map of every key so far, once per
// variable: quadratic, and measured at ~40% of a redirect's CPU time.
// withEnviron instead writes the finished environment into one private
// clone's fields. The fields are found by name and type through reflect
// when the package loads; if a wazero upgrade renames or retypes them,
// the package falls back to WithEnv (TestWithEnvironMatchesWithEnv checks
// both give the same result and that the fast path is in use).

var (
	environOffset     uintptr
	environKeysOffset uintptr
	fastEnviron       bool
)

func init() {
	t := reflect.TypeOf(wazero.NewModuleConfig())
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return
	}
	env, ok1 := t.Elem().FieldByName("environ")
	keys, ok2 := t.Elem().FieldByName("environKeys")
	if !ok1 || !ok2 ||
		env.Type != reflect.TypeOf([][]byte(nil)) ||
		keys.Type != reflect.TypeOf(map[string]int(nil)) {
		return
	}
	environOffset, environKeysOffset, fastEnviron = env.Offset, keys.Offset, true
}

// withEnviron returns a copy of mc whose environment is exactly env
// (names unique, valid for WASI). mc's own environment is replaced.
func withEnviron(mc wazero.ModuleConfig, env [][2]string) wazero.ModuleConfig {
	if !fastEnviron {
		for _, kv := range env {
			mc = mc.WithEnv(kv[0], kv[1])
		}
		return mc
	}
	c := mc.WithName("") // a fresh clone that nothing else references
	environ := make([][]byte, 0, 2*len(env))
	keys := make(map[string]int, len(env))
	for _, kv := range env {
		keys[kv[0]] = len(environ)
		environ = append(environ, []byte(kv[0]), []byte(kv[1]))
	}
	p := reflect.ValueOf(c).UnsafePointer()
	*(*[][]byte)(unsafe.Add(p, environOffset)) = environ
	*(*map[string]int)(unsafe.Add(p, environKeysOffset)) = keys
	return c
}

// mergeEnv returns the handler's configured variables followed by the
// request's, a request variable replacing a configured one of the same
// name (WAGI gives its own variables precedence).
func mergeEnv(configured, request [][2]string) [][2]string {
	if len(configured) == 0 {
		return request
	}
	seen := make(map[string]struct{}, len(request))
	for _, kv := range request {
		seen[kv[0]] = struct{}{}
	}
	out := make([][2]string, 0, len(configured)+len(request))
	for _, kv := range configured {
		if _, dup := seen[kv[0]]; !dup {
			out = append(out, kv)
		}
	}
	return append(out, request...)
}
