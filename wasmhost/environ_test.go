package wasmhost

import (
	"testing"

	"github.com/stretchr/testify/assert"
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

func TestMergeEnv(t *testing.T) {
	t.Parallel()
	got := mergeEnv([][2]string{{"GREETING", "hi"}, {"REQUEST_METHOD", "spoofed"}}, [][2]string{{"REQUEST_METHOD", "GET"}})
	assert.Equal(t, [][2]string{{"GREETING", "hi"}, {"REQUEST_METHOD", "GET"}}, got)
	assert.Equal(t, [][2]string{{"X", "1"}}, mergeEnv(nil, [][2]string{{"X", "1"}}))
}
