package wazerohooks

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInstanceMemory(t *testing.T) {
	t.Parallel()
	const page = 64 << 10 // a WebAssembly page
	m := &Memory{}
	require.Same(t, m, m.Allocate(2*page, 8*page))

	buf := m.Reallocate(2 * page)
	require.Len(t, buf, 2*page)
	assert.NotNil(t, m.pooled, "small memories come from the pool")
	buf[0], buf[2*page-1] = 1, 2

	grown := m.Reallocate(3 * page)
	require.Len(t, grown, 3*page)
	assert.Equal(t, byte(1), grown[0], "contents kept")
	assert.Equal(t, byte(2), grown[2*page-1])
	assert.True(t, bytes.Equal(grown[2*page:], make([]byte, page)), "new pages are zero")

	assert.Nil(t, m.Reallocate(9*page), "growing past max fails")

	big := m.Reallocate(8 * page) // past the pooled capacity: copied to ordinary memory
	require.Len(t, big, 8*page)
	assert.Nil(t, m.pooled)
	assert.Equal(t, byte(1), big[0])
	m.Release()

	// A recycled buffer is zero whatever its last guest wrote.
	for range 20 {
		a := &Memory{}
		a.Allocate(0, pooledMemoryCap)
		b := a.Reallocate(pooledMemoryCap)
		assert.True(t, bytes.Equal(b, make([]byte, pooledMemoryCap)), "memory from the pool is zero")
		for i := range b {
			b[i] = 0xa5
		}
		a.Release()
		a.Free()
	}
}
