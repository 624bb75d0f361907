package engine

import (
	"fmt"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/flow"
	"github.com/campaignctl/campaignctl/runtime/policy"
	"github.com/campaignctl/campaignctl/runtime/store"
)

const kindCampaign = "campaign"

// target is what an outbox row is sent as: the object it belongs to (any
// kind), the template to render (a variant's, when the row carries one), the
// sender and the contacts' model.
type target struct {
	kind, name string
	// step is the plan step the row resolved to ("" for a campaign): the
	// row's own step, or issueStep for an issue of a recurring autoresponder.
	// Policies are compiled per plan step.
	step         string
	templateKey  string
	templateHash string
	sender       *plan.Sender
	model        *plan.Model
	// subscription is the subscription type of the message's template.
	subscription string
	// rules is the send-time policy of the object (and step) for its class.
	rules *policy.Rules
}

// target resolves an outbox row against the loaded plan. An error means the
// row must not be sent (its object, step or variant left the plan) and says why.
func (l *loaded) target(r store.Claimed) (target, error) {
	kind := r.Kind
	if kind == "" {
		kind = kindCampaign
	}
	tg := target{kind: kind, name: r.Campaign}
	var senderName, tplName string
	switch kind {
	case kindCampaign:
		c, ok := l.plan.Campaign(r.Campaign)
		if !ok {
			return tg, fmt.Errorf("campaign no longer in the applied plan")
		}
		senderName, tplName = c.Sender, c.Template
		tg.rules = l.rules[rulesKey(kind, c.Name, "")]
		if r.Variant != "" {
			key := campaignVariantKey(c.Name, r.Variant)
			if _, ok := l.templates[key]; !ok && l.templateErrs[key] == nil {
				return tg, fmt.Errorf("variant %s no longer in the A/B test of campaign %s", r.Variant, c.Name)
			}
			tg.templateKey, tg.templateHash = key, l.variantHashes[key]
			tg.subscription = l.variantSubs[key]
		}
	case flow.KindSequence, flow.KindAutoresponder:
		s, ok := l.series[seriesKey(kind, r.Campaign)]
		if !ok {
			return tg, fmt.Errorf("%s no longer in the applied plan", kind)
		}
		step, ok := s.step(r.Step)
		if !ok {
			if s.recurring != nil {
				return tg, fmt.Errorf("%s is not an issue of recurring %s %s", r.Step, kind, s.Name)
			}
			return tg, fmt.Errorf("step %s no longer in %s %s", r.Step, kind, s.Name)
		}
		senderName, tplName = s.Sender, step.Template
		tg.step = step.Name
		tg.rules = l.rules[rulesKey(kind, s.Name, step.Name)]
		if r.Variant != "" {
			key := variantKey(kind, s.Name, step.Name, r.Variant)
			if _, ok := l.templates[key]; !ok && l.templateErrs[key] == nil {
				return tg, fmt.Errorf("variant %s no longer in the A/B test of %s / %s", r.Variant, s.Name, step.Name)
			}
			tg.templateKey, tg.templateHash = key, l.variantHashes[key]
			tg.subscription = l.variantSubs[key]
		}
	case flow.KindWorkflow:
		w, ok := l.workflow(r.Campaign)
		if !ok {
			return tg, fmt.Errorf("workflow no longer in the applied plan")
		}
		step, ok := w.step(r.Step)
		if !ok || (step.Kind != plan.StepSend && step.Kind != plan.StepNotifyOwner) {
			return tg, fmt.Errorf("step %s no longer sends in workflow %s", r.Step, w.p.Name)
		}
		senderName, tplName = w.p.Sender, step.Template
		tg.step = step.Name
		tg.rules = l.rules[rulesKey(kind, w.p.Name, step.Name)]
		if r.Variant != "" {
			key := variantKey(kind, w.p.Name, step.Name, r.Variant)
			if _, ok := l.templates[key]; !ok && l.templateErrs[key] == nil {
				return tg, fmt.Errorf("variant %s no longer in the A/B test of %s / %s", r.Variant, w.p.Name, step.Name)
			}
			tg.templateKey, tg.templateHash = key, l.variantHashes[key]
			tg.subscription = l.variantSubs[key]
		}
	case store.KindSubscription:
		d, ok := l.doubleOptIns[r.Campaign]
		if !ok {
			return tg, fmt.Errorf("subscription %s no longer asks for confirmation in the applied plan", r.Campaign)
		}
		senderName, tplName = d.sub.ConfirmSender, d.sub.ConfirmTemplate
		tg.step = store.ConfirmStep
		tg.rules = l.rules[rulesKey(kind, r.Campaign, store.ConfirmStep)]
	default:
		return tg, fmt.Errorf("%s objects are not run by this version of the daemon", kind)
	}
	if tg.templateKey == "" {
		t, ok := l.plan.Template(tplName)
		if !ok {
			return tg, fmt.Errorf("template %s not in plan", tplName)
		}
		tg.templateKey, tg.templateHash = tplName, t.Hash
		tg.subscription = t.Subscription
	}
	if kind == store.KindSubscription {
		// A confirmation is about a subscription, not of it: its unsubscribe
		// link withdraws all marketing mail.
		tg.subscription = ""
	}
	snd, ok := l.plan.Sender(senderName)
	if !ok {
		return tg, fmt.Errorf("sender %s not in plan", senderName)
	}
	m, ok := modelOf(l.plan, kind, r.Campaign)
	if !ok {
		return tg, fmt.Errorf("the model of %s %s is not in plan", kind, r.Campaign)
	}
	tg.sender, tg.model = snd, m
	return tg, nil
}

