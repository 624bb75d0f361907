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
	"sort"
	"strings"
	"time"
)

// Message is one email ready to send.
type Message struct {
	From    string // RFC 5322 address, may include a display name
	ReplyTo string
	To      string
	Subject string
	HTML    string
	Text    string
	// MessageID without angle brackets.
	MessageID string
	Date      time.Time
	// ListUnsubscribe is the https URL of the unsubscribe link, if any; with it the
	// message carries List-Unsubscribe and List-Unsubscribe-Post (RFC 8058).
	ListUnsubscribe string
	// Headers are extra headers (X-Campaign, …).
	Headers map[string]string
}

// MessageID derives a stable Message-ID from what identifies one send.
func MessageID(campaign, step, contactKey, from string) string {
	sum := sha256.Sum256([]byte(campaign + "\x00" + step + "\x00" + contactKey))
	domain := "campaignctl.invalid"
	if a, err := mail.ParseAddress(from); err == nil {
		if i := strings.LastIndex(a.Address, "@"); i >= 0 {
			domain = a.Address[i+1:]
		}
	}
	return hex.EncodeToString(sum[:16]) + "@" + domain
}

// Envelope returns the bare addresses for SMTP MAIL FROM and RCPT TO.
func (m *Message) Envelope() (from, to string, err error) {
	f, err := mail.ParseAddress(m.From)
	if err != nil {
		return "", "", fmt.Errorf("from %q: %w", m.From, err)
	}
	t, err := mail.ParseAddress(m.To)
	if err != nil {
		return "", "", fmt.Errorf("recipient %q: %w", m.To, err)
	}
	return f.Address, t.Address, nil
}

// Bytes encodes the message as RFC 5322 with a multipart/alternative body (text
// first, then HTML, so clients prefer HTML), quoted-printable parts and CRLF line
// endings.
func (m *Message) Bytes() ([]byte, error) {
	var buf bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("from %q: %w", m.From, err)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("recipient %q: %w", m.To, err)
	}
	h("From", from.String())
	h("To", to.String())
	if m.ReplyTo != "" {
		rt, err := mail.ParseAddress(m.ReplyTo)
		if err != nil {
			return nil, fmt.Errorf("reply-to %q: %w", m.ReplyTo, err)
		}
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
	// A boundary derived from the Message-ID keeps the bytes deterministic.
	sum := sha256.Sum256([]byte(m.MessageID))
	if err := mw.SetBoundary("=_" + hex.EncodeToString(sum[:12])); err != nil {
		return nil, err
	}
	h("Content-Type", "multipart/alternative; boundary=\""+mw.Boundary()+"\"")
	buf.WriteString("\r\n")
	parts := []struct{ ctype, body string }{{"text/plain; charset=utf-8", m.Text}, {"text/html; charset=utf-8", m.HTML}}
	for _, p := range parts {
		if p.body == "" {
			continue
		}
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := qp.Write([]byte(strings.ReplaceAll(p.body, "\r\n", "\n"))); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
