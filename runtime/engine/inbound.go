package engine

import (
	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/flow"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// InboundAddresses gives each message the addresses that bring answers back
// to the inbound listener (runtime/inbound): the VERP return path (MAIL FROM)
// that DSNs go to, and a per-message Reply-To, or "" for none.
type InboundAddresses interface {
	ReturnPath(outboxID int64) string
	ReplyTo(outboxID int64) string
	// Unsubscribe is the mailto: address of List-Unsubscribe, or "".
	Unsubscribe(outboxID int64) string
}

// unsubscribeMailto is the mailto: address of a marketing message's
// List-Unsubscribe beside its https link, when the listener can receive it.
func (e *Engine) unsubscribeMailto(r store.Claimed, https string) string {
	if e.Inbound == nil || https == "" {
		return ""
	}
	return e.Inbound.Unsubscribe(r.ID)
}

// returnPath is the envelope sender of outbox row r: its VERP address when
// the engine has InboundAddresses, else "" (the From address).
func (e *Engine) returnPath(r store.Claimed) string {
	if e.Inbound == nil {
		return ""
	}
	return e.Inbound.ReturnPath(r.ID)
}

// replyTo is the Reply-To of a message: the sender's own when it has one
// (replies then go where the sender reads them, and the listener matches the
// ones it sees by In-Reply-To), else a per-message address when configured.
func (e *Engine) replyTo(tg target, r store.Claimed) string {
	if tg.sender.ReplyTo != "" || e.Inbound == nil {
		return tg.sender.ReplyTo
	}
	return e.Inbound.ReplyTo(r.ID)
}

// ObjectOf returns the model and sender of an object (kind "" is a campaign)
// in the loaded plan, for the inbound listener's events and metrics. ok is
// false before the first plan is loaded or once the object left the plan.
func (e *Engine) ObjectOf(kind, object string) (model, sender string, ok bool) {
	l := e.loadedNow()
	if l == nil || l.plan == nil {
		return "", "", false
	}
	m, ok := modelOf(l.plan, kind, object)
	if !ok {
		return "", "", false
	}
	return m.Name, senderOf(l.plan, kind, object), true
}

func senderOf(p *plan.Plan, kind, object string) string {
	switch kind {
	case "", kindCampaign:
		if c, ok := p.Campaign(object); ok {
			return c.Sender
		}
	case flow.KindSequence:
		if s, ok := p.Sequence(object); ok {
			return s.Sender
		}
	case flow.KindAutoresponder:
		for _, a := range p.Autoresponders {
			if a.Name == object {
				return a.Sender
			}
		}
	case flow.KindWorkflow:
		for _, w := range p.Workflows {
			if w.Name == object {
				return w.Sender
			}
		}
	}
	return ""
}
