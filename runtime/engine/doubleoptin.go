package engine

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// Double opt-in. A subscription type with double_opt_in = true is asked for
// by an event of type plan.EventSubscribeRequested whose topic is the type's
// name (from the events API or `campaignctl events import`). The leader reads
// those events through a trigger cursor, as it does a workflow's, and queues
// one confirmation mail per request: an outbox row of kind "subscription"
// (campaign = the type, step "confirm", class transactional), which the send
// path claims, composes and delivers like any message. The mail's
// {{ .confirm_url }} is a signed link (links.PurposeConfirm) that binds the
// contact, the subscription type, the wording version and the outbox row, and
// expires after confirm_within. Nothing is recorded until the contact
// confirms on the daemon's page (httpapi, POST /confirm/<token>): then the
// consent ledger gets the grant and the events table a
// plan.EventSubscriptionConfirmed event, which enrolls the workflows that
// trigger on it (blog_welcome). A request never confirmed just expires.

// doubleOptIn is one double opt-in subscription type of the plan.
type doubleOptIn struct {
	model  *plan.Model
	sub    plan.Subscription
	within time.Duration
}

// doubleOptIns returns the plan's double opt-in subscription types by name.
func doubleOptIns(p *plan.Plan) map[string]doubleOptIn {
	out := map[string]doubleOptIn{}
	for i := range p.Models {
		m := &p.Models[i]
		for _, s := range m.Subscriptions {
			if !s.DoubleOptIn {
				continue
			}
			out[s.Name] = doubleOptIn{model: m, sub: s, within: s.ConfirmValidity()}
		}
	}
	return out
}

// reconcileConfirmations queues a confirmation mail for each subscription
// request stored since the last pass.
func (e *Engine) reconcileConfirmations(ctx context.Context, l *loaded, now time.Time) error {
	names := make([]string, 0, len(l.doubleOptIns))
	for name := range l.doubleOptIns {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		d := l.doubleOptIns[name]
		if err := e.queueConfirmations(ctx, l, d, now); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) queueConfirmations(ctx context.Context, l *loaded, d doubleOptIn, now time.Time) error {
	kind, name := store.KindSubscription, d.sub.Name
	types := []string{plan.EventSubscribeRequested}
	total, err := e.consumeTriggerEvents(ctx, l, kind, name, d.model.Name, types, name, func(evs []store.TriggerEvent) (int64, error) {
		keys := make([]string, 0, len(evs))
		seen := map[string]bool{}
		for _, ev := range evs {
			if !seen[ev.ContactKey] {
				seen[ev.ContactKey] = true
				keys = append(keys, ev.ContactKey)
			}
		}
		contacts, err := e.readContacts(ctx, d.model, keys, nil, l.written[d.model.Name])
		if err != nil {
			return 0, fmt.Errorf("subscription %s: %w", name, err)
		}
		var reqs []store.ConfirmRequest
		decided := make([]int64, 0, len(evs))
		queued := map[string]bool{}
		for _, ev := range evs {
			decided = append(decided, ev.ID)
			c, ok := contacts[ev.ContactKey]
			if !ok || c.email == "" || queued[ev.ContactKey] {
				continue // not in the CRM, no address, or asked twice in one batch
			}
			queued[ev.ContactKey] = true
			reqs = append(reqs, store.ConfirmRequest{ContactKey: ev.ContactKey, Email: c.email})
		}
		return e.Store.QueueConfirmations(ctx, name, reqs, decided, now)
	})
	if err != nil {
		return err
	}
	if total > 0 {
		e.Log.Info("confirmation mails queued", "subscription", name, "queued", total)
		e.queuedOneToOne()
	}
	return nil
}

// confirmURL is the confirmation link of an outbox row of kind subscription.
func (e *Engine) confirmURL(d doubleOptIn, r store.Claimed) string {
	if e.Links == nil || e.PublicURL == "" {
		return ""
	}
	now := e.Clock.Now()
	tok := e.Links.Sign(links.Claims{
		Purpose: links.PurposeConfirm, Kind: store.KindSubscription, Campaign: d.sub.Name, Step: d.sub.WordingVersion,
		Model: d.model.Name, ContactKey: r.ContactKey, Email: normAddress(r.Email),
		Occurrence: r.Occurrence, OutboxID: r.ID, IssuedAt: now.Unix(),
		Subscription: d.sub.Name, ExpiresAt: now.Add(d.within).Unix(),
	})
	return strings.TrimRight(e.PublicURL, "/") + "/confirm/" + url.PathEscape(tok)
}
