// Package nomad holds the Nomad job specifications that run whiskers on a
// cluster, and the test that keeps them consistent with each other:
//
//   - whiskers.nomad.hcl: system job, `whiskers sync` writing Traefik's
//     dynamic configuration into a host volume and `whiskers wasm serve` on a
//     Unix socket in another;
//   - traefik.nomad.hcl: system job, Traefik with the file provider watching
//     that volume and the whiskers plugin loaded as a local plugin;
//   - finicky-whiskers.nomad.hcl: an example Spin app (three copies, one per
//     node) with traefik.* tags, and a Redis that is not exposed;
//   - whiskers-sync.nomad-policy.hcl and whiskers-sync.consul-policy.hcl: the
//     read-only ACL policies of the syncer's Nomad and Consul tokens.
//
// The job files are plain HCL2 job specifications for `nomad job run`; Files
// embeds them and the policies so that tools and tests can read them from
// any directory.
package nomad

import "embed"

// Files holds the job specifications (*.nomad.hcl) and ACL policies
// (*-policy.hcl) of this directory.
//
//go:embed *.nomad.hcl *-policy.hcl
var Files embed.FS
