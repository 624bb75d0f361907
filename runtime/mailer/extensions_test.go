package mailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtptest"
)

// Internationalized addresses (RFC 6530). A domain in Unicode goes as its
// A-label, which every relay takes, in the envelope and the To header; a
// non-ASCII local part needs SMTPUTF8, declared in MAIL FROM when the relay
// offers it, and without it fails that message alone, never the relay.
// Before, both went raw in a transaction that declared nothing, which
// Postfix refuses with 553 5.6.7.
func TestSMTPInternationalizedAddresses(t *testing.T) {
	for _, tc := range []struct {
		name       string
		utf8       bool // the relay offers SMTPUTF8
		batch      bool
		pipelining bool
	}{
		{"offered", true, false, true}, {"offered, batch", true, true, true},
		{"offered, lock-step", true, false, false},
		{"not offered", false, false, true}, {"not offered, batch", false, true, true},
		{"not offered, lock-step", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := setupRelay(t)
			b.relay.SetSMTPUTF8(tc.utf8)
			b.relay.SetPipelining(tc.pipelining)
			to := []string{"ascii@example.com", "josé@example.com", "user@bücher.example", "after@example.com"}
			msgs := make([]*Message, len(to))
			for i, a := range to {
				msgs[i] = testMessage(a, i)
			}
			errs := sendAll(b.client, msgs, tc.batch)
			got := map[string]smtptest.Delivered{}
			for _, d := range b.relay.Messages() {
				got[d.To[0]] = d
			}
			for i, a := range to {
				if a == "josé@example.com" && !tc.utf8 {
					se := sendErr(t, errs[i])
					if !errors.Is(errs[i], ErrNoSMTPUTF8) || Classify(errs[i]) != MessageRejected {
						t.Errorf("%s without SMTPUTF8: %v (verdict %v), want ErrNoSMTPUTF8, rejected", a, se, Classify(errs[i]))
					}
					if _, ok := got[a]; ok {
						t.Errorf("%s was delivered without SMTPUTF8", a)
					}
					continue
				}
				if errs[i] != nil {
					t.Errorf("%s: %v", a, errs[i])
				}
			}
			if d, ok := got["user@xn--bcher-kva.example"]; !ok || d.UTF8 {
				t.Errorf("the IDN recipient went as %v (SMTPUTF8 %v), want its A-label without SMTPUTF8", keys(got), d.UTF8)
			} else if h := toHeader(t, d); h != "<user@xn--bcher-kva.example>" {
				t.Errorf("To: %s, want the A-label", h)
			}
			if d, ok := got["josé@example.com"]; tc.utf8 {
				if !ok || !d.UTF8 {
					t.Errorf("josé@example.com: delivered %v, SMTPUTF8 declared %v; want both", ok, d.UTF8)
				} else if h := toHeader(t, d); h != "<josé@example.com>" {
					t.Errorf("To: %s, want the address in UTF-8 (RFC 6532)", h)
				}
			}
			if d := got["ascii@example.com"]; d.UTF8 {
				t.Error("an ASCII envelope declared SMTPUTF8")
			}
			if _, ok := got["after@example.com"]; !ok {
				t.Errorf("the message after the non-ASCII one was not delivered: %v", keys(got))
			}
		})
	}
}

func toHeader(t *testing.T, d smtptest.Delivered) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(d.Data))
	if err != nil {
		t.Fatal(err)
	}
	return m.Header.Get("To")
}

func keys(m map[string]smtptest.Delivered) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return fmt.Sprint(out)
}

// A domain that is not a valid IDN is a compose error, not a send.
func TestSMTPInvalidInternationalizedDomain(t *testing.T) {
	b := setupRelay(t)
	err := b.client.Send(context.Background(), testMessage("user@exa mple.ü", 0))
	if se := sendErr(t, err); se.Stage != StageCompose || Classify(err) != MessageRejected {
		t.Fatalf("got %v (verdict %v), want a compose error", err, Classify(err))
	}
	if b.relay.Count() != 0 {
		t.Fatal("delivered")
	}
}

// RFC 1870: the client declares each message's SIZE in MAIL FROM when the
// relay announces one, and a message over the announced limit is not sent
// at all (ErrTooBig, rejected alone) instead of being transferred whole to
// be refused with 552; the messages around it go.
func TestSMTPMessageOverTheRelaysSIZEIsNotSent(t *testing.T) {
	for _, tc := range []struct {
		name              string
		batch, pipelining bool
	}{{"batch", true, true}, {"single", false, true}, {"lock-step", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			b := setupRelay(t)
			b.relay.SetMaxSize(4000)
			b.relay.SetPipelining(tc.pipelining)
			big := testMessage("big@example.com", 1)
			big.Text = strings.Repeat("a long line of text to make the message large\n", 100)
			msgs := []*Message{testMessage("before@example.com", 0), big, testMessage("after@example.com", 2)}
			errs := sendAll(b.client, msgs, tc.batch)
			if errs[0] != nil || errs[2] != nil {
				t.Fatalf("the messages around the big one: %v, %v", errs[0], errs[2])
			}
			if !errors.Is(errs[1], ErrTooBig) || Classify(errs[1]) != MessageRejected {
				t.Fatalf("the big message: %v (verdict %v), want ErrTooBig, rejected", errs[1], Classify(errs[1]))
			}
			d := b.relay.Messages()
			if len(d) != 2 {
				t.Fatalf("%d delivered, want 2", len(d))
			}
			for _, m := range d {
				if m.DeclaredSize != len(m.Data) {
					t.Errorf("%v: SIZE=%d declared for %d bytes", m.To, m.DeclaredSize, len(m.Data))
				}
			}
		})
	}
}

// sendAll sends msgs as one batch, or one Send each, and returns their
// errors in order.
func sendAll(c *SMTP, msgs []*Message, batch bool) []error {
	if batch {
		return c.SendBatch(context.Background(), msgs)
	}
	var errs []error
	for _, m := range msgs {
		errs = append(errs, c.Send(context.Background(), m))
	}
	return errs
}
