package mailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtpcapture"
	"github.com/campaignctl/campaignctl/runtime/mailer/smtptest"
)

// relayBundle is a started fault-injecting relay and a client for it.
type relayBundle struct {
	relay  *smtptest.Relay
	addr   string
	client *SMTP
}

func setupRelay(t testing.TB) *relayBundle {
	t.Helper()
	r := smtptest.New()
	addr, err := r.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &relayBundle{relay: r, addr: addr, client: &SMTP{Addr: addr}}
	t.Cleanup(func() {
		b.client.Close()
		r.Close()
	})
	return b
}

func testMessage(to string, i int) *Message {
	return &Message{
		From: "Acme <news@acme.example>", To: to,
		Subject: fmt.Sprintf("Message %d", i),
		Text:    "Hello\n.leading dot\n..two dots\nbye",
		HTML:    "<p>Hello</p>",
		// One message per (recipient, i), like the engine's Message-IDs.
		MessageID: MessageID(int64(i+1), "c", "s", fmt.Sprint(to, i), "news@acme.example"),
		Date:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func sendErr(t *testing.T, err error) *SendError {
	t.Helper()
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *SendError", err, err)
	}
	return se
}

// waitConns polls until the relay has want open connections.
func waitConns(t *testing.T, r *smtptest.Relay, want int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for r.Connections() != want {
		if time.Now().After(deadline) {
			t.Fatalf("relay has %d open connections, want %d", r.Connections(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSMTPPipelinesManyMessagesOverFewConnections(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		t.Run(fmt.Sprint("pipelining=", pipelining), func(t *testing.T) {
			b := setupRelay(t)
			b.relay.SetPipelining(pipelining)
			b.client.MaxConns = 3
			b.client.MaxMessagesPerConn = 150
			const workers, each = 8, 100
			var wg sync.WaitGroup
			var maxConns atomic.Int64
			errs := make(chan error, workers*each)
			for w := range workers {
				wg.Go(func() {
					for i := range each {
						if err := b.client.Send(context.Background(), testMessage(fmt.Sprintf("user%d@example.com", w), i)); err != nil {
							errs <- err
						}
						if n := int64(b.relay.Connections()); n > maxConns.Load() {
							maxConns.Store(n)
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if got := b.relay.Count(); got != workers*each {
				t.Fatalf("relay accepted %d messages, want %d", got, workers*each)
			}
			for w := range workers {
				if n := b.relay.Deliveries()[fmt.Sprintf("user%d@example.com", w)]; n != each {
					t.Errorf("user%d got %d messages, want %d", w, n, each)
				}
			}
			// The relay may still count a connection the client just retired.
			if m := maxConns.Load(); m > 4 {
				t.Errorf("up to %d connections open, MaxConns is 3", m)
			}
			want, _ := testMessage("user0@example.com", 0).Bytes()
			found := false
			for _, d := range b.relay.Messages() {
				if bytes.Equal(d.Data, want) {
					found = true
				}
			}
			if !found {
				t.Error("no delivered message equals Message.Bytes after dot-unstuffing")
			}
			b.client.Close()
			waitConns(t, b.relay, 0)
		})
	}
}

func TestSMTPStallAfterDataTimesOut(t *testing.T) {
	b := setupRelay(t)
	b.client.DataTimeout = 200 * time.Millisecond
	b.relay.SetStall(func(rcpt string) bool { return rcpt == "stall@example.com" })
	start := time.Now()
	err := b.client.Send(context.Background(), testMessage("stall@example.com", 0))
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Send took %v with a 200ms DataTimeout", took)
	}
	se := sendErr(t, err)
	if se.Stage != StageMessage || se.Code != 0 || !se.Timeout() || !se.MaybeDelivered() {
		t.Fatalf("got %+v (%v); want a timeout at stage message that may have delivered", se, se)
	}
	if !strings.Contains(se.Error(), "smtp message: timeout after 200ms") {
		t.Errorf("error text %q", se.Error())
	}
	if v := Classify(err); v != RelayUnavailable {
		t.Errorf("Classify = %v", v)
	}
	if err := b.client.Send(context.Background(), testMessage("ok@example.com", 0)); err != nil {
		t.Fatalf("next Send: %v", err)
	}
}

// readReply sets no deadline for a reply already in its buffer; a reply it
// must wait for gets the command timeout from then, not a deadline left from
// an earlier read. Here the body's reply is read under the 10s DataTimeout,
// the next envelope's MAIL and RCPT replies arrive with it, and the relay
// never answers its DATA: the wait must end after CommandTimeout.
func TestSMTPStalledReplyAfterBufferedRepliesTimesOutOnCommandTimeout(t *testing.T) {
	b := setupRelay(t)
	b.client.CommandTimeout = 200 * time.Millisecond
	b.client.DataTimeout = 10 * time.Second
	b.relay.SetReply(smtptest.StageData, func(_, rcpt string) *smtptest.Reply {
		if rcpt == "stall@example.com" {
			return &smtptest.Reply{Stall: true}
		}
		return nil
	})
	start := time.Now()
	errs := b.client.SendBatch(context.Background(), []*Message{testMessage("ok@example.com", 0), testMessage("stall@example.com", 1)})
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("SendBatch took %v: the stalled DATA reply waited on the body's 10s deadline, not the 200ms command timeout", took)
	}
	if errs[0] != nil {
		t.Fatalf("first message: %v", errs[0])
	}
	if se := sendErr(t, errs[1]); !se.Timeout() || se.MaybeDelivered() {
		t.Fatalf("second message: %+v (%v); want a timeout that did not deliver", se, se)
	}
	if got := b.relay.Count(); got != 1 {
		t.Fatalf("relay accepted %d messages, want 1", got)
	}
}

func TestSMTPContextCancelAbortsStalledSend(t *testing.T) {
	b := setupRelay(t)
	b.relay.SetStall(func(string) bool { return true })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := b.client.Send(ctx, testMessage("a@example.com", 0))
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Send took %v after its context was cancelled", took)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled inside", err)
	}
	if Classify(err) != RelayUnavailable {
		t.Errorf("Classify = %v", Classify(err))
	}
	b.relay.SetStall(nil)
	b.client.Close()
	waitConns(t, b.relay, 0)
}

func TestSMTPDropMidDataIsNotDeliveredAndNextSendReconnects(t *testing.T) {
	b := setupRelay(t)
	b.relay.SetDropMidData(func(rcpt string) bool { return rcpt == "drop@example.com" })
	if err := b.client.Send(context.Background(), testMessage("first@example.com", 0)); err != nil {
		t.Fatal(err)
	}
	err := b.client.Send(context.Background(), testMessage("drop@example.com", 0))
	se := sendErr(t, err)
	if se.MaybeDelivered() || se.Code != 0 {
		t.Fatalf("got %+v (%v); want no reply and not maybe-delivered", se, se)
	}
	if err := b.client.Send(context.Background(), testMessage("after@example.com", 0)); err != nil {
		t.Fatalf("Send after the drop: %v", err)
	}
	if got := b.relay.Deliveries(); got["drop@example.com"] != 0 || got["after@example.com"] != 1 {
		t.Errorf("deliveries %v", got)
	}
}

func TestSMTPRetriesConnectionTheRelayClosedWhileIdle(t *testing.T) {
	b := setupRelay(t)
	for i := range 3 {
		if err := b.client.Send(context.Background(), testMessage("a@example.com", i)); err != nil {
			t.Fatal(err)
		}
		b.relay.CloseConnections()
		waitConns(t, b.relay, 0)
	}
	if err := b.client.Send(context.Background(), testMessage("a@example.com", 3)); err != nil {
		t.Fatal(err)
	}
	// A relay that announces its idle timeout with 421 before closing.
	var once atomic.Bool
	b.relay.SetReply(smtptest.StageMail, func(from, rcpt string) *smtptest.Reply {
		if once.CompareAndSwap(false, true) {
			return &smtptest.Reply{Code: 421, Enhanced: "4.4.2", Text: "timeout exceeded"}
		}
		return nil
	})
	if err := b.client.Send(context.Background(), testMessage("a@example.com", 4)); err != nil {
		t.Fatal(err)
	}
	if n := b.relay.Deliveries()["a@example.com"]; n != 5 {
		t.Fatalf("%d deliveries, want 5", n)
	}
}

func TestSMTPRefusalsCarryStageCodeAndVerdict(t *testing.T) {
	tests := []struct {
		name    string
		stage   smtptest.Stage
		reply   smtptest.Reply
		want    SendError
		verdict Verdict
	}{
		{"unknown user", smtptest.StageRcpt, smtptest.Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user"}, SendError{Stage: StageRcpt, Code: 550, Enhanced: "5.1.1", Message: "no such user"}, HardBounce},
		{"relaying denied", smtptest.StageRcpt, smtptest.Reply{Code: 550, Enhanced: "5.7.1", Text: "Relay access denied"}, SendError{Stage: StageRcpt, Code: 550, Enhanced: "5.7.1", Message: "Relay access denied"}, RelayRefused},
		{"greylisted", smtptest.StageRcpt, smtptest.Reply{Code: 451, Enhanced: "4.7.1", Text: "try again later"}, SendError{Stage: StageRcpt, Code: 451, Enhanced: "4.7.1", Message: "try again later"}, RetryMessage},
		{"sender refused", smtptest.StageMail, smtptest.Reply{Code: 553, Enhanced: "", Text: "sender not allowed"}, SendError{Stage: StageMail, Code: 553, Message: "sender not allowed"}, RelayRefused},
		{"DATA refused", smtptest.StageData, smtptest.Reply{Code: 451, Enhanced: "4.3.0", Text: "local error"}, SendError{Stage: StageData, Code: 451, Enhanced: "4.3.0", Message: "local error"}, RelayUnavailable},
		{"spam", smtptest.StageMessage, smtptest.Reply{Code: 554, Enhanced: "5.7.1", Text: "looks like spam"}, SendError{Stage: StageMessage, Code: 554, Enhanced: "5.7.1", Message: "looks like spam"}, MessageRejected},
		{"greeting", smtptest.StageGreeting, smtptest.Reply{Code: 554, Enhanced: "", Text: "go away"}, SendError{Stage: StageGreeting, Code: 554, Message: "go away"}, RelayRefused},
		{"ehlo", smtptest.StageEHLO, smtptest.Reply{Code: 421, Enhanced: "4.3.2", Text: "shutting down"}, SendError{Stage: StageEHLO, Code: 421, Enhanced: "4.3.2", Message: "shutting down"}, RelayUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setupRelay(t)
			if err := b.client.Send(context.Background(), testMessage("warm@example.com", 0)); err != nil && tt.stage != smtptest.StageGreeting && tt.stage != smtptest.StageEHLO {
				t.Fatal(err)
			}
			var once atomic.Bool
			b.relay.SetReply(tt.stage, func(from, rcpt string) *smtptest.Reply {
				if once.CompareAndSwap(false, true) {
					return &tt.reply
				}
				return nil
			})
			// A fresh connection for handshake faults.
			if tt.stage == smtptest.StageGreeting || tt.stage == smtptest.StageEHLO {
				b.client.Close()
				b.client = &SMTP{Addr: b.addr}
			}
			err := b.client.Send(context.Background(), testMessage("x@example.com", 0))
			se := sendErr(t, err)
			got := *se
			got.Err = nil
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if v := Classify(err); v != tt.verdict {
				t.Errorf("Classify = %v, want %v", v, tt.verdict)
			}
			// A refused transaction leaves the connection usable (after RSET).
			if tt.stage != smtptest.StageGreeting && tt.stage != smtptest.StageEHLO {
				if err := b.client.Send(context.Background(), testMessage("warm@example.com", 1)); err != nil {
					t.Fatalf("Send after the refusal: %v", err)
				}
			}
			b.client.Close()
			waitConns(t, b.relay, 0)
		})
	}
}

func TestSMTPRelayDownIsRelayUnavailable(t *testing.T) {
	b := setupRelay(t)
	if err := b.client.Send(context.Background(), testMessage("a@example.com", 0)); err != nil {
		t.Fatal(err)
	}
	b.relay.Down()
	err := b.client.Send(context.Background(), testMessage("a@example.com", 1))
	se := sendErr(t, err)
	if se.Stage != StageConnect || Classify(err) != RelayUnavailable || se.MaybeDelivered() {
		t.Fatalf("got %+v (%v), verdict %v", se, se, Classify(err))
	}
	if err := b.relay.Up(); err != nil {
		t.Fatal(err)
	}
	if err := b.client.Send(context.Background(), testMessage("a@example.com", 2)); err != nil {
		t.Fatalf("after Up: %v", err)
	}
}

func TestSMTPAuthPlain(t *testing.T) {
	b := setupRelay(t)
	b.relay.SetAuth("user", "s3cret")

	err := b.client.Send(context.Background(), testMessage("a@example.com", 0))
	if se := sendErr(t, err); se.Stage != StageMail || se.Code != 530 || Classify(err) != RelayRefused {
		t.Fatalf("without credentials: %v, verdict %v", err, Classify(err))
	}

	wrong := &SMTP{Addr: b.addr, Auth: &Auth{Username: "user", Password: "nope"}}
	defer wrong.Close()
	err = wrong.Send(context.Background(), testMessage("a@example.com", 0))
	if se := sendErr(t, err); se.Stage != StageAuth || se.Code != 535 || Classify(err) != RelayRefused {
		t.Fatalf("wrong password: %v, verdict %v", err, Classify(err))
	}

	right := &SMTP{Addr: b.addr, Auth: &Auth{Username: "user", Password: "s3cret"}}
	for i := range 3 {
		if err := right.Send(context.Background(), testMessage("a@example.com", i)); err != nil {
			t.Fatal(err)
		}
	}
	right.Close()
	if n := b.relay.Count(); n != 3 {
		t.Fatalf("relay accepted %d, want 3", n)
	}
}

func TestIsLoopback(t *testing.T) {
	if isLoopback("mail.example.com") || !isLoopback("127.0.0.1") || !isLoopback("::1") || !isLoopback("localhost") {
		t.Fatal("isLoopback")
	}
}

func TestSMTPSlowRelayWithinDataTimeout(t *testing.T) {
	b := setupRelay(t)
	b.client.DataTimeout = 2 * time.Second
	b.relay.SetDelay(100 * time.Millisecond)
	if err := b.client.Send(context.Background(), testMessage("a@example.com", 0)); err != nil {
		t.Fatal(err)
	}
}

func TestSMTPSendAfterCloseFails(t *testing.T) {
	b := setupRelay(t)
	b.client.Close()
	err := b.client.Send(context.Background(), testMessage("a@example.com", 0))
	if !errors.Is(err, ErrClosed) || Classify(err) != RelayUnavailable {
		t.Fatalf("err = %v", err)
	}
}

func TestSMTPComposeErrorSendsNothing(t *testing.T) {
	b := setupRelay(t)
	m := testMessage("not an address", 0)
	err := b.client.Send(context.Background(), m)
	if se := sendErr(t, err); se.Stage != StageCompose || Classify(err) != MessageRejected {
		t.Fatalf("err = %v, verdict %v", err, Classify(err))
	}
	if b.relay.Connections() != 0 {
		t.Error("a message that cannot be encoded opened a connection")
	}
}

// The capture server (go-smtp) is what the engine's tests use.
func TestSMTPAgainstCaptureServer(t *testing.T) {
	srv := smtpcapture.New("")
	addr, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := &SMTP{Addr: addr.String(), MaxConns: 2}
	for i := range 20 {
		if err := c.Send(context.Background(), testMessage("cap@example.com", i)); err != nil {
			t.Fatal(err)
		}
	}
	// The demo's capture server takes internationalized addresses too.
	if err := c.Send(context.Background(), testMessage("josé@example.com", 20)); err != nil {
		t.Fatalf("an address with a non-ASCII local part: %v", err)
	}
	c.Close()
	want, _ := testMessage("cap@example.com", 0).Bytes()
	msgs := srv.Messages()
	if len(msgs) != 21 || !bytes.Equal(msgs[0].Data, want) {
		t.Fatalf("%d messages; first:\n%s", len(msgs), msgs[0].Data)
	}
}

func TestAppendDotStuffed(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ".\r\n"},
		{"a", "a\r\n.\r\n"},
		{"a\r\n", "a\r\n.\r\n"},
		{"a\nb", "a\r\nb\r\n.\r\n"},
		{".a\r\n..b\r\nc.\r\n", "..a\r\n...b\r\nc.\r\n.\r\n"},
		{".\r\n", "..\r\n.\r\n"},
		{"a\rb\r\n.c", "a\r\nb\r\n..c\r\n.\r\n"},
		{"a\r.b\n", "a\r\n..b\r\n.\r\n"},
		{"\n\n", "\r\n\r\n.\r\n"},
	}
	for _, tt := range tests {
		if got := string(appendDotStuffed(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("appendDotStuffed(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// dotStuffedOracle is appendDotStuffed written the obvious way: every line
// break (CRLF, bare CR, bare LF) becomes CRLF, the last line gets one, a
// line starting with "." gets another, and ".\r\n" ends the content.
func dotStuffedOracle(msg []byte) string {
	s := strings.ReplaceAll(string(msg), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if line == "" {
			continue
		}
		if line[0] == '.' {
			b.WriteByte('.')
		}
		b.WriteString(strings.TrimSuffix(line, "\n"))
		b.WriteString("\r\n")
	}
	return b.String() + ".\r\n"
}

// FuzzAppendDotStuffed holds the one-pass DATA framing to the oracle.
func FuzzAppendDotStuffed(f *testing.F) {
	for _, s := range []string{"", "a", "a\r\n", ".a\r\n..b\nc.", "a\rb\r\n.c", "\r\r\n\n.\r.", "x\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		prefix := []byte("MAIL FROM:<a@b>\r\n")
		got := appendDotStuffed(append([]byte(nil), prefix...), msg)
		if want := string(prefix) + dotStuffedOracle(msg); string(got) != want {
			t.Fatalf("appendDotStuffed(%q) = %q, want %q", msg, got, want)
		}
	})
}

func TestSplitEnhanced(t *testing.T) {
	tests := []struct {
		code           int
		text, enh, msg string
	}{
		{550, "5.1.1 no such user", "5.1.1", "no such user"},
		{550, "no such user", "", "no such user"},
		{451, "4.7.1 greylisted\n4.7.1 come back later", "4.7.1", "greylisted\ncome back later"},
		{550, "4.1.1 class mismatch", "", "4.1.1 class mismatch"},
		{550, "5.1.1000 too long", "", "5.1.1000 too long"},
		{550, "5.1 short", "", "5.1 short"},
		{552, "5.3.4", "5.3.4", ""},
	}
	for _, tt := range tests {
		enh, msg := splitEnhanced(tt.code, tt.text)
		if enh != tt.enh || msg != tt.msg {
			t.Errorf("splitEnhanced(%d, %q) = %q, %q; want %q, %q", tt.code, tt.text, enh, msg, tt.enh, tt.msg)
		}
	}
}

func TestSendErrorText(t *testing.T) {
	tests := []struct {
		err  SendError
		want string
	}{
		{SendError{Stage: StageRcpt, Code: 550, Enhanced: "5.1.1", Message: "no such user"}, "smtp rcpt: 550 5.1.1 no such user"},
		{SendError{Stage: StageMail, Code: 553, Message: "line 1\nline 2"}, "smtp mail: 553 line 1 line 2"},
		{SendError{Stage: StageConnect, Err: errors.New("connection refused")}, "smtp connect: connection refused"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func BenchmarkSMTPSend(b *testing.B) {
	rb := setupRelay(b)
	rb.relay.DiscardData(true)
	m := testMessage("bench@example.com", 0)
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := rb.client.Send(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
