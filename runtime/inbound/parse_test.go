package inbound

import (
	"strings"
	"testing"
	"time"
)

// The timeout the listener uses by default is the documented one (1 minute
// per read or write, docs/sending.md): the tests over TCP set a short one,
// and cannot wait a minute. TestInboundStalledClientIsCutOff shows that the
// timeout is applied.
func TestDefaultTimeoutIsOneMinute(t *testing.T) {
	if got := (&Server{}).timeout(); got != time.Minute {
		t.Errorf("default timeout %v, want 1m", got)
	}
	if got := (&Server{Timeout: time.Second}).timeout(); got != time.Second {
		t.Errorf("timeout %v with Timeout 1s", got)
	}
}

// The memory budget by default is the documented one (128 MiB, "Replies,
// bounces and complaints" in docs/sending.md): the test over TCP sets a
// small one. TestInboundMessagesShareAMemoryBudget shows that it applies.
func TestDefaultMemoryBudgetIs128MiB(t *testing.T) {
	if got := (&Server{}).memoryBudget(); got != 128<<20 {
		t.Errorf("default memory budget %d, want 128 MiB", got)
	}
}

// Under stress (every connection taken) each line must arrive within 10 s,
// and a session lasts at most 10 minutes, as documented ("Replies, bounces
// and complaints" in docs/sending.md); TestInboundDrippingClientsAreCutOffUnderStress
// and TestInboundSessionTimeout show that they apply.
func TestDefaultStressAndSessionTimeouts(t *testing.T) {
	if got := (&Server{}).stressTimeout(); got != 10*time.Second {
		t.Errorf("default stress timeout %v, want 10s", got)
	}
	if got := (&Server{}).sessionTimeout(); got != 10*time.Minute {
		t.Errorf("default session timeout %v, want 10m", got)
	}
}

func TestRecipientBounceUsesTheSendPathsClassification(t *testing.T) {
	for _, c := range []struct {
		action, status, diag string
		hard                 bool
		verdict              string
	}{
		{"failed", "5.1.1", "smtp; 550 5.1.1 user unknown", true, "hard_bounce"},
		{"failed", "5.1.10", "smtp; 550 5.1.10 null MX", true, "hard_bounce"},
		{"failed", "5.2.1", "smtp; 550 5.2.1 mailbox disabled", true, "hard_bounce"},
		{"failed", "5.4.4", "", true, "hard_bounce"},
		{"failed", "", "smtp; 550 no such user here", true, "hard_bounce"},
		{"failed", "5.7.1", "smtp; 550 5.7.1 blocked by policy", false, "relay_refused"},
		{"failed", "", "smtp; 550 blocked using zen.spamhaus.org", false, "relay_refused"},
		{"failed", "5.1.8", "smtp; 553 5.1.8 bad sender domain", false, "relay_refused"},
		{"failed", "5.2.2", "smtp; 552 5.2.2 mailbox full", false, "retry"},
		{"failed", "4.2.2", "smtp; 452 4.2.2 mailbox full", false, "retry"},
		{"delayed", "4.4.1", "smtp; 421 timeout", false, "relay_unavailable"},
		{"delayed", "5.1.1", "", false, "retry"},
		{"failed", "5.6.0", "smtp; 554 5.6.0 content rejected", false, "rejected"},
	} {
		hard, v := Recipient{Action: c.action, Status: c.status, Diagnostic: c.diag}.Bounce()
		if hard != c.hard || v.String() != c.verdict {
			t.Errorf("%s %s %q: hard=%v %s, want hard=%v %s", c.action, c.status, c.diag, hard, v, c.hard, c.verdict)
		}
	}
}

