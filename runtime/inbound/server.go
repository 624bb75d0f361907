package inbound

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/campaignctl/campaignctl/internal/netblock"
	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/metrics"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// Store is what the listener reads and writes (*store.Store).
type Store interface {
	SentMessage(ctx context.Context, id int64) (store.SentMessage, bool, error)
	SentMessageByMessageID(ctx context.Context, msgID string) (store.SentMessage, bool, error)
	RecordInbound(ctx context.Context, rec store.InboundRecord) (bool, error)
	Suppress(ctx context.Context, email, reason, campaign string, now time.Time) error
}

var _ Store = (*store.Store)(nil)

// Objects returns the model and the sender (plan names) of an object of the
// applied plan; ok is false once it left the plan (engine.Engine.ObjectOf).
type Objects func(kind, object string) (model, sender string, ok bool)

// Addresses makes the VERP return path and the per-message Reply-To of an
// outbox row (engine.InboundAddresses).
type Addresses struct {
	Tokens *Tokens
	// BounceDomain is the domain of return paths ("" leaves MAIL FROM as the
	// From address); ReplyDomain that of per-message Reply-To addresses (""
	// for none).
	BounceDomain, ReplyDomain string
}

// ReturnPath is "bounce+<token>@<BounceDomain>", or "".
func (a *Addresses) ReturnPath(id int64) string {
	if a == nil || a.BounceDomain == "" || a.Tokens == nil {
		return ""
	}
	return a.Tokens.LocalPart(PurposeBounce, id) + "@" + a.BounceDomain
}

// Unsubscribe is the mailto: address of a message's List-Unsubscribe,
// "unsubscribe+<token>@<BounceDomain>", or "" (the listener then has no
// domain to receive it on).
func (a *Addresses) Unsubscribe(id int64) string {
	if a == nil || a.BounceDomain == "" || a.Tokens == nil {
		return ""
	}
	return a.Tokens.LocalPart(PurposeUnsubscribe, id) + "@" + a.BounceDomain
}

// ReplyTo is "reply+<token>@<ReplyDomain>", or "".
func (a *Addresses) ReplyTo(id int64) string {
	if a == nil || a.ReplyDomain == "" || a.Tokens == nil {
		return ""
	}
	return a.Tokens.LocalPart(PurposeReply, id) + "@" + a.ReplyDomain
}

// Defaults of Server's zero fields.
const (
	DefaultMaxMessageBytes = 10 << 20
	DefaultMaxConns        = 64
	// DefaultMaxConnsPerClient is a quarter of DefaultMaxConns: one host
	// cannot take every slot (a client that keeps its connections open with
	// a byte now and then never times out), and a provider's MTA, which
	// delivers from many addresses, never meets it.
	DefaultMaxConnsPerClient = 16
	DefaultTimeout           = time.Minute
	DefaultMemoryBudget      = 128 << 20
	DefaultStressTimeout     = 10 * time.Second
	DefaultSessionTimeout    = 10 * time.Minute
	maxRecipients            = 20
)

// Server is the inbound SMTP listener.
type Server struct {
	Store     Store
	Addresses *Addresses
	// Domains are accepted as recipient domains besides the bounce and reply
	// domains: where the senders' own addresses are, when their mail is routed
	// here (replies then match by In-Reply-To and References).
	Domains []string
	Objects Objects
	Clock   clock.Clock
	Log     *slog.Logger
	Metrics *metrics.Metrics
	// Hostname is the name in the greeting (default "localhost").
	Hostname string
	// MaxMessageBytes (SIZE; default 10 MiB), MaxConns (connections at once,
	// more wait in the kernel's backlog; default 64) and Timeout (each read
	// and write on the connection, a message's data included: a message
	// may take longer in all while its bytes keep coming; default 1 minute)
	// bound what one client can hold.
	MaxMessageBytes int64
	MaxConns        int
	Timeout         time.Duration
	// MaxConnsPerClient bounds the connections one client address (an IPv6
	// client: its /64) holds at once (default DefaultMaxConnsPerClient); a
	// connection past it is answered 421 4.7.0 and closed at once, so the
	// client's MTA tries again later and the slot goes back.
	MaxConnsPerClient int
	// MemoryBudget bounds the message data all sessions hold at once
	// (default DefaultMemoryBudget): a message whose data would take more
	// is answered 452 4.3.1 after its data, and its sender retries.
	MemoryBudget int64
	// StressTimeout replaces Timeout while every connection slot is taken
	// (default DefaultStressTimeout), and applies to a whole line, not each
	// read; SessionTimeout bounds a session (default
	// DefaultSessionTimeout). See limitListener.
	StressTimeout, SessionTimeout time.Duration
}

