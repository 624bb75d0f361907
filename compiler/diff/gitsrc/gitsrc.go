package gitsrc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"testing/fstest"
)

// Tree is a directory as it is at a ref.
type Tree struct {
	// FS holds the directory's files, paths relative to the directory, as the
	// compiler expects of a campaigns directory.
	FS fs.FS
	// Ref is the ref as given, Commit the commit it resolved to.
	Ref, Commit string
	// Prefix is the directory's path inside the repository, slash-separated,
	// with a trailing slash; "" for the repository's top.
	Prefix string
	// Exists is false when the directory did not exist at the ref; FS is then
	// empty.
	Exists bool
	// Files is the number of files read.
	Files int
}

// RefNotFoundError is returned when ref does not name a commit in the
// repository, typically because a shallow CI checkout has not fetched it.
type RefNotFoundError struct {
	Ref string
	// Hint says what to do: which fetch command brings the ref in.
	Hint string
}

func (e *RefNotFoundError) Error() string {
	return fmt.Sprintf("ref %s not found: %s", e.Ref, e.Hint)
}

// Open reads the directory dir (a path in the working tree, which must exist)
// as it is at ref, from git objects only.
func Open(ctx context.Context, dir, ref string) (*Tree, error) {
	if ref == "" {
		return nil, errors.New("no git ref given: pass the base to compare with, e.g. --base origin/main")
	}
	out, err := git(ctx, dir, "rev-parse", "--show-toplevel", "--show-prefix")
	if err != nil {
		return nil, fmt.Errorf("%s is not in a git repository (--base reads the old side from git): %w", dir, err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	top, prefix := lines[0], ""
	if len(lines) > 1 {
		prefix = lines[1]
	}
	out, err = git(ctx, top, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	if err != nil {
		return nil, &RefNotFoundError{Ref: ref, Hint: fetchHint(ctx, top, ref)}
	}
	t := &Tree{Ref: ref, Commit: strings.TrimSpace(string(out)), Prefix: prefix}

	args := []string{"ls-tree", "-r", "-z", t.Commit}
	if prefix != "" {
		args = append(args, "--", prefix)
	}
	out, err = git(ctx, top, args...)
	if err != nil {
		return nil, fmt.Errorf("listing %s at %s: %w", displayDir(prefix), ref, err)
	}
	entries, err := parseLsTree(out, prefix)
	if err != nil {
		return nil, fmt.Errorf("listing %s at %s: %w", displayDir(prefix), ref, err)
	}
	files, err := readBlobs(ctx, top, entries)
	if err != nil {
		return nil, fmt.Errorf("reading %s at %s: %w", displayDir(prefix), ref, err)
	}
	mfs := fstest.MapFS{}
	for _, e := range entries {
		if e.symlink {
			continue
		}
		mfs[e.path] = &fstest.MapFile{Data: files[e.object], Mode: 0o644}
	}
	resolveSymlinks(mfs, entries, files)
	t.FS = mfs
	t.Files = len(mfs)
	t.Exists = len(entries) > 0
	return t, nil
}

type entry struct {
	path    string // relative to the prefix
	object  string
	symlink bool
}

// parseLsTree reads `git ls-tree -r -z` output: "<mode> <type> <object>\t<path>"
// records ending in NUL. Only blobs are kept: a submodule (a commit entry) has no
// files in this repository.
func parseLsTree(out []byte, prefix string) ([]entry, error) {
	var entries []entry
	for _, rec := range bytes.Split(out, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		meta, p, ok := bytes.Cut(rec, []byte{'\t'})
		if !ok {
			return nil, fmt.Errorf("unexpected git ls-tree output %q", rec)
		}
		f := strings.Fields(string(meta))
		if len(f) != 3 {
			return nil, fmt.Errorf("unexpected git ls-tree output %q", rec)
		}
		mode, typ, obj := f[0], f[1], f[2]
		if typ != "blob" {
			continue
		}
		rel, ok := strings.CutPrefix(string(p), prefix)
		if !ok || rel == "" || !fs.ValidPath(rel) {
			continue
		}
		entries = append(entries, entry{path: rel, object: obj, symlink: mode == "120000"})
	}
	return entries, nil
}

// readBlobs reads every entry's blob through one `git cat-file --batch`.
func readBlobs(ctx context.Context, top string, entries []entry) (map[string][]byte, error) {
	blobs := map[string][]byte{}
	if len(entries) == 0 {
		return blobs, nil
	}
	var ids []string
	for _, e := range entries {
		if _, dup := blobs[e.object]; !dup {
			blobs[e.object] = nil
			ids = append(ids, e.object)
		}
	}
	cmd := exec.CommandContext(ctx, "git", "-C", top, "cat-file", "--batch")
	cmd.Env = gitEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("running git: %w", err)
	}
	// Write the ids while reading the answers: git writes as it reads, and a
	// full pipe on either side would otherwise block both.
	writeErr := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(stdin)
		for _, id := range ids {
			w.WriteString(id + "\n")
		}
		err := w.Flush()
		stdin.Close()
		writeErr <- err
	}()
	r := bufio.NewReader(stdout)
	var readErr error
	for _, id := range ids {
		data, err := readBatchObject(r, id)
		if err != nil {
			readErr = err
			break
		}
		blobs[id] = data
	}
	if readErr != nil {
		// Let git exit rather than block on a pipe nobody reads.
		io.Copy(io.Discard, stdout)
	}
	werr := <-writeErr
	waitErr := cmd.Wait()
	if readErr != nil {
		return nil, readErr
	}
	if waitErr != nil {
		return nil, fmt.Errorf("git cat-file: %w: %s", waitErr, strings.TrimSpace(stderr.String()))
	}
	if werr != nil {
		return nil, fmt.Errorf("git cat-file: %w", werr)
	}
	return blobs, nil
}

// readBatchObject reads one "<oid> <type> <size>\n<content>\n" answer.
func readBatchObject(r *bufio.Reader, id string) ([]byte, error) {
	header, err := r.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("git cat-file: reading object %s: %w", id, err)
	}
	f := strings.Fields(header)
	if len(f) == 2 && f[1] == "missing" {
		return nil, fmt.Errorf("git object %s is missing: the clone is incomplete; fetch the ref again", id)
	}
	if len(f) != 3 {
		return nil, fmt.Errorf("git cat-file: unexpected answer %q", strings.TrimSpace(header))
	}
	size, err := strconv.Atoi(f[2])
	if err != nil || size < 0 {
		return nil, fmt.Errorf("git cat-file: unexpected answer %q", strings.TrimSpace(header))
	}
	data := make([]byte, size+1) // content and its trailing newline
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("git cat-file: reading object %s: %w", id, err)
	}
	return data[:size], nil
}

