package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/whiskers-dev/whiskers/wasmhost"
)

func init() {
	commands["wasm"] = command{
		summary: "run WAGI WebAssembly handlers, a fresh instance per request (wasm serve)",
		run:     runWasm,
	}
}

// runWasm dispatches `whiskers wasm <subcommand>`.
func runWasm(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "serve" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stderr, "usage: whiskers wasm serve [flags]")
			return flag.ErrHelp
		}
		fmt.Fprintln(stderr, "usage: whiskers wasm serve [flags]")
		return errUsage
	}
	return runWasmServe(ctx, args[1:], stdout, stderr)
}

// wasmServeFlags are the flags of `whiskers wasm serve`.
type wasmServeFlags struct {
	config     string
	listen     string
	cacheDir   string
	logLevel   string
	poll       time.Duration
	socketMode string
}

func parseWasmServeFlags(args []string, stderr io.Writer) (*wasmServeFlags, error) {
	f := &wasmServeFlags{}
	fs := flag.NewFlagSet("whiskers wasm serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", envOr("WHISKERS_WASM_CONFIG", "handlers.yaml"), "handlers YAML file (env WHISKERS_WASM_CONFIG)")
	fs.StringVar(&f.listen, "listen", envOr("WHISKERS_WASM_LISTEN", "unix:///run/whiskers/wasm.sock"), "unix:///path/to.sock or host:port (env WHISKERS_WASM_LISTEN)")
	fs.StringVar(&f.cacheDir, "cache-dir", os.Getenv("WHISKERS_WASM_CACHE_DIR"), "on-disk compilation cache directory; empty compiles in memory at every start (env WHISKERS_WASM_CACHE_DIR)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&f.poll, "poll", wasmhost.DefaultPollInterval, "how often to check the config file for changes (SIGHUP reloads at once)")
	fs.StringVar(&f.socketMode, "socket-mode", "0666", "file mode of the Unix socket (octal)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: whiskers wasm serve [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Serves the WAGI handlers of --config; GET /healthz and /metrics (without X-Whiskers-Handler).")
		fmt.Fprintln(stderr, "SIGHUP or a change of the config file reloads it; SIGTERM stops gracefully.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "whiskers wasm serve: unexpected arguments %q\n", fs.Args())
		return nil, errUsage
	}
	return f, nil
}

func runWasmServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	f, err := parseWasmServeFlags(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		fmt.Fprintf(stderr, "whiskers wasm serve: --log-level: %v\n", err)
		return errUsage
	}
	mode, err := strconv.ParseUint(strings.TrimPrefix(f.socketMode, "0o"), 8, 32)
	if err != nil {
		fmt.Fprintf(stderr, "whiskers wasm serve: --socket-mode %q: not an octal mode\n", f.socketMode)
		return errUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	srv, err := wasmhost.NewServer(ctx, f.config, wasmhost.Options{Logger: log, CacheDir: f.cacheDir})
	if err != nil {
		return err
	}
	ln, err := wasmhost.Listen(f.listen, os.FileMode(mode))
	if err != nil {
		_ = srv.Close(context.WithoutCancel(ctx))
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	serveErr := srv.Serve(ctx, ln, f.poll, hup)
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return errors.Join(serveErr, srv.Close(closeCtx))
}
