package hclsrc

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/campaignctl/campaignctl/compiler/ir"
)

// parseFilter parses a one-segment file and returns its filter attribute.
func parseFilter(t *testing.T, src string) *ir.String {
	t.Helper()
	cfg, ds := Parse(fstest.MapFS{}, "s.hcl", []byte(src))
	if len(ds) != 0 {
		t.Fatalf("unexpected diagnostics: %+v", ds)
	}
	if len(cfg.Segments) != 1 || cfg.Segments[0].Filter == nil {
		t.Fatalf("no filter parsed from %q", src)
	}
	return cfg.Segments[0].Filter
}

// checkSpans asserts the spans cover the value in order and that verbatim spans
// point at exactly the same bytes in the source.
func checkSpans(t *testing.T, src string, s *ir.String) {
	t.Helper()
	lines := ir.NewLines([]byte(src))
	next := 0
	for _, sp := range s.Spans {
		if sp.Offset < next {
			t.Fatalf("span at %d overlaps the previous one (ends %d)", sp.Offset, next)
		}
		next = sp.Offset + sp.Len
		if next > len(s.Value) {
			t.Fatalf("span [%d,%d) past value length %d", sp.Offset, next, len(s.Value))
		}
		if sp.Verbatim {
			got := src[sp.Source.Start.Byte:sp.Source.End.Byte]
			if want := s.Value[sp.Offset:next]; got != want {
				t.Fatalf("verbatim span maps %q to source %q", want, got)
			}
		}
		if lines.Pos(sp.Source.Start.Byte) != sp.Source.Start {
			t.Fatalf("span start %+v disagrees with its byte offset (%+v)", sp.Source.Start, lines.Pos(sp.Source.Start.Byte))
		}
	}
}

func TestLiteralSpans(t *testing.T) {
	cases := []struct {
		name   string
		attr   string // the filter attribute's right-hand side
		value  string
		mapped bool
	}{
		{"plain", `"lead.active"`, "lead.active", true},
		{"escapes", `"lead.stage == \"Won\" && \u00e9 == \\ \t"`, "lead.stage == \"Won\" && \u00e9 == \\ \t", true},
		{"dollar escape", `"a $${b} %%{c}"`, "a ${b} %{c}", true},
		{"interpolation", `"a ${"b"}"`, "a b", false},
		{"heredoc", "<<CEL\n  a\n   b\nCEL\n", "  a\n   b\n", true},
		{"flush heredoc", "<<-CEL\n    a\n\n      b\n    c\n  CEL\n", "a\n\n  b\nc\n", true},
		{"flush heredoc blank line with spaces", "<<-CEL\n    a\n  \n    b\n  CEL\n", "a\n  \nb\n", true},
		{"flush heredoc tabs", "<<-CEL\n\t\ta\n\t\t\tb\n\tCEL\n", "a\n\tb\n", true},
		{"flush heredoc backslash", "<<-CEL\n    \"a\\n\"\n    $${x}\n  CEL\n", "\"a\\n\"\n${x}\n", true},
		{"crlf heredoc", "<<-CEL\r\n    a\r\n    b\r\n  CEL\r\n", "a\r\nb\r\n", true},
		{"multibyte", `"é == 'ü'"`, "é == 'ü'", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := "segment \"s\" {\n  filter = " + c.attr + "\n}\n"
			s := parseFilter(t, src)
			if s.Value != c.value {
				t.Fatalf("value = %q, want %q", s.Value, c.value)
			}
			if got := len(s.Spans) > 0; got != c.mapped {
				t.Fatalf("mapped = %v, want %v", got, c.mapped)
			}
			checkSpans(t, src, s)
		})
	}
}

// TestHeredocPositions checks the point of the spans: a byte of a stripped heredoc
// maps to its real line and column.
func TestHeredocPositions(t *testing.T) {
	src := "segment \"s\" {\n  filter = <<-CEL\n      !lead.blacklisted\n      && lead.stae == \"x\"\n  CEL\n}\n"
	s := parseFilter(t, src)
	off := strings.Index(s.Value, "lead.stae")
	r := s.Sub(off, off+len("lead.stae"))
	if r.Start.Line != 4 || r.Start.Column != 10 || r.End.Column != 19 {
		t.Fatalf("lead.stae at %d:%d-%d, want 4:10-19", r.Start.Line, r.Start.Column, r.End.Column)
	}
	if got := src[r.Start.Byte:r.End.Byte]; got != "lead.stae" {
		t.Fatalf("range covers %q", got)
	}
	// A range that ends before a line break stays on its line.
	end := strings.Index(s.Value, "\n")
	r = s.Sub(0, end)
	if r.End.Line != 3 || src[r.Start.Byte:r.End.Byte] != "!lead.blacklisted" {
		t.Fatalf("first line's range ends on line %d, want 3", r.End.Line)
	}
}

