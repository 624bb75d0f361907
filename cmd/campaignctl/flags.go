package main

import (
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
