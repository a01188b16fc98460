// Package whiskers holds the files Traefik needs to load the whiskers
// middlewares as local plugins, laid out as in the repository: the Yaegi
// plugin (package plugin: the manifest .traefik.yml, go.mod and its Go
// sources) and the two in-process wasm plugins, redirect and fileserver
// (their .traefik.yml and edge.wasm under wasmhost/handlers). Tests and
// `whiskers demo` copy them into plugins-local/src/<module>/ beside a real
// Traefik; see internal/traefikproc.
package whiskers

import "embed"

// ModuleName is the module path Traefik's experimental.localPlugins entry
// names, and the directory under plugins-local/src the sources go to.
const ModuleName = "github.com/whiskers-dev/whiskers"

// RedirectModule and FileserverModule are the module names of the wasm
// plugins (directories of this module, each with its own .traefik.yml).
const (
	RedirectModule   = ModuleName + "/wasmhost/handlers/redirect"
	FileserverModule = ModuleName + "/wasmhost/handlers/fileserver"
)

// PluginSource is the local plugins as Traefik reads them: .traefik.yml,
// go.mod and the Go files of plugin/, _test.go files included (Traefik's
// Yaegi does not load them, and `yaegi test` (plugin/yaegitest) needs
// them), and each wasm plugin's .traefik.yml and edge.wasm.
//
//go:embed .traefik.yml go.mod plugin/*.go
//go:embed wasmhost/handlers/redirect/.traefik.yml wasmhost/handlers/redirect/edge.wasm
//go:embed wasmhost/handlers/fileserver/.traefik.yml wasmhost/handlers/fileserver/edge.wasm
var PluginSource embed.FS
