package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

func TestPlanToStdoutMatchesGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"valid-minimal", "valid-lost-leads", "valid-many-objects"} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runSub(runPlan, "--no-git", caseDir(name))
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			want, err := os.ReadFile(filepath.Join(caseDir(name), "want.plan.json"))
			if err != nil {
				t.Fatal(err)
			}
			if stdout != string(want) {
				t.Errorf("stdout is not the canonical plan\n--- got:\n%s\n--- want:\n%s", stdout, want)
			}
			if stderr != "" {
				t.Errorf("stderr should be empty for a clean tree: %q", stderr)
			}
		})
	}
}

func TestPlanToFile(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "plan.json")
	code, stdout, stderr := runSub(runPlan, "--no-git", caseDir("warning-lints"), "-o", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout should be empty with -o: %q", stdout)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Decode(got); err != nil {
		t.Fatalf("written plan does not decode: %v", err)
	}
	if !strings.Contains(stderr, "warning: step \"soon\" of workflow \"quick\": wait 15m is shorter than 1h") || !strings.Contains(stderr, "wrote "+out) {
		t.Errorf("stderr should show the warnings and what was written:\n%s", stderr)
	}

	// An invalid tree leaves the previous plan alone.
	code, stdout, stderr = runSub(runPlan, "--no-git", "-o", out, caseDir("invalid-cel-type"))
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if stdout != "" || !strings.Contains(stderr, "no plan written") || !strings.Contains(stderr, "^~") {
		t.Errorf("stdout %q, stderr:\n%s", stdout, stderr)
	}
	if again, _ := os.ReadFile(out); !bytes.Equal(again, got) {
		t.Error("a failed plan overwrote the previous plan file")
	}
}

func TestPlanUsage(t *testing.T) {
	t.Parallel()
	if code, _, _ := runSub(runPlan, "--format", "yaml", caseDir("valid-minimal")); code != 2 {
		t.Errorf("unknown format: exit %d, want 2", code)
	}
	if code, _, stderr := runSub(runPlan, "-h"); code != 0 || !strings.Contains(stderr, "-no-git") || !strings.Contains(stderr, "Examples:") {
		t.Errorf("-h: exit %d, help:\n%s", code, stderr)
	}
	if code, _, stderr := runSub(runPlan, "--format", "json", "--no-git", caseDir("invalid-send-at")); code != 1 || !strings.HasPrefix(strings.TrimSpace(stderr), "[") {
		t.Errorf("json errors: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestPlanRecordsGit builds a throw-away repository: the plan records its commit,
// and is dirty only when the campaigns directory itself has changes.
func TestPlanRecordsGit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed for this test")
	}
	repo := t.TempDir()
	dir := filepath.Join(repo, "campaigns")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(caseDir("valid-minimal"), "main.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(path, data string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "main.hcl"), string(src))
	write(filepath.Join(repo, "README"), "x\n")
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-q", "-m", "init")
	head := git("rev-parse", "HEAD")

	source := func() plan.Source {
		t.Helper()
		code, stdout, stderr := runSub(runPlan, dir)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		p, err := plan.Decode([]byte(stdout))
		if err != nil {
			t.Fatal(err)
		}
		return p.Source
	}
	if s := source(); s.Commit != head || s.Dirty {
		t.Errorf("clean checkout: source %+v, want commit %s, not dirty", s, head)
	}
	write(filepath.Join(repo, "README"), "changed outside campaigns/\n")
	if s := source(); s.Dirty {
		t.Error("a change outside the campaigns directory made the plan dirty")
	}
	write(filepath.Join(dir, "main.hcl"), string(src)+"\n# edited\n")
	if s := source(); s.Commit != head || !s.Dirty {
		t.Errorf("edited campaigns: source %+v, want dirty", s)
	}
	code, stdout, _ := runSub(runPlan, "--no-git", dir)
	if p, err := plan.Decode([]byte(stdout)); code != 0 || err != nil || p.Source != (plan.Source{}) {
		t.Errorf("--no-git: exit %d, err %v, plan %s", code, err, stdout)
	}
}
