// Package artifacts serves, from this build, what the job files of
// deploy/nomad fetch from a whiskers release: /plugin.tar.gz (the local
// plugins as Traefik loads them, whiskers.PluginSource) and
// /handlers.tar.gz (the wasm handlers and a static site under site/). The
// real-Nomad tests and `whiskers demo` on a real Nomad point the jobs'
// artifact variables at it, on loopback.
package artifacts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io/fs"
	"net/http"
	"testing/fstest"

	"github.com/whiskers-dev/whiskers"
	"github.com/whiskers-dev/whiskers/wasmhost/handlers"
)

// Handler serves the two archives, built once here; site is the static
// site handlers.tar.gz carries under site/.
func Handler(site fs.FS) (http.Handler, error) {
	under := fstest.MapFS{}
	err := fs.WalkDir(site, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(site, p)
		under["site/"+p] = &fstest.MapFile{Data: b, Mode: 0o644}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("artifacts: site: %w", err)
	}
	plugin, err := tarGz(whiskers.PluginSource)
	if err != nil {
		return nil, err
	}
	hs, err := tarGz(handlers.Modules, under)
	if err != nil {
		return nil, err
	}
	archives := map[string][]byte{"/plugin.tar.gz": plugin, "/handlers.tar.gz": hs}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := archives[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(b)
	}), nil
}

// tarGz packs the files of fsyses into one tar.gz.
func tarGz(fsyses ...fs.FS) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, fsys := range fsyses {
		if err := tw.AddFS(fsys); err != nil {
			return nil, fmt.Errorf("artifacts: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	return buf.Bytes(), nil
}
