package cuesrc

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/campaignctl/campaignctl/compiler/ir"
)

// CUE evaluates a string literal to a value and keeps only the literal's start
// position. To point inside the value (a CEL error at column 12 of line 3 of a
// """ string) we decode the literal's source text again here, recording where
// each run of the value came from. The caller compares the result with CUE's own
// value and drops the spans if they differ, so a case this decoder gets wrong
// costs precision, never correctness.

// stringDecoder decodes one literal; base is the literal's byte offset in the
// file.
type stringDecoder struct {
	lines    *ir.Lines
	filename string
	base     int
	escape   string // `\` followed by as many '#' as the literal has
	quote    string // `"` followed by as many '#': ends a single-line literal
	multi    bool

	out   strings.Builder
	spans []ir.Span
}

// decodeString returns the value of a CUE string literal, src being its exact
// source text (#s and quotes included), and the spans of that value. ok is false
// for anything else: byte literals ('...'), interpolations and malformed text.
func decodeString(lines *ir.Lines, filename, src string, base int) (value string, spans []ir.Span, ok bool) {
	hashes := 0
	for hashes < len(src) && src[hashes] == '#' {
		hashes++
	}
	closing := `"` + strings.Repeat("#", hashes)
	d := &stringDecoder{lines: lines, filename: filename, base: base, escape: `\` + strings.Repeat("#", hashes), quote: closing}
	rest := src[hashes:]
	switch {
	case strings.HasPrefix(rest, `"""`):
		d.multi = true
		ok = d.multiline(src, hashes+3, `"""`+strings.Repeat("#", hashes))
	case strings.HasPrefix(rest, `"`) && len(src) >= 2*hashes+2 && strings.HasSuffix(src, closing):
		end := len(src) - len(closing)
		if !strings.ContainsAny(src[hashes+1:end], "\r\n") {
			ok, _ = d.run(src, hashes+1, end, false)
		}
	}
	if !ok {
		return "", nil, false
	}
	return d.out.String(), d.spans, true
}

// multiline decodes a """ literal whose opening quotes end at start. The
// whitespace before the closing quotes is removed from the start of every line,
// the newline before the closing line is not part of the value, and carriage
// returns are dropped, as CUE does.
func (d *stringDecoder) multiline(src string, start int, closing string) bool {
	if !strings.HasSuffix(src, closing) || len(src) < start+len(closing) {
		return false
	}
	i := start
	if strings.HasPrefix(src[i:], "\r") {
		i++
	}
	if !strings.HasPrefix(src[i:], "\n") {
		return false
	}
	i++
	end := len(src) - len(closing)
	// The closing line: whitespace only, after the last newline.
	lastNL := strings.LastIndexByte(src[:end], '\n')
	if lastNL < i-1 {
		return false
	}
	indent := src[lastNL+1 : end]
	if strings.Trim(indent, " \t") != "" {
		return false
	}
	// Content lines are src[i:lastNL], each ending before its '\n'.
	for first := true; i <= lastNL; first = false {
		nl := strings.IndexByte(src[i:], '\n') + i // exists: lastNL >= i
		switch line := src[i:nl]; {
		case strings.HasPrefix(line, indent):
			i += len(indent)
		case line == "" || line == "\r" && !first:
			// An empty line need not carry the indentation (CUE is stricter
			// about a first line that holds only a carriage return).
		default:
			return false
		}
		if strings.HasPrefix(src[i:nl], closing) {
			return false // closing quotes at the start of a line end the literal
		}
		lineEnd := nl
		if lineEnd > i && src[lineEnd-1] == '\r' {
			lineEnd-- // CUE drops carriage returns
		}
		ok, joined := d.run(src, i, lineEnd, true)
		switch {
		case !ok || joined && nl == lastNL:
			return false // the last newline may not be escaped
		case !joined && nl != lastNL:
			// The newline that closes the last line belongs to the closing
			// quotes, not to the value.
			d.verbatim(src, nl, nl+1)
		}
		i = nl + 1
	}
	return true
}

// run decodes src[start:end], text without line breaks, appending verbatim runs
// and escape sequences. In a multi-line string (lineEnd) a final backslash
// escapes the newline, which joins the next line: joined reports it.
func (d *stringDecoder) run(src string, start, end int, lineEnd bool) (ok, joined bool) {
	pending := start
	for i := start; i < end; {
		c := src[i]
		switch {
		case c == 0:
			return false, false // CUE refuses NUL in a string
		case c == '"' && !d.multi && strings.HasPrefix(src[i:end], d.quote):
			return false, false // the literal ends here; src is not one literal
		case c == '\r':
			d.verbatim(src, pending, i)
			i++
			pending = i
		case c == '\\' && strings.HasPrefix(src[i:end], d.escape):
			j := i + len(d.escape)
			if j >= end {
				if !lineEnd {
					return false, false
				}
				d.verbatim(src, pending, i)
				return true, true
			}
			value, n, ok := unescape(src[j:end])
			if !ok {
				return false, false
			}
			d.verbatim(src, pending, i)
			d.escaped(src, i, j+n, value)
			i = j + n
			pending = i
		default:
			if c < utf8.RuneSelf {
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(src[i:end])
			if r == utf8.RuneError && size == 1 {
				return false, false
			}
			i += size
		}
	}
	d.verbatim(src, pending, end)
	return true, false
}

// unescape decodes the escape sequence whose text after the backslash (and its
// #s) starts s. It returns the value and the number of bytes of s used; ok is
// false for an interpolation \( or an escape this decoder does not map (the
// caller then gives up on spans).
func unescape(s string) (value string, n int, ok bool) {
	switch s[0] {
	case 'a':
		return "\a", 1, true
	case 'b':
		return "\b", 1, true
	case 'f':
		return "\f", 1, true
	case 'n':
		return "\n", 1, true
	case 'r':
		return "\r", 1, true
	case 't':
		return "\t", 1, true
	case 'v':
		return "\v", 1, true
	case '/':
		return "/", 1, true
	case '\\':
		return `\`, 1, true
	case '"':
		return `"`, 1, true
	case 'u', 'U':
		digits := 4
		if s[0] == 'U' {
			digits = 8
		}
		if len(s) < 1+digits {
			return "", 0, false
		}
		num, err := strconv.ParseUint(s[1:1+digits], 16, 32)
		r := rune(num)
		// Surrogate halves combine in pairs; not worth mapping.
		if err != nil || !utf8.ValidRune(r) {
			return "", 0, false
		}
		return string(r), 1 + digits, true
	}
	return "", 0, false
}

func (d *stringDecoder) verbatim(src string, i, j int) {
	if j <= i {
		return
	}
	d.spans = append(d.spans, ir.Span{
		Offset:   d.out.Len(),
		Len:      j - i,
		Source:   d.lines.Range(d.filename, d.base+i, d.base+j),
		Verbatim: true,
	})
	d.out.WriteString(src[i:j])
}

func (d *stringDecoder) escaped(src string, i, j int, value string) {
	d.spans = append(d.spans, ir.Span{
		Offset: d.out.Len(),
		Len:    len(value),
		Source: d.lines.Range(d.filename, d.base+i, d.base+j),
	})
	d.out.WriteString(value)
}
