package gitsrc_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/diff/gitsrc"
)

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOpen reads a subdirectory at an older commit: only its files, paths
// relative to it, content as committed (not as in the working tree), symbolic
// links inside the tree followed and links out of it left out.
func TestOpen(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is not on PATH")
	}
	repo := t.TempDir()
	run(t, repo, "init", "-q", "-b", "main")
	write(t, repo, "outside.hcl", "outside\n")
	write(t, repo, "camp aigns/a.hcl", "a at first commit\n")
	write(t, repo, "camp aigns/sub/b.html", "<p>b</p>\n")
	if err := os.Symlink("sub/b.html", filepath.Join(repo, "camp aigns", "link.html")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../outside.hcl", filepath.Join(repo, "camp aigns", "escape.hcl")); err != nil {
		t.Fatal(err)
	}
	run(t, repo, "add", "-A")
	run(t, repo, "commit", "-q", "-m", "one")
	write(t, repo, "camp aigns/a.hcl", "a in the working tree\n")

	tree, err := gitsrc.Open(context.Background(), filepath.Join(repo, "camp aigns", "sub"), "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if tree.Prefix != "camp aigns/sub/" || tree.Files != 1 {
		t.Errorf("sub: prefix %q, %d files", tree.Prefix, tree.Files)
	}

	tree, err = gitsrc.Open(context.Background(), filepath.Join(repo, "camp aigns"), "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if !tree.Exists || len(tree.Commit) != 40 || tree.Prefix != "camp aigns/" {
		t.Errorf("tree %+v", tree)
	}
	got := map[string]string{}
	err = fs.WalkDir(tree.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(tree.FS, p)
		got[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"a.hcl":      "a at first commit\n",
		"sub/b.html": "<p>b</p>\n",
		"link.html":  "<p>b</p>\n",
	}
	if len(got) != len(want) {
		t.Errorf("files %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}

	// A directory added after the ref: empty, not an error.
	write(t, repo, "new/x.hcl", "x\n")
	tree, err = gitsrc.Open(context.Background(), filepath.Join(repo, "new"), "HEAD")
	if err != nil || tree.Exists || tree.Files != 0 {
		t.Errorf("new directory: %+v, %v", tree, err)
	}

	_, err = gitsrc.Open(context.Background(), repo, "v9.9.9")
	var nf *gitsrc.RefNotFoundError
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "ref v9.9.9 not found: check the name") {
		t.Errorf("missing ref: %v", err)
	}
	_, err = gitsrc.Open(context.Background(), repo, "--output=/tmp/x")
	if !errors.As(err, &nf) {
		t.Errorf("a ref that looks like an option must be a missing ref, got %v", err)
	}
}
