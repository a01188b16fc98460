// Package traefiktest finds the Traefik binary for tests that run the real
// proxy, and applies the project's rule when it is missing: skip locally,
// fail under CI=true (CI builds it with `make traefik`).
package traefiktest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/whiskers-dev/whiskers/internal/traefikproc"
)

// Bin returns the Traefik binary ($WHISKERS_TRAEFIK_BIN, else the
// repository's .cache/bin/traefik). Without one it skips tb, or fails it
// when $CI is "true".
func Bin(tb testing.TB) string {
	tb.Helper()
	root, err := moduleRoot()
	if err != nil {
		tb.Fatalf("traefiktest: %v", err)
	}
	if bin := traefikproc.Find(root); bin != "" {
		return bin
	}
	msg := "no Traefik binary: run `make traefik` (builds " + traefikproc.CachePath + ") or set $" + traefikproc.BinEnv
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg + " (CI=true: the end-to-end tests must run)")
	}
	tb.Skip(msg)
	return ""
}

// moduleRoot is the nearest directory above the working directory (a test's
// package directory) that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
