// Package realnomad holds the end-to-end tests on a real cluster: Consul
// 1.14.8, a Nomad 1.6.1 server and three clients (worker-1..3) on loopback
// (internal/cluster), running the job files of deploy/nomad as users run
// them — `nomad job run` with variables only: whiskers (sync + wasm host) and
// Traefik as system jobs, the finicky app on three nodes. Where the files
// would fetch what these machines cannot (Spin, images, release archives),
// variables point them at local stand-ins: a small HTTP server for the app
// (testapp) and archives served on loopback.
//
// The tests assert what a client of Traefik sees while Nomad changes the
// cluster: balancing, allocation stops, node drains, failing checks,
// canaries and their promotion, a failed deployment, a stopped job, the
// syncer's own restart and the Nomad server's.
//
// Without the Nomad, Consul and Traefik binaries (make nomad consul
// traefik) the tests skip, or fail under CI=true.
package realnomad
