package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/diff"
	"github.com/campaignctl/campaignctl/compiler/diff/gitsrc"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// Exit codes of diff, as `terraform plan -detailed-exitcode` has them. A usage
// error is 1 too: 2 must only ever mean "there are changes".
const (
	diffNoChanges = 0
	diffError     = 1
	diffChanges   = 2
)

// runDiff implements `campaignctl diff OLD NEW` and `campaignctl diff --base REF
// [DIR]`.
func runDiff(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("diff", "diff [flags] OLD NEW\n       campaignctl diff [flags] --base REF [DIR]", `
Show what a change to the campaigns does, object by object and field by field,
the way 'terraform plan' does: + added, - removed, ~ changed or renamed, CEL
filters and template bodies line by line, workflow steps matched by name.

OLD and NEW are each a plan file (from 'campaignctl plan') or a campaigns
directory, which is compiled. With --base, the old side is DIR (default
./campaigns) as it is at the git ref REF, read from git objects without
touching the working tree or the index, and the new side is DIR as it is on
disk. In a shallow CI checkout, fetch the base first:
git fetch origin main --depth=1.

Formats: text (default; coloured on a terminal unless NO_COLOR is set),
markdown (a pull-request comment, with Mermaid charts of changed workflows and
sequences) and json (documented in docs/diff.md).

Exit status: 0 no changes, 2 changes, 1 error (including a usage error), like
'terraform plan -detailed-exitcode'.`, `  campaignctl diff old-plan.json campaigns
  campaignctl diff --base origin/main campaigns
  campaignctl diff --base HEAD~1 --format markdown campaigns > comment.md
  campaignctl diff --format json old-plan.json new-plan.json`, stderr)
	base := fs.String("base", "", "compare `REF`:DIR (read from git) with DIR in the working tree")
	format := fs.String("format", "text", "output: text, markdown or json")
	color := fs.String("color", "auto", "colour text output: auto (terminal and NO_COLOR unset), always or never")
	db := dbFlag(fs)
	positional, code := parseInterleaved(fs, args)
	if code >= 0 {
		if code == 2 {
			return diffError
		}
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "campaignctl diff: "+format+"\n", a...)
		fs.Usage()
		return diffError
	}
	switch *format {
	case "text", "markdown", "json":
	default:
		return usageErr("unknown format %q: use text, markdown or json", *format)
	}
	colored, err := useColor(*color, stdout)
	if err != nil {
		return usageErr("%v", err)
	}

	ctx := context.Background()
	var oldPlan, newPlan *plan.Plan
	if *base != "" {
		dir := defaultCampaignsDir
		switch len(positional) {
		case 0:
		case 1:
			dir = positional[0]
		default:
			return usageErr("with --base, one directory expected, got %d: %s", len(positional), strings.Join(positional, " "))
		}
		// Reading the tree from git is a few processes and some I/O: it runs
		// while the working tree compiles.
		type opened struct {
			tree *gitsrc.Tree
			err  error
		}
		atRef := make(chan opened, 1)
		go func() {
			tree, err := gitsrc.Open(ctx, dir, *base)
			atRef <- opened{tree, err}
		}()
		newPlan, err = loadPlan(dir, stderr)
		old := <-atRef
		if err == nil {
			err = old.err
		}
		if err == nil {
			oldPlan, err = compileAtRef(old.tree, stderr)
		}
		if err != nil {
			fmt.Fprintf(stderr, "campaignctl diff: %v\n", err)
			return diffError
		}
	} else {
		if len(positional) != 2 {
			return usageErr("two sides expected (OLD NEW), or --base REF [DIR]; got %d arguments", len(positional))
		}
		if oldPlan, err = loadPlan(positional[0], stderr); err != nil {
			fmt.Fprintf(stderr, "campaignctl diff: old side: %v\n", err)
			return diffError
		}
		if newPlan, err = loadPlan(positional[1], stderr); err != nil {
			fmt.Fprintf(stderr, "campaignctl diff: new side: %v\n", err)
			return diffError
		}
	}

	d := diff.Plans(oldPlan, newPlan)
	switch {
	case *db == "":
		d.ImpactSkipped = "no --db"
	default:
		fn, closeDB, err := dbImpact(ctx, *db)
		if err != nil {
			fmt.Fprintf(stderr, "campaignctl diff: %v\n", err)
			return diffError
		}
		err = d.AddImpact(ctx, fn)
		closeDB()
		if err != nil {
			fmt.Fprintf(stderr, "campaignctl diff: %v\n", err)
			return diffError
		}
	}

	var buf bytes.Buffer
	switch *format {
	case "json":
		err = diff.WriteJSON(&buf, d)
	case "markdown":
		err = diff.WriteMarkdown(&buf, d)
	default:
		err = diff.WriteText(&buf, d, diff.TextOptions{Color: colored})
	}
	if err == nil {
		_, err = stdout.Write(buf.Bytes())
	}
	if err != nil {
		fmt.Fprintf(stderr, "campaignctl diff: writing the diff: %v\n", err)
		return diffError
	}
	if d.HasChanges() {
		return diffChanges
	}
	return diffNoChanges
}

