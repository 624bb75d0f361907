package smtptest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"
)

// selfSigned is SelfSigned for a test.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	cfg, pool, err := SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	return cfg, pool
}

// client is a line-at-a-time SMTP client for driving the relay by hand.
type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialClient(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	cl := &client{t: t, c: c, br: bufio.NewReader(c)}
	cl.expect("220 ")
	return cl
}

// reply reads one whole (possibly multi-line) reply.
func (cl *client) reply() string {
	cl.t.Helper()
	var out strings.Builder
	for {
		line, err := cl.br.ReadString('\n')
		out.WriteString(line)
		if err != nil {
			cl.t.Fatalf("reading reply: %v (got %q)", err, out.String())
		}
		if len(line) < 4 || line[3] != '-' {
			return out.String()
		}
	}
}

func (cl *client) expect(prefix string) string {
	cl.t.Helper()
	r := cl.reply()
	if !strings.HasPrefix(r, prefix) {
		cl.t.Fatalf("reply %q, want %q…", r, prefix)
	}
	return r
}

// do sends one command line and checks the reply's start.
func (cl *client) do(cmd, want string) string {
	cl.t.Helper()
	if _, err := cl.c.Write([]byte(cmd + "\r\n")); err != nil {
		cl.t.Fatal(err)
	}
	return cl.expect(want)
}

func (cl *client) startTLS(pool *x509.CertPool) {
	cl.t.Helper()
	cl.do("STARTTLS", "220 ")
	tc := tls.Client(cl.c, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		cl.t.Fatalf("TLS handshake: %v", err)
	}
	cl.c, cl.br = tc, bufio.NewReader(tc)
}

func (cl *client) send(from, to string) {
	cl.t.Helper()
	cl.do("MAIL FROM:<"+from+">", "250 ")
	cl.do("RCPT TO:<"+to+">", "250 ")
	cl.do("DATA", "354 ")
	cl.do("Subject: hi\r\n\r\nbody\r\n.", "250 ")
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestRelaySTARTTLSResetsSessionAndRecordsTLS(t *testing.T) {
	r, addr := startRelay(t)
	cfg, pool := selfSigned(t)
	r.SetTLS(cfg)
	r.SetAuth("u", "p")
	r.SetAuthOnlyOverTLS(true)

	cl := dialClient(t, addr)
	ehlo := cl.do("EHLO me", "250")
	if !strings.Contains(ehlo, "250-STARTTLS") || strings.Contains(ehlo, "AUTH") {
		t.Fatalf("EHLO before TLS:\n%s", ehlo)
	}
	cl.do("AUTH PLAIN "+b64("\x00u\x00p"), "538 5.7.11")
	cl.do("STARTTLS extra", "501 ")
	cl.startTLS(pool)
	// RFC 3207 §4.2: the session starts over and wants EHLO first.
	cl.do("MAIL FROM:<a@example.com>", "503 ")
	ehlo = cl.do("EHLO me", "250")
	if strings.Contains(ehlo, "STARTTLS") || !strings.Contains(ehlo, "250-AUTH PLAIN") {
		t.Fatalf("EHLO after TLS:\n%s", ehlo)
	}
	cl.do("STARTTLS", "503 ")
	cl.do("MAIL FROM:<a@example.com>", "530 ")
	cl.do("AUTH PLAIN "+b64("\x00u\x00p"), "235 ")
	cl.send("a@example.com", "b@example.com")
	cl.do("QUIT", "221 ")

	msgs := r.Messages()
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].User != "u" {
		t.Fatalf("messages %+v", msgs)
	}
	want := []AuthAttempt{{Mechanism: "PLAIN", TLS: false}, {Mechanism: "PLAIN", User: "u", TLS: true, OK: true}}
	if got := r.AuthAttempts(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("auth attempts %+v, want %+v", got, want)
	}
}

func TestRelayWithoutTLSDoesNotOfferSTARTTLS(t *testing.T) {
	r, addr := startRelay(t)
	cl := dialClient(t, addr)
	if ehlo := cl.do("EHLO me", "250"); strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("EHLO offers STARTTLS:\n%s", ehlo)
	}
	cl.do("STARTTLS", "502 ")
	cl.send("a@example.com", "b@example.com")
	if msgs := r.Messages(); len(msgs) != 1 || msgs[0].TLS || msgs[0].User != "" {
		t.Fatalf("messages %+v", msgs)
	}
}

func TestRelayAuthLogin(t *testing.T) {
	r, addr := startRelay(t)
	r.SetAuth("u", "p")
	r.SetAuthMechanisms("login")

	cl := dialClient(t, addr)
	if ehlo := cl.do("EHLO me", "250"); !strings.Contains(ehlo, "250-AUTH LOGIN\r\n") {
		t.Fatalf("EHLO:\n%s", ehlo)
	}
	cl.do("AUTH PLAIN "+b64("\x00u\x00p"), "504 ")
	cl.do("AUTH LOGIN", "334 VXNlcm5hbWU6")
	cl.do(b64("u"), "334 UGFzc3dvcmQ6")
	cl.do(b64("wrong"), "535 5.7.8")
	cl.do("AUTH LOGIN", "334 VXNlcm5hbWU6")
	cl.do("*", "501 ")
	// The user name may come with the command.
	cl.do("AUTH LOGIN "+b64("u"), "334 UGFzc3dvcmQ6")
	cl.do(b64("p"), "235 ")
	cl.do("AUTH LOGIN", "503 ")
	cl.send("a@example.com", "b@example.com")

	if msgs := r.Messages(); len(msgs) != 1 || msgs[0].TLS || msgs[0].User != "u" {
		t.Fatalf("messages %+v", msgs)
	}
	var oks int
	for _, a := range r.AuthAttempts() {
		if a.OK {
			oks++
		}
	}
	if got := r.AuthAttempts(); len(got) != 5 || oks != 1 || got[1].User != "u" || got[1].OK {
		t.Fatalf("auth attempts %+v", got)
	}
}

func TestRelayTLSHandshakeFailureClosesConnection(t *testing.T) {
	r, addr := startRelay(t)
	cfg, _ := selfSigned(t)
	r.SetTLS(cfg)
	cl := dialClient(t, addr)
	cl.do("EHLO me", "250")
	cl.do("STARTTLS", "220 ")
	// A client that does not trust the certificate gives up the handshake.
	tc := tls.Client(cl.c, &tls.Config{ServerName: "localhost", RootCAs: x509.NewCertPool()})
	if err := tc.Handshake(); err == nil {
		t.Fatal("handshake with an untrusted certificate succeeded")
	}
	cl.c.Close()
	deadline := time.Now().Add(3 * time.Second)
	for r.Connections() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if r.Connections() != 0 || r.Count() != 0 {
		t.Fatalf("%d connections, %d messages", r.Connections(), r.Count())
	}
}
