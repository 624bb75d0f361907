package inbound_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/inbound"
)

// Clients that misbehave on purpose, over loopback TCP: what each costs the
// listener is bounded, and the listener's slots go back.

// A client that pipelines commands and never reads the replies fills the
// socket buffers, and the listener's write of a reply times out. The session
// ends there, although the client goes on sending: its slot goes to the
// next client (the listener here holds one connection at a time), and no
// goroutine of the session is left. Before, a failed write was ignored and
// the next command read, so a client that kept sending held its slot for
// good.
func TestInboundClientThatNeverReadsIsCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("database test")
	}
	const timeout = time.Second // well above a loaded machine's pause between a client's writes
	b := setup(t, func(s *inbound.Server) { s.MaxConns, s.Timeout = 1, timeout })

	// A small receive window, set before the connection is made so that
	// the window it advertises is small: the listener's replies (about 200
	// bytes an EHLO) fill it and the listener's send buffer after some
	// hundreds, even under the race detector.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		}); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", b.inbound)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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
	// Filling the buffers takes the listener some hundreds of replies: on a
	// loaded machine under the race detector, seconds (it once took more
	// than 5). Without the fix the slot never comes back.
	next.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	code, _, err := next.tp.ReadResponse(220)
	if err != nil {
		t.Fatalf("the next client, while one that never reads keeps sending: %v (after %v)", err, time.Since(start).Round(time.Millisecond))
	}
	if code != 220 {
		t.Fatalf("the next client: greeting %d", code)
	}
	next.expect(t, "QUIT", 221, "")
	// The connection is gone, reset rather than closed with replies still
	// queued for a client that never takes them: once the client reads what
	// it was sent, the next read fails with the reset (or sees the end), it
	// does not wait for more replies. Its writes then fail too. Only then:
	// while the client's receive window is full, it may ignore the reset
	// (out of its window) and learn of it only at its next zero-window
	// probe, which backs off to tens of seconds on a loaded machine (a
	// fresh-clone `make test` saw the writes go on for 30 s, twice).
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the client that never read is still connected: reading what it was sent, it waited 10 s for more instead of seeing the connection end")
		}
		break
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Error("the client that never read can still write 10 s after its connection was reset")
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

// RFC 5321 bounds a command line to 512 octets and a line of text to 1000
// (§4.5.3.1); real mail breaks the second (HTML on one line, and the DSNs
// that quote it), nobody needs to break the first by much. A command line
// over 2,000 octets is answered 500 and the connection closed, however long
// it goes on (the listener keeps none of it); a message's line of any
// length is taken, as Postfix does: its data is bounded by the message's
// size. Before, go-smtp's line bound applied to the data too, and a DSN with
// a long line was refused 554, a permanent failure, and lost.
func TestInboundLongLines(t *testing.T) {
	if testing.Short() {
		t.Skip("database test")
	}
	b, msgs := sentBundle(t)
	m2 := msgs["c2@example.com"]
	long := strings.Repeat("x", 2500)

	t.Run("a command line", func(t *testing.T) {
		for _, line := range []string{
			"MAIL FROM:<" + long + "@example.com>\r\n",
			// 4 MiB without an end: answered long before its end.
			"NOOP " + strings.Repeat(long, 4<<20/len(long)),
		} {
			r := dialRaw(t, b.inbound)
			r.reply(t)
			r.expect(t, "EHLO mx.example.com", 250, "")
			go io.WriteString(r.c, line)
			got := r.closedAfter(t)
			if len(got) == 0 || !strings.HasPrefix(got[len(got)-1], "500 ") {
				t.Errorf("a command line of %d octets: got %q, then the connection closed; want 500 last", len(line), got)
			}
		}
	})

	t.Run("a line of a message", func(t *testing.T) {
		body := padded(m2, 8<<10)
		body = strings.Replace(body, "The mail system could not deliver your message.\n", "The mail system could not deliver your message: "+long+"\n", 1)
		r := dataSession(t, b.inbound, m2.envFrom)
		if _, err := io.WriteString(r.c, strings.ReplaceAll(body, "\n", "\r\n")+".\r\n"); err != nil {
			t.Fatalf("sending a message with a line of %d octets: %v", len(long), err)
		}
		if code, msg := r.reply(t); code != 250 {
			t.Fatalf("a message with a line of %d octets: %d %s, want 250", len(long), code, msg)
		}
		if s := b.suppressions(t); s["c2@example.com"] != "hard_bounce" {
			t.Errorf("suppressions %v after a hard bounce with a long line", s)
		}
		// The session goes on, and its command lines are bounded again.
		r.expect(t, "NOOP", 250, "")
		io.WriteString(r.c, "NOOP "+long+"\r\n")
		if got := r.closedAfter(t); len(got) == 0 || !strings.HasPrefix(got[len(got)-1], "500 ") {
			t.Errorf("a long command line after a message: got %q, want 500 last", got)
		}
	})

	t.Run("a line of a message in BDAT chunks", func(t *testing.T) {
		body := strings.ReplaceAll(padded(m2, 8<<10), "\n", "\r\n")
		body = strings.Replace(body, "Message-ID: <big@", "Message-ID: <big-bdat@", 1)
		body = strings.Replace(body, "could not deliver your message.", "could not deliver your message: "+long, 1)
		r := dialRaw(t, b.inbound)
		r.reply(t)
		r.expect(t, "EHLO mx.example.com", 250, "")
		r.expect(t, "MAIL FROM:<>", 250, "")
		r.expect(t, "RCPT TO:<"+m2.envFrom+">", 250, "")
		half := len(body) / 2
		for _, chunk := range []string{fmt.Sprintf("BDAT %d\r\n%s", half, body[:half]), fmt.Sprintf("BDAT %d LAST\r\n%s", len(body)-half, body[half:])} {
			io.WriteString(r.c, chunk)
			if code, msg := r.reply(t); code != 250 {
				t.Fatalf("%.20q...: %d %s, want 250", chunk, code, msg)
			}
		}
		if ev := b.events(t); len(ev) != 2 {
			t.Errorf("events %v, want the two bounces", ev)
		}
		r.expect(t, "NOOP", 250, "")
		io.WriteString(r.c, "NOOP "+long+"\r\n")
		if got := r.closedAfter(t); len(got) == 0 || !strings.HasPrefix(got[len(got)-1], "500 ") {
			t.Errorf("a long command line after a message: got %q, want 500 last", got)
		}
	})
}

