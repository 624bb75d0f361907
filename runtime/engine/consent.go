package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/cel-go/cel"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// Consent at send time. Under an opt_in policy (consent = "opt_in"), a
// marketing message goes only to a contact whose consent condition holds: the
// condition of the template's subscription type when the model gives that
// type its own, else the model's. It is read from the contact's row as it is
// at send time (the batch's contact read), so a consent withdrawn in the CRM
// after the message was queued stops it.
//
// The consent ledger (campaignctl.consent_ledger: unsubscribes, `campaignctl
// consent grant|withdraw`, confirmations) is newer evidence than the CRM's
// field, so when it has an entry for the address it decides: the latest entry
// for the template's subscription type or for all marketing mail, whichever
// is later, grants or withdraws. Without one, the model's rule decides. When
// the ledger cannot be read the message is held a minute, never sent on the
// CRM's word alone: a withdrawal might be there.
//
// A message without consent is cancelled, not held: like a suppressed
// address, it is a decision about this message, recorded in the ledger
// (outbox.last_error starts with consentRefusal) for explain and status; a
// consent given later lets the object's later messages go, not this one.
// Transactional and internal mail never needs consent (policy.Rules.OptIn is
// false for them).
//
// Under an opt_out policy a withdrawal still counts per subscription type: a
// contact who unticked a type on the preference center (or one-click
// unsubscribed from a message of that type) gets no more marketing mail of
// templates of that type, and keeps getting the other types. (A withdrawal
// from all marketing mail comes with a suppression, which the claim reads.)

// consentRefusal starts the last_error of a message cancelled for want of
// consent; explain recognises it.
const consentRefusal = "no consent"

type consentRule struct {
	expr string
	prog cel.Program
	err  error
}

func consentKey(model, subscription string) string { return model + "\x00" + subscription }

// loadConsent compiles every consent condition of the plan's models, once per
// revision.
func (l *loaded) loadConsent() {
	l.consent = map[string]*consentRule{}
	for _, r := range l.rules {
		if optIn, _ := r.OptIn(); optIn {
			l.anyOptIn = true
		}
	}
	for _, t := range l.plan.Templates {
		if t.Subscription != "" {
			l.anySubscription = true
		}
	}
	for _, sub := range l.variantSubs {
		if sub != "" {
			l.anySubscription = true
		}
	}
	for i := range l.plan.Models {
		m := &l.plan.Models[i]
		add := func(sub, expr string) {
			if expr == "" {
				return
			}
			cr := &consentRule{expr: expr}
			env, err := celmodel.Env(m, nil)
			if err == nil {
				env, err = env.Extend(celmodel.WithEvent())
			}
			if err == nil {
				ast, iss := env.Compile(expr)
				if iss.Err() != nil {
					err = iss.Err()
				} else {
					cr.prog, err = env.Program(ast)
				}
			}
			if err != nil {
				cr.err = fmt.Errorf("consent rule %q of model %s does not compile: %w", expr, m.Name, err)
			}
			l.consent[consentKey(m.Name, sub)] = cr
		}
		add("", m.Consent)
		for _, s := range m.Subscriptions {
			add(s.Name, m.ConsentFor(s.Name))
		}
	}
}

// withoutConsent decides a message that needs consent and whose contact has
// none: cancelled, with the reason. A contact whose row cannot be read is left
// to compose, which retries or cancels it as for any message.
func (e *Engine) withoutConsent(l *loaded, tg target, contacts batchContacts, r store.Claimed) (store.Outcome, bool) {
	optIn, policyName := tg.rules.OptIn()
	if !optIn && marketingRow(r) && tg.subscription != "" {
		return e.withdrawnType(tg, contacts, r)
	}
	if !optIn || tg.model == nil {
		return store.Outcome{}, false
	}
	refuse := func(why string) (store.Outcome, bool) {
		o := outcome(r, store.OutboxCancelled)
		o.Error = fmt.Sprintf("%s: %s (policy %q is opt_in)", consentRefusal, why, policyName)
		return o, true
	}
	what := "marketing mail"
	if tg.subscription != "" {
		what = "subscription " + tg.subscription
	}
	cr, ok := l.consent[consentKey(tg.model.Name, tg.subscription)]
	if !ok {
		cr, ok = l.consent[consentKey(tg.model.Name, "")]
	}
	if !ok {
		return refuse(fmt.Sprintf("model %s declares no consent rule for %s", tg.model.Name, what))
	}
	if cr.err != nil {
		return refuse(cr.err.Error())
	}
	if contacts.ledgerErr != nil {
		o := outcome(r, store.OutboxPending)
		o.Hold, o.At, o.Error = true, e.Clock.Now().Add(time.Minute), "held: the consent ledger cannot be read"
		return o, true
	}
	if en, ok := latestLedgerEntry(contacts.ledger[r.EmailNorm], tg.subscription); ok {
		if en.Action == store.ConsentWithdraw {
			scope := "all marketing mail"
			if en.Subscription != "" {
				scope = "subscription " + en.Subscription
			}
			return refuse(fmt.Sprintf("withdrawn for %s on %s (%s, ledger entry %d)", scope, en.RecordedAt.UTC().Format(time.RFC3339), en.Source, en.ID))
		}
		return store.Outcome{}, false
	}
	fields, err := contacts.get(tg.model, r.ContactKey)
	if err != nil {
		return store.Outcome{}, false
	}
	// What workflows wrote counts: set_property on the consent field
	// grants (or withdraws) consent as the CRM's column would.
	fields = contacts.withWrites(tg.model, r.ContactKey, fields)
	holds, err := evalBool(cr.prog, tg.model, &wfContact{fields: fields}, nil, e.Clock.Now())
	if err != nil {
		// The error may quote the contact's value: it is not recorded.
		return refuse(fmt.Sprintf("%s could not be evaluated for this contact", cr.expr))
	}
	if !holds {
		return refuse(fmt.Sprintf("%s does not hold for this contact (%s)", cr.expr, what))
	}
	return store.Outcome{}, false
}