// Serve accepts connections on l until ctx is done, then closes the listener
// and open sessions.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := smtp.NewServer(&backend{s: s, ctx: ctx, memory: &budget{max: s.memoryBudget()}})
	srv.Domain = s.Hostname
	if srv.Domain == "" {
		srv.Domain = "localhost"
	}
	srv.MaxMessageBytes = s.maxMessageBytes()
	srv.MaxRecipients = maxRecipients
	// No go-smtp line bound: it bounds a message's lines too. limitConn
	// bounds command lines (commandLines).
	srv.MaxLineLength = 0
	// No srv.ReadTimeout or WriteTimeout: limitConn gives every read and
	// write its own deadline (go-smtp's, per command, would be overwritten).
	timeout := s.timeout()
	srv.ErrorLog = slogLogger{s.log()}
	n := s.MaxConns
	if n <= 0 {
		n = DefaultMaxConns
	}
	per := s.MaxConnsPerClient
	if per <= 0 {
		per = DefaultMaxConnsPerClient
	}
	ll := &limitListener{Listener: l, sem: make(chan struct{}, n), timeout: timeout, stress: s.stressTimeout(), session: s.sessionTimeout(),
		maxMessage: srv.MaxMessageBytes, perClient: per, clients: map[netip.Addr]int{}, open: map[*limitConn]struct{}{}, log: s.log()}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ll) }()
	select {
	case <-ctx.Done():
		srv.Close()
		<-errc
		return nil
	case err := <-errc:
		return err
	}
}

// orDefault is v, or d when v is zero (or negative): the listener's
// settings take their documented defaults when left unset.
func orDefault[T int64 | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// maxMessageBytes is MaxMessageBytes, or the documented default for zero.
func (s *Server) maxMessageBytes() int64 { return orDefault(s.MaxMessageBytes, DefaultMaxMessageBytes) }

// stressTimeout is StressTimeout, or the documented default for zero.
func (s *Server) stressTimeout() time.Duration {
	return orDefault(s.StressTimeout, DefaultStressTimeout)
}

// sessionTimeout is SessionTimeout, or the documented default for zero.
func (s *Server) sessionTimeout() time.Duration {
	return orDefault(s.SessionTimeout, DefaultSessionTimeout)
}

// memoryBudget is MemoryBudget, or the documented default for zero.
func (s *Server) memoryBudget() int64 { return orDefault(s.MemoryBudget, DefaultMemoryBudget) }

// timeout is Timeout, or the documented default for zero.
func (s *Server) timeout() time.Duration { return orDefault(s.Timeout, DefaultTimeout) }

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Server) accepts(domain string) bool {
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	if s.Addresses != nil && d != "" && (d == strings.ToLower(s.Addresses.BounceDomain) || d == strings.ToLower(s.Addresses.ReplyDomain)) {
		return true
	}
	for _, x := range s.Domains {
		if d == strings.ToLower(x) {
			return true
		}
	}
	return false
}

func (s *Server) count(result string) {
	if s.Metrics != nil {
		s.Metrics.Inbound.WithLabelValues(result).Inc()
	}
}

type backend struct {
	s      *Server
	ctx    context.Context
	memory *budget
	// busy: one log line per 10 s at most about messages refused for the
	// memory budget.
	busy sparseLog
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, b: b, ctx: b.ctx, remote: c.Conn().RemoteAddr().String()}, nil
}

type rcptToken struct {
	purpose Purpose
	id      int64
}

type session struct {
	s          *Server
	b          *backend
	ctx        context.Context
	remote     string
	nullSender bool
	tokens     []rcptToken
	rcpts      int
}

