package mailer

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/campaignctl/campaignctl/runtime/links"
)

// tracker rewrites a link to https://t.test/c/<escaped original> and leaves
// the unsubscribe link alone, as the engine does.
func tracker() Tracking {
	return Tracking{
		Click: func(dest string) string {
			if strings.HasPrefix(dest, "https://t.test/u/") {
				return ""
			}
			return "https://t.test/c/" + url.PathEscape(dest)
		},
		Pixel: "https://t.test/o/tok&x",
	}
}

// hrefs parses doc as a browser would and returns every <a href> and <img src>.
func hrefs(t *testing.T, doc string) (links, imgs []string) {
	t.Helper()
	n, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				switch {
				case n.Data == "a" && a.Key == "href":
					links = append(links, a.Val)
				case n.Data == "img" && a.Key == "src":
					imgs = append(imgs, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return links, imgs
}

func TestTrackHTMLRewritesWhatABrowserFollows(t *testing.T) {
	in := `<!doctype html><html><head><title><a href="https://no.test/title"></title>
<style>a[href="https://no.test/style"]{}</style></head><BODY>
<p><A HREF=https://shop.test/a?x=1&amp;y=2 class=btn>Buy</A>
<a href='HTTP://shop.test/b' href="https://shop.test/second">b</a>
<a href="  https://shop.test/spaced  ">c</a>
<a href="mailto:help@shop.test">mail</a> <a href="tel:+331234">tel</a> <a href="#top">top</a>
<a href="/relative">rel</a> <a href="javascript:alert(1)">js</a> <a name="x">anchor</a>
<a href="https://t.test/u/UNSUB">Unsubscribe</a>
<!-- <a href="https://no.test/comment"> -->
<script>document.write('<a href="https://no.test/script">')</script>
<textarea><a href="https://no.test/textarea"></textarea>
<a href="https://shop.test/x" data-q='"&lt;'/>
</BODY></html>`
	out, n, err := TrackHTML(in, tracker())
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("rewrote %d links, want 4", n)
	}
	links, imgs := hrefs(t, out)
	want := []string{
		"https://t.test/c/" + url.PathEscape("https://shop.test/a?x=1&y=2"),
		"https://t.test/c/" + url.PathEscape("HTTP://shop.test/b"),
		"https://t.test/c/" + url.PathEscape("https://shop.test/spaced"),
		"mailto:help@shop.test", "tel:+331234", "#top", "/relative", "javascript:alert(1)",
		"https://t.test/u/UNSUB",
		"https://t.test/c/" + url.PathEscape("https://shop.test/x"),
	}
	if strings.Join(links, "\n") != strings.Join(want, "\n") {
		t.Errorf("links after tracking:\n%s\nwant:\n%s", strings.Join(links, "\n"), strings.Join(want, "\n"))
	}
	if len(imgs) != 1 || imgs[0] != "https://t.test/o/tok&x" {
		t.Errorf("images %q, want the pixel once", imgs)
	}
	for _, s := range []string{"no.test/title", "no.test/style", "no.test/comment", "no.test/script", "no.test/textarea", `class="btn"`, `data-q="&#34;&lt;"`} {
		if !strings.Contains(out, s) {
			t.Errorf("output lost %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "shop.test/second") {
		t.Errorf("second href of a rewritten tag kept: %s", out)
	}
	if i, j := strings.Index(out, "/o/tok"), strings.Index(out, "</BODY>"); i < 0 || i > j {
		t.Errorf("pixel not before </body>:\n%s", out)
	}
}

func TestTrackHTMLWithoutBody(t *testing.T) {
	out, _, err := TrackHTML(`<p>Hi <a href="https://a.test">a</a></p>`, Tracking{Pixel: "https://t.test/o/1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `<p>Hi <a href="https://a.test">a</a></p><img src="https://t.test/o/1" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">`; out != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if out, _, _ := TrackHTML("", tracker()); out != "" {
		t.Errorf("an empty body got %q", out)
	}
}

// FuzzTrackHTML: never panics; with nothing to do the body is returned byte
// for byte; with tracking on, no absolute http(s) link a browser would follow
// is left untracked (except the unsubscribe link and over-long URLs).
func FuzzTrackHTML(f *testing.F) {
	for _, s := range []string{
		`<a href="https://a.test/">x</a>`, `<A HREF=http://b.test>`, `<a href='x' href="https://c.test">`,
		`<!--<a href="https://d.test">-->`, `<script><a href="https://e.test"></script>`, `<body><a href="https://t.test/u/x"></a></body>`,
		"<a href=\"https://f.test/\x00\">", `<a href="https://g.test/&quot;&#0;">`, `<a/href=https://h.test>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		same, n, err := TrackHTML(in, Tracking{Click: func(string) string { return "" }})
		if err != nil || same != in || n != 0 {
			t.Fatalf("with nothing to rewrite: %q → %q (%d, %v)", in, same, n, err)
		}
		out, _, err := TrackHTML(in, tracker())
		if err != nil {
			t.Fatal(err)
		}
		links, _ := hrefs(t, out)
		for _, l := range links {
			l = strings.TrimSpace(l)
			if trackable(l) && !strings.HasPrefix(l, "https://t.test/") {
				t.Fatalf("untracked link %q\nin:  %q\nout: %q", l, in, out)
			}
		}
	})
}

// BenchmarkTrackHTML: the cost per message at compose, on the fast path
// (fast) and reading the whole body with the tokenizer (tokenized), for a
// body of ten paragraphs with a link each (links, references in every URL)
// and for the send benchmark's newsletter (text, one unsubscribe link).
func BenchmarkTrackHTML(b *testing.B) {
	links10 := `<html><body><h1>Spring sale</h1>` + strings.Repeat(`<p>Some text about a product, with <a href="https://shop.example/product?id=1234&amp;utm_source=mail">a link</a> and more words.</p>`, 10) +
		`<p><a href="https://t.test/u/abc">Unsubscribe</a></p></body></html>`
	newsletter := "<!doctype html>\n<html>\n<body>\n<p>Hello Ada,</p>\n" + strings.Repeat("<p>\nOur spring collection is here: light jackets, linen shirts and the\nwalking shoes you asked about last season, in every size and colour.\nMembers get free delivery and returns for thirty days on every order.\n</p>\n", 10) +
		"<p><a href=\"https://t.test/u/abc\">Unsubscribe</a></p>\n</body>\n</html>\n"
	// Links signed as the engine signs them.
	signer, _ := links.NewSigner([]byte("bench-secret-0123456789"))
	c := links.Claims{Kind: "sequence", Campaign: "restock_nurture", Step: "week1", Model: "lead", ContactKey: "12345", Occurrence: 1, OutboxID: 987654, IssuedAt: 1_790_000_000}
	tr := Tracking{Click: func(dest string) string {
		if strings.HasPrefix(dest, "https://t.test/") {
			return ""
		}
		cc := c
		cc.Purpose, cc.URL = links.PurposeClick, dest
		return "https://t.test/c/" + signer.Sign(cc)
	}, Pixel: "https://t.test/o/abc"}
	for _, body := range []struct{ name, html string }{{"links", links10}, {"newsletter", newsletter}} {
		for _, path := range []struct {
			name  string
			track func(string, Tracking) (string, int, error)
		}{{"fast", TrackHTML}, {"tokenized", trackTokenized}} {
			b.Run(body.name+"/"+path.name, func(b *testing.B) {
				b.SetBytes(int64(len(body.html)))
				for b.Loop() {
					if _, _, err := path.track(body.html, tr); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
