package ir

import "sort"

// String is a string value read from source, with the map from its bytes back to
// the source. Front ends fill Spans when they can; when they cannot (a value built
// by an interpolation, say) Spans is empty and every position inside the value
// falls back to the start of Range.
type String struct {
	Value string
	// Range is the whole expression that produced the value: a quoted literal with
	// its quotes, a heredoc with its markers, or a file("...") call.
	Range Range
	// Spans cover Value in order. Gaps are allowed; bytes in a gap map to the end
	// of the span before them.
	Spans []Span
	// Invalid marks an attribute that is written but whose value the front end
	// could not read, and has reported. It counts as present, so no "missing
	// attribute" error follows, and is otherwise ignored by the checker.
	Invalid bool
}

// Span maps the bytes Value[Offset:Offset+Len] to Source.
type Span struct {
	Offset int
	Len    int
	Source Range
	// Verbatim means the value bytes are exactly the source bytes at Source, so a
	// position inside the span is found by counting. A span that is not verbatim
	// (an escape sequence such as \" or $${) maps as one unit.
	Verbatim bool
}

// Sub returns the source range of the value bytes [start, end).
func (s *String) Sub(start, end int) Range {
	if end < start {
		end = start
	}
	if len(s.Spans) == 0 {
		return Range{Filename: s.Range.Filename, Start: s.Range.Start, End: s.Range.Start}
	}
	startPos, startSpan := s.pos(start, false)
	endPos, endSpan := s.pos(end, true)
	r := Range{Filename: startSpan.Source.Filename, Start: startPos, End: endPos}
	if endSpan.Source.Filename != r.Filename || endPos.Byte < startPos.Byte {
		// Spans from different files cannot make one range; keep the start.
		r.End = r.Start
	}
	return r
}

// Content returns the source range of the whole value, without quotes or heredoc
// markers when the front end could map it.
func (s *String) Content() Range {
	if len(s.Spans) == 0 {
		return s.Range
	}
	return s.Sub(0, len(s.Value))
}

// pos maps a value offset to a source position. For an end position (exclusive)
// an offset on the boundary between two spans maps to the end of the earlier span,
// so a range ending at a line break does not spill onto the next source line.
func (s *String) pos(off int, isEnd bool) (Pos, Span) {
	if off < 0 {
		off = 0
	}
	if off > len(s.Value) {
		off = len(s.Value)
	}
	// i is the last span starting at or before off (strictly before for an end
	// position that is not at offset 0).
	i := sort.Search(len(s.Spans), func(i int) bool {
		if isEnd && off > 0 {
			return s.Spans[i].Offset >= off
		}
		return s.Spans[i].Offset > off
	}) - 1
	if i < 0 {
		return s.Spans[0].Source.Start, s.Spans[0]
	}
	sp := s.Spans[i]
	switch {
	case off >= sp.Offset+sp.Len:
		return sp.Source.End, sp
	case sp.Verbatim:
		return advance(sp.Source.Start, s.Value[sp.Offset:off]), sp
	case isEnd && off > sp.Offset:
		return sp.Source.End, sp
	default:
		return sp.Source.Start, sp
	}
}
