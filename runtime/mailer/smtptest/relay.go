package smtptest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Stage names the point of the exchange a Reply replaces.
type Stage string

const (
	StageGreeting Stage = "greeting" // the 220 banner
	StageEHLO     Stage = "ehlo"     // the reply to EHLO/HELO
	StageMail     Stage = "mail"     // the reply to MAIL FROM
	StageRcpt     Stage = "rcpt"     // the reply to RCPT TO
	StageData     Stage = "data"     // the reply to the DATA command (354 normally)
	StageMessage  Stage = "message"  // the reply after the body's final dot
)

// Reply is an SMTP reply the relay sends instead of its normal one.
// A Code of 421 also closes the connection, as RFC 5321 §3.8 prescribes.
type Reply struct {
	Code     int
	Enhanced string // RFC 3463 status such as "5.1.1"; "" for none
	Text     string
	// Stall: answer nothing at this stage and hold the connection open until
	// the client closes it or the relay is closed (a relay that hangs).
	Stall bool
}

// Delivered is one accepted message.
type Delivered struct {
	From string   // envelope sender
	To   []string // envelope recipients as given
	// Data is the message with dot-stuffing undone, lines ending in CRLF.
	Data []byte
	At   time.Time
	// TLS: the message came over a connection upgraded with STARTTLS.
	TLS bool
	// User is the name the client authenticated as; "" without AUTH.
	User string
	// UTF8: the transaction's MAIL FROM declared SMTPUTF8.
	UTF8 bool
	// DeclaredSize is the SIZE its MAIL FROM declared (RFC 1870); -1: none.
	DeclaredSize int
}

// AuthAttempt is one AUTH command the relay received, whatever its outcome.
type AuthAttempt struct {
	Mechanism string // as the client sent it, upper-cased
	// User is the user name the client sent ("" if it sent none or it could
	// not be decoded); the password is never recorded.
	User string
	TLS  bool // the AUTH came over TLS
	OK   bool // the relay answered 235
}

