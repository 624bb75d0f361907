package ir

import (
	"fmt"
	"sort"
	"unicode/utf8"
)

// Pos is a position in a source file. Line and Column are 1-based; Column counts
// Unicode code points from the start of the line; Byte is the 0-based byte offset
// from the start of the file.
type Pos struct {
	Line   int
	Column int
	Byte   int
}

// Range is a span of a source file: Start is inclusive, End exclusive. A
// zero-width range (Start == End) points between two characters.
type Range struct {
	Filename string
	Start    Pos
	End      Pos
}

// String formats the start of the range as file:line:col.
func (r Range) String() string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// IsZero reports whether r is the zero Range, i.e. no position is known.
func (r Range) IsZero() bool { return r == Range{} }

// Lines converts byte offsets of one file's source to line and column. Build it
// once per file: it indexes the line starts.
type Lines struct {
	src    []byte
	starts []int // byte offset of the first byte of each line
}

// NewLines indexes src. Lines end at '\n'; a '\r' before it belongs to the line.
func NewLines(src []byte) *Lines {
	starts := []int{0}
	for i, b := range src {
		if b == '\n' {
			starts = append(starts, i+1)
		}
	}
	return &Lines{src: src, starts: starts}
}

// Pos returns the position of byte offset b, clamped to the file.
func (l *Lines) Pos(b int) Pos {
	if b < 0 {
		b = 0
	}
	if b > len(l.src) {
		b = len(l.src)
	}
	// The last line whose start is <= b.
	i := sort.Search(len(l.starts), func(i int) bool { return l.starts[i] > b }) - 1
	return Pos{Line: i + 1, Column: 1 + utf8.RuneCount(l.src[l.starts[i]:b]), Byte: b}
}

// Range returns the range between byte offsets start and end in file filename.
func (l *Lines) Range(filename string, start, end int) Range {
	if end < start {
		end = start
	}
	return Range{Filename: filename, Start: l.Pos(start), End: l.Pos(end)}
}

// Line returns the text of line n (1-based) without its line ending, and whether
// the file has that line.
func (l *Lines) Line(n int) (string, bool) {
	if n < 1 || n > len(l.starts) {
		return "", false
	}
	start := l.starts[n-1]
	end := len(l.src)
	if n < len(l.starts) {
		end = l.starts[n] - 1 // drop '\n'
	}
	if end > start && l.src[end-1] == '\r' {
		end--
	}
	if end < start {
		end = start
	}
	return string(l.src[start:end]), true
}

// advance returns the position reached from p after the bytes of text, which
// must be exactly the source bytes that follow p.
func advance(p Pos, text string) Pos {
	for _, r := range text {
		if r == '\n' {
			p.Line++
			p.Column = 1
		} else {
			p.Column++
		}
	}
	p.Byte += len(text)
	return p
}
