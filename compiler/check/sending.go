package check

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	texttemplate "text/template"
	"text/template/parse"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// This file holds what every kind that sends mail shares: policies and the
// from/reply-to rule, A/B tests, and the sender a send goes out from.

// defaultPolicy is the name of the policy that applies to every object that
// names none.
const defaultPolicy = "default"

func (c *checker) policyRef(ref *ir.String) *ir.Policy {
	p := resolve(c, ref, "policy", c.policies)
	if p != nil {
		if c.policiesUsed == nil {
			c.policiesUsed = map[*ir.Policy]bool{}
		}
		c.policiesUsed[p] = true
	}
	return p
}

// unusedPolicies warns of a policy no object names that is not the default:
// its rules apply to nothing (runtime/policy resolves only the names objects
// give, and "default" for the others), which a misspelt "default" shows
// least of all. Its event_retention alone counts (the longest of all
// policies' applies), so a policy that sets nothing else is not reported. It
// must run after every object that may name a policy was checked.
func (c *checker) unusedPolicies() {
	for _, p := range c.cfg.Policies {
		name := p.Name.Value
		if name == defaultPolicy || c.policies[name] != p || c.policiesUsed[p] {
			continue
		}
		var rules []string
		for _, r := range []struct {
			attr string
			set  bool
		}{
			{"daily_quota", p.DailyQuota != nil},
			{"rate_per_minute", p.RatePerMinute != nil},
			{"quiet_hours", p.QuietHours != nil},
			{"frequency_cap", p.FrequencyCap != nil},
			{"suppress", p.Suppress != nil},
			{"bypass", p.Bypass != nil},
			{"require_org_reply_to", p.RequireOrgReplyTo != nil},
			{"org_domains", p.OrgDomains != nil},
			{"consent", p.Consent != nil},
		} {
			if r.set {
				rules = append(rules, r.attr)
			}
		}
		if len(rules) == 0 {
			continue
		}
		d := c.warnf(p.Name.Range, "policy %q applies to nothing: no campaign, sequence or workflow names it, and objects that name none get policy %q%s",
			name, defaultPolicy, didYouMean(name, []string{defaultPolicy}))
		d.Detail = fmt.Sprintf("Its rules (%s) take effect only for the objects that say policy = %q. Name it in them, rename it %q to apply it to every object that names no policy, or remove it.",
			list(rules), name, defaultPolicy)
		if p.EventRetention != nil {
			d.Detail += " Its event_retention counts either way: the longest of all policies' applies."
		}
	}
}

func (c *checker) policy(p *ir.Policy) {
	owner := fmt.Sprintf("policy %q", p.Name.Value)
	if q := p.QuietHours; q != nil && usable(q.Start) && usable(q.End) && q.Start.Value == q.End.Value {
		c.errorf(q.End.Content(), "%s: quiet hours start and end at the same time (%s)", owner, q.End.Value).Detail =
			"Quiet hours are a window with no marketing mail, e.g. start = \"21:00\", end = \"08:00\"; remove the block for none."
	}
	if f := p.FrequencyCap; f != nil {
		if d, ok := c.duration(owner, "frequency_cap per", f.Per, false); ok && d == 0 {
			c.errorf(f.Per.Content(), "%s: frequency_cap per must be longer than 0", owner)
		}
	}
	if g := p.AudienceGrowthWarnPercent; g != nil && p.Name.Value != "default" {
		// campaignctl diff compares segments, which belong to no policy: it
		// reads the default policy's threshold only.
		c.errorf(g.Range, "%s: audience_growth_warn_percent is read from the policy named \"default\" only", owner).Detail =
			"campaignctl diff warns when a segment grows by more than the default policy's percentage; a segment is not tied to one policy, so this value would never be used. Move it to policy \"default\"."
	}
	c.suppressList(owner, p.Suppress)
	c.eventRetention(owner, p)
}

// suppressList warns of a suppress list that leaves a source out: the runner
// honours every source whatever the list says (apply and serve say so too),
// so the list cannot make a policy mail an address suppressed for the others.
func (c *checker) suppressList(owner string, l *ir.StringList) {
	if l == nil || l.Invalid {
		return
	}
	var missing []string
	for _, src := range plan.SuppressionSources {
		if !slices.ContainsFunc(l.Values, func(v *ir.String) bool { return v != nil && v.Value == src }) {
			missing = append(missing, src)
		}
	}
	if len(missing) == 0 {
		return
	}
	c.warnf(l.Range, "%s: suppress leaves out %s, but every suppression source is honoured", owner, list(missing)).Detail = fmt.Sprintf(
		"Mail never goes to an address suppressed for any of %s, whatever suppress lists; only a transactional or internal class may skip unsubscribed or blacklisted, with bypass { transactional = [\"unsubscribed\"] }. List all four sources, or remove suppress.",
		strings.Join(plan.SuppressionSources, ", "))
}

// senderUse is one object that sends from a sender.
type senderUse struct {
	sender *ir.Sender
	user   string
	// policy is the policy the object names; nil means the default policy.
	policy *ir.Policy
}