const (
	// readTimeout ends connections of clients that go quiet.
	readTimeout = 60 * time.Second
	// maxSize is advertised with SIZE unless SetMaxSize says otherwise;
	// bigger messages get 552.
	maxSize = 10 << 20
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("smtptest: relay closed")

// Relay is an SMTP server for tests that can be told to fail. Create it with
// New, then Start it. All methods are safe for concurrent use.
type Relay struct {
	mu         sync.Mutex
	ln         net.Listener
	addr       string // host:port once started; Up listens here again
	closed     bool
	down       bool
	done       chan struct{} // closed by Close
	conns      map[net.Conn]*tracked
	replies    map[Stage]func(from, rcpt string) *Reply
	delay      time.Duration
	stall      func(rcpt string) bool
	unstall    chan struct{} // closed when the stall rule changes
	drop       func(rcpt string) bool
	user, pass string
	mechs      []string // AUTH mechanisms advertised; nil means PLAIN
	authTLS    bool     // advertise and accept AUTH only over TLS
	auths      []AuthAttempt
	tlsConfig  *tls.Config
	noPipe     bool
	noUTF8     bool // do not advertise SMTPUTF8
	sizeLimit  int  // advertised with SIZE; bigger messages get 552
	// implicitTLS: every connection is TLS from the first byte (SMTPS).
	implicitTLS *tls.Config
	discard     bool
	onDeliver   func(Delivered)
	msgs        []Delivered
	deliveries  map[string]int
	arrived     chan struct{} // closed and replaced on every delivery
	wg          sync.WaitGroup
	// A connection limit as relays enforce one (SetConnectionLimit):
	// sessions open now, the most open at once, connections refused.
	connLimit, sessions, maxSessions, refused int
	// perSession: messages a session may send before MAIL gets 421.
	perSession int
}

// New returns a relay that accepts every message until told otherwise.
func New() *Relay {
	return &Relay{
		done:       make(chan struct{}),
		conns:      map[net.Conn]*tracked{},
		replies:    map[Stage]func(from, rcpt string) *Reply{},
		unstall:    make(chan struct{}),
		deliveries: map[string]int{},
		arrived:    make(chan struct{}),
		sizeLimit:  maxSize,
	}
}

// SetMaxSize sets the SIZE the relay advertises (RFC 1870) and enforces: a
// MAIL FROM declaring more, or a body longer, gets 552 5.3.4.
func (r *Relay) SetMaxSize(n int) {
	r.mu.Lock()
	r.sizeLimit = n
	r.mu.Unlock()
}

// Start listens on addr, which must be a loopback address ("127.0.0.1:0"
// picks a free port), serves in the background, and returns the host:port it
// listens on.
func (r *Relay) Start(addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("smtptest: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("smtptest: %s is not a loopback address", addr)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return "", ErrClosed
	}
	if r.ln != nil {
		return "", errors.New("smtptest: relay already started")
	}
	if err := r.listenLocked(addr); err != nil {
		return "", err
	}
	return r.addr, nil
}

func (r *Relay) listenLocked(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("smtptest: listen on %s: %w", addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		_ = ln.Close()
		return fmt.Errorf("smtptest: %s resolved to non-loopback %s", addr, ln.Addr())
	}
	if r.implicitTLS != nil {
		ln = tls.NewListener(ln, r.implicitTLS)
	}
	r.ln = ln
	r.addr = ln.Addr().String()
	r.wg.Add(1)
	go r.serve(ln)
	return nil
}

func (r *Relay) serve(ln net.Listener) {
	defer r.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // listener closed by Down or Close
		}
		r.mu.Lock()
		if r.closed || r.down {
			r.mu.Unlock()
			_ = c.Close()
			continue
		}
		t := &tracked{c: c, gone: make(chan struct{})}
		r.conns[c] = t
		r.wg.Add(1)
		full := r.connLimit > 0 && r.sessions >= r.connLimit
		if full {
			r.refused++
		} else {
			r.sessions++
			r.maxSessions = max(r.maxSessions, r.sessions)
		}
		r.mu.Unlock()
		go func() {
			defer r.wg.Done()
			if full {
				// Postfix's answer past smtpd_client_connection_count_limit.
				_, _ = c.Write([]byte("421 4.7.0 localhost Error: too many connections from 127.0.0.1\r\n"))
			} else {
				r.handle(c, t.gone)
			}
			t.close()
			r.mu.Lock()
			delete(r.conns, c)
			if !full {
				r.sessions--
			}
			r.mu.Unlock()
		}()
	}
}

// Close stops the relay and closes every connection, stalled ones included,
// and waits for its goroutines to end.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.done)
	if r.ln != nil {
		_ = r.ln.Close()
	}
	for _, t := range r.conns {
		t.close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return nil
}

// Down simulates an outage: the relay stops listening (connections are
// refused) and drops every open connection.
func (r *Relay) Down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.down {
		return
	}
	r.down = true
	if r.ln != nil {
		_ = r.ln.Close()
		r.ln = nil
	}
	for _, t := range r.conns {
		t.close()
	}
}

// Up ends an outage: the relay listens again on the same address.
func (r *Relay) Up() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if !r.down {
		return nil
	}
	if err := r.listenLocked(r.addr); err != nil {
		return err
	}
	r.down = false
	return nil
}

// CloseConnections drops every open connection without a reply, as a relay
// does when it times out idle clients; it keeps listening.
func (r *Relay) CloseConnections() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.conns {
		t.close()
	}
}

// SetReply makes the relay answer at stage with f's reply; f gets the
// envelope sender and the recipient ("" where not known yet; for the data and
// message stages the first recipient). f returning nil, or a nil f, means the
// normal reply.
func (r *Relay) SetReply(stage Stage, f func(from, rcpt string) *Reply) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f == nil {
		delete(r.replies, stage)
		return
	}
	r.replies[stage] = f
}