func TestEscapePositions(t *testing.T) {
	src := "segment \"s\" {\n  filter = \"a \\\"b\\\" lead.x\"\n}\n"
	s := parseFilter(t, src)
	off := strings.Index(s.Value, "lead.x")
	r := s.Sub(off, off+len("lead.x"))
	if got := src[r.Start.Byte:r.End.Byte]; got != "lead.x" {
		t.Fatalf("range covers %q, want lead.x", got)
	}
	// The escaped quote maps to its two-byte escape sequence as a unit.
	q := strings.Index(s.Value, `"`)
	r = s.Sub(q, q+1)
	if got := src[r.Start.Byte:r.End.Byte]; got != `\"` {
		t.Fatalf("escape maps to %q, want \\\"", got)
	}
}

func TestFile(t *testing.T) {
	fsys := fstest.MapFS{
		"sub/t.hcl":           {Data: []byte(`template "t" { html = file("../tpl/a.html") }`)},
		"tpl/a.html":          {Data: []byte("<p>hi</p>\n<p>{{ .x }}</p>\n")},
		"escape.hcl":          {Data: []byte(`template "e" { html = file("../outside.html") }`)},
		"abs.hcl":             {Data: []byte(`template "a" { html = file("/etc/passwd") }`)},
		"missing.hcl":         {Data: []byte(`template "m" { html = file("nope.html") }`)},
		"notallowed.hcl":      {Data: []byte(`sender "s" { from = file("tpl/a.html") }`)},
		"otherfunc.hcl":       {Data: []byte(`template "o" { html = upper("x") }`)},
		"sub/deeper/back.hcl": {Data: []byte(`template "b" { text = file("../../tpl/a.html") }`)},
	}
	cfg, ds := Load(fsys)
	byFile := map[string][]string{}
	for _, d := range ds {
		byFile[d.Subject.Filename] = append(byFile[d.Subject.Filename], d.Summary)
	}
	for file, want := range map[string]string{
		"escape.hcl":     "points outside the campaigns directory",
		"abs.hcl":        "points outside the campaigns directory",
		"missing.hcl":    "does not exist",
		"notallowed.hcl": "must be a quoted string, not a function call",
		"otherfunc.hcl":  `unknown function "upper"`,
	} {
		if len(byFile[file]) != 1 || !strings.Contains(byFile[file][0], want) {
			t.Errorf("%s: diagnostics %q, want one containing %q", file, byFile[file], want)
		}
	}
	if len(ds) != 5 {
		t.Errorf("got %d diagnostics, want 5: %+v", len(ds), ds)
	}
	got := map[string]*ir.Template{}
	for _, tp := range cfg.Templates {
		got[tp.Name.Value] = tp
	}
	if tp := got["t"]; tp == nil || tp.HTML == nil || tp.HTML.Value != "<p>hi</p>\n<p>{{ .x }}</p>\n" {
		t.Fatalf("template t html not read: %+v", tp)
	}
	html := got["t"].HTML
	off := strings.Index(html.Value, "{{")
	r := html.Sub(off, off+2)
	if r.Filename != "tpl/a.html" || r.Start.Line != 2 || r.Start.Column != 4 {
		t.Fatalf("{{ maps to %s, want tpl/a.html:2:4", r)
	}
	if got["b"] == nil || got["b"].Text == nil {
		t.Fatal("template b text not read through ../../")
	}
}

func TestFilesSkipsHidden(t *testing.T) {
	fsys := fstest.MapFS{
		"b.hcl":         {Data: nil},
		"a/z.hcl":       {Data: nil},
		".git/x.hcl":    {Data: nil},
		"a/.hidden.hcl": {Data: nil},
		"a/.d/y.hcl":    {Data: nil},
		"notes.txt":     {Data: nil},
	}
	files, err := Files(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(files, ",") != "a/z.hcl,b.hcl" {
		t.Fatalf("files = %v", files)
	}
}

func TestUnknownNamesSuggest(t *testing.T) {
	src := "model \"m\" {\n  tabel = \"x\"\n}\nsegmnt \"s\" {}\n"
	_, ds := Parse(fstest.MapFS{}, "m.hcl", []byte(src))
	var all []string
	for _, d := range ds {
		all = append(all, d.Summary+": "+d.Detail)
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{`Did you mean "table"?`, `Did you mean "segment"?`} {
		if !strings.Contains(joined, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, joined)
		}
	}
}