func marketingRow(r store.Claimed) bool { return r.Class == "" || r.Class == plan.ClassMarketing }

// withdrawnType cancels a marketing message of a subscription type, outside
// opt_in, when the address's latest ledger entry for that type (or for all
// marketing mail, whichever is later) is a withdrawal.
func (e *Engine) withdrawnType(tg target, contacts batchContacts, r store.Claimed) (store.Outcome, bool) {
	if contacts.ledgerErr != nil {
		o := outcome(r, store.OutboxPending)
		o.Hold, o.At, o.Error = true, e.Clock.Now().Add(time.Minute), "held: the consent ledger cannot be read"
		return o, true
	}
	en, ok := latestLedgerEntry(contacts.ledger[r.EmailNorm], tg.subscription)
	if !ok || en.Action != store.ConsentWithdraw {
		return store.Outcome{}, false
	}
	scope := "all marketing mail"
	if en.Subscription != "" {
		scope = "subscription " + en.Subscription
	}
	o := outcome(r, store.OutboxCancelled)
	o.Error = fmt.Sprintf("%s: withdrawn for %s on %s (%s, ledger entry %d)", consentRefusal, scope, en.RecordedAt.UTC().Format(time.RFC3339), en.Source, en.ID)
	return o, true
}

// latestLedgerEntry is the entry that decides a message of subscription sub:
// the later of the address's latest entry for sub and for all marketing mail.
func latestLedgerEntry(entries map[string]store.ConsentEntry, sub string) (store.ConsentEntry, bool) {
	all, okAll := entries[""]
	if sub == "" {
		return all, okAll
	}
	own, okOwn := entries[sub]
	switch {
	case okOwn && okAll:
		if all.RecordedAt.After(own.RecordedAt) || (all.RecordedAt.Equal(own.RecordedAt) && all.ID > own.ID) {
			return all, true
		}
		return own, true
	case okOwn:
		return own, true
	}
	return all, okAll
}

// loadConsentLedger reads the latest ledger entries of the batch's addresses
// whose messages need consent, in one query; nothing when none does.
func loadConsentLedger(ctx context.Context, st *store.Store, l *loaded, rows []store.Claimed) (map[string]map[string]store.ConsentEntry, error) {
	if !l.anyOptIn && !l.anySubscription {
		return nil, nil // no per-row work for a plan without opt_in policies or subscription types
	}
	var addrs []string
	for _, r := range rows {
		tg, err := l.target(r)
		if err != nil {
			continue
		}
		if optIn, _ := tg.rules.OptIn(); optIn || (marketingRow(r) && tg.subscription != "") {
			addrs = append(addrs, r.EmailNorm)
		}
	}
	if len(addrs) == 0 {
		return nil, nil
	}
	return st.LatestConsent(ctx, addrs)
}

// PreferenceDefaults says, for each subscription type of model, whether its
// marketing mail goes to the contact key when the consent ledger has no entry
// for the type (nor for all marketing mail), which the preference center
// shows as the box's state. For a type no object sends under an opt_in
// policy, yes. For one that some object does, as the type's consent
// condition (or the model's) holds for the contact's row now, with what
// workflows wrote laid over as at send time: a contact
// whose CRM field says no sees the box unticked, rather than ticked for mail
// it does not get.
// A condition that does not compile or cannot be evaluated reads as no, as at
// send time. Without an applied plan there are no types: nil.
func (e *Engine) PreferenceDefaults(ctx context.Context, model, key string) (map[string]bool, error) {
	l, err := e.load(ctx)
	if errors.Is(err, store.ErrNoRevision) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, ok := l.plan.Model(model)
	if !ok {
		return nil, nil
	}
	out := make(map[string]bool, len(m.Subscriptions))
	var contact *wfContact
	read := false
	for _, s := range m.Subscriptions {
		if !l.optInTypes[s.Name] {
			out[s.Name] = true // no object sends this type under opt_in
			continue
		}
		if !read {
			contacts, err := e.readContacts(ctx, m, []string{key}, nil, l.written[m.Name])
			if err != nil {
				return nil, err
			}
			contact, read = contacts[key], true
		}
		cr, ok := l.consent[consentKey(m.Name, s.Name)]
		if !ok {
			cr, ok = l.consent[consentKey(m.Name, "")]
		}
		if !ok || cr.err != nil || contact == nil {
			out[s.Name] = false
			continue
		}
		holds, err := evalBool(cr.prog, m, contact, nil, e.Clock.Now())
		out[s.Name] = err == nil && holds
	}
	return out, nil
}
