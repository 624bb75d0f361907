package cuesrc

import (
	"strings"
	"testing"

	"cuelang.org/go/cue/literal"

	"github.com/campaignctl/campaignctl/compiler/ir"
)

// checkSpans asserts the spans cover the value in order and that verbatim
// spans point at exactly the same bytes in the source.
func checkSpans(t *testing.T, src string, value string, spans []ir.Span) {
	t.Helper()
	lines := ir.NewLines([]byte(src))
	next := 0
	for _, sp := range spans {
		if sp.Offset < next {
			t.Fatalf("span at %d overlaps the previous one (ends %d)", sp.Offset, next)
		}
		next = sp.Offset + sp.Len
		if next > len(value) {
			t.Fatalf("span [%d,%d) past value length %d", sp.Offset, next, len(value))
		}
		if sp.Verbatim {
			got := src[sp.Source.Start.Byte:sp.Source.End.Byte]
			if want := value[sp.Offset:next]; got != want {
				t.Fatalf("verbatim span maps %q to source %q", want, got)
			}
		}
		if lines.Pos(sp.Source.Start.Byte) != sp.Source.Start {
			t.Fatalf("span start %+v disagrees with its byte offset", sp.Source.Start)
		}
	}
}

func TestDecodeString(t *testing.T) {
	cases := []struct {
		name   string
		lit    string
		mapped bool
	}{
		{"plain", `"lead.active"`, true},
		{"empty", `""`, true},
		{"escapes", `"lead.stage == \"Won\" && \u00e9 == \\ \t \/ \a\b\f\n\r\v"`, true},
		{"long unicode escape", `"\U0001F600 x"`, true},
		{"multibyte", `"é == 'ü' 😀"`, true},
		{"raw", `#"a "quoted" \n \#n"#`, true},
		{"two hashes", `##"a "# \#( \##t"##`, true},
		{"interpolation", `"a \(b) c"`, false},
		{"raw interpolation", `#"a \#(b)"#`, false},
		{"bytes", `'abc'`, false},
		{"bad escape", `"\q"`, false},
		{"surrogate pair", `"\uD83D\uDE00"`, false},
		{"multi-line", "\"\"\"\n\t\ta\n\t\t  b\n\t\t\"\"\"", true},
		{"multi-line blank lines", "\"\"\"\n\t\ta\n\n\t\tb\n\n\t\t\"\"\"", true},
		{"multi-line spaces", "\"\"\"\n    a\n      b\n    \"\"\"", true},
		{"multi-line no indent", "\"\"\"\na\nb\n\"\"\"", true},
		{"multi-line empty", "\"\"\"\n\"\"\"", true},
		{"multi-line crlf", "\"\"\"\r\n\ta\r\n\tb\r\n\t\"\"\"", true},
		{"multi-line escaped newline", "\"\"\"\n\ta \\\n\tb\n\t\"\"\"", true},
		{"multi-line escapes", "\"\"\"\n\t\"x\\ty\" \\\\\n\t\"\"\"", true},
		{"multi-line raw", "#\"\"\"\n\ta \\n \"\"\" b\n\t\"\"\"#", true},
		{"multi-line bad indent", "\"\"\"\n\ta\n b\n\t\"\"\"", false},
		{"multi-line escaped last newline", "\"\"\"\n\ta\\\n\t\"\"\"", false},
		{"multi-line interpolation", "\"\"\"\n\ta \\(b)\n\t\"\"\"", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The literal sits in a file after a prefix, so offsets are not 0.
			prefix := "x: {\n\tfilter: "
			src := prefix + c.lit + "\n}\n"
			value, spans, ok := decodeString(ir.NewLines([]byte(src)), "f.cue", c.lit, len(prefix))
			if ok != c.mapped {
				t.Fatalf("mapped = %v, want %v", ok, c.mapped)
			}
			if !ok {
				return
			}
			want, err := literal.Unquote(c.lit)
			if err != nil {
				t.Fatalf("CUE does not read the literal: %v", err)
			}
			if value != want {
				t.Fatalf("value %q, CUE reads %q", value, want)
			}
			checkSpans(t, src, value, spans)
		})
	}
}

// TestDecodeStringPositions checks where bytes of a multi-line value land.
func TestDecodeStringPositions(t *testing.T) {
	prefix := "segment: s: filter: "
	lit := "\"\"\"\n\t\tlead.active\n\t\t  && lead.nme == \"x\"\n\t\t\"\"\""
	src := prefix + lit + "\n"
	value, spans, ok := decodeString(ir.NewLines([]byte(src)), "f.cue", lit, len(prefix))
	if !ok {
		t.Fatal("not mapped")
	}
	s := &ir.String{Value: value, Spans: spans}
	i := strings.Index(value, "nme")
	r := s.Sub(i, i+3)
	if r.Start.Line != 3 || r.Start.Column != 13 || r.End.Column != 16 {
		t.Errorf("nme maps to %d:%d-%d, want 3:13-16 (tabs count one column each)", r.Start.Line, r.Start.Column, r.End.Column)
	}
}

// FuzzDecodeString compares the decoder with CUE's own: whenever it accepts a
// literal, the value must be CUE's and the spans must hold.
func FuzzDecodeString(f *testing.F) {
	for _, s := range []string{`"a\"b"`, "\"\"\"\n\ta\n\t\"\"\"", `#"x\#ny"#`, `"é\u00e9"`, "\"\"\"\r\n a\\\r\n b\r\n \"\"\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		value, spans, ok := decodeString(ir.NewLines([]byte(lit)), "f.cue", lit, 0)
		if !ok {
			return
		}
		want, err := literal.Unquote(lit)
		if err != nil {
			t.Fatalf("decoded %q, which CUE refuses: %v", lit, err)
		}
		if value != want {
			t.Fatalf("%q: value %q, CUE reads %q", lit, value, want)
		}
		checkSpans(t, lit, value, spans)
	})
}
