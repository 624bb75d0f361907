package main

// Helpers shared by validate and plan: reading the positional DIR between flags,
// compiling a directory, rendering diagnostics with paths as the user typed them,
// and asking git where the sources stand.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// defaultCampaignsDir is used when no DIR is given.
const defaultCampaignsDir = "campaigns"

// parseWithDir parses flags that may come before or after one optional
// positional DIR ("validate campaigns --format json" works as well as
// "validate --format json campaigns"). It returns the exit code to stop with,
// or -1 to go on.
func parseWithDir(fs *flag.FlagSet, args []string, stderr io.Writer) (string, int) {
	positional, code := parseInterleaved(fs, args)
	if code >= 0 {
		return "", code
	}
	switch len(positional) {
	case 0:
		return defaultCampaignsDir, -1
	case 1:
		return positional[0], -1
	}
	fmt.Fprintf(stderr, "campaignctl %s: one directory expected, got %d: %s\n", fs.Name(), len(positional), strings.Join(positional, " "))
	fs.Usage()
	return "", 2
}

// formatFlag adds --format.
func formatFlag(fs *flag.FlagSet) *string {
	return fs.String("format", string(diag.FormatText), "diagnostics format: text, json or github (GitHub Actions annotations)")
}

// compileResult is a compiled directory, diagnostics renamed to the paths the
// user knows (DIR/file.hcl) and the sources they point into.
type compileResult struct {
	plan    *plan.Plan
	diags   diag.Diagnostics
	sources diag.Sources
}

// compileDir compiles the campaigns directory dir. Files are read through an
// os.Root, so neither file() nor a symbolic link can reach outside dir. The error
// is for a directory that cannot be opened at all; problems in the files are
// diagnostics.
func compileDir(dir string, opts compiler.Options) (*compileResult, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("campaigns directory: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("campaigns directory %s is not a directory", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening campaigns directory: %w", err)
	}
	defer root.Close()
	fsys := root.FS()
	p, ds := compiler.Compile(fsys, opts)
	src := diag.ReadSources(fsys, ds)
	display := func(name string) string { return filepath.ToSlash(filepath.Join(dir, filepath.FromSlash(name))) }
	res := &compileResult{plan: p, diags: ds.MapFilenames(display), sources: diag.Sources{}}
	for name, b := range src {
		res.sources[display(name)] = b
	}
	return res, nil
}

// dirLabel is how a summary line names the directory: "campaigns/".
func dirLabel(dir string) string {
	return strings.TrimSuffix(filepath.ToSlash(dir), "/") + "/"
}

// objectCounts describes a plan's content: "1 model, 2 segments, ...", naming
// only the kinds the plan has.
func objectCounts(p *plan.Plan) string {
	counts := []struct {
		n    int
		word string
	}{
		{len(p.Models), "model"}, {len(p.Segments), "segment"}, {len(p.Templates), "template"},
		{len(p.Senders), "sender"}, {len(p.Policies), "policy"}, {len(p.Campaigns), "campaign"},
		{len(p.Workflows), "workflow"}, {len(p.Sequences), "sequence"}, {len(p.Autoresponders), "autoresponder"},
	}
	var parts []string
	for _, c := range counts {
		if c.n > 0 {
			parts = append(parts, plural(c.n, c.word))
		}
	}
	return strings.Join(parts, ", ")
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	if strings.HasSuffix(word, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(word, "y"))
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// problemCounts describes diagnostics: "2 errors, 1 warning".
func problemCounts(ds diag.Diagnostics) string {
	errs, warns := ds.Count()
	switch {
	case errs > 0 && warns > 0:
		return plural(errs, "error") + ", " + plural(warns, "warning")
	case errs > 0:
		return plural(errs, "error")
	default:
		return plural(warns, "warning")
	}
}

// gitSource reports the commit checked out in dir's repository and whether the
// files under dir differ from it. It is best effort: outside a repository,
// without git, or in a repository with no commit yet, it returns "", false.
func gitSource(dir string) (commit string, dirty bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--verify", "-q", "HEAD").Output()
	if err != nil {
		return "", false
	}
	commit = strings.TrimSpace(string(out))
	// Only DIR matters: a change elsewhere in the repository does not change the
	// plan, so it does not make the plan dirty.
	out, err = exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain", "--", ".").Output()
	if err != nil {
		return commit, false
	}
	return commit, len(bytes.TrimSpace(out)) > 0
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, so a reader never sees half a plan.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
