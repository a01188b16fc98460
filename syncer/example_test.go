package syncer_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/whiskers-dev/whiskers/syncer"
	"github.com/whiskers-dev/whiskers/syncer/builder"
	"github.com/whiskers-dev/whiskers/syncer/catalog"
)

// fixed is a catalog.Source that always holds the same instances.
type fixed []catalog.Instance

func (fixed) Name() string { return "fixed" }

func (fixed) Run(ctx context.Context, _ func()) error { <-ctx.Done(); return nil }

func (f fixed) Snapshot() ([]catalog.Instance, bool) { return f, true }

// A Runner turns what its catalog sources hold into Traefik dynamic
// configuration; Once reads them once, as `whiskers sync --once` does.
// Real sources are syncer/consul and syncer/nomad.
func ExampleRunner_Once() {
	b, err := builder.New(builder.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	app := fixed{{
		Origin: catalog.OriginNomad, Service: "finicky", ID: "finicky-1", Address: "10.0.0.7", Port: 8080,
		Tags: []string{"traefik.enable=true", "traefik.http.routers.finicky.rule=Host(`finicky.example`)", "whiskers.retry=false"},
	}}
	r, err := syncer.New(syncer.Options{Sources: []catalog.Source{app}, Builder: b, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := r.Once(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(out))
	// Output:
	// http:
	//   routers:
	//     finicky:
	//       service: finicky
	//       rule: Host(`finicky.example`)
	//   services:
	//     finicky:
	//       loadBalancer:
	//         servers:
	//           - url: http://10.0.0.7:8080
	//         passHostHeader: true
}
