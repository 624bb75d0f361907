package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/campaignctl/campaignctl/runtime/events"
)

// eventsStdin is where "events import -" reads; tests replace it.
var eventsStdin io.Reader = os.Stdin

// eventsSubcommands are the verbs of "campaignctl events".
var eventsSubcommands = []command{
	{"import", "store contact events from an NDJSON file or stdin", runEventsImport},
}

func eventsUsage(w io.Writer) {
	fmt.Fprintln(w, `Usage: campaignctl events <command> [flags] [args]

Contact events (page views, form submits, clicks, opens, replies, bounces,
purchases, ...) that segments read for engagement predicates.

Commands:`)
	for _, c := range eventsSubcommands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, `
Run 'campaignctl events <command> -h' for a command's flags and examples.`)
}

func runEvents(args []string, stdout, stderr io.Writer) int {
	return dispatch("campaignctl events", eventsSubcommands, eventsUsage, args, stdout, stderr)
}

func runEventsImport(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("events import", "events import [--db URL] [flags] FILE|-", `
Store contact events from FILE (or stdin for -), one JSON object per line:

  {"type":"page_view","model":"lead","key":"42","at":"2026-11-20T10:00:00Z","topic":"makeup"}

Fields: type (lower snake case), model (a plan model), key (string or integer),
at (RFC 3339) are required; topic, campaign, step, url, id (the event's own id,
string or integer) and properties (an object) are optional. Unknown fields are
errors. The whole file is one transaction: on any bad line nothing is stored and
the error names the line and field. Events with an id are stored once, so
re-importing a file only adds what is new. Monthly partitions are created for the
months the events fall in; the database is migrated first.`, `  campaignctl events import --db "$CAMPAIGNCTL_DB" events.ndjson
  go run testdata/crm/gen.go -events -now 2026-11-20T00:00:00Z | campaignctl events import --db "$CAMPAIGNCTL_DB" -
  campaignctl events import --db "$CAMPAIGNCTL_DB" --format json events.ndjson`, stderr)
	db := dbFlag(fs)
	batch := fs.Int("batch", events.DefaultBatchSize, "events stored per COPY batch")
	format := textOrJSONFlag(fs)
	positional, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	if len(positional) != 1 {
		fmt.Fprintln(stderr, "campaignctl events import: name exactly one FILE, or - for stdin")
		fs.Usage()
		return 2
	}
	if !checkTextOrJSON(fs, *format, stderr) {
		return 2
	}
	if *batch < 1 {
		fmt.Fprintf(stderr, "campaignctl events import: --batch %d: want at least 1\n", *batch)
		return 2
	}
	if !needDB(*db, stderr) {
		return 2
	}

	path, name := positional[0], positional[0]
	in := eventsStdin
	if path == "-" {
		name = "stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(stderr, "campaignctl events import:", err)
			return 1
		}
		defer f.Close()
		in = f
	}

	// Ctrl-C rolls the transaction back: nothing half-imported is left behind.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := openMigrated(ctx, *db)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl events import:", err)
		return 1
	}
	defer st.Close()
	// The applied plan's declared event properties: an event whose declared
	// property has another JSON type is refused, naming its line.
	schema, err := newPerRevision(st, events.SchemaOf).get(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl events import: reading the applied plan's event declarations:", err)
		return 1
	}
	res, err := events.Import(ctx, st, in, name, events.ImportOptions{BatchSize: *batch, Schema: schema})
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl events import:", err)
		return 1
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, "campaignctl events import: warning:", w)
	}
	if *format == "json" {
		if res.Partitions == nil {
			res.Partitions = []string{}
		}
		return boolExit(writeJSON(stdout, res) == nil)
	}
	fmt.Fprintf(stdout, "imported %d events (%d duplicates skipped) from %s\n", res.Inserted, res.Duplicates, name)
	if len(res.Partitions) > 0 {
		fmt.Fprintf(stdout, "created monthly partitions: %s\n", strings.Join(res.Partitions, ", "))
	}
	return 0
}
