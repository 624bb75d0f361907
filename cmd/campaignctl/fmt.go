package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/campaignctl/campaignctl/compiler/format"
)

// runFmt implements `campaignctl fmt [-check] [-diff] [DIR|FILE...]`: rewrite
// HCL and CUE sources in canonical layout, or, with -check, only list the files
// that are not (for CI).
func runFmt(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("fmt", "fmt [flags] [DIR|FILE...]", `
Format the .hcl and .cue files of a campaigns directory (default ./campaigns),
or the files and directories given, in canonical layout: HCL as terraform fmt
lays it out, CUE as cue fmt does. Directories are read recursively; files and
directories whose names start with "." and cue.mod directories are skipped.

Each rewritten file is listed on stdout. A file is replaced in one step (a
temporary file renamed over it), so an interrupted run never leaves half a
file. A file that does not parse is reported and left alone.

With -check nothing is written: the files that would change are listed and the
exit status is 1 if there is any, which is what a CI job wants.

Exit status: 0 if every file is formatted (or was rewritten), 1 if -check found
a file to format or a file could not be read, parsed or written, 2 for a usage
error.`, `  campaignctl fmt                      # rewrite ./campaigns
  campaignctl fmt -check -diff campaigns   # in CI: fail and show what to change
  campaignctl fmt campaigns/crm.hcl`, stderr)
	check := fset.Bool("check", false, "write nothing; list the files that are not formatted and exit 1 if there is any")
	showDiff := fset.Bool("diff", false, "print the changes formatting makes to each file")
	var paths []string
	for {
		if code := parseFlags(fset, args); code >= 0 {
			return code
		}
		rest := fset.Args()
		if len(rest) == 0 {
			break
		}
		paths = append(paths, rest[0])
		args = rest[1:]
	}
	if len(paths) == 0 {
		paths = []string{defaultCampaignsDir}
	}

	failed := false
	report := func(err error) {
		fmt.Fprintf(stderr, "campaignctl fmt: %v\n", err)
		failed = true
	}
	files := fmtFiles(paths, report)
	unformatted := 0
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			report(err)
			continue
		}
		out, err := format.Source(name, src)
		if err != nil {
			report(err)
			continue
		}
		if string(out) == string(src) {
			continue
		}
		unformatted++
		if *showDiff {
			fmt.Fprint(stdout, format.Diff(name, src, out))
		}
		if !*check {
			if err := writeAtomically(name, out); err != nil {
				report(err)
				continue
			}
		}
		if !*showDiff {
			fmt.Fprintln(stdout, name)
		}
	}
	if failed || *check && unformatted > 0 {
		return 1
	}
	return 0
}

// fmtFiles expands the paths given on the command line into the files to
// format, in order: a directory into its .hcl and .cue files, recursively and
// sorted; a file as it is, if it has one of those extensions.
func fmtFiles(paths []string, report func(error)) []string {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			report(err)
			continue
		}
		if !info.IsDir() {
			if !format.Supported(p) {
				report(fmt.Errorf("%s: %w", p, format.ErrUnsupported))
				continue
			}
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != p && (strings.HasPrefix(d.Name(), ".") || d.IsDir() && d.Name() == "cue.mod") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() && format.Supported(path) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			report(err)
		}
	}
	return files
}

// writeAtomically replaces the file name with data: a temporary file in the
// same directory, with the same permissions, renamed over it. A symbolic link
// is followed, so the link stays a link.
func writeAtomically(name string, data []byte) (err error) {
	target, err := filepath.EvalSymlinks(name)
	if err != nil {
		return err
	}
	info, err := os.Stat(target)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".fmt-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), info.Mode().Perm())
	}
	if err == nil {
		err = os.Rename(tmp.Name(), target)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
