package mailer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
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
// endings. The same Message always encodes to the same bytes.
func (m *Message) Bytes() ([]byte, error) {
	return m.AppendBytes(nil)
}

// AppendBytes appends the encoding Bytes returns to dst, so a sender can reuse
// one buffer across messages.
func (m *Message) AppendBytes(dst []byte) ([]byte, error) {
	out, _, _, err := m.appendBytes(dst)
	return out, err
}

// appendBytes is AppendBytes that also returns the envelope addresses, so
// Send parses each address once.
func (m *Message) appendBytes(dst []byte) (out []byte, envFrom, envTo string, err error) {
	buf := bytes.NewBuffer(dst)
	h := func(k, v string) {
		buf.WriteString(k)
		buf.WriteString(": ")
		buf.WriteString(v)
		buf.WriteString("\r\n")
	}
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return dst, "", "", fmt.Errorf("from %q: %w", m.From, err)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return dst, "", "", fmt.Errorf("recipient %q: %w", m.To, err)
	}
	h("From", from.String())
	h("To", to.String())
	if m.ReplyTo != "" {
		rt, err := mail.ParseAddress(m.ReplyTo)
		if err != nil {
			return dst, "", "", fmt.Errorf("reply-to %q: %w", m.ReplyTo, err)
		}
		h("Reply-To", rt.String())
	}
	buf.WriteString("Subject: ")
	writeSubject(buf, m.Subject)
	buf.WriteString("\r\n")
	h("Date", m.Date.UTC().Format(time.RFC1123Z))
	h("Message-ID", "<"+m.MessageID+">")
	h("MIME-Version", "1.0")
	if m.ListUnsubscribe != "" {
		h("List-Unsubscribe", "<"+m.ListUnsubscribe+">")
		h("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	}
	if len(m.Headers) > 0 {
		for _, k := range sortedKeys(m.Headers) {
			h(textproto.CanonicalMIMEHeaderKey(k), strings.Join(strings.Fields(m.Headers[k]), " "))
		}
	}
	// A boundary derived from the Message-ID keeps the bytes deterministic. The
	// parts are written as mime/multipart.Writer would write them (RFC 2046
	// §5.1.1), without its per-part header maps.
	sum := sha256.Sum256([]byte(m.MessageID))
	var bnd [2 + 24]byte
	bnd[0], bnd[1] = '=', '_'
	hex.Encode(bnd[2:], sum[:12])
	boundary := bnd[:]
	buf.WriteString("Content-Type: multipart/alternative; boundary=\"")
	buf.Write(boundary)
	buf.WriteString("\"\r\n\r\n")
	first := true
	for _, p := range [2]struct{ ctype, body string }{{"text/plain; charset=utf-8", m.Text}, {"text/html; charset=utf-8", m.HTML}} {
		if p.body == "" {
			continue
		}
		if !first {
			buf.WriteString("\r\n")
		}
		first = false
		buf.WriteString("--")
		buf.Write(boundary)
		buf.WriteString("\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: ")
		buf.WriteString(p.ctype)
		buf.WriteString("\r\n\r\n")
		qp := quotedprintable.NewWriter(buf)
		body := p.body
		if strings.Contains(body, "\r\n") {
			body = strings.ReplaceAll(body, "\r\n", "\n")
		}
		if _, err := io.WriteString(qp, body); err != nil {
			return dst, "", "", err
		}
		if err := qp.Close(); err != nil {
			return dst, "", "", err
		}
	}
	buf.WriteString("\r\n--")
	buf.Write(boundary)
	buf.WriteString("--\r\n")
	return buf.Bytes(), from.Address, to.Address, nil
}

// maxHeaderLine is the line length RFC 5322 §2.1.1 asks headers to keep to.
const maxHeaderLine = 78

// writeSubject writes the Subject header's value. It uses RFC 2047 Q-encoded
// words when the subject is not plain ASCII, when it contains "=?" (so that
// text which merely looks like an encoded word is shown as typed instead of
// being decoded by the client: "=?utf-8?q?Your_bank?=" must not display as
// "Your bank"), or when the header line would be longer than 78 characters;
// encoded words are folded onto continuation lines (RFC 2047 §2).
// Otherwise the subject is written as it is.
func writeSubject(buf *bytes.Buffer, s string) {
	if !subjectNeedsEncoding(s) {
		buf.WriteString(s)
		return
	}
	const overhead = len("=?utf-8?q?") + len("?=")
	lineLen := len("Subject: ")
	var word [maxEncodedWord]byte
	for first := true; len(s) > 0; first = false {
		// Each word fits its line: after "Subject: " on the first line, after
		// the folding space on the others.
		room := maxEncodedWord - overhead
		if first {
			room = maxHeaderLine - lineLen - overhead
		}
		w, n := qWord(word[:0], s, room)
		s = s[n:]
		if !first {
			if lineLen+1+len(w) > maxHeaderLine {
				buf.WriteString("\r\n")
				lineLen = 0
			}
			buf.WriteByte(' ')
			lineLen++
		}
		buf.Write(w)
		lineLen += len(w)
	}
}

func subjectNeedsEncoding(s string) bool {
	if len("Subject: ")+len(s) > maxHeaderLine || strings.Contains(s, "=?") {
		return true
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < ' ' || s[i] > '~') && s[i] != '\t' {
			return true
		}
	}
	return false
}

