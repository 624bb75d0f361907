package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/campaignctl/campaignctl/runtime/policy"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// Daily quotas and rates per sender, across replicas: before a claimed batch
// is sent, the claimer reserves, per sender, as many messages as the batch
// has for it within the sender's quota for the UTC day and its rate for the
// minute (store.ReserveBudget, one transaction per sender). Each message then
// takes one from its sender's grant; a message without one goes back to the
// outbox, due at the next minute or the next day, and is counted in
// campaignctl_messages_held_total. A grant taken by a message that is then
// held by quiet hours or fails is not given back: a day may end a little under
// its quota, never over.

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
func (e *Engine) reserveBudgets(ctx context.Context, l *loaded, rows []store.Claimed, now time.Time) *budgets {
	demand := map[budgetKey]int{}
	for _, r := range rows {
		tg, err := l.target(r)
		if err != nil || suppressedFor(tg, r) {
			continue
		}
		if k, ok := budgetKeyOf(tg); ok {
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
	until, kind, reason := now.Truncate(time.Minute).Add(time.Minute), policy.KindRate, fmt.Sprintf("sender %s: rate %d per minute reached", k.sender, k.rate)
	if dayFull {
		until, kind, reason = now.Truncate(24*time.Hour).Add(24*time.Hour), policy.KindDailyQuota, fmt.Sprintf("sender %s: daily quota %d reached until 00:00 UTC", k.sender, k.daily)
	}
	if e.Metrics != nil {
		e.Metrics.Held.WithLabelValues(tg.kind, tg.name, string(kind)).Inc()
	}
	o := outcome(r, store.OutboxPending)
	o.Hold, o.At, o.Error = true, until, "held: "+reason
	return o, true
}
