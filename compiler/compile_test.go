package compiler_test

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/compile")

const casesDir = "../testdata/compile"

// TestGolden compiles each testdata/compile/<case> and compares the plan with
// want.plan.json and the text diagnostics (snippets and carets included) with
// want.diags.txt. The case name's prefix states the expected outcome: valid-*
// compiles without diagnostics, warning-* compiles with warnings only, invalid-*
// fails.
func TestGolden(t *testing.T) {
	entries, err := os.ReadDir(casesDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
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
			case strings.HasPrefix(name, "warning-"):
				if errs != 0 || warns == 0 || p == nil {
					t.Errorf("want a plan and warnings only, got %d errors, %d warnings", errs, warns)
				}
			case strings.HasPrefix(name, "invalid-"):
				if errs == 0 || p != nil {
					t.Errorf("want errors and no plan, got %d errors, plan %v", errs, p != nil)
				}
			default:
				t.Fatalf("case name %q must start with valid-, warning- or invalid-", name)
			}

			var text bytes.Buffer
			if err := diag.WriteText(&text, ds, diag.ReadSources(fsys, ds)); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(dir, "want.diags.txt"), text.Bytes(), len(ds) > 0)

			var planJSON []byte
			if p != nil {
				if planJSON, err = plan.Encode(p); err != nil {
					t.Fatal(err)
				}
				// The plan must survive its own reader, hash check included.
				if _, err := plan.Decode(planJSON); err != nil {
					t.Errorf("Decode(Encode(plan)): %v", err)
				}
				checkFiltersCompile(t, p)
			}
			golden(t, filepath.Join(dir, "want.plan.json"), planJSON, p != nil)
		})
	}
	if n < 14 {
		t.Errorf("only %d golden cases found in %s", n, casesDir)
	}
}

// golden compares got with the file, or rewrites it under -update. present says
// whether the file should exist at all.
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
			t.Errorf("%s exists but the case produced nothing for it; run go test ./compiler/ -update", path)
		}
		return
	}
	if err != nil {
		t.Fatalf("%v; run go test ./compiler/ -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test ./compiler/ -update and review the diff)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

// checkFiltersCompile proves that every filter in the plan, default filters
// folded in, is a bool CEL expression in the model's environment: what the
// runtime will evaluate.
func checkFiltersCompile(t *testing.T, p *plan.Plan) {
	t.Helper()
	for _, s := range p.Segments {
		m, ok := p.Model(s.Model)
		if !ok {
			t.Errorf("segment %s: model %s not in plan", s.Name, s.Model)
			continue
		}
		var same []string
		for _, o := range p.Segments {
			if o.Model == s.Model {
				same = append(same, o.Name)
			}
		}
		env, err := celmodel.Env(m, same)
		if err != nil {
			t.Fatal(err)
		}
		a, iss := env.Compile(s.Filter)
		if iss.Err() != nil {
			t.Errorf("segment %s: plan filter does not compile: %v", s.Name, iss.Err())
			continue
		}
		if a.OutputType().String() != "bool" {
			t.Errorf("segment %s: plan filter is %s, not bool", s.Name, a.OutputType())
		}
	}
}

// TestDeterministic compiles the same trees twice and from a copy whose files
// were added in another order: the bytes must not change.
func TestDeterministic(t *testing.T) {
	// Files are parsed and objects validated in parallel: the output must not
	// depend on scheduling either.
	for _, dir := range []string{"valid-lost-leads", "valid-many-objects", "invalid-many-errors",
		"valid-sequence-autoresponder", "invalid-workflow-schema", "invalid-step-graph", "../../campaigns"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			root := filepath.Join(casesDir, dir)
			first := compileBytes(t, os.DirFS(root))
			for i := 0; i < 5; i++ {
				if again := compileBytes(t, os.DirFS(root)); !bytes.Equal(first, again) {
					t.Fatalf("compile %d differs from the first", i+2)
				}
			}
			// The same files in a map-backed FS (whose internal iteration order is
			// random) must give the same plan.
			mapFS := fstest.MapFS{}
			err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(root, path)
				data, err := os.ReadFile(path)
				mapFS[filepath.ToSlash(rel)] = &fstest.MapFile{Data: data}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if again := compileBytes(t, mapFS); !bytes.Equal(first, again) {
				t.Fatal("compiling from a MapFS gives different bytes")
			}
		})
	}
}

func compileBytes(t *testing.T, fsys fs.FS) []byte {
	t.Helper()
	p, ds := compiler.Compile(fsys, compiler.Options{})
	var out bytes.Buffer
	if err := diag.WriteJSON(&out, ds); err != nil {
		t.Fatal(err)
	}
	if p != nil {
		b, err := plan.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
	}
	return out.Bytes()
}

func TestOptionsFillSource(t *testing.T) {
	fsys := os.DirFS(filepath.Join(casesDir, "valid-minimal"))
	plain, _ := compiler.Compile(fsys, compiler.Options{})
	p, ds := compiler.Compile(fsys, compiler.Options{Commit: "0123abc", Dirty: true})
	if p == nil || ds.HasErrors() {
		t.Fatalf("valid-minimal does not compile: %v", ds)
	}
	if p.Source.Commit != "0123abc" || !p.Source.Dirty {
		t.Fatalf("Source = %+v", p.Source)
	}
	if p.Hash != plain.Hash {
		t.Fatal("the plan hash depends on Source; it must not")
	}
}

func TestEmptyTreeIsAnError(t *testing.T) {
	for name, fsys := range map[string]fs.FS{
		"no files":   fstest.MapFS{},
		"only notes": fstest.MapFS{"README.md": {Data: []byte("hi")}, "x.hcl": {Data: []byte("# nothing\n")}},
	} {
		p, ds := compiler.Compile(fsys, compiler.Options{})
		if p != nil || !ds.HasErrors() || !strings.Contains(ds[0].Summary, "declares nothing") {
			t.Errorf("%s: plan %v, diagnostics %v", name, p != nil, ds)
		}
	}
}