// SetDelay delays the reply after the body's final dot by d (a slow relay).
func (r *Relay) SetDelay(d time.Duration) {
	r.mu.Lock()
	r.delay = d
	r.mu.Unlock()
}

// SetStall makes the relay never answer after the final dot of a message to
// a recipient f matches, holding the connection open, until the stall rule
// is changed (SetStall(nil) releases waiting connections, which then answer
// normally) or the relay is closed.
func (r *Relay) SetStall(f func(rcpt string) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stall = f
	close(r.unstall)
	r.unstall = make(chan struct{})
}

// SetDropMidData makes the relay abort the connection (TCP reset, no reply)
// after the first line of the body of a message to a recipient f matches.
func (r *Relay) SetDropMidData(f func(rcpt string) bool) {
	r.mu.Lock()
	r.drop = f
	r.mu.Unlock()
}

// SetImplicitTLS makes the relay an SMTPS server (port 465, RFC 8314
// §3.3): every connection is TLS from the first byte, with cfg. It must be
// called before Start.
func (r *Relay) SetImplicitTLS(cfg *tls.Config) {
	r.mu.Lock()
	r.implicitTLS = cfg
	r.mu.Unlock()
}

// SetSMTPUTF8 turns the SMTPUTF8 advertisement (RFC 6531) off (false) or
// back on (true, the default, as Postfix has it). Either way a non-ASCII
// address in a transaction whose MAIL FROM did not declare SMTPUTF8 gets
// Postfix's 553 5.6.7.
func (r *Relay) SetSMTPUTF8(on bool) {
	r.mu.Lock()
	r.noUTF8 = !on
	r.mu.Unlock()
}

// SetPipelining turns the PIPELINING advertisement off (false) or back on
// (true, the default), to test clients' lock-step mode.
func (r *Relay) SetPipelining(on bool) {
	r.mu.Lock()
	r.noPipe = !on
	r.mu.Unlock()
}

// DiscardData makes the relay forget message bodies (Messages then has Data
// nil) so long benchmarks do not fill memory; counts are kept.
func (r *Relay) DiscardData(on bool) {
	r.mu.Lock()
	r.discard = on
	r.mu.Unlock()
}

// SetAuth makes the relay advertise AUTH (PLAIN unless SetAuthMechanisms
// says otherwise) and require it before MAIL. An empty user turns AUTH off.
func (r *Relay) SetAuth(user, pass string) {
	r.mu.Lock()
	r.user, r.pass = user, pass
	r.mu.Unlock()
}

// SetAuthMechanisms sets the mechanisms advertised with AUTH, in that order
// (default, or with none given: PLAIN). PLAIN (RFC 4616) and LOGIN are
// implemented; any other name is advertised but answered with 504, to test
// clients facing mechanisms they do not speak.
func (r *Relay) SetAuthMechanisms(mechs ...string) {
	up := make([]string, 0, len(mechs))
	for _, m := range mechs {
		up = append(up, strings.ToUpper(m))
	}
	if len(up) == 0 {
		up = nil
	}
	r.mu.Lock()
	r.mechs = up
	r.mu.Unlock()
}

// SetAuthOnlyOverTLS makes the relay advertise and accept AUTH only on
// connections upgraded with STARTTLS, as relays configured like Postfix's
// smtpd_tls_auth_only do; AUTH in the clear gets 538 5.7.11 (RFC 4954 §6).
func (r *Relay) SetAuthOnlyOverTLS(on bool) {
	r.mu.Lock()
	r.authTLS = on
	r.mu.Unlock()
}

// AuthAttempts returns every AUTH command received, in order, so tests can
// check that credentials never crossed a connection in the clear.
func (r *Relay) AuthAttempts() []AuthAttempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]AuthAttempt(nil), r.auths...)
}

