package compiler

import (
	"io/fs"

	"github.com/campaignctl/campaignctl/compiler/check"
	"github.com/campaignctl/campaignctl/compiler/cuesrc"
	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/hclsrc"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// Options are the inputs of Compile that are not files.
type Options struct {
	// Commit and Dirty describe the sources' version control state; they are
	// copied to plan.Source and do not affect anything else.
	Commit string
	Dirty  bool
}

// Compile reads every *.hcl and *.cue file of fsys (the campaigns directory) into
// one IR — objects may reference each other across files and languages — checks
// it, and returns the finalized plan. Diagnostics are sorted by file and position;
// their file names are paths within fsys. The plan is nil if any diagnostic is an
// error; warnings alone still yield a plan.
func Compile(fsys fs.FS, opts Options) (*plan.Plan, diag.Diagnostics) {
	cfg, ds := hclsrc.Load(fsys)
	cueCfg, cueDiags := cuesrc.Load(fsys)
	cfg.Append(cueCfg)
	ds = append(ds, cueDiags...)
	if ds.HasSyntaxErrors() {
		// A file could not be read: the checks would only echo it.
		ds.Sort()
		return nil, ds
	}
	p, checked := check.Plan(cfg)
	ds = append(ds, checked...)
	if !ds.HasErrors() && cfg.Len() == 0 {
		ds = append(ds, diag.Diagnostic{
			Severity: diag.Error,
			Summary:  "the campaigns directory declares nothing",
			Detail: "No " + plan.KindList() + " was found in any *.hcl or *.cue file. " +
				"An empty plan would stop every campaign when applied, so it is refused; check the directory you passed.",
		})
	}
	ds.Sort()
	if ds.HasErrors() {
		return nil, ds
	}
	p.Source = plan.Source{Commit: opts.Commit, Dirty: opts.Dirty}
	p.Finalize()
	return p, ds
}
