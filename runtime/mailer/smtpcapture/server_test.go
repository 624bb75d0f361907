package smtpcapture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	netsmtp "net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// start runs a capture server on a free loopback port for the test's duration.
func start(t *testing.T, dir string) (*Server, string) {
	t.Helper()
	s := New(dir)
	addr, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, addr.String()
}

func TestCapturesMessagesInMemoryAndAsEMLFiles(t *testing.T) {
	dir := t.TempDir()
	s, addr := start(t, dir)

	sends := []struct {
		from string
		to   []string
		body string // as handed to the client
		want string // as it must arrive: CRLF lines, dots unstuffed, final CRLF
	}{
		{
			from: "news@shop.example",
			to:   []string{"alice@example.com"},
			body: "Subject: Back in stock\r\n\r\nLimited items are back in stock!\r\n",
			want: "Subject: Back in stock\r\n\r\nLimited items are back in stock!\r\n",
		},
		{
			// Several recipients; bare LF line ends; lines starting with dots,
			// which the client dot-stuffs and the server must unstuff.
			from: "news@shop.example",
			to:   []string{"bob@example.com", "carol@example.org", "dave+tag@example.net"},
			body: "Subject: Week 2\n\n.hidden line\n..two dots\n.\nend\n",
			want: "Subject: Week 2\r\n\r\n.hidden line\r\n..two dots\r\n.\r\nend\r\n",
		},
		{
			// No final line break: SMTP always ends the data with CRLF.
			from: "",
			to:   []string{"Erin.O'Neil@Example.COM"},
			body: "Subject: 20% off, last chance\r\n\r\nno newline at the end",
			want: "Subject: 20% off, last chance\r\n\r\nno newline at the end\r\n",
		},
	}

	before := time.Now()
	for _, m := range sends {
		if err := sendRaw(addr, m.from, m.to, m.body); err != nil {
			t.Fatalf("send to %v: %v", m.to, err)
		}
	}

	if got := s.Count(); got != len(sends) {
		t.Fatalf("Count = %d, want %d", got, len(sends))
	}
	got := s.Messages()
	if len(got) != len(sends) {
		t.Fatalf("Messages has %d entries, want %d", len(got), len(sends))
	}
	wantNames := []string{
		"000001-alice@example.com.eml",
		"000002-bob@example.com.eml",
		"000003-Erin.O_Neil@Example.COM.eml",
	}
	prev := before
	for i, m := range got {
		w := sends[i]
		if m.From != w.from {
			t.Errorf("message %d: From = %q, want %q", i, m.From, w.from)
		}
		if !slices.Equal(m.To, w.to) {
			t.Errorf("message %d: To = %q, want %q", i, m.To, w.to)
		}
		if string(m.Data) != w.want {
			t.Errorf("message %d: Data = %q, want %q", i, m.Data, w.want)
		}
		if m.Received.Before(prev) {
			t.Errorf("message %d: Received %v is before %v", i, m.Received, prev)
		}
		prev = m.Received
		if filepath.Dir(m.Path) != dir || filepath.Base(m.Path) != wantNames[i] {
			t.Errorf("message %d: Path = %q, want %s", i, m.Path, filepath.Join(dir, wantNames[i]))
			continue
		}
		onDisk, err := os.ReadFile(m.Path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(onDisk, m.Data) {
			t.Errorf("message %d: file %s = %q, want %q", i, m.Path, onDisk, m.Data)
		}
	}

	// Only the .eml files remain: no temp file is left behind.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("files in capture dir = %q, want %q", names, wantNames)
	}

	// Messages returns copies: changing them does not change the server's record.
	got[0].To[0] = "mallory@example.com"
	got[0].Data[0] = 'X'
	again := s.Messages()
	if again[0].To[0] != "alice@example.com" || again[0].Data[0] != 'S' {
		t.Errorf("Messages shares memory with the server: %q %q", again[0].To, again[0].Data[:10])
	}
}

func TestWithoutDirKeepsMessagesInMemoryOnly(t *testing.T) {
	s, addr := start(t, "")
	if err := sendRaw(addr, "a@example.com", []string{"b@example.com"}, "Subject: x\r\n\r\nbody\r\n"); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1", len(msgs))
	}
	if msgs[0].Path != "" {
		t.Errorf("Path = %q, want empty without a dir", msgs[0].Path)
	}
}

func TestNumberingContinuesAfterExistingFiles(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "000041-old@example.com.eml")
	if err := os.WriteFile(old, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, addr := start(t, dir)
	if err := sendRaw(addr, "a@example.com", []string{"new@example.com"}, "Subject: new\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 || filepath.Base(msgs[0].Path) != "000042-new@example.com.eml" {
		t.Fatalf("messages = %+v, want one stored as 000042-new@example.com.eml", msgs)
	}
	if b, err := os.ReadFile(old); err != nil || string(b) != "old" {
		t.Errorf("earlier capture changed: %q, %v", b, err)
	}
}

