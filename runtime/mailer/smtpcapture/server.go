package smtpcapture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

const (
	// MaxMessageBytes is the largest message accepted; bigger ones get 552.
	MaxMessageBytes = 10 << 20
	// MaxRecipients per transaction; more get 452, as from a real relay.
	MaxRecipients = 50
	// ioTimeout ends connections of clients that stall, so a hung test client
	// cannot keep the server (and Close) busy forever.
	ioTimeout = 30 * time.Second
	// maxNameRecipient bounds the recipient part of .eml file names.
	maxNameRecipient = 100
)

// ErrClosed is returned by Start and ListenAndServe after Close.
var ErrClosed = errors.New("smtpcapture: server closed")

// Message is one accepted SMTP transaction.
type Message struct {
	From string   // envelope sender (MAIL FROM); "" for the null sender <>
	To   []string // accepted envelope recipients (RCPT TO), in order
	// Data is the message as received after SMTP transparency is undone: lines end
	// in CRLF, dot-stuffing is removed, and it ends with CRLF.
	Data     []byte
	Path     string // .eml file, "" if no dir
	Received time.Time
}

// Server captures SMTP messages. Create it with New.
type Server struct {
	dir  string
	smtp *smtp.Server

	mu        sync.Mutex
	msgs      []Message
	seq       int // number of the last .eml file written (continues existing files)
	reject    func(rcpt string) *smtp.SMTPError
	closed    bool
	prepared  bool // dir created and seq scanned
	listeners []net.Listener
	arrived   chan struct{} // closed and replaced on every accepted message
	inflight  sync.WaitGroup
}

// New returns a server that stores every accepted message in memory and, if dir
// != "", as one <seq>-<sanitized first recipient>.eml file in dir (written
// atomically: temp file + rename, so a reader never sees half a message).
// Numbering continues after the highest <seq> already in dir, so a restarted demo
// does not overwrite earlier captures. Two servers must not share one dir.
func New(dir string) *Server {
	s := &Server{dir: dir, arrived: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{server: s}, nil
	}))
	srv.Domain = "localhost"
	srv.MaxMessageBytes = MaxMessageBytes
	srv.MaxRecipients = MaxRecipients
	srv.ReadTimeout = ioTimeout
	srv.WriteTimeout = ioTimeout
	// No TLS on a loopback capture server, and clients that insist on AUTH (as a
	// production mailer config might) must not be turned away for lack of it.
	srv.AllowInsecureAuth = true
	// Internationalized addresses (josé@example.com) come with SMTPUTF8, as
	// to a Postfix relay.
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = log.New(os.Stderr, "smtpcapture: ", log.LstdFlags)
	s.smtp = srv
	return s
}

// RejectRecipient installs f, called for every RCPT TO: when it returns non-nil,
// the recipient is refused with that reply (e.g. 550 5.1.1 for a hard bounce,
// 451 4.3.0 for a temporary failure) and the transaction goes on without it.
// nil removes the hook.
func (s *Server) RejectRecipient(f func(rcpt string) *smtp.SMTPError) {
	s.mu.Lock()
	s.reject = f
	s.mu.Unlock()
}

// ListenAndServe listens on addr (a loopback address) and serves until Close,
// after which it returns nil.
func (s *Server) ListenAndServe(addr string) error {
	l, err := s.listen(addr)
	if err != nil {
		return err
	}
	return s.smtp.Serve(l)
}

// Start listens on addr (a loopback address; "127.0.0.1:0" picks a free port),
// serves in the background until Close, and returns the address it listens on.
func (s *Server) Start(addr string) (net.Addr, error) {
	l, err := s.listen(addr)
	if err != nil {
		return nil, err
	}
	go func() {
		// Serve returns nil after Close; any other error means the listener died
		// under us, which a test will notice as refused connections.
		if err := s.smtp.Serve(l); err != nil {
			s.smtp.ErrorLog.Printf("serve %s: %v", l.Addr(), err)
		}
	}()
	return l.Addr(), nil
}

func (s *Server) listen(addr string) (net.Listener, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	if err := s.prepareDir(); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smtpcapture: listen on %s: %w", addr, err)
	}
	// "localhost" is resolved by the system; make sure it really was loopback.
	if tcp, ok := l.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		_ = l.Close()
		return nil, fmt.Errorf("smtpcapture: %s resolved to non-loopback %s; use 127.0.0.1:<port>", addr, l.Addr())
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = l.Close()
		return nil, ErrClosed
	}
	// Kept so Close can close a listener whose Serve has not registered it with
	// the SMTP server yet.
	s.listeners = append(s.listeners, l)
	return l, nil
}

// checkLoopback refuses anything but a literal loopback IP or "localhost": the
// server accepts mail from whoever connects, which is fine only on this machine.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("smtpcapture: address %q: %w; use host:port such as 127.0.0.1:2525", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("smtpcapture: refusing to listen on %q: this capture server accepts mail from anyone who connects, so it listens only on loopback (127.0.0.1, ::1 or localhost)", addr)
}

