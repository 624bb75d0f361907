package main

import (
	"fmt"
	"io"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/diag"
)

// runValidate implements `campaignctl validate [DIR]`: compile and report every
// problem, without writing a plan. The report goes to stdout; in json format
// stdout holds the JSON array only and the summary line goes to stderr.
func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", "validate [flags] [DIR]", `
Check a campaigns directory (default ./campaigns): HCL syntax, object names,
references between objects, CEL filters (type-checked against their model),
templates, addresses and times. Every problem is reported in one run, with the
file, line and column, and warnings (such as a template with no unsubscribe
link) are reported too.

Exit status: 0 if there is no error (warnings allowed), 1 if there are errors,
2 for a usage error.`, `  campaignctl validate campaigns
  campaignctl validate --format json campaigns
  campaignctl validate --format github campaigns   # annotations in a GitHub Actions job`, stderr)
	format := formatFlag(fs)
	dir, code := parseWithDir(fs, args, stderr)
	if code >= 0 {
		return code
	}
	f, err := diag.ParseFormat(*format)
	if err != nil {
		fmt.Fprintf(stderr, "campaignctl validate: %v\n", err)
		return 2
	}

	res, err := compileDir(dir, compiler.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "campaignctl validate: %v\n", err)
		return 1
	}
	if err := diag.Write(stdout, f, res.diags, res.sources); err != nil {
		fmt.Fprintf(stderr, "campaignctl validate: writing diagnostics: %v\n", err)
		return 1
	}

	summaryOut := stdout
	if f == diag.FormatJSON {
		summaryOut = stderr
	}
	if res.diags.HasErrors() {
		fmt.Fprintf(summaryOut, "%s is not valid: %s\n", dirLabel(dir), problemCounts(res.diags))
		return 1
	}
	line := fmt.Sprintf("%s is valid: %s", dirLabel(dir), objectCounts(res.plan))
	if len(res.diags) > 0 {
		line += " (" + problemCounts(res.diags) + ")"
	}
	fmt.Fprintln(summaryOut, line)
	return 0
}
