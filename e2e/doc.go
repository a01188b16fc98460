// Package e2e holds the end-to-end tests: everything as deployed, on
// loopback, with a real Traefik in front. Its tests start the fake Nomad
// and Consul catalogs with a `finicky` app on three worker servers, the
// `whiskers sync` and `whiskers wasm serve` processes (the binary is built
// from this checkout), and Traefik (from `make traefik`) with this
// repository as a local plugin, watching the file the syncer writes. They
// assert what a client of Traefik sees: balancing, drains without errors,
// a catalog outage that changes nothing, the edge handlers, a stopped wasm
// host. Benchmarks compare the plugin's edge redirect with Traefik's
// built-in one.
//
// Without a Traefik binary the tests skip, or fail under CI=true.
package e2e
