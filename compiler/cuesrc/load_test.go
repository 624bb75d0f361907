package cuesrc_test

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/ir"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/cue/cases")

const casesDir = "../../testdata/cue/cases"

// TestGolden loads each testdata/cue/cases/<case> and compares the text
// diagnostics, snippets and carets included, with want.diags.txt. The prefix
// of the case name states the outcome: valid-* has no diagnostics, invalid-*
// has errors.
func TestGolden(t *testing.T) {
	entries, err := os.ReadDir(casesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(casesDir, name)
			fsys := os.DirFS(dir)
			p, ds := compiler.Compile(fsys, compiler.Options{})
			errs, warns := ds.Count()
			switch {
			case strings.HasPrefix(name, "valid-"):
				if len(ds) != 0 || p == nil {
					t.Errorf("want a plan and no diagnostics, got %d errors, %d warnings", errs, warns)
				}
			case strings.HasPrefix(name, "invalid-"):
				if errs == 0 {
					t.Errorf("want errors, got none")
				}
			default:
				t.Fatalf("case name %q must start with valid- or invalid-", name)
			}
			for _, d := range ds {
				checkPosition(t, fsys, d)
			}
			var text bytes.Buffer
			if err := diag.WriteText(&text, ds, diag.ReadSources(fsys, ds)); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(dir, "want.diags.txt"), text.Bytes(), len(ds) > 0)
		})
	}
}

func golden(t *testing.T, path string, got []byte, present bool) {
	t.Helper()
	if *update {
		if present {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		} else if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if !present {
		if err == nil {
			t.Errorf("%s exists but the case produced no diagnostics; run go test ./compiler/cuesrc/ -update", path)
		}
		return
	}
	if err != nil {
		t.Fatalf("%v; run go test ./compiler/cuesrc/ -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test ./compiler/cuesrc/ -update and review the diff)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

// checkPosition asserts that a diagnostic points at a real place: a file of
// the tree, with line and column agreeing with the byte offset.
func checkPosition(t *testing.T, fsys fs.FS, d diag.Diagnostic) {
	t.Helper()
	if d.Summary == "" {
		t.Fatalf("diagnostic without a summary: %+v", d)
	}
	if d.Subject == nil {
		t.Fatalf("diagnostic without a position: %q", d.Summary)
	}
	s := d.Subject
	data, err := fs.ReadFile(fsys, s.Filename)
	if err != nil {
		t.Fatalf("%q points into %q, which is not in the tree: %v", d.Summary, s.Filename, err)
	}
	if s.Start.Byte < 0 || s.End.Byte < s.Start.Byte || s.End.Byte > len(data) {
		t.Fatalf("%q: bad byte range [%d,%d) in a %d-byte file", d.Summary, s.Start.Byte, s.End.Byte, len(data))
	}
	lines := ir.NewLines(data)
	if got := lines.Pos(s.Start.Byte); got != s.Start {
		t.Fatalf("%q: start %+v, but byte %d is at %+v", d.Summary, s.Start, s.Start.Byte, got)
	}
	if got := lines.Pos(s.End.Byte); got != s.End {
		t.Fatalf("%q: end %+v, but byte %d is at %+v", d.Summary, s.End, s.End.Byte, got)
	}
}
