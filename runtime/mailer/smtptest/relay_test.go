package smtptest

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// dialog writes a whole pipelined session at once and returns what came back.
func dialog(t *testing.T, addr, script string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(script)); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		out.WriteString(line)
		if err != nil || strings.HasPrefix(line, "221 ") {
			return out.String()
		}
	}
}

func startRelay(t *testing.T) (*Relay, string) {
	t.Helper()
	r := New()
	addr, err := r.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, addr
}

func TestRelayHandlesPipelinedSession(t *testing.T) {
	r, addr := startRelay(t)
	r.SetReply(StageRcpt, func(from, rcpt string) *Reply {
		if rcpt == "bad@example.com" {
			return &Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user"}
		}
		return nil
	})
	out := dialog(t, addr, "EHLO me\r\n"+
		"MAIL FROM:<a@example.com>\r\nRCPT TO:<B@example.com>\r\nRCPT TO:<bad@example.com>\r\nDATA\r\n"+
		"Subject: x\r\n\r\n..dot\r\n.\r\n"+
		"MAIL FROM:<a@example.com>\r\nRCPT TO:<bad@example.com>\r\nDATA\r\nRSET\r\nQUIT\r\n")
	for _, want := range []string{"250-PIPELINING", "250 2.1.0", "250 2.1.5", "550 5.1.1 no such user", "354 ", "250 2.0.0 Ok: queued", "554 5.5.1", "221 "} {
		if !strings.Contains(out, want) {
			t.Errorf("reply %q missing from:\n%s", want, out)
		}
	}
	msgs := r.Messages()
	if len(msgs) != 1 || string(msgs[0].Data) != "Subject: x\r\n\r\n.dot\r\n" || len(msgs[0].To) != 1 {
		t.Fatalf("messages %+v", msgs)
	}
	if d := r.Deliveries(); d["b@example.com"] != 1 || len(d) != 1 {
		t.Errorf("deliveries %v", d)
	}
	if err := r.Wait(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
}

func TestRelayAuthRequired(t *testing.T) {
	r, addr := startRelay(t)
	r.SetAuth("u", "p")
	out := dialog(t, addr, "EHLO me\r\nMAIL FROM:<a@example.com>\r\nAUTH PLAIN AHUAeA==\r\nAUTH PLAIN AHUAcA==\r\nMAIL FROM:<a@example.com>\r\nQUIT\r\n")
	for _, want := range []string{"250-AUTH PLAIN", "530 5.7.0", "535 5.7.8", "235 2.7.0", "250 2.1.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("reply %q missing from:\n%s", want, out)
		}
	}
}

func TestRelayDownUpAndCloseWithStalledConnection(t *testing.T) {
	r, addr := startRelay(t)
	r.Down()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("Down relay accepted a connection")
	}
	if err := r.Up(); err != nil {
		t.Fatal(err)
	}
	r.SetStall(func(string) bool { return true })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("EHLO me\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nDATA\r\nhi\r\n.\r\n"))
	deadline := time.Now().Add(2 * time.Second)
	for r.Connections() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := r.Wait(ctx, 1); err == nil {
		t.Fatal("stalled message was accepted")
	}
	done := make(chan struct{})
	go func() { r.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close hangs on a stalled connection")
	}
	if r.Connections() != 0 {
		t.Errorf("%d connections after Close", r.Connections())
	}
}

func TestRelayRefusesNonLoopback(t *testing.T) {
	if _, err := New().Start("0.0.0.0:0"); err == nil {
		t.Fatal("listening on all interfaces")
	}
}

func TestRelayOnDeliverSeesBodiesItDiscards(t *testing.T) {
	r, addr := startRelay(t)
	r.DiscardData(true)
	var got []string
	r.OnDeliver(func(d Delivered) { got = append(got, d.To[0]+" "+strings.TrimSpace(string(d.Data))) })
	out := dialog(t, addr, "EHLO me\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nSubject: one\r\n.\r\nQUIT\r\n")
	if !strings.Contains(out, "250 2.0.0 Ok: queued") {
		t.Fatalf("not accepted:\n%s", out)
	}
	if len(got) != 1 || got[0] != "b@example.com Subject: one" {
		t.Fatalf("OnDeliver saw %q; want the recipient and the body", got)
	}
	if m := r.Messages(); len(m) != 1 || m[0].Data != nil {
		t.Fatalf("Messages: %+v; want one message without its body (DiscardData)", m)
	}
}
