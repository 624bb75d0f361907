package mailer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/internal/racetest"
)

// sevenBitOracle is the rule a part is written 7bit by (sevenbit.go), said
// the plain way, for a body whose CRLFs were turned into LF: every line
// printable ASCII, space or tab, at most 998 characters, not ending in a
// space or tab, without "=_".
func sevenBitOracle(lf string) bool {
	for _, l := range strings.Split(lf, "\n") {
		if len(l) > 998 || strings.Contains(l, "=_") || strings.HasSuffix(l, " ") || strings.HasSuffix(l, "\t") {
			return false
		}
		for _, c := range []byte(l) {
			if c != '\t' && (c < ' ' || c > '~') {
				return false
			}
		}
	}
	return true
}

// bytesBefore is the encoder Message.Bytes used before AppendBytes, kept as
// the oracle that the hand-written multipart output matches byte for byte
// (with the 7bit parts, as sevenBitOracle says, added since).
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
		lf := strings.ReplaceAll(p.body, "\r\n", "\n")
		if sevenBitOracle(lf) {
			pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {p.ctype}, "Content-Transfer-Encoding": {"7bit"}})
			pw.Write([]byte(strings.ReplaceAll(lf, "\n", "\r\n")))
			continue
		}
		pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {p.ctype}, "Content-Transfer-Encoding": {"quoted-printable"}})
		qp := quotedprintable.NewWriter(pw)
		qp.Write([]byte(lf))
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
		b := appendSubject(nil, s)
		want := mime.QEncoding.Encode("utf-8", s)
		if got := strings.ReplaceAll(string(b), "\r\n", ""); got != want {
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
		// Internationalized (RFC 6530): sent as A-labels and over SMTPUTF8.
		{"José@Bücher.example", "josé@bücher.example", true},
		{"user@xn--bcher-kva.example", "user@xn--bcher-kva.example", true},
		// A Unicode domain that is not a valid IDN (a label ending in a
		// hyphen) could never be sent: left out of the audience.
		{"user@bücher-.example", "", false},
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

// qpStdlib is what appendQuotedPrintable must match: the encoder the message
// parts used before, mime/quotedprintable after turning CRLF into LF.
func qpStdlib(body string) []byte {
	var buf bytes.Buffer
	qp := quotedprintable.NewWriter(&buf)
	qp.Write([]byte(strings.ReplaceAll(body, "\r\n", "\n")))
	qp.Close()
	return buf.Bytes()
}

// randomBody builds a body from the pieces that exercise quoted-printable's
// corner cases: long lines, lines of exactly 75, 76 and 77 characters, '=',
// trailing spaces and tabs, non-ASCII and control bytes, CRLF, LF and lone
// CR, and dots at line starts.
func randomBody(r *rand.Rand) string {
	pieces := []string{
		"=", " ", "\t", " \t ", "\n", "\r\n", "\r", "\r\r\n", "\n\n", ".", "\n.", "\r\n..", "é", "—", "日本",
		"\x00", "\x7f", "\xff", "=\n", " \n", "\t\r\n", "=3D", "<p style=\"color:red\">", "a",
	}
	var b strings.Builder
	for n := r.IntN(40); n > 0; n-- {
		switch k := r.IntN(10); {
		case k < 5:
			b.WriteString(pieces[r.IntN(len(pieces))])
		case k < 8:
			// A run of plain text of a length around the line limits.
			lengths := []int{1, 10, 72, 73, 74, 75, 76, 77, 78, 150, 151, 152, 300}
			l := lengths[r.IntN(len(lengths))] + r.IntN(3) - 1
			for range l {
				b.WriteByte(byte('!' + r.IntN('~'-'!'+1)))
			}
		default:
			for range r.IntN(200) {
				b.WriteByte(byte(r.IntN(256)))
			}
		}
	}
	return b.String()
}

func TestAppendQuotedPrintableMatchesStdlib(t *testing.T) {
	fixed := []string{
		"", "a", " ", "\t", "a ", "a\t", "a \n", "a\t\r\nb", "\r", "\n", "\r\n", "\r\r\n", "\n\r", "\r\x80\n", "\r=\n", "\r\r",
		strings.Repeat("x", 75), strings.Repeat("x", 76), strings.Repeat("x", 77),
		strings.Repeat("x", 74) + " ", strings.Repeat("x", 75) + " ", strings.Repeat("x", 76) + " ",
		strings.Repeat("x", 74) + " \n", strings.Repeat("x", 75) + " \n", strings.Repeat("x", 73) + "\t\r\ny",
		strings.Repeat("x", 72) + "=", strings.Repeat("x", 73) + "=", strings.Repeat("x", 74) + "é",
		strings.Repeat("x", 75) + "\n" + strings.Repeat("y", 76) + "\r\n",
		strings.Repeat("a=b ", 60), strings.Repeat(" ", 200), strings.Repeat("\t", 80) + "\n",
		".dot\n..two\r\n.", strings.Repeat("é", 50),
	}
	for _, s := range fixed {
		if got, want := qpChecked(t, nil, s), qpStdlib(s); !bytes.Equal(got, want) {
			t.Errorf("%q:\n got %q\nwant %q", s, got, want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	// The random inputs' first tenth under the race detector: this test is
	// sequential, so it finds nothing here; they run in full without it
	// (scripts/test.sh, plain_also), as in the next test.
	for range racetest.Tenth(20000) {
		s := randomBody(r)
		if got, want := qpChecked(t, []byte("prefix"), s), append([]byte("prefix"), qpStdlib(s)...); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %q\nwant %q", s, got, want)
		}
	}
}

// qpChecked is appendQuotedPrintable(dst, s), after checking the dot it
// reports: whether a line of what it appended starts with '.'.
func qpChecked(t *testing.T, dst []byte, s string) []byte {
	t.Helper()
	out, dot := appendQuotedPrintable(dst, s)
	enc := string(out[len(dst):])
	want := strings.HasPrefix(enc, ".") || strings.Contains(enc, "\n.")
	if dot != want {
		t.Fatalf("appendQuotedPrintable(%q) says dot = %v; its output %q", s, dot, enc)
	}
	return out
}

func FuzzAppendQuotedPrintable(f *testing.F) {
	f.Add("Hello\r\n.world =  \t\n")
	f.Add(strings.Repeat("x", 75) + " \r\r\n\xff")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := qpChecked(t, nil, s), qpStdlib(s); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %q\nwant %q", s, got, want)
		}
	})
}

