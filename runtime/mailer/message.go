package mailer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"net/textproto"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Message is one email ready to send.
type Message struct {
	From    string // RFC 5322 address, may include a display name
	ReplyTo string
	// ReturnPath, if set, is the envelope sender (MAIL FROM) instead of From's
	// address: a VERP address that brings bounces back to the inbound listener.
	ReturnPath string
	// To is the recipient: a bare address, or an RFC 5322 address with a
	// display name.
	To string
	// ToName, if set, is the recipient's display name, and To a bare address:
	// the sender does not format a name-addr that the message then parses
	// back.
	ToName  string
	Subject string
	HTML    string
	Text    string
	// MessageID without angle brackets.
	MessageID string
	Date      time.Time
	// ListUnsubscribe is the https URL of the unsubscribe link, if any; with it the
	// message carries List-Unsubscribe and List-Unsubscribe-Post (RFC 8058).
	ListUnsubscribe string
	// ListUnsubscribeMailto is the address of List-Unsubscribe's mailto:
	// (Gmail's and Yahoo's bulk-sender rules want both), or "".
	ListUnsubscribeMailto string
	// Headers are extra headers (X-Campaign, …).
	Headers map[string]string
	// HandOff, if set, says whether the message may still be handed to the
	// relay: Send and SendBatch ask it before they write the message's
	// envelope and again before its body and final dot, and do not send a
	// message it refuses (ErrHandOffLate). The engine answers from the
	// claim's lease as renewals extend it, so a relay that turns slow in the
	// middle of a batch while renewals fail cannot make it hand over a row
	// whose lease another replica may take.
	HandOff func() bool
	// Reserve, if set, is asked before the message's envelope is written
	// (before HandOff): the engine takes the message's place in its in-flight
	// window there, so the window counts only messages on their way to the
	// relay, not those still waiting in a batch. With wait false the
	// envelope would ride behind another message's body, so Reserve must not
	// block; false then means "not now": the earlier body goes alone and
	// Reserve is asked again, with wait true, once the relay has answered
	// it and nothing of this connection is in flight. With wait true it may
	// block; false means the message is not sent at all (ErrNotReserved).
	// It must answer true at once for a message it already reserved (a batch
	// retried on a fresh connection asks again).
	Reserve func(wait bool) bool
	// Done, if set, is called once with the message's result (what Send's
	// error, or SendBatch's errs entry, will be) as soon as it is known,
	// before Send or SendBatch returns and on the goroutine that called it
	// (as Reserve and HandOff are): the engine hands each outcome to its
	// ledger the moment the relay answers, not at the end of the batch.
	Done func(err error)
}

// MessageID derives a stable Message-ID from what identifies one send: a hash
// of the object, step and contact, then the outbox row's id, in the sender's
// domain ("<32 hex digits>.<id>@<domain>"). A retry of the row carries the
// same one. The id lets the inbound listener find the message a reply or a
// complaint refers to by the outbox's primary key (store.SentMessageByMessageID)
// instead of an index of every Message-ID sent, which each sent message added
// an entry to; the hash keeps another row's Message-ID unguessable from one's
// own. Message-IDs sent before 2026-12-05 are the hash alone.
func MessageID(id int64, campaign, step, contactKey, from string) string {
	sum := sha256.Sum256([]byte(campaign + "\x00" + step + "\x00" + contactKey))
	domain := "campaignctl.invalid"
	if a, err := parseAddressCached(from); err == nil {
		if i := strings.LastIndex(a.address, "@"); i >= 0 {
			domain = a.address[i+1:]
		}
	}
	return hex.EncodeToString(sum[:16]) + "." + strconv.FormatInt(id, 10) + "@" + domain
}

// Envelope returns the bare addresses for SMTP MAIL FROM and RCPT TO.
func (m *Message) Envelope() (from, to string, err error) {
	f, err := mail.ParseAddress(m.From)
	if err != nil {
		return "", "", fmt.Errorf("from %q: %w", m.From, err)
	}
	t, err := m.recipient()
	if err != nil {
		return "", "", err
	}
	if m.ReturnPath != "" {
		return m.ReturnPath, t.Address, nil
	}
	return f.Address, t.Address, nil
}

