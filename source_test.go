package whiskers

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPluginSourceComplete: the manifest, go.mod and every Go file of
// plugin/ are embedded, byte for byte, and every wasm plugin's manifest and
// module, so a copy of PluginSource loads the same plugins as the checkout.
func TestPluginSourceComplete(t *testing.T) {
	onDisk, err := filepath.Glob(filepath.Join("plugin", "*.go"))
	require.NoError(t, err)
	var want []string
	for _, p := range onDisk {
		want = append(want, filepath.ToSlash(p))
	}
	want = append(want, ".traefik.yml", "go.mod")
	manifests, err := filepath.Glob(filepath.Join("wasmhost", "handlers", "*", ".traefik.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, manifests)
	for _, m := range manifests {
		dir := filepath.ToSlash(filepath.Dir(m))
		want = append(want, dir+"/.traefik.yml", dir+"/edge.wasm")
	}
	slices.Sort(want)

	var got []string
	err = fs.WalkDir(PluginSource, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		got = append(got, p)
		embedded, err := fs.ReadFile(PluginSource, p)
		require.NoError(t, err)
		disk, err := os.ReadFile(filepath.FromSlash(p))
		require.NoError(t, err)
		require.Equal(t, string(disk), string(embedded), p)
		return nil
	})
	require.NoError(t, err)
	slices.Sort(got)
	require.Equal(t, want, got)
}
