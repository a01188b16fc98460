package main

import (
	"context"
	"flag"
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

// runDemo is `whiskers demo`.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("whiskers demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "./"+demo.DefaultDir, "directory for dynamic.yaml, wasmhost.yaml and the static site")
	drainEvery := fs.Duration("drain-every", demo.DefaultDrainEvery, "period of the drain cycle: drain one worker, then bring it back (0 disables it)")
	duration := fs.Duration("duration", 0, "stop after this long (0 runs until Ctrl-C)")
	handlers := fs.String("handlers", "", "directory with redirect/redirect.wasm and fileserver/fileserver.wasm (default: the modules built into this binary)")
	traefik := fs.String("traefik", realbin.Traefik.CachePath(), "`PATH` of a Traefik binary to run in front of the workers (make traefik builds the default; if the default is missing, a Go front stands in; \"\" disables Traefik)")
	nomadBin := fs.String("nomad", realbin.Nomad.CachePath(), "`PATH` of a Nomad v1.6.1 binary: with it, Consul (--consul) and Traefik, the demo runs a real three-node cluster with the shipped job files instead of fake catalogs (needs root on Linux; make nomad consul builds the defaults; \"\" disables it)")
	consulBin := fs.String("consul", realbin.Consul.CachePath(), "`PATH` of a Consul v1.14.8 binary, for the real cluster")
	verbose := fs.Bool("v", false, "log the components' info messages too")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: whiskers demo [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Runs fake Nomad and Consul catalogs, three workers, the syncer and the wasm host,")
		fmt.Fprintln(stderr, "all on 127.0.0.1, and shows the Traefik configuration change as workers come and go.")
		fmt.Fprintln(stderr, "With a Traefik binary (`make traefik`), the real Traefik routes by that configuration.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "whiskers demo: unexpected arguments %q\n", fs.Args())
		return errUsage
	}
	if *drainEvery < 0 || *duration < 0 {
		fmt.Fprintln(stderr, "whiskers demo: -drain-every and -duration must not be negative")
		return errUsage
	}
	every := *drainEvery
	if every == 0 {
		every = -1 // demo.Options: negative disables the cycle
	}
	traefikBin := *traefik
	if !flagSet(fs, "traefik") && !isFile(traefikBin) {
		// Only the default is optional: a binary the user names must be there.
		fmt.Fprintf(stdout, "whiskers demo: no Traefik at %s, so a Go front stands in for it; `make traefik` (one-time build, ~10 min on two cores; reused afterwards) puts the real Traefik in front\n", traefikBin)
		traefikBin = ""
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	onNomad, err := useRealNomad(fs, stdout, *nomadBin, *consulBin, traefikBin)
	if err != nil {
		return err
	}
	if onNomad {
		return runDemoOnNomad(ctx, stdout, *nomadBin, *consulBin, traefikBin)
	}
	d, err := demo.New(demo.Options{
		Dir:         *dir,
		DrainEvery:  every,
		HandlersDir: *handlers,
		Traefik:     traefikBin,
		Out:         stdout,
		Logger:      slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		return err
	}
	start := time.Now()
	err = d.Run(ctx)
	fmt.Fprintf(stdout, "whiskers demo: stopped after %s\n", time.Since(start).Round(time.Second))
	return err
}

// useRealNomad says whether the demo runs on a real cluster: when the
// Nomad and Consul binaries are there (and Traefik), and this machine can
// run Nomad's exec driver. Named explicitly, they must be usable.
func useRealNomad(fs *flag.FlagSet, stdout io.Writer, nomad, consul, traefik string) (bool, error) {
	if nomad == "" {
		return false, nil
	}
	named := flagSet(fs, "nomad")
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
	start := time.Now()
	err = d.Run(ctx)
	fmt.Fprintf(stdout, "whiskers demo: stopped after %s\n", time.Since(start).Round(time.Second))
	return err
}

// flagSet reports whether the command line set the flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// isFile reports whether path is a regular file (or a link to one).
func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
