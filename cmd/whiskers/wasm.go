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

// wasmServeIntro is the help of `whiskers wasm serve` before its flags.
const wasmServeIntro = `usage: whiskers wasm serve [flags]

Serves the WAGI handlers of --config; GET /healthz and /metrics (without X-Whiskers-Handler).
SIGHUP or a change of the config file reloads it; SIGTERM stops gracefully.

flags:
`

// parseWasmServeFlags parses the flags of `whiskers wasm serve`; their help
// goes to stderr.
func parseWasmServeFlags(args []string, stderr io.Writer) (*wasmServeFlags, error) {
	f := &wasmServeFlags{}
	t := newFlagTable("whiskers wasm serve", stderr, wasmServeIntro)
	t.stringFlag(&f.config, flagSpec{name: "config", env: "WHISKERS_WASM_CONFIG", def: "handlers.yaml", usage: "handlers YAML file"})
	t.stringFlag(&f.listen, flagSpec{name: "listen", env: "WHISKERS_WASM_LISTEN", def: "unix:///run/whiskers/wasm.sock", usage: "unix:///path/to.sock or host:port"})
	t.stringFlag(&f.cacheDir, flagSpec{name: "cache-dir", env: "WHISKERS_WASM_CACHE_DIR", usage: "on-disk compilation cache directory; empty compiles in memory at every start"})
	t.stringFlag(&f.logLevel, flagSpec{name: "log-level", def: "info", usage: "debug, info, warn or error"})
	t.durationFlag(&f.poll, flagSpec{name: "poll", def: wasmhost.DefaultPollInterval.String(), usage: "how often to check the config file for changes (SIGHUP reloads at once)"})
	t.stringFlag(&f.socketMode, flagSpec{name: "socket-mode", def: "0666", usage: "file mode of the Unix socket (octal)"})
	if err := parseFlags(t.fs, args); err != nil {
		return nil, err
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
