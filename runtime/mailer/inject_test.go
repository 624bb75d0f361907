package mailer

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// injectTemplate puts contact fields everywhere a template can: the subject,
// the text, HTML text, an HTML attribute and a link.
var injectTemplate = &plan.Template{
	Name:    "inject",
	Subject: "Hi {{ .c.name }} from {{ .c.company }}",
	Text:    "Dear {{ .c.name }} of {{ .c.company }}\nUnsubscribe: {{ .unsubscribe_url }}",
	HTML:    `<p title="{{ .c.name }}">Dear {{ .c.name }}</p><a href="{{ .c.url }}">site</a><a href="{{ .unsubscribe_url }}">unsubscribe</a>`,
}

// composeInjected renders injectTemplate for a contact and builds the message
// the way the engine does (the display name from the contact's name).
func composeInjected(t testing.TB, c *Compiled, name, company, url string) ([]byte, error) {
	out, err := c.Render(map[string]any{
		"c":               map[string]any{"name": name, "company": company, "url": url},
		"unsubscribe_url": "https://mail.example/u/tok",
	})
	if err != nil {
		return nil, err
	}
	m := &Message{
		From: "Acme <news@acme.example>", To: (&mail.Address{Name: name, Address: "a@example.com"}).String(),
		Subject: out.Subject, Text: out.Text, HTML: out.HTML,
		MessageID: "id@acme.example", Date: time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC),
		ListUnsubscribe: "https://mail.example/u/tok", Headers: map[string]string{"X-Campaignctl-Campaign": "c"},
	}
	return m.Bytes()
}

// FuzzContactFieldsAreInert: whatever a contact's fields hold (CR, LF, header
// lines, HTML, quotes, javascript: URLs, non-UTF-8), the message keeps exactly
// its own headers, one recipient, a one-line subject, and HTML the contact
// cannot add markup to.
func FuzzContactFieldsAreInert(f *testing.F) {
	c, err := Compile(injectTemplate)
	if err != nil {
		f.Fatal(err)
	}
	clean, err := composeInjected(f, c, "Ann", "Acme", "https://acme.example/")
	if err != nil {
		f.Fatal(err)
	}
	wantKeys := headerKeys(f, clean)
	for _, s := range [][3]string{
		{"Ann\r\nBcc: evil@example.com", "Acme\nX-Evil: 1", "javascript:alert(1)"},
		{"<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`, `https://x.example/"onmouseover="alert(1)`},
		{"=?utf-8?q?Bcc=3A_x?=", "\r\n\r\n<html>", "data:text/html,<script>alert(1)</script>"},
		{"Ann <evil@example.com>, Bob", "Acme\x00\x7f\xff", "\r\nhttps://ok.example"},
		{strings.Repeat("é", 200), ".\r\n.", "vbscript:x"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, name, company, url string) {
		raw, err := composeInjected(t, c, name, company, url)
		if err != nil {
			return // refused, not sent: inert
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("the message does not parse: %v\n%q", err, raw)
		}
		if got := headerKeys(t, raw); !slices.Equal(got, wantKeys) {
			t.Fatalf("headers changed: %v, want %v\n%q", got, wantKeys, raw)
		}
		to, err := mail.ParseAddressList(msg.Header.Get("To"))
		if err != nil || len(to) != 1 || to[0].Address != "a@example.com" {
			t.Fatalf("To: %q parses as %v (%v); want only a@example.com", msg.Header.Get("To"), to, err)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err == nil && strings.ContainsAny(subject, "\r\n") {
			t.Fatalf("the subject decodes to several lines: %q", subject)
		}
		html := htmlPart(t, msg)
		// The contact adds no element, attribute or scheme of its own: a
		// browser's tokenizer sees the template's tags and attributes only.
		if got := markup(html); got != "p[title] a[href] a[href]" {
			t.Fatalf("the HTML's markup is %q, want the template's own: a contact field added markup\n%s", got, html)
		}
		low := strings.ToLower(html)
		for _, bad := range []string{`href="javascript:`, `href="vbscript:`, `href="data:`} {
			if strings.Contains(low, bad) {
				t.Fatalf("a contact's URL kept a dangerous scheme (%s)\n%s", bad, html)
			}
		}
	})
}

// markup lists the start tags of an HTML fragment with their attribute
// names, as a browser's tokenizer reads them.
func markup(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var out []string
	for {
		switch z.Next() {
		case html.ErrorToken:
			return strings.Join(out, " ")
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			var attrs []string
			for _, a := range tok.Attr {
				attrs = append(attrs, a.Key)
			}
			out = append(out, tok.Data+"["+strings.Join(attrs, ",")+"]")
		}
	}
}

func headerKeys(t testing.TB, raw []byte) []string {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	var keys []string
	for k, v := range msg.Header {
		for range v {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// htmlPart returns the decoded text/html part of a multipart/alternative
// message.
func htmlPart(t *testing.T, msg *mail.Message) string {
	t.Helper()
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			t.Fatal("no text/html part")
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		if !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			continue
		}
		var r io.Reader = p
		if p.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			r = quotedprintable.NewReader(p) // multipart.Part decodes it itself when it can
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("html part: %v", err)
		}
		return string(b)
	}
}

// Templates run with Go's built-in template functions (which read no file
// and fetch nothing) and the ones in Funcs: a function added there that
// reaches outside the message must be looked at, so the list is pinned.
func TestTemplateFunctionsReachNothingOutside(t *testing.T) {
	var names []string
	for name := range Funcs {
		names = append(names, name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"default"}) {
		t.Fatalf("template functions are %v; a new one must not read files, fetch URLs or reach the database at send time: check it, then update this list", names)
	}
	// The parser knows no other name: a template calling one is refused.
	if _, err := Compile(&plan.Template{Name: "x", Subject: "s", Text: `{{ readFile "/etc/passwd" }}`}); err == nil {
		t.Fatal("a template calling an undefined function compiled")
	}
}
