package diff_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/diff"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/diff")

const casesDir = "../../testdata/diff"

// loadSide reads one side of a case: the directory <case>/<side>/ compiled, or
// the plan file <case>/<side>.plan.json.
func loadSide(t *testing.T, dir, side string) *plan.Plan {
	t.Helper()
	if info, err := os.Stat(filepath.Join(dir, side)); err == nil && info.IsDir() {
		fsys := os.DirFS(filepath.Join(dir, side))
		p, ds := compiler.Compile(fsys, compiler.Options{})
		if ds.HasErrors() {
			var b bytes.Buffer
			diag.WriteText(&b, ds, diag.ReadSources(fsys, ds))
			t.Fatalf("%s/%s does not compile:\n%s", dir, side, b.String())
		}
		return p
	}
	data, err := os.ReadFile(filepath.Join(dir, side+".plan.json"))
	if err != nil {
		t.Fatalf("case needs %s/ or %s.plan.json: %v", side, side, err)
	}
	p, err := plan.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestGolden diffs each testdata/diff/<case> and compares the three views with
// want.txt, want.md and want.json. The JSON is also checked against the
// published schema, and each case's expectations that do not depend on
// rendering (there are changes or not) are asserted directly.
func TestGolden(t *testing.T) {
	entries, err := os.ReadDir(casesDir)
	if err != nil {
		t.Fatal(err)
	}
	schema := loadSchema(t)
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(casesDir, name)
			d := diff.Plans(loadSide(t, dir, "old"), loadSide(t, dir, "new"))
			d.ImpactSkipped = "no --db"
			if got, want := d.HasChanges(), name != "no-change"; got != want {
				t.Errorf("HasChanges() = %v, want %v", got, want)
			}

			var text, md, js bytes.Buffer
			if err := diff.WriteText(&text, d, diff.TextOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := diff.WriteMarkdown(&md, d); err != nil {
				t.Fatal(err)
			}
			if err := diff.WriteJSON(&js, d); err != nil {
				t.Fatal(err)
			}
			if err := schema.validateJSON(js.Bytes()); err != nil {
				t.Errorf("JSON output does not match docs/diff.schema.json: %v", err)
			}
			if !strings.HasPrefix(md.String(), diff.Marker+"\n") {
				t.Errorf("Markdown does not start with the marker %s", diff.Marker)
			}
			golden(t, filepath.Join(dir, "want.txt"), text.Bytes())
			golden(t, filepath.Join(dir, "want.md"), md.Bytes())
			golden(t, filepath.Join(dir, "want.json"), js.Bytes())
		})
	}
	if n < 10 {
		t.Errorf("only %d cases in %s", n, casesDir)
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./compiler/diff -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test ./compiler/diff -update and review the change):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