func (ss *session) Reset() { ss.tokens, ss.rcpts, ss.nullSender = nil, 0, false }
func (ss *session) Logout() error {
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.nullSender = from == ""
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	local, domain, ok := strings.Cut(to, "@")
	if !ok || !ss.s.accepts(domain) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "relay access denied: this server only takes mail for its own domains"}
	}
	lower := strings.ToLower(local)
	if strings.HasPrefix(lower, string(PurposeBounce)+"+") || strings.HasPrefix(lower, string(PurposeReply)+"+") ||
		strings.HasPrefix(lower, string(PurposeUnsubscribe)+"+") {
		if ss.s.Addresses == nil || ss.s.Addresses.Tokens == nil {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
		}
		p, id, err := ss.s.Addresses.Tokens.Verify(local)
		if err != nil {
			ss.s.log().Warn("inbound: refused a recipient with a forged, altered or retired token", "remote", ss.remote, "local_part", truncate(local, 80), "err", err)
			ss.s.count("forged")
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
		}
		ss.tokens = append(ss.tokens, rcptToken{p, id})
	}
	ss.rcpts++
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := ss.b.memory.read(r, ss.s.maxMessageBytes())
	defer ss.b.memory.give(int64(cap(raw)))
	if errors.Is(err, errNoMemory) {
		if ok, refused := ss.b.busy.due(time.Now()); ok {
			ss.s.log().Warn("inbound: refused messages with 452: the messages being received hold the whole memory budget; their senders retry", "budget", ss.b.memory.max, "refused", refused)
		}
		ss.s.count("busy")
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "too much mail is being received at once, try again later"}
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// The client stalled mid-DATA: a temporary failure, and the
			// connection ends (limitConn), as it does for a stall between
			// commands. Without this go-smtp answered 554, a permanent
			// failure, and waited a second timeout for the next command.
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "timeout waiting for data, closing the connection"}
		}
		return err // go-smtp answers 552 for a message over the size limit
	}
	ctx, cancel := context.WithTimeout(ss.ctx, 30*time.Second)
	defer cancel()
	if err := ss.s.handle(ctx, ss.tokens, ss.nullSender, raw, ss.remote); err != nil {
		ss.s.log().Error("inbound: could not record a message; the sender will retry", "remote", ss.remote, "err", err)
		ss.s.count("error")
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "temporary failure, try again later"}
	}
	return nil
}

// handle parses and records one message. Only a failure worth a retry by
// the sender (the database) is returned; anything else is logged and the
// message is taken (answering 5xx to a DSN only makes a bounce of a bounce).
func (s *Server) handle(ctx context.Context, tokens []rcptToken, nullSender bool, raw []byte, remote string) error {
	// A message to a List-Unsubscribe mailto: unsubscribes, whatever it says
	// (RFC 2369: the address is the request).
	for _, t := range tokens {
		if t.purpose == PurposeUnsubscribe {
			if err := s.unsubscribe(ctx, t.id, remote); err != nil {
				return err
			}
		}
	}
	p, err := parseSafely(raw, nullSender)
	if err != nil {
		s.log().Warn("inbound: message not understood, nothing recorded", "remote", remote, "bytes", len(raw), "err", err)
		s.count("malformed")
		return nil
	}
	if p.Kind == KindReply && toReturnPath(tokens) {
		// Only automatons answer the envelope sender (vacation responders,
		// RFC 3834), many without Auto-Submitted and with In-Reply-To: the
		// Message-ID must not make them a reply.
		p.Kind = KindAutoReply
	}
	switch p.Kind {
	case KindAutoReply, KindReport:
		s.log().Info("inbound: nothing to record", "remote", remote, "kind", p.Kind, "message_id", p.MessageID)
		s.count(string(p.Kind))
		return nil
	}
	msg, how, err := s.identify(ctx, p, tokens)
	if err != nil {
		return err
	}
	if how == "" {
		s.log().Warn("inbound: no sent message matches (no valid token, no known Message-ID), nothing recorded", "remote", remote, "kind", p.Kind, "message_id", p.MessageID)
		s.count("unmatched")
		return nil
	}
	return s.record(ctx, p, msg, how, raw, remote)
}

// toReturnPath is whether a message came to a return path (bounce+) and to no
// per-message Reply-To (reply+).
func toReturnPath(tokens []rcptToken) bool {
	bounce := false
	for _, t := range tokens {
		switch t.purpose {
		case PurposeReply:
			return false
		case PurposeBounce:
			bounce = true
		}
	}
	return bounce
}

