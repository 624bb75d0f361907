package check

import (
	"fmt"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// This file checks double opt-in subscriptions: the confirmation mail they
// send (a transactional template that carries the confirmation link, from a
// declared sender), how long the link is valid and the version of the consent
// wording, which the ledger keeps as evidence. A subscription that sets a
// confirm_* attribute without double_opt_in = true is refused: it would
// validate and then do nothing.

// confirmField is the template datum holding a double opt-in confirmation link.
const confirmField = "confirm_url"

const doubleOptInDetail = `A double opt-in subscription reads, e.g.:
  subscription "blog" {
    double_opt_in    = true
    confirm_template = "blog_confirm"   # class = "transactional", with {{ .confirm_url }}
    confirm_sender   = "newsletter"
    confirm_within   = "72h"            # optional, default 72h
    wording_version  = "2026-11"        # the consent text the contact agrees to
  }`

func (c *checker) doubleOptIns() {
	// A subscription type may be requested for one model only: the request
	// and the confirmation mail are keyed by the subscription's name.
	first := map[string]*ir.Model{}
	for _, m := range c.cfg.Models {
		for _, s := range m.Subscriptions {
			c.doubleOptIn(m, s, first)
		}
	}
}

func (c *checker) doubleOptIn(m *ir.Model, s *ir.Subscription, first map[string]*ir.Model) {
	owner := fmt.Sprintf("subscription %q of model %q", s.Name.Value, m.Name.Value)
	on := s.DoubleOptIn != nil && !s.DoubleOptIn.Invalid && s.DoubleOptIn.Value
	if !on {
		for _, a := range []struct {
			name string
			v    *ir.String
		}{{"confirm_template", s.ConfirmTemplate}, {"confirm_sender", s.ConfirmSender}, {"confirm_within", s.ConfirmWithin}, {"wording_version", s.WordingVersion}} {
			if usable(a.v) {
				c.errorf(a.v.Range, "%s: %s is set, but double_opt_in is not true", owner, a.name).Detail =
					"These attributes describe the confirmation of a double opt-in subscription; without double_opt_in = true nothing would send it. Add double_opt_in = true, or remove " + a.name + ".\n" + doubleOptInDetail
			}
		}
		return
	}
	if prev, dup := first[s.Name.Value]; dup && prev != m {
		c.errorf(s.Name.Range, "%s: double_opt_in is also set on subscription %q of model %q", owner, s.Name.Value, prev.Name.Value).Detail =
			"A subscription request names its subscription type, so one model only may confirm it. Rename one of the two subscription types."
		return
	}
	first[s.Name.Value] = m
	missing := func(attr, what string) {
		c.errorf(s.DeclRange, "%s: double_opt_in = true needs %s (%s)", owner, attr, what).Detail = doubleOptInDetail
	}
	if s.ConfirmTemplate == nil {
		missing("confirm_template", "the transactional template of the confirmation mail")
	} else if t := resolve(c, s.ConfirmTemplate, "template", c.templates); t != nil {
		if !usable(t.Class) || t.Class.Value != plan.ClassTransactional {
			c.errorf(s.ConfirmTemplate.Content(), "%s: confirm_template %q must be class = \"transactional\"", owner, t.Name.Value).Detail = fmt.Sprintf(
				"The confirmation is asked for by the contact and carries no marketing: it goes whatever the consent, once per request. Set class = \"transactional\" on template %q (at %s).", t.Name.Value, t.DeclRange)
		}
		if b := c.bodies[t]; b != nil && !b.confirm {
			c.errorf(b.body.Range, "template %q is the confirmation of %s, but its %s body has no {{ .%s }}", t.Name.Value, owner, b.attr, confirmField).Detail =
				"The confirmation mail must carry the link that confirms the subscription; without it no one could confirm. Add a line such as: Confirm: {{ .confirm_url }}"
		}
		c.use(templateUse{ref: s.ConfirmTemplate, user: owner, via: fmt.Sprintf("%s sends it to model %s", owner, m.Name.Value),
			env: c.envs[m], class: sendClass{fixed: plan.ClassTransactional}})
	}
	if s.ConfirmSender == nil {
		missing("confirm_sender", "the sender of the confirmation mail")
	} else {
		resolve(c, s.ConfirmSender, "sender", c.senders)
	}
	if s.WordingVersion == nil {
		missing("wording_version", "the version of the consent text the contact agrees to, kept as evidence")
	} else if usable(s.WordingVersion) && s.WordingVersion.Value == "" {
		c.errorf(s.WordingVersion.Range, "%s: wording_version is empty", owner).Detail = doubleOptInDetail
	}
	if d, ok := c.duration(owner, "confirm_within", s.ConfirmWithin, false); ok && d <= 0 {
		c.errorf(s.ConfirmWithin.Content(), "%s: confirm_within must be longer than zero", owner).Detail = doubleOptInDetail
	}
}
