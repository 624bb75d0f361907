package mailer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults for the zero values of SMTP's fields.
const (
	DefaultHello              = "localhost"
	DefaultDialTimeout        = 10 * time.Second
	DefaultCommandTimeout     = 30 * time.Second
	DefaultDataTimeout        = 2 * time.Minute
	DefaultIdleTimeout        = 30 * time.Second
	DefaultMaxConns           = 8
	DefaultMaxMessagesPerConn = 1000
	DefaultConnProbeInterval  = 30 * time.Second
)

// quitTimeout bounds the polite QUIT when a connection is retired.
const quitTimeout = 2 * time.Second

// ErrClosed is the error inside the SendError of a Send after Close.
var ErrClosed = errors.New("smtp client closed")

// SMTP delivers messages to one relay over a pool of persistent connections.
// The zero value with Addr set is ready to use; the other fields take the
// defaults above when zero. Fields must not change after the first Send.
//
// Every network read and write runs under a deadline (DialTimeout,
// CommandTimeout or DataTimeout), so no phase of an exchange can hang, and a
// cancelled ctx aborts an exchange in progress by closing its connection.
type SMTP struct {
	Addr string // host:port
	// Hello is the name sent in EHLO (default "localhost").
	Hello string
	// Auth, if set, authenticates every new connection with AUTH PLAIN (or
	// LOGIN when the relay offers only that). Credentials are only sent over
	// TLS or to a loopback relay.
	Auth *Auth
	// TLS configures STARTTLS, used whenever the relay offers it. With TLS nil,
	// STARTTLS is used with a default config (verifying Addr's host) except to
	// a loopback relay, where it buys nothing and local relays often present
	// self-signed certificates.
	TLS *tls.Config
	// RequireTLS fails every connection to a relay that does not offer
	// STARTTLS, instead of sending in the clear.
	RequireTLS bool
	// ImplicitTLS speaks TLS from the first byte (SMTPS, port 465, RFC 8314
	// §3.3) instead of upgrading with STARTTLS; TLS configures it as for
	// STARTTLS (nil: verify Addr's host).
	ImplicitTLS bool

	DialTimeout    time.Duration // TCP connect (default 10s)
	CommandTimeout time.Duration // writing one command and reading its reply (default 30s)
	// DataTimeout bounds writing the message body and waiting for the reply
	// after its final dot (default 2m; RFC 5321 §4.5.3.2 suggests 10m, but a
	// bounded send loop matters more than the slowest relay).
	DataTimeout time.Duration
	// IdleTimeout retires pooled connections unused for longer (default 30s),
	// well inside the 5 minutes RFC 5321 §4.5.3.2.7 lets a server wait.
	IdleTimeout time.Duration
	// MaxConns caps the connections open at once, idle or busy (default 8).
	MaxConns int
	// MaxMessagesPerConn retires a connection (QUIT) after this many messages
	// (default 1000).
	MaxMessagesPerConn int
	// DKIM, if set, signs every message once, before its first attempt.
	DKIM *DKIM
	// ConnProbeInterval: while the relay accepts fewer connections than
	// MaxConns (see get), how long after its last refusal one more is tried
	// (default 30s).
	ConnProbeInterval time.Duration
	// OnConnLimit, if set, is called when the connections the relay accepts
	// at once turn out fewer than max (cause is the refusal of the next one),
	// and when a probe finds room for one more or an outage makes the pool
	// forget the limit (cause nil; limit == max once the pool may open them
	// all). It must not block.
	OnConnLimit func(limit, max int, cause error)

	once   sync.Once
	slots  chan struct{} // one token per connection in use
	mu     sync.Mutex
	idle   []*smtpConn // most recently used last
	closed bool
	// open counts the connections established and not yet closed, idle or
	// busy; dialing, those being set up.
	open, dialing int
	// limit is how many connections the relay accepted at once when it
	// refused one more (0: MaxConns, none refused), refusedAt when it last did.
	limit     int
	refusedAt time.Time
	// refusal is the last refusal that lowered or held the limit; reported
	// the limit OnConnLimit was last told (0: MaxConns), under reportMu.
	refusal  *SendError
	reported int
	reportMu sync.Mutex
	// changed is closed (and replaced) whenever a connection goes idle or
	// closes or a dial ends: what a sender waiting for a connection waits on.
	changed chan struct{}
}

// Auth holds credentials for SMTP AUTH.
type Auth struct {
	Username string
	Password string
}

// ErrConfig marks a failure the client decided on its own because the relay
// and our configuration do not fit (TLS required but not offered, credentials
// that would travel in clear, no usable AUTH mechanism): nothing will change
// until an operator does, so Classify calls it RelayRefused.
var ErrConfig = errors.New("relay and client configuration do not match")

// Stage names the step of the SMTP exchange that failed.
type Stage string

