package mailer

import (
	"slices"
	"strings"

	"golang.org/x/net/html"
)

// trackFast is TrackHTML without the tokenizer's byte-by-byte reading of the
// text between tags, which was most of its cost (a 5 KB newsletter is mostly
// text). It jumps from one '<' to the next and reads each tag, comment and
// doctype by the same rules as golang.org/x/net/html's Tokenizer (readTag,
// readComment, readMarkupDeclaration), so it finds the same tags at the same
// bytes. It gives up (ok false) rather than guess where the tokenizer would
// switch state or stop: at the start tag of a raw-text element (script,
// style, textarea, title, iframe, noembed, noframes, noscript, plaintext,
// xmp), at a NUL byte, and at a token the end of the body cuts off. The
// caller then reads the whole body with the tokenizer.
func trackFast(body string, t Tracking) (string, int, bool) {
	if strings.IndexByte(body, 0) >= 0 {
		return "", 0, false
	}
	var b strings.Builder
	b.Grow(len(body) + 256)
	bodyEnd := -1
	rewritten := 0
	copied := 0 // body[:copied] is in b
	for p := 0; ; {
		i := strings.IndexByte(body[p:], '<')
		if i < 0 {
			break
		}
		start := p + i
		if start+1 >= len(body) {
			// A '<' ending the body: text, as the tokenizer reads it.
			break
		}
		c := body[start+1]
		ok := true
		switch {
		case isASCIILetter(c):
			tg, ok := scanTag(body, start+1)
			if !ok {
				return "", 0, false
			}
			if isRawTextElement(body[tg.nameStart:tg.nameEnd]) {
				return "", 0, false
			}
			if t.Click != nil && tg.nameEnd-tg.nameStart == 1 && (c == 'a' || c == 'A') && len(tg.attrs) > 0 {
				if tag, ok := rewriteAnchor(tg.decoded(body), tg.selfClosing(body), t.Click); ok {
					b.WriteString(body[copied:start])
					b.WriteString(tag)
					copied = tg.end
					rewritten++
				}
			}
			p = tg.end
		case c == '/':
			if start+2 >= len(body) {
				return "", 0, false
			}
			if !isASCIILetter(body[start+2]) {
				// "</>" and "</3": a bogus comment to the next '>'.
				if p, ok = pastCloseAngle(body, start+2); !ok {
					return "", 0, false
				}
				continue
			}
			tg, ok := scanTag(body, start+2)
			if !ok {
				return "", 0, false
			}
			if asciiEqualFold(body[tg.nameStart:tg.nameEnd], "body") {
				b.WriteString(body[copied:start])
				copied = start
				bodyEnd = b.Len()
			}
			p = tg.end
		case c == '!':
			end, ok := scanMarkupDeclaration(body, start+2)
			if !ok {
				return "", 0, false
			}
			p = end
		case c == '?':
			if p, ok = pastCloseAngle(body, start+2); !ok {
				return "", 0, false
			}
		default:
			// "a < b": the '<' is text.
			p = start + 1
		}
	}
	b.WriteString(body[copied:])
	if bodyEnd < 0 {
		bodyEnd = b.Len()
	}
	return addPixel(b.String(), bodyEnd, t.Pixel), rewritten, true
}

// fastTag is a tag read by scanTag: where its name is, its attributes (those
// the tokenizer keeps: named, first of each name) and the index just past
// its '>'.
type fastTag struct {
	nameStart, nameEnd int
	attrs              []attrSpan
	end                int
}

type span struct{ start, end int }

// attrSpan is an attribute's name and value, as byte ranges of the body,
// and the name in lower case.
type attrSpan struct {
	key, val span
	name     string
}

// decoded returns the tag's attributes as the tokenizer's TagAttr gives them:
// names in lower case, values with character references decoded. "&amp;",
// the reference URLs carry, is decoded here; a value with another reference
// or a '\r' is decoded by the tokenizer itself (attribute values have their
// own rules for references without a ';', and line ends are normalized).
func (tg fastTag) decoded(body string) []attr {
	attrs := make([]attr, len(tg.attrs))
	for i, a := range tg.attrs {
		val := body[a.val.start:a.val.end]
		if strings.IndexByte(val, '\r') >= 0 {
			return tokenizeTagAttrs(body[tg.nameStart-1 : tg.end])
		}
		if strings.IndexByte(val, '&') >= 0 {
			if strings.Count(val, "&") != strings.Count(val, "&amp;") {
				return tokenizeTagAttrs(body[tg.nameStart-1 : tg.end])
			}
			val = strings.ReplaceAll(val, "&amp;", "&")
		}
		attrs[i] = attr{a.name, val}
	}
	return attrs
}

// tokenizeTagAttrs reads the attributes of the one tag raw with the tokenizer.
func tokenizeTagAttrs(raw string) []attr {
	z := html.NewTokenizer(strings.NewReader(raw))
	z.Next()
	return tokenAttrs(z)
}

// selfClosing is the tokenizer's test for <a .../>: a '/' just before the
// '>' that is not the last character of the last attribute's value.
func (tg fastTag) selfClosing(body string) bool {
	n := len(tg.attrs)
	return body[tg.end-2] == '/' && (n == 0 || tg.end-2 != tg.attrs[n-1].val.end-1)
}

