package mailer

import (
	"bytes"
	"strings"
)

// A part is written 7bit (RFC 2045 §2.7), as it is, when nothing in it needs
// quoted-printable: the message is shorter, its source readable, and the
// daemon skips the encoder. That takes, after CRLF and LF are read as line
// breaks:
//
//   - printable ASCII, space and tab only (no other control byte, no lone CR,
//     nothing above 0x7E);
//   - lines of at most 998 characters (RFC 2045 §2.7, RFC 5322 §2.1.1's
//     limit; its "should" of 78 is what quoted-printable keeps to, and no
//     line holding a signed link does);
//   - no space or tab at the end of a line, which relays may strip;
//   - no "=_": the multipart boundary starts with it (appendBytes), and
//     quoted-printable can never write it, so no line of a part can be
//     mistaken for the boundary.
//
// Anything else is quoted-printable, as before.

// maxLine7bit is the longest line a 7bit part may have, CRLF not counted.
const maxLine7bit = 998

// append7bit appends body as the content of a 7bit part: its lines as they
// are, each line break written CRLF, the last line without one unless body
// ends in a line break (as appendQuotedPrintable does). ok is false, and dst
// comes back as it was given, when body does not qualify. dot reports whether
// a line starts with '.'.
func append7bit(dst []byte, body string) (_ []byte, dot, ok bool) {
	start := len(dst)
	for len(body) > 0 {
		line, rest, brk := body, "", false
		if i := strings.IndexByte(body, '\n'); i >= 0 {
			line, rest, brk = body[:i], body[i+1:], true
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
		}
		if len(line) > maxLine7bit || !printable7(line) {
			return dst[:start], false, false
		}
		if n := len(line); n > 0 {
			if c := line[n-1]; c == ' ' || c == '\t' {
				return dst[:start], false, false
			}
			dot = dot || line[0] == '.'
		}
		dst = append(dst, line...)
		if brk {
			dst = append(dst, '\r', '\n')
		}
		body = rest
	}
	return dst, dot, true
}

// SWAR constants: a byte value repeated in each byte of a word.
const (
	ones   = 0x0101010101010101
	highs  = 0x8080808080808080
	spaces = 0x2020202020202020 // ' '
	dels   = 0x7f7f7f7f7f7f7f7f // DEL
	equals = 0x3d3d3d3d3d3d3d3d // '='
)

// printable7 reports whether s (one line) holds only printable ASCII, space
// and tab, and no "=_". Eight bytes at a time; a word that might hold a tab
// or an '=' is checked byte by byte.
func printable7(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&highs != 0 {
			return false // a byte above 0x7F
		}
		x := w ^ dels
		eq := w ^ equals
		if (w-spaces)&^w&highs != 0 || (x-ones)&^x&highs != 0 || (eq-ones)&^eq&highs != 0 {
			// A byte below ' ' (a tab, or not allowed), a DEL or an '='.
			if !printable7Bytes(s, i, i+8) {
				return false
			}
		}
	}
	return printable7Bytes(s, i, len(s))
}

// printable7Bytes is printable7 for s[from:to], one byte at a time; an '='
// is checked against the byte after it even past to.
func printable7Bytes(s string, from, to int) bool {
	for j := from; j < to; j++ {
		switch c := s[j]; {
		case c == '\t':
		case c < ' ' || c > '~':
			return false
		case c == '=' && j+1 < len(s) && s[j+1] == '_':
			return false
		}
	}
	return true
}

// dataSafe reports whether b is already SMTP DATA content but for the
// terminator: every line ends in CRLF, there is no other CR or LF, and no
// line starts with '.'.
func dataSafe(b []byte) bool {
	for len(b) > 0 {
		if b[0] == '.' {
			return false
		}
		i := bytes.IndexByte(b, '\n')
		if i < 1 || b[i-1] != '\r' || bytes.IndexByte(b[:i-1], '\r') >= 0 {
			return false
		}
		b = b[i+1:]
	}
	return true
}
