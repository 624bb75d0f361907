package mailer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// bytesBefore is the encoder Message.Bytes used before AppendBytes, kept as
// the oracle that the hand-written multipart output matches byte for byte.
func bytesBefore(m *Message) []byte {
	var buf bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	from, _ := mail.ParseAddress(m.From)
	to, _ := mail.ParseAddress(m.To)
	h("From", from.String())
	h("To", to.String())
	if m.ReplyTo != "" {
		rt, _ := mail.ParseAddress(m.ReplyTo)
		h("Reply-To", rt.String())
	}
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", m.Date.UTC().Format(time.RFC1123Z))
	h("Message-ID", "<"+m.MessageID+">")
	h("MIME-Version", "1.0")
	if m.ListUnsubscribe != "" {
		h("List-Unsubscribe", "<"+m.ListUnsubscribe+">")
		h("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	}
	for _, k := range sortedKeys(m.Headers) {
		h(textproto.CanonicalMIMEHeaderKey(k), strings.Join(strings.Fields(m.Headers[k]), " "))
	}
	mw := multipart.NewWriter(&buf)
	sum := sha256.Sum256([]byte(m.MessageID))
	_ = mw.SetBoundary("=_" + hex.EncodeToString(sum[:12]))
	h("Content-Type", "multipart/alternative; boundary=\""+mw.Boundary()+"\"")
	buf.WriteString("\r\n")
	for _, p := range []struct{ ctype, body string }{{"text/plain; charset=utf-8", m.Text}, {"text/html; charset=utf-8", m.HTML}} {
		if p.body == "" {
			continue
		}
		pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {p.ctype}, "Content-Transfer-Encoding": {"quoted-printable"}})
		qp := quotedprintable.NewWriter(pw)
		qp.Write([]byte(strings.ReplaceAll(p.body, "\r\n", "\n")))
		qp.Close()
	}
	mw.Close()
	return buf.Bytes()
}

func TestAppendBytesMatchesPreviousEncoder(t *testing.T) {
	base := Message{
		From: "Acme <news@acme.example>", To: "Zoë <zoe@example.com>", ReplyTo: "sales@acme.example",
		MessageID: "abc@acme.example", Date: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC),
		ListUnsubscribe: "https://x.example/u", Headers: map[string]string{"x-campaign": "spring\n sale", "X-Step": "2"},
	}
	for i, mod := range []func(m *Message){
		func(m *Message) { m.Subject, m.Text, m.HTML = "Hello", "Hi\r\nthere", "<p>Hi</p>" },
		func(m *Message) { m.Subject, m.Text = "Back in stock — 20% off", strings.Repeat("long line é ", 40) },
		func(m *Message) { m.Subject, m.HTML = "only html", "<p>"+strings.Repeat("x", 200)+"</p>" },
		func(m *Message) { m.Subject = "empty body" },
		func(m *Message) { m.Subject, m.Text, m.Headers, m.ReplyTo = "Ünïcode", ".dot\n", nil, "" },
	} {
		m := base
		mod(&m)
		got, err := m.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if want := bytesBefore(&m); !bytes.Equal(got, want) {
			t.Errorf("case %d differs:\n got %q\nwant %q", i, got, want)
		}
		prefix := []byte("keep")
		appended, _ := m.AppendBytes(prefix)
		if !bytes.Equal(appended, append([]byte("keep"), got...)) {
			t.Errorf("case %d: AppendBytes does not append to dst", i)
		}
	}
}

func TestSubjectEncoding(t *testing.T) {
	long := strings.Repeat("Spring sale ", 10)
	tests := []struct {
		subject string
		encoded bool
	}{
		{"Plain subject", false},
		{"=?utf-8?q?Your_bank?=", true},
		{"price =? maybe", true},
		{"Zoë", true},
		{strings.TrimSpace(long), true},
		{"a?=b", false},
		{strings.Repeat("ü", 40), true},
		{strings.TrimSpace(strings.Repeat("日本語 ", 20)), true},
	}
	for _, tt := range tests {
		m := &Message{From: "a@example.com", To: "b@example.com", Subject: tt.subject, Text: "x", MessageID: "id@example.com"}
		raw, err := m.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		header := msg.Header.Get("Subject")
		if isEncoded := strings.HasPrefix(header, "=?utf-8?q?"); isEncoded != tt.encoded {
			t.Errorf("subject %q written as %q; encoded=%v, want %v", tt.subject, header, isEncoded, tt.encoded)
		}
		// What a mail client shows is exactly what was rendered.
		shown, err := new(mime.WordDecoder).DecodeHeader(header)
		if err != nil || shown != tt.subject {
			t.Errorf("subject %q decodes to %q (%v)", tt.subject, shown, err)
		}
		head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
		for _, line := range strings.Split(string(head), "\r\n") {
			if strings.HasPrefix(line, "Subject:") || strings.HasPrefix(line, " ") {
				if len(line) > 78 {
					t.Errorf("subject line %q is %d long", line, len(line))
				}
			}
		}
	}
}

func TestQWordMatchesMimeQEncoding(t *testing.T) {
	// Subjects short enough for mime to write on one line of 78.
	for _, s := range []string{"Zoë", "Back in stock — 20% off", strings.Repeat("ü", 9), "a_b=c?d\te", "日本語 日本語"} {
		var b bytes.Buffer
		writeSubject(&b, s)
		want := mime.QEncoding.Encode("utf-8", s)
		if got := strings.ReplaceAll(b.String(), "\r\n", ""); got != want {
			t.Errorf("%q:\n got %q\nwant %q", s, got, want)
		}
	}
}

func TestValidateAddress(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"user@example.com", "user@example.com", true},
		{"  User.Name+tag@Example.COM ", "user.name+tag@example.com", true},
		{"user@[192.0.2.1]", "user@[192.0.2.1]", true},
		{"o'brien@example.ie", "o'brien@example.ie", true},
		{"", "", false},
		{"user", "", false},
		{"user@localhost", "", false},
		{"a@b@example.com", "", false},
		{"Zoë <zoe@example.com>", "", false},
		{"<zoe@example.com>", "", false},
		{"user@example.com\r\nBcc: x@example.com", "", false},
		{"user@example.com, other@example.com", "", false},
		{"us er@example.com", "", false},
		{"user@.example.com", "", false},
		{"user@example.com.", "", false},
		{"user@exa..mple.com", "", false},
		{"@example.com", "", false},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", "", false},
		{strings.Repeat("a", 60) + "@" + strings.Repeat("b", 186) + ".com", strings.Repeat("a", 60) + "@" + strings.Repeat("b", 186) + ".com", true},
	}
	for _, tt := range tests {
		got, err := ValidateAddress(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ValidateAddress(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzValidateAddress(f *testing.F) {
	f.Add("user@example.com")
	f.Add("a\"b\"@[::1]")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ValidateAddress(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(n, "\r\n<> ") && !strings.Contains(n, "\"") || len(n) > 254 || strings.Count(n, "@") != 1 {
			t.Fatalf("accepted %q as %q", s, n)
		}
		if again, err := ValidateAddress(n); err != nil || again != n {
			t.Fatalf("normalized %q does not validate to itself: %q, %v", n, again, err)
		}
	})
}

func BenchmarkMessageAppendBytes(b *testing.B) {
	m := testMessage("bench@example.com", 0)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = m.AppendBytes(buf[:0])
		if err != nil {
			b.Fatal(err)
		}
	}
}