// modelOf returns the model whose contacts an object mails.
func modelOf(p *plan.Plan, kind, name string) (*plan.Model, bool) {
	var model string
	switch kind {
	case "", kindCampaign:
		c, ok := p.Campaign(name)
		if !ok {
			return nil, false
		}
		seg, ok := p.Segment(c.Segment)
		if !ok {
			return nil, false
		}
		model = seg.Model
	case flow.KindSequence:
		s, ok := p.Sequence(name)
		if !ok {
			return nil, false
		}
		model = s.Model
	case flow.KindAutoresponder:
		found := false
		for _, a := range p.Autoresponders {
			if a.Name == name {
				model, found = a.Model, true
			}
		}
		if !found {
			return nil, false
		}
	case flow.KindWorkflow:
		found := false
		for _, w := range p.Workflows {
			if w.Name == name {
				model, found = w.Model, true
			}
		}
		if !found {
			return nil, false
		}
	case store.KindSubscription:
		// A confirmation mail: the model whose subscription type asks for
		// it (the compiler allows one per type).
		for i := range p.Models {
			if s, ok := p.Models[i].Subscription(name); ok && s.DoubleOptIn {
				return &p.Models[i], true
			}
		}
		return nil, false
	default:
		return nil, false
	}
	return p.Model(model)
}

func rulesKey(kind, object, step string) string { return kind + "/" + object + "/" + step }

// loadRules compiles the send-time policy of every campaign and sequence step
// (a recurring autoresponder's one issueStep) for its mail class. A policy
// that does not compile is an error of the object's messages (they fail,
// saying why), never a silent "no rules".
func (l *loaded) loadRules() {
	l.rules, l.ruleErrs = map[string]*policy.Rules{}, map[string]error{}
	l.optInTypes = map[string]bool{}
	// add compiles the rules of one send, and notes the subscription types
	// of its templates (the variants' too) that it sends under opt_in.
	add := func(key, name, class, tpl string, ab *plan.ABTest) {
		r, err := policy.Compile(l.plan, name, class)
		if err != nil {
			l.ruleErrs[key] = err
			return
		}
		l.rules[key] = r
		if _, max := r.FrequencyWindow(); max > 0 {
			l.anyCap = true
		}
		if optIn, _ := r.OptIn(); optIn {
			tpls := []string{tpl}
			if ab != nil {
				for _, v := range ab.Variants {
					tpls = append(tpls, v.Template)
				}
			}
			for _, name := range tpls {
				if t, ok := l.plan.Template(name); ok && t.Subscription != "" {
					l.optInTypes[t.Subscription] = true
				}
			}
		}
	}
	for _, c := range l.plan.Campaigns {
		add(rulesKey(kindCampaign, c.Name, ""), c.Policy, c.Class, c.Template, c.ABTest)
	}
	for _, s := range l.sortedSeries() {
		for _, st := range s.Steps {
			add(rulesKey(s.Kind, s.Name, st.Name), s.Policy, seriesClass, st.Template, st.ABTest)
		}
	}
	for name := range l.doubleOptIns {
		add(rulesKey(store.KindSubscription, name, store.ConfirmStep), "", plan.ClassTransactional, "", nil)
	}
	for _, w := range l.workflows {
		for i := range w.p.Steps {
			st := &w.p.Steps[i]
			if st.Kind == plan.StepSend || st.Kind == plan.StepNotifyOwner {
				add(rulesKey(flow.KindWorkflow, w.p.Name, st.Name), w.p.Policy, w.stepClass(l.plan, st), st.Template, st.ABTest)
			}
		}
	}
}
