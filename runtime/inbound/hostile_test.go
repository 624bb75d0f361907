package inbound_test

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/inbound"
)

// Clients that misbehave on purpose, over loopback TCP: what each costs the
// listener is bounded, and the listener's slots go back.

// A client that pipelines commands and never reads the replies fills the
// socket buffers, and the listener's write of a reply times out. The session
// ends there, although the client goes on sending: its slot goes to the next
// client (the listener here holds one connection at a time), and none of
// its goroutines is left. Before, a failed write was ignored and the next
// command read, so a client that kept sending held its slot for good.
func TestInboundClientThatNeverReadsIsCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("database test")
	}
	const timeout = time.Second // well above a loaded machine's pause between a client's writes
	b := setup(t, func(s *inbound.Server) { s.MaxConns, s.Timeout = 1, timeout })

	c, err := net.Dial("tcp", b.inbound)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A small receive window: the listener's replies (about 200 bytes an
	// EHLO) fill it and the listener's send buffer after some thousands.
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	// It holds the one slot: it is greeted (and reads nothing more).
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatalf("the greeting: %v", err)
	}
	ended := make(chan error, 1)
	go func() {
		batch := []byte(strings.Repeat("EHLO mx.example.com\r\n", 512))
		for {
			if _, err := c.Write(batch); err != nil {
				ended <- err
				return
			}
		}
	}()

	start := time.Now()
	next := dialRaw(t, b.inbound)
	next.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	code, _, err := next.tp.ReadResponse(220)
	if err != nil {
		t.Fatalf("the next client, while one that never reads keeps sending: %v (after %v)", err, time.Since(start).Round(time.Millisecond))
	}
	if code != 220 {
		t.Fatalf("the next client: greeting %d", code)
	}
	next.expect(t, "QUIT", 221, "")
	select {
	case <-ended: // the listener closed the connection: the client's writes fail
	case <-time.After(5 * time.Second):
		t.Fatal("the client that never reads can still write 5 s after the listener took the next client")
	}
	// No session's goroutine is left.
	noSessionsLeft(t)
}

// noSessionsLeft waits up to 3 s for the listener's sessions to end: for no
// goroutine to be in go-smtp's handleConn.
func noSessionsLeft(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "go-smtp.(*Server).handleConn(") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions still running 3 s after their clients were cut off:\n%s", stacks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
