package compiler_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// FuzzCompileHCL compiles arbitrary HCL (and an arbitrary template file it may
// read with file()) and asserts that the compiler does not panic, that every
// diagnostic points at a real place — a file of the tree, with line and column
// agreeing with the byte offset — and that every renderer copes with it.
//
//	go test ./compiler/ -run '^$' -fuzz FuzzCompileHCL -fuzztime 2m -fuzzminimizetime 2s
//
// Every compile validates objects against the CUE schemas, so nearly every new
// input reaches new code in CUE's evaluator and is minimized; the default
// minimization budget (a minute per input) then stalls the run, hence the flag.
func FuzzCompileHCL(f *testing.F) {
	// Seeds: every golden case and every example, each file alone (the fuzzer
	// then mutates workflows, sequences and policies as well as segments).
	for _, dir := range []string{casesDir, examplesDir} {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".hcl") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			f.Add(src, []byte("<p>{{ .lead.name }}</p>\n<a href=\"{{ .unsubscribe_url }}\">x</a>\n"))
			return nil
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	// A whole small tree in one file: model, workflow with every step kind.
	f.Add([]byte(`model "m" {
  table = "t"
  key   = "id"
  email = "e"
  field "x" { type = "int" }
}
sender "s" { from = "a@b.example" }
template "t" {
  subject = "s"
  text    = "{{ .unsubscribe_url }}"
}
workflow "w" {
  type   = "abandoned_cart"
  model  = "m"
  sender = "s"
  trigger { event = "cart_abandoned" }
  goal = "m.x > 1"
  step "a" { wait = "1h" }
  step "b" { send = "t" }
  step "c" {
    engagement {
      step  = "b"
      event = "opened"
    }
    then = "a"
  }
  step "d" { exit = true }
}
`), []byte(""))
	f.Add([]byte("segment \"s\" {\n  filter = <<-CEL\n\t  é.x\n  CEL\n}\n"), []byte("{{"))
	f.Add([]byte("template \"t\" { html = file(\"templates/t.html\") }"), []byte("<a href=\"{{ .x }}>\n"))

	f.Fuzz(func(t *testing.T, src, html []byte) {
		fsys := fstest.MapFS{
			"main.hcl":                     {Data: src},
			"templates/t.html":             {Data: html},
			"templates/back_in_stock.html": {Data: html},
			"templates/price_drop.html":    {Data: html},
		}
		p, ds := compiler.Compile(fsys, compiler.Options{})
		for _, d := range ds {
			checkPosition(t, fsys, d)
		}
		if ds.HasErrors() != (p == nil) {
			t.Fatalf("errors %v but plan %v", ds.HasErrors(), p != nil)
		}
		for _, format := range diag.Formats {
			if err := diag.Write(io.Discard, format, ds, diag.ReadSources(fsys, ds)); err != nil {
				t.Fatalf("rendering %s: %v", format, err)
			}
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

func checkPosition(t *testing.T, fsys fstest.MapFS, d diag.Diagnostic) {
	t.Helper()
	if d.Summary == "" {
		t.Fatalf("diagnostic without a summary: %+v", d)
	}
	if d.Subject == nil {
		if !strings.HasPrefix(d.Summary, "the campaigns directory declares nothing") {
			t.Fatalf("diagnostic without a position: %q", d.Summary)
		}
		return
	}
	s := d.Subject
	file, ok := fsys[s.Filename]
	if !ok {
		t.Fatalf("%q points into %q, which is not in the tree", d.Summary, s.Filename)
	}
	if s.Start.Byte < 0 || s.End.Byte < s.Start.Byte || s.End.Byte > len(file.Data) {
		t.Fatalf("%q: bad byte range [%d,%d) in a %d-byte file", d.Summary, s.Start.Byte, s.End.Byte, len(file.Data))
	}
	lines := ir.NewLines(file.Data)
	if got := lines.Pos(s.Start.Byte); got != s.Start {
		t.Fatalf("%q: start %+v, but byte %d is at %+v", d.Summary, s.Start, s.Start.Byte, got)
	}
	if got := lines.Pos(s.End.Byte); got != s.End {
		t.Fatalf("%q: end %+v, but byte %d is at %+v", d.Summary, s.End, s.End.Byte, got)
	}
}
