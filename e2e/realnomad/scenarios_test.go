package realnomad

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestOnNomad runs the shipped jobs on the real cluster and then each
// scenario in turn on the same cluster.
func TestOnNomad(t *testing.T) {
	e := startEnv(t)

	t.Run("every node balances and writes the same file", func(t *testing.T) {
		var first []byte
		for i := range e.c.Clients {
			b, err := os.ReadFile(filepath.Join(e.c.Volume(i, "whiskers-dynamic"), "dynamic.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = b
			} else if !bytes.Equal(first, b) {
				t.Errorf("dynamic.yaml on %s differs from worker-1's", e.c.Clients[i].Name)
			}
		}
	})

	t.Run("static files at the edge through the plugin", func(t *testing.T) {
		want, err := os.ReadFile("../testdata/site/cat.txt")
		if err != nil {
			t.Fatal(err)
		}
		for _, node := range e.nodes() {
			// Served by fileserver.wasm in the node's wasm host, through the
			// plugin in Traefik and the socket in the shared host volume.
			r := e.get(node, appHost, "/cat.txt")
			if r.Err != nil || r.Status != http.StatusOK || r.Body != string(want) {
				t.Errorf("%s: GET /cat.txt: %d %v %q, want the site's cat.txt", node, r.Status, r.Err, r.Body)
			}
		}
	})
}