const (
	StageConnect  Stage = "connect"
	StageGreeting Stage = "greeting"
	StageEHLO     Stage = "ehlo"
	StageStartTLS Stage = "starttls"
	StageAuth     Stage = "auth"
	StageMail     Stage = "mail"
	StageRcpt     Stage = "rcpt"
	StageData     Stage = "data"    // the reply to the DATA command
	StageMessage  Stage = "message" // the reply after the body's final dot
	// StageCompose: the message could not be encoded or its addresses are
	// unusable; nothing was sent.
	StageCompose Stage = "compose"
)

// SendError is a failed delivery: where it failed, and the relay's reply if
// there was one. Classify turns it into what the caller should do.
type SendError struct {
	Stage    Stage
	Code     int    // SMTP reply code; 0 when there was no reply (network error, timeout)
	Enhanced string // RFC 3463 enhanced status such as "5.1.1"; "" if none
	Message  string // the relay's text without code and enhanced status; lines joined by "\n"
	Err      error  // underlying error (network, timeout, context); may be nil
}

func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString("smtp ")
	b.WriteString(string(e.Stage))
	b.WriteString(": ")
	if e.Code != 0 {
		b.WriteString(strconv.Itoa(e.Code))
		if e.Enhanced != "" {
			b.WriteByte(' ')
			b.WriteString(e.Enhanced)
		}
		if e.Message != "" {
			b.WriteByte(' ')
			b.WriteString(strings.ReplaceAll(e.Message, "\n", " "))
		}
		if e.Err != nil {
			b.WriteString(": ")
		}
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *SendError) Unwrap() error { return e.Err }

// Timeout reports whether the exchange failed because a deadline passed.
func (e *SendError) Timeout() bool {
	if e.Err == nil {
		return false
	}
	if errors.Is(e.Err, os.ErrDeadlineExceeded) || errors.Is(e.Err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// MaybeDelivered reports whether the relay may have accepted the message
// although it did not say so: the whole body and its final dot were written
// and then the connection broke or the reply timed out. Resending such a
// message may deliver it twice (the stable Message-ID lets receivers drop the
// duplicate).
func (e *SendError) MaybeDelivered() bool { return e.Stage == StageMessage && e.Code == 0 }

// Permanent reports a 5xx reply. Deprecated: use Classify, which also looks at
// the stage and the enhanced status.
func (e *SendError) Permanent() bool { return e.Code >= 500 && e.Code < 600 }

func (s *SMTP) init() {
	s.once.Do(func() {
		n := s.MaxConns
		if n <= 0 {
			n = DefaultMaxConns
		}
		s.slots = make(chan struct{}, n)
	})
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (s *SMTP) commandTimeout() time.Duration {
	return orDefault(s.CommandTimeout, DefaultCommandTimeout)
}
func (s *SMTP) dataTimeout() time.Duration { return orDefault(s.DataTimeout, DefaultDataTimeout) }

// bodyPool holds buffers for encoded and dot-stuffed messages.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// Send delivers one message. It returns nil only when the relay answered 2xx
// after the message's final dot; otherwise a *SendError. m.Done, if set, is
// called with that result before Send returns.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	err := s.send(ctx, m)
	if m.Done != nil {
		m.Done(err)
	}
	return err
}

// send is Send without m.Done.
func (s *SMTP) send(ctx context.Context, m *Message) error {
	rawp := bodyPool.Get().(*[]byte)
	bodyp := bodyPool.Get().(*[]byte)
	defer func() {
		bodyPool.Put(rawp)
		bodyPool.Put(bodyp)
	}()
	body, size, from, to, err := s.data(m, rawp, bodyp)
	if err != nil {
		return &SendError{Stage: StageCompose, Err: err}
	}

	s.init()
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return &SendError{Stage: StageConnect, Err: fmt.Errorf("waiting for a free connection to %s: %w", s.Addr, ctx.Err())}
	}
	defer func() { <-s.slots }()

	for attempt := 0; ; attempt++ {
		c, serr := s.get(ctx)
		if serr != nil {
			return serr
		}
		reused := c.sent > 0
		serr = c.transact(ctx, s, from, to, body, size, m.HandOff, m.Reserve)
		// Read before put: once back in the pool, c is another sender's.
		beforeFirstReply := c.beforeFirstReply
		s.put(c)
		if serr == nil {
			return nil
		}
		// A pooled connection the relay closed (or timed out with 421, or
		// ended after its cap of messages per session) while it sat idle
		// fails on its first command, before the relay saw any of this
		// message: retry on another connection. Each failed one is closed,
		// so the retries end once the pool has no such connection left.
		if attempt <= s.maxConns() && reused && ctx.Err() == nil && freshRetry(serr, beforeFirstReply) {
			continue
		}
		return serr
	}
}

// checkEnvelope refuses addresses that would break the command line.
func checkEnvelope(from, to string) error {
	for _, a := range [2]string{from, to} {
		for i := 0; i < len(a); i++ {
			if a[i] < ' ' || a[i] == 0x7f || a[i] == '<' || a[i] == '>' {
				return fmt.Errorf("envelope address %q has a control character or angle bracket", a)
			}
		}
	}
	return nil
}

// get returns an idle connection or dials a new one. The caller holds a slot.
//
// Relays limit the connections a client may hold at once (Postfix's
// smtpd_client_connection_count_limit, hosted relays' per-account limits)
// and refuse one more at the greeting, usually with 421. When a new
// connection is refused that way while others of ours are open, the relay is
// not down: it is full. get then lowers the pool's limit to the connections
// open, waits for one of them instead of failing, and tells OnConnLimit; one
// more connection is tried ConnProbeInterval after the last refusal, and each
// that succeeds raises the limit again. Only when no connection of ours is
// open does a refusal reach the caller, as an outage; the limit is then
// forgotten, so a relay back from an outage gets every connection again.
func (s *SMTP) get(ctx context.Context) (*smtpConn, *SendError) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, &SendError{Stage: StageConnect, Err: ErrClosed}
		}
		c, stale := s.takeIdleLocked(time.Now())
		if c != nil {
			s.mu.Unlock()
			closeAll(stale)
			return c, nil
		}
		most, limit := s.maxConns(), s.limitLocked()
		untilProbe := time.Duration(0)
		if limit < most {
			untilProbe = time.Until(s.refusedAt.Add(orDefault(s.ConnProbeInterval, DefaultConnProbeInterval)))
		}
		if s.open+s.dialing < limit || (limit < most && untilProbe <= 0 && s.dialing == 0) {
			s.dialing++
			s.mu.Unlock()
			closeAll(stale)
			c, serr, retry := s.dialCounted(ctx, most)
			if retry {
				continue
			}
			return c, serr
		}
		changed := s.changedLocked()
		s.mu.Unlock()
		closeAll(stale)
		var probe <-chan time.Time
		var timer *time.Timer
		if limit < most {
			timer = time.NewTimer(max(untilProbe, time.Millisecond))
			probe = timer.C
		}
		select {
		case <-changed:
		case <-probe:
		case <-ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return nil, &SendError{Stage: StageConnect, Err: fmt.Errorf("waiting for a connection to %s: %w", s.Addr, ctx.Err())}
		}
	}
}