// The message data all sessions hold at once is bounded (MemoryBudget):
// twelve clients each send most of a message near the size limit and hold
// it open, and the listener keeps at most the budget of them; the messages
// that would take more are answered 452 4.3.1 once their data ends, so their
// senders retry, and a retry once the others are done is taken. Before, each
// session held its message, about twice its size with the buffer's growth:
// 64 connections could hold 1.3 GB.
func TestInboundMessagesShareAMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("database test")
	}
	const (
		maxBytes = 1 << 20
		budget   = 3 << 20
		clients  = 12
	)
	// One slot more than the clients, and a long per-read timeout: the
	// listener must not be under stress (every slot taken), whose 10 s per
	// line cut these sessions off once on a loaded machine while the test
	// sampled the heap; the budget is what this test is about.
	b, msgs := sentBundle(t, func(s *inbound.Server) {
		s.MaxMessageBytes, s.MemoryBudget, s.MaxConns, s.Timeout = maxBytes, budget, clients+1, 30*time.Second
	})
	m2 := msgs["c2@example.com"]
	body := strings.ReplaceAll(padded(m2, maxBytes*7/8), "\n", "\r\n")

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc

	conns := make([]*rawConn, clients)
	for i := range conns {
		r := dataSession(t, b.inbound, m2.envFrom)
		if _, err := io.WriteString(r.c, body); err != nil {
			t.Fatal(err)
		}
		conns[i] = r
	}
	// All the data is sent but the final dot: what the listener holds now
	// is what it keeps (sampled after a collection, for 0.5 s).
	time.Sleep(500 * time.Millisecond)
	var held uint64
	for range 10 {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		held = max(held, ms.HeapAlloc-min(ms.HeapAlloc, base))
		time.Sleep(50 * time.Millisecond)
	}
	if held > budget+1<<20 {
		t.Errorf("the listener held %.1f MiB of %d messages of %.1f MiB; want at most the %d MiB budget (and 1 MiB of the rest)",
			float64(held)/(1<<20), clients, float64(len(body))/(1<<20), budget>>20)
	}

	taken, refused := 0, 0
	for _, r := range conns {
		io.WriteString(r.c, ".\r\n")
	}
	for i, r := range conns {
		code, msg := r.reply(t)
		switch {
		case code == 250:
			taken++
		case code == 452 && strings.HasPrefix(msg, "4.3.1 ") && strings.Contains(msg, "try again later"):
			refused++
		default:
			t.Errorf("message %d: %d %s, want 250 or 452 4.3.1 ... try again later", i+1, code, msg)
		}
		r.expect(t, "QUIT", 221, "")
	}
	t.Logf("held %.1f MiB; %d messages taken, %d refused", float64(held)/(1<<20), taken, refused)
	if taken == 0 || refused == 0 || taken > budget/maxBytes*2 {
		t.Errorf("%d messages taken, %d refused; want some of each, and at most what the budget holds", taken, refused)
	}
	// Once they are done, a retry is taken.
	if err := b.deliver(t, "", m2.envFrom, strings.ReplaceAll(body, "\r\n", "\n")); err != nil {
		t.Errorf("a message once the others are done: %v", err)
	}
}