// resolveSymlinks gives a symbolic link the content of the file it points to
// when that file is in the tree too. The working-tree side is read through an
// os.Root, which follows links that stay inside the directory and refuses the
// others; links that leave the tree are left out here, so both sides agree.
func resolveSymlinks(mfs fstest.MapFS, entries []entry, blobs map[string][]byte) {
	links := map[string]string{}
	for _, e := range entries {
		if e.symlink {
			links[e.path] = string(blobs[e.object])
		}
	}
	for p := range links {
		cur := p
		for range 8 { // a chain of links, but not a loop
			target := links[cur]
			if path.IsAbs(target) {
				break
			}
			next := path.Join(path.Dir(cur), target)
			if f, ok := mfs[next]; ok && !isLink(links, next) {
				mfs[p] = &fstest.MapFile{Data: f.Data, Mode: 0o644}
				break
			}
			if !isLink(links, next) {
				break
			}
			cur = next
		}
	}
}

func isLink(links map[string]string, p string) bool {
	_, ok := links[p]
	return ok
}

// fetchHint says how to bring a missing ref into the repository. In CI the
// usual cause is a shallow checkout of the pull request's head only.
func fetchHint(ctx context.Context, top, ref string) string {
	shallow := false
	if out, err := git(ctx, top, "rev-parse", "--is-shallow-repository"); err == nil {
		shallow = strings.TrimSpace(string(out)) == "true"
	}
	if strings.ContainsAny(ref, "~^") && shallow {
		return "this is a shallow clone without that history: fetch more of it first: git fetch --deepen=1 (or git fetch --unshallow)"
	}
	name := strings.TrimPrefix(ref, "refs/remotes/")
	if remote, branch, ok := strings.Cut(name, "/"); ok && branch != "" {
		if out, err := git(ctx, top, "remote"); err == nil {
			for _, r := range strings.Fields(string(out)) {
				if r != remote {
					continue
				}
				// `git fetch origin main` only updates origin/main when the
				// remote's refspec maps every branch, which a single-branch or
				// shallow `git clone` does not set up; then the refspec must be
				// spelt out.
				if mapsAllBranches(ctx, top, remote) {
					return fmt.Sprintf("fetch it first: git fetch %s %s --depth=1", remote, branch)
				}
				return fmt.Sprintf("fetch it first: git fetch %s +refs/heads/%s:refs/remotes/%s/%s --depth=1", remote, branch, remote, branch)
			}
		}
	}
	return fmt.Sprintf("check the name (git branch -a, git tag) or fetch it first: git fetch origin %s --depth=1", name)
}

func mapsAllBranches(ctx context.Context, top, remote string) bool {
	out, err := git(ctx, top, "config", "--get-all", "remote."+remote+".fetch")
	if err != nil {
		return false
	}
	want := "refs/heads/*:refs/remotes/" + remote + "/*"
	for _, spec := range strings.Fields(string(out)) {
		if strings.TrimPrefix(spec, "+") == want {
			return true
		}
	}
	return false
}

func displayDir(prefix string) string {
	if prefix == "" {
		return "the repository"
	}
	return prefix
}

// git runs one git command in dir and returns its standard output. The error
// includes git's standard error, which says what went wrong.
func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	cmd.Env = gitEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, errors.New("git is not installed or not on PATH")
		}
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("git %s: %s", args[0], msg)
		}
		return nil, fmt.Errorf("git %s: %w", args[0], err)
	}
	return out, nil
}

// gitEnv keeps git from taking optional locks (a concurrent `git status` in the
// user's shell must not fail because of us) and makes pathspecs literal, so a
// directory named with * or ? is just a name.
func gitEnv() []string {
	return append(os.Environ(), "GIT_OPTIONAL_LOCKS=0", "GIT_LITERAL_PATHSPECS=1", "GIT_TERMINAL_PROMPT=0")
}
