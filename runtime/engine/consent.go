package engine

import (
	"fmt"

	"github.com/google/cel-go/cel"

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
// A message without consent is cancelled, not held: like a suppressed
// address, it is a decision about this message, recorded in the ledger
// (outbox.last_error starts with consentRefusal) for explain and status; a
// consent given later lets the object's later messages go, not this one.
// Transactional and internal mail never needs consent (policy.Rules.OptIn is
// false for them).

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
	fields, err := contacts.get(tg.model, r.ContactKey)
	if err != nil {
		return store.Outcome{}, false
	}
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
