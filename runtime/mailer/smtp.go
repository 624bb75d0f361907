package mailer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"sync"
	"time"
)

// SMTP delivers messages to one relay, keeping one open connection per caller
// goroutine slot and reusing it across messages (RSET between them).
type SMTP struct {
	Addr string // host:port
	// Hello is the name sent in EHLO.
	Hello string
	// Auth, if set, authenticates every new connection.
	Auth    smtp.Auth
	Timeout time.Duration

	mu   sync.Mutex
	idle []*smtp.Client
}

// SendError is a delivery failure with the relay's SMTP code, so the caller can
// tell a temporary (4xx: retry later) from a permanent (5xx: bounce) failure.
type SendError struct {
	Code int
	Err  error
}

func (e *SendError) Error() string { return fmt.Sprintf("smtp %d: %v", e.Code, e.Err) }
func (e *SendError) Unwrap() error { return e.Err }

// Permanent reports whether the relay refused the message for good.
func (e *SendError) Permanent() bool { return e.Code >= 500 && e.Code < 600 }

// Send delivers one message.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	data, err := m.Bytes()
	if err != nil {
		return &SendError{Code: 554, Err: err}
	}
	from, to, err := m.Envelope()
	if err != nil {
		return &SendError{Code: 553, Err: err}
	}
	c, err := s.get(ctx)
	if err != nil {
		return err
	}
	if err := s.deliver(c, from, to, data); err != nil {
		c.Close()
		var te *textproto.Error
		if errors.As(err, &te) {
			return &SendError{Code: te.Code, Err: err}
		}
		// A broken connection is a temporary failure.
		return &SendError{Code: 421, Err: err}
	}
	s.put(c)
	return nil
}

func (s *SMTP) deliver(c *smtp.Client, from, to string, data []byte) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		c.Reset()
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.Close()
}

func (s *SMTP) get(ctx context.Context) (*smtp.Client, error) {
	s.mu.Lock()
	if n := len(s.idle); n > 0 {
		c := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		if err := c.Reset(); err == nil {
			return c, nil
		}
		c.Close()
	} else {
		s.mu.Unlock()
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return nil, &SendError{Code: 421, Err: fmt.Errorf("connecting to SMTP relay %s: %w", s.Addr, err)}
	}
	host, _, _ := net.SplitHostPort(s.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return nil, &SendError{Code: 421, Err: fmt.Errorf("SMTP greeting from %s: %w", s.Addr, err)}
	}
	hello := s.Hello
	if hello == "" {
		hello = "localhost"
	}
	if err := c.Hello(hello); err != nil {
		c.Close()
		return nil, &SendError{Code: 421, Err: err}
	}
	if s.Auth != nil {
		if err := c.Auth(s.Auth); err != nil {
			c.Close()
			return nil, &SendError{Code: 535, Err: fmt.Errorf("SMTP authentication: %w", err)}
		}
	}
	return c, nil
}

func (s *SMTP) put(c *smtp.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.idle) >= 16 {
		c.Quit()
		return
	}
	s.idle = append(s.idle, c)
}

// Close quits every idle connection.
func (s *SMTP) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.idle {
		c.Quit()
	}
	s.idle = nil
	return nil
}
