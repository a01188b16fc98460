package onnomad_test

import (
	"context"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/whiskers-dev/whiskers/demo"
	"github.com/whiskers-dev/whiskers/demo/onnomad"
	"github.com/whiskers-dev/whiskers/internal/gobin"
	"github.com/whiskers-dev/whiskers/internal/httpload"
	"github.com/whiskers-dev/whiskers/internal/realbin"
	"github.com/whiskers-dev/whiskers/internal/realbin/realbintest"
	"github.com/whiskers-dev/whiskers/internal/syncbuf"
)

// TestDemoOnNomad runs the demo on a real cluster: every node's Traefik
// balances the app over its three copies and serves the site's cat.txt
// through the plugin and the wasm host; stopping the demo stops it all.
func TestDemoOnNomad(t *testing.T) {
	if why := onnomad.Usable(); why != "" {
		t.Skip(why)
	}
	out := &syncbuf.Buffer{}
	d, err := onnomad.New(onnomad.Options{
		Nomad:    realbintest.Bin(t, realbin.Nomad),
		Consul:   realbintest.Bin(t, realbin.Consul),
		Traefik:  realbintest.Bin(t, realbin.Traefik),
		Whiskers: gobin.Build(t, "github.com/whiskers-dev/whiskers/cmd/whiskers"),
		Site:     demo.Site(),
		Out:      out,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("Run did not return a minute after its context ended")
		}
		t.Logf("demo output:\n%s", out.String())
	}()
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(4 * time.Minute):
		t.Fatal("not ready within 4 minutes")
	}

	cat, err := fs.ReadFile(demo.Site(), "cat.txt")
	if err != nil {
		t.Fatal(err)
	}
	client := httpload.NewClient()
	for node, url := range d.Addrs().Traefik {
		if r := httpload.Get(client, url, onnomad.AppHost, "/hello"); r.Status != http.StatusOK || !strings.HasPrefix(r.Body, "finicky on worker-") {
			t.Errorf("%s: GET /hello: %d %v %q", node, r.Status, r.Err, r.Body)
		}
		if r := httpload.Get(client, url, onnomad.AppHost, "/cat.txt"); r.Status != http.StatusOK || r.Body != string(cat) {
			t.Errorf("%s: GET /cat.txt: %d %v %q, want the site's cat.txt", node, r.Status, r.Err, r.Body)
		}
	}
	for _, want := range []string{"Traefik on worker-1", "node drain -enable", "explain"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the banner lacks %q", want)
		}
	}
}