// recipient is To (with ToName) as an address. A bare address made of the
// characters almost every address uses is taken as it is; anything else goes
// through net/mail's parser.
func (m *Message) recipient() (*mail.Address, error) {
	if plainAddrSpec(m.To) {
		return &mail.Address{Name: m.ToName, Address: m.To}, nil
	}
	a, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("recipient %q: %w", m.To, err)
	}
	if m.ToName != "" {
		a.Name = m.ToName
	}
	return a, nil
}

// plainAddrSpec reports whether s is local@domain with a local part of
// dot-separated runs of RFC 5322 atext and a domain of dot-separated labels
// of letters, digits and hyphens: an address net/mail.ParseAddress accepts as
// it is (Address == s, no name), checked without the parser, which the send
// path paid three times a message (FuzzPlainAddrSpec holds it to the parser).
func plainAddrSpec(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return false
	}
	return dotRuns(s[:at], &atext) && dotRuns(s[at+1:], &domainText)
}

// dotRuns reports whether s is non-empty runs of allowed bytes separated by
// single dots.
func dotRuns(s string, allowed *[256]bool) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if run == 0 {
				return false
			}
			run = 0
		case allowed[c]:
			run++
		default:
			return false
		}
	}
	return run > 0
}

var atext, domainText = func() (a, d [256]bool) {
	for c := 0; c < 256; c++ {
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		a[c] = alnum || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", byte(c)) >= 0
		d[c] = alnum || c == '-'
	}
	return a, d
}()

// Bytes encodes the message as RFC 5322 with a multipart/alternative body (text
// first, then HTML, so clients prefer HTML), 7bit parts where the text allows
// (see append7bit) and quoted-printable ones elsewhere, and CRLF line endings.
// The same Message always encodes to the same bytes.
func (m *Message) Bytes() ([]byte, error) {
	return m.AppendBytes(nil)
}

// AppendBytes appends the encoding Bytes returns to dst, so a sender can reuse
// one buffer across messages.
func (m *Message) AppendBytes(dst []byte) ([]byte, error) {
	out, _, _, _, err := m.appendBytes(dst)
	return out, err
}