// dialCounted dials one more connection for get, which counted it in
// s.dialing. retry says the relay refused it while other connections of ours
// are open: the limit is lowered and get waits for one of those.
func (s *SMTP) dialCounted(ctx context.Context, most int) (c *smtpConn, serr *SendError, retry bool) {
	c, serr = s.dial(ctx)
	defer s.reportLimit()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dialing--
	defer s.notifyLocked()
	if serr == nil {
		s.open++
		c.pool = s
		if s.open > s.limitLocked() {
			s.limit = s.open
			if s.limit >= most {
				s.limit = 0
			}
		}
		return c, nil, false
	}
	refused := ctx.Err() == nil && connRefusal(serr)
	// Other dials under way decide whether this is a full relay or a down
	// one: wait for them.
	for refused && s.open == 0 && s.dialing > 0 && !s.closed {
		changed := s.changedLocked()
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
		}
		s.mu.Lock()
		refused = ctx.Err() == nil
	}
	if refused && s.open > 0 && !s.closed {
		s.refusedAt, s.refusal = time.Now(), serr
		s.limit = min(s.open, s.limitLocked())
		return nil, nil, true
	}
	// With no connection of ours open, the relay is down (or refuses us),
	// and a limit learned on the way down says nothing about it once it is
	// back.
	if s.open == 0 {
		s.limit = 0
	}
	return nil, serr, false
}

// reportLimit tells OnConnLimit the pool's limit when it differs from the
// one told last: lower, with the refusal that lowered it; higher, without.
// Changes made while it waits for reportMu are told as the state they left,
// so the last call always says what the pool does now.
func (s *SMTP) reportLimit() {
	if s.OnConnLimit == nil {
		return
	}
	s.reportMu.Lock()
	defer s.reportMu.Unlock()
	s.mu.Lock()
	limit, most, refusal := s.limitLocked(), s.maxConns(), s.refusal
	s.mu.Unlock()
	told := s.reported
	if told == 0 {
		told = most
	}
	if limit == told {
		return
	}
	s.reported = limit
	var cause error // nil for a raise (never a typed nil *SendError)
	if limit < told && refusal != nil {
		cause = refusal
	}
	s.OnConnLimit(limit, most, cause)
}

// connRefusal reports whether serr, setting up a new connection, is how a
// relay refuses a connection over its limit: no answer, or a 4xx before the
// first transaction. A 5xx there stays a refusal of us.
func connRefusal(serr *SendError) bool {
	switch serr.Stage {
	case StageConnect, StageGreeting, StageEHLO:
	default:
		return false
	}
	if errors.Is(serr.Err, ErrClosed) {
		return false
	}
	return serr.Code == 0 || (serr.Code >= 400 && serr.Code < 500)
}

