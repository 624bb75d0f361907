package main

import (
	"fmt"
	"io"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// runPlan implements `campaignctl plan [DIR]`: compile and write the canonical
// plan to -o or stdout. Diagnostics go to stderr, so stdout is the plan alone.
func runPlan(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("plan", "plan [flags] [DIR]", `
Compile a campaigns directory (default ./campaigns) into the canonical plan:
JSON with every object sorted by kind and name, a content hash per object and a
plan hash. The same sources always give the same bytes. When DIR is inside a git
repository, the plan records the commit and whether DIR has uncommitted changes.

The plan is written to stdout, or to -o; diagnostics go to stderr. Nothing is
written when there is an error.

Exit status: 0 on success (warnings allowed), 1 on errors, 2 for a usage error.`, `  campaignctl plan campaigns > plan.json
  campaignctl plan -o plan.json campaigns
  campaignctl plan --no-git --format github -o plan.json campaigns`, stderr)
	out := fs.String("o", "", "write the plan to this file instead of stdout")
	format := formatFlag(fs)
	noGit := fs.Bool("no-git", false, "do not record the git commit and dirty state in the plan")
	dir, code := parseWithDir(fs, args, stderr)
	if code >= 0 {
		return code
	}
	f, err := diag.ParseFormat(*format)
	if err != nil {
		fmt.Fprintf(stderr, "campaignctl plan: %v\n", err)
		return 2
	}

	var opts compiler.Options
	if !*noGit {
		opts.Commit, opts.Dirty = gitSource(dir)
	}
	res, err := compileDir(dir, opts)
	if err != nil {
		fmt.Fprintf(stderr, "campaignctl plan: %v\n", err)
		return 1
	}
	if len(res.diags) > 0 || f == diag.FormatJSON {
		if err := diag.Write(stderr, f, res.diags, res.sources); err != nil {
			fmt.Fprintf(stderr, "campaignctl plan: writing diagnostics: %v\n", err)
			return 1
		}
	}
	if res.diags.HasErrors() {
		if f == diag.FormatText {
			fmt.Fprintf(stderr, "%s is not valid: %s; no plan written\n", dirLabel(dir), problemCounts(res.diags))
		}
		return 1
	}
	data, err := plan.Encode(res.plan)
	if err != nil {
		fmt.Fprintf(stderr, "campaignctl plan: %v\n", err)
		return 1
	}
	if *out == "" {
		if _, err := stdout.Write(data); err != nil {
			fmt.Fprintf(stderr, "campaignctl plan: writing the plan: %v\n", err)
			return 1
		}
		return 0
	}
	if err := writeFileAtomic(*out, data); err != nil {
		fmt.Fprintf(stderr, "campaignctl plan: %v\n", err)
		return 1
	}
	if f == diag.FormatText {
		fmt.Fprintf(stderr, "wrote %s: %s (plan_hash %.12s)\n", *out, objectCounts(res.plan), res.plan.Hash)
	}
	return 0
}