func (c *checker) sendsFrom(s *ir.Sender, user string, p *ir.Policy) {
	if s != nil {
		c.senderUses = append(c.senderUses, senderUse{sender: s, user: user, policy: p})
	}
}

// senderRules applies Zoho's from/reply-to rule: under a policy with
// require_org_reply_to, a personal From address (one outside the organisation's
// domains) needs an organisation Reply-To, so replies reach the organisation
// and not only one person's mailbox; and a personal Reply-To needs an
// organisation From (which a personal From cannot be), so the rule reduces to
// "a personal From needs an organisation Reply-To". Each sender is reported
// once, at its from, naming the first object and policy that require it.
func (c *checker) senderRules() {
	for _, u := range c.senderUses {
		pol := u.policy
		if pol == nil {
			pol = c.policies[defaultPolicy]
		}
		if pol == nil {
			continue
		}
		pp, _ := c.planOf(pol).(*plan.Policy)
		if pp == nil || !pp.RequireOrgReplyTo || len(pp.OrgDomains) == 0 {
			continue
		}
		s := u.sender
		if !usable(s.From) {
			continue
		}
		from, err := mail.ParseAddress(s.From.Value)
		if err != nil || inDomains(from.Address, pp.OrgDomains) {
			continue
		}
		replyOK := false
		if usable(s.ReplyTo) {
			if rt, err := mail.ParseAddress(s.ReplyTo.Value); err == nil {
				replyOK = inDomains(rt.Address, pp.OrgDomains)
			} else {
				continue // the address error is reported
			}
		}
		if replyOK || !c.once("orgreply\x00"+s.Name.Value) {
			continue
		}
		what := "no reply_to"
		if usable(s.ReplyTo) {
			what = fmt.Sprintf("a personal reply_to (%s)", s.ReplyTo.Value)
		}
		c.errorf(s.From.Content(), "sender %q: from %s is a personal address and the sender has %s", s.Name.Value, from.Address, what).Detail = fmt.Sprintf(
			"%s sends from it under policy %q, which sets require_org_reply_to: a personal from address needs a reply_to in the organisation's domains (%s), so replies reach the organisation. "+
				"Add reply_to = \"sales@%s\" (say), or send from an address in those domains.",
			capitalize(u.user), pol.Name.Value, strings.Join(pp.OrgDomains, ", "), pp.OrgDomains[0])
	}
}

// inDomains reports whether addr's domain is one of domains or a subdomain of one.
func inDomains(addr string, domains []string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return false
	}
	d := strings.ToLower(addr[at+1:])
	for _, org := range domains {
		org = strings.ToLower(org)
		if d == org || strings.HasSuffix(d, "."+org) {
			return true
		}
	}
	return false
}

// abTest checks an A/B test of a send: its variants' templates exist and their
// subjects parse. The schema checks the percentage, the metric and the number of
// variants.
// hasGoal says whether the object has a goal, which conversions count:
// conversions without one cannot be measured, a warning, since the test then
// runs and is decided by its inconclusive policy, which is not what the
// author asked for.
func (c *checker) abTest(owner string, ab *ir.ABTest, me *modelEnv, class sendClass, via string, hasGoal bool) {
	if ab == nil {
		return
	}
	if m := ab.Metric; usable(m) {
		switch {
		case m.Value == "conversions" && !hasGoal:
			c.warnf(m.Content(), "%s: ab_test metric conversions counts contacts who reach the goal, but there is no goal: the test is decided by its inconclusive policy", owner).Detail =
				"Campaigns have no goal; a sequence or a workflow has one when it declares goal. Give it a goal, or pick open_rate, click_rate, reply_rate or revenue (the value of purchase events)."
		}
	}
	c.duration(owner, "ab_test decide_after", ab.DecideAfter, false)
	for _, v := range ab.Variants {
		vo := fmt.Sprintf("variant %q of %s", v.Name.Value, owner)
		c.use(templateUse{ref: v.Template, user: vo, via: via, env: me, class: class})
		if usable(v.Subject) {
			c.variantSubject(vo, v.Subject, me)
		}
	}
}

// variantSubject checks a variant's subject line like a template's subject.
func (c *checker) variantSubject(owner string, s *ir.String, me *modelEnv) {
	if i := strings.IndexAny(s.Value, "\r\n"); i >= 0 {
		c.errorf(s.Sub(i, i+1), "%s: subject must be one line", owner)
		return
	}
	tt, err := texttemplate.New("subject").Funcs(templateFuncs).Parse(s.Value)
	if err != nil {
		c.templateError(owner+": subject", s, err.Error())
		return
	}
	if me == nil || tt.Tree == nil {
		return
	}
	model := me.model.Name.Value
	walkTemplate(tt.Tree.Root, 0, func(n parse.Node, path []string) {
		if len(path) < 2 || path[0] != model || me.hasField(path[1]) || me.skip[path[1]] {
			return
		}
		pos := int(n.Position())
		c.errorf(s.Sub(pos, pos+len(n.String())), "%s: subject reads .%s, but model %s has no field %q%s",
			owner, strings.Join(path, "."), model, path[1], didYouMean(path[1], me.fieldNames()))
	})
}