// drip writes one byte to c every gap, never a line's end, until a write
// fails.
func drip(c net.Conn, gap time.Duration) {
	for {
		if _, err := c.Write([]byte("x")); err != nil {
			return
		}
		time.Sleep(gap)
	}
}

// When every slot is taken, the listener is under stress (as Postfix's
// smtpd): each line must then arrive whole within the stress timeout of
// the last one (or of the listener's last reply), not each read, and a
// session already waiting gets the shorter deadline at once. Clients that
// keep their connections alive with a byte now and then are cut off, and
// the client waiting in the backlog is served. Before, a byte every 100 ms
// kept a connection for good, whatever the load. Below the cap, the
// per-read timeout holds: a dripping client is not cut off.
func TestInboundDrippingClientsAreCutOffUnderStress(t *testing.T) {
	if testing.Short() {
		t.Skip("database test")
	}
	const (
		timeout = 5 * time.Second
		stress  = 500 * time.Millisecond
	)
	b := setup(t, func(s *inbound.Server) { s.MaxConns, s.Timeout, s.StressTimeout = 2, timeout, stress })

	// One of two slots: no stress; a byte every 100 ms keeps the session.
	a := dialRaw(t, b.inbound)
	a.reply(t)
	a.expect(t, "EHLO mx.example.com", 250, "")
	go drip(a.c, 100*time.Millisecond)
	a.c.SetReadDeadline(time.Now().Add(3 * stress))
	if n, err := a.c.Read(make([]byte, 64)); !isTimeout(err) {
		t.Fatalf("a dripping client below the connection cap: read %d bytes, %v; want its session kept", n, err)
	}
	a.c.SetReadDeadline(time.Time{})

	// The second slot: stress. a drips; c is idle after EHLO, waiting
	// for a command with the per-read timeout's deadline.
	c := dialRaw(t, b.inbound)
	c.reply(t)
	c.expect(t, "EHLO mx.example.com", 250, "")
	start := time.Now()
	waiting, err := net.Dial("tcp", b.inbound)
	if err != nil {
		t.Fatal(err)
	}
	defer waiting.Close()
	for _, x := range []struct {
		name string
		r    *rawConn
	}{{"the dripping client", a}, {"the idle client", c}} {
		name, r := x.name, x.r
		got := r.closedAfter(t)
		if len(got) == 0 || !strings.HasPrefix(got[len(got)-1], "421 4.4.2 ") {
			t.Errorf("%s under stress got %q, then the connection closed; want 421 4.4.2 last", name, got)
		}
		if d := time.Since(start); d > timeout/2 {
			t.Errorf("%s was cut off %v after the listener came under stress, want about %v", name, d.Round(time.Millisecond), stress)
		}
	}
	waiting.SetReadDeadline(time.Now().Add(timeout / 2))
	if line, err := textproto.NewReader(bufio.NewReader(waiting)).ReadLine(); err != nil || !strings.HasPrefix(line, "220 ") {
		t.Fatalf("the client waiting in the backlog: %q, %v; want a greeting once the others were cut off", line, err)
	}
}

// A session lasts at most SessionTimeout, however busy its client keeps
// it: a client that sends a NOOP every 100 ms and reads each reply is cut
// off with 421 4.4.2 once it has passed.
func TestInboundSessionTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("database test")
	}
	const session = time.Second
	b := setup(t, func(s *inbound.Server) { s.Timeout, s.SessionTimeout = 5*time.Second, session })
	r := dialRaw(t, b.inbound)
	start := time.Now()
	r.reply(t)
	noops := 0
	for {
		if err := r.tp.PrintfLine("NOOP"); err != nil {
			break
		}
		r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := r.tp.ReadLine()
		if err != nil || !strings.HasPrefix(line, "250 ") {
			if !strings.HasPrefix(line, "421 4.4.2 ") {
				t.Errorf("NOOP %d: %q, %v; want 250 until the session ends, then 421 4.4.2", noops+1, line, err)
			}
			break
		}
		noops++
		if time.Since(start) > 3*session {
			t.Fatalf("the session lasts %v, %d NOOPs, past the %v session timeout", time.Since(start).Round(time.Millisecond), noops, session)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d := time.Since(start); d < session || noops < 5 {
		t.Errorf("cut off after %v and %d NOOPs; want the whole %v", d.Round(time.Millisecond), noops, session)
	}
	r.closedAfter(t)
}

// dataSession opens a session to addr as a bounce would (MAIL FROM:<>) to
// rcpt and leaves it after the 354 to DATA, ready for the message's data.
func dataSession(t *testing.T, addr, rcpt string) *rawConn {
	t.Helper()
	r := dialRaw(t, addr)
	r.reply(t)
	r.expect(t, "EHLO mx.example.com", 250, "")
	r.expect(t, "MAIL FROM:<>", 250, "")
	r.expect(t, "RCPT TO:<"+rcpt+">", 250, "")
	r.expect(t, "DATA", 354, "")
	return r
}