// identify finds the outbox row p is about: by a token of the address it came
// to, then (reports) by the token in the quoted original's Return-Path, then
// by Message-ID. A reply counts only through a reply+ token or a Message-ID:
// mail to a return path that is no report is an automatic answer.
func (s *Server) identify(ctx context.Context, p *Parsed, tokens []rcptToken) (store.SentMessage, string, error) {
	var ids []int64
	for _, t := range tokens {
		if p.Kind != KindReply || t.purpose == PurposeReply {
			ids = append(ids, t.id)
		}
	}
	if p.Kind != KindReply && p.OriginalReturnPath != "" && s.Addresses != nil && s.Addresses.Tokens != nil {
		if local, _, ok := strings.Cut(p.OriginalReturnPath, "@"); ok {
			if _, id, err := s.Addresses.Tokens.Verify(local); err == nil {
				ids = append(ids, id)
			}
		}
	}
	for _, id := range ids {
		m, ok, err := s.Store.SentMessage(ctx, id)
		if err != nil {
			return m, "", err
		}
		if ok {
			return m, "token", nil
		}
	}
	for _, ref := range p.Refs {
		m, ok, err := s.Store.SentMessageByMessageID(ctx, ref)
		if err != nil {
			return m, "", err
		}
		if ok {
			return m, "message-id", nil
		}
	}
	return store.SentMessage{}, "", nil
}

func (s *Server) record(ctx context.Context, p *Parsed, msg store.SentMessage, how string, raw []byte, remote string) error {
	now := s.Clock.Now()
	at := now
	if msg.SentAt != nil && at.Before(*msg.SentAt) {
		// The engagement branches count events from the send: an answer is
		// never earlier than its message, whatever the clocks say.
		at = *msg.SentAt
	}
	props := map[string]any{"outbox_id": msg.ID, "matched_by": how}
	if msg.Variant != "" {
		props["variant"] = msg.Variant
	}
	if msg.Occurrence != 0 {
		props["occurrence"] = msg.Occurrence
	}
	rec := store.InboundRecord{Email: msg.Email, Campaign: msg.Campaign, Now: now}
	kind := "" // the bounce label
	switch p.Kind {
	case KindBounce:
		rc := p.Recipients[0]
		for _, r := range p.Recipients {
			if r.FinalRecipient == msg.EmailNorm {
				rc = r
				break
			}
		}
		hard, verdict := rc.Bounce()
		props["hard"], props["status"], props["action"], props["verdict"] = hard, rc.Status, rc.Action, verdict.String()
		if rc.Diagnostic != "" {
			props["diagnostic"] = truncate(rc.Diagnostic, 300)
		}
		kind = "soft"
		if hard {
			kind, rec.Suppress = "hard", "hard_bounce"
		}
	case KindComplaint:
		props["feedback_type"] = p.FeedbackType
		rec.Suppress = "complaint"
	}
	pj, err := json.Marshal(props)
	if err != nil {
		return err
	}
	model, sender, ok := "", "", false
	if s.Objects != nil {
		model, sender, ok = s.Objects(msg.Kind, msg.Campaign)
	}
	if !ok {
		s.log().Warn("inbound: the message's object is not in the applied plan, so its model is unknown: no event recorded (a suppression still is)", "kind", msg.Kind, "object", msg.Campaign, "outbox_id", msg.ID)
	}
	rec.Event = store.Event{
		OccurredAt: at, Model: model, ContactKey: msg.ContactKey, Type: string(p.Kind),
		Campaign: msg.Campaign, Step: msg.Step, ExternalID: externalID(p, msg.ID, raw), Properties: pj,
	}
	recorded, err := s.Store.RecordInbound(ctx, rec)
	if err != nil {
		return err
	}
	if !recorded {
		s.log().Info("inbound: already recorded (delivered twice)", "kind", p.Kind, "outbox_id", msg.ID, "external_id", rec.Event.ExternalID)
		s.count("duplicate")
		return nil
	}
	s.log().Info("inbound: recorded", "kind", p.Kind, "bounce", kind, "object", msg.Campaign, "step", msg.Step, "outbox_id", msg.ID, "matched_by", how, "suppressed", rec.Suppress, "remote", remote)
	s.count(string(p.Kind))
	if s.Metrics != nil && sender != "" {
		switch p.Kind {
		case KindBounce:
			s.Metrics.Bounces.WithLabelValues(sender, kind).Inc()
		case KindComplaint:
			s.Metrics.Complaints.WithLabelValues(sender).Inc()
		}
	}
	return nil
}

// externalID makes one report delivered twice one event: the report's own
// Message-ID (or, without one, its bytes) and the message it is about.
func externalID(p *Parsed, outboxID int64, raw []byte) string {
	h := sha256.New()
	h.Write([]byte(p.Kind))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, outboxID, 10))
	h.Write([]byte{0})
	if p.MessageID != "" {
		h.Write([]byte(p.MessageID))
	} else {
		h.Write(raw)
	}
	return "inbound:" + hex.EncodeToString(h.Sum(nil)[:16])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// limitListener holds at most cap(sem) connections open, and at most
