// Package gobin builds the repository's commands for tests that run them as
// processes (the whiskers binary, test servers): once per test binary and
// package, into a directory removed by Cleanup.
package gobin

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	dir   string
	built = map[string]string{} // package path → binary
)

// Build builds the main package pkg (an import path) with CGO_ENABLED=0, so
// that the binary runs in a chroot without the C library, and returns its
// path. Later calls for pkg return the same binary.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if bin, ok := built[pkg]; ok {
		return bin
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "whiskers-gobin")
		if err != nil {
			tb.Fatalf("gobin: %v", err)
		}
		dir = d
	}
	bin := filepath.Join(dir, fmt.Sprintf("%d-%s", len(built), path.Base(pkg)))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("gobin: go build %s: %v\n%s", pkg, err, out)
	}
	built[pkg] = bin
	return bin
}

// Cleanup removes every binary built; call it from TestMain after m.Run.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
	dir, built = "", map[string]string{}
}
