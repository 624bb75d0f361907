package diag

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/ir"
)

func at(src []byte, file string, start, end int) *ir.Range {
	r := ir.NewLines(src).Range(file, start, end)
	return &r
}

func TestWriteText(t *testing.T) {
	src := []byte("model \"m\" {\n\tfilter = \"é == lead.stae\"\n}\r\nlast")
	stae := bytes.Index(src, []byte("lead.stae"))
	cases := []struct {
		name string
		d    Diagnostic
		src  Sources
		want string
	}{
		{
			name: "tab and multibyte before the caret",
			d:    Diagnostic{Severity: Error, Summary: "no field", Detail: "line one\n\nline three", Subject: at(src, "a.hcl", stae, stae+len("lead.stae"))},
			src:  Sources{"a.hcl": src},
			want: "a.hcl:2:17: error: no field\n" +
				"  2 | \tfilter = \"é == lead.stae\"\n" +
				"    | \t               ^~~~~~~~~\n" +
				"  line one\n\n  line three\n\n",
		},
		{
			name: "zero width at end of file",
			d:    Diagnostic{Severity: Warning, Summary: "w", Subject: at(src, "a.hcl", len(src), len(src))},
			src:  Sources{"a.hcl": src},
			want: "a.hcl:4:5: warning: w\n  4 | last\n    |     ^\n\n",
		},
		{
			name: "range over several lines underlines the first; CR dropped",
			d:    Diagnostic{Severity: Error, Summary: "x", Subject: at(src, "a.hcl", bytes.IndexByte(src, '}'), len(src))},
			src:  Sources{"a.hcl": src},
			want: "a.hcl:3:1: error: x\n  3 | }\n    | ^\n\n",
		},
		{
			name: "no source: position and message only",
			d:    Diagnostic{Severity: Error, Summary: "x", Subject: at(src, "a.hcl", 0, 5)},
			want: "a.hcl:1:1: error: x\n\n",
		},
		{
			name: "source changed since: offsets past the end are not quoted",
			d:    Diagnostic{Severity: Error, Summary: "x", Subject: &ir.Range{Filename: "a.hcl", Start: ir.Pos{Line: 9, Column: 1, Byte: 500}, End: ir.Pos{Line: 9, Column: 2, Byte: 501}}},
			src:  Sources{"a.hcl": src},
			want: "a.hcl:9:1: error: x\n\n",
		},
		{
			name: "no subject",
			d:    Diagnostic{Severity: Error, Summary: "nothing here", Detail: "d"},
			want: "error: nothing here\n  d\n\n",
		},
		{
			name: "control characters are not sent to the terminal",
			d:    Diagnostic{Severity: Error, Summary: "x", Subject: at([]byte("a\x1b[2Jb"), "c.hcl", 6, 7)},
			src:  Sources{"c.hcl": []byte("a\x1b[2Jb")},
			want: "c.hcl:1:7: error: x\n  1 | a?[2Jb\n    |       ^\n\n",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteText(&buf, Diagnostics{c.d}, c.src); err != nil {
				t.Fatal(err)
			}
			if buf.String() != c.want {
				t.Errorf("got:\n%q\nwant:\n%q", buf.String(), c.want)
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	src := []byte("a\nbcd\n")
	ds := Diagnostics{
		{Severity: Error, Summary: "s1", Detail: "d1", Subject: at(src, "f.hcl", 2, 4)},
		{Severity: Warning, Summary: "s2 <html> & co"},
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, ds); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	want := []map[string]any{
		{"severity": "error", "summary": "s1", "detail": "d1", "filename": "f.hcl", "line": 2.0, "column": 1.0, "end_line": 2.0, "end_column": 3.0},
		{"severity": "warning", "summary": "s2 <html> & co"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d objects", len(got))
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Errorf("object %d: got keys %v, want %v", i, got[i], want[i])
		}
		for k, v := range want[i] {
			if got[i][k] != v {
				t.Errorf("object %d: %s = %v, want %v", i, k, got[i][k], v)
			}
		}
	}
	if !strings.Contains(buf.String(), "<html> & co") {
		t.Error("HTML characters are escaped; they should read as written")
	}

	buf.Reset()
	if err := WriteJSON(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(buf.String()) != "[]" {
		t.Errorf("no diagnostics render as %q, want []", buf.String())
	}
}

func TestWriteGitHub(t *testing.T) {
	src := []byte("x\n")
	ds := Diagnostics{
		{Severity: Error, Summary: "bad: a, b 100%", Detail: "line1\nline2\r", Subject: at(src, "dir,1/a:b.hcl", 0, 1)},
		{Severity: Warning, Summary: "careful", Subject: at(src, "a.hcl", 0, 0)},
		{Severity: Error, Summary: "nowhere"},
	}
	var buf bytes.Buffer
	if err := WriteGitHub(&buf, ds); err != nil {
		t.Fatal(err)
	}
	want := "::error file=dir%2C1/a%3Ab.hcl,line=1,col=1,endLine=1,endColumn=2,title=bad%3A a%2C b 100%25::line1%0Aline2%0D\n" +
		"::warning file=a.hcl,line=1,col=1,endLine=1,endColumn=1::careful\n" +
		"::error::nowhere\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestSortAndCount(t *testing.T) {
	src := []byte("aaaa\nbbbb\n")
	ds := Diagnostics{
		{Severity: Warning, Summary: "w", Subject: at(src, "b.hcl", 0, 1)},
		{Severity: Error, Summary: "late", Subject: at(src, "a.hcl", 6, 7)},
		{Severity: Error, Summary: "early", Subject: at(src, "a.hcl", 1, 2)},
		{Severity: Error, Summary: "global"},
	}
	ds.Sort()
	var order []string
	for _, d := range ds {
		order = append(order, d.Summary)
	}
	if got := strings.Join(order, ","); got != "global,early,late,w" {
		t.Errorf("order = %s", got)
	}
	if e, w := ds.Count(); e != 3 || w != 1 || !ds.HasErrors() {
		t.Errorf("Count = %d, %d", e, w)
	}
	if (Diagnostics{ds[3]}).HasErrors() {
		t.Error("a warning alone counts as an error")
	}
	mapped := ds.MapFilenames(func(s string) string { return "campaigns/" + s })
	if mapped[1].Subject.Filename != "campaigns/a.hcl" || ds[1].Subject.Filename != "a.hcl" {
		t.Error("MapFilenames must rename a copy and leave the original alone")
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range Formats {
		if got, err := ParseFormat(string(f)); err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %q, %v", f, got, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("xml accepted")
	}
}
