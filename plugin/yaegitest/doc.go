// Package yaegitest tests the Traefik plugin (package plugin) the way
// Traefik loads it: from source, in the Yaegi interpreter, with only the
// standard library's symbols, its options decoded from Traefik's dynamic
// configuration with weakly typed mapstructure decoding.
//
// It lives apart from package plugin so that plugin itself, and `yaegi test`
// of it, never see the non-standard packages these tests need (yaegi,
// mapstructure, wazero through the wasm host). It has no non-test code.
package yaegitest
