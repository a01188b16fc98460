// Package realbin finds the real components whiskers is tested against and
// demonstrated with — Traefik, Nomad and Consul — built from their Go
// modules by `make traefik`, `make nomad` and `make consul` (.ci/tool.sh)
// into .cache/bin/ of the repository.
package realbin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Tool is one real component.
type Tool struct {
	// Name is the binary's name and its make target: "traefik".
	Name string
	// Version is the release .ci/tool.sh builds.
	Version string
}

// The components, at the versions .ci/tool.sh builds. Nomad v1.6.1 is the
// last MPL-2.0 release; later ones must not be used.
var (
	Traefik = Tool{Name: "traefik", Version: "v3.6.12"}
	Nomad   = Tool{Name: "nomad", Version: "v1.6.1"}
	Consul  = Tool{Name: "consul", Version: "v1.14.8"}
)

// Env is the environment variable that points tests at the binary, e.g.
// WHISKERS_TRAEFIK_BIN.
func (t Tool) Env() string { return "WHISKERS_" + strings.ToUpper(t.Name) + "_BIN" }

// CachePath is where `make <name>` puts the binary, relative to the
// repository root: .cache/bin/<name>.
func (t Tool) CachePath() string { return ".cache/bin/" + t.Name }

// Find returns the binary: $<Env> if set, else root/<CachePath> if it is
// there and executable, else "".
func (t Tool) Find(root string) string {
	if bin := os.Getenv(t.Env()); bin != "" {
		return bin
	}
	bin := filepath.Join(root, filepath.FromSlash(t.CachePath()))
	if t.Check(bin) == nil {
		return bin
	}
	return ""
}

// Check reports why bin cannot be run as the tool's binary: it is missing,
// or not an executable file.
func (t Tool) Check(bin string) error {
	fi, err := os.Stat(bin)
	if err != nil {
		return fmt.Errorf("%s binary: %w", t.Name, err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s binary: %s is not an executable file", t.Name, bin)
	}
	return nil
}

// ModuleRoot is the nearest directory at or above dir that holds go.mod.
func ModuleRoot(dir string) (string, error) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s: %w", dir, os.ErrNotExist)
		}
		dir = parent
	}
}
