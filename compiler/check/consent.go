package check

import (
	"fmt"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// This file checks consent: the condition a model declares for it (and per
// subscription type), the subscription type a template names, and that every
// piece of marketing mail sent under an opt_in policy has a consent rule to
// read. Without one the runner could only hold back every message, so the plan
// is refused where it would send one.

const consentDetail = "consent is true for a contact who agreed to receive marketing mail, e.g. lead.marketing_opt_in; an opt_in policy sends marketing mail only to those contacts."

// modelConsent checks a model's consent condition and its subscription types.
func (c *checker) modelConsent(m *ir.Model, me *modelEnv) {
	owner := fmt.Sprintf("model %q", m.Name.Value)
	if usable(m.Consent) {
		c.checkCEL(celUse{owner: "consent of " + owner, expr: m.Consent, env: me, scope: scopeDefault, detail: consentDetail})
	}
	seen := map[string]ir.Range{}
	for _, s := range m.Subscriptions {
		if !c.checkName("subscription", s.Name) {
			continue
		}
		if first, dup := seen[s.Name.Value]; dup {
			c.errorf(s.Name.Range, "duplicate subscription %q in %s", s.Name.Value, owner).Detail =
				fmt.Sprintf("Subscription %q is already declared at %s.", s.Name.Value, first)
			continue
		}
		seen[s.Name.Value] = s.Name.Range
		if usable(s.Consent) {
			c.checkCEL(celUse{owner: fmt.Sprintf("consent of subscription %q of %s", s.Name.Value, owner), expr: s.Consent, env: me, scope: scopeDefault, detail: consentDetail})
		}
	}
}

// subscriptionRef reports a template whose subscription type the recipients'
// model does not declare: consent for it could not be read.
func (c *checker) subscriptionRef(u templateUse) {
	t := u.tmpl
	if !usable(t.Subscription) || u.env == nil {
		return
	}
	m := u.env.model
	var names []string
	for _, s := range m.Subscriptions {
		if s.Name.Value == t.Subscription.Value {
			return
		}
		names = append(names, s.Name.Value)
	}
	if !c.once("subscription\x00" + t.Name.Value + "\x00" + m.Name.Value) {
		return
	}
	d := c.errorf(t.Subscription.Content(), "template %q belongs to subscription %q, which model %q does not declare%s",
		t.Name.Value, t.Subscription.Value, m.Name.Value, didYouMean(t.Subscription.Value, names))
	d.Detail = fmt.Sprintf("%s. Declare it in model %q (at %s): subscription %q { consent = \"%s.<a bool field>\" }; declared there: %s.",
		capitalize(u.via), m.Name.Value, m.DeclRange, t.Subscription.Value, m.Name.Value, list(names))
}

// optInPolicy returns the policy a send names (nil: the default) when its
// consent regime is opt_in, and nil under opt_out (the default regime).
func (c *checker) optInPolicy(pol *ir.Policy) *ir.Policy {
	if pol == nil {
		pol = c.policies[defaultPolicy]
	}
	if pol == nil || !usable(pol.Consent) || pol.Consent.Value != plan.ConsentOptIn {
		return nil
	}
	return pol
}

// consentUnread warns of a model whose consent conditions (its own, its
// subscriptions') no send reads: marketing mail goes to it under opt_out
// policies only, where a contact gets marketing mail unless they withdrew
// (the consent ledger), whatever the condition says. A model that gets no
// marketing mail at all is not reported.
func (c *checker) consentUnread(optIn, optOut map[*ir.Model]bool) {
	for _, m := range c.cfg.Models {
		if !optOut[m] || optIn[m] {
			continue
		}
		at := m.Consent
		if !usable(at) {
			for _, s := range m.Subscriptions {
				if usable(s.Consent) {
					at = s.Consent
					break
				}
			}
		}
		if !usable(at) {
			continue
		}
		c.warnf(at.Content(), "model %q: its consent conditions are never read: all marketing mail to it is sent under opt_out policies", m.Name.Value).Detail =
			"Under consent = \"opt_out\" (the default), a contact gets marketing mail unless they unsubscribed or withdrew, whatever the model's consent condition says. " +
				"Set consent = \"opt_in\" on the policy of the objects that mail this model to send only to contacts whose consent holds, or remove the condition."
	}
}

// consentRule reports marketing mail sent under an opt_in policy to a model
// that has no consent rule for the template's subscription type.
func (c *checker) consentRule(u templateUse) {
	pol := c.optInPolicy(u.policy)
	if pol == nil || u.env == nil {
		return
	}
	m := u.env.model
	sub := ""
	if usable(u.tmpl.Subscription) {
		sub = u.tmpl.Subscription.Value
	}
	declared := sub == ""
	for _, s := range m.Subscriptions {
		if sub != "" && s.Name.Value == sub {
			declared = true
			if usable(s.Consent) {
				return
			}
		}
	}
	if usable(m.Consent) || !declared {
		return // an undeclared subscription type is reported by subscriptionRef
	}
	if !c.once("consent\x00" + u.user + "\x00" + u.tmpl.Name.Value) {
		return
	}
	what := fmt.Sprintf("model %q has no consent rule", m.Name.Value)
	where := fmt.Sprintf("consent = \"%s.<a bool field>\" to model %q (at %s)", m.Name.Value, m.Name.Value, m.DeclRange)
	if sub != "" {
		what = fmt.Sprintf("model %q has no consent rule for subscription %q", m.Name.Value, sub)
		where += fmt.Sprintf(", or to its subscription %q block", sub)
	}
	c.errorf(u.ref.Content(), "%s sends marketing mail under opt_in policy %q, but %s", u.user, pol.Name.Value, what).Detail = fmt.Sprintf(
		"Policy %q (consent = \"opt_in\" at %s) sends marketing mail only to contacts whose consent holds, and the runner cannot tell who agreed. "+
			"Add %s; or send it under a policy with consent = \"opt_out\"; or, if this is a service message, send it as class = \"transactional\".",
		pol.Name.Value, pol.Consent.Range, where)
}
