package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/whiskers-dev/whiskers/demo"
	"github.com/whiskers-dev/whiskers/demo/onnomad"
	"github.com/whiskers-dev/whiskers/internal/realbin"
)

func init() {
	commands["demo"] = command{
		summary: "run the whole system on loopback with fake catalogs",
		run:     runDemo,
	}
}

// demoIntro is the help of `whiskers demo` before its flags.
const demoIntro = `usage: whiskers demo [flags]

Runs fake Nomad and Consul catalogs, three workers, the syncer and the wasm host,
all on 127.0.0.1, and shows the Traefik configuration change as workers come and go.
With a Traefik binary (` + "`make traefik`" + `), the real Traefik routes by that configuration.

flags:
`

// demoFlags are the flags of `whiskers demo`.
type demoFlags struct {
	dir, handlers, traefik, nomad, consul string
	drainEvery, duration                  time.Duration
	verbose                               bool
	// traefikNamed and nomadNamed say that the command line named the
	// binary, which then must be usable.
	traefikNamed, nomadNamed bool
}

// parseDemoFlags parses the flags of `whiskers demo`; their help goes to
// stderr.
func parseDemoFlags(args []string, stderr io.Writer) (*demoFlags, error) {
	f := &demoFlags{}
	t := newFlagTable("whiskers demo", stderr, demoIntro)
	t.stringFlag(&f.dir, flagSpec{name: "dir", def: "./" + demo.DefaultDir, usage: "directory for dynamic.yaml, wasmhost.yaml and the static site"})
	t.durationFlag(&f.drainEvery, flagSpec{name: "drain-every", def: demo.DefaultDrainEvery.String(), usage: "period of the drain cycle: drain one worker, then bring it back (0 disables it)"})
	t.durationFlag(&f.duration, flagSpec{name: "duration", def: "0", usage: "stop after this long (0 runs until Ctrl-C)"})
	t.stringFlag(&f.handlers, flagSpec{name: "handlers", usage: `directory with redirect/redirect.wasm and fileserver/fileserver.wasm; "" uses the modules built into this binary`})
	t.stringFlag(&f.traefik, flagSpec{name: "traefik", def: realbin.Traefik.CachePath(), usage: "`PATH` of a Traefik binary to run in front of the workers (make traefik builds the default; if the default is missing, a Go front stands in; \"\" disables Traefik)"})
	t.stringFlag(&f.nomad, flagSpec{name: "nomad", def: realbin.Nomad.CachePath(), usage: "`PATH` of a Nomad v1.6.1 binary: with it, Consul (--consul) and Traefik, the demo runs a real three-node cluster with the shipped job files instead of fake catalogs (needs root on Linux; make nomad consul builds the defaults; \"\" disables it)"})
	t.stringFlag(&f.consul, flagSpec{name: "consul", def: realbin.Consul.CachePath(), usage: "`PATH` of a Consul v1.14.8 binary, for the real cluster"})
	t.boolFlag(&f.verbose, flagSpec{name: "v", def: "false", usage: "log the components' info messages too"})
	if err := parseFlags(t.fs, args); err != nil {
		return nil, err
	}
	if f.drainEvery < 0 || f.duration < 0 {
		fmt.Fprintln(stderr, "whiskers demo: -drain-every and -duration must not be negative")
		return nil, errUsage
	}
	f.traefikNamed, f.nomadNamed = t.flagWasSet("traefik"), t.flagWasSet("nomad")
	return f, nil
}

// runDemo is `whiskers demo`.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseDemoFlags(args, stderr)
	if err != nil {
		return err
	}
	traefikBin := f.traefik
	if !f.traefikNamed && !isFile(traefikBin) {
		// Only the default is optional: a binary the user names must be there.
		fmt.Fprintf(stdout, "whiskers demo: no Traefik at %s, so a Go front stands in for it; `make traefik` (one-time build, ~10 min on two cores; reused afterwards) puts the real Traefik in front\n", traefikBin)
		traefikBin = ""
	}
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	onNomad, err := useRealNomad(stdout, f.nomad, f.consul, traefikBin, f.nomadNamed)
	if err != nil {
		return err
	}
	if onNomad {
		return runDemoOnNomad(ctx, stdout, f.nomad, f.consul, traefikBin)
	}
	return runDemoOnFakes(ctx, f, traefikBin, stdout, stderr)
}

// runDemoOnFakes runs the demo on fake catalogs (package demo) until ctx is
// done.
func runDemoOnFakes(ctx context.Context, f *demoFlags, traefikBin string, stdout, stderr io.Writer) error {
	every := f.drainEvery
	if every == 0 {
		every = -1 // demo.Options: negative disables the cycle
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	d, err := demo.New(demo.Options{
		Dir:         f.dir,
		DrainEvery:  every,
		HandlersDir: f.handlers,
		Traefik:     traefikBin,
		Out:         stdout,
		Logger:      slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		return err
	}
	return runSaying(ctx, d, stdout)
}

// runSaying runs the demo until ctx is done and says how long it ran.
func runSaying(ctx context.Context, d interface{ Run(context.Context) error }, stdout io.Writer) error {
	start := time.Now()
	err := d.Run(ctx)
	fmt.Fprintf(stdout, "whiskers demo: stopped after %s\n", time.Since(start).Round(time.Second))
	return err
}

// useRealNomad says whether the demo runs on a real cluster: when the
// Nomad and Consul binaries are there (and Traefik), and this machine can
// run Nomad's exec driver. Named explicitly (named), they must be usable.
func useRealNomad(stdout io.Writer, nomad, consul, traefik string, named bool) (bool, error) {
	if nomad == "" {
		return false, nil
	}
	var why string
	switch {
	case !isFile(nomad):
		why = "no Nomad at " + nomad
	case !isFile(consul):
		why = "no Consul at " + consul
	case traefik == "":
		why = "no Traefik"
	default:
		why = onnomad.Usable()
	}
	switch {
	case why == "":
		return true, nil
	case named:
		return false, fmt.Errorf("demo on a real Nomad: %s", why)
	case isFile(nomad):
		fmt.Fprintf(stdout, "whiskers demo: %s, so fake catalogs stand in for the real Nomad at %s\n", why, nomad)
	}
	return false, nil
}

// runDemoOnNomad runs the demo on a real cluster (demo/onnomad) until ctx
// is done.
func runDemoOnNomad(ctx context.Context, stdout io.Writer, nomad, consul, traefik string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo on a real Nomad: finding this binary: %w", err)
	}
	// The agents and tasks run in other directories.
	for _, p := range []*string{&nomad, &consul, &traefik} {
		if *p, err = filepath.Abs(*p); err != nil {
			return fmt.Errorf("demo on a real Nomad: %w", err)
		}
	}
	d, err := onnomad.New(onnomad.Options{
		Nomad: nomad, Consul: consul, Traefik: traefik, Whiskers: self, Site: demo.Site(), Out: stdout,
	})
	if err != nil {
		return err
	}
	return runSaying(ctx, d, stdout)
}

// isFile reports whether path is a regular file (or a link to one).
func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
