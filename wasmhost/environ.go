package wasmhost

import (
	"context"
	"errors"
	"strings"

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
// read the environment laid out once per request by newGuestStrings. argv takes
// the same road (args_sizes_get and args_get, laid out with the environment
// by newGuestStrings), for
// the same reason: ModuleConfig.WithArgs is one more clone per request.

// environ is a WASI environment: "NAME=value" entries, each NUL-terminated,
// back to back in buf, starting at offsets. argv has the same layout, its
// entries the arguments.
type environ struct {
	buf     []byte
	offsets []uint32
}

// newEnviron lays out env (names unique, no NUL anywhere) for the guest.
func newEnviron(env [][2]string) *environ {
	g, _ := newGuestStrings(env, nil)
	return &g.env
}

// errArgNUL is wazero's refusal of an argument holding a NUL byte
// (ModuleConfig.WithArgs fails instantiation the same way).
var errArgNUL = errors.New("args invalid: contains NUL character")

// guestStrings is what a call's context carries for the guest's WASI
// environment and argument functions.
type guestStrings struct{ env, args environ }

// newGuestStrings lays out env (as newEnviron) and args for the guest, in
// one buffer, or fails if an argument holds a NUL.
func newGuestStrings(env [][2]string, args []string) (*guestStrings, error) {
	n := 0
	for _, kv := range env {
		n += len(kv[0]) + len(kv[1]) + 2
	}
	nEnv := n
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, errArgNUL
		}
		n += len(a) + 1
	}
	buf := make([]byte, 0, n)
	offsets := make([]uint32, 0, len(env)+len(args))
	for _, kv := range env {
		offsets = append(offsets, uint32(len(buf)))
		buf = append(buf, kv[0]...)
		buf = append(buf, '=')
		buf = append(buf, kv[1]...)
		buf = append(buf, 0)
	}
	for _, a := range args {
		offsets = append(offsets, uint32(len(buf)-nEnv))
		buf = append(buf, a...)
		buf = append(buf, 0)
	}
	return &guestStrings{
		env:  environ{buf: buf[:nEnv:nEnv], offsets: offsets[:len(env):len(env)]},
		args: environ{buf: buf[nEnv:], offsets: offsets[len(env):]},
	}, nil
}

type guestStringsKey struct{}

// withEnviron returns ctx carrying the environment e and no arguments, for
// the guest called with it.
func withEnviron(ctx context.Context, e *environ) context.Context {
	return withGuestStrings(ctx, &guestStrings{env: *e})
}

// withGuestStrings returns ctx carrying g, for the guest called with it.
func withGuestStrings(ctx context.Context, g *guestStrings) context.Context {
	return context.WithValue(ctx, guestStringsKey{}, g)
}

var noStrings guestStrings

// stringsFrom returns what ctx carries; none is an empty environment and
// no arguments.
func stringsFrom(ctx context.Context) *guestStrings {
	if g, ok := ctx.Value(guestStringsKey{}).(*guestStrings); ok {
		return g
	}
	return &noStrings
}

// WASI preview 1 errno values the environment functions return.
const (
	errnoSuccess = 0
	errnoFault   = 21 // a pointer outside the guest's memory
)

// instantiateWASI instantiates WASI preview 1 in rt, with the environment
// and argument functions reading them from the call's context.
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
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(argsSizesGet), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		WithParameterNames("result.argc", "result.argv_len").
		Export("args_sizes_get")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(argsGet), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		WithParameterNames("argv", "argv_buf").
		Export("args_get")
	_, err := b.Instantiate(ctx)
	return err
}

// environSizesGet is WASI's environ_sizes_get(environc_ptr, environ_buf_size_ptr).
func environSizesGet(ctx context.Context, mod api.Module, stack []uint64) {
	writeSizes(&stringsFrom(ctx).env, mod, stack)
}

// environGet is WASI's environ_get(environ_ptr, environ_buf_ptr): the
// pointers to the entries at environ_ptr, the entries at environ_buf_ptr.
// Like wazero's own, it writes nothing unless both regions lie inside the
// guest's memory, and then answers EFAULT.
func environGet(ctx context.Context, mod api.Module, stack []uint64) {
	writeStrings(&stringsFrom(ctx).env, mod, stack)
}

// argsSizesGet is WASI's args_sizes_get(argc_ptr, argv_buf_size_ptr).
func argsSizesGet(ctx context.Context, mod api.Module, stack []uint64) {
	writeSizes(&stringsFrom(ctx).args, mod, stack)
}

// argsGet is WASI's args_get(argv_ptr, argv_buf_ptr), as environGet.
func argsGet(ctx context.Context, mod api.Module, stack []uint64) {
	writeStrings(&stringsFrom(ctx).args, mod, stack)
}

// writeSizes writes the number of e's entries and their size to the
// guest's memory at the two pointers on the stack.
func writeSizes(e *environ, mod api.Module, stack []uint64) {
	mem := mod.Memory()
	if !mem.WriteUint32Le(uint32(stack[0]), uint32(len(e.offsets))) ||
		!mem.WriteUint32Le(uint32(stack[1]), uint32(len(e.buf))) {
		stack[0] = errnoFault
		return
	}
	stack[0] = errnoSuccess
}

// writeStrings writes the pointers to e's entries and the entries to the
// guest's memory at the two pointers on the stack, all or nothing.
func writeStrings(e *environ, mod api.Module, stack []uint64) {
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
