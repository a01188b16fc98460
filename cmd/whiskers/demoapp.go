package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

func init() {
	commands["demo-app"] = command{
		summary: "the demo's stand-in app on a real Nomad: an HTTP server answering with its name",
		run:     runDemoApp,
	}
}

// runDemoApp is `whiskers demo-app`: what `whiskers demo` on a real Nomad
// runs as the finicky app and Redis, where neither Spin nor images can be
// fetched. Every path answers its --name, /healthz included.
func runDemoApp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var listen, name string
	t := newFlagTable("whiskers demo-app", stderr, "Usage: whiskers demo-app [flags]\n\nAnswers every path with --name (the demo's stand-in app on a real Nomad).\n\nFlags:\n")
	t.stringFlag(&listen, flagSpec{name: "listen", def: "127.0.0.1:8080", usage: "address to listen on"})
	t.stringFlag(&name, flagSpec{name: "name", def: "demo-app", usage: "what every answer says"})
	if err := parseFlags(t.fs, args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintln(w, name)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Fprintf(stdout, "demo-app %q on %s\n", name, ln.Addr())
	context.AfterFunc(ctx, func() { _ = srv.Close() })
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
