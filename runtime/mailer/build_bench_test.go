package mailer

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// benchTemplate is a typical ~5 KB marketing email: an HTML layout with
// attributes (each '=' is quoted-printable encoded), indentation, a few
// non-ASCII characters and long lines, plus a plain-text alternative.
func benchTemplate() *plan.Template {
	var html strings.Builder
	html.WriteString(`<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{{ .campaign }}</title>
</head>
<body style="margin:0;padding:0;background:#f4f4f4;font-family:Helvetica,Arial,sans-serif;">
  <table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">
    <tr><td align="center" style="padding:24px 0;">
      <p style="font-size:18px;color:#222;">Hi {{ .lead.name | default "there" }},</p>
`)
	for i := range 8 {
		fmt.Fprintf(&html, `      <tr><td style="padding:12px 24px;font-size:15px;line-height:22px;color:#333;">Product %d — our spring collection is here, with prices from 19,90 € and free shipping on orders over 50 €. Don’t miss it: the offer ends on Sunday.</td></tr>
      <tr><td><a href="https://shop.example.com/p/%d?utm_source=email&utm_campaign={{ .campaign }}" style="color:#0a66c2;">See product %d</a></td></tr>
`, i, i, i)
	}
	html.WriteString(`    </td></tr>
  </table>
  <p style="font-size:12px;color:#888;">You receive this because you subscribed as {{ .lead.email }}. <a href="{{ .unsubscribe_url }}">Unsubscribe</a></p>
</body>
</html>
`)
	var text strings.Builder
	text.WriteString("Hi {{ .lead.name | default \"there\" }},\n\n")
	for i := range 8 {
		fmt.Fprintf(&text, "Product %d — our spring collection is here, with prices from 19,90 € and free shipping on orders over 50 €. Don’t miss it: the offer ends on Sunday.\nhttps://shop.example.com/p/%d?utm_source=email&utm_campaign={{ .campaign }}\n\n", i, i)
	}
	text.WriteString("Unsubscribe: {{ .unsubscribe_url }}\n")
	return &plan.Template{
		Name:    "spring",
		Subject: "{{ .lead.name | default \"Friend\" }}, our spring sale — up to 40% off",
		HTML:    html.String(),
		Text:    text.String(),
	}
}

func benchData(i int) map[string]any {
	return map[string]any{
		"lead":            map[string]any{"name": "Zoë Müller", "email": fmt.Sprintf("zoe%d@example.com", i)},
		"unsubscribe_url": fmt.Sprintf("https://mail.acme.example/u/%d-4f3c2a1b9e8d7c6b5a49", i),
		"campaign":        "spring-sale",
	}
}

func benchMessage(r Rendered, i int) *Message {
	return &Message{
		From:            "Acme News <news@acme.example>",
		ReplyTo:         "support@acme.example",
		To:              fmt.Sprintf("\"Zoë Müller\" <zoe%d@example.com>", i),
		Subject:         r.Subject,
		HTML:            r.HTML,
		Text:            r.Text,
		MessageID:       MessageID(int64(i+1), "spring-sale", "1", fmt.Sprint(i), "news@acme.example"),
		Date:            time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC),
		ListUnsubscribe: fmt.Sprintf("https://mail.acme.example/u/%d-4f3c2a1b9e8d7c6b5a49", i),
		Headers:         map[string]string{"X-Campaignctl-Campaign": "spring-sale"},
	}
}

// benchRendered renders the ~5 KB template for contact 1.
func benchRendered(b *testing.B) Rendered {
	b.Helper()
	c, err := Compile(benchTemplate())
	if err != nil {
		b.Fatal(err)
	}
	r, err := c.Render(benchData(1))
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// benchEncoded is benchRendered's message, encoded.
func benchEncoded(b *testing.B) []byte {
	b.Helper()
	raw, err := benchMessage(benchRendered(b), 1).Bytes()
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkRender5KB is Compiled.Render of the ~5 KB template.
func BenchmarkRender5KB(b *testing.B) {
	c, err := Compile(benchTemplate())
	if err != nil {
		b.Fatal(err)
	}
	data := benchData(1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Render(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendBytes5KB encodes the rendered ~5 KB message into a reused
// buffer, as SMTP.Send does.
func BenchmarkAppendBytes5KB(b *testing.B) {
	r := benchRendered(b)
	m := benchMessage(r, 1)
	var buf []byte
	var err error
	b.SetBytes(int64(len(r.HTML) + len(r.Text)))
	b.ReportAllocs()
	for b.Loop() {
		buf, err = m.AppendBytes(buf[:0])
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuild5KB is the whole per-message build: render, then encode.
func BenchmarkBuild5KB(b *testing.B) {
	c, err := Compile(benchTemplate())
	if err != nil {
		b.Fatal(err)
	}
	data := benchData(1)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		r, err := c.Render(data)
		if err != nil {
			b.Fatal(err)
		}
		m := benchMessage(r, 1)
		buf, err = m.AppendBytes(buf[:0])
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDotStuff5KB frames the encoded ~5 KB message as DATA content, as
// each message handed to the relay is.
func BenchmarkDotStuff5KB(b *testing.B) {
	msg := benchEncoded(b)
	var buf []byte
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		buf = appendDotStuffed(buf[:0], msg)
	}
}
