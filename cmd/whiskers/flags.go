package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// flagSpec declares one flag of a subcommand. Every subcommand declares its
// flags through a flagTable, so that each one shows its default and the
// environment variable behind it in --help, in one format.
type flagSpec struct {
	name string // without dashes
	// env is the environment variable whose value, when set and not
	// empty, replaces def: the one the tool spoken to reads
	// (CONSUL_HTTP_ADDR, NOMAD_ADDR, …). String flags only.
	env string
	// def is the default as typed on the command line ("50ms", "true");
	// --help shows it as written.
	def   string
	usage string // as for package flag: a `NAME` in backquotes names the value
}

// flagTable is the flags of one subcommand: a flag.FlagSet, and what --help
// says about each flag's default.
type flagTable struct {
	fs       *flag.FlagSet
	defaults map[string]string // flag name → default as --help shows it
}

// newFlagTable returns an empty table for the subcommand name ("whiskers
// sync"). Its --help, written to stderr, is intro followed by every flag.
func newFlagTable(name string, stderr io.Writer, intro string) *flagTable {
	t := &flagTable{fs: flag.NewFlagSet(name, flag.ContinueOnError), defaults: map[string]string{}}
	t.fs.SetOutput(stderr)
	t.fs.Usage = func() {
		fmt.Fprint(stderr, intro)
		t.printHelp(stderr)
	}
	return t
}

// stringFlag declares a string flag stored in p.
func (t *flagTable) stringFlag(p *string, s flagSpec) {
	t.fs.StringVar(p, s.name, s.def, s.usage)
	shown := strconv.Quote(s.def)
	if s.env != "" {
		if v := os.Getenv(s.env); v != "" {
			*p = v
		}
		shown = "$" + s.env
		if s.def != "" {
			shown += " or " + strconv.Quote(s.def)
		}
	}
	t.defaults[s.name] = shown
}

// boolFlag declares a boolean flag stored in p.
func (t *flagTable) boolFlag(p *bool, s flagSpec) {
	t.fs.BoolVar(p, s.name, mustParse(s, strconv.ParseBool), s.usage)
	t.defaults[s.name] = s.def
}

// durationFlag declares a duration flag stored in p.
func (t *flagTable) durationFlag(p *time.Duration, s flagSpec) {
	t.fs.DurationVar(p, s.name, mustParse(s, time.ParseDuration), s.usage)
	t.defaults[s.name] = s.def
}

// mustParse is the default of s, parsed. A default that does not parse, or
// an environment variable on a flag that is not a string, is a mistake in
// the declaration, which the first test that builds the table finds.
func mustParse[T any](s flagSpec, parse func(string) (T, error)) T {
	if s.env != "" {
		panic(fmt.Sprintf("flag --%s: only string flags have an environment variable", s.name))
	}
	v, err := parse(s.def)
	if err != nil {
		panic(fmt.Sprintf("flag --%s: default %q: %v", s.name, s.def, err))
	}
	return v
}

// parseFlags parses args with fs; args must hold flags only. -h and
// --help are flag.ErrHelp (the help is printed); anything else wrong is
// errUsage, said on fs's output.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return errUsage
	}
	return nil
}

// printHelp writes every flag, sorted by name, with its usage and its
// default: "$ENV or "value"" for a flag with an environment variable.
func (t *flagTable) printHelp(w io.Writer) {
	t.fs.VisitAll(func(f *flag.Flag) { // sorted by name
		name := f.Name
		valueName, usage := flag.UnquoteUsage(f)
		line := "  --" + name
		if len(name) == 1 {
			line = "  -" + name
		}
		if valueName != "" {
			line += " " + valueName
		}
		def, ok := t.defaults[name]
		if !ok { // declared on t.fs directly
			def = f.DefValue
		}
		fmt.Fprintf(w, "%s\n    \t%s (default %s)\n", line, strings.ReplaceAll(usage, "\n", "\n    \t"), def)
	})
}

// flagWasSet reports whether the command line set the flag name.
func (t *flagTable) flagWasSet(name string) bool {
	set := false
	t.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