func TestRejectRecipientAnswersWithConfiguredCode(t *testing.T) {
	s, addr := start(t, t.TempDir())
	var mu sync.Mutex
	var asked []string
	s.RejectRecipient(func(rcpt string) *smtp.SMTPError {
		mu.Lock()
		asked = append(asked, rcpt)
		mu.Unlock()
		switch rcpt {
		case "gone@example.com":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case "busy@example.com":
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}
		return nil
	})

	c, err := netsmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("news@shop.example"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rcpt     string
		code     int
		enhanced string
	}{
		{"gone@example.com", 550, "5.1.1"},
		{"busy@example.com", 451, "4.3.0"},
	} {
		err := c.Rcpt(tc.rcpt)
		var te *textproto.Error
		if !errors.As(err, &te) {
			t.Fatalf("RCPT TO %s: err = %v, want an SMTP reply error", tc.rcpt, err)
		}
		if te.Code != tc.code || !strings.HasPrefix(te.Msg, tc.enhanced) {
			t.Errorf("RCPT TO %s: reply %d %q, want %d %s ...", tc.rcpt, te.Code, te.Msg, tc.code, tc.enhanced)
		}
	}
	if err := c.Rcpt("ok@example.com"); err != nil {
		t.Fatalf("RCPT TO an accepted recipient: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("Subject: partial\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}

	msgs := s.Messages()
	if len(msgs) != 1 || !slices.Equal(msgs[0].To, []string{"ok@example.com"}) {
		t.Fatalf("messages = %+v, want one to ok@example.com only", msgs)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"gone@example.com", "busy@example.com", "ok@example.com"}; !slices.Equal(asked, want) {
		t.Errorf("hook saw %q, want %q", asked, want)
	}

	// Removing the hook accepts everyone again.
	s.RejectRecipient(nil)
	if err := sendRaw(addr, "a@example.com", []string{"gone@example.com"}, "Subject: x\r\n\r\n"); err != nil {
		t.Errorf("after RejectRecipient(nil): %v", err)
	}
}

func TestConcurrentSendersAllCapturedExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	s, addr := start(t, dir)
	const senders, perSender = 20, 10

	// A reader polling the directory while mail arrives must only ever see
	// complete messages (the body line is the last line of every message).
	stopWatch := make(chan struct{})
	watchErr := make(chan error, 1)
	complete := regexp.MustCompile(`\r\nbody g\d\d-m\d\d\r\n$`)
	go func() {
		defer close(watchErr)
		for {
			select {
			case <-stopWatch:
				return
			default:
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					watchErr <- fmt.Errorf("read %s: %w", f, err)
					return
				}
				if !complete.Match(b) {
					watchErr <- fmt.Errorf("reader saw incomplete file %s: %q", f, b)
					return
				}
			}
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, senders*perSender)
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				id := fmt.Sprintf("g%02d-m%02d", g, i)
				body := "Message-ID: <" + id + "@test>\r\nSubject: " + id + "\r\n\r\nbody " + id + "\r\n"
				if err := sendRaw(addr, "news@shop.example", []string{id + "@example.com"}, body); err != nil {
					errs <- fmt.Errorf("%s: %w", id, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	close(stopWatch)
	if err := <-watchErr; err != nil {
		t.Error(err)
	}

	msgs := s.Messages()
	if len(msgs) != senders*perSender {
		t.Fatalf("captured %d messages, want %d", len(msgs), senders*perSender)
	}
	subjectRE := regexp.MustCompile(`Subject: (g\d\d-m\d\d)\r\n`)
	seen := map[string]int{}
	paths := map[string]bool{}
	for _, m := range msgs {
		sub := subjectRE.FindSubmatch(m.Data)
		if sub == nil {
			t.Fatalf("message without expected subject: %q", m.Data)
		}
		id := string(sub[1])
		seen[id]++
		if !slices.Equal(m.To, []string{id + "@example.com"}) {
			t.Errorf("%s: To = %q, envelope and body mixed up between sessions", id, m.To)
		}
		if paths[m.Path] {
			t.Errorf("path %s used twice", m.Path)
		}
		paths[m.Path] = true
		onDisk, err := os.ReadFile(m.Path)
		if err != nil || !bytes.Equal(onDisk, m.Data) {
			t.Errorf("%s: file %s does not hold the message (err %v)", id, m.Path, err)
		}
	}
	for g := range senders {
		for i := range perSender {
			id := fmt.Sprintf("g%02d-m%02d", g, i)
			if seen[id] != 1 {
				t.Errorf("%s captured %d times, want exactly once", id, seen[id])
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != senders*perSender {
		t.Errorf("%d .eml files, want %d", len(files), senders*perSender)
	}
}

func TestWaitReturnsWhenEnoughMessagesArrived(t *testing.T) {
	s, addr := start(t, "")
	go func() {
		for i := range 3 {
			time.Sleep(10 * time.Millisecond)
			_ = sendRaw(addr, "a@example.com", []string{fmt.Sprintf("r%d@example.com", i)}, "Subject: x\r\n\r\n")
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := s.Wait(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) < 3 {
		t.Fatalf("Wait returned %d messages, want at least 3", len(msgs))
	}

	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := s.Wait(short, 100); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait for 100 messages: err = %v, want deadline exceeded", err)
	}
}

func TestOversizedMessageIsRefused(t *testing.T) {
	if MaxMessageBytes < 1<<20 {
		t.Errorf("MaxMessageBytes = %d, want room for real campaign mail (>= 1 MiB)", MaxMessageBytes)
	}
	// A small limit keeps the test fast; the mechanism is the same at 10 MB.
	const limit = 4096
	s := New("")
	s.smtp.MaxMessageBytes = limit
	addr, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	line := strings.Repeat("x", 98) + "\r\n" // real mail keeps lines short too
	fits := "Subject: fits\r\n\r\n" + strings.Repeat(line, limit/100-2)
	if err := sendRaw(addr.String(), "a@example.com", []string{"b@example.com"}, fits); err != nil {
		t.Fatalf("sending %d bytes under a %d byte limit: %v", len(fits), limit, err)
	}
	big := "Subject: big\r\n\r\n" + strings.Repeat(line, limit/100+10)
	err = sendRaw(addr.String(), "a@example.com", []string{"b@example.com"}, big)
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 552 {
		t.Fatalf("sending %d bytes: err = %v, want a 552 reply", len(big), err)
	}
	if n := s.Count(); n != 1 {
		t.Errorf("Count = %d, want 1 (the refused message must not be recorded)", n)
	}
}

func TestRefusesNonLoopbackAddresses(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.10:2525", "mail.example.com:25", "no-port"} {
		s := New("")
		if _, err := s.Start(addr); err == nil {
			_ = s.Close()
			t.Errorf("Start(%q) succeeded, want a refusal", addr)
		} else if !strings.Contains(err.Error(), "loopback") && !strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("Start(%q): error %q does not say to use loopback", addr, err)
		}
		if err := s.ListenAndServe(addr); err == nil {
			t.Errorf("ListenAndServe(%q) returned nil, want a refusal", addr)
		}
	}
}

func TestListenAndServeBlocksUntilClose(t *testing.T) {
	// Find a free loopback port, then serve on it with the blocking API.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()

	s := New("")
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(addr) }()

	var sendErr error
	for range 100 { // the goroutine may not be listening yet
		if sendErr = sendRaw(addr, "a@example.com", []string{"b@example.com"}, "Subject: x\r\n\r\n"); sendErr == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if sendErr != nil {
		t.Fatalf("send to ListenAndServe server: %v", sendErr)
	}
	select {
	case err := <-done:
		t.Fatalf("ListenAndServe returned early: %v", err)
	default:
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ListenAndServe after Close = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListenAndServe did not return after Close")
	}
	if s.Count() != 1 {
		t.Errorf("Count after Close = %d, want 1 (messages outlive Close)", s.Count())
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := s.Start("127.0.0.1:0"); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: err = %v, want ErrClosed", err)
	}
	if err := sendRaw(addr, "a@example.com", []string{"b@example.com"}, "Subject: x\r\n\r\n"); err == nil {
		t.Error("a closed server still accepted mail")
	}
}

func TestFileName(t *testing.T) {
	for _, tc := range []struct {
		seq  int
		to   []string
		want string
	}{
		{7, []string{"a@b.c", "d@e.f"}, "000007-a@b.c.eml"},
		{1, nil, "000001-unknown.eml"},
		{12, []string{"../../etc/passwd"}, "000012-.._.._etc_passwd.eml"},
		{3, []string{"José <x@y>"}, "000003-Jos___x@y_.eml"},
		{4, []string{strings.Repeat("a", 300)}, "000004-" + strings.Repeat("a", maxNameRecipient) + ".eml"},
	} {
		if got := fileName(tc.seq, tc.to); got != tc.want {
			t.Errorf("fileName(%d, %q) = %q, want %q", tc.seq, tc.to, got, tc.want)
		}
		if strings.ContainsRune(fileName(tc.seq, tc.to), filepath.Separator) {
			t.Errorf("fileName(%d, %q) contains a path separator", tc.seq, tc.to)
		}
	}
}

// sendRaw delivers body with net/smtp, the standard library client, so the test
// exercises the server through real SMTP rather than through its Go API.
func sendRaw(addr, from string, to []string, body string) error {
	c, err := netsmtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("test.localhost"); err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
