package format_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/format"
)

// sourceFiles returns every .hcl and .cue file under the given roots.
func sourceFiles(t *testing.T, roots ...string) []string {
	t.Helper()
	var files []string
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir // as campaignctl fmt does
			}
			if !d.IsDir() && format.Supported(p) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// TestIdempotent formats every source file of the repository's examples and
// test cases twice: the second pass must change nothing. Files that do not
// parse (invalid-syntax cases) must be refused, not formatted.
func TestIdempotent(t *testing.T) {
	files := sourceFiles(t, "../../campaigns", "../../testdata/compile", "../../testdata/cue")
	var hcl, cue int
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		once, err := format.Source(name, src)
		if err != nil {
			if !strings.Contains(name, "syntax") {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		twice, err := format.Source(name, once)
		if err != nil {
			t.Errorf("%s: formatted output does not parse: %v\n%s", name, err, once)
			continue
		}
		if string(once) != string(twice) {
			t.Errorf("%s: formatting is not idempotent:\n%s", name, format.Diff(name, once, twice))
		}
		if strings.HasSuffix(name, ".hcl") {
			hcl++
		} else {
			cue++
		}
	}
	if hcl < 10 || cue < 5 {
		t.Errorf("formatted only %d .hcl and %d .cue files; is the tree where the test expects it?", hcl, cue)
	}
}

// TestExamplesFormatted keeps the CUE examples and the CUE test cases in
// canonical form.
func TestExamplesFormatted(t *testing.T) {
	cueExamples, err := filepath.Glob("../../campaigns/*.cue")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range append(cueExamples, sourceFiles(t, "../../testdata/cue/twin")...) {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := format.Source(name, src)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if d := format.Diff(name, src, got); d != "" {
			t.Errorf("%s is not formatted; run campaignctl fmt:\n%s", name, d)
		}
	}
}

func TestFormats(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"a.hcl", "sender \"s\" {\nfrom=\"a@b.c\"\n    reply_to = \"d@e.f\"\n}\n",
			"sender \"s\" {\n  from     = \"a@b.c\"\n  reply_to = \"d@e.f\"\n}\n"},
		{"a.cue", "package x\nsender: s: {\nfrom:\"a@b.c\"\n        reply_to: \"d@e.f\"}\n",
			"package x\n\nsender: s: {\n\tfrom:     \"a@b.c\"\n\treply_to: \"d@e.f\"\n}\n"},
		{"keeps-comments.cue", "// why\nsender: s: from: \"a@b.c\" // inline\n",
			"// why\nsender: s: from: \"a@b.c\" // inline\n"},
	}
	for _, c := range cases {
		got, err := format.Source(c.name, []byte(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("%s: got\n%s\nwant\n%s", c.name, got, c.want)
		}
	}
}

func TestRefusesBrokenFiles(t *testing.T) {
	for name, src := range map[string]string{
		"bad.hcl": "sender \"s\" {\n  from = \n}\n",
		"bad.cue": "sender: s: {\n\tfrom: \"x\n}\n",
	} {
		_, err := format.Source(name, []byte(src))
		if err == nil || !strings.Contains(err.Error(), name+":") {
			t.Errorf("%s: want an error naming the file and position, got %v", name, err)
		}
	}
	if _, err := format.Source("notes.md", nil); !errors.Is(err, format.ErrUnsupported) {
		t.Errorf("notes.md: got %v, want ErrUnsupported", err)
	}
}

func TestDiff(t *testing.T) {
	if d := format.Diff("a.hcl", []byte("x\n"), []byte("x\n")); d != "" {
		t.Errorf("equal texts give a diff: %q", d)
	}
	d := format.Diff("a.hcl", []byte("a\nb\n"), []byte("a\nc\n"))
	for _, want := range []string{"--- a.hcl\n", "-b\n", "+c\n", " a\n"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
}
