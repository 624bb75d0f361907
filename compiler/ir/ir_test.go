package ir

import (
	"strings"
	"testing"
)

func TestLinesPos(t *testing.T) {
	l := NewLines([]byte("ab\néz\r\n\nx"))
	cases := []struct {
		byte int
		want Pos
	}{
		{0, Pos{1, 1, 0}},
		{2, Pos{1, 3, 2}},   // the '\n' itself ends line 1
		{3, Pos{2, 1, 3}},   // é
		{5, Pos{2, 2, 5}},   // z: é is two bytes but one column
		{6, Pos{2, 3, 6}},   // '\r' is a column of line 2
		{8, Pos{3, 1, 8}},   // empty line 3
		{9, Pos{4, 1, 9}},   // x
		{10, Pos{4, 2, 10}}, // end of file
		{99, Pos{4, 2, 10}}, // clamped
		{-4, Pos{1, 1, 0}},  // clamped
	}
	for _, c := range cases {
		if got := l.Pos(c.byte); got != c.want {
			t.Errorf("Pos(%d) = %+v, want %+v", c.byte, got, c.want)
		}
	}
	if s, ok := l.Line(2); !ok || s != "éz" {
		t.Errorf("Line(2) = %q, %v (the CR of CRLF is not part of the line)", s, ok)
	}
	if _, ok := l.Line(5); ok {
		t.Error("Line(5) exists in a 4-line file")
	}
}

// A value "a\"b" read from the source `"a\"bc"` with spans: verbatim "a",
// escape `\"` → `"`, then a gap, then verbatim "c" in another file.
func TestStringSub(t *testing.T) {
	src := []byte(`x = "a\"b"`)
	lines := NewLines(src)
	s := &String{
		Value: `a"bc`,
		Range: lines.Range("f.hcl", 4, 10),
		Spans: []Span{
			{Offset: 0, Len: 1, Source: lines.Range("f.hcl", 5, 6), Verbatim: true},
			{Offset: 1, Len: 1, Source: lines.Range("f.hcl", 6, 8)},
			{Offset: 3, Len: 1, Source: Range{Filename: "g.html", Start: Pos{2, 1, 10}, End: Pos{2, 2, 11}}, Verbatim: true},
		},
	}
	check := func(name string, got Range, file string, start, end int) {
		t.Helper()
		if got.Filename != file || got.Start.Byte != start || got.End.Byte != end {
			t.Errorf("%s: got %s [%d,%d), want %s [%d,%d)", name, got.Filename, got.Start.Byte, got.End.Byte, file, start, end)
		}
	}
	check("verbatim byte", s.Sub(0, 1), "f.hcl", 5, 6)
	check("escape maps as a unit", s.Sub(1, 2), "f.hcl", 6, 8)
	check("escape start only", s.Sub(1, 1), "f.hcl", 6, 6)
	check("gap maps to the end of the span before", s.Sub(2, 2), "f.hcl", 8, 8)
	check("across files keeps the start", s.Sub(0, 4), "f.hcl", 5, 5)
	check("other file", s.Sub(3, 4), "g.html", 10, 11)
	check("clamped", s.Sub(-3, 99), "f.hcl", 5, 5)

	unmapped := &String{Value: "abc", Range: lines.Range("f.hcl", 4, 10)}
	check("no spans: start of the expression", unmapped.Sub(1, 2), "f.hcl", 4, 4)
	check("no spans: content is the whole expression", unmapped.Content(), "f.hcl", 4, 10)
}

func TestConfigAppend(t *testing.T) {
	a := &Config{Models: []*Model{{Name: Name{Value: "a"}}}}
	a.Append(&Config{Models: []*Model{{Name: Name{Value: "b"}}}, Campaigns: []*Campaign{{}}})
	a.Append(nil)
	if len(a.Models) != 2 || a.Models[1].Name.Value != "b" || len(a.Campaigns) != 1 {
		t.Fatalf("Append: %+v", a)
	}
}

// TestStepMarkerList checks that the list messages give names every marker, in
// the table's order: the two are written out separately.
func TestStepMarkerList(t *testing.T) {
	names := make([]string, len(StepMarkers))
	for i, m := range StepMarkers {
		names[i] = m.Name
	}
	want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	if StepMarkerList != want {
		t.Errorf("StepMarkerList = %q, want %q (from StepMarkers)", StepMarkerList, want)
	}
}
