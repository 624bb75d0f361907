package mailer

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

func TestRenderEscapesContactDataInHTMLOnly(t *testing.T) {
	tpl := &plan.Template{
		Name:    "t",
		Subject: "Hi {{ .lead.name | default \"there\" }}",
		HTML:    `<p>Hi {{ .lead.name }}</p><a href="{{ .unsubscribe_url }}">u</a>`,
		Text:    "Hi {{ .lead.name }}",
	}
	out, err := Render(tpl, map[string]any{
		"lead":            map[string]any{"name": "<script>x</script>\r\nBcc: evil@example.com"},
		"unsubscribe_url": "https://mail.example.com/u/abc",
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.HTML, "<script>") {
		t.Errorf("html not escaped: %s", out.HTML)
	}
	if strings.ContainsAny(out.Subject, "\r\n") {
		t.Errorf("subject keeps a line break, allowing header injection: %q", out.Subject)
	}
	if !strings.Contains(out.Text, "<script>") {
		t.Errorf("text part must carry the value verbatim: %q", out.Text)
	}
}

func TestRenderDefaultForMissingAndEmpty(t *testing.T) {
	tpl := &plan.Template{Name: "t", Subject: `{{ .lead.name | default "friend" }}`}
	for _, data := range []map[string]any{
		{"lead": map[string]any{}},
		{"lead": map[string]any{"name": "  "}},
	} {
		out, err := Render(tpl, data)
		if err != nil {
			t.Fatal(err)
		}
		if out.Subject != "friend" {
			t.Errorf("subject %q, want the fallback", out.Subject)
		}
	}
}

func TestMessageBytesParseBack(t *testing.T) {
	m := &Message{
		From: "Acme <news@acme.example>", ReplyTo: "sales@acme.example", To: "Zoë Müller <zoe@example.com>",
		Subject: "Back in stock — 20% off", HTML: "<p>Héllo</p>", Text: "Héllo",
		MessageID: MessageID(7, "c", "", "42", "news@acme.example"), Date: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC),
		ListUnsubscribe: "https://mail.example.com/u/tok",
	}
	raw, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := m.Bytes()
	if !bytes.Equal(raw, again) {
		t.Fatal("encoding is not deterministic")
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	if subj != m.Subject {
		t.Errorf("subject %q", subj)
	}
	if got := msg.Header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post %q", got)
	}
	if got := msg.Header.Get("Message-Id"); got != "<"+m.MessageID+">" {
		t.Errorf("Message-ID %q", got)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var bodies []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p) // multipart decodes quoted-printable
		bodies = append(bodies, p.Header.Get("Content-Type")+"|"+string(b))
	}
	want := []string{"text/plain; charset=utf-8|Héllo", "text/html; charset=utf-8|<p>Héllo</p>"}
	if strings.Join(bodies, "\n") != strings.Join(want, "\n") {
		t.Fatalf("parts:\n%s", strings.Join(bodies, "\n"))
	}
}

func TestMessageIDStablePerSend(t *testing.T) {
	a := MessageID(41, "c", "s", "1", "news@acme.example")
	if a != MessageID(41, "c", "s", "1", "Other <news@acme.example>") {
		t.Error("same send, different Message-ID")
	}
	if a == MessageID(42, "c", "s", "2", "news@acme.example") {
		t.Error("different contacts share a Message-ID")
	}
	// The hash of object, step and contact, then the row's id, in the
	// sender's domain: what store.SentMessageByMessageID reads back.
	if !regexp.MustCompile(`^[0-9a-f]{32}\.41@acme\.example$`).MatchString(a) {
		t.Errorf("Message-ID %q is not <32 hex>.<row id>@<sender's domain>", a)
	}
	if _, err := mail.ParseAddress("<" + a + ">"); err != nil {
		t.Errorf("Message-ID %q does not parse as an addr-spec: %v", a, err)
	}
}
