package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

const compileCases = "../../testdata/compile"

func caseDir(name string) string { return filepath.Join(compileCases, name) }

func TestValidateExitCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		args       []string
		code       int
		stdoutHas  string
		stderrHas  string
		stdoutNone bool
	}{
		{"valid", []string{caseDir("valid-lost-leads")}, 0,
			"testdata/compile/valid-lost-leads/ is valid: 1 model, 1 segment, 1 template, 1 sender, 1 campaign\n", "", false},
		{"warnings alone pass", []string{caseDir("warning-lints")}, 0,
			"is valid: 1 model, 1 segment, 4 templates, 1 sender, 1 campaign, 2 workflows (3 warnings)", "", false},
		{"marketing mail without an unsubscribe link fails", []string{caseDir("invalid-no-unsubscribe")}, 1,
			"invalid-no-unsubscribe/ is not valid: 2 errors", "", false},
		{"errors fail", []string{caseDir("invalid-refs")}, 1,
			"invalid-refs/ is not valid: 5 errors", "", false},
		{"flags after the directory", []string{caseDir("invalid-refs"), "--format", "github"}, 1,
			"::error file=" + filepath.ToSlash(caseDir("invalid-refs")) + "/main.hcl,line=9,col=13", "", false},
		{"help", []string{"-h"}, 0, "", "Usage: campaignctl validate [flags] [DIR]", true},
		{"unknown flag", []string{"--frmat", "json"}, 2, "", "flag provided but not defined", true},
		{"unknown format", []string{"--format", "xml", caseDir("valid-minimal")}, 2, "", `unknown format "xml"`, true},
		{"two directories", []string{caseDir("valid-minimal"), caseDir("valid-lost-leads")}, 2, "", "one directory expected, got 2", true},
		{"missing directory", []string{caseDir("does-not-exist")}, 1, "", "no such file or directory", true},
		{"a file, not a directory", []string{caseDir("valid-minimal/main.hcl")}, 1, "", "is not a directory", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runSub(runValidate, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, stdout, stderr)
			}
			if !strings.Contains(stdout, c.stdoutHas) {
				t.Errorf("stdout lacks %q:\n%s", c.stdoutHas, stdout)
			}
			if !strings.Contains(stderr, c.stderrHas) {
				t.Errorf("stderr lacks %q:\n%s", c.stderrHas, stderr)
			}
			if c.stdoutNone && stdout != "" {
				t.Errorf("stdout should be empty:\n%s", stdout)
			}
		})
	}
}

func TestValidateTextShowsSnippets(t *testing.T) {
	t.Parallel()
	code, stdout, _ := runSub(runValidate, caseDir("invalid-heredoc-caret"))
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	want := filepath.ToSlash(caseDir("invalid-heredoc-caret")) + `/main.hcl:15:12: error: filter of segment "lost": model lead has no field "lost_reasn"; did you mean "lost_reason"?
  15 |         && lead.lost_reasn == "Not enough stock"
     |            ^~~~~~~~~~~~~~~
`
	if !strings.Contains(stdout, want) {
		t.Errorf("stdout lacks\n%s\ngot:\n%s", want, stdout)
	}
}

func TestValidateJSON(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runSub(runValidate, "--format", "json", caseDir("invalid-many-errors"))
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var ds []struct {
		Severity  string `json:"severity"`
		Summary   string `json:"summary"`
		Filename  string `json:"filename"`
		Line      int    `json:"line"`
		Column    int    `json:"column"`
		EndLine   int    `json:"end_line"`
		EndColumn int    `json:"end_column"`
	}
	if err := json.Unmarshal([]byte(stdout), &ds); err != nil {
		t.Fatalf("stdout is not a JSON array (the summary belongs on stderr): %v\n%s", err, stdout)
	}
	if len(ds) < 6 {
		t.Fatalf("want every error of the tree in one run, got %d", len(ds))
	}
	prefix := filepath.ToSlash(caseDir("invalid-many-errors")) + "/"
	files := map[string]bool{}
	for _, d := range ds {
		if d.Severity != "error" || !strings.HasPrefix(d.Filename, prefix) || d.Line < 1 || d.Column < 1 || d.EndLine < d.Line {
			t.Errorf("bad diagnostic %+v", d)
		}
		files[d.Filename] = true
	}
	if len(files) != 3 {
		t.Errorf("errors from %d files, want all 3: %v", len(files), files)
	}
	if !strings.Contains(stderr, "is not valid") {
		t.Errorf("summary missing from stderr: %q", stderr)
	}

	code, stdout, _ = runSub(runValidate, "--format", "json", caseDir("valid-minimal"))
	if code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("valid tree: exit %d, stdout %q, want 0 and []", code, stdout)
	}
}

func TestValidateGitHub(t *testing.T) {
	t.Parallel()
	code, stdout, _ := runSub(runValidate, "--format=github", caseDir("warning-lints"))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var annotations []string
	for _, l := range lines {
		if strings.HasPrefix(l, "::") {
			annotations = append(annotations, l)
		}
	}
	if len(annotations) != 3 {
		t.Fatalf("want 3 annotations, got:\n%s", stdout)
	}
	want := "::warning file=" + filepath.ToSlash(caseDir("warning-lints")) + "/main.hcl,line=53,col=13,endLine=53,endColumn=16,title=step \"soon\" of workflow \"quick\"%3A wait 15m is shorter than 1h%2C the least for marketing workflows::"
	if !strings.HasPrefix(annotations[0], want) {
		t.Errorf("first annotation:\n%s\nwant prefix:\n%s", annotations[0], want)
	}
	if strings.ContainsAny(strings.TrimPrefix(annotations[0], "::"), "\r") {
		t.Error("annotation holds a raw CR")
	}
}

// validate's summary names every kind of object the plan can hold: a kind
// added to the registry (plan.Kinds) and not to objectCounts fails here.
func TestObjectCountsNamesEveryKind(t *testing.T) {
	p := &plan.Plan{}
	for _, k := range plan.Kinds {
		if !p.Add(reflect.New(k.Type).Interface()) {
			t.Fatalf("plan.Add refused a %s", k.Name)
		}
	}
	got := objectCounts(p)
	for _, k := range plan.Kinds {
		if !strings.Contains(got, "1 "+k.Name) {
			t.Errorf("objectCounts of a plan with one object of each kind is %q: it does not name %s", got, k.Name)
		}
	}
}