func TestParseKinds(t *testing.T) {
	for _, c := range []struct {
		name, msg  string
		nullSender bool
		kind       Kind
		refs       string
		err        string
	}{
		{"reply", "From: a@b.c\r\nIn-Reply-To: <x@y>\r\nReferences: <w@y> <x@y>\r\n\r\nhi", false, KindReply, "x@y x@y w@y", ""},
		{"auto-submitted", "Auto-Submitted: auto-replied\r\n\r\nbye", false, KindAutoReply, "", ""},
		{"precedence bulk", "Precedence: bulk\r\n\r\nbye", false, KindAutoReply, "", ""},
		{"null sender, not a report", "Subject: failure\r\n\r\nqmail style bounce", true, KindAutoReply, "", ""},
		{"delivered dsn", "Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\nFinal-Recipient: rfc822; a@b.c\r\nAction: delivered\r\nStatus: 2.0.0\r\n--B--\r\n", true, KindReport, "", ""},
		{"other report", "Content-Type: multipart/report; report-type=disposition-notification; boundary=B\r\n\r\n--B--\r\n", true, KindReport, "", ""},
		{"not-spam", "Content-Type: multipart/report; report-type=feedback-report; boundary=B\r\n\r\n--B\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: not-spam\r\n--B--\r\n", false, KindReport, "", ""},
		{"base64 status", "Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n--B\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\nUmVwb3J0aW5nLU1UQTogZG5zOyB4DQoNCkZpbmFsLVJlY2lwaWVudDogcmZjODIyOyBhQGIu\r\nYw0KQWN0aW9uOiBmYWlsZWQNClN0YXR1czogNS4xLjENCg==\r\n--B--\r\n", true, KindBounce, "", ""},
		{"bad content type", "Content-Type: multipart/report; report-type=\r\n\r\n", true, "", "", "Content-Type"},
		{"no boundary", "Content-Type: multipart/report; report-type=delivery-status\r\n\r\n", true, "", "", "boundary"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse([]byte(c.msg), c.nullSender)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != c.kind || strings.Join(p.Refs, " ") != c.refs {
				t.Fatalf("kind %s refs %q, want %s %q", p.Kind, p.Refs, c.kind, c.refs)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b.c\r\nAction: failed\r\nStatus: 5.1.1\r\n--B--\r\n"), true)
	f.Add([]byte("From: a@b.c\r\nIn-Reply-To: <x@y>\r\n\r\nhi"), false)
	f.Fuzz(func(t *testing.T, raw []byte, null bool) {
		p, err := Parse(raw, null)
		if err == nil && p.Kind == KindBounce {
			for _, r := range p.Recipients {
				r.Bounce()
			}
		}
	})
}

func TestTokens(t *testing.T) {
	old, _ := NewTokens([]byte("old-secret-0123456789"))
	cur, err := NewTokens([]byte("new-secret-0123456789"), []byte("old-secret-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	lp := cur.LocalPart(PurposeBounce, 42)
	if len(lp) > 64 || lp != strings.ToLower(lp) {
		t.Fatalf("local part %q: longer than 64 or not lower case", lp)
	}
	if p, id, err := cur.Verify(strings.ToUpper(lp)); err != nil || p != PurposeBounce || id != 42 {
		t.Fatalf("case-folded token: %v %v %v", p, id, err)
	}
	// Rotation: a token of the old key verifies while the key is listed.
	if _, id, err := cur.Verify(old.LocalPart(PurposeReply, 7)); err != nil || id != 7 {
		t.Fatalf("old key's token: %v %v", id, err)
	}
	retired, _ := NewTokens([]byte("new-secret-0123456789"))
	for name, tok := range map[string]string{
		"retired key":   old.LocalPart(PurposeReply, 7),
		"other id":      strings.Replace(lp, "+42-", "+43-", 1),
		"other purpose": "reply" + strings.TrimPrefix(lp, "bounce"),
		"no prefix":     "news",
		"leading zero":  strings.Replace(lp, "+42-", "+042-", 1),
	} {
		if _, _, err := retired.Verify(tok); err == nil {
			t.Errorf("%s: %q verified", name, tok)
		}
	}
	if _, err := NewTokens([]byte("short")); err == nil {
		t.Error("a short secret was accepted")
	}
}

// The fuzzer's find: a DSN block whose Status is blank made the parser index
// an empty slice and panic, which on the listener would have ended the
// daemon. (Its input is in testdata/fuzz/FuzzParse too.)
func TestDSNWithABlankStatus(t *testing.T) {
	dsn := []byte("Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nFinal-Recipient: rfc822; a@example.com\nAction: failed\nStatus:   \n--B--\n")
	p, err := parseSafely(dsn, true)
	if err != nil || len(p.Recipients) != 1 || p.Recipients[0].Status != "" {
		t.Fatalf("a DSN with a blank Status: %+v, %v; want one recipient with no status", p, err)
	}
}