// SetTLS makes the relay advertise STARTTLS (RFC 3207) with cfg, which must
// hold a certificate; nil turns it off for new EHLOs. After the upgrade the
// relay forgets the session (EHLO, authentication, transaction) and wants a
// new EHLO before anything else.
func (r *Relay) SetTLS(cfg *tls.Config) {
	r.mu.Lock()
	r.tlsConfig = cfg
	r.mu.Unlock()
}

// OnDeliver makes the relay call f with every message it accepts, body
// included even under DiscardData, before it answers 250; f must be quick and
// must not call the relay. A harness that counts what arrived per recipient
// and per message over a long run uses it instead of keeping every body.
func (r *Relay) OnDeliver(f func(Delivered)) {
	r.mu.Lock()
	r.onDeliver = f
	r.mu.Unlock()
}

// Deliveries returns the number of accepted messages per lower-cased
// recipient.
func (r *Relay) Deliveries() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.deliveries))
	for k, v := range r.deliveries {
		out[k] = v
	}
	return out
}

// Messages returns the accepted messages in the order they were accepted.
func (r *Relay) Messages() []Delivered {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivered(nil), r.msgs...)
}

// Count returns the number of accepted messages.
func (r *Relay) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// Wait blocks until at least n messages were accepted or ctx ends.
func (r *Relay) Wait(ctx context.Context, n int) error {
	for {
		r.mu.Lock()
		got, ch := len(r.msgs), r.arrived
		r.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("smtptest: %d of %d messages arrived: %w", got, n, ctx.Err())
		}
	}
}

// SetConnectionLimit makes the relay refuse a connection while n sessions
// are open, as Postfix does past smtpd_client_connection_count_limit: 421
// 4.7.0 at the greeting, then it closes. 0 removes the limit.
func (r *Relay) SetConnectionLimit(n int) {
	r.mu.Lock()
	r.connLimit = n
	r.mu.Unlock()
}

// SetMessagesPerSession makes the relay answer MAIL with 421 4.7.0 and
// close the connection once n messages were accepted on it, as relays that
// cap messages per connection do (Exchange's MaxMessagesPerConnection, 20 by
// default). 0 removes the cap.
func (r *Relay) SetMessagesPerSession(n int) {
	r.mu.Lock()
	r.perSession = n
	r.mu.Unlock()
}

// Sessions returns the most sessions that were open at once and how many
// connections the limit refused.
func (r *Relay) Sessions() (most, refused int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxSessions, r.refused
}

// Connections returns the number of connections open now.
func (r *Relay) Connections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

func (r *Relay) reply(stage Stage, from, rcpt string) *Reply {
	r.mu.Lock()
	f := r.replies[stage]
	r.mu.Unlock()
	if f == nil {
		return nil
	}
	return f(from, rcpt)
}

// tracked is an open connection; gone is closed with it, so a handler waiting
// on a stall or delay notices that Down or CloseConnections dropped it.
type tracked struct {
	c    net.Conn
	once sync.Once
	gone chan struct{}
}

func (t *tracked) close() {
	t.once.Do(func() {
		_ = t.c.Close()
		close(t.gone)
	})
}

// session is the state of one connection.
type session struct {
	r    *Relay
	raw  net.Conn // the TCP connection
	c    net.Conn // raw, or the TLS connection over it after STARTTLS
	br   *bufio.Reader
	bw   *bufio.Writer
	gone <-chan struct{}
	tls  bool
	// needEHLO: STARTTLS reset the session; only EHLO/HELO, NOOP, RSET and
	// QUIT are allowed until the client greets again (RFC 3207 §4.2).
	needEHLO bool
	authed   bool
	user     string // authenticated user
	inTx     bool
	from     string
	rcpts    []string
	accepted int  // messages accepted in this session
	utf8     bool // the transaction's MAIL FROM carried SMTPUTF8
	declared int  // its SIZE parameter; -1 without
}

