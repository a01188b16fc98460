// Package handlers holds the built-in WAGI handlers of the wasm host, written in C
// against wasi-libc and committed both as source and as built modules:
//
//   - redirect/redirect.wasm answers every request with a redirect (DESTINATION,
//     STATUS, INCLUDE_PATH, TRIM_PREFIX, KEEP_QUERY);
//   - fileserver/fileserver.wasm serves static files from a read-only mount (index
//     files, SPA fallback, custom 404, Content-Type, Cache-Control, ETag and
//     Last-Modified validators, precompressed .br/.gz siblings, single ranges, HEAD).
//
// Each .c file starts with its build command and the env options it reads; the
// README's "Built-in handlers" section documents them for operators. `make wasm` at
// the repository root rebuilds the modules reproducibly and `make wasm-check` fails
// when a committed module differs from a fresh build.
//
// The Go code here is only tests: they run both modules through wasmhost.Host behind
// a real HTTP server, and FuzzNoEscape checks that no request path reaches a file
// outside the mount. testdata/site is a small static site for demos.
package handlers
