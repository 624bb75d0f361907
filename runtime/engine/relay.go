package engine

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/campaignctl/campaignctl/runtime/mailer"
)

// relayGate is the circuit breaker in front of the relay. A relay that is down
// (connection refused, timeouts, 421) or that refuses us (a rejected sender,
// failed authentication, "relaying denied") says nothing about the recipients:
// the message is given back untried and every worker pauses, with jittered
// exponential backoff, until a probe gets through. So a one-second outage costs
// about a second, not a retry delay per row, and a misconfigured relay cannot
// bounce or suppress a whole list. Pauses are in real time: the relay is real
// even when the engine's clock is simulated.
type relayGate struct {
	mu       sync.Mutex
	until    time.Time
	failures int
	state    string // "" (healthy), "unavailable" or "refused"
	reason   string
	// A relay that throttles (451 4.7.1 every few hundred messages) pauses
	// and resumes again and again: a pause is logged when the state changed
	// or relayLogEvery passed since the last one logged, the others are
	// counted (unlogged) and told with the next one; its resume is logged
	// only when the pause was (resumeLogged false).
	loggedAt     time.Time
	loggedState  string
	unlogged     int
	resumeLogged bool
}

// relayLogEvery is how often a relay that keeps pausing sending is logged.
const relayLogEvery = time.Minute

// RelayHealth is the relay's state as the send path last saw it.
type RelayHealth struct {
	// State is "ok", "unavailable" (down or overloaded: retrying) or "refused"
	// (it refuses our mail: a configuration problem an operator must fix).
	State string
	// Reason is the last failure, e.g. `mail 550 5.7.1: relaying denied`.
	Reason string
	// PausedUntil is when the next attempt happens, while paused.
	PausedUntil time.Time
}

// RelayHealth reports the relay's state for /healthz and status.
func (e *Engine) RelayHealth() RelayHealth {
	g := &e.relay
	g.mu.Lock()
	defer g.mu.Unlock()
	h := RelayHealth{State: g.state, Reason: g.reason}
	if h.State == "" {
		h.State = "ok"
	}
	if time.Now().Before(g.until) {
		h.PausedUntil = g.until
	}
	return h
}

// wait blocks while the relay is paused.
func (g *relayGate) wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		d := time.Until(g.until)
		g.mu.Unlock()
		if d <= 0 {
			return ctx.Err()
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// trip pauses the relay after a relay-level failure. Unavailable relays are
// probed again after RelayBackoff (0.5 s) doubling to 30 s; refusing relays
// after ten times that doubling to 5 minutes: both with ±25% jitter. The first failure of a run is logged as
// an error; repeats while paused are not, so an outage is one log line per
// backoff step rather than one per message, and a relay that pauses us again
// and again (throttling) one line a minute (relayLogEvery) with the count of
// the pauses in between; campaignctl_relay_pauses_total counts them all.
func (g *relayGate) trip(e *Engine, v mailer.Verdict, short, text string) {
	g.mu.Lock()
	now := time.Now()
	if now.Before(g.until) {
		// Another worker's failure from the same outage already paused us.
		g.mu.Unlock()
		return
	}
	g.failures++
	base, ceiling, state := e.RelayBackoff, 30*time.Second, "unavailable"
	if v == mailer.RelayRefused {
		base, ceiling, state = 10*e.RelayBackoff, 5*time.Minute, "refused"
	}
	d := min(base<<min(g.failures-1, 12), ceiling)
	d = time.Duration(float64(d) * (0.75 + 0.5*rand.Float64()))
	g.until = now.Add(d)
	g.state, g.reason = state, short+": "+text
	failures := g.failures
	logNow := state != g.loggedState || now.Sub(g.loggedAt) >= relayLogEvery
	unlogged := g.unlogged
	if logNow {
		g.loggedAt, g.loggedState, g.unlogged, g.resumeLogged = now, state, 0, true
	} else {
		g.unlogged++
	}
	g.mu.Unlock()

	if e.Metrics != nil {
		e.Metrics.RelayUp.Set(0)
		e.Metrics.RelayPauses.WithLabelValues(state).Inc()
	}
	if !logNow {
		return
	}
	attrs := []any{"smtp", short, "err", text, "consecutive_failures", failures, "retry_in", d.Round(time.Millisecond)}
	if unlogged > 0 {
		attrs = append(attrs, "pauses_not_logged", unlogged)
	}
	if state == "refused" {
		e.Log.Error("the SMTP relay refuses our mail; sending paused, recipients untouched — check the relay's configuration (sender, authentication, relaying rights)", attrs...)
	} else {
		e.Log.Error("the SMTP relay is unavailable; sending paused", attrs...)
	}
}

// paused reports whether sending is paused now.
func (g *relayGate) paused() bool {
	return g.pausedFor() > 0
}

// pausedFor is how much longer sending is paused; 0 when it is not.
func (g *relayGate) pausedFor() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return max(time.Until(g.until), 0)
}

// ok records a delivery: the relay works again.
func (g *relayGate) ok(e *Engine) {
	g.mu.Lock()
	if g.state == "" && g.failures == 0 {
		g.mu.Unlock()
		return
	}
	was, logged := g.state, g.resumeLogged
	g.failures, g.state, g.reason, g.resumeLogged = 0, "", "", false
	g.mu.Unlock()
	if was != "" && logged {
		e.Log.Info("the SMTP relay accepts mail again; sending resumed", "was", was)
	}
	if e.Metrics != nil {
		e.Metrics.RelayUp.Set(1)
	}
}

// ConnLimitChanged is the SMTP client's OnConnLimit: the relay refused a
// connection beyond limit open ones (cause set), or took one more again. It
// logs the change and sets campaignctl_smtp_connections_allowed. A relay that
// is full is not down: sending goes on over the connections it accepts.
func (e *Engine) ConnLimitChanged(limit, most int, cause error) {
	if e.Metrics != nil {
		e.Metrics.SMTPConnLimit.Set(float64(limit))
	}
	if cause != nil {
		short, text := describe(cause, "")
		e.Log.Warn("the SMTP relay refuses more connections; sending on those it accepts, one more is tried 30 s after each refusal",
			"connections", limit, "concurrency", most, "smtp", short, "err", text)
		return
	}
	if limit >= most {
		e.Log.Info("the SMTP relay's connection limit is lifted; sending on every connection again", "concurrency", most)
		return
	}
	e.Log.Info("the SMTP relay accepts one more connection", "connections", limit, "concurrency", most)
}
