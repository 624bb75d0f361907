package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	unformattedHCL = "sender \"s\" {\nfrom=\"a@acme.example\"\n}\n"
	formattedHCL   = "sender \"s\" {\n  from = \"a@acme.example\"\n}\n"
	unformattedCUE = "package campaigns\nsender: s: {\nfrom:\"a@acme.example\"\n}\n"
	formattedCUE   = "package campaigns\n\nsender: s: {\n\tfrom: \"a@acme.example\"\n}\n"
)

// fmtTree writes files (path → content) under a fresh directory.
func fmtTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFmtCheck(t *testing.T) {
	t.Parallel()
	dir := fmtTree(t, map[string]string{
		"a.hcl":            unformattedHCL,
		"sub/b.cue":        unformattedCUE,
		"ok.hcl":           formattedHCL,
		".hidden/c.hcl":    unformattedHCL,
		"cue.mod/m.cue":    unformattedCUE,
		"templates/x.html": "<p>  untouched  </p>",
	})
	code, stdout, stderr := runSub(runFmt, "-check", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	want := filepath.Join(dir, "a.hcl") + "\n" + filepath.Join(dir, "sub", "b.cue") + "\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
	if got := readFile(t, filepath.Join(dir, "a.hcl")); got != unformattedHCL {
		t.Errorf("-check wrote a.hcl:\n%s", got)
	}

	// -diff shows the change without writing under -check.
	code, stdout, _ = runSub(runFmt, "-check", "-diff", filepath.Join(dir, "a.hcl"))
	if code != 1 || !strings.Contains(stdout, "-from=\"a@acme.example\"\n") || !strings.Contains(stdout, "+  from = \"a@acme.example\"\n") {
		t.Errorf("exit %d, diff:\n%s", code, stdout)
	}

	// A formatted tree passes the check.
	clean := fmtTree(t, map[string]string{"ok.hcl": formattedHCL, "ok.cue": formattedCUE})
	if code, stdout, stderr := runSub(runFmt, clean, "-check"); code != 0 || stdout != "" {
		t.Errorf("formatted tree: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestFmtWrites(t *testing.T) {
	t.Parallel()
	dir := fmtTree(t, map[string]string{"a.hcl": unformattedHCL, "b.cue": unformattedCUE, "ok.hcl": formattedHCL})
	code, stdout, stderr := runSub(runFmt, dir)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr)
	}
	if want := filepath.Join(dir, "a.hcl") + "\n" + filepath.Join(dir, "b.cue") + "\n"; stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
	if got := readFile(t, filepath.Join(dir, "a.hcl")); got != formattedHCL {
		t.Errorf("a.hcl:\n%s", got)
	}
	if got := readFile(t, filepath.Join(dir, "b.cue")); got != formattedCUE {
		t.Errorf("b.cue:\n%s", got)
	}
	info, err := os.Stat(filepath.Join(dir, "a.hcl"))
	if err != nil || info.Mode().Perm() != 0o640 {
		t.Errorf("a.hcl mode %v (%v), want 0640 kept", info.Mode(), err)
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("directory holds %d entries after fmt, want 3", len(entries))
	}
	// A second run finds nothing to do.
	if code, stdout, _ := runSub(runFmt, "-check", dir); code != 0 || stdout != "" {
		t.Errorf("second run: exit %d, stdout %q", code, stdout)
	}
}

func TestFmtErrors(t *testing.T) {
	t.Parallel()
	dir := fmtTree(t, map[string]string{
		"broken.hcl": "sender \"s\" {\n  from = \n}\n",
		"a.hcl":      unformattedHCL,
		"notes.md":   "# hi",
	})
	code, stdout, stderr := runSub(runFmt, dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr, "broken.hcl:2:") {
		t.Errorf("stderr lacks the parse error's position:\n%s", stderr)
	}
	if got := readFile(t, filepath.Join(dir, "broken.hcl")); got != "sender \"s\" {\n  from = \n}\n" {
		t.Errorf("a file that does not parse was rewritten:\n%s", got)
	}
	// The other file is still formatted.
	if !strings.Contains(stdout, "a.hcl") || readFile(t, filepath.Join(dir, "a.hcl")) != formattedHCL {
		t.Errorf("a.hcl not formatted past the broken file; stdout %q", stdout)
	}

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{filepath.Join(dir, "notes.md")}, 1, "not a .hcl or .cue file"},
		{[]string{filepath.Join(dir, "missing")}, 1, "no such file"},
		{[]string{"-nope"}, 2, "flag provided but not defined"},
		{[]string{"-h"}, 0, "Usage: campaignctl fmt"},
	} {
		code, _, stderr := runSub(runFmt, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr, c.code, c.msg)
		}
	}
}

// The examples shipped in campaigns/ written in CUE are formatted (the HCL
// ones are checked by whoever owns them).
func TestFmtExamples(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../campaigns/*.cue")
	if err != nil || len(files) == 0 {
		t.Fatalf("no CUE examples in campaigns/ (%v)", err)
	}
	code, stdout, stderr := runSub(runFmt, append([]string{"-check"}, files...)...)
	if code != 0 {
		t.Errorf("exit %d; not formatted:\n%s%s", code, stdout, stderr)
	}
}

// The tests of `campaignctl schema export` live here too: this file is the one
// the fmt and schema commands' owner keeps.

func TestSchemaExport(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runSub(runSchema, "export")
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v", err)
	}
	if _, ok := doc["$defs"].(map[string]any); !ok {
		t.Errorf("the schema has no $defs: %.200s", stdout)
	}

	out := filepath.Join(t.TempDir(), "campaignctl.schema.json")
	code, stdout2, stderr := runSub(runSchema, "export", "-o", out)
	if code != 0 || stdout2 != "" {
		t.Fatalf("-o: exit %d, stdout %q, stderr %q", code, stdout2, stderr)
	}
	if got := readFile(t, out); got != stdout {
		t.Error("-o wrote something else than stdout gets")
	}
	// Exporting again replaces the file.
	if err := os.WriteFile(out, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runSub(runSchema, "export", "-o", out); code != 0 || readFile(t, out) != stdout {
		t.Errorf("second export: exit %d, file not replaced", code)
	}

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "Usage: campaignctl schema"},
		{[]string{"import"}, 2, `unknown command "import"`},
		{[]string{"export", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"export", "-o", filepath.Join(t.TempDir(), "no", "such", "dir", "x.json")}, 1, "no such file"},
	} {
		code, _, stderr := runSub(runSchema, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr, c.code, c.msg)
		}
	}
}
