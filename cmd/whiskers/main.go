// Command whiskers puts Traefik in front of a Nomad + Consul cluster that runs
// WebAssembly apps. It is one binary with subcommands:
//
//	whiskers sync        watch the Nomad and Consul catalogs, write Traefik dynamic configuration
//	whiskers wasm serve  run WAGI WebAssembly handlers, a fresh instance per request
//	whiskers explain     say why each instance of a catalog service is routed or not
//	whiskers demo        run the whole system on loopback with fake catalogs
//	whiskers version     print the version
//
// Each subcommand lives in its own file of this package and is listed in
// commands below.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// command is one subcommand of whiskers.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists every subcommand by name. Subcommand files register
// themselves here from init so that each file owns its subcommand.
var commands = map[string]command{
	"version": {
		summary: "print the version and exit",
		run: func(_ context.Context, _ []string, stdout, _ io.Writer) error {
			_, err := fmt.Fprintf(stdout, "whiskers %s\n", version)
			return err
		},
	},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches args to a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "whiskers: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "whiskers %s: %v\n", args[0], err)
		return 1
	}
}

// errUsage is returned by a subcommand whose arguments were wrong and that
// has already printed why.
var errUsage = errors.New("usage error")

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: whiskers <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-12s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'whiskers <command> -h' for the flags of a command.")
}