// prepareDir creates the capture directory and continues the numbering of the
// .eml files already in it. Done at Start rather than per message so a bad
// directory is reported once, to whoever starts the server.
func (s *Server) prepareDir() error {
	if s.dir == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prepared {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("smtpcapture: create capture directory: %w", err)
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("smtpcapture: read capture directory: %w", err)
	}
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "-")
		if !ok || !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		if n, err := strconv.Atoi(num); err == nil && n > s.seq {
			s.seq = n
		}
	}
	s.prepared = true
	return nil
}

// Messages returns a copy of the accepted messages, in arrival order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	for i, m := range s.msgs {
		m.To = slices.Clone(m.To)
		m.Data = slices.Clone(m.Data)
		out[i] = m
	}
	return out
}

// Count returns the number of accepted messages.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Wait blocks until at least n messages were accepted, then returns a copy of
// them, or returns ctx's error with the messages so far. Senders are usually
// asynchronous (an engine loop), so tests wait for mail instead of sleeping.
func (s *Server) Wait(ctx context.Context, n int) ([]Message, error) {
	for {
		s.mu.Lock()
		have, arrived := len(s.msgs), s.arrived
		s.mu.Unlock()
		if have >= n {
			return s.Messages(), nil
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return s.Messages(), fmt.Errorf("smtpcapture: got %d of %d messages: %w", have, n, ctx.Err())
		}
	}
}

// Close stops listening, drops open connections and waits for messages being
// stored. Messages stay available. Calling Close again is a no-op.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	listeners := s.listeners
	s.mu.Unlock()

	err := s.smtp.Close()
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	for _, l := range listeners {
		// Usually already closed by s.smtp.Close; this covers a Serve goroutine
		// that has not started yet.
		_ = l.Close()
	}
	// No new store can begin (closed is set under mu before the check in
	// beginStore), so Wait cannot race an Add from zero.
	s.inflight.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("smtpcapture: close: %w", err)
	}
	return nil
}

func (s *Server) rejectHook() func(string) *smtp.SMTPError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reject
}

// beginStore registers a message being received, so Close waits for it.
func (s *Server) beginStore() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	return true
}

// store records a received message. The .eml file is written under the lock so
// file numbers follow arrival order exactly; a capture server is not a hot path.
func (s *Server) store(from string, to []string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := Message{From: from, To: to, Data: data, Received: time.Now()}
	if s.dir != "" {
		seq := s.seq + 1
		path, err := writeAtomic(s.dir, fileName(seq, to), data)
		if err != nil {
			return err
		}
		s.seq = seq
		m.Path = path
	}
	s.msgs = append(s.msgs, m)
	close(s.arrived)
	s.arrived = make(chan struct{})
	return nil
}

// fileName is "<seq>-<first recipient>.eml", with the recipient reduced to
// characters that are safe in file names on every common file system.
func fileName(seq int, to []string) string {
	rcpt := "unknown"
	if len(to) > 0 {
		rcpt = to[0]
	}
	var b strings.Builder
	for _, r := range rcpt {
		if b.Len() >= maxNameRecipient {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '@', r == '.', r == '-', r == '+', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return fmt.Sprintf("%06d-%s.eml", seq, b.String())
}

// writeAtomic writes data to dir/name through a hidden temp file and a rename, so
// a reader listing *.eml only ever sees complete files.
func writeAtomic(dir, name string, data []byte) (string, error) {
	tmp, err := os.CreateTemp(dir, ".incoming-*.tmp")
	if err != nil {
		return "", fmt.Errorf("smtpcapture: create temp file: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("smtpcapture: write %s: %w", tmp.Name(), err)
	}
	path := filepath.Join(dir, name)
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("smtpcapture: rename to %s: %w", path, err)
	}
	return path, nil
}

// session holds one SMTP transaction's envelope. go-smtp calls its methods from
// the connection's goroutine only (Logout may come from Close, and touches nothing).
type session struct {
	server *Server
	from   string
	to     []string
}

var _ smtp.Session = (*session)(nil)

func (ss *session) Reset() {
	ss.from = ""
	ss.to = nil
}

func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	ss.to = nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if f := ss.server.rejectHook(); f != nil {
		// Checked on the concrete type: a nil *SMTPError in an error interface
		// would be non-nil and reject the recipient with an empty reply.
		if e := f(to); e != nil {
			return e
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	if !ss.server.beginStore() {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "capture server shutting down"}
	}
	defer ss.server.inflight.Done()

	data, err := io.ReadAll(r)
	if err != nil {
		// go-smtp reports an oversized message as ErrDataTooLarge (552); pass
		// *SMTPError values through so the client sees the real reason.
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se
		}
		return fmt.Errorf("read message: %w", err)
	}
	if err := ss.server.store(ss.from, slices.Clone(ss.to), data); err != nil {
		ss.server.smtp.ErrorLog.Printf("%v", err)
		// Temporary: the sender should retry, as it would with a real relay whose
		// disk is full.
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "capture server could not store the message"}
	}
	return nil
}