// appendBytes is AppendBytes that also returns the envelope addresses, so
// Send parses each address once, and whether what it appended is already SMTP
// DATA content but for the terminator (dataReady: every line ends in CRLF,
// there is no other CR or LF, and no line starts with a dot), so Send can skip
// appendDotStuffed's pass and copy.
func (m *Message) appendBytes(dst []byte) (out []byte, envFrom, envTo string, dataReady bool, err error) {
	from, err := parseAddressCached(m.From)
	if err != nil {
		return dst, "", "", false, fmt.Errorf("from %q: %w", m.From, err)
	}
	to, err := m.recipient()
	if err != nil {
		return dst, "", "", false, err
	}
	if to.Address, err = aLabelDomain(to.Address); err != nil {
		return dst, "", "", false, fmt.Errorf("recipient %q: %w", m.To, err)
	}
	var replyTo parsedAddress
	if m.ReplyTo != "" {
		if replyTo, err = parseAddressCached(m.ReplyTo); err != nil {
			return dst, "", "", false, fmt.Errorf("reply-to %q: %w", m.ReplyTo, err)
		}
	}
	// A contact's name with a line break ("Eve\r\nBcc: …") is written as an
	// encoded word, so it cannot inject a header; but decoded it is a display
	// name with CR/LF, which strict parsers (Python's email.policy.strict)
	// reject. Control characters become spaces.
	to.Name = displayName(to.Name)
	toStr := to.String()
	out = slices.Grow(dst, m.encodedSizeHint(len(from.formatted)+len(toStr)+len(replyTo.formatted)))
	out = appendHeader(out, "From", from.formatted)
	out = appendHeader(out, "To", toStr)
	if m.ReplyTo != "" {
		out = appendHeader(out, "Reply-To", replyTo.formatted)
	}
	out = append(out, "Subject: "...)
	out = appendSubject(out, m.Subject)
	out = append(out, "\r\nDate: "...)
	out = m.Date.UTC().AppendFormat(out, time.RFC1123Z)
	out = append(out, "\r\nMessage-ID: <"...)
	out = append(out, m.MessageID...)
	out = append(out, ">\r\nMIME-Version: 1.0\r\n"...)
	if m.ListUnsubscribe != "" {
		out = append(out, "List-Unsubscribe: <"...)
		out = append(out, m.ListUnsubscribe...)
		if m.ListUnsubscribeMailto != "" {
			out = append(out, ">, <mailto:"...)
			out = append(out, m.ListUnsubscribeMailto...)
		}
		out = append(out, ">\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"...)
	}
	switch len(m.Headers) {
	case 0:
	case 1:
		for k, v := range m.Headers {
			out = appendExtraHeader(out, k, v)
		}
	default:
		for _, k := range sortedKeys(m.Headers) {
			out = appendExtraHeader(out, k, m.Headers[k])
		}
	}
	// A boundary derived from the Message-ID keeps the bytes deterministic. The
	// parts are written as mime/multipart.Writer would write them (RFC 2046
	// §5.1.1), without its per-part header maps.
	var sum [sha256.Size]byte
	if idBuf := [128]byte{}; len(m.MessageID) <= len(idBuf) {
		// Hash through a stack copy: []byte(m.MessageID) allocates for
		// IDs longer than 32 bytes, which they all are.
		sum = sha256.Sum256(idBuf[:copy(idBuf[:], m.MessageID)])
	} else {
		sum = sha256.Sum256([]byte(m.MessageID))
	}
	var bnd [2 + 24]byte
	bnd[0], bnd[1] = '=', '_'
	hex.Encode(bnd[2:], sum[:12])
	boundary := bnd[:]
	out = append(out, "Content-Type: multipart/alternative; boundary=\""...)
	out = append(out, boundary...)
	out = append(out, "\"\r\n\r\n"...)
	// The headers are short; the parts' encoders say whether a line of
	// theirs starts with a dot.
	dataReady = dataSafe(out[len(dst):])
	first := true
	for _, p := range [2]struct{ ctype, body string }{{"text/plain; charset=utf-8", m.Text}, {"text/html; charset=utf-8", m.HTML}} {
		if p.body == "" {
			continue
		}
		if !first {
			out = append(out, "\r\n"...)
		}
		first = false
		out = append(out, "--"...)
		out = append(out, boundary...)
		// 7bit when the part allows it (see append7bit): the text as it is,
		// shorter and cheaper than quoted-printable. Otherwise the part is
		// written again from here, quoted-printable.
		start := len(out)
		out = append(out, "\r\nContent-Transfer-Encoding: 7bit\r\nContent-Type: "...)
		out = append(out, p.ctype...)
		out = append(out, "\r\n\r\n"...)
		var dot, ok bool
		if out, dot, ok = append7bit(out, p.body); !ok {
			out = append(out[:start], "\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: "...)
			out = append(out, p.ctype...)
			out = append(out, "\r\n\r\n"...)
			out, dot = appendQuotedPrintable(out, p.body)
		}
		dataReady = dataReady && !dot
	}
	out = append(out, "\r\n--"...)
	out = append(out, boundary...)
	out = append(out, "--\r\n"...)
	if m.ReturnPath != "" {
		return out, m.ReturnPath, to.Address, dataReady, nil
	}
	return out, from.address, to.Address, dataReady, nil
}

// encodedSizeHint estimates the encoded size of m, so appendBytes grows its
// buffer at most once. addrs is the length of the formatted address headers.
func (m *Message) encodedSizeHint(addrs int) int {
	n := 400 + addrs + 3*len(m.Subject) + len(m.MessageID) + len(m.ListUnsubscribe) + len(m.ListUnsubscribeMailto)
	for k, v := range m.Headers {
		n += len(k) + len(v) + 4
	}
	for _, body := range [2]string{m.Text, m.HTML} {
		// Soft line breaks every 76 characters plus some encoded bytes.
		n += len(body) + len(body)/16 + 3*(len(body)/73+1)
	}
	return n
}

func appendHeader(dst []byte, k, v string) []byte {
	dst = append(dst, k...)
	dst = append(dst, ": "...)
	dst = append(dst, v...)
	return append(dst, "\r\n"...)
}

