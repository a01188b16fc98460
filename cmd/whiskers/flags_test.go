package main

import (
	"bytes"
	"flag"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFlagTableEnvironment: a flag with an environment variable takes its
// value when it is set and not empty; --help names the variable, never its
// value, and shows the default either way.
func TestFlagTableEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name, env, want string
	}{
		{"set", "from-env", "from-env"},
		{"empty counts as unset", "", "fallback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WHISKERS_TEST_FLAG", tc.env)
			var help bytes.Buffer
			table := newFlagTable("whiskers test", &help, "usage: whiskers test\n")
			var s, plain string
			var d time.Duration
			var b bool
			table.stringFlag(&s, flagSpec{name: "s", env: "WHISKERS_TEST_FLAG", def: "fallback", usage: "a `THING`"})
			table.stringFlag(&plain, flagSpec{name: "plain", usage: "no default"})
			table.durationFlag(&d, flagSpec{name: "wait", def: "5m", usage: "a duration"})
			table.boolFlag(&b, flagSpec{name: "on", def: "true", usage: "a switch"})
			assert.Equal(t, tc.want, s)
			assert.Equal(t, 5*time.Minute, d)
			assert.True(t, b)

			assert.ErrorIs(t, parseFlags(table.fs, []string{"-h"}), flag.ErrHelp)
			assert.Equal(t, "usage: whiskers test\n"+
				"  --on\n    \ta switch (default true)\n"+
				"  --plain string\n    \tno default (default \"\")\n"+
				"  -s THING\n    \ta THING (default $WHISKERS_TEST_FLAG or \"fallback\")\n"+
				"  --wait duration\n    \ta duration (default 5m)\n", help.String())
			if tc.env != "" {
				assert.NotContains(t, help.String(), tc.env, "the value of an environment variable is never printed")
			}
		})
	}
}

// TestFlagTableRejectsBadDeclarations: a default that does not parse, or
// an environment variable on a flag that is not a string, is found when
// the table is built.
func TestFlagTableRejectsBadDeclarations(t *testing.T) {
	t.Parallel()
	table := newFlagTable("whiskers test", &bytes.Buffer{}, "")
	var d time.Duration
	var b bool
	assert.Panics(t, func() { table.durationFlag(&d, flagSpec{name: "d", def: "soon"}) })
	assert.Panics(t, func() { table.boolFlag(&b, flagSpec{name: "b", env: "WHISKERS_TEST_FLAG", def: "false"}) })
}

// TestHelpShowsEveryDefault: every subcommand's --help shows every flag
// with its default, in one format.
func TestHelpShowsEveryDefault(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"sync", "-h"}, {"explain", "-h"}, {"wasm", "serve", "-h"}, {"demo", "-h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			flags := helpFlags(t, args)
			require.NotEmpty(t, flags)
			for _, f := range flags {
				assert.NotEmpty(t, f.shown, "%s shows its default", f.dashed)
			}
		})
	}
}

// TestExplainSharesSyncFlags: `whiskers explain` reads the catalogs with the
// flags of `whiskers sync`, but logs only warnings by default.
func TestExplainSharesSyncFlags(t *testing.T) {
	t.Parallel()
	syncFlags := helpFlags(t, []string{"sync", "-h"})
	explainFlags := helpFlags(t, []string{"explain", "-h"})
	require.Contains(t, explainFlags, "from")
	delete(explainFlags, "from")
	syncFlags["log-level"] = helpFlag{dashed: "--log-level", shown: `"warn"`}
	assert.Equal(t, syncFlags, explainFlags)
}

