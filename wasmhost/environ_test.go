package wasmhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

func TestNewEnviron(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     [][2]string
		buf     string
		offsets []uint32
	}{
		{name: "none", env: nil, buf: "", offsets: []uint32{}},
		{name: "one", env: [][2]string{{"A", "1"}}, buf: "A=1\x00", offsets: []uint32{0}},
		{name: "empty value", env: [][2]string{{"A", ""}, {"BB", "x=y"}}, buf: "A=\x00BB=x=y\x00", offsets: []uint32{0, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnviron(tc.env)
			assert.Equal(t, tc.buf, string(e.buf))
			assert.Equal(t, tc.offsets, e.offsets)
		})
	}
}

func TestNewGuestStrings(t *testing.T) {
	t.Parallel()
	g, err := newGuestStrings([][2]string{{"A", "1"}, {"BB", ""}}, []string{"/env", "", "x y"})
	require.NoError(t, err)
	assert.Equal(t, "A=1\x00BB=\x00", string(g.env.buf))
	assert.Equal(t, []uint32{0, 4}, g.env.offsets)
	assert.Equal(t, "/env\x00\x00x y\x00", string(g.args.buf))
	assert.Equal(t, []uint32{0, 5, 6}, g.args.offsets)

	g, err = newGuestStrings(nil, nil)
	require.NoError(t, err)
	assert.Empty(t, g.env.buf)
	assert.Empty(t, g.args.offsets)

	_, err = newGuestStrings(nil, []string{"a", "b\x00c"})
	assert.ErrorIs(t, err, errArgNUL)
}

func TestMergeEnv(t *testing.T) {
	t.Parallel()
	got := mergeEnv([][2]string{{"GREETING", "hi"}, {"REQUEST_METHOD", "spoofed"}}, [][2]string{{"REQUEST_METHOD", "GET"}})
	assert.Equal(t, [][2]string{{"GREETING", "hi"}, {"REQUEST_METHOD", "GET"}}, got)
	assert.Equal(t, [][2]string{{"X", "1"}}, mergeEnv(nil, [][2]string{{"X", "1"}}))

	// More than a few configured variables take the other road.
	var configured [][2]string
	for i := range 20 {
		configured = append(configured, [2]string{fmt.Sprintf("V%02d", i), "c"})
	}
	configured = append(configured, [2]string{"REQUEST_METHOD", "spoofed"})
	got = mergeEnv(configured, [][2]string{{"REQUEST_METHOD", "GET"}, {"V03", "r"}})
	want := append([][2]string{}, configured[:3]...)
	want = append(want, configured[4:20]...)
	want = append(want, [2]string{"REQUEST_METHOD", "GET"}, [2]string{"V03", "r"})
	assert.Equal(t, want, got)
}

