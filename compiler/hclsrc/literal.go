package hclsrc

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/campaignctl/campaignctl/compiler/ir"
)

// HCL parses a string literal into a value and keeps only coarse ranges: a heredoc
// becomes one literal whose range covers every line, the stripped indentation
// included. To point inside a value we decode the literal's source text again
// here, recording for each run of the value where it came from. The caller
// compares the result with HCL's own value and drops the spans if they differ,
// so a case this decoder gets wrong costs precision, never correctness.

// literalDecoder decodes one literal, src being the literal's exact source text
// (quotes or heredoc markers included) and base its byte offset in the file.
type literalDecoder struct {
	lines    *ir.Lines
	filename string
	base     int

	out   strings.Builder
	spans []ir.Span
}

// decodeLiteral returns the value of a quoted string or heredoc and its spans.
// ok is false for anything else, including templates with interpolations or
// directives, whose value is not a plain function of their text.
func decodeLiteral(lines *ir.Lines, filename string, src []byte, base int) (string, []ir.Span, bool) {
	d := &literalDecoder{lines: lines, filename: filename, base: base}
	var ok bool
	switch {
	case len(src) >= 2 && src[0] == '"' && src[len(src)-1] == '"':
		ok = d.quoted(src, 1, len(src)-1)
	case bytes.HasPrefix(src, []byte("<<")):
		ok = d.heredoc(src)
	}
	if !ok {
		return "", nil, false
	}
	return d.out.String(), d.spans, true
}

// verbatim appends src[i:j] as it is.
func (d *literalDecoder) verbatim(src []byte, i, j int) {
	if j <= i {
		return
	}
	d.spans = append(d.spans, ir.Span{
		Offset:   d.out.Len(),
		Len:      j - i,
		Source:   d.lines.Range(d.filename, d.base+i, d.base+j),
		Verbatim: true,
	})
	d.out.Write(src[i:j])
}

// escaped appends value, which the source writes as src[i:j].
func (d *literalDecoder) escaped(src []byte, i, j int, value string) {
	d.spans = append(d.spans, ir.Span{
		Offset: d.out.Len(),
		Len:    len(value),
		Source: d.lines.Range(d.filename, d.base+i, d.base+j),
	})
	d.out.WriteString(value)
}

// quoted decodes src[start:end], the inside of a quoted string.
func (d *literalDecoder) quoted(src []byte, start, end int) bool {
	run := start // start of the pending verbatim run
	i := start
	for i < end {
		c := src[i]
		switch {
		case c == '\\':
			if i+1 >= end {
				return false
			}
			n, value := 2, ""
			switch src[i+1] {
			case 'n':
				value = "\n"
			case 'r':
				value = "\r"
			case 't':
				value = "\t"
			case '"':
				value = `"`
			case '\\':
				value = `\`
			case 'u', 'U':
				digits := 4
				if src[i+1] == 'U' {
					digits = 8
				}
				if i+2+digits > end {
					return false
				}
				num, err := strconv.ParseUint(string(src[i+2:i+2+digits]), 16, 32)
				if err != nil || !utf8.ValidRune(rune(num)) {
					return false
				}
				n, value = 2+digits, string(rune(num))
			default:
				return false
			}
			d.verbatim(src, run, i)
			d.escaped(src, i, i+n, value)
			i += n
			run = i
		case (c == '$' || c == '%') && i+1 < end && src[i+1] == '{':
			return false // an interpolation or directive
		case (c == '$' || c == '%') && i+2 < end && src[i+1] == c && src[i+2] == '{':
			d.verbatim(src, run, i)
			d.escaped(src, i, i+3, string(c)+"{")
			i += 3
			run = i
		default:
			i++
		}
	}
	d.verbatim(src, run, end)
	return true
}

// heredoc decodes <<EOT or <<-EOT: an opening line, content lines, and a closing
// line holding the marker alone. With "-", the smallest indentation of the
// non-blank lines is removed from each of them, as HCL does.
func (d *literalDecoder) heredoc(src []byte) bool {
	i := 2
	flush := i < len(src) && src[i] == '-'
	if flush {
		i++
	}
	markerStart := i
	for i < len(src) && (src[i] == '_' || src[i] == '-' || isASCIIAlnum(src[i])) {
		i++
	}
	marker := string(src[markerStart:i])
	if marker == "" {
		return false
	}
	if i < len(src) && src[i] == '\r' {
		i++
	}
	if i >= len(src) || src[i] != '\n' {
		return false
	}
	i++

	// Content lines, each with its line ending, up to the closing marker.
	type line struct{ start, end int }
	var content []line
	closed := false
	for i < len(src) {
		end := len(src)
		if j := bytes.IndexByte(src[i:], '\n'); j >= 0 {
			end = i + j + 1
		}
		if strings.TrimSpace(string(src[i:end])) == marker {
			closed = true
			break
		}
		content = append(content, line{i, end})
		i = end
	}
	if !closed {
		return false
	}

	strip := 0
	if flush {
		strip = -1
		for _, l := range content {
			text := string(src[l.start:l.end])
			rest := strings.TrimLeftFunc(text, unicode.IsSpace)
			if rest == "" && strings.HasSuffix(text, "\n") {
				continue // blank lines do not count, and keep their spaces
			}
			if n := utf8.RuneCountInString(text[:len(text)-len(rest)]); strip < 0 || n < strip {
				strip = n
			}
		}
	}
	for _, l := range content {
		start := l.start
		text := string(src[l.start:l.end])
		rest := strings.TrimLeftFunc(text, unicode.IsSpace)
		if strip > 0 && !(rest == "" && strings.HasSuffix(text, "\n")) {
			for k := 0; k < strip && start < l.end; k++ {
				_, size := utf8.DecodeRune(src[start:l.end])
				start += size
			}
		}
		if !d.heredocLine(src, start, l.end) {
			return false
		}
	}
	return true
}

// heredocLine decodes one heredoc line: backslashes are literal, only $${ and %%{
// are escapes.
func (d *literalDecoder) heredocLine(src []byte, start, end int) bool {
	run := start
	for i := start; i < end; {
		c := src[i]
		switch {
		case (c == '$' || c == '%') && i+1 < end && src[i+1] == '{':
			return false
		case (c == '$' || c == '%') && i+2 < end && src[i+1] == c && src[i+2] == '{':
			d.verbatim(src, run, i)
			d.escaped(src, i, i+3, string(c)+"{")
			i += 3
			run = i
		default:
			i++
		}
	}
	d.verbatim(src, run, end)
	return true
}

func isASCIIAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