// perClient of them from one client address; Accept waits for a free slot,
// so further clients wait in the listen backlog, while a client past its own
// share is told 421 and closed at once.
//
// With every slot taken the listener is under stress, as Postfix's smtpd
// (smtpd_timeout and smtpd_per_record_deadline in its STRESS_README): for
// as long as it lasts, the timeout of each read and write is stress instead
// of timeout, and a read's deadline counts from the end of the client's last
// line (or of the listener's last reply), so a line must arrive whole within
// it. Sessions already waiting for a read get the shorter deadline at once.
// Without it, clients from a few addresses that sent a byte now and then
// held every slot for good. A session lasts at most session in all, so a
// client that keeps its slot busy with a NOOP now and then gives it back.
type limitListener struct {
	net.Listener
	sem                      chan struct{}
	timeout, stress, session time.Duration
	maxMessage               int64
	perClient                int
	log                      *slog.Logger

	mu      sync.Mutex
	clients map[netip.Addr]int
	open    map[*limitConn]struct{}
	// Log lines about refusals past a client's share, and about stress.
	refusedLog, stressLog sparseLog
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		l.sem <- struct{}{}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.sem
			return nil, err
		}
		a := clientAddr(c.RemoteAddr())
		l.mu.Lock()
		over := l.clients[a] >= l.perClient
		if !over {
			l.clients[a]++
		}
		l.mu.Unlock()
		if over {
			// Before the greeting: RFC 5321 lets a server answer 421 there and
			// close; the client's MTA queues the mail and comes back.
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("421 4.7.0 Too many connections from your address, try again later\r\n"))
			_ = c.Close()
			<-l.sem
			if ok, refused := l.refusedLog.due(time.Now()); ok {
				l.log.Warn("inbound smtp: a client reached its share of the connections; refused with 421", "limit", l.perClient, "refused", refused)
			}
			continue
		}
		now := time.Now()
		lc := &limitConn{Conn: c, l: l, start: now, mark: now, lines: commandLines{maxChunk: l.maxMessage}}
		lc.release = func() {
			l.mu.Lock()
			if l.clients[a]--; l.clients[a] <= 0 {
				delete(l.clients, a)
			}
			delete(l.open, lc)
			l.mu.Unlock()
			<-l.sem
		}
		l.mu.Lock()
		l.open[lc] = struct{}{}
		var waiting []*limitConn
		if len(l.open) >= cap(l.sem) {
			for o := range l.open {
				waiting = append(waiting, o)
			}
		}
		l.mu.Unlock()
		if waiting != nil {
			for _, o := range waiting {
				o.tighten()
			}
			if ok, _ := l.stressLog.due(now); ok {
				l.log.Warn("inbound smtp: every connection slot is taken (stress): each line must now arrive within the stress timeout", "limit", cap(l.sem), "stress_timeout", l.stress)
			}
		}
		return lc, nil
	}
}

// sparseLog lets a log line through once per 10 s at most: a flood does not
// flood the log.
type sparseLog struct {
	mu     sync.Mutex
	at     time.Time
	events int
}

// due counts one event at now, and says whether to log it, with the events
// since the last line (this one included).
func (s *sparseLog) due(now time.Time) (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events++
	if now.Sub(s.at) < 10*time.Second {
		return false, 0
	}
	n := s.events
	s.at, s.events = now, 0
	return true, n
}

// stressed is whether every slot is taken.
func (l *limitListener) stressed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.open) >= cap(l.sem)
}

// clientAddr is the address a connection counts against: its peer's IP, an
// IPv6 one as its /64 (netblock.Client, as the HTTP side's rate limit).
func clientAddr(a net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return netblock.Client(ap.Addr())
}

// limitConn gives its slot back when closed, and gives every read and write
// its own deadline: go-smtp sets one per command line, so a message's whole
// data had to arrive within one timeout of its DATA command, and a message
// sent slowly but steadily was cut off. Once a read timed out, every later
// read fails the same way, so the session ends instead of reading on (its
// 421 is still written). Once a write failed, every later read and write
// does: go-smtp ignores a failed write of a reply, and its buffered writer
// then drops every later reply at once, so a client that never read its
// replies but kept sending commands was served for good.
type limitConn struct {
	net.Conn
	l       *limitListener
	start   time.Time
	once    sync.Once
	release func()

	mu                      sync.Mutex
	readFailed, writeFailed error
	lines                   commandLines
	// mark is when the client's last line ended, or the listener's last
	// reply; deadline the read deadline last set.
	mark, deadline time.Time
}

