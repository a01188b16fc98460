// Package realbintest applies the project's rule to tests that run a real
// Traefik, Nomad or Consul: without the binary they skip locally and fail
// under CI=true (CI builds them with `make traefik nomad consul`).
package realbintest

import (
	"os"
	"testing"

	"github.com/whiskers-dev/whiskers/internal/realbin"
)

// Bin returns the tool's binary ($WHISKERS_<NAME>_BIN, else the
// repository's .cache/bin/<name>). Without one it skips tb, or fails it
// when $CI is "true".
func Bin(tb testing.TB, tool realbin.Tool) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatalf("realbintest: %v", err)
	}
	root, err := realbin.ModuleRoot(wd)
	if err != nil {
		tb.Fatalf("realbintest: %v", err)
	}
	if bin := tool.Find(root); bin != "" {
		return bin
	}
	msg := "no " + tool.Name + " binary: run `make " + tool.Name + "` (builds " + tool.CachePath() + ") or set $" + tool.Env()
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg + " (CI=true: the end-to-end tests must run)")
	}
	tb.Skip(msg)
	return ""
}
