package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store"
)

// newFlagSet returns a flag set whose -h prints a usage line, a description, the
// flags and examples.
func newFlagSet(name, usageLine, description, examples string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: campaignctl %s\n\n%s\n\nFlags:\n", usageLine, strings.TrimSpace(description))
		fs.PrintDefaults()
		if examples != "" {
			fmt.Fprintf(fs.Output(), "\nExamples:\n%s\n", strings.TrimRight(examples, "\n"))
		}
	}
	return fs
}

// parseFlags parses args and maps -h and flag errors to exit codes: 0 for help,
// 2 for a usage error, -1 to go on.
func parseFlags(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	return -1
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, and returns the positional ones. The code is parseFlags's:
// 0 for help, 2 for a usage error, -1 to go on.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, int) {
	var positional []string
	for {
		if code := parseFlags(fs, args); code >= 0 {
			return nil, code
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, -1
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// dbFlag adds --db, defaulting to $CAMPAIGNCTL_DB.
func dbFlag(fs *flag.FlagSet) *string { return dbFlagFrom(fs, os.Getenv) }

// dbFlagFrom is dbFlag reading $CAMPAIGNCTL_DB through getenv.
func dbFlagFrom(fs *flag.FlagSet, getenv func(string) string) *string {
	return fs.String("db", getenv("CAMPAIGNCTL_DB"), "Postgres URL (default $CAMPAIGNCTL_DB)")
}

func needDB(url string, stderr io.Writer) bool {
	if url == "" {
		fmt.Fprintln(stderr, "campaignctl: no database: pass --db postgres://… or set CAMPAIGNCTL_DB")
		return false
	}
	return true
}

// textOrJSONFlag adds --format for commands that print either text or JSON.
func textOrJSONFlag(fs *flag.FlagSet) *string {
	return fs.String("format", "text", "output format: text or json")
}

// checkTextOrJSON reports whether format is text or json, and otherwise says so
// on stderr as a usage error of the command fs parses.
func checkTextOrJSON(fs *flag.FlagSet, format string, stderr io.Writer) bool {
	if format == "text" || format == "json" {
		return true
	}
	fmt.Fprintf(stderr, "campaignctl %s: --format %q: want text or json\n", fs.Name(), format)
	return false
}

// writeJSON writes v as two-space indented JSON, for the --format json of
// audience, events import and report.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// atTime reads an --at flag of campaignctl cmd: RFC 3339, or now (UTC) when
// empty. ok is false after printing why the value is wrong.
func atTime(cmd, v string, stderr io.Writer) (at time.Time, ok bool) {
	if v == "" {
		return time.Now().UTC(), true
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		fmt.Fprintf(stderr, "campaignctl %s: --at %q: want RFC 3339, e.g. 2026-12-03T10:00:00Z\n", cmd, v)
		return time.Time{}, false
	}
	return t.UTC(), true
}

// openActionStore checks --db and opens the store for `campaignctl cmd
// action`. fail prints an error under that name and returns exit status 1;
// code is the exit status to return when the store could not be opened, -1
// when it was.
func openActionStore(ctx context.Context, cmd, action, db string, stderr io.Writer) (st *store.Store, fail func(error) int, code int) {
	fail = func(err error) int {
		fmt.Fprintf(stderr, "campaignctl %s %s: %v\n", cmd, action, err)
		return 1
	}
	if !needDB(db, stderr) {
		return nil, fail, 2
	}
	st, err := store.Open(ctx, db)
	if err != nil {
		return nil, fail, fail(err)
	}
	return st, fail, -1
}
