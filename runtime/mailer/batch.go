package mailer

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotSent is inside the SendError of a message of a SendBatch that was
// never handed to the relay because the connection broke (or the relay
// closed it) on an earlier message of the batch. Classify calls it
// RelayUnavailable; it is never MaybeDelivered.
var ErrNotSent = errors.New("not sent: the connection ended on an earlier message of the batch")

// ErrHandOffLate is inside the SendError of a message whose HandOff refused
// it before its final dot was written: it was not handed to the relay (an open
// DATA is abandoned by closing the connection, so the relay discards it).
// Classify calls it RelayUnavailable; it is never MaybeDelivered, and the
// engine gives the message back untried.
var ErrHandOffLate = errors.New("not sent: its claim could expire before the relay took it (hand-off refused)")

// ErrNotReserved is inside the SendError of a message whose Reserve refused
// it (the engine is stopping): it was never started, and the engine gives it
// back untried. Classify calls it RelayUnavailable; it is never
// MaybeDelivered.
var ErrNotReserved = errors.New("not sent: no place in the in-flight window (the sender is stopping)")

// NotStarted reports whether err is the error of a message that the engine's
// own hooks (HandOff, Reserve) kept from the relay: nothing about the relay
// follows from it.
func NotStarted(err error) bool {
	return errors.Is(err, ErrHandOffLate) || errors.Is(err, ErrNotReserved)
}

// reserve asks a message's Reserve; a nil Reserve always says yes.
func reserve(r func(bool) bool, wait bool) bool {
	return r == nil || r(wait)
}

func notReserved(st Stage) *SendError {
	return &SendError{Stage: st, Err: ErrNotReserved}
}

// admit asks whether a message may start, with nothing of its connection in
// flight: its Reserve, which may wait here, then its HandOff. nil means go;
// otherwise the error of a message never started (NotStarted).
func admit(reserveFn func(bool) bool, handOff func() bool) *SendError {
	if !reserve(reserveFn, true) {
		return notReserved(StageMail)
	}
	if late(handOff) {
		return handOffLate(StageMail)
	}
	return nil
}

// batchItem is one encoded message of a batch.
type batchItem struct {
	idx      int // index in the caller's slice
	from, to string
	utf8     bool        // the envelope needs SMTPUTF8 (needsSMTPUTF8)
	body     []byte      // dot-stuffed, ending in ".\r\n"
	size     int         // the message's size as SIZE declares it (messageSize)
	handOff  func() bool // the message's HandOff
	reserve  func(bool) bool
}

// late reports whether handOff refuses the message now; a nil handOff
// never does.
func late(handOff func() bool) bool {
	return handOff != nil && !handOff()
}

// handOffLate is the error of a message not handed over because its
// HandOff refused it.
func handOffLate(st Stage) *SendError {
	return &SendError{Stage: st, Err: ErrHandOffLate}
}

