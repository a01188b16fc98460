package traefikproc_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/internal/realbin"
	"github.com/whiskers-dev/whiskers/internal/realbin/realbintest"
	"github.com/whiskers-dev/whiskers/internal/traefikproc"
)

// TestStartLoadsPluginAndWatchesFile: Traefik starts from the written static
// configuration, loads the embedded plugin (a router using it is enabled)
// and picks up a new dynamic file.
func TestStartLoadsPluginAndWatchesFile(t *testing.T) {
	bin := realbintest.Bin(t, realbin.Traefik)
	dir := t.TempDir()
	dyn := filepath.Join(dir, "dynamic.yaml")
	p, err := traefikproc.Start(t.Context(), traefikproc.Options{Bin: bin, Dir: filepath.Join(dir, "traefik"), DynamicFile: dyn})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = p.Close()
		if t.Failed() {
			t.Logf("traefik output:\n%s", p.Logs())
		}
	})

	require.NoError(t, os.WriteFile(dyn, []byte(`http:
  routers:
    edge:
      rule: PathPrefix(`+"`/old`"+`)
      middlewares: [to-new]
      service: noop@internal
    wasm:
      rule: PathPrefix(`+"`/wasm`"+`)
      middlewares: [wasm]
      service: noop@internal
  middlewares:
    to-new:
      redirectRegex:
        regex: ^http://[^/]+/old(.*)
        replacement: /new${1}
    wasm:
      plugin:
        whiskers:
          handler: redirect
          socket: unix:///nonexistent/wasm.sock
          onHostDown: "503"
`), 0o644))
	require.NoError(t, p.WaitRouters(t.Context(), "edge@file", "wasm@file"))

	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	for path, want := range map[string]int{"/old/x": http.StatusFound, "/wasm/x": http.StatusServiceUnavailable} {
		resp, err := client.Get(p.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, path)
	}
}

// TestStaticConfig: the static configuration names what Start was given
// and the recommended throttle.
func TestStaticConfig(t *testing.T) {
	s := traefikproc.StaticConfig(traefikproc.Options{Web: "127.0.0.1:1", API: "127.0.0.1:2", DynamicFile: "/run/whiskers/dynamic.yaml"})
	for _, want := range []string{
		`address: "127.0.0.1:1"`, `address: "127.0.0.1:2"`, "providersThrottleDuration: 100ms",
		`filename: "/run/whiskers/dynamic.yaml"`, "watch: true",
		"moduleName: github.com/whiskers-dev/whiskers", "level: ERROR",
	} {
		require.True(t, strings.Contains(s, want), "static config lacks %q:\n%s", want, s)
	}
}

// TestStaticConfigEntryPointsNoPlugins: more entry points are declared
// beside web and traefik; NoPlugins leaves the local plugins out.
func TestStaticConfigEntryPointsNoPlugins(t *testing.T) {
	s := traefikproc.StaticConfig(traefikproc.Options{
		Web: "127.0.0.1:1", API: "127.0.0.1:2", DynamicFile: "/d.yaml", NoPlugins: true,
		EntryPoints: map[string]string{"dns": "127.0.0.1:0/udp", "mqtt": "127.0.0.1:0"},
	})
	require.Contains(t, s, "  dns:\n    address: \"127.0.0.1:0/udp\"\n  mqtt:\n    address: \"127.0.0.1:0\"\n")
	require.NotContains(t, s, "localPlugins")
}