// appendExtraHeader appends one of Message.Headers: the key in canonical form
// and the value with runs of white space collapsed to one space (as
// strings.Join(strings.Fields(v), " ") does, so a value cannot fold or inject
// a header).
func appendExtraHeader(dst []byte, k, v string) []byte {
	dst = append(dst, textproto.CanonicalMIMEHeaderKey(k)...)
	dst = append(dst, ": "...)
	if isOneLine(v) {
		dst = append(dst, v...)
	} else {
		for i, f := range strings.Fields(v) {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = append(dst, f...)
		}
	}
	return append(dst, "\r\n"...)
}

// isOneLine reports whether strings.Join(strings.Fields(s), " ") == s, for
// the common case of ASCII text; it is conservative (false) for non-ASCII.
func isOneLine(s string) bool {
	prevSpace := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80 || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
			return false
		case c == ' ':
			if prevSpace {
				return false
			}
			prevSpace = true
		default:
			prevSpace = false
		}
	}
	return !prevSpace || s == ""
}

// displayName returns name with control characters replaced by spaces and
// runs of white space collapsed, as a header's display name must read.
func displayName(name string) string {
	clean := true
	for i := 0; i < len(name); i++ {
		if name[i] < ' ' || name[i] == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return name
	}
	return strings.Join(strings.FieldsFunc(name, func(r rune) bool {
		return r < ' ' || r == 0x7f || r == ' '
	}), " ")
}

// parsedAddress is a parsed address header value: as written in the header
// (mail.Address.String) and the bare address for the SMTP envelope.
type parsedAddress struct {
	formatted, address string
}

// addrCache remembers the parsed From and Reply-To addresses: a deployment
// has a handful of senders, and parsing them for every message is waste. It
// holds at most maxCachedAddrs entries; others are parsed every time.
var (
	addrCache      sync.Map // string -> parsedAddress
	addrCacheLen   atomic.Int32
	maxCachedAddrs = int32(256)
)

// parseAddressCached is mail.ParseAddress, remembering successful results.
func parseAddressCached(s string) (parsedAddress, error) {
	if v, ok := addrCache.Load(s); ok {
		return v.(parsedAddress), nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return parsedAddress{}, err
	}
	if a.Address, err = aLabelDomain(a.Address); err != nil {
		return parsedAddress{}, err
	}
	p := parsedAddress{formatted: a.String(), address: a.Address}
	if addrCacheLen.Load() < maxCachedAddrs {
		if _, loaded := addrCache.LoadOrStore(s, p); !loaded {
			addrCacheLen.Add(1)
		}
	}
	return p, nil
}

// lineMaxLen is the longest quoted-printable line mime/quotedprintable writes,
// not counting the CRLF.
const qpLineMaxLen = 76

// qpLiteral marks the bytes quoted-printable writes as they are: printable
// ASCII except '=', and space and tab (encoded only before a line break).
var qpLiteral = func() (t [256]bool) {
	for b := '!'; b <= '~'; b++ {
		t[b] = b != '='
	}
	t[' '], t['\t'] = true, true
	return t
}()

// appendQuotedPrintable appends body quoted-printable encoded, byte for byte
// what mime/quotedprintable.Writer (not in binary mode) writes for
// strings.ReplaceAll(body, "\r\n", "\n") followed by Close:
//
//   - printable ASCII other than '=', space and tab are written as they are,
//     with a soft line break ("=\r\n") before one that would be the 76th
//     character of a line;
//   - other bytes are written as "=XX", with a soft line break first when the
//     three characters would not fit before the 76th column;
//   - "\n" and "\r" end the line with CRLF ("\r\n" counts once, as does "\r"
//     followed by "\n" even when encoded bytes come in between, as in the
//     stdlib), after encoding a space or tab that would end the line;
//   - at the end, a trailing space or tab is encoded the same way.
//
// The variable i is the Writer's column (the length of the unfinished line),
// cr its "last line break was \r" flag.
//
// dot reports whether a line of the output starts with '.' (which SMTP's DATA
// must then stuff).
func appendQuotedPrintable(dst []byte, body string) (_ []byte, dot bool) {
	i, cr := 0, false
	for p := 0; p < len(body); {
		b := body[p]
		if qpLiteral[b] {
			// Fast path: a run of bytes written as they are, copied in
			// pieces that fill each line up to 75 characters.
			q := p + 1
			for q < len(body) && qpLiteral[body[q]] {
				q++
			}
			run := body[p:q]
			p = q
			cr = false
			for {
				if i == qpLineMaxLen-1 {
					dst = append(dst, "=\r\n"...)
					i = 0
				}
				k := min(qpLineMaxLen-1-i, len(run))
				dot = dot || i == 0 && run[0] == '.'
				dst = append(dst, run[:k]...)
				i += k
				run = run[k:]
				if len(run) == 0 {
					break
				}
			}
			continue
		}
		p++
		if b == '\r' && p < len(body) && body[p] == '\n' {
			// CRLF in the body reads as LF.
			b = '\n'
			p++
		}
		switch b {
		case '\n':
			if cr {
				cr = false
				continue
			}
		case '\r':
			cr = true
		default:
			dst, i = qpEncode(dst, i, b)
			continue
		}
		dst, i = qpEncodeTrailingSpace(dst, i)
		dst = append(dst, '\r', '\n')
		i = 0
	}
	dst, _ = qpEncodeTrailingSpace(dst, i)
	return dst, dot
}

