package traefikproc

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whiskers-dev/whiskers/internal/realbin"
	"github.com/whiskers-dev/whiskers/internal/realbin/realbintest"
	"github.com/whiskers-dev/whiskers/internal/syncbuf"
)

// TestStartPicksOtherPorts: a port Start picked is taken before Traefik
// binds it (here at once, by a listener the test holds): Start starts
// Traefik again on other ports. Given addresses are used as they are:
// the same taken port is an error that says so.
//
// Not parallel: it swaps the package's port picker.
func TestStartPicksOtherPorts(t *testing.T) {
	bin := realbintest.Bin(t, realbin.Traefik)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	taken := held.Addr().String()

	picks := 0
	pickAddr = func() (string, error) {
		picks++
		if picks == 1 {
			return taken, nil // the web port of the first attempt
		}
		return freeAddr()
	}
	t.Cleanup(func() { pickAddr = freeAddr })

	dir := t.TempDir()
	out := &syncbuf.Buffer{}
	p, err := Start(t.Context(), Options{Bin: bin, Dir: filepath.Join(dir, "a"), DynamicFile: filepath.Join(dir, "a.yaml"), NoPlugins: true, Output: out})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if p.URL == "http://"+taken {
		t.Errorf("Traefik runs on the taken port %s", taken)
	}
	if picks != 4 {
		t.Errorf("%d ports picked, want 4 (two attempts)", picks)
	}
	if !strings.Contains(out.String(), "starting again on other ports") {
		t.Errorf("the retry is not in the output:\n%s", out)
	}

	_, err = Start(t.Context(), Options{Bin: bin, Dir: filepath.Join(dir, "b"), DynamicFile: filepath.Join(dir, "b.yaml"), NoPlugins: true, Web: taken})
	if !errors.Is(err, errPortTaken) {
		t.Errorf("Start on a given taken port: %v, want an error wrapping errPortTaken", err)
	}
	if picks != 5 {
		t.Errorf("%d ports picked, want 5 (the API's only, once)", picks)
	}
}
