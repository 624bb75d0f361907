package mailer

// Open and click tracking of a rendered HTML body: every http(s) link of an
// <a href> is replaced by the URL Tracking.Click returns for it (the daemon's
// /c/<token>, whose signed token carries the original URL), and a 1×1 pixel
// (/o/<token>) is added before the last </body>, or at the end without one.
//
// The body is read with golang.org/x/net/html's tokenizer, the HTML5
// tokenization algorithm browsers use: an href is found wherever a browser
// would see one (unquoted, single-quoted, upper case, entity-encoded like
// &amp;) and nowhere it would not (inside comments, <script>, <style>,
// <textarea> or <title>). Only the <a> start tags that change are written
// anew; every other byte of the body is copied as it was (Raw), so tracking
// never reformats a message. Most bodies are read by track_fast.go instead,
// which applies the tokenizer's rules to the tags only and leaves anything it
// cannot be sure of to the tokenizer.
//
// The text part is left as it is: its links are what the reader sees and may
// copy, and a long opaque redirect there looks like phishing to readers and
// filters alike. Clicks from the text part are therefore not recorded.

import (
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/html"
)

// Tracking says how TrackHTML rewrites a body.
type Tracking struct {
	// Click returns the URL that replaces the link to dest, or "" to leave
	// that link alone (the unsubscribe link, the daemon's own links). It is
	// called only for absolute http and https URLs of at most MaxTrackedURL
	// bytes, with the href as a browser reads it (entities decoded, spaces
	// around it trimmed).
	Click func(dest string) string
	// Pixel is the open pixel's URL; "" adds none.
	Pixel string
}

// MaxTrackedURL is the longest link TrackHTML rewrites; longer ones are left
// as they are (the token that carries them would make a URL some clients cut).
const MaxTrackedURL = 2048

// TrackHTML returns body with its links rewritten and the pixel added, and
// how many links it rewrote. An empty body stays empty (a text-only message
// gets no pixel).
//
// Most bodies take the fast path (trackFast), which finds tags with
// strings.IndexByte and reads only the tags themselves, by the tokenizer's own
// rules; a body it cannot be sure of (a raw-text element such as <script> or
// <title>, a NUL byte, a token cut off by the end) is read by the tokenizer
// from the start instead (trackTokenized). Both give the same bytes for every
// body the fast path takes: FuzzTrackFastMatchesTokenizer holds them to it.
func TrackHTML(body string, t Tracking) (string, int, error) {
	if body == "" {
		return "", 0, nil
	}
	if out, n, ok := trackFast(body, t); ok {
		return out, n, nil
	}
	return trackTokenized(body, t)
}

// trackTokenized is TrackHTML reading the whole body with the tokenizer.
func trackTokenized(body string, t Tracking) (string, int, error) {
	var b strings.Builder
	b.Grow(len(body) + 256)
	z := html.NewTokenizer(strings.NewReader(body))
	bodyEnd := -1
	rewritten := 0
	// consumed counts the input bytes tokens covered: an unfinished tag at the
	// end ("<a") ends the tokenizer without a token, and is copied as it was.
	consumed := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				return "", 0, fmt.Errorf("tracking links: reading the HTML body: %w", z.Err())
			}
			if bodyEnd < 0 {
				// The pixel goes before an unfinished tag, not into it.
				bodyEnd = b.Len()
			}
			b.WriteString(body[consumed:])
			break
		}
		// Raw may change once the tag is read; keep a copy for the tags that
		// are looked at.
		raw := z.Raw()
		consumed += len(raw)
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if string(name) != "a" || !hasAttr || t.Click == nil {
				b.Write(raw)
				continue
			}
			raw = append([]byte(nil), raw...)
			if tag, ok := rewriteAnchor(tokenAttrs(z), tt == html.SelfClosingTagToken, t.Click); ok {
				b.WriteString(tag)
				rewritten++
				continue
			}
			b.Write(raw)
		case html.EndTagToken:
			raw = append([]byte(nil), raw...)
			if name, _ := z.TagName(); string(name) == "body" {
				bodyEnd = b.Len()
			}
			b.Write(raw)
		default:
			b.Write(raw)
		}
	}
	return addPixel(b.String(), bodyEnd, t.Pixel), rewritten, nil
}

// addPixel puts the open pixel at bodyEnd (before </body>, or at the end).
func addPixel(out string, bodyEnd int, pixel string) string {
	if pixel == "" {
		return out
	}
	img := `<img src="` + html.EscapeString(pixel) + `" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">`
	return out[:bodyEnd] + img + out[bodyEnd:]
}

// attr is one attribute of a tag as a browser reads it: the name in lower
// case, the value with its character references decoded.
type attr struct{ key, val string }

// tokenAttrs reads the current tag's attributes from the tokenizer.
func tokenAttrs(z *html.Tokenizer) []attr {
	var attrs []attr
	for more := true; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		attrs = append(attrs, attr{string(k), string(v)})
	}
	return attrs
}

// rewriteAnchor returns the <a> tag of attrs with its first href replaced,
// or false when it has none to track. A second href (which browsers ignore)
// is dropped, so no untracked URL is left behind in a rewritten tag.
func rewriteAnchor(attrs []attr, selfClosing bool, click func(string) string) (string, bool) {
	href := -1
	kept := attrs[:0:0]
	for _, a := range attrs {
		if a.key == "href" {
			if href >= 0 {
				continue
			}
			href = len(kept)
		}
		kept = append(kept, a)
	}
	attrs = kept
	if href < 0 {
		return "", false
	}
	dest := strings.TrimSpace(attrs[href].val)
	if !trackable(dest) {
		return "", false
	}
	u := click(dest)
	if u == "" {
		return "", false
	}
	attrs[href].val = u
	var b strings.Builder
	b.WriteString("<a")
	for _, a := range attrs {
		b.WriteByte(' ')
		b.WriteString(a.key)
		b.WriteString(`="`)
		if strings.ContainsAny(a.val, `&'<>"`) {
			b.WriteString(html.EscapeString(a.val))
		} else {
			b.WriteString(a.val) // tokens and most URLs: nothing to escape
		}
		b.WriteByte('"')
	}
	if selfClosing {
		b.WriteString("/>")
	} else {
		b.WriteByte('>')
	}
	return b.String(), true
}

// trackable: an absolute http(s) URL without control characters, not too long.
// mailto:, tel:, #anchors and relative links are not.
func trackable(u string) bool {
	if len(u) > MaxTrackedURL {
		return false
	}
	scheme, rest, ok := strings.Cut(u, ":")
	if !ok || !strings.HasPrefix(rest, "//") || len(rest) == 2 {
		return false
	}
	if s := strings.ToLower(scheme); s != "http" && s != "https" {
		return false
	}
	for i := 0; i < len(u); i++ {
		if u[i] < 0x20 || u[i] == 0x7f {
			return false
		}
	}
	return true
}