func (s *SMTP) maxConns() int {
	if s.MaxConns <= 0 {
		return DefaultMaxConns
	}
	return s.MaxConns
}

func (s *SMTP) limitLocked() int {
	if s.limit > 0 {
		return s.limit
	}
	return s.maxConns()
}

// ConnLimit returns how many connections the pool opens at most now, and
// MaxConns: fewer while the relay refuses more.
func (s *SMTP) ConnLimit() (limit, max int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limitLocked(), s.maxConns()
}

func (s *SMTP) changedLocked() chan struct{} {
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

func (s *SMTP) notifyLocked() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// takeIdleLocked pops the most recently used idle connection that is not
// stale, and returns the stale ones it passed for the caller to close.
func (s *SMTP) takeIdleLocked(now time.Time) (c *smtpConn, stale []*smtpConn) {
	idleTimeout := orDefault(s.IdleTimeout, DefaultIdleTimeout)
	for len(s.idle) > 0 {
		n := len(s.idle) - 1
		cand := s.idle[n]
		s.idle[n] = nil
		s.idle = s.idle[:n]
		if now.Sub(cand.lastUsed) > idleTimeout {
			stale = append(stale, cand)
			continue
		}
		return cand, stale
	}
	return nil, stale
}

func closeAll(cs []*smtpConn) {
	for _, c := range cs {
		c.close()
	}
}

// put returns c to the pool, or retires it.
func (s *SMTP) put(c *smtpConn) {
	maxMsgs := s.MaxMessagesPerConn
	if maxMsgs <= 0 {
		maxMsgs = DefaultMaxMessagesPerConn
	}
	if c.broken {
		c.close()
		return
	}
	if c.sent >= maxMsgs {
		c.quit()
		return
	}
	c.lastUsed = time.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.quit()
		return
	}
	s.idle = append(s.idle, c)
	s.notifyLocked()
	s.mu.Unlock()
}

// Close quits every idle connection; connections in use are closed when their
// Send returns. Sends after Close fail.
func (s *SMTP) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle = nil
	s.closed = true
	s.notifyLocked()
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range idle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.quit()
		}()
	}
	wg.Wait()
	return nil
}

// smtpConn is one connection to the relay. It is used by one Send at a time.
type smtpConn struct {
	raw  net.Conn // the TCP connection, closed to abort from another goroutine
	nc   net.Conn // raw, or the TLS connection over it after STARTTLS
	r    *bufio.Reader
	w    *bufio.Writer
	text []byte // text of the last reply, lines joined by "\n"

	pipelining bool
	ext        map[string]string // EHLO keywords (upper case) to their parameters
	tls        bool
	utf8       bool // the relay offers SMTPUTF8
	// maxSize is the SIZE the relay announced (RFC 1870): -1 none, 0 no
	// limit.
	maxSize int

	sent     int // messages accepted on this connection
	lastUsed time.Time
	broken   bool // must not be reused
	// pool counts c as open until close; nil before dial returns it.
	pool *SMTP

	// beforeFirstReply: the last transaction failed before any reply to it
	// arrived (the relay saw none of the message).
	beforeFirstReply bool
}

func (s *SMTP) dial(ctx context.Context) (*smtpConn, *SendError) {
	d := net.Dialer{Timeout: orDefault(s.DialTimeout, DefaultDialTimeout)}
	nc, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return nil, &SendError{Stage: StageConnect, Err: fmt.Errorf("connecting to SMTP relay %s: %w", s.Addr, err)}
	}
	c := &smtpConn{raw: nc, nc: nc, r: bufio.NewReaderSize(nc, 4096), w: bufio.NewWriterSize(nc, 1024)}
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	serr := c.handshake(ctx, s)
	if !stop() && serr == nil {
		serr = &SendError{Stage: StageConnect, Err: fmt.Errorf("connecting to SMTP relay %s: %w", s.Addr, ctx.Err())}
	}
	if serr != nil {
		c.close()
		return nil, serr
	}
	return c, nil
}

func (c *smtpConn) handshake(ctx context.Context, s *SMTP) *SendError {
	timeout := s.commandTimeout()
	host, _, _ := net.SplitHostPort(s.Addr)
	loopback := isLoopback(host)

	if s.ImplicitTLS {
		if serr := c.upgradeTLS(ctx, s, host, timeout, StageConnect); serr != nil {
			return serr
		}
	}
	if code, err := c.readReply(timeout); err != nil {
		return c.ioError(ctx, StageGreeting, "waiting for the greeting", timeout, err)
	} else if code != 220 {
		return c.replyError(StageGreeting, code)
	}
	hello := s.Hello
	if hello == "" {
		hello = DefaultHello
	}
	if serr := c.ehlo(ctx, hello, timeout); serr != nil {
		return serr
	}
	// Over implicit TLS (c.tls already) STARTTLS is neither needed nor asked.
	_, offersTLS := c.ext["STARTTLS"]
	offersTLS = offersTLS && !c.tls
	if s.RequireTLS && !offersTLS && !c.tls {
		return &SendError{Stage: StageStartTLS, Err: fmt.Errorf("relay %s does not offer STARTTLS and RequireTLS is set: %w", s.Addr, ErrConfig)}
	}
	if offersTLS && (s.TLS != nil || s.RequireTLS || !loopback) {
		if serr := c.startTLS(ctx, s, host, hello, timeout); serr != nil {
			return serr
		}
	}
	if s.Auth != nil {
		if !c.tls && !loopback {
			return &SendError{Stage: StageAuth, Err: fmt.Errorf("refusing to send credentials to %s without TLS: %w", s.Addr, ErrConfig)}
		}
		if serr := c.auth(ctx, s.Auth, timeout); serr != nil {
			return serr
		}
	}
	return nil
}