// qpEncode appends b as "=XX" to a line i characters long.
func qpEncode(dst []byte, i int, b byte) ([]byte, int) {
	const upperhex = "0123456789ABCDEF"
	if qpLineMaxLen-1-i < 3 {
		dst = append(dst, "=\r\n"...)
		i = 0
	}
	return append(dst, '=', upperhex[b>>4], upperhex[b&0x0f]), i + 3
}

// qpEncodeTrailingSpace encodes the last character of the line, i characters
// long, if it is a space or a tab.
func qpEncodeTrailingSpace(dst []byte, i int) ([]byte, int) {
	if i == 0 {
		return dst, i
	}
	if b := dst[len(dst)-1]; b == ' ' || b == '\t' {
		return qpEncode(dst[:len(dst)-1], i-1, b)
	}
	return dst, i
}

// maxHeaderLine is the line length RFC 5322 §2.1.1 asks headers to keep to.
const maxHeaderLine = 78

// appendSubject appends the Subject header's value. It uses RFC 2047 Q-encoded
// words when the subject is not plain ASCII, when it contains "=?" (so that
// text which merely looks like an encoded word is shown as typed instead of
// being decoded by the client: "=?utf-8?q?Your_bank?=" must not display as
// "Your bank"), or when the header line would be longer than 78 characters;
// encoded words are folded onto continuation lines (RFC 2047 §2).
// Otherwise the subject is written as it is.
func appendSubject(buf []byte, s string) []byte {
	if !subjectNeedsEncoding(s) {
		return append(buf, s...)
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
				buf = append(buf, "\r\n"...)
				lineLen = 0
			}
			buf = append(buf, ' ')
			lineLen++
		}
		buf = append(buf, w...)
		lineLen += len(w)
	}
	return buf
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
	if !plainAddrSpec(a) {
		p, err := mail.ParseAddress(a)
		if err != nil {
			return "", fmt.Errorf("address %q: %w", a, err)
		}
		if p.Name != "" || p.Address != a {
			return "", fmt.Errorf("address %q must be a bare mailbox such as user@example.com", a)
		}
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
	if _, err := aLabelDomain(a); err != nil {
		return "", fmt.Errorf("address %q: %w", a, err)
	}
	return strings.ToLower(a), nil
}

// aLabelDomain returns addr with a domain written in Unicode (an IDN such
// as bücher.example) as its A-label (xn--bcher-kva.example, RFC 5891), the
// form every relay and DNS take; other addresses are returned as they are.
func aLabelDomain(addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || isASCII(addr[at+1:]) {
		return addr, nil
	}
	d, err := idna.Lookup.ToASCII(addr[at+1:])
	if err != nil {
		return "", fmt.Errorf("domain %q is not a valid internationalized domain name: %w", addr[at+1:], err)
	}
	return addr[:at+1] + d, nil
}

// needsSMTPUTF8 reports whether an envelope (its domains already A-labels)
// still has a non-ASCII local part, which only a relay offering SMTPUTF8
// (RFC 6531) may be given.
func needsSMTPUTF8(from, to string) bool {
	return !isASCII(from) || !isASCII(to)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