func TestAppendBytesMatchesPreviousEncoderRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	subjects := []string{"Hello", "Zoë", "Back in stock — 20% off", "", "a_b=c?d\te"}
	headerValues := []string{"spring", "spring sale", " spring\n sale ", "a\tb", "Zoë\u00a0x", "x\u0085y", "a  b", ""}
	for i := range racetest.Tenth(3000) { // see TestAppendQuotedPrintableMatchesStdlib
		m := Message{
			From: "Acme <news@acme.example>", To: "Zoë <zoe@example.com>",
			Subject:   subjects[r.IntN(len(subjects))],
			Text:      randomBody(r),
			HTML:      randomBody(r),
			MessageID: fmt.Sprintf("%d@acme.example", i), Date: time.Unix(int64(r.Uint32()), 0).In(time.FixedZone("X", 3600)),
		}
		if r.IntN(2) == 0 {
			m.ReplyTo = `"Sales, Acme" <sales@acme.example>`
			m.ListUnsubscribe = "https://x.example/u/" + fmt.Sprint(i)
		}
		if n := r.IntN(4); n > 0 {
			m.Headers = map[string]string{}
			for range n {
				m.Headers[[]string{"x-campaign", "X-Step", "x-a-b", "X-Z"}[r.IntN(4)]] = headerValues[r.IntN(len(headerValues))]
			}
		}
		got, err := m.AppendBytes([]byte("keep"))
		if err != nil {
			t.Fatal(err)
		}
		if want := append([]byte("keep"), bytesBefore(&m)...); !bytes.Equal(got, want) {
			t.Fatalf("message %d differs:\n got %q\nwant %q", i, got, want)
		}
	}
}

func TestParseAddressCached(t *testing.T) {
	for _, s := range []string{"Acme <news@acme.example>", "news@acme.example", `"Zoë, Inc" <z@x.example>`, "=?utf-8?q?Zo=C3=AB?= <z@x.example>"} {
		for range 2 { // parse, then from the cache
			p, err := parseAddressCached(s)
			a, _ := mail.ParseAddress(s)
			if err != nil || p.formatted != a.String() || p.address != a.Address {
				t.Errorf("%q: %+v, %v; want %q %q", s, p, err, a.String(), a.Address)
			}
		}
	}
	if _, err := parseAddressCached("not an address"); err == nil {
		t.Error("invalid address accepted")
	}
	if _, ok := addrCache.Load("not an address"); ok {
		t.Error("invalid address cached")
	}
}

// plainAddrSpec lets the send path skip net/mail's parser; it may only say
// yes to an address the parser takes as it is.
func FuzzPlainAddrSpec(f *testing.F) {
	for _, s := range []string{"user@example.com", "a.b+c@x-y.example", "o'brien@example.ie", ".a@example.com",
		"a.@example.com", "a..b@example.com", "a@-x.example", "a@x..example", "a@", "@x", "a@b@c", "ü@example.com",
		"a b@example.com", "a@[192.0.2.1]", `"a"@example.com`, "a@example.com.", "{}|~@x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !plainAddrSpec(s) {
			return
		}
		a, err := mail.ParseAddress(s)
		if err != nil || a.Address != s || a.Name != "" {
			t.Fatalf("plainAddrSpec(%q) but net/mail gives %+v, %v", s, a, err)
		}
	})
}

// A recipient given as address and name (ToName) encodes to the same bytes as
// the name-addr the engine used to format and the message parsed back.
func TestToNameEncodesLikeANameAddr(t *testing.T) {
	for _, name := range []string{"Contact 1", "Zoë Ångström", "Eve\r\nBcc: x@example.com", `O"Brien, Pat`, ""} {
		// Addresses the engine sends to: ValidateAddress accepts them.
		for _, addr := range []string{"c1@example.com", "o'brien+x@example.ie", "user@[192.0.2.1]"} {
			old := testMessage((&mail.Address{Name: name, Address: addr}).String(), 1)
			m := testMessage(addr, 1)
			m.ToName, m.MessageID = name, old.MessageID
			want, err1 := old.Bytes()
			got, err2 := m.Bytes()
			if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
				t.Fatalf("name %q, address %q: %v, %v\n got %q\nwant %q", name, addr, err2, err1, got, want)
			}
			_, to, err := m.Envelope()
			if err != nil || to != addr {
				t.Fatalf("envelope recipient of %q: %q, %v", addr, to, err)
			}
		}
	}
	m := testMessage("not an address", 1)
	m.ToName = "Somebody"
	if _, err := m.Bytes(); err == nil || !strings.Contains(err.Error(), `recipient "not an address"`) {
		t.Fatalf("an invalid recipient with a name: %v", err)
	}
}