func (c *smtpConn) ehlo(ctx context.Context, hello string, timeout time.Duration) *SendError {
	code, err := c.cmd(timeout, "EHLO ", hello)
	if err != nil {
		return c.ioError(ctx, StageEHLO, "EHLO", timeout, err)
	}
	if code >= 500 && code != 554 {
		// RFC 5321 §3.2: a server that does not know EHLO gets HELO, and we
		// use no extensions.
		code, err = c.cmd(timeout, "HELO ", hello)
		if err != nil {
			return c.ioError(ctx, StageEHLO, "HELO", timeout, err)
		}
		if code != 250 {
			return c.replyError(StageEHLO, code)
		}
		c.ext = map[string]string{}
		c.pipelining, c.utf8, c.maxSize = false, false, -1
		return nil
	}
	if code != 250 {
		return c.replyError(StageEHLO, code)
	}
	c.ext = map[string]string{}
	lines := bytes.Split(c.text, []byte("\n"))
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(string(l), " ")
		c.ext[strings.ToUpper(k)] = v
	}
	_, c.pipelining = c.ext["PIPELINING"]
	_, c.utf8 = c.ext["SMTPUTF8"]
	v, sized := c.ext["SIZE"]
	c.maxSize = -1
	if sized {
		c.maxSize = 0 // announced without a limit (RFC 1870 §4)
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
			c.maxSize = n
		}
	}
	return nil
}

func (c *smtpConn) startTLS(ctx context.Context, s *SMTP, host, hello string, timeout time.Duration) *SendError {
	code, err := c.cmd(timeout, "STARTTLS", "")
	if err != nil {
		return c.ioError(ctx, StageStartTLS, "STARTTLS", timeout, err)
	}
	if code != 220 {
		return c.replyError(StageStartTLS, code)
	}
	if serr := c.upgradeTLS(ctx, s, host, timeout, StageStartTLS); serr != nil {
		return serr
	}
	// RFC 3207 §4.2: forget what was learnt before TLS and ask again.
	return c.ehlo(ctx, hello, timeout)
}

