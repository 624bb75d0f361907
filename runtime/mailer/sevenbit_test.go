package mailer

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/internal/racetest"
)

// The transfer encoding each part gets: 7bit only when the text needs no
// encoding at all.
func TestPartIs7bitOnlyWhenNothingNeedsEncoding(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       string
	}{
		{"short ASCII lines", "Hello Ann,\n\nOur spring sale starts today.\n", "7bit"},
		{"CRLF line breaks", "Hello\r\nbye\r\n", "7bit"},
		{"HTML with attributes", "<p><a href=\"https://x.example/?a=1&b=2\">Shop</a></p>\n", "7bit"},
		{"a tab inside a line", "a\tb\n", "7bit"},
		{"a line of 998", strings.Repeat("x", 998) + "\n", "7bit"},
		{"a long link", "<a href=\"https://x.example/c/" + strings.Repeat("A", 150) + "\">x</a>\n", "7bit"},
		{"leading dots", ".one\n..two\n", "7bit"},
		{"a line of 999", strings.Repeat("x", 999) + "\n", "quoted-printable"},
		{"non-ASCII", "Zoë\n", "quoted-printable"},
		{"trailing space", "Hello \nbye\n", "quoted-printable"},
		{"trailing tab at the end", "Hello\t", "quoted-printable"},
		{"a lone CR", "a\rb\n", "quoted-printable"},
		{"a NUL", "a\x00b\n", "quoted-printable"},
		{"DEL", "a\x7fb\n", "quoted-printable"},
		{"the boundary's prefix", "see --=_0123\n", "quoted-printable"},
		{"'=_' across a word boundary", strings.Repeat("x", 7) + "=_y\n", "quoted-printable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := testMessage("ann@example.com", 1)
			m.Text, m.HTML = c.body, ""
			b, err := m.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte("Content-Transfer-Encoding: "+c.want+"\r\n")) {
				t.Fatalf("want a %s part:\n%s", c.want, b)
			}
			if got := sevenBitOracle(strings.ReplaceAll(c.body, "\r\n", "\n")); got != (c.want == "7bit") {
				t.Fatalf("the test's own rule says 7bit = %v", got)
			}
		})
	}
}

// random7bitish is a body of mostly plain short lines, with now and then
// something that rules 7bit out (or nearly does).
func random7bitish(r *rand.Rand) string {
	pieces := []string{
		"Hello", "a=b", "=", "_", "=_", ".", "..", " ", "\t", "é", "\r", "\x00", "\x7f", "<p class=\"x\">", "&amp;",
	}
	var b strings.Builder
	for range r.IntN(12) {
		if r.IntN(3) == 0 {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		for range []int{10, 80, 1100}[r.IntN(3)] - 5 + r.IntN(10) {
			b.WriteByte(byte(' ' + r.IntN('~'-' '+1)))
		}
		if r.IntN(8) > 0 {
			b.WriteString([]string{"\n", "\r\n"}[r.IntN(2)])
		}
	}
	return b.String()
}

// Messages whose parts are 7bit or not encode as the oracle says, and the
// encoder's "ready for DATA" is right every time: when it says so, stuffing
// would change nothing.
func TestAppendBytes7bitAndDataReadyRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var sevenBit, ready int
	n := racetest.Tenth(4000)
	for i := range n {
		m := Message{
			From: "Acme <news@acme.example>", To: "ann@example.com",
			Subject: "Hello", Text: random7bitish(r), HTML: random7bitish(r),
			MessageID: fmt.Sprintf("%d@acme.example", i), Date: time.Unix(int64(r.Uint32()), 0),
		}
		if r.IntN(4) == 0 {
			m.Headers = map[string]string{".x-dot": "a"} // a header line starting with a dot
		}
		raw, _, _, ok, err := m.appendBytes(nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := bytesBefore(&m); !bytes.Equal(raw, want) {
			t.Fatalf("message %d differs:\n got %q\nwant %q", i, raw, want)
		}
		if bytes.Contains(raw, []byte("Transfer-Encoding: 7bit")) {
			sevenBit++
		}
		stuffed := appendDotStuffed(nil, raw)
		if identity := bytes.Equal(stuffed, append(raw[:len(raw):len(raw)], ".\r\n"...)); ok != identity {
			t.Fatalf("message %d: ready for DATA = %v, but stuffing it changes it: %v\n%q", i, ok, !identity, raw)
		}
		if ok {
			ready++
		}
	}
	// The generator must reach both sides of each rule.
	if sevenBit == 0 || sevenBit == n || ready == 0 || ready == n {
		t.Fatalf("of %d messages, %d have a 7bit part and %d are ready for DATA: the cases are not covered", n, sevenBit, ready)
	}
}

func FuzzAppend7bit(f *testing.F) {
	f.Add("Hello\r\n.world\n")
	f.Add(strings.Repeat("x", 998) + "\n=_\t")
	f.Fuzz(func(t *testing.T, s string) {
		out, dot, ok := append7bit([]byte("p"), s)
		lf := strings.ReplaceAll(s, "\r\n", "\n")
		if ok != sevenBitOracle(lf) {
			t.Fatalf("%q: 7bit = %v, the rule says %v", s, ok, !ok)
		}
		if !ok {
			if string(out) != "p" {
				t.Fatalf("%q: refused, but appended %q", s, out)
			}
			return
		}
		if want := "p" + strings.ReplaceAll(lf, "\n", "\r\n"); string(out) != want {
			t.Fatalf("%q: got %q, want %q", s, out, want)
		}
		if want := strings.HasPrefix(lf, ".") || strings.Contains(lf, "\n."); dot != want {
			t.Fatalf("%q: dot = %v", s, dot)
		}
	})
}

// messageSize is the size SIZE declares: the message before stuffing, with
// CRLF line endings, without the terminator.
func TestMessageSizeUndoesStuffing(t *testing.T) {
	for _, msg := range []string{"", "a\r\n", ".\r\n", "..\r\n", "a\r\n.b\r\n..c\r\n", ".x\r\n.\r\n", "a\nb\r.c"} {
		data := appendDotStuffed(nil, []byte(msg))
		want := len(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\r", "\n"), "\n", "\r\n"))
		if msg != "" && !strings.HasSuffix(msg, "\n") && !strings.HasSuffix(msg, "\r") {
			want += 2 // appendDotStuffed ends the last line
		}
		if got := messageSize(data); got != want {
			t.Errorf("%q stuffed as %q: size %d, want %d", msg, data, got, want)
		}
	}
}

// The size data returns is messageSize of its DATA content, whichever way
// the content was built: in place (ready for DATA, unsigned), copied behind
// a DKIM signature, or stuffed.
func TestDataSizeIsTheMessagesOwn(t *testing.T) {
	dkim, err := NewDKIM("acme.example", "s1", ed25519KeyPEM(t))
	if err != nil {
		t.Fatal(err)
	}
	plain := testMessage("ann@example.com", 1)
	plain.Text = "Hello\nno dot here\n"
	dotted := testMessage("ann@example.com", 2) // lines starting with dots
	for _, s := range []*SMTP{{}, {DKIM: dkim}} {
		for _, m := range []*Message{plain, dotted} {
			var rawp, bodyp []byte
			body, size, _, _, err := s.data(m, &rawp, &bodyp)
			if err != nil {
				t.Fatal(err)
			}
			if want := messageSize(body); size != want {
				t.Errorf("signed %v, text %q: size %d, want %d", s.DKIM != nil, m.Text, size, want)
			}
		}
	}
}
