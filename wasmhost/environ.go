package wasmhost

import (
	"context"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// A request's environment reaches its guest through the context of the
// call, not through the module config: setting ~25 variables with
// ModuleConfig.WithEnv clones the config (and a map of every name so far)
// once per variable, measured at ~40% of a redirect's CPU time. Instead the
// host's WASI module is wazero's own with environ_sizes_get and environ_get
// replaced (the override NewFunctionExporter documents) by functions that
// read the environment laid out once per request by newEnviron.

// environ is a WASI environment: "NAME=value" entries, each NUL-terminated,
// back to back in buf, starting at offsets.
type environ struct {
	buf     []byte
	offsets []uint32
}

// newEnviron lays out env (names unique, no NUL anywhere) for the guest.
func newEnviron(env [][2]string) *environ {
	n := 0
	for _, kv := range env {
		n += len(kv[0]) + len(kv[1]) + 2
	}
	e := &environ{buf: make([]byte, 0, n), offsets: make([]uint32, 0, len(env))}
	for _, kv := range env {
		e.offsets = append(e.offsets, uint32(len(e.buf)))
		e.buf = append(e.buf, kv[0]...)
		e.buf = append(e.buf, '=')
		e.buf = append(e.buf, kv[1]...)
		e.buf = append(e.buf, 0)
	}
	return e
}

type environKey struct{}

// withEnviron returns ctx carrying e, for the guest called with it.
func withEnviron(ctx context.Context, e *environ) context.Context {
	return context.WithValue(ctx, environKey{}, e)
}

// environFrom returns the environment ctx carries; none is an empty one.
func environFrom(ctx context.Context) *environ {
	if e, ok := ctx.Value(environKey{}).(*environ); ok {
		return e
	}
	return &environ{}
}

// WASI preview 1 errno values the environment functions return.
const (
	errnoSuccess = 0
	errnoFault   = 21 // a pointer outside the guest's memory
)

// instantiateWASI instantiates WASI preview 1 in rt, with the environment
// functions reading the environment from the call's context.
func instantiateWASI(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	i32 := api.ValueTypeI32
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(environSizesGet), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		WithParameterNames("result.environc", "result.environv_len").
		Export("environ_sizes_get")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(environGet), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		WithParameterNames("environ", "environ_buf").
		Export("environ_get")
	_, err := b.Instantiate(ctx)
	return err
}

// environSizesGet is WASI's environ_sizes_get(environc_ptr, environ_buf_size_ptr).
func environSizesGet(ctx context.Context, mod api.Module, stack []uint64) {
	e := environFrom(ctx)
	mem := mod.Memory()
	if !mem.WriteUint32Le(uint32(stack[0]), uint32(len(e.offsets))) ||
		!mem.WriteUint32Le(uint32(stack[1]), uint32(len(e.buf))) {
		stack[0] = errnoFault
		return
	}
	stack[0] = errnoSuccess
}

// environGet is WASI's environ_get(environ_ptr, environ_buf_ptr): the
// pointers to the entries at environ_ptr, the entries at environ_buf_ptr.
// Like wazero's own, it writes nothing unless both regions lie inside the
// guest's memory, and then answers EFAULT.
func environGet(ctx context.Context, mod api.Module, stack []uint64) {
	e := environFrom(ctx)
	mem := mod.Memory()
	ptrs, buf := uint32(stack[0]), uint32(stack[1])
	size := uint64(mem.Size())
	if uint64(ptrs)+4*uint64(len(e.offsets)) > size || uint64(buf)+uint64(len(e.buf)) > size {
		stack[0] = errnoFault
		return
	}
	mem.Write(buf, e.buf)
	for i, off := range e.offsets {
		mem.WriteUint32Le(ptrs+uint32(4*i), buf+off)
	}
	stack[0] = errnoSuccess
}

// mergeEnv returns the handler's configured variables followed by the
// request's, a request variable replacing a configured one of the same
// name (WAGI gives its own variables precedence).
func mergeEnv(configured, request [][2]string) [][2]string {
	if len(configured) == 0 {
		return request
	}
	requested := func(name string) bool {
		for _, kv := range request {
			if kv[0] == name {
				return true
			}
		}
		return false
	}
	if len(configured) > 8 { // a set pays for itself
		seen := make(map[string]struct{}, len(request))
		for _, kv := range request {
			seen[kv[0]] = struct{}{}
		}
		requested = func(name string) bool {
			_, ok := seen[name]
			return ok
		}
	}
	out := make([][2]string, 0, len(configured)+len(request))
	for _, kv := range configured {
		if !requested(kv[0]) {
			out = append(out, kv)
		}
	}
	return append(out, request...)
}
