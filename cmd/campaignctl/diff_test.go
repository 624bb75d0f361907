package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/diff"
	"github.com/campaignctl/campaignctl/runtime/store"
)

const diffCases = "../../testdata/diff"

// runSub runs a command's entry point (run for the whole CLI) in-process and
// returns its exit code and outputs.
func runSub(f func([]string, io.Writer, io.Writer) int, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := f(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestDiffCLIMatchesGolden runs `campaignctl diff OLD NEW` over the golden cases
// (directories and plan files alike) and checks the exit code and that each
// format prints exactly what the package's golden files hold.
func TestDiffCLIMatchesGolden(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir(diffCases)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(diffCases, name)
			oldArg, newArg := diffSideArg(dir, "old"), diffSideArg(dir, "new")
			wantCode := diffChanges
			if name == "no-change" {
				wantCode = diffNoChanges
			}
			for format, golden := range map[string]string{"text": "want.txt", "markdown": "want.md", "json": "want.json"} {
				code, stdout, stderr := runSub(runDiff, "--format", format, "--db", "", oldArg, newArg)
				if code != wantCode {
					t.Fatalf("--format %s: exit %d, want %d\nstderr:\n%s", format, code, wantCode, stderr)
				}
				want, err := os.ReadFile(filepath.Join(dir, golden))
				if err != nil {
					t.Fatal(err)
				}
				if stdout != string(want) {
					t.Errorf("--format %s differs from %s:\n%s", format, golden, stdout)
				}
			}
		})
	}
}

func diffSideArg(dir, side string) string {
	if info, err := os.Stat(filepath.Join(dir, side)); err == nil && info.IsDir() {
		return filepath.Join(dir, side)
	}
	return filepath.Join(dir, side+".plan.json")
}

func TestDiffUsageAndErrors(t *testing.T) {
	t.Setenv("CAMPAIGNCTL_DB", "")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"help", []string{"-h"}, 0, "Usage: campaignctl diff"},
		// 2 means "changes": a usage error must not look like one.
		{"unknown flag", []string{"--nope", "a", "b"}, 1, "flag provided but not defined"},
		{"one side", []string{"a"}, 1, "two sides expected"},
		{"bad format", []string{"--format", "yaml", "a", "b"}, 1, `unknown format "yaml"`},
		{"bad color", []string{"--color", "pink", "a", "b"}, 1, `unknown --color "pink"`},
		{"missing side", []string{filepath.Join(diffCases, "no-change", "old"), "does-not-exist"}, 1, "does-not-exist: no such file or directory"},
		{"two dirs with base", []string{"--base", "HEAD", "a", "b"}, 1, "one directory expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runSub(runDiff, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d", code, tt.wantCode)
			}
			if !strings.Contains(stdout+stderr, tt.wantErr) {
				t.Errorf("output does not say %q:\nstdout:\n%s\nstderr:\n%s", tt.wantErr, stdout, stderr)
			}
		})
	}
}