// readDeadline is the deadline of a read that starts now (c.mu held).
func (c *limitConn) readDeadline(now time.Time, stressed bool) time.Time {
	d := now.Add(c.l.timeout)
	if s := c.mark.Add(c.l.stress); stressed && s.Before(d) {
		d = s
	}
	if s := c.start.Add(c.l.session); s.Before(d) {
		d = s
	}
	return d
}

// tighten gives a read under way the deadline of one under stress.
func (c *limitConn) tighten() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.readDeadline(time.Now(), true); d.Before(c.deadline) {
		c.deadline = d
		_ = c.Conn.SetReadDeadline(d)
	}
}

func (c *limitConn) Read(b []byte) (int, error) {
	stressed := c.l.stressed()
	c.mu.Lock()
	err := c.readFailed
	if err == nil {
		c.deadline = c.readDeadline(time.Now(), stressed)
		err = c.Conn.SetReadDeadline(c.deadline)
	}
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	var ne net.Error
	c.mu.Lock()
	defer c.mu.Unlock()
	if errors.As(err, &ne) && ne.Timeout() {
		c.readFailed = err
	}
	if bytes.IndexByte(b[:n], '\n') >= 0 {
		c.mark = time.Now()
	}
	if lerr := c.lines.scan(b[:n]); lerr != nil {
		c.readFailed = lerr
		return 0, lerr
	}
	return n, err
}

func (c *limitConn) Write(b []byte) (int, error) {
	timeout := c.l.timeout
	if c.l.stressed() {
		timeout = min(timeout, c.l.stress)
	}
	c.mu.Lock()
	err := c.writeFailed
	if err == nil {
		err = c.Conn.SetWriteDeadline(time.Now().Add(timeout))
		c.lines.sawReply(b)
	}
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(b)
	c.mu.Lock()
	c.mark = time.Now()
	if err != nil {
		c.readFailed, c.writeFailed = err, err
	}
	c.mu.Unlock()
	return n, err
}

// Close resets a connection whose reply could not be written (a client that
// does not read): closed gracefully, its queued replies would keep the
// socket, orphaned, sending into the client's closed window, and the client
// could go on writing to it.
func (c *limitConn) Close() error {
	c.mu.Lock()
	failed := c.writeFailed != nil
	c.mu.Unlock()
	if tc, ok := c.Conn.(*net.TCPConn); ok && failed {
		_ = tc.SetLinger(0)
	}
	// The slot goes back before the connection closes: a client that sees
	// its connection closed and dials again finds it free. Released after,
	// a reconnect could reach Accept first and be told 421 (seen once in
	// TestInboundOneClientGetsItsShareOfTheConnections on a loaded machine).
	c.once.Do(c.release)
	return c.Conn.Close()
}

type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Printf(format string, v ...any) {
	s.l.Warn("inbound smtp: " + fmt.Sprintf(format, v...))
}
func (s slogLogger) Println(v ...any) {
	s.l.Warn("inbound smtp: " + strings.TrimSpace(fmt.Sprintln(v...)))
}

// unsubscribe suppresses the address of outbox row id, as the one-click link
// does.
func (s *Server) unsubscribe(ctx context.Context, id int64, remote string) error {
	m, ok, err := s.Store.SentMessage(ctx, id)
	if err != nil {
		return err
	}
	if !ok {
		s.log().Warn("inbound: unsubscribe for a message that is not in the outbox", "remote", remote, "outbox_id", id)
		s.count("unmatched")
		return nil
	}
	if err := s.Store.Suppress(ctx, m.Email, "unsubscribed", m.Campaign, s.Clock.Now()); err != nil {
		return err
	}
	s.log().Info("inbound: unsubscribed by mail (List-Unsubscribe mailto)", "outbox_id", id, "object", m.Campaign)
	s.count("unsubscribe")
	return nil
}

// parseSafely is Parse behind a recover: the listener takes mail from the
// internet, so a parser bug must cost one message, never the daemon (a
// goroutine's panic would end the process, sending included). The fuzzer
// found one such bug, a DSN block with a blank Status.
func parseSafely(raw []byte, nullSender bool) (p *Parsed, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: the parser failed on this message (%v)", ErrMalformed, r)
		}
	}()
	return Parse(raw, nullSender)
}
