package mailer

import (
	"strings"
	"testing"
)

// trackFastSeeds are bodies whose tags, comments and doctypes sit where the
// two readings could part: attribute syntax, comment ends, line ends and
// references in values, upper case, end tags with attributes.
var trackFastSeeds = []string{
	`<a href="https://a.test/">x</a>`, `<A HREF=http://b.test>`, `<a href='x' href="https://c.test">`,
	`<a href=https://u.test/>`, `<a href=x/>`, `<a/href=https://h.test>`, `<a =x href=https://a.test>`,
	`<A HREF='https://a.test' HREF=https://b.test CLASS=btn>`, `<a href="https://a.test/?x=1&amp;y=2">`,
	"<a href=\"https://a.test/\r\nb\">", "<a\thref\f=\n'https://a.test/'\r>", `<a href = "https://s.test" >`,
	`<a href="https://a.test/>" title='x>y'>`, `<a href>`, `<a href=>`, `<a / href=https://a.test>`, `<a href=https://a.test/ />`,
	`<!-->`, `<!--->`, `<!---->`, `<!--> <a href=https://x.test> -->`, `<!---> <a href=https://y.test> -->`, `<!-- --!> <a href=https://x.test>`, `<!---- -- -> --> <a href=https://y.test>`, `<!-- a --!- b -->`,
	`<!--[if mso]><table><tr><td><![endif]--><a href="https://mso.test/">`, `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN" "x">`,
	`<!doctype html>`, `<!docty`, `<!DOCTYPEhtml>`, `<![CDATA[<a href=https://cdata.test>]]>`, `<?xml version="1.0"?>`, `<!x>`,
	`</ br>`, `</>`, `<3 <a href=https://lt.test>`, `a < b`, `<`, `</`, `<a`, `<a href="https://cut.test`,
	`<body></BODY ><a href=https://late.test></body><p>`, `</body x="</body>">`, `<p a=/>`,
	`<title><a href="https://title.test"></title>`, `<SCRIPT><a href="https://s.test"></SCRIPT>`, "<a href=\"https://nul.test/\x00\">",
	`<a HREF=https://a.test href=https://b.test>`, `<a hReF="https://case.test">`, "<a h\u212aef=https://k.test>",
}

// FuzzTrackFastMatchesTokenizer: wherever the fast path takes a body, it
// gives byte for byte what reading it with the tokenizer gives, for every
// kind of tracking (links and pixel, links only, pixel only).
func FuzzTrackFastMatchesTokenizer(f *testing.F) {
	for _, s := range trackFastSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkTrackFast(t, in)
	})
}

func checkTrackFast(t *testing.T, in string) (took bool) {
	t.Helper()
	tr := tracker()
	for _, tk := range []Tracking{tr, {Click: tr.Click}, {Pixel: tr.Pixel}, {Click: func(string) string { return "" }}} {
		fast, fn, ok := trackFast(in, tk)
		if !ok {
			continue
		}
		took = true
		slow, sn, err := trackTokenized(in, tk)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if fast != slow || fn != sn {
			t.Fatalf("fast and tokenized readings differ\nin:        %q\nfast:      %q (%d)\ntokenized: %q (%d)", in, fast, fn, slow, sn)
		}
	}
	return took
}

func TestTrackFastMatchesTokenizerOnSeeds(t *testing.T) {
	for _, s := range trackFastSeeds {
		checkTrackFast(t, s)
	}
}

// TestTrackFastTakesEverydayNewsletters: the bodies a marketer writes take
// the fast path (so the speed-up is not lost to a needless fallback), and the
// ones it must not guess about fall back, with TrackHTML's answer the same.
func TestTrackFastTakesEverydayNewsletters(t *testing.T) {
	newsletter := `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><meta charset="utf-8"></head>
<BODY style="margin:0">
<!--[if mso]><table role="presentation"><tr><td><![endif]-->
<p>Hello Ada,</p>` + strings.Repeat(`
<p>Light jackets &amp; linen shirts, <a href="https://shop.test/p?id=1&amp;utm_source=mail" class="btn">shop now</a>
and <A HREF=https://shop.test/sale target=_blank>the sale</A>.</p>`, 10) + `
<p><img src="https://cdn.test/logo.png" alt="logo" /><br/>
<a href="mailto:help@shop.test">help</a> · <a href="https://t.test/u/tok">Unsubscribe</a></p>
<!--[if mso]></td></tr></table><![endif]-->
</body></html>`
	for _, in := range []string{newsletter, `<p>Hi <a href="https://a.test">a</a></p>`, "plain text, no tags at all"} {
		if !checkTrackFast(t, in) {
			t.Errorf("the fast path gave up on an everyday body:\n%s", in)
		}
	}
	for _, in := range []string{
		`<p>x</p><script>var a = "<a href='https://s.test'>";</script>`,
		`<title>Spring</title><a href="https://a.test">`,
		"<p>\x00</p>",
		`<p><a href="https://cut.test`,
	} {
		if _, _, ok := trackFast(in, tracker()); ok {
			t.Errorf("the fast path took a body it must leave to the tokenizer: %q", in)
		}
		got, gn, err := TrackHTML(in, tracker())
		want, wn, werr := trackTokenized(in, tracker())
		if got != want || gn != wn || (err == nil) != (werr == nil) {
			t.Errorf("TrackHTML(%q) = %q, %d; the tokenizer's reading is %q, %d", in, got, gn, want, wn)
		}
	}
	out, n, err := TrackHTML(newsletter, tracker())
	if err != nil || n != 20 {
		t.Fatalf("TrackHTML rewrote %d links (err %v), want 20", n, err)
	}
	if i, j := strings.Index(out, `<img src="https://t.test/o/tok&amp;x"`), strings.LastIndex(out, "</body>"); i < 0 || i > j {
		t.Errorf("the pixel is not just before </body>:\n%s", out[max(0, len(out)-400):])
	}
}
