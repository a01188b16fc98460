package wazerohooks

import (
	"context"
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// Every request instantiates a module, and so allocates and zeroes its
// linear memory (128 KiB for a typical wasi-libc guest) and leaves it to
// the garbage collector. Memory recycles small memories through a
// pool instead: a buffer goes back only after its guest has stopped and
// its module is closed (Release), zeroed, so no request ever sees
// another's bytes. wazero's own Free is not trusted for that, because
// closing a Runtime frees memories of guests that may still be running.

// pooledMemoryCap is the capacity of pooled buffers; guests that grow past
// it get ordinary, garbage-collected memory.
const pooledMemoryCap = 256 << 10

var memoryPool = sync.Pool{New: func() any {
	b := make([]byte, 0, pooledMemoryCap)
	return &b
}}

// Memory is the linear memory of one instance: the
// experimental.MemoryAllocator that WithMemory installs and the
// experimental.LinearMemory it hands out. Its zero value is ready; use it
// for one instantiation, then Release it. It is not safe for concurrent
// use (wazero calls it only while instantiating and running the instance).
type Memory struct {
	buf    []byte
	pooled *[]byte // the pool's buffer backing buf, nil when buf is not pooled
	max    uint64
}

var (
	_ experimental.MemoryAllocator = (*Memory)(nil)
	_ experimental.LinearMemory    = (*Memory)(nil)
)

// WithMemory returns ctx under which wazero takes the linear memory of the
// module instantiated with it from m.
func WithMemory(ctx context.Context, m *Memory) context.Context {
	return experimental.WithMemoryAllocator(ctx, m)
}

// Allocate implements experimental.MemoryAllocator. It is called once,
// for the module's only memory.
func (m *Memory) Allocate(_, maxBytes uint64) experimental.LinearMemory {
	m.max = maxBytes
	return m
}

// Reallocate implements experimental.LinearMemory: it returns the memory
// grown to size bytes, contents kept, new bytes zero.
func (m *Memory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	if m.buf == nil && size <= pooledMemoryCap {
		m.pooled = memoryPool.Get().(*[]byte)
		m.buf = (*m.pooled)[:size]
		return m.buf
	}
	newCap := min(max(size, 2*uint64(cap(m.buf))), m.max)
	buf := make([]byte, size, newCap)
	copy(buf, m.buf)
	// A pooled buffer outgrown is dropped rather than recycled: nothing
	// guarantees the engine no longer points at it until the guest stops.
	m.buf, m.pooled = buf, nil
	return m.buf
}

// Free implements experimental.LinearMemory. Recycling waits for Release.
func (m *Memory) Free() {}

// Release returns a pooled buffer, zeroed, to the pool. Call it once the
// instance's module is closed: the guest must have stopped.
func (m *Memory) Release() {
	if m.pooled == nil {
		return
	}
	b := m.buf[:cap(m.buf)]
	clear(b[:len(m.buf)]) // bytes past len were never handed out, still zero
	*m.pooled = b[:0]
	memoryPool.Put(m.pooled)
	m.pooled, m.buf = nil, nil
}