// TestFlagDocsMatchHelp: the flag table of each subcommand's documentation
// lists exactly the flags of its --help, with the same default and
// environment variable.
func TestFlagDocsMatchHelp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		doc  string
	}{
		{[]string{"sync", "-h"}, "../../docs/sync.md"},
		{[]string{"wasm", "serve", "-h"}, "../../docs/wasm-host.md"},
		{[]string{"demo", "-h"}, "../../docs/getting-started.md"},
	} {
		t.Run(strings.Join(tc.args[:len(tc.args)-1], " "), func(t *testing.T) {
			t.Parallel()
			help := helpFlags(t, tc.args)
			documented := docFlags(t, tc.doc)
			for name, h := range help {
				d, ok := documented[name]
				if !assert.True(t, ok, "%s of --help is not in the flag table of %s", h.dashed, tc.doc) {
					continue
				}
				assert.Equal(t, h.dashed, d.dashed, "%s: how the flag is written", name)
				assert.Equal(t, h.docDefault(), d.defaultSpans, "%s: the code spans of the Default column of %s (%q), from --help's (default %s)", name, tc.doc, d.defaultCell, h.shown)
			}
			for name, d := range documented {
				assert.Contains(t, help, name, "%s of %s is not in --help", d.dashed, tc.doc)
			}
		})
	}
}

// helpFlag is one flag as --help shows it.
type helpFlag struct {
	dashed string // "--name" or "-v"
	shown  string // what follows "(default "
}

// docDefault is what a documentation table's Default column holds in code
// spans for f: `$ENV` for an environment variable, then the default
// unquoted unless it is empty.
func (f helpFlag) docDefault() []string {
	spans := []string{}
	def := f.shown
	if env, rest, ok := strings.Cut(def, " or "); ok && strings.HasPrefix(env, "$") {
		spans, def = append(spans, env), rest
	} else if strings.HasPrefix(def, "$") {
		return append(spans, def)
	}
	if u, err := strconv.Unquote(def); err == nil {
		def = u
	}
	if def != "" {
		spans = append(spans, def)
	}
	return spans
}

// helpRE matches one flag of --help: its name line and usage line, whose
// end is the default.
var helpRE = regexp.MustCompile(`(?m)^  (--?([\w-]+))(?: .*)?\n    \t.*\(default (.*)\)$`)

// helpFlags runs args (a subcommand with -h) and returns the flags its help
// shows, by name.
func helpFlags(t *testing.T, args []string) map[string]helpFlag {
	t.Helper()
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run(t.Context(), args, &stdout, &stderr), stderr.String())
	flags := map[string]helpFlag{}
	lines := 0
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.HasPrefix(line, "  -") {
			lines++
		}
	}
	for _, m := range helpRE.FindAllStringSubmatch(stderr.String(), -1) {
		flags[m[2]] = helpFlag{dashed: m[1], shown: m[3]}
	}
	require.Len(t, flags, lines, "every flag line of --help is followed by its usage and default:\n%s", stderr.String())
	return flags
}

// docFlag is one row of a documentation's flag table.
type docFlag struct {
	dashed       string   // as written: "--name" or "-v"
	defaultCell  string   // the Default column
	defaultSpans []string // its code spans
}

// codeSpanRE matches a Markdown code span of one or two backticks.
var codeSpanRE = regexp.MustCompile("``(.+?)``|`([^`]+)`")

// docFlags reads the one table of path whose header starts with Flag and
// Default, and returns its rows by flag name; a row may name several flags.
func docFlags(t *testing.T, path string) map[string]docFlag {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	header := regexp.MustCompile(`(?i)^\|\s*flag\s*\|\s*default\s*\|`)
	tables := 0
	flags := map[string]docFlag{}
	inTable := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case header.MatchString(line):
			tables++
			inTable = true
		case !strings.HasPrefix(line, "|"):
			inTable = false
		case inTable && !strings.HasPrefix(line, "|---"):
			cells := strings.Split(line, "|")
			require.GreaterOrEqual(t, len(cells), 4, "%s: row %q", path, line)
			d := docFlag{defaultCell: strings.TrimSpace(cells[2]), defaultSpans: codeSpans(cells[2])}
			for _, span := range codeSpans(cells[1]) {
				d.dashed, _, _ = strings.Cut(span, " ") // "--output PATH"
				flags[strings.TrimLeft(d.dashed, "-")] = d
			}
		}
	}
	require.Equal(t, 1, tables, "%s: one flag table", path)
	return flags
}

// codeSpans returns the contents of the code spans of a Markdown cell.
func codeSpans(cell string) []string {
	spans := []string{}
	for _, m := range codeSpanRE.FindAllStringSubmatch(cell, -1) {
		spans = append(spans, m[1]+m[2])
	}
	return spans
}