// upgradeTLS runs the TLS handshake on c's connection (after STARTTLS, or
// first thing for ImplicitTLS) and reads and writes through TLS from then on.
func (c *smtpConn) upgradeTLS(ctx context.Context, s *SMTP, host string, timeout time.Duration, st Stage) *SendError {
	var cfg *tls.Config
	if s.TLS != nil {
		cfg = s.TLS.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	tc := tls.Client(c.raw, cfg)
	_ = c.raw.SetDeadline(time.Now().Add(timeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		return c.ioError(ctx, st, "the TLS handshake", timeout, err)
	}
	c.nc, c.tls = tc, true
	c.r.Reset(tc)
	c.w.Reset(tc)
	return nil
}

func (c *smtpConn) auth(ctx context.Context, a *Auth, timeout time.Duration) *SendError {
	mechs := strings.Fields(strings.ToUpper(c.ext["AUTH"]))
	has := func(m string) bool {
		for _, x := range mechs {
			if x == m {
				return true
			}
		}
		return false
	}
	enc := base64.StdEncoding.EncodeToString
	switch {
	case has("PLAIN"):
		// RFC 4616: authzid NUL authcid NUL passwd.
		code, err := c.cmd(timeout, "AUTH PLAIN ", enc([]byte("\x00"+a.Username+"\x00"+a.Password)))
		if err != nil {
			return c.ioError(ctx, StageAuth, "AUTH PLAIN", timeout, err)
		}
		if code != 235 {
			return c.replyError(StageAuth, code)
		}
	case has("LOGIN"):
		code, err := c.cmd(timeout, "AUTH LOGIN", "")
		for _, step := range []string{a.Username, a.Password} {
			if err != nil || code != 334 {
				break
			}
			code, err = c.cmd(timeout, enc([]byte(step)), "")
		}
		if err != nil {
			return c.ioError(ctx, StageAuth, "AUTH LOGIN", timeout, err)
		}
		if code != 235 {
			return c.replyError(StageAuth, code)
		}
	default:
		return &SendError{Stage: StageAuth, Err: fmt.Errorf("relay offers no AUTH PLAIN or LOGIN (AUTH %q; a relay that offers AUTH only after STARTTLS needs a TLS configuration): %w", c.ext["AUTH"], ErrConfig)}
	}
	return nil
}

// transact runs MAIL, RCPT, DATA and the body on c. On return c.broken says
// whether c may be reused.
func (c *smtpConn) transact(ctx context.Context, s *SMTP, from, to string, body []byte, size int, handOff func() bool, reserveFn func(bool) bool) (serr *SendError) {
	c.beforeFirstReply = true
	if ctx.Done() != nil {
		raw := c.raw
		stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
		defer func() {
			if !stop() {
				c.broken = true
				if serr == nil {
					// The reply arrived as ctx ended; it was delivered.
					return
				}
				if serr.Err != nil && !errors.Is(serr.Err, ctx.Err()) {
					serr.Err = fmt.Errorf("%w: %w", ctx.Err(), serr.Err)
				}
			}
		}()
	}
	utf8 := needsSMTPUTF8(from, to)
	if serr := c.refuses(utf8, size); serr != nil {
		return serr
	}
	if serr := admit(reserveFn, handOff); serr != nil {
		return serr
	}
	timeout := s.commandTimeout()

	if c.pipelining {
		// RFC 2920 §3.1: MAIL, RCPT and DATA in one write; DATA ends the group.
		c.w.Write(c.appendEnvelope(nil, batchItem{from: from, to: to, utf8: utf8, body: body, size: size}))
		_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
		if err := c.w.Flush(); err != nil {
			return c.ioError(ctx, StageMail, "writing MAIL FROM", timeout, err)
		}
		failed, first := c.envelopeReplies(ctx, timeout)
		if failed != nil {
			return failed
		}
		if first != nil {
			c.reset(timeout)
			return first
		}
	} else {
		for _, st := range [3]Stage{StageMail, StageRcpt, StageData} {
			var code int
			var err error
			switch st {
			case StageMail:
				code, err = c.cmd(timeout, "MAIL FROM:<", from, ">", string(c.mailParams(nil, utf8, size)))
			case StageRcpt:
				code, err = c.cmd(timeout, "RCPT TO:<", to, ">")
			default:
				code, err = c.cmd(timeout, "DATA", "")
			}
			if err != nil {
				return c.ioError(ctx, st, commandName(st), timeout, err)
			}
			c.beforeFirstReply = false
			want := code == 250 || code == 251
			if st == StageData {
				want = code == 354
			}
			if !want {
				serr := c.replyError(st, code)
				if code == 421 {
					c.broken = true
				} else {
					c.reset(timeout)
				}
				return serr
			}
		}
	}
	if late(handOff) {
		// The relay waits for the body: abandon the DATA by closing the
		// connection (without the final dot the relay discards it).
		c.broken = true
		_ = c.raw.Close()
		return handOffLate(StageData)
	}
	dt := s.dataTimeout()
	_ = c.nc.SetWriteDeadline(time.Now().Add(dt))
	if _, err := c.nc.Write(body); err != nil {
		// Not all of the body reached the relay: it cannot have accepted it.
		return c.ioError(ctx, StageData, "writing the message", dt, err)
	}
	return c.dotReply(ctx, dt, true)
}

// dotReply reads the relay's answer to a message's final dot: nil for 2xx
// (the message is delivered and counted on c). alone says that nothing was
// written behind the dot. The relay's kernel resets a connection closed with
// unread data in it, so a reset then means the final dot never reached the
// relay: not delivered. With the next envelope behind the dot, a reset may
// only mean that the envelope was unread, and the relay may have taken the
// message; so may it when it dies after reading everything (FIN, no reply).
func (c *smtpConn) dotReply(ctx context.Context, dt time.Duration, alone bool) *SendError {
	code, err := c.readReply(dt)
	if err != nil {
		if errors.Is(err, syscall.ECONNRESET) && alone {
			return c.ioError(ctx, StageData, "the relay reset the connection before reading the whole message", dt, err)
		}
		return c.ioError(ctx, StageMessage, "waiting for the reply after the message", dt, err)
	}
	if code == 421 {
		c.broken = true
	}
	if code < 200 || code > 299 {
		return c.replyError(StageMessage, code)
	}
	c.sent++
	return nil
}

// envelopeReplies reads the replies to a pipelined MAIL FROM, RCPT TO and
// DATA. failed is set when the exchange broke (no reply, or 421, which also
// marks c broken); otherwise first is the first refusal in the group, if
// any (the caller resets the transaction). A 354 after a refusal also marks c
// broken: the relay wants a body for a transaction it refused a part of, and
// its state is unclear.
func (c *smtpConn) envelopeReplies(ctx context.Context, timeout time.Duration) (failed, first *SendError) {
	for _, st := range [3]Stage{StageMail, StageRcpt, StageData} {
		code, err := c.readReply(timeout)
		if err != nil {
			return c.ioError(ctx, st, "waiting for the reply to "+commandName(st), timeout, err), nil
		}
		c.beforeFirstReply = false
		if code == 421 {
			c.broken = true
			return c.replyError(st, code), nil
		}
		ok := code == 250 || code == 251
		if st == StageData {
			ok = code == 354
			if ok && first != nil {
				c.broken = true
			}
		}
		if !ok && first == nil {
			first = c.replyError(st, code)
		}
	}
	return nil, first
}

func commandName(st Stage) string {
	switch st {
	case StageMail:
		return "MAIL FROM"
	case StageRcpt:
		return "RCPT TO"
	case StageData:
		return "DATA"
	}
	return string(st)
}

// reset ends a transaction that failed midway (RFC 5321 §4.1.1.5) so the
// connection can carry the next one; a connection that cannot is dropped.
func (c *smtpConn) reset(timeout time.Duration) {
	if c.broken {
		return
	}
	if code, err := c.cmd(timeout, "RSET", ""); err != nil || code != 250 {
		c.broken = true
	}
}

// cmd writes one command line made of parts and reads its reply.
func (c *smtpConn) cmd(timeout time.Duration, parts ...string) (int, error) {
	for _, p := range parts {
		c.w.WriteString(p)
	}
	c.w.WriteString("\r\n")
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	if err := c.w.Flush(); err != nil {
		return 0, err
	}
	return c.readReply(timeout)
}

var errProtocol = errors.New("malformed SMTP reply")

// readReply reads one possibly multi-line reply (RFC 5321 §4.2) into c.text
// and returns its code. It allocates nothing on the common path. Each line
// that must be read from the connection gets timeout from now; a line already
// in the buffer (the replies to a pipelined group arrive together) needs no
// deadline, and setting one costs a clock read and a timer update.
func (c *smtpConn) readReply(timeout time.Duration) (int, error) {
	c.text = c.text[:0]
	code := 0
	for n := 0; ; n++ {
		if b, _ := c.r.Peek(c.r.Buffered()); bytes.IndexByte(b, '\n') < 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
		}
		line, err := c.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: keep its start, skip the rest.
			for err == bufio.ErrBufferFull {
				_, err = c.r.ReadSlice('\n')
			}
		}
		if err != nil {
			c.broken = true
			return 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) < 3 || n > 1000 {
			c.broken = true
			return 0, fmt.Errorf("%w: %q", errProtocol, line)
		}
		lc := 0
		for _, d := range line[:3] {
			if d < '0' || d > '9' {
				c.broken = true
				return 0, fmt.Errorf("%w: %q", errProtocol, line)
			}
			lc = lc*10 + int(d-'0')
		}
		if n == 0 {
			code = lc
		} else if lc != code {
			c.broken = true
			return 0, fmt.Errorf("%w: code changed within a reply: %q", errProtocol, line)
		}
		if n > 0 {
			c.text = append(c.text, '\n')
		}
		if len(line) > 4 {
			c.text = append(c.text, line[4:]...)
		}
		if len(line) == 3 || line[3] == ' ' {
			if code < 100 || code > 599 {
				c.broken = true
				return 0, fmt.Errorf("%w: code %d", errProtocol, code)
			}
			return code, nil
		}
		if line[3] != '-' {
			c.broken = true
			return 0, fmt.Errorf("%w: %q", errProtocol, line)
		}
	}
}