func (r *Relay) handle(c net.Conn, gone <-chan struct{}) {
	s := &session{r: r, raw: c, c: c, gone: gone, br: bufio.NewReaderSize(c, 8192), bw: bufio.NewWriterSize(c, 4096)}
	if _, ok := c.(*tls.Conn); ok {
		s.tls = true // SMTPS: TLS from the first byte
	}
	if rep := r.reply(StageGreeting, "", ""); rep != nil {
		if rep.Stall {
			s.hang()
			return
		}
		s.send(rep)
		s.bw.Flush()
		if rep.Code != 220 {
			return
		}
	} else {
		s.line("220 localhost ESMTP smtptest")
	}
	for {
		// Answers to pipelined commands go out together, once the client has
		// no more commands waiting (RFC 2920 §3.2).
		if s.br.Buffered() == 0 {
			if s.bw.Flush() != nil {
				return
			}
		}
		_ = s.c.SetReadDeadline(time.Now().Add(readTimeout))
		line, err := s.readLine()
		if err != nil {
			return
		}
		if !s.command(line) {
			s.bw.Flush()
			return
		}
	}
}

// readLine reads one line without its line ending, into a reused buffer.
func (s *session) readLine() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errors.New("line too long")
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

func (s *session) line(l string) {
	s.bw.WriteString(l)
	s.bw.WriteString("\r\n")
}

func (s *session) send(rep *Reply) {
	s.bw.WriteString(strconv.Itoa(rep.Code))
	if rep.Enhanced != "" {
		s.bw.WriteByte(' ')
		s.bw.WriteString(rep.Enhanced)
	}
	text := rep.Text
	if text == "" {
		text = "smtptest reply"
	}
	s.bw.WriteByte(' ')
	s.bw.WriteString(text)
	s.bw.WriteString("\r\n")
}

// override sends rep if non-nil and reports whether it did; keep is false when
// the connection must end (421).
func (s *session) override(rep *Reply) (sent, keep bool) {
	if rep == nil {
		return false, true
	}
	if rep.Stall {
		s.hang()
		return true, false
	}
	s.send(rep)
	return true, rep.Code != 421
}

// hang answers nothing: it flushes what is already answered, then waits
// until the client goes (closes the connection) or the relay is closed.
func (s *session) hang() {
	s.bw.Flush()
	_ = s.c.SetReadDeadline(time.Time{})
	buf := make([]byte, 512)
	for {
		// Whatever the client sends is read and dropped; a read error is
		// the client closing the connection.
		if _, err := s.c.Read(buf); err != nil {
			return
		}
		select {
		case <-s.r.done:
			return
		default:
		}
	}
}

func (s *session) resetTx() {
	s.inTx, s.from, s.rcpts, s.utf8, s.declared = false, "", s.rcpts[:0], false, -1
}