func TestDiffPlanThatDoesNotCompile(t *testing.T) {
	t.Parallel()
	bad := t.TempDir()
	writeTestFiles(t, bad, map[string]string{"main.hcl": "segment \"x\" {\n  model = \"nope\"\n  filter = \"true\"\n}\n"})
	code, stdout, stderr := runSub(runDiff, filepath.Join(diffCases, "no-change", "old"), bad)
	if code != diffError {
		t.Fatalf("exit %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("stdout should be empty on error, got:\n%s", stdout)
	}
	if !strings.Contains(stderr, "main.hcl:2:") || !strings.Contains(stderr, "does not compile") {
		t.Errorf("stderr should hold the diagnostic with its position and say the side does not compile:\n%s", stderr)
	}
}

func TestDiffColor(t *testing.T) {
	t.Setenv("CAMPAIGNCTL_DB", "")
	dir := filepath.Join(diffCases, "change-template-body")
	args := []string{filepath.Join(dir, "old"), filepath.Join(dir, "new")}
	_, always, _ := runSub(runDiff, append([]string{"--color", "always"}, args...)...)
	if !strings.Contains(always, "\x1b[32m") || !strings.Contains(always, "\x1b[31m") {
		t.Errorf("--color always: no green and red escapes:\n%q", always)
	}
	for _, mode := range []string{"never", "auto"} {
		// auto: stdout is a buffer, not a terminal.
		_, out, _ := runSub(runDiff, append([]string{"--color", mode}, args...)...)
		if strings.Contains(out, "\x1b[") {
			t.Errorf("--color %s: escapes in output", mode)
		}
	}
	t.Setenv("NO_COLOR", "1")
	if on, _ := useColor("auto", os.Stdout); on {
		t.Error("NO_COLOR set, but auto colours")
	}
}

// TestDiffImpactCountsAudiencesInTheDatabase edits the seed segment's lost
// reason and checks that diff --db reports the before and after counts that
// hand-written SQL gives over the demo CRM, in text and JSON.
func TestDiffImpactCountsAudiencesInTheDatabase(t *testing.T) {
	t.Parallel()
	db, url := demoCRMDB(t)
	count := func(reason string) int64 {
		var n int64
		if err := db.Get(&n, `SELECT count(*) FROM crm_lead WHERE NOT blacklisted
			AND created_at >= '2024-01-01 00:00:01+00'
			AND (stage IS NULL OR stage NOT IN ('New', 'Qualified', 'Won'))
			AND lost_reason = $1`, reason); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before, after := count("Not enough stock"), count("Too expensive")
	if before == after {
		t.Fatal("demo data gives both reasons the same count; the test would prove little")
	}

	newDir := t.TempDir()
	if err := os.CopyFS(newDir, os.DirFS("../../campaigns")); err != nil {
		t.Fatal(err)
	}
	seed := filepath.Join(newDir, "lost_leads_reactivation.hcl")
	src, err := os.ReadFile(seed)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(src), `lead.lost_reason == "Not enough stock"`, `lead.lost_reason == "Too expensive"`, 1)
	if edited == string(src) {
		t.Fatal("seed filter not found in campaigns/lost_leads_reactivation.hcl")
	}
	if err := os.WriteFile(seed, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runSub(runDiff, "--db", url, "../../campaigns", newDir)
	if code != diffChanges {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := fmt.Sprintf(`segment "lost_not_enough_stock": %s → %s contacts`, thousands(before), thousands(after))
	if !strings.Contains(stdout, want) {
		t.Errorf("text output lacks %q:\n%s", want, stdout)
	}
	_, js, _ := runSub(runDiff, "--db", url, "--format", "json", "../../campaigns", newDir)
	if !strings.Contains(js, fmt.Sprintf(`"before": %d`, before)) || !strings.Contains(js, fmt.Sprintf(`"after": %d`, after)) {
		t.Errorf("JSON output lacks the counts %d → %d:\n%s", before, after, js)
	}

	// Without a database the diff still works and says impact was not computed.
	code, stdout, _ = runSub(runDiff, "../../campaigns", newDir)
	if code != diffChanges || !strings.Contains(stdout, "not computed (no --db)") {
		t.Errorf("without --db: exit %d:\n%s", code, stdout)
	}
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// tempRepo is a throw-away repository for the --base tests.
type tempRepo struct {
	t   *testing.T
	dir string
}

func newTempRepo(t *testing.T) *tempRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed by the diff --base tests and is not on PATH")
	}
	// $CAMPAIGNCTL_DB (set under make test) must not switch impact on here.
	t.Setenv("CAMPAIGNCTL_DB", "")
	r := &tempRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *tempRepo) git(args ...string) string {
	r.t.Helper()
	return gitCmd(r.t, r.dir, args...)
}

func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{
		"-c", "user.name=campaignctl test", "-c", "user.email=test@campaignctl.example",
		"-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null",
	}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (r *tempRepo) commitAll(msg string) {
	r.t.Helper()
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
}

func writeTestFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const diffBaseCampaigns = `model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email_from"
  field "stage" { type = "string" }
  field "tier"  { type = "string" }
}

sender "news" {
  from = "news@acme.example"
}

segment "lost" {
  model  = "lead"
  filter = "lead.stage == \"Lost\""
}

segment "gold" {
  model  = "lead"
  filter = "lead.tier == \"gold\""
}
`

const diffBaseTemplates = `template "back_in_stock" {
  subject = "Back in stock"
  text    = "Hello!\nUnsubscribe: {{ .unsubscribe_url }}\n"
}

template "gold_offer" {
  subject = "For our gold customers"
  text    = "Thanks!\nUnsubscribe: {{ .unsubscribe_url }}\n"
}

campaign "win_back" {
  segment  = "lost"
  template = "back_in_stock"
  sender   = "news"
}

campaign "gold_thanks" {
  segment  = "gold"
  template = "gold_offer"
  sender   = "news"
}
`

// TestDiffBase builds a repository with two commits — the second edits a
// segment, renames a template (the campaign follows it) and deletes a campaign —
// and diffs the first against the working tree. The working tree and the index
// must be exactly as they were.
func TestDiffBase(t *testing.T) {
	r := newTempRepo(t)
	writeTestFiles(t, r.dir, map[string]string{
		"README.md":                "not campaigns\n",
		"campaigns/crm.hcl":        diffBaseCampaigns,
		"campaigns/mail/mail.hcl":  diffBaseTemplates,
		"campaigns/mail/notes.txt": "ignored by the compiler\n",
	})
	r.commitAll("first")
	second := strings.Replace(diffBaseCampaigns, `lead.stage == \"Lost\"`, `lead.stage == \"Lost\" && lead.tier != \"gold\"`, 1)
	templates := strings.Replace(diffBaseTemplates, `template "back_in_stock"`, `template "restock"`, 1)
	templates = strings.Replace(templates, `template = "back_in_stock"`, `template = "restock"`, 1)
	templates = templates[:strings.Index(templates, `campaign "gold_thanks"`)]
	writeTestFiles(t, r.dir, map[string]string{"campaigns/crm.hcl": second, "campaigns/mail/mail.hcl": templates})
	r.commitAll("second: edit, rename, delete")
	// An uncommitted edit: the new side is the working tree, not HEAD.
	writeTestFiles(t, r.dir, map[string]string{"campaigns/mail/extra.hcl": "sender \"support\" {\n  from = \"support@acme.example\"\n}\n"})

	statusBefore := r.git("status", "--porcelain", "--untracked-files=all")
	indexBefore, err := os.ReadFile(filepath.Join(r.dir, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	headBefore := r.git("rev-parse", "HEAD")

	campaigns := filepath.Join(r.dir, "campaigns")
	code, stdout, stderr := runSub(runDiff, "--base", "HEAD~1", "--format", "json", campaigns)
	if code != diffChanges {
		t.Fatalf("exit %d, want 2\nstderr:\n%s", code, stderr)
	}
	got := decodeDiff(t, stdout)
	want := map[string]string{
		"segment/lost":         "change",
		"template/restock":     "rename",
		"campaign/win_back":    "change",
		"campaign/gold_thanks": "remove",
		"sender/support":       "add",
	}
	if len(got) != len(want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if !strings.Contains(stdout, `"old_name": "back_in_stock"`) {
		t.Errorf("the rename does not name the old template:\n%s", stdout)
	}

	// The same from inside the directory, with the default DIR resolved
	// relative to it, and in text: the rename is shown as one.
	code, text, _ := runSub(runDiff, "--base", "HEAD~1", campaigns)
	if code != diffChanges || !strings.Contains(text, `~ template "back_in_stock" → "restock" (renamed, content unchanged)`) ||
		!strings.Contains(text, "Plan: 1 to add, 2 to change, 1 to remove, 1 to rename.") {
		t.Errorf("text output:\n%s", text)
	}

	if after := r.git("status", "--porcelain", "--untracked-files=all"); after != statusBefore {
		t.Errorf("git status changed:\nbefore:\n%s\nafter:\n%s", statusBefore, after)
	}
	indexAfter, err := os.ReadFile(filepath.Join(r.dir, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(indexBefore, indexAfter) {
		t.Error("the index was rewritten")
	}
	if head := r.git("rev-parse", "HEAD"); head != headBefore {
		t.Errorf("HEAD moved from %s to %s", headBefore, head)
	}

	// Against HEAD only the uncommitted sender differs.
	code, stdout, _ = runSub(runDiff, "--base", "HEAD", "--format", "json", campaigns)
	if got := decodeDiff(t, stdout); code != diffChanges || len(got) != 1 || got["sender/support"] != "add" {
		t.Errorf("--base HEAD: exit %d, changes %v", code, got)
	}
	// And once that is committed, nothing.
	r.commitAll("third")
	code, stdout, _ = runSub(runDiff, "--base", "HEAD", campaigns)
	if code != diffNoChanges || stdout != "No changes.\n" {
		t.Errorf("--base HEAD after commit: exit %d, output %q", code, stdout)
	}
}

func decodeDiff(t *testing.T, js string) map[string]string {
	t.Helper()
	var d diff.Diff
	if err := json.Unmarshal([]byte(js), &d); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	out := map[string]string{}
	for _, c := range d.Changes {
		out[c.Kind+"/"+c.Name] = string(c.Action)
	}
	return out
}

// TestDiffBaseNewDirectory: a directory that did not exist at the ref is all
// additions, not an error.
func TestDiffBaseNewDirectory(t *testing.T) {
	r := newTempRepo(t)
	writeTestFiles(t, r.dir, map[string]string{"README.md": "hello\n"})
	r.commitAll("first")
	writeTestFiles(t, r.dir, map[string]string{"campaigns/crm.hcl": diffBaseCampaigns})
	code, stdout, stderr := runSub(runDiff, "--base", "HEAD", "--format", "json", filepath.Join(r.dir, "campaigns"))
	if code != diffChanges {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	got := decodeDiff(t, stdout)
	for _, k := range []string{"model/lead", "sender/news", "segment/lost", "segment/gold"} {
		if got[k] != "add" {
			t.Errorf("%s: %q, want add (all: %v)", k, got[k], got)
		}
	}
}

func TestDiffBaseMissingRef(t *testing.T) {
	r := newTempRepo(t)
	writeTestFiles(t, r.dir, map[string]string{"campaigns/crm.hcl": diffBaseCampaigns})
	r.commitAll("first")
	r.git("remote", "add", "origin", "https://example.invalid/campaigns.git")
	code, stdout, stderr := runSub(runDiff, "--base", "origin/main", filepath.Join(r.dir, "campaigns"))
	if code != diffError {
		t.Errorf("exit %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("a missing ref must not print a diff:\n%s", stdout)
	}
	if want := "ref origin/main not found: fetch it first: git fetch origin main --depth=1"; !strings.Contains(stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr)
	}

	code, _, stderr = runSub(runDiff, "--base", "no-such-branch", filepath.Join(r.dir, "campaigns"))
	if code != diffError || !strings.Contains(stderr, "ref no-such-branch not found") {
		t.Errorf("unknown branch: exit %d, stderr:\n%s", code, stderr)
	}

	outside := t.TempDir()
	writeTestFiles(t, outside, map[string]string{"crm.hcl": diffBaseCampaigns})
	code, _, stderr = runSub(runDiff, "--base", "HEAD", outside)
	if code != diffError || !strings.Contains(stderr, "is not in a git repository") {
		t.Errorf("outside a repository: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestDiffBaseShallowCI reproduces a CI checkout: the pull request's head is
// fetched with depth 1, the base branch is not there until fetched on its own.
func TestDiffBaseShallowCI(t *testing.T) {
	origin := newTempRepo(t)
	writeTestFiles(t, origin.dir, map[string]string{"campaigns/crm.hcl": diffBaseCampaigns})
	origin.commitAll("base")
	origin.git("checkout", "-q", "-b", "feature")
	writeTestFiles(t, origin.dir, map[string]string{"campaigns/crm.hcl": strings.Replace(diffBaseCampaigns, `sender "news"`, `sender "newsletter"`, 1)})
	origin.commitAll("rename the sender")

	// What actions/checkout does: init, add the remote, fetch one commit.
	ci := t.TempDir()
	gitCmd(t, ci, "init", "-q")
	gitCmd(t, ci, "remote", "add", "origin", "file://"+origin.dir)
	gitCmd(t, ci, "fetch", "-q", "--depth=1", "origin", "+refs/heads/feature:refs/remotes/origin/feature")
	gitCmd(t, ci, "checkout", "-q", "--detach", "origin/feature")
	if got := strings.TrimSpace(gitCmd(t, ci, "rev-parse", "--is-shallow-repository")); got != "true" {
		t.Fatalf("the CI clone is not shallow (%s)", got)
	}
	campaigns := filepath.Join(ci, "campaigns")

	code, _, stderr := runSub(runDiff, "--base", "origin/main", campaigns)
	if code != diffError || !strings.Contains(stderr, "git fetch origin main --depth=1") {
		t.Fatalf("before fetching the base: exit %d, stderr:\n%s", code, stderr)
	}
	code, _, stderr = runSub(runDiff, "--base", "HEAD~1", campaigns)
	if code != diffError || !strings.Contains(stderr, "shallow clone") {
		t.Errorf("HEAD~1 in a shallow clone: exit %d, stderr:\n%s", code, stderr)
	}

	gitCmd(t, ci, "fetch", "-q", "origin", "main", "--depth=1")
	code, stdout, stderr := runSub(runDiff, "--base", "origin/main", campaigns)
	if code != diffChanges {
		t.Fatalf("after fetching the base: exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, `~ sender "news" → "newsletter" (renamed, content unchanged)`) {
		t.Errorf("diff:\n%s", stdout)
	}
}

// TestDiffBaseSingleBranchClone: after `git clone --depth=1 --branch feature`
// the remote's refspec maps one branch only, so `git fetch origin main` would
// not create origin/main; the hint must give a command that does, and that
// command must work.
func TestDiffBaseSingleBranchClone(t *testing.T) {
	origin := newTempRepo(t)
	writeTestFiles(t, origin.dir, map[string]string{"campaigns/crm.hcl": diffBaseCampaigns})
	origin.commitAll("base")
	origin.git("checkout", "-q", "-b", "feature")
	writeTestFiles(t, origin.dir, map[string]string{"campaigns/crm.hcl": strings.Replace(diffBaseCampaigns, `"lead.stage == \"Lost\""`, `"lead.stage == \"Lost\" || lead.stage == \"Cold\""`, 1)})
	origin.commitAll("widen the segment")

	clone := filepath.Join(t.TempDir(), "clone")
	gitCmd(t, filepath.Dir(clone), "clone", "-q", "--depth=1", "--branch", "feature", "file://"+origin.dir, clone)
	campaigns := filepath.Join(clone, "campaigns")
	code, _, stderr := runSub(runDiff, "--base", "origin/main", campaigns)
	hint := "git fetch origin +refs/heads/main:refs/remotes/origin/main --depth=1"
	if code != diffError || !strings.Contains(stderr, hint) {
		t.Fatalf("exit %d, stderr does not hold %q:\n%s", code, hint, stderr)
	}
	gitCmd(t, clone, strings.Fields(strings.TrimPrefix(hint, "git "))...)
	code, stdout, stderr := runSub(runDiff, "--base", "origin/main", campaigns)
	if code != diffChanges || !strings.Contains(stdout, `~ segment "lost"`) {
		t.Errorf("after the hinted fetch: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestGraphCLI(t *testing.T) {
	t.Parallel()
	planFile := filepath.Join(diffCases, "add-remove-flows", "new.plan.json")
	code, mermaid, stderr := runSub(runGraph, "cart_recovery", planFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"flowchart TD", `s_check{"check<br/>if opened remind within 2d"}`, `s_check -->|"yes"| s_done`, `s_check -->|"no"| s_discount`, "s_done --> finish"} {
		if !strings.Contains(mermaid, want) {
			t.Errorf("mermaid lacks %q:\n%s", want, mermaid)
		}
	}
	code, dot, _ := runSub(runGraph, "--format", "dot", "back_in_stock_nurture", planFile)
	if code != 0 || !strings.HasPrefix(dot, `digraph "sequence back_in_stock_nurture" {`) || !strings.Contains(dot, `at_1 -> s_week2_clicked [label="if clicked week1"];`) {
		t.Errorf("dot: exit %d\n%s", code, dot)
	}
	code, _, stderr = runSub(runGraph, "nope", planFile)
	if code != 1 || !strings.Contains(stderr, "it has: workflow cart_recovery, sequence back_in_stock_nurture") {
		t.Errorf("unknown name: exit %d, stderr:\n%s", code, stderr)
	}
	if code, _, _ := runSub(runGraph, "--format", "png", "x", planFile); code != 2 {
		t.Errorf("bad format: exit %d, want 2", code)
	}
}

// TestCIWorkflow parses the ready-made GitHub Actions workflow and checks what
// it promises: validate, fmt -check, a diff against the base branch in
// Markdown, and one comment found by the diff's marker.
func TestCIWorkflow(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../deploy/ci/github-actions.yml")
	if err != nil {
		t.Fatal(err)
	}
	// The keys GitHub Actions accepts at each level (the subset this workflow
	// may use): with KnownFields, a misspelt key is an error here rather than a
	// workflow GitHub refuses.
	type step struct {
		Name            string            `yaml:"name"`
		ID              string            `yaml:"id"`
		Uses            string            `yaml:"uses"`
		Run             string            `yaml:"run"`
		Shell           string            `yaml:"shell"`
		If              string            `yaml:"if"`
		With            map[string]any    `yaml:"with"`
		Env             map[string]string `yaml:"env"`
		ContinueOnError bool              `yaml:"continue-on-error"`
		TimeoutMinutes  int               `yaml:"timeout-minutes"`
	}
	var wf struct {
		Name        string            `yaml:"name"`
		On          map[string]any    `yaml:"on"`
		Permissions map[string]string `yaml:"permissions"`
		Concurrency struct {
			Group            string `yaml:"group"`
			CancelInProgress bool   `yaml:"cancel-in-progress"`
		} `yaml:"concurrency"`
		Env  map[string]string `yaml:"env"`
		Jobs map[string]struct {
			Name           string            `yaml:"name"`
			RunsOn         string            `yaml:"runs-on"`
			TimeoutMinutes int               `yaml:"timeout-minutes"`
			Permissions    map[string]string `yaml:"permissions"`
			Env            map[string]string `yaml:"env"`
			Steps          []step            `yaml:"steps"`
		} `yaml:"jobs"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&wf); err != nil {
		t.Fatalf("deploy/ci/github-actions.yml: %v", err)
	}
	if _, ok := wf.On["pull_request"]; !ok {
		t.Error("the workflow does not run on pull_request")
	}
	if wf.Permissions["pull-requests"] != "write" {
		t.Error("posting a comment needs permissions: pull-requests: write")
	}
	if len(wf.Jobs) == 0 {
		t.Fatal("no jobs")
	}
	var runs, script string
	for name, job := range wf.Jobs {
		if job.RunsOn == "" {
			t.Errorf("job %s has no runs-on", name)
		}
		for i, s := range job.Steps {
			if (s.Uses == "") == (s.Run == "") {
				t.Errorf("job %s step %d (%s) needs exactly one of uses and run", name, i, s.Name)
			}
			runs += s.Run + "\n"
			if strings.HasPrefix(s.Uses, "actions/github-script@") {
				script, _ = s.With["script"].(string)
			}
		}
	}
	for _, want := range []string{
		"campaignctl validate", "campaignctl fmt -check", "campaignctl diff --base \"origin/${BASE_REF}\" --format markdown",
		"git fetch --no-tags --depth=1 origin",
	} {
		if !strings.Contains(runs, want) {
			t.Errorf("no step runs %q", want)
		}
	}
	if !strings.Contains(script, diff.Marker) || !strings.Contains(script, "updateComment") || !strings.Contains(script, "createComment") {
		t.Errorf("the github-script step must find the comment by %s and update or create it:\n%s", diff.Marker, script)
	}
	if strings.Count(string(data), "${{") != strings.Count(string(data), "}}") {
		t.Error("unbalanced ${{ }} expressions")
	}
}

// writeBenchTree writes a generated campaigns tree of about n objects: models,
// senders, segments, templates and campaigns in a few files, as a real
// repository would hold them. edit changes every tenth segment and template.
func writeBenchTree(t testing.TB, dir string, n int, edit bool) {
	t.Helper()
	per := n / 4
	var segs, tpls, camps strings.Builder
	for i := range per {
		threshold := 10
		subject := "Offer"
		if edit && i%10 == 0 {
			threshold, subject = 20, "New offer"
		}
		fmt.Fprintf(&segs, "segment \"seg_%d\" {\n  model  = \"lead\"\n  filter = <<-CEL\n    lead.score > %d\n    && lead.stage != \"Won\"\n  CEL\n}\n\n", i, threshold+i)
		fmt.Fprintf(&tpls, "template \"tpl_%d\" {\n  subject = \"%s %d\"\n  text    = <<-EOT\n    Hello {{ .lead.name }},\n    offer %d.\n    Unsubscribe: {{ .unsubscribe_url }}\n  EOT\n}\n\n", i, subject, i, i)
		fmt.Fprintf(&camps, "campaign \"camp_%d\" {\n  segment  = \"seg_%d\"\n  template = \"tpl_%d\"\n  sender   = \"news\"\n}\n\n", i, i, i)
	}
	model := "model \"lead\" {\n  table = \"crm_lead\"\n  key   = \"id\"\n  email = \"email\"\n  field \"name\"  { type = \"string\" }\n  field \"stage\" { type = \"string\" }\n  field \"score\" { type = \"int\" }\n}\n\nsender \"news\" {\n  from = \"news@acme.example\"\n}\n"
	for name, content := range map[string]string{"crm.hcl": model, "segments.hcl": segs.String(), "templates.hcl": tpls.String(), "campaigns.hcl": camps.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkDiffBase measures `diff --base HEAD~1` over a generated tree of
// 1,000 objects with 10% changed (git read, two compiles, diff, text view). In
// the same iterations, with the timer stopped, it times compiling both sides
// from the working tree — the cost --base is held against (target: under 2×) —
// and reports the ratio, which stays meaningful on a machine whose load varies
// between benchmarks.
func BenchmarkDiffBase(b *testing.B) {
	_, campaigns := diffBenchRepo(b)
	var compileBoth time.Duration
	b.ResetTimer()
	for b.Loop() {
		var out, errOut bytes.Buffer
		if code := runDiff([]string{"--base", "HEAD~1", "--db", "", campaigns}, &out, &errOut); code != diffChanges {
			b.Fatalf("exit %d: %s", code, errOut.String())
		}
		b.StopTimer()
		start := time.Now()
		compileTwice(b, campaigns)
		compileBoth += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(compileBoth.Nanoseconds())/float64(b.N), "compile-both-ns/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(compileBoth.Nanoseconds()), "x-compile-both")
}

// BenchmarkCompileBothSides is the compile cost alone.
func BenchmarkCompileBothSides(b *testing.B) {
	_, campaigns := diffBenchRepo(b)
	b.ResetTimer()
	for b.Loop() {
		compileTwice(b, campaigns)
	}
}

func compileTwice(b *testing.B, dir string) {
	for range 2 {
		if _, ds := compiler.Compile(os.DirFS(dir), compiler.Options{}); ds.HasErrors() {
			b.Fatal(ds)
		}
	}
}

func diffBenchRepo(b *testing.B) (string, string) {
	b.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		b.Fatal("git is not on PATH")
	}
	dir := b.TempDir()
	campaigns := filepath.Join(dir, "campaigns")
	if err := os.MkdirAll(campaigns, 0o755); err != nil {
		b.Fatal(err)
	}
	gitB := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	gitB("init", "-q", "-b", "main")
	writeBenchTree(b, campaigns, 1000, false)
	gitB("add", "-A")
	gitB("commit", "-q", "-m", "one")
	writeBenchTree(b, campaigns, 1000, true)
	gitB("add", "-A")
	gitB("commit", "-q", "-m", "two")
	return dir, campaigns
}

// diff --db shows, for a sequence the change edits, how many contacts are
// enrolled and how many wait at each step, marking the steps the change edits.
func TestDiffImpactCountsEnrollmentsPerStep(t *testing.T) {
	t.Parallel()
	db, url := migratedDB(t)
	st := &store.Store{DB: db}
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	var rev int64
	if err := db.Get(&rev, `INSERT INTO campaignctl.revisions (plan_hash, plan, applied_at) VALUES ('h', '{}', now()) RETURNING id`); err != nil {
		t.Fatal(err)
	}
	enroll := func(n int, next, state string) {
		for i := 0; i < n; i++ {
			db.MustExec(`INSERT INTO campaignctl.enrollments (kind, object, contact_key, occurrence, state, next_step, enrolled_at, revision_id, updated_at)
				VALUES ('sequence', 'restock_nurture', $1, 1, $2, $3, now(), $4, now())`, fmt.Sprintf("%s-%s-%d", next, state, i), state, next, rev)
		}
	}
	enroll(5, "week2_ignored", "active")
	enroll(3, "week3", "active")
	enroll(2, "week3", "exited")

	newDir := t.TempDir()
	if err := os.CopyFS(newDir, os.DirFS("../../campaigns")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(newDir, "restock_nurture.hcl")
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(src), `offset   = "14d"`, `offset   = "21d"`, 1)
	if edited == string(src) {
		t.Fatal("week3's offset not found in campaigns/restock_nurture.hcl")
	}
	if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runSub(runDiff, "--db", url, "../../campaigns", newDir)
	if code != diffChanges {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		`sequence "restock_nurture": 8 contacts enrolled now`,
		`  step "week2_ignored": 5 waiting`,
		`  step "week3": 3 waiting (changed by this change)`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("diff --db lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, `step "week2_ignored": 5 waiting (`) || strings.Contains(stdout, `step "week1"`) {
		t.Errorf("an unchanged step is marked, or a step nobody waits at is listed:\n%s", stdout)
	}
	_, js, _ := runSub(runDiff, "--db", url, "--format", "json", "../../campaigns", newDir)
	if !strings.Contains(js, `"step": "week3"`) || !strings.Contains(js, `"change": "changed"`) {
		t.Errorf("JSON lacks the per-step counts:\n%s", js)
	}
}
