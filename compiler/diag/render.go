package diag

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Format names an output format for diagnostics.
type Format string

const (
	// FormatText is for people: position, message, source line and caret.
	FormatText Format = "text"
	// FormatJSON is a JSON array of objects, for programs.
	FormatJSON Format = "json"
	// FormatGitHub is GitHub Actions workflow commands (::error file=…::…), which
	// GitHub shows as annotations on the pull request's diff.
	FormatGitHub Format = "github"
)

// Formats lists the accepted format names, for help texts and error messages.
var Formats = []Format{FormatText, FormatJSON, FormatGitHub}

// ParseFormat checks a format name given on the command line.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown format %q: use text, json or github", s)
}

// Write renders ds in format f. src is used by the text format only and may be
// nil, in which case no source lines are quoted.
func Write(w io.Writer, f Format, ds Diagnostics, src Sources) error {
	switch f {
	case FormatJSON:
		return WriteJSON(w, ds)
	case FormatGitHub:
		return WriteGitHub(w, ds)
	default:
		return WriteText(w, ds, src)
	}
}

// WriteText renders diagnostics for a terminal:
//
//	lead.hcl:14:8: error: undeclared reference to "lead.stae"; did you mean "lead.stage"?
//	  14 |     && lead.stae == "Won"
//	     |        ^~~~~~~~~
//	  Model lead has no field "stae".
//
// followed by a blank line. The snippet is left out when the file's bytes are not
// in src or do not match the position (the file changed since it was compiled).
func WriteText(w io.Writer, ds Diagnostics, src Sources) error {
	bw := bufio.NewWriter(w)
	for _, d := range ds {
		if d.Subject != nil {
			fmt.Fprintf(bw, "%s: %s: %s\n", d.Subject.String(), d.Severity, d.Summary)
			if b, ok := src[d.Subject.Filename]; ok {
				writeSnippet(bw, b, d)
			}
		} else {
			fmt.Fprintf(bw, "%s: %s\n", d.Severity, d.Summary)
		}
		if d.Detail != "" {
			for _, line := range strings.Split(strings.TrimRight(d.Detail, "\n"), "\n") {
				if line == "" {
					bw.WriteString("\n")
				} else {
					fmt.Fprintf(bw, "  %s\n", line)
				}
			}
		}
		bw.WriteString("\n")
	}
	return bw.Flush()
}

func writeSnippet(w *bufio.Writer, src []byte, d Diagnostic) {
	s := d.Subject
	start, end := s.Start.Byte, s.End.Byte
	if start < 0 || start > len(src) || end < start || end > len(src) {
		return
	}
	lineStart := bytes.LastIndexByte(src[:start], '\n') + 1
	lineEnd := len(src)
	if i := bytes.IndexByte(src[start:], '\n'); i >= 0 {
		lineEnd = start + i
	}
	if lineEnd > lineStart && src[lineEnd-1] == '\r' {
		lineEnd--
	}
	if start > lineEnd { // start sits on the '\r' of a CRLF
		start = lineEnd
	}
	if end > lineEnd { // a range over several lines is underlined on its first
		end = lineEnd
	}
	if end < start {
		end = start
	}
	num := strconv.Itoa(s.Start.Line)
	gutter := strings.Repeat(" ", len(num))
	fmt.Fprintf(w, "  %s | %s\n", num, printable(src[lineStart:lineEnd]))

	var caret strings.Builder
	for _, r := range string(src[lineStart:start]) {
		// Keep tabs so the caret lines up however the terminal expands them.
		if r == '\t' {
			caret.WriteByte('\t')
		} else {
			caret.WriteByte(' ')
		}
	}
	caret.WriteByte('^')
	if n := utf8.RuneCount(src[start:end]); n > 1 {
		caret.WriteString(strings.Repeat("~", n-1))
	}
	fmt.Fprintf(w, "  %s | %s\n", gutter, caret.String())
}

// printable replaces control characters other than tab with '?', one for one, so
// a stray escape sequence in a file cannot drive the terminal and the caret still
// lines up.
func printable(b []byte) string {
	var sb strings.Builder
	for _, r := range string(b) {
		if (r < 0x20 && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			sb.WriteByte('?')
		} else {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// jsonDiagnostic is the JSON shape of a diagnostic. Positions are 1-based; the end
// is exclusive. Position fields are absent for a diagnostic without a subject.
type jsonDiagnostic struct {
	Severity  string `json:"severity"`
	Summary   string `json:"summary"`
	Detail    string `json:"detail,omitempty"`
	Filename  string `json:"filename,omitempty"`
	Line      int    `json:"line,omitempty"`
	Column    int    `json:"column,omitempty"`
	EndLine   int    `json:"end_line,omitempty"`
	EndColumn int    `json:"end_column,omitempty"`
}

// WriteJSON renders diagnostics as one JSON array (an empty array when there are
// none), followed by a newline.
func WriteJSON(w io.Writer, ds Diagnostics) error {
	out := make([]jsonDiagnostic, 0, len(ds))
	for _, d := range ds {
		j := jsonDiagnostic{Severity: d.Severity.String(), Summary: d.Summary, Detail: d.Detail}
		if s := d.Subject; s != nil {
			j.Filename = s.Filename
			j.Line, j.Column = s.Start.Line, s.Start.Column
			j.EndLine, j.EndColumn = s.End.Line, s.End.Column
		}
		out = append(out, j)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// WriteGitHub renders diagnostics as GitHub Actions workflow commands, one per
// line:
//
//	::error file=campaigns/lead.hcl,line=14,col=8,endLine=14,endColumn=17,title=…::message
//
// When there is a detail, the summary is the annotation's title and the detail its
// message; otherwise the summary is the message.
func WriteGitHub(w io.Writer, ds Diagnostics) error {
	bw := bufio.NewWriter(w)
	for _, d := range ds {
		var props []string
		if s := d.Subject; s != nil {
			props = append(props,
				"file="+escapeProperty(s.Filename),
				"line="+strconv.Itoa(s.Start.Line),
				"col="+strconv.Itoa(s.Start.Column),
				"endLine="+strconv.Itoa(s.End.Line),
				"endColumn="+strconv.Itoa(s.End.Column),
			)
		}
		msg := d.Summary
		if d.Detail != "" {
			props = append(props, "title="+escapeProperty(d.Summary))
			msg = d.Detail
		}
		// The command names are the severities' own: ::error, ::warning.
		bw.WriteString("::" + d.Severity.String())
		if len(props) > 0 {
			bw.WriteString(" " + strings.Join(props, ","))
		}
		bw.WriteString("::" + escapeData(msg) + "\n")
	}
	return bw.Flush()
}

// escapeData escapes a workflow command's message, as GitHub's toolkit does.
func escapeData(s string) string {
	s = strings.ReplaceAll(s, "%", "%25")
	s = strings.ReplaceAll(s, "\r", "%0D")
	return strings.ReplaceAll(s, "\n", "%0A")
}

// escapeProperty escapes a workflow command's property value: as data, plus ':'
// and ',' which would otherwise end the value.
func escapeProperty(s string) string {
	s = escapeData(s)
	s = strings.ReplaceAll(s, ":", "%3A")
	return strings.ReplaceAll(s, ",", "%2C")
}
