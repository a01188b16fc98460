package wasmhost

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
)

func environOf(mc wazero.ModuleConfig) [][]byte {
	return *(*[][]byte)(unsafe.Add(reflect.ValueOf(mc).UnsafePointer(), environOffset))
}

func TestWithEnvironMatchesWithEnv(t *testing.T) {
	t.Parallel()
	require.True(t, fastEnviron, "wazero's moduleConfig changed shape: withEnviron fell back to WithEnv")
	env := [][2]string{{"B", "2"}, {"A", "1"}, {"EMPTY", ""}}
	base := wazero.NewModuleConfig().WithName("")
	slow := base
	for _, kv := range env {
		slow = slow.WithEnv(kv[0], kv[1])
	}
	fast := withEnviron(base, env)
	assert.Equal(t, environOf(slow), environOf(fast))
	assert.Empty(t, environOf(base), "the base config is not modified")
	// Chaining WithEnv after the fast path still replaces in place.
	assert.Equal(t, environOf(slow.WithEnv("A", "x")), environOf(fast.WithEnv("A", "x")))
}

func TestMergeEnv(t *testing.T) {
	t.Parallel()
	got := mergeEnv([][2]string{{"GREETING", "hi"}, {"REQUEST_METHOD", "spoofed"}}, [][2]string{{"REQUEST_METHOD", "GET"}})
	assert.Equal(t, [][2]string{{"GREETING", "hi"}, {"REQUEST_METHOD", "GET"}}, got)
	assert.Equal(t, [][2]string{{"X", "1"}}, mergeEnv(nil, [][2]string{{"X", "1"}}))
}
