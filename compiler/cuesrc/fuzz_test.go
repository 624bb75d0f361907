package cuesrc_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/cuesrc"
	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// FuzzCompileCUE compiles an arbitrary .cue file next to the CRM model of
// campaigns/crm.hcl (so references resolve and the checker runs deep) and a
// file it may @embed, and asserts that nothing panics — the CUE evaluator's
// panics included, which Load turns into an "internal error" diagnostic — that
// every diagnostic points at a real place of the tree, and that a plan, when
// there is one, survives its own encoder and decoder.
//
//	go test ./compiler/cuesrc/ -run '^$' -fuzz FuzzCompileCUE -fuzztime 3m
func FuzzCompileCUE(f *testing.F) {
	crm, err := os.ReadFile("../../campaigns/crm.hcl")
	if err != nil {
		f.Fatal(err)
	}
	for _, src := range seedFiles(f) {
		f.Add(src, []byte("<p>{{ .lead.name }}</p>\n<a href=\"{{ .unsubscribe_url }}\">x</a>\n"))
	}
	f.Fuzz(func(t *testing.T, src, html []byte) {
		fsys := fstest.MapFS{
			"main.cue":                     {Data: src},
			"crm.hcl":                      {Data: crm},
			"templates/back_in_stock.html": {Data: html},
			"templates/broken.html":        {Data: html},
		}
		p, ds := compiler.Compile(fsys, compiler.Options{})
		checkDiagnostics(t, fsys, ds)
		if ds.HasErrors() != (p == nil) {
			t.Fatalf("errors %v but plan %v", ds.HasErrors(), p != nil)
		}
		if p != nil {
			b, err := plan.Encode(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := plan.Decode(b); err != nil {
				t.Fatalf("the compiled plan does not decode: %v", err)
			}
		}
	})
}

// FuzzLoadCUE runs the CUE front end alone, two files of one package, with the
// same assertions. Without the checker's schema validation each run is about
// a millisecond, so it explores the loader much faster than FuzzCompileCUE.
//
//	go test ./compiler/cuesrc/ -run '^$' -fuzz FuzzLoadCUE -fuzztime 3m
func FuzzLoadCUE(f *testing.F) {
	srcs := seedFiles(f)
	for i, src := range srcs {
		f.Add(src, srcs[(i+1)%len(srcs)])
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		fsys := fstest.MapFS{
			"a.cue":                        {Data: a},
			"sub/b.cue":                    {Data: b},
			"templates/back_in_stock.html": {Data: []byte("<p>{{ .lead.name }}</p>\n")},
		}
		_, ds := cuesrc.Load(fsys)
		checkDiagnostics(t, fsys, ds)
	})
}

// seedFiles returns the CUE examples and test cases.
func seedFiles(f *testing.F) [][]byte {
	var seeds []string
	for _, pattern := range []string{"../../campaigns/*.cue", "../../testdata/cue/*/*/*.cue", "../../testdata/cue/*/*/*/*.cue"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, m...)
	}
	if len(seeds) < 10 {
		f.Fatalf("only %d seed files found", len(seeds))
	}
	var out [][]byte
	for _, name := range seeds {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, src)
	}
	return out
}

// checkDiagnostics asserts that no diagnostic stands for a panic, that each
// points at a real place of the tree and that every renderer copes with them.
func checkDiagnostics(t *testing.T, fsys fstest.MapFS, ds diag.Diagnostics) {
	t.Helper()
	for _, d := range ds {
		if strings.Contains(d.Summary, "internal error") {
			t.Fatalf("panic turned into a diagnostic: %s", d.Summary)
		}
		checkPosition(t, fsys, d)
	}
	for _, format := range diag.Formats {
		if err := diag.Write(io.Discard, format, ds, diag.ReadSources(fsys, ds)); err != nil {
			t.Fatalf("rendering %s: %v", format, err)
		}
	}
}
