package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/whiskers-dev/whiskers/syncer"
	"github.com/whiskers-dev/whiskers/syncer/builder"
	"github.com/whiskers-dev/whiskers/syncer/status"
)

func init() {
	commands["explain"] = command{
		summary: "say why each instance of a catalog service is routed or not",
		run:     runExplain,
	}
}

// explainTimeout bounds asking a running syncer.
const explainTimeout = 10 * time.Second

// explainIntro is the help of `whiskers explain` before its flags.
const explainIntro = `usage: whiskers explain [flags] SERVICE

Says, for each instance of the catalog service SERVICE ("name", or "namespace/name"),
whether it is routed and why not: asks a running syncer (--from), or reads the
catalogs once with the same flags and environment as ` + "`whiskers sync`" + `.
Exit status 1 when the service is not in the catalogs.

flags (before SERVICE):
`

// runExplain is `whiskers explain`.
func runExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	t := newFlagTable("whiskers explain", stderr, explainIntro)
	// Reading the catalogs once says "catalog ready" at info; only what
	// goes wrong is worth a line here.
	f := declareSyncFlags(t, "warn")
	var from string
	t.stringFlag(&from, flagSpec{name: "from", usage: "ask a running whiskers sync --listen `ADDR` (http://ADDR) instead of reading the catalogs once"})
	fs := t.fs
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	service := fs.Arg(0)
	var (
		st  status.Status
		err error
	)
	if from != "" {
		st, err = askSyncer(ctx, from)
	} else {
		st, err = f.readOnce(ctx, stderr)
	}
	if err != nil {
		return err
	}
	sd, ok := st.Service(service)
	if !ok {
		names := make([]string, 0, len(st.Services))
		for _, s := range st.Services {
			names = append(names, s.Service)
		}
		return fmt.Errorf("no catalog service %q; the catalogs hold: %s", service, strings.Join(names, ", "))
	}
	return printExplain(stdout, sd, st.Catalogs)
}

// askSyncer reads the status of the syncer listening at base.
func askSyncer(ctx context.Context, base string) (status.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, explainTimeout)
	defer cancel()
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	url := strings.TrimSuffix(base, "/") + "/status.json"
	var st status.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, fmt.Errorf("asking the syncer: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("asking the syncer: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("asking the syncer: GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("asking the syncer: reading %s: %w", url, err)
	}
	return st, nil
}

// readOnce reads the catalogs once, as `whiskers sync --once` does, and
// returns what the build decided.
func (f *syncFlags) readOnce(ctx context.Context, stderr io.Writer) (status.Status, error) {
	log, err := f.logger(stderr)
	if err != nil {
		return status.Status{}, err
	}
	b, err := f.builder()
	if err != nil {
		return status.Status{}, err
	}
	board := status.NewBoard(nil)
	sources, err := f.sources(log, nil, board)
	if err != nil {
		return status.Status{}, err
	}
	r, err := syncer.New(syncer.Options{
		Sources: sources, Builder: b, StartupTimeout: f.startupTimeout, Logger: log, Status: board,
	})
	if err != nil {
		return status.Status{}, err
	}
	if _, err := r.Once(ctx); err != nil {
		return status.Status{}, err
	}
	return board.Status(), nil
}

// printExplain prints the decisions about sd in aligned columns, and the
// catalogs that are failing or not read.
func printExplain(w io.Writer, sd builder.ServiceDecisions, catalogs []status.Watch) error {
	routed := 0
	for _, d := range sd.Instances {
		if d.Routed {
			routed++
		}
	}
	routers := "no router"
	if len(sd.Routers) > 0 {
		routers = "routers " + strings.Join(sd.Routers, ", ")
	}
	fmt.Fprintf(w, "%s: %d of %d instances routed; %s\n", sd.Service, routed, len(sd.Instances), routers)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ROUTED\tINSTANCE\tADDRESS\tNODE\tWHY")
	instances := slices.Clone(sd.Instances)
	slices.SortStableFunc(instances, func(a, b builder.Decision) int { // routed first
		switch {
		case a.Routed == b.Routed:
			return 0
		case a.Routed:
			return -1
		}
		return 1
	})
	for _, d := range instances {
		yes := "no"
		if d.Routed {
			yes = "yes"
		}
		node := d.Node
		if node == "" {
			node = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s/%s\t%s\t%s\t%s\n", yes, d.Origin, d.ID, d.HostPort(), node, d.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range catalogs {
		switch {
		case !c.Ready:
			fmt.Fprintf(w, "note: catalog %s has not been read completely\n", c.Catalog)
		case !c.KeptSince.IsZero():
			fmt.Fprintf(w, "note: catalog %s is failing since %s (%s): its last good instances are kept\n",
				c.Catalog, c.KeptSince.UTC().Format(time.RFC3339), c.LastError)
		}
	}
	return nil
}
