package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
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
func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", os.Getenv("CAMPAIGNCTL_DB"), "Postgres URL (default $CAMPAIGNCTL_DB)")
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
