// Command campaignctl compiles campaigns written as HCL or CUE into a plan, applies
// the plan to a Postgres store and runs the daemon that sends it. This file only
// dispatches to one file per subcommand.
package main

import (
	"fmt"
	"io"
	"os"
)

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"validate", "check a campaigns directory and print diagnostics", runValidate},
		{"plan", "compile a campaigns directory into a canonical plan.json", runPlan},
		{"diff", "show what a change does: + - ~ per object and field, text/markdown/json", runDiff},
		{"graph", "draw a workflow or sequence as Mermaid or DOT", runGraph},
		{"fmt", "format HCL and CUE files canonically (-check for CI)", runFmt},
		{"schema", "export the JSON Schema of every object kind for editors", runSchema},
		{"audience", "count and sample a segment's or campaign's contacts", runAudience},
		{"migrate", "create or upgrade campaignctl's tables in Postgres", runMigrate},
		{"apply", "record a plan as the desired state for the daemon", runApply},
		{"events", "import contact events (page views, clicks, ...) from NDJSON", runEvents},
		{"serve", "run the daemon: reconcile, send, serve /metrics and links", runServe},
		{"report", "how each object did: sent, received, opened, clicked, replied, bounced, A/B verdicts", runReport},
		{"status", "show each applied object's sync, health and per-step progress", runStatus},
		{"explain", "say why a contact did or did not get a campaign or sequence", runExplain},
		{"timeline", "list a contact's events and messages in time order", runTimeline},
		{"enrollments", "exclude, include or reset a contact's enrollment by hand (audited)", runEnrollments},
		{"consent", "show a contact's consent ledger; record a grant or withdrawal", runConsent},
		{"contact", "export everything the runner holds about a person, or forget it", runContact},
		{"smtp-capture", "run a local SMTP server that stores mail as .eml files (development)", runSMTPCapture},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `campaignctl: campaigns as code — compile, plan, apply, send.

Usage:
  campaignctl <command> [flags] [args]

Commands:`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, `
Run 'campaignctl <command> -h' for a command's flags and examples.`)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	return dispatch("campaignctl", commands(), usage, args, stdout, stderr)
}

// dispatch runs the command of cmds that args[0] names with the rest of args, or
// prints usage: to stdout for help (exit 0), to stderr when no command or an
// unknown one is named (exit 2). prog prefixes the unknown-command error.
// campaignctl and its command groups (events) share it.
func dispatch(prog string, cmds []command, usage func(io.Writer), args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	}
	for _, c := range cmds {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n\n", prog, args[0])
	usage(stderr)
	return 2
}