// loadPlan reads one side: a directory is compiled, a file is decoded as a plan.
// Errors in a directory's files are printed to stderr as diagnostics.
func loadPlan(arg string, stderr io.Writer) (*plan.Plan, error) {
	info, err := os.Stat(arg)
	if err != nil {
		if u := errors.Unwrap(err); u != nil {
			err = u // the path is said once, by us
		}
		return nil, fmt.Errorf("%s: %w (expected a campaigns directory or a plan file)", arg, err)
	}
	if !info.IsDir() {
		data, err := os.ReadFile(arg)
		if err != nil {
			return nil, err
		}
		p, err := plan.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", arg, err)
		}
		return p, nil
	}
	res, err := compileDir(arg, compiler.Options{})
	if err != nil {
		return nil, err
	}
	return compiled(res.plan, res.diags, res.sources, dirLabel(arg), stderr)
}

// compileAtRef compiles a tree read from git. A directory that did not exist at
// the ref is an empty plan: everything in it is new. Diagnostics name files as
// git does, REF:path.
func compileAtRef(tree *gitsrc.Tree, stderr io.Writer) (*plan.Plan, error) {
	if !tree.Exists {
		return nil, nil
	}
	p, ds := compiler.Compile(tree.FS, compiler.Options{Commit: tree.Commit})
	src := diag.ReadSources(tree.FS, ds)
	display := func(name string) string { return tree.Ref + ":" + tree.Prefix + name }
	sources := diag.Sources{}
	for name, b := range src {
		sources[display(name)] = b
	}
	return compiled(p, ds.MapFilenames(display), sources, tree.Ref+":"+tree.Prefix, stderr)
}

// compiled turns a compilation into a side of the diff. Diagnostics are printed
// only when they stop it: warnings are validate's business, and the old side's
// would be noise about code that is being replaced.
func compiled(p *plan.Plan, ds diag.Diagnostics, src diag.Sources, label string, stderr io.Writer) (*plan.Plan, error) {
	if !ds.HasErrors() {
		return p, nil
	}
	if err := diag.WriteText(stderr, ds, src); err != nil {
		return nil, fmt.Errorf("writing diagnostics: %w", err)
	}
	return nil, fmt.Errorf("%s does not compile: %s", label, problemCounts(ds))
}

// useColor decides whether text output is coloured.
func useColor(mode string, stdout io.Writer) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto":
		if os.Getenv("NO_COLOR") != "" {
			return false, nil
		}
		f, ok := stdout.(*os.File)
		if !ok {
			return false, nil
		}
		info, err := f.Stat()
		return err == nil && info.Mode()&os.ModeCharDevice != 0, nil
	}
	return false, fmt.Errorf("unknown --color %q: use auto, always or never", mode)
}
