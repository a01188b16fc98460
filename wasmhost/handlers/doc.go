// Package handlers holds the built-in handlers of whiskers, written in C against
// wasi-libc and committed both as source and as built modules, each in two builds of
// one core (redirect/redirect.h, fileserver/fileserver.h):
//
//   - as WAGI modules for the wasm host (wagi.h: the request from the environment, a
//     CGI response on stdout): redirect/redirect.wasm answers every request with a
//     redirect (DESTINATION, STATUS, INCLUDE_PATH, TRIM_PREFIX, KEEP_QUERY);
//     fileserver/fileserver.wasm serves static files from a read-only mount (index
//     files, SPA fallback, custom 404, Content-Type, Cache-Control, ETag and
//     Last-Modified validators, precompressed .br/.gz siblings, single ranges, HEAD);
//   - as http-wasm guests that Traefik runs in its own process as wasm middleware
//     plugins (httpwasm.h: the options as JSON, the request through host calls):
//     redirect/edge.wasm and fileserver/edge.wasm, each directory a Traefik plugin
//     with its .traefik.yml. The options are the env names in camelCase.
//
// Each .c file starts with its build command and what it reads; docs/wasm-host.md's
// "Built-in handlers" section documents them for operators. `make wasm` at the
// repository root rebuilds the modules reproducibly and `make wasm-check` fails when
// a committed module differs from a fresh build.
//
// The Go code here is only tests: the same tables run both builds, the WAGI one
// through wasmhost.Host and the edge one through http-wasm-host-go configured as
// Traefik configures it, behind a real HTTP server; FuzzNoEscape checks that no
// request path reaches a file outside the mount, and FuzzHeaders that no header
// makes a guest fail. testdata/site is a small static site for demos.
package handlers