// command handles one command line and reports whether to keep the
// connection.
func (s *session) command(line []byte) bool {
	verb, arg, _ := bytes.Cut(line, []byte{' '})
	upVerb := strings.ToUpper(string(verb))
	if s.needEHLO {
		switch upVerb {
		case "EHLO", "HELO", "NOOP", "RSET", "QUIT":
		default:
			s.line("503 5.5.1 Error: send EHLO after STARTTLS")
			return true
		}
	}
	switch upVerb {
	case "EHLO", "HELO":
		s.resetTx()
		s.needEHLO = false
		if sent, keep := s.override(s.r.reply(StageEHLO, "", "")); sent {
			return keep
		}
		if strings.EqualFold(string(verb), "HELO") {
			s.line("250 localhost")
			return true
		}
		s.r.mu.Lock()
		auth := s.r.user != "" && (s.tls || !s.r.authTLS)
		mechs := "PLAIN"
		if s.r.mechs != nil {
			mechs = strings.Join(s.r.mechs, " ")
		}
		pipe := !s.r.noPipe
		utf8 := !s.r.noUTF8
		startTLS := s.r.tlsConfig != nil && !s.tls
		s.r.mu.Unlock()
		s.line("250-localhost")
		if pipe {
			s.line("250-PIPELINING")
		}
		if utf8 {
			s.line("250-SMTPUTF8")
		}
		s.line("250-ENHANCEDSTATUSCODES")
		s.line("250-8BITMIME")
		if startTLS {
			s.line("250-STARTTLS")
		}
		if auth {
			s.line("250-AUTH " + mechs)
		}
		s.r.mu.Lock()
		limit := s.r.sizeLimit
		s.r.mu.Unlock()
		s.line("250 SIZE " + strconv.Itoa(limit))
	case "STARTTLS":
		return s.startTLS(arg)
	case "AUTH":
		return s.auth(string(arg))
	case "MAIL":
		from, ok := pathArg(arg, "FROM:")
		s.r.mu.Lock()
		needAuth := s.r.user != "" && !s.authed
		s.r.mu.Unlock()
		utf8, declared := false, -1
		if _, params, ok := strings.Cut(string(arg), ">"); ok {
			for _, p := range strings.Fields(strings.ToUpper(params)) {
				if p == "SMTPUTF8" {
					utf8 = true
				} else if v, ok := strings.CutPrefix(p, "SIZE="); ok {
					if n, err := strconv.Atoi(v); err == nil {
						declared = n
					}
				}
			}
		}
		s.r.mu.Lock()
		limit := s.r.sizeLimit
		s.r.mu.Unlock()
		switch {
		case !ok:
			s.line("501 5.5.4 Syntax: MAIL FROM:<address>")
		case s.inTx:
			s.line("503 5.5.1 Error: nested MAIL command")
		case needAuth:
			s.line("530 5.7.0 Authentication required")
		case !utf8 && !isASCII(from):
			s.line(mustDeclareUTF8)
		case declared > limit:
			// RFC 1870 §6.1, Postfix's words.
			s.line("552 5.3.4 Message size exceeds fixed limit")
		default:
			if sent, keep := s.override(s.r.reply(StageMail, from, "")); sent {
				return keep
			}
			s.r.mu.Lock()
			perSession := s.r.perSession
			s.r.mu.Unlock()
			if perSession > 0 && s.accepted >= perSession {
				s.line("421 4.7.0 localhost Error: too many messages in this session")
				return false
			}
			s.inTx, s.from, s.utf8, s.declared = true, from, utf8, declared
			s.line("250 2.1.0 Ok")
		}
	case "RCPT":
		to, ok := pathArg(arg, "TO:")
		switch {
		case !ok:
			s.line("501 5.5.4 Syntax: RCPT TO:<address>")
		case !s.inTx:
			s.line("503 5.5.1 Error: need MAIL command")
		case !s.utf8 && !isASCII(to):
			s.line(mustDeclareUTF8)
		default:
			if sent, keep := s.override(s.r.reply(StageRcpt, s.from, to)); sent {
				return keep
			}
			s.rcpts = append(s.rcpts, to)
			s.line("250 2.1.5 Ok")
		}
	case "DATA":
		switch {
		case !s.inTx:
			s.line("503 5.5.1 Error: need MAIL command")
		case len(s.rcpts) == 0:
			s.line("554 5.5.1 Error: no valid recipients")
		default:
			if sent, keep := s.override(s.r.reply(StageData, s.from, s.rcpts[0])); sent {
				return keep
			}
			s.line("354 End data with <CR><LF>.<CR><LF>")
			if s.bw.Flush() != nil {
				return false
			}
			return s.data()
		}
	case "RSET":
		s.resetTx()
		s.line("250 2.0.0 Ok")
	case "NOOP":
		s.line("250 2.0.0 Ok")
	case "QUIT":
		s.line("221 2.0.0 Bye")
		return false
	default:
		s.line("502 5.5.2 Error: command not recognized")
	}
	return true
}