// maxEncodedWord is RFC 2047 §2's limit on one encoded word.
const maxEncodedWord = 75

// qWord appends one "=?utf-8?q?...?=" word holding as much of the start of s
// as fits in room encoded characters without splitting a UTF-8 sequence (RFC
// 2047 §5.3), and returns how many bytes of s it took. The encoding is the one
// mime.QEncoding uses, so short subjects it already encoded do not change.
func qWord(dst []byte, s string, room int) ([]byte, int) {
	const open, close = "=?utf-8?q?", "?="
	const upperhex = "0123456789ABCDEF"
	dst = append(dst, open...)
	used, i := 0, 0
	for i < len(s) {
		b := s[i]
		runeLen, encLen := 1, 1
		if !(b >= ' ' && b <= '~' && b != '=' && b != '?' && b != '_') {
			_, runeLen = utf8.DecodeRuneInString(s[i:])
			encLen = 3 * runeLen
		}
		if used+encLen > room && used > 0 {
			break
		}
		for _, c := range []byte(s[i : i+runeLen]) {
			switch {
			case c == ' ':
				dst = append(dst, '_')
			case c >= '!' && c <= '~' && c != '=' && c != '?' && c != '_':
				dst = append(dst, c)
			default:
				dst = append(dst, '=', upperhex[c>>4], upperhex[c&0x0f])
			}
		}
		used += encLen
		i += runeLen
	}
	return append(dst, close...), i
}

// ValidateAddress checks that addr is one bare mailbox ("user@example.com",
// no display name, no angle brackets) usable as an SMTP recipient, and returns
// it trimmed and lower-cased. The domain must contain a dot or be an address
// literal ("[192.0.2.1]"); RFC 5321 §4.5.3.1.3 limits a path to 256 octets,
// which leaves 254 for the address.
func ValidateAddress(addr string) (string, error) {
	a := strings.TrimSpace(addr)
	switch {
	case a == "":
		return "", fmt.Errorf("address is empty")
	case len(a) > 254:
		return "", fmt.Errorf("address %.40q… is %d characters, more than 254", a, len(a))
	case strings.ContainsAny(a, "\r\n"):
		return "", fmt.Errorf("address %q contains a line break", a)
	case strings.Count(a, "@") != 1:
		return "", fmt.Errorf("address %q must contain exactly one @", a)
	case strings.ContainsAny(a, "<>"):
		return "", fmt.Errorf("address %q must be bare, without angle brackets or a display name", a)
	}
	p, err := mail.ParseAddress(a)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", a, err)
	}
	if p.Name != "" || p.Address != a {
		return "", fmt.Errorf("address %q must be a bare mailbox such as user@example.com", a)
	}
	local, domain, _ := strings.Cut(a, "@")
	if local == "" || domain == "" {
		return "", fmt.Errorf("address %q has an empty local part or domain", a)
	}
	if !(strings.HasPrefix(domain, "[") && strings.HasSuffix(domain, "]")) {
		if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
			return "", fmt.Errorf("address %q: domain %q is not a fully qualified name", a, domain)
		}
	}
	for i := 0; i < len(a); i++ {
		if a[i] < ' ' || a[i] == 0x7f {
			return "", fmt.Errorf("address %q contains a control character", a)
		}
	}
	return strings.ToLower(a), nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
