package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/policy"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// Daily quotas and rates per sender, across replicas: before a claimed batch
// is sent, the claimer reserves, per sender, as many messages as the batch
// has for it within the sender's quota for the UTC day and its rate for the
// minute (store.ReserveBudget, one transaction per sender). Each message then
// takes one from its sender's grant; a message without one goes back to the
// outbox, due at the next minute or the next day, and is counted in
// campaignctl_messages_held_total. The claim asks nothing for a message it
// already knows will be held (its object paused, quiet hours for its contact
// now, no room under its frequency cap: holdAtClaim); a grant taken by a
// message that is then held otherwise, refused, or fails is not given back:
// a day may end a little under its quota, never over.

type budgetKey struct {
	sender      string
	daily, rate int
}

type budgets struct {
	mu      sync.Mutex
	granted map[budgetKey]int
	dayFull map[budgetKey]bool
	err     error
}

// reserveBudgets reserves the batch's share of every sender's quota and rate;
// nil when no row of the batch is subject to one.
func (e *Engine) reserveBudgets(ctx context.Context, l *loaded, contacts batchContacts, rows []store.Claimed, now time.Time) *budgets {
	demand := map[budgetKey]int{}
	for _, r := range rows {
		tg, err := l.target(r)
		if err != nil || suppressedFor(tg, r) {
			continue
		}
		if k, ok := budgetKeyOf(tg); ok && !holdAtClaim(l, tg, contacts, r, now) {
			demand[k]++
		}
	}
	if len(demand) == 0 {
		return nil
	}
	b := &budgets{granted: map[budgetKey]int{}, dayFull: map[budgetKey]bool{}}
	for k, n := range demand {
		g, full, err := e.Store.ReserveBudget(ctx, k.sender, now, n, k.daily, k.rate)
		if err != nil {
			b.err = err
			return b
		}
		b.granted[k], b.dayFull[k] = g, full
	}
	return b
}

// holdAtClaim reports whether the claim already knows the row will be held
// rather than sent: its object is paused, quiet hours hold it for its
// contact now, or its frequency cap had no room for it (decideCaps, which
// runs first). Those messages ask for no share of a sender's quota.
func holdAtClaim(l *loaded, tg target, contacts batchContacts, r store.Claimed, now time.Time) bool {
	if l.isPaused(tg.kind, tg.name) {
		return true
	}
	if tg.rules == nil {
		return false
	}
	if held, _, _, _ := tg.rules.Hold(now, contactTZ(tg, contacts, r), -1); held {
		return true
	}
	_, max := tg.rules.FrequencyWindow()
	if max <= 0 || !(r.Class == "" || r.Class == plan.ClassMarketing) {
		return false
	}
	cd := contacts.caps
	if cd == nil || cd.err != nil {
		return true // held a minute, uncounted (holdByPolicy)
	}
	n, decided := cd.decision(r.ID)
	return !decided || n >= max
}

func budgetKeyOf(tg target) (budgetKey, bool) {
	daily, rate := tg.rules.Budget()
	if daily <= 0 && rate <= 0 {
		return budgetKey{}, false
	}
	return budgetKey{sender: tg.sender.Name, daily: daily, rate: rate}, true
}

// holdByBudget takes one message from the row's sender grant, or holds the row
// until the window that has room: the next minute when the rate is spent, the
// next UTC day when the quota is.
func (e *Engine) holdByBudget(tg target, contacts batchContacts, r store.Claimed) (store.Outcome, bool) {
	k, ok := budgetKeyOf(tg)
	if !ok || contacts.budget == nil {
		return store.Outcome{}, false
	}
	b := contacts.budget
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		// The counters could not be read: hold briefly rather than risk
		// exceeding a quota.
		o := outcome(r, store.OutboxPending)
		o.Hold, o.At, o.Error = true, e.Clock.Now().Add(time.Minute), "held: sender quota unavailable: "+b.err.Error()
		return o, true
	}
	if b.granted[k] > 0 {
		b.granted[k]--
		b.mu.Unlock()
		return store.Outcome{}, false
	}
	dayFull := b.dayFull[k]
	b.mu.Unlock()
	now := e.Clock.Now().UTC()
	var until time.Time
	var kind policy.Kind
	var reason string
	if dayFull {
		until, kind, reason = now.Truncate(24*time.Hour).Add(24*time.Hour), policy.KindDailyQuota, fmt.Sprintf("sender %s: daily quota %d reached until 00:00 UTC", k.sender, k.daily)
	} else {
		until, kind, reason = e.rateSlots.next(k, now), policy.KindRate, fmt.Sprintf("sender %s: rate %d per minute reached", k.sender, k.rate)
	}
	if e.Metrics != nil {
		e.Metrics.Held.WithLabelValues(tg.kind, tg.name, string(kind)).Inc()
	}
	o := outcome(r, store.OutboxPending)
	o.Hold, o.At, o.Error = true, until, "held: "+reason
	return o, true
}

// rateSpreadMinutes is how far ahead a spent rate spreads what it holds: the
// messages held in one minute are given the minutes after it, at most the
// rate to each, up to this many minutes ahead; the rest all wait for the last
// of them and are spread again then. A raised rate therefore reaches
// messages already held within this many minutes.
const rateSpreadMinutes = 10

// rateSlots spreads a backlog held by a spent rate over the minutes to come
// instead of holding all of it until the next minute: held that way, every
// minute claimed and held the whole backlog again, so a campaign of 100,000
// at 300 a minute rewrote 100,000 outbox rows a minute for five and a half
// hours, where now each message is held once. Each replica spreads what it
// holds; a minute that two replicas both filled sends the rate and holds
// the rest once more. The daily quota is not spread: its next window is a
// day away, and the whole remainder waits for it.
type rateSlots struct {
	mu   sync.Mutex
	fill map[budgetKey]rateSlot
}

// rateSlot is the minute being filled and how many messages it was given.
type rateSlot struct {
	at time.Time
	n  int
}

// next returns the minute a message held now by k's rate is due: the
// earliest minute after now that has room, at most rateSpreadMinutes ahead.
func (s *rateSlots) next(k budgetKey, now time.Time) time.Time {
	first := now.Truncate(time.Minute).Add(time.Minute)
	if k.rate <= 0 {
		return first
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fill == nil {
		s.fill = map[budgetKey]rateSlot{}
	}
	c := s.fill[k]
	if c.at.Before(first) {
		c = rateSlot{at: first}
	}
	if last := first.Add((rateSpreadMinutes - 1) * time.Minute); c.n >= k.rate && c.at.Before(last) {
		c = rateSlot{at: c.at.Add(time.Minute)}
	}
	c.n++
	s.fill[k] = c
	return c.at
}
