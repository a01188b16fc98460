// Package wazerohooks holds everything the wasm host plugs into wazero
// through its experimental API (github.com/tetratelabs/wazero/experimental
// and experimental/sys, sysfs), so that package wasmhost reads without it
// and a wazero upgrade that changes that API touches only this package.
//
// Two hooks live here, both for the cost of a fresh instance per request:
//   - Memory, a linear-memory allocator (experimental.MemoryAllocator)
//     that recycles guests' memories through a pool of zeroed buffers
//     instead of allocating and zeroing one per instance;
//   - MountVolume, a read-only directory mount (a sysfs mount) whose root
//     opens lazily and whose files are raw file descriptors on Linux,
//     instead of wazero's os.File-backed DirFS.
//
// Data enters as a context and a wazero.FSConfig from the host and leaves
// as the same, carrying the hooks to wazero; this package starts no
// goroutines and does no I/O of its own outside the guest's file calls.
package wazerohooks