// ErrNoSMTPUTF8 is inside the SendError of a message whose address has a
// local part that is not ASCII (josé@example.com), for a relay that does not
// offer SMTPUTF8 (RFC 6531): nothing was sent, and Classify fails the message
// alone (MessageRejected), keeping the address and the relay.
var ErrNoSMTPUTF8 = errors.New("the relay does not offer SMTPUTF8, which an address with a non-ASCII local part needs (RFC 6531)")

func (c *smtpConn) smtputf8() bool { return c.utf8 }

// ErrTooBig is inside the SendError of a message larger than the SIZE the
// relay announced (RFC 1870): it is not sent, and Classify fails it alone
// (MessageRejected), as the relay's 552 would after the whole transfer.
var ErrTooBig = errors.New("the message is larger than the relay accepts (its EHLO SIZE)")

// refuses returns the error of a message this connection must not be given:
// an envelope that needs SMTPUTF8 it does not offer, or a body over its
// SIZE; nil otherwise. Nothing of the message is sent.
func (c *smtpConn) refuses(utf8 bool, size int) *SendError {
	if utf8 && !c.smtputf8() {
		return &SendError{Stage: StageCompose, Err: ErrNoSMTPUTF8}
	}
	if c.maxSize > 0 && size > c.maxSize {
		return &SendError{Stage: StageCompose, Err: fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooBig, size, c.maxSize)}
	}
	return nil
}