// runEnvGuest runs testdata/env.wasm (built by make -C wasmhost/testdata)
// once and returns its "env NAME=value" lines in order. With stock, the
// environment goes through wazero's own WASI and ModuleConfig.WithEnv;
// without, through instantiateWASI and the call's context, as in the host.
func runEnvGuest(t *testing.T, env [][2]string, stock bool) []string {
	t.Helper()
	ctx := t.Context()
	wasm, err := os.ReadFile("testdata/env.wasm")
	require.NoError(t, err)
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { assert.NoError(t, rt.Close(context.Background())) })
	var stdout bytes.Buffer
	mc := wazero.NewModuleConfig().WithStdout(&stdout).WithStartFunctions()
	if stock {
		wasi_snapshot_preview1.MustInstantiate(ctx, rt)
		for _, kv := range env {
			mc = mc.WithEnv(kv[0], kv[1])
		}
	} else {
		require.NoError(t, instantiateWASI(ctx, rt))
		ctx = withEnviron(ctx, newEnviron(env))
	}
	mod, err := rt.InstantiateWithConfig(ctx, wasm, mc)
	require.NoError(t, err)
	_, err = mod.ExportedFunction("_start").Call(ctx)
	var ee *sys.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 0) {
		require.NoError(t, err)
	}
	var lines []string
	for _, l := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(l, "env ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestGuestSeesExactEnviron: the guest's environ is exactly the prepared
// environment, in order, and the same as wazero's own WithEnv gives it.
func TestGuestSeesExactEnviron(t *testing.T) {
	t.Parallel()
	var many [][2]string
	for i := range 300 {
		many = append(many, [2]string{fmt.Sprintf("VAR_%03d", i), strconv.Itoa(i)})
	}
	tests := []struct {
		name string
		env  [][2]string
	}{
		{name: "none", env: nil},
		{name: "empty values", env: [][2]string{{"A", ""}, {"B", "x"}, {"C", ""}}},
		{name: "equals and spaces in values", env: [][2]string{{"Q", "a=b&c=d"}, {"S", " spaced out "}}},
		{name: "duplicates resolved by mergeEnv", env: mergeEnv(
			[][2]string{{"GREETING", "hi"}, {"REQUEST_METHOD", "spoofed"}, {"EMPTY", ""}},
			[][2]string{{"REQUEST_METHOD", "GET"}, {"PATH_INFO", ""}})},
		{name: "many", env: many},
		{name: "large values", env: [][2]string{{"BIG", strings.Repeat("x", 256<<10)}, {"SMALL", "1"}, {"BIG2", strings.Repeat("y", 70000)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := []string{}
			for _, kv := range tc.env {
				want = append(want, "env "+kv[0]+"="+kv[1])
			}
			got := runEnvGuest(t, tc.env, false)
			if got == nil {
				got = []string{}
			}
			assert.Equal(t, want, got)
			stock := runEnvGuest(t, tc.env, true)
			if stock == nil {
				stock = []string{}
			}
			assert.Equal(t, stock, got, "same as wazero's WithEnv")
		})
	}
}

// TestEnvironFault: pointers outside the guest's memory give EFAULT and,
// for environ_get, leave the memory untouched, as wazero's own functions do.
func TestEnvironFault(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	wasm, err := os.ReadFile("testdata/env.wasm")
	require.NoError(t, err)
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { assert.NoError(t, rt.Close(context.Background())) })
	require.NoError(t, instantiateWASI(ctx, rt))
	mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions())
	require.NoError(t, err)
	ctx = withEnviron(ctx, newEnviron([][2]string{{"A", "1"}, {"BB", "22"}}))
	size := mod.Memory().Size()
	snapshot := func() []byte {
		b, ok := mod.Memory().Read(0, size)
		require.True(t, ok)
		return bytes.Clone(b)
	}

	tests := []struct {
		name string
		fn   api.GoModuleFunc
		a, b uint32
		want uint64
	}{
		{name: "sizes ok", fn: environSizesGet, a: 0, b: 4, want: errnoSuccess},
		{name: "sizes count outside", fn: environSizesGet, a: size - 2, b: 0, want: errnoFault},
		{name: "sizes size outside", fn: environSizesGet, a: 0, b: size, want: errnoFault},
		{name: "get pointers outside", fn: environGet, a: size - 4, b: 0, want: errnoFault},
		{name: "get strings outside", fn: environGet, a: 0, b: size - 8, want: errnoFault},
		{name: "get ok", fn: environGet, a: 0, b: 8, want: errnoSuccess},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: the subtests share one memory.
			before := snapshot()
			stack := []uint64{uint64(tc.a), uint64(tc.b)}
			tc.fn(ctx, mod, stack)
			assert.Equal(t, tc.want, stack[0])
			if tc.want == errnoFault && strings.HasPrefix(tc.name, "get") {
				assert.True(t, bytes.Equal(before, snapshot()), "memory untouched")
			}
		})
	}
	mem := mod.Memory()
	ptrs, _ := mem.Read(0, 8)
	strs, _ := mem.Read(8, 10)
	assert.Equal(t, []byte{8, 0, 0, 0, 12, 0, 0, 0}, ptrs)
	assert.Equal(t, "A=1\x00BB=22\x00", string(strs))
}