// SendBatch delivers msgs in order over one connection, pipelining across
// messages (RFC 2920): the MAIL FROM, RCPT TO and DATA of message i+1 go in
// the same write as the body and final dot of message i, so a message costs
// about one write and one read. errs[i] has exactly the meaning Send's error
// would have for msgs[i]: nil only after a 2xx reply to msgs[i]'s final dot.
// If the connection ends, the message whose final dot was written gets a
// SendError that is MaybeDelivered (as with Send), and the messages after it
// get a SendError wrapping ErrNotSent (RelayUnavailable, never delivered).
// A relay without PIPELINING gets the messages one Send at a time. A message
// whose HandOff refuses it before its envelope is skipped; one refused while
// its DATA is open ends the connection without its final dot, and it and the
// messages after it are not sent: all get ErrHandOffLate. A message whose
// Reserve refuses it gets ErrNotReserved. Each message's Done is called with
// its errs entry as soon as it is final (once the relay has answered
// anything on the connection; until then a stale pooled connection may still
// make the whole batch go again on a fresh one), and before SendBatch returns
// for the rest.
func (s *SMTP) SendBatch(ctx context.Context, msgs []*Message) []error {
	errs := make([]error, len(msgs))
	reported := make([]bool, len(msgs))
	report := func(i int) {
		if !reported[i] {
			reported[i] = true
			if d := msgs[i].Done; d != nil {
				d(errs[i])
			}
		}
	}
	defer func() {
		for i := range msgs {
			report(i)
		}
	}()
	if len(msgs) == 1 {
		errs[0] = s.send(ctx, msgs[0])
		return errs
	}
	if len(msgs) == 0 {
		return errs
	}
	items := make([]batchItem, 0, len(msgs))
	bufs := make([]*[]byte, 0, 2*len(msgs))
	defer func() {
		for _, b := range bufs {
			bodyPool.Put(b)
		}
	}()
	for i, m := range msgs {
		rawp := bodyPool.Get().(*[]byte)
		bodyp := bodyPool.Get().(*[]byte)
		bufs = append(bufs, rawp, bodyp)
		body, size, from, to, err := s.data(m, rawp, bodyp)
		if err != nil {
			errs[i] = &SendError{Stage: StageCompose, Err: err}
			report(i)
			continue
		}
		items = append(items, batchItem{idx: i, from: from, to: to, utf8: needsSMTPUTF8(from, to), body: body, size: size, handOff: m.HandOff, reserve: m.Reserve})
	}
	if len(items) == 0 {
		return errs
	}

	s.init()
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		for _, it := range items {
			errs[it.idx] = &SendError{Stage: StageConnect, Err: fmt.Errorf("waiting for a free connection to %s: %w", s.Addr, ctx.Err())}
		}
		return errs
	}
	released := false
	release := func() {
		if !released {
			released = true
			<-s.slots
		}
	}
	defer release()

	for attempt := 0; ; attempt++ {
		c, serr := s.get(ctx)
		if serr != nil {
			for _, it := range items {
				e := *serr
				errs[it.idx] = &e
			}
			return errs
		}
		if !c.pipelining {
			// Lock-step relay: nothing to gain; one Send at a time, which
			// takes the connection back from the pool.
			s.put(c)
			release()
			for _, it := range items {
				errs[it.idx] = s.send(ctx, msgs[it.idx])
				report(it.idx)
			}
			return errs
		}
		reused := c.sent > 0
		rest := c.transactBatch(ctx, s, items, errs, report)
		// Read before put: once back in the pool, c is another sender's.
		beforeFirstReply := c.beforeFirstReply
		s.put(c)
		// As in Send: a pooled connection the relay closed while idle fails on
		// the first command, before the relay saw any of the batch; retry the
		// whole batch on another connection. (Nothing was reported yet:
		// transactBatch reports only once the relay has answered.)
		if attempt <= s.maxConns() && reused && ctx.Err() == nil && freshRetry(errs[items[0].idx], beforeFirstReply) {
			for _, it := range items {
				errs[it.idx] = nil
			}
			continue
		}
		// The relay ended the session after some of the batch (a cap on
		// messages per connection): the rest, never started, goes on a fresh
		// connection. Each such round delivered at least one message.
		if rest > 0 && ctx.Err() == nil {
			items = items[rest:]
			for _, it := range items {
				errs[it.idx] = nil
			}
			attempt = -1
			continue
		}
		return errs
	}
}

// notSent is the error of a message of a batch that was never handed over.
func notSent(ctx context.Context) *SendError {
	err := ErrNotSent
	if ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ctx.Err(), ErrNotSent)
	}
	return &SendError{Stage: StageMail, Err: err}
}

// appendEnvelope appends the pipelined MAIL FROM (with its parameters),
// RCPT TO and DATA commands.
func (c *smtpConn) appendEnvelope(b []byte, it batchItem) []byte {
	b = append(b, "MAIL FROM:<"...)
	b = append(b, it.from...)
	b = append(b, '>')
	b = c.mailParams(b, it.utf8, it.size)
	b = append(b, "\r\nRCPT TO:<"...)
	b = append(b, it.to...)
	return append(b, ">\r\nDATA\r\n"...)
}

// freshRetry reports whether err, the first result on a pooled connection,
// is what a connection the relay closed while it sat idle gives: no reply at
// all, or 421 to MAIL. Send and SendBatch then try once more on a fresh
// connection, since the relay saw nothing of the message.
func freshRetry(err error, beforeFirstReply bool) bool {
	var se *SendError
	return errors.As(err, &se) && !NotStarted(se) &&
		((se.Code == 0 && beforeFirstReply) || (se.Code == 421 && se.Stage == StageMail))
}