func (s *session) auth(arg string) bool {
	mech, initial, _ := strings.Cut(arg, " ")
	mech = strings.ToUpper(mech)
	s.r.mu.Lock()
	user, pass, tlsOnly := s.r.user, s.r.pass, s.r.authTLS
	offered := user != "" && (s.tls || !tlsOnly) && slicesContains(s.r.mechs, mech)
	s.r.mu.Unlock()
	att := AuthAttempt{Mechanism: mech, TLS: s.tls}
	defer func() {
		s.r.mu.Lock()
		s.r.auths = append(s.r.auths, att)
		s.r.mu.Unlock()
	}()
	switch {
	case user != "" && tlsOnly && !s.tls:
		s.line("538 5.7.11 Encryption required for requested authentication mechanism")
		return true
	case !offered || (mech != "PLAIN" && mech != "LOGIN"):
		s.line("504 5.5.4 Unrecognized authentication type")
		return true
	case s.authed:
		s.line("503 5.5.1 Error: already authenticated")
		return true
	case s.inTx:
		s.line("503 5.5.1 Error: AUTH not permitted during a mail transaction")
		return true
	}
	// next returns the client's answer to a 334 challenge, decoded; ok is
	// false when the reply (already written) ends the exchange, and keep when
	// the connection must end too.
	next := func(challenge, given string) (v string, ok, keep bool) {
		if given == "" {
			s.line("334 " + challenge)
			if s.bw.Flush() != nil {
				return "", false, false
			}
			_ = s.c.SetReadDeadline(time.Now().Add(readTimeout))
			l, err := s.readLine()
			if err != nil {
				return "", false, false
			}
			given = string(l)
		}
		if given == "*" {
			s.line("501 5.7.0 Authentication cancelled")
			return "", false, true
		}
		raw, err := base64.StdEncoding.DecodeString(given)
		if err != nil {
			s.line("501 5.5.2 Cannot decode response")
			return "", false, true
		}
		return string(raw), true, true
	}
	var gotUser, gotPass string
	if mech == "PLAIN" {
		raw, ok, keep := next("", initial)
		if !ok {
			return keep
		}
		parts := strings.Split(raw, "\x00")
		if len(parts) != 3 {
			s.line("501 5.5.2 Malformed PLAIN response")
			return true
		}
		gotUser, gotPass = parts[1], parts[2]
		att.User = gotUser
	} else {
		// LOGIN: user name and password each answer a base64 prompt
		// ("Username:", "Password:"); the user name may come with AUTH.
		u, ok, keep := next("VXNlcm5hbWU6", initial)
		if !ok {
			return keep
		}
		gotUser, att.User = u, u
		p, ok, keep := next("UGFzc3dvcmQ6", "")
		if !ok {
			return keep
		}
		gotPass = p
	}
	if gotUser != user || gotPass != pass {
		s.line("535 5.7.8 Error: authentication failed")
		return true
	}
	s.authed, s.user, att.OK = true, gotUser, true
	s.line("235 2.7.0 Authentication successful")
	return true
}

// slicesContains reports whether mechs (nil meaning the default, PLAIN) holds
// m.
func slicesContains(mechs []string, m string) bool {
	if mechs == nil {
		return m == "PLAIN"
	}
	for _, x := range mechs {
		if x == m {
			return true
		}
	}
	return false
}