// scanTag reads a start or end tag whose name begins at body[p] (an ASCII
// letter), as the tokenizer's readTag does, and returns it; ok is false when
// the body ends inside it.
func scanTag(body string, p int) (tg fastTag, ok bool) {
	n := len(body)
	// readTagName: up to white space, '/' or '>'.
	tg.nameStart = p
	for p++; ; p++ {
		if p >= n {
			return tg, false
		}
		if c := body[p]; isHTMLSpace(c) || c == '/' || c == '>' {
			break
		}
	}
	tg.nameEnd = p
	for {
		if p = skipHTMLSpace(body, p); p >= n {
			return tg, false
		}
		if body[p] == '>' {
			tg.end = p + 1
			return tg, true
		}
		// readTagAttrKey: up to white space, '/', '>' or a '=' that is not
		// the first character.
		var a attrSpan
		a.key.start = p
		if body[p] != '/' { // a '/' first: an empty name
			for p++; ; p++ {
				if p >= n {
					return tg, false
				}
				if c := body[p]; isHTMLSpace(c) || c == '/' || c == '>' || c == '=' {
					break
				}
			}
		}
		a.key.end = p
		// readTagAttrVal.
		a.val = span{p, p}
		if p = skipHTMLSpace(body, p); p >= n {
			return tg, false
		}
		switch body[p] {
		case '/':
			p++
		case '=':
			if p = skipHTMLSpace(body, p+1); p >= n {
				return tg, false
			}
			switch q := body[p]; q {
			case '>':
			case '\'', '"':
				end := strings.IndexByte(body[p+1:], q)
				if end < 0 {
					return tg, false
				}
				a.val = span{p + 1, p + 1 + end}
				p = p + 1 + end + 1
			default:
				a.val.start = p
				for p++; ; p++ {
					if p >= n {
						return tg, false
					}
					if c := body[p]; isHTMLSpace(c) || c == '>' {
						break
					}
				}
				a.val.end = p
				if body[p] != '>' {
					p++
				}
			}
		}
		if a.key.start < a.key.end {
			a.name = asciiLower(body[a.key.start:a.key.end])
			if !slices.ContainsFunc(tg.attrs, func(b attrSpan) bool { return b.name == a.name }) {
				tg.attrs = append(tg.attrs, a)
			}
		}
	}
}

// scanMarkupDeclaration reads "<!--comment-->", "<!DOCTYPE ...>" or a bogus
// comment "<!...>" whose "<!" ends before body[p], as the tokenizer's
// readMarkupDeclaration does (CDATA sections are bogus comments, as for the
// tokenizer outside foreign content), and returns the index past its end.
func scanMarkupDeclaration(body string, p int) (int, bool) {
	n := len(body)
	if p+2 > n {
		return 0, false
	}
	if body[p] == '-' && body[p+1] == '-' {
		return scanComment(body, p+2)
	}
	if p+len("DOCTYPE") <= n && asciiEqualFold(body[p:p+len("DOCTYPE")], "doctype") {
		// White space after the name, then everything to the next '>'.
		q := skipHTMLSpace(body, p+len("DOCTYPE"))
		if q >= n {
			return 0, false
		}
		p = q
	} else if p+len("DOCTYPE") > n && asciiEqualFold(body[p:], "doctype"[:n-p]) {
		// The body ends inside what may be a doctype's name.
		return 0, false
	}
	return pastCloseAngle(body, p)
}

// pastCloseAngle returns the index just past the first '>' at or after p, as
// the tokenizer's readUntilCloseAngle reads a bogus comment or a doctype; ok
// is false when there is none.
func pastCloseAngle(body string, p int) (int, bool) {
	end := strings.IndexByte(body[p:], '>')
	if end < 0 {
		return 0, false
	}
	return p + end + 1, true
}

// scanComment reads a comment whose "<!--" ends before body[p], as the
// tokenizer's readComment does: it ends at "-->" or "--!>", or at a '>'
// right after the opening (with or without dashes: "<!-->", "<!--->").
func scanComment(body string, p int) (int, bool) {
	dashes := 0
	beginning := true
	for ; p < len(body); p++ {
		switch c := body[p]; c {
		case '-':
			dashes++
			continue
		case '>':
			if dashes >= 2 || beginning {
				return p + 1, true
			}
		case '!':
			if dashes >= 2 {
				if p+1 >= len(body) {
					return 0, false
				}
				p++
				if body[p] == '>' {
					return p + 1, true
				}
				if body[p] == '-' {
					dashes = 1
					beginning = false
					continue
				}
			}
		}
		dashes = 0
		beginning = false
	}
	return 0, false
}

// isRawTextElement: the start tags after which the tokenizer reads raw text
// (or, for plaintext, everything) instead of tags.
func isRawTextElement(name string) bool {
	switch len(name) {
	case 3, 5, 6, 7, 8, 9:
	default:
		return false
	}
	for _, s := range [...]string{"iframe", "noembed", "noframes", "noscript", "plaintext", "script", "style", "textarea", "title", "xmp"} {
		if asciiEqualFold(name, s) {
			return true
		}
	}
	return false
}

// asciiLower lowers ASCII letters only, as the tokenizer does.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// asciiEqualFold reports whether s is lower (all lower case ASCII) with
// ASCII letters in any case.
func asciiEqualFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isHTMLSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f'
}

func skipHTMLSpace(s string, p int) int {
	for p < len(s) && isHTMLSpace(s[p]) {
		p++
	}
	return p
}
