package handlers

import "embed"

// Modules holds the built handlers, redirect/redirect.wasm and
// fileserver/fileserver.wasm, so that a binary can run them without a
// checkout of the repository at hand (whiskers demo does).
//
//go:embed redirect/redirect.wasm fileserver/fileserver.wasm
var Modules embed.FS
