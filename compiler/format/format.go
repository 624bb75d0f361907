package format

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"

	cueerrors "cuelang.org/go/cue/errors"
	cueformat "cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/campaignctl/campaignctl/compiler/diff"
)

// ErrUnsupported is returned for a file whose extension names no language this
// package formats.
var ErrUnsupported = errors.New("not a .hcl or .cue file")

// Supported reports whether Source formats files with this name.
func Supported(filename string) bool {
	switch path.Ext(filename) {
	case ".hcl", ".cue":
		return true
	}
	return false
}

// Source returns src formatted according to the language its file name's
// extension names. filename is used for that and in error messages only.
func Source(filename string, src []byte) ([]byte, error) {
	switch path.Ext(filename) {
	case ".hcl":
		return HCL(filename, src)
	case ".cue":
		return CUE(filename, src)
	}
	return nil, fmt.Errorf("%s: %w", filename, ErrUnsupported)
}

// HCL formats an HCL file. hclwrite formats any token stream, even one that
// does not parse, so the file is parsed first and refused if it has errors.
func HCL(filename string, src []byte) ([]byte, error) {
	_, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, hclError(diags)
	}
	return hclwrite.Format(src), nil
}

func hclError(diags hcl.Diagnostics) error {
	var msgs []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if d.Subject != nil {
			msg = fmt.Sprintf("%s:%d:%d: %s", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, msg)
		}
		msgs = append(msgs, msg)
	}
	return fmt.Errorf("cannot format, the file does not parse:\n  %s", strings.Join(msgs, "\n  "))
}

// CUE formats a CUE file, comments kept.
func CUE(filename string, src []byte) ([]byte, error) {
	f, err := parser.ParseFile(filename, src, parser.ParseComments)
	if err != nil {
		return nil, cueError(err)
	}
	out, err := cueformat.Node(f)
	if err != nil {
		return nil, fmt.Errorf("formatting %s: %w", filename, err)
	}
	return out, nil
}

func cueError(err error) error {
	var msgs []string
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if p := e.Position(); p.IsValid() {
			msg = fmt.Sprintf("%s:%d:%d: %s", p.Filename(), p.Line(), p.Column(), msg)
		}
		msgs = append(msgs, msg)
	}
	return fmt.Errorf("cannot format, the file does not parse:\n  %s", strings.Join(msgs, "\n  "))
}

// Diff returns a line diff of a file before and after formatting, in the
// unified style (---, +++, then lines prefixed with space, - or +), with three
// lines of context around each change. It is empty when they are equal.
func Diff(filename string, before, after []byte) string {
	if bytes.Equal(before, after) {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s\n+++ %s (formatted)\n", filename, filename)
	for _, op := range diff.Context(diff.Lines(string(before), string(after)), 3) {
		switch op.Kind {
		case diff.LineSkip:
			fmt.Fprintf(&b, "@@ %s @@\n", op.Text)
		case diff.LineNote:
			fmt.Fprintf(&b, "\\ %s\n", op.Text)
		default:
			fmt.Fprintf(&b, "%c%s\n", op.Kind, op.Text)
		}
	}
	return b.String()
}