// mailParams returns the MAIL FROM parameters of a message: SIZE when the
// relay announced it (so it can refuse a message it cannot take before the
// transfer, RFC 1870 §3), SMTPUTF8 when the envelope needs it.
func (c *smtpConn) mailParams(dst []byte, utf8 bool, size int) []byte {
	if c.maxSize >= 0 {
		dst = append(dst, " SIZE="...)
		dst = strconv.AppendInt(dst, int64(size), 10)
	}
	if utf8 {
		dst = append(dst, " SMTPUTF8"...)
	}
	return dst
}

// replyError builds the SendError for an unwanted reply in c.text.
func (c *smtpConn) replyError(st Stage, code int) *SendError {
	enh, msg := splitEnhanced(code, string(c.text))
	if code == 421 {
		c.broken = true
	}
	return &SendError{Stage: st, Code: code, Enhanced: enh, Message: msg}
}

// splitEnhanced takes an RFC 3463 status ("5.1.1") off the front of a reply's
// text (RFC 2034 §4). Its class must match the reply code's first digit.
func splitEnhanced(code int, text string) (enhanced, rest string) {
	first, _, _ := strings.Cut(text, "\n")
	tok, after, _ := strings.Cut(first, " ")
	if !isEnhanced(tok) || int(tok[0]-'0') != code/100 {
		return "", text
	}
	// RFC 2034 repeats the status on every line of a multi-line reply.
	lines := strings.Split(text, "\n")
	lines[0] = after
	for i := 1; i < len(lines); i++ {
		if t, a, ok := strings.Cut(lines[i], " "); ok && t == tok {
			lines[i] = a
		}
	}
	return tok, strings.Join(lines, "\n")
}

// isEnhanced matches class "." subject "." detail with class 2, 4 or 5 and up
// to three digits in subject and detail (RFC 3463 §2).
func isEnhanced(s string) bool {
	if len(s) < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.' {
		return false
	}
	parts := 0
	digits := 0
	for i := 2; i < len(s); i++ {
		switch b := s[i]; {
		case b >= '0' && b <= '9':
			digits++
			if digits > 3 {
				return false
			}
		case b == '.' && digits > 0 && parts == 0:
			parts, digits = 1, 0
		default:
			return false
		}
	}
	return parts == 1 && digits > 0
}

// ioError builds the SendError for a failed read or write and marks c broken.
func (c *smtpConn) ioError(ctx context.Context, st Stage, what string, timeout time.Duration, err error) *SendError {
	c.broken = true
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("%w during %s: %w", ctx.Err(), what, err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("timeout after %v %s: %w", timeout, what, err)
	default:
		err = fmt.Errorf("%s: %w", what, err)
	}
	return &SendError{Stage: st, Err: err}
}

func (c *smtpConn) quit() {
	_ = c.nc.SetDeadline(time.Now().Add(quitTimeout))
	c.w.WriteString("QUIT\r\n")
	if c.w.Flush() == nil {
		_, _ = c.readReply(quitTimeout)
	}
	c.close()
}

func (c *smtpConn) close() {
	c.broken = true
	_ = c.nc.Close()
	_ = c.raw.Close()
	if p := c.pool; p != nil {
		c.pool = nil
		p.mu.Lock()
		p.open--
		p.notifyLocked()
		p.mu.Unlock()
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// messageSize is the size of the message whose DATA content is data (as
// appendDotStuffed writes it), as SIZE declares it (RFC 1870 §3): its octets
// with CRLF line endings, without the terminating ".\r\n" and without the
// dots stuffing added (each line of data that starts with ".." had one).
func messageSize(data []byte) int {
	content := data[:len(data)-len(".\r\n")]
	n := len(content) - bytes.Count(content, []byte("\r\n.."))
	if bytes.HasPrefix(content, []byte("..")) {
		n--
	}
	return n
}

// appendDotStuffed appends msg to dst as SMTP DATA content (RFC 5321
// §4.5.2): every line ends in CRLF (bare CR and LF become CRLF), a line
// starting with "." gets another ".", and the content ends with "\r\n.\r\n".
// One pass; the common CRLF-only input costs one IndexByte and copy per line.
func appendDotStuffed(dst, msg []byte) []byte {
	if need := len(msg) + len(msg)/32 + 8; cap(dst)-len(dst) < need {
		n := make([]byte, len(dst), len(dst)+need)
		copy(n, dst)
		dst = n
	}
	for len(msg) > 0 {
		var line []byte
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			line, msg = msg, nil
		}
		// Not bytes.TrimSuffix: a call per line of every message, 3% of
		// serve's CPU in the send benchmark.
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		for {
			// A bare CR inside the line also ends a line.
			j := bytes.IndexByte(line, '\r')
			seg := line
			if j >= 0 {
				seg = line[:j]
			}
			if len(seg) > 0 && seg[0] == '.' {
				dst = append(dst, '.')
			}
			dst = append(dst, seg...)
			dst = append(dst, '\r', '\n')
			if j < 0 {
				break
			}
			line = line[j+1:]
		}
	}
	return append(dst, '.', '\r', '\n')
}
