// Package whiskers holds the files Traefik needs to load the whiskers
// middleware (package plugin) as a local plugin: the manifest .traefik.yml,
// go.mod and the plugin's Go sources, laid out as in the repository. Tests
// and `whiskers demo` copy them into plugins-local/src/<module>/ beside a
// real Traefik; see internal/traefikproc.
package whiskers

import "embed"

// ModuleName is the module path Traefik's experimental.localPlugins entry
// names, and the directory under plugins-local/src the sources go to.
const ModuleName = "github.com/whiskers-dev/whiskers"

// PluginSource is the local plugin as Traefik reads it: .traefik.yml, go.mod
// and the Go files of plugin/, _test.go files included: Traefik's Yaegi
// does not load them, and `yaegi test` (plugin/yaegitest) needs them.
//
//go:embed .traefik.yml go.mod plugin/*.go
var PluginSource embed.FS