// transactBatch sends items on c (which offers PIPELINING) and sets errs for
// each of them, calling report with a message's index once its entry is
// final (unless the first message failed as a stale connection does, when
// SendBatch may run the batch again: then nothing is reported here). After
// it, c.broken says whether c may be reused and c.beforeFirstReply whether
// the relay answered nothing at all.
func (c *smtpConn) transactBatch(ctx context.Context, s *SMTP, items []batchItem, errs []error, report func(int)) (rest int) {
	c.beforeFirstReply = true
	if ctx.Done() != nil {
		raw := c.raw
		stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
		defer func() {
			if !stop() {
				c.broken = true
			}
		}()
	}
	r := batchRun{c: c, ctx: ctx, items: items, timeout: s.commandTimeout(), dt: s.dataTimeout()}
	hold := false
	rest = -1
	for i, it := range items {
		errs[it.idx] = r.item(i)
		if !hold && i == 0 && freshRetry(errs[it.idx], c.beforeFirstReply) {
			hold = true
		}
		if !hold && i > 0 && errs[items[i-1].idx] == nil && ctx.Err() == nil && sessionEnded(errs[it.idx]) {
			hold, rest = true, i
		}
		if !hold {
			report(it.idx)
		}
	}
	return rest
}

// sessionEnded reports whether err, the result of a message whose envelope
// followed a delivered one on the same connection, is the relay ending the
// session there: 421 to its MAIL, or the connection closed before any reply
// to it. Relays cap the messages of a session (Exchange's
// MaxMessagesPerConnection); the message was never started, and goes again
// on a fresh connection.
func sessionEnded(err error) bool {
	var se *SendError
	return errors.As(err, &se) && !NotStarted(se) && se.Stage == StageMail && (se.Code == 421 || se.Code == 0)
}

// batchRun is one pass of transactBatch over its connection.
type batchRun struct {
	c           *smtpConn
	ctx         context.Context
	items       []batchItem
	timeout, dt time.Duration
	// queued: the envelope commands of the next item went out with the
	// previous message's body, and their replies follow that message's
	// final reply.
	queued bool
	// abandoned: the connection was dropped because a message's HandOff
	// refused it; the messages after it are given back the same way.
	abandoned bool
	wbuf      []byte
}

// item sends items[i] and returns its result: nil only after a 2xx reply to
// its final dot.
func (r *batchRun) item(i int) error {
	c, ctx, timeout, dt := r.c, r.ctx, r.timeout, r.dt
	it := r.items[i]
	if c.broken {
		if r.abandoned {
			return handOffLate(StageMail)
		}
		return notSent(ctx)
	}
	if !r.queued {
		if serr := c.refuses(it.utf8, it.size); serr != nil {
			return serr
		}
		if serr := admit(it.reserve, it.handOff); serr != nil {
			return serr
		}
		r.wbuf = c.appendEnvelope(r.wbuf[:0], it)
		_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
		if _, err := c.nc.Write(r.wbuf); err != nil {
			return c.ioError(ctx, StageMail, "writing MAIL FROM", timeout, err)
		}
	}
	r.queued = false
	if failed, first := c.envelopeReplies(ctx, timeout); failed != nil {
		return failed
	} else if first != nil {
		c.reset(timeout)
		return first
	}
	if late(it.handOff) {
		// The relay waits for this message's body: abandon the DATA by
		// closing the connection (without the final dot the relay
		// discards it); the messages after it are not sent either.
		c.broken, r.abandoned = true, true
		_ = c.raw.Close()
		return handOffLate(StageData)
	}
	// The body and final dot, and the next message's envelope behind them,
	// unless the next one is already too late to start or has no place in
	// the window yet (it then goes once this one is answered).
	out := it.body
	if i+1 < len(r.items) {
		if next := r.items[i+1]; c.refuses(next.utf8, next.size) == nil && !late(next.handOff) && reserve(next.reserve, false) {
			out = c.appendEnvelope(it.body, next)
			r.queued = true
		}
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(dt))
	n, err := c.nc.Write(out)
	if err != nil {
		if n >= len(it.body) {
			// The final dot went out; only the next envelope did not.
			return c.ioError(ctx, StageMessage, "writing the next message's envelope", dt, err)
		}
		return c.ioError(ctx, StageData, "writing the message", dt, err)
	}
	if serr := c.dotReply(ctx, dt, !r.queued); serr != nil {
		return serr
	}
	return nil
}