// startTLS answers STARTTLS and upgrades the connection (RFC 3207).
func (s *session) startTLS(arg []byte) bool {
	s.r.mu.Lock()
	cfg := s.r.tlsConfig
	s.r.mu.Unlock()
	switch {
	case cfg == nil:
		s.line("502 5.5.1 Error: STARTTLS not offered")
		return true
	case s.tls:
		s.line("503 5.5.1 Error: TLS already active")
		return true
	case len(arg) != 0:
		s.line("501 5.5.4 Syntax: STARTTLS")
		return true
	}
	s.line("220 2.0.0 Ready to start TLS")
	if s.bw.Flush() != nil {
		return false
	}
	// Anything the client pipelined after STARTTLS came in the clear: drop it
	// rather than act on it inside the TLS session (CVE-2011-0411).
	tc := tls.Server(s.raw, cfg)
	_ = s.raw.SetDeadline(time.Now().Add(readTimeout))
	if err := tc.Handshake(); err != nil {
		return false
	}
	_ = s.raw.SetDeadline(time.Time{})
	s.c, s.tls = tc, true
	s.br = bufio.NewReaderSize(tc, 8192)
	s.bw = bufio.NewWriterSize(tc, 4096)
	s.resetTx()
	s.authed, s.user, s.needEHLO = false, "", true
	return true
}

// pathArg returns the address in `FROM:<addr> params`.
// mustDeclareUTF8 is Postfix's answer to a non-ASCII address in a
// transaction whose MAIL FROM did not carry SMTPUTF8 (RFC 6531 §3.4).
const mustDeclareUTF8 = "553 5.6.7 Must declare SMTPUTF8 to send unicode address"

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func pathArg(arg []byte, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(string(arg[:len(prefix)]), prefix) {
		return "", false
	}
	rest := strings.TrimSpace(string(arg[len(prefix):]))
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	addr, _, ok := strings.Cut(rest[1:], ">")
	return addr, ok
}

// data receives the body after 354 and answers it.
func (s *session) data() bool {
	rcpt := s.rcpts[0]
	s.r.mu.Lock()
	drop := s.r.drop != nil && s.r.drop(rcpt)
	limit := s.r.sizeLimit
	s.r.mu.Unlock()
	var body []byte
	tooBig := false
	for n := 0; ; n++ {
		_ = s.c.SetReadDeadline(time.Now().Add(readTimeout))
		line, err := s.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// An overlong line: keep it whole.
			l := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = s.br.ReadSlice('\n')
				l = append(l, line...)
			}
			line = l
		}
		if err != nil {
			return false
		}
		if drop && n == 0 {
			// Reset rather than close, so the client cannot mistake this for a
			// relay that read the whole message (see SetDropMidData).
			if tc, ok := s.raw.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			return false
		}
		if bytes.Equal(line, []byte(".\r\n")) || bytes.Equal(line, []byte(".\n")) {
			break
		}
		if line[0] == '.' {
			line = line[1:]
		}
		if len(body)+len(line) > limit {
			tooBig = true
			body = body[:0]
			continue
		}
		body = append(body, line...)
	}
	from, rcpts, user, overTLS, utf8, declared := s.from, append([]string(nil), s.rcpts...), s.user, s.tls, s.utf8, s.declared
	s.resetTx()
	if tooBig {
		s.line("552 5.3.4 Error: message file too big")
		return true
	}
	r := s.r
	r.mu.Lock()
	delay := r.delay
	stalled := r.stall != nil && r.stall(rcpt)
	unstall := r.unstall
	r.mu.Unlock()
	if stalled {
		select {
		case <-unstall:
		case <-r.done:
			return false
		case <-s.gone:
			return false
		}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.done:
			t.Stop()
			return false
		case <-s.gone:
			t.Stop()
			return false
		}
	}
	if sent, keep := s.override(r.reply(StageMessage, from, rcpt)); sent {
		return keep
	}
	r.mu.Lock()
	d := Delivered{From: from, To: rcpts, Data: body, At: time.Now(), TLS: overTLS, User: user, UTF8: utf8, DeclaredSize: declared}
	if r.onDeliver != nil {
		r.onDeliver(d)
	}
	if r.discard {
		d.Data = nil
	}
	r.msgs = append(r.msgs, d)
	for _, to := range rcpts {
		r.deliveries[strings.ToLower(to)]++
	}
	close(r.arrived)
	r.arrived = make(chan struct{})
	r.mu.Unlock()
	s.accepted++
	s.line("250 2.0.0 Ok: queued")
	return true
}
