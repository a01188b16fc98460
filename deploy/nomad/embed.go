package nomad

import "embed"

// Jobs holds the job files, so that a binary can submit them without a
// checkout of the repository at hand (`whiskers demo` on a real Nomad does).
//
//go:embed whiskers.nomad.hcl traefik.nomad.hcl finicky-whiskers.nomad.hcl
var Jobs embed.FS
