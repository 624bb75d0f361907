package hclsrc

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// This file maps each block of the language onto its IR object. Attribute and
// block names are declared in the body schemas below; HCL itself reports an
// unknown name (with a suggestion), a missing label and a duplicated attribute.

func attrs(names ...string) []hcl.AttributeSchema {
	out := make([]hcl.AttributeSchema, len(names))
	for i, n := range names {
		out[i] = hcl.AttributeSchema{Name: n}
	}
	return out
}

func labeled(kind string) hcl.BlockHeaderSchema {
	return hcl.BlockHeaderSchema{Type: kind, LabelNames: []string{"name"}}
}

var rootSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	labeled("model"), labeled("segment"), labeled("sender"), labeled("template"), labeled("policy"),
	labeled("campaign"), labeled("workflow"), labeled("sequence"), labeled("autoresponder"),
}}

var (
	modelSchema = &hcl.BodySchema{
		Attributes: attrs("table", "key", "email", "default_filter", "time_zone", "consent"),
		Blocks:     []hcl.BlockHeaderSchema{labeled("field"), labeled("subscription")},
	}
	subscriptionSchema = &hcl.BodySchema{Attributes: attrs("consent", "double_opt_in", "confirm_template", "confirm_sender", "confirm_within", "wording_version")}
	fieldSchema        = &hcl.BodySchema{Attributes: attrs("type", "column", "nullable")}
	segmentSchema      = &hcl.BodySchema{Attributes: attrs("model", "filter", "include_archived")}
	senderSchema       = &hcl.BodySchema{Attributes: attrs("from", "reply_to")}
	templateSchema     = &hcl.BodySchema{Attributes: attrs("subject", "html", "text", "class", "subscription")}
	policySchema       = &hcl.BodySchema{
		Attributes: attrs("daily_quota", "rate_per_minute", "suppress", "require_org_reply_to", "org_domains", "audience_growth_warn_percent", "consent", "event_retention"),
		Blocks:     []hcl.BlockHeaderSchema{{Type: "quiet_hours"}, {Type: "frequency_cap"}, {Type: "bypass"}},
	}
	quietHoursSchema   = &hcl.BodySchema{Attributes: attrs("start", "end")}
	frequencyCapSchema = &hcl.BodySchema{Attributes: attrs("max", "per")}
	campaignSchema     = &hcl.BodySchema{
		Attributes: attrs("segment", "template", "sender", "send_at", "class", "policy", "paused"),
		Blocks:     []hcl.BlockHeaderSchema{{Type: "ab_test"}},
	}
	abTestSchema = &hcl.BodySchema{
		Attributes: attrs("test_percent", "metric", "decide_after", "inconclusive"),
		Blocks:     []hcl.BlockHeaderSchema{labeled("variant")},
	}
	variantSchema  = &hcl.BodySchema{Attributes: attrs("subject", "template")}
	workflowSchema = &hcl.BodySchema{
		Attributes: attrs("type", "model", "class", "sender", "policy", "goal", "paused"),
		Blocks:     []hcl.BlockHeaderSchema{{Type: "trigger"}, {Type: "reenroll"}, labeled("step")},
	}
	triggerSchema = &hcl.BodySchema{
		Attributes: attrs("event", "filter", "segment", "topic", "threshold", "window", "inactive_for", "field"),
		Blocks:     []hcl.BlockHeaderSchema{labeled("property")},
	}
	propertySchema = &hcl.BodySchema{Attributes: attrs("type")}
	reenrollSchema = &hcl.BodySchema{Attributes: attrs("allowed", "after")}
	stepSchema     = &hcl.BodySchema{
		Attributes: attrs("wait", "relative_to", "send", "if", "then", "else", "set_property", "clear_property",
			"value", "notify_owner", "assign_owner", "field", "exit", "next"),
		Blocks: []hcl.BlockHeaderSchema{{Type: "engagement"}, {Type: "ab_test"}},
	}
	engagementSchema = &hcl.BodySchema{Attributes: attrs("step", "event", "within")}
	sequenceSchema   = &hcl.BodySchema{
		Attributes: attrs("model", "segment", "sender", "policy", "goal", "paused"),
		Blocks:     []hcl.BlockHeaderSchema{labeled("step")},
	}
	sequenceStepSchema = &hcl.BodySchema{
		Attributes: attrs("offset", "template"),
		Blocks:     []hcl.BlockHeaderSchema{{Type: "when"}, {Type: "ab_test"}},
	}
	autoresponderSchema = &hcl.BodySchema{
		Attributes: attrs("model", "segment", "sender", "mode", "start", "end", "template", "max_follow_ups",
			"exclude_responders", "do_not_email", "paused"),
		Blocks: []hcl.BlockHeaderSchema{labeled("follow_up"), {Type: "recurrence"}},
	}
	followUpSchema   = &hcl.BodySchema{Attributes: attrs("offset", "template")}
	recurrenceSchema = &hcl.BodySchema{Attributes: attrs("unit", "every", "weekdays", "day_of_month")}
)

// content decodes a block body against its schema, reporting what HCL finds.
func (p *parser) content(body hcl.Body, schema *hcl.BodySchema) *hcl.BodyContent {
	c, hd := body.Content(schema)
	p.hclDiags(hd)
	if c == nil {
		c = &hcl.BodyContent{Attributes: hcl.Attributes{}}
	}
	return c
}

// blocks returns the blocks of one type, in source order, skipping those with a
// wrong label count (HCL has reported them).
func blocks(c *hcl.BodyContent, typ string, labels int) []*hcl.Block {
	var out []*hcl.Block
	for _, b := range c.Blocks {
		if b.Type == typ && len(b.Labels) == labels {
			out = append(out, b)
		}
	}
	return out
}

// single returns the one block of a type that may appear at most once, reporting
// any further ones.
func (p *parser) single(c *hcl.BodyContent, typ, owner string) *hcl.Block {
	bs := blocks(c, typ, 0)
	for _, extra := range bs[min(len(bs), 1):] {
		p.errorAt(p.rng(extra.DefRange), "%s has more than one %s block", owner, typ).detail(
			"The first is at %s; merge them into one.", p.rng(bs[0].DefRange))
	}
	if len(bs) == 0 {
		return nil
	}
	return bs[0]
}

func describe(kind string, b *hcl.Block) string { return fmt.Sprintf("%s %q", kind, b.Labels[0]) }

func (p *parser) model(b *hcl.Block) {
	m := &ir.Model{Name: p.name(b), DeclRange: p.rng(b.DefRange)}
	c := p.content(b.Body, modelSchema)
	m.Table = p.str(c.Attributes["table"], false)
	m.Key = p.str(c.Attributes["key"], false)
	m.Email = p.str(c.Attributes["email"], false)
	m.DefaultFilter = p.str(c.Attributes["default_filter"], true)
	m.TimeZone = p.str(c.Attributes["time_zone"], false)
	for _, fb := range blocks(c, "field", 1) {
		f := &ir.Field{Name: p.name(fb), DeclRange: p.rng(fb.DefRange)}
		fc := p.content(fb.Body, fieldSchema)
		f.Type = p.str(fc.Attributes["type"], false)
		f.Column = p.str(fc.Attributes["column"], false)
		f.Nullable = p.boolean(fc.Attributes["nullable"])
		m.Fields = append(m.Fields, f)
	}
	m.Consent = p.str(c.Attributes["consent"], true)
	for _, sb := range blocks(c, "subscription", 1) {
		sc := p.content(sb.Body, subscriptionSchema)
		m.Subscriptions = append(m.Subscriptions, &ir.Subscription{
			Name:      p.name(sb),
			DeclRange: p.rng(sb.DefRange),
			Consent:   p.str(sc.Attributes["consent"], true),

			DoubleOptIn:     p.boolean(sc.Attributes["double_opt_in"]),
			ConfirmTemplate: p.str(sc.Attributes["confirm_template"], false),
			ConfirmSender:   p.str(sc.Attributes["confirm_sender"], false),
			ConfirmWithin:   p.str(sc.Attributes["confirm_within"], false),
			WordingVersion:  p.str(sc.Attributes["wording_version"], false),
		})
	}
	p.cfg.Models = append(p.cfg.Models, m)
}

func (p *parser) segment(b *hcl.Block) {
	s := &ir.Segment{Name: p.name(b), DeclRange: p.rng(b.DefRange)}
	c := p.content(b.Body, segmentSchema)
	s.Model = p.str(c.Attributes["model"], false)
	s.Filter = p.str(c.Attributes["filter"], true)
	s.IncludeArchived = p.boolean(c.Attributes["include_archived"])
	p.cfg.Segments = append(p.cfg.Segments, s)
}

func (p *parser) sender(b *hcl.Block) {
	s := &ir.Sender{Name: p.name(b), DeclRange: p.rng(b.DefRange)}
	c := p.content(b.Body, senderSchema)
	s.From = p.str(c.Attributes["from"], false)
	s.ReplyTo = p.str(c.Attributes["reply_to"], false)
	p.cfg.Senders = append(p.cfg.Senders, s)
}

func (p *parser) template(b *hcl.Block) {
	t := &ir.Template{Name: p.name(b), DeclRange: p.rng(b.DefRange)}
	c := p.content(b.Body, templateSchema)
	t.Subject = p.str(c.Attributes["subject"], true)
	t.HTML = p.str(c.Attributes["html"], true)
	t.Text = p.str(c.Attributes["text"], true)
	t.Class = p.str(c.Attributes["class"], false)
	t.Subscription = p.str(c.Attributes["subscription"], false)
	p.cfg.Templates = append(p.cfg.Templates, t)
}

func (p *parser) policy(b *hcl.Block) {
	owner := describe("policy", b)
	pol := &ir.Policy{Name: p.name(b), DeclRange: p.rng(b.DefRange)}
	c := p.content(b.Body, policySchema)
	a := c.Attributes
	pol.DailyQuota = p.integer(a["daily_quota"])
	pol.RatePerMinute = p.integer(a["rate_per_minute"])
	pol.Suppress = p.strList(a["suppress"])
	pol.RequireOrgReplyTo = p.boolean(a["require_org_reply_to"])
	pol.OrgDomains = p.strList(a["org_domains"])
	pol.AudienceGrowthWarnPercent = p.integer(a["audience_growth_warn_percent"])
	pol.Consent = p.str(a["consent"], false)
	pol.EventRetention = p.str(a["event_retention"], false)
	if qb := p.single(c, "quiet_hours", owner); qb != nil {
		qc := p.content(qb.Body, quietHoursSchema)
		pol.QuietHours = &ir.QuietHours{
			DeclRange: p.rng(qb.DefRange),
			Start:     p.str(qc.Attributes["start"], false),
			End:       p.str(qc.Attributes["end"], false),
		}
	}
	if fb := p.single(c, "frequency_cap", owner); fb != nil {
		fc := p.content(fb.Body, frequencyCapSchema)
		pol.FrequencyCap = &ir.FrequencyCap{
			DeclRange: p.rng(fb.DefRange),
			Max:       p.integer(fc.Attributes["max"]),
			Per:       p.str(fc.Attributes["per"], false),
		}
	}
	if bb := p.single(c, "bypass", owner); bb != nil {
		pol.Bypass = p.bypass(bb)
	}
	p.cfg.Policies = append(p.cfg.Policies, pol)
}

// bypass reads `bypass { transactional = [...] }`: one attribute per mail class.
// The class names are not fixed here: the schema says which exist, with a
// suggestion for a typo.
func (p *parser) bypass(b *hcl.Block) *ir.Bypass {
	out := &ir.Bypass{DeclRange: p.rng(b.DefRange)}
	as, hd := b.Body.JustAttributes()
	p.hclDiags(hd)
	list := make([]*hcl.Attribute, 0, len(as))
	for _, a := range as {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].NameRange.Start.Byte < list[j].NameRange.Start.Byte })
	for _, a := range list {
		out.Classes = append(out.Classes, &ir.BypassClass{
			Class: ir.Name{Value: a.Name, Range: p.rng(a.NameRange)},
			Rules: p.strList(a),
		})
	}
	return out
}

func (p *parser) campaign(b *hcl.Block) {
	k := &ir.Campaign{Name: p.name(b), DeclRange: p.rng(b.DefRange)}
	c := p.content(b.Body, campaignSchema)
	k.Segment = p.str(c.Attributes["segment"], false)
	k.Template = p.str(c.Attributes["template"], false)
	k.Sender = p.str(c.Attributes["sender"], false)
	k.SendAt = p.str(c.Attributes["send_at"], false)
	k.Class = p.str(c.Attributes["class"], false)
	k.Policy = p.str(c.Attributes["policy"], false)
	k.Paused = p.boolean(c.Attributes["paused"])
	if ab := p.single(c, "ab_test", describe("campaign", b)); ab != nil {
		k.ABTest = p.abTest(ab)
	}
	p.cfg.Campaigns = append(p.cfg.Campaigns, k)
}

func (p *parser) abTest(b *hcl.Block) *ir.ABTest {
	ab := &ir.ABTest{DeclRange: p.rng(b.DefRange)}
	c := p.content(b.Body, abTestSchema)
	ab.TestPercent = p.integer(c.Attributes["test_percent"])
	ab.Metric = p.str(c.Attributes["metric"], false)
	ab.DecideAfter = p.str(c.Attributes["decide_after"], false)
	ab.Inconclusive = p.str(c.Attributes["inconclusive"], false)
	for _, vb := range blocks(c, "variant", 1) {
		vc := p.content(vb.Body, variantSchema)
		ab.Variants = append(ab.Variants, &ir.Variant{
			Name:      p.name(vb),
			DeclRange: p.rng(vb.DefRange),
			Subject:   p.str(vc.Attributes["subject"], false),
			Template:  p.str(vc.Attributes["template"], false),
		})
	}
	return ab
}

func (p *parser) workflow(b *hcl.Block) {
	owner := describe("workflow", b)
	w := &ir.Workflow{Name: p.name(b), DeclRange: p.rng(b.DefRange)}
	c := p.content(b.Body, workflowSchema)
	a := c.Attributes
	w.Type = p.str(a["type"], false)
	w.Model = p.str(a["model"], false)
	w.Class = p.str(a["class"], false)
	w.Sender = p.str(a["sender"], false)
	w.Policy = p.str(a["policy"], false)
	w.Goal = p.str(a["goal"], true)
	w.Paused = p.boolean(a["paused"])
	if tb := p.single(c, "trigger", owner); tb != nil {
		tc := p.content(tb.Body, triggerSchema)
		ta := tc.Attributes
		w.Trigger = &ir.Trigger{
			DeclRange:   p.rng(tb.DefRange),
			Event:       p.str(ta["event"], false),
			Filter:      p.str(ta["filter"], true),
			Segment:     p.str(ta["segment"], false),
			Topic:       p.str(ta["topic"], false),
			Threshold:   p.number(ta["threshold"]),
			Window:      p.str(ta["window"], false),
			InactiveFor: p.str(ta["inactive_for"], false),
			Field:       p.str(ta["field"], false),
		}
		for _, pb := range blocks(tc, "property", 1) {
			pc := p.content(pb.Body, propertySchema)
			w.Trigger.Properties = append(w.Trigger.Properties, &ir.EventProperty{
				Name: p.name(pb), DeclRange: p.rng(pb.DefRange), Type: p.str(pc.Attributes["type"], false)})
		}
	}
	if rb := p.single(c, "reenroll", owner); rb != nil {
		rc := p.content(rb.Body, reenrollSchema)
		w.Reenroll = &ir.Reenroll{
			DeclRange: p.rng(rb.DefRange),
			Allowed:   p.boolean(rc.Attributes["allowed"]),
			After:     p.str(rc.Attributes["after"], false),
		}
	}
	for _, sb := range blocks(c, "step", 1) {
		w.Steps = append(w.Steps, p.step(sb, owner))
	}
	p.cfg.Workflows = append(p.cfg.Workflows, w)
}

// step reads one workflow step. Its kind is the one marker it has; a second
// marker is reported and left out of the IR, so the schema does not report the
// same mistake again as a field that does not fit the kind.
func (p *parser) step(b *hcl.Block, workflow string) *ir.Step {
	st := &ir.Step{Name: p.name(b), DeclRange: p.rng(b.DefRange)}
	owner := workflow + ": " + describe("step", b)
	c := p.content(b.Body, stepSchema)
	a := c.Attributes

	type found struct {
		name, kind string
		rng        ir.Range
	}
	var markers []found
	var engagement *hcl.Block
	for _, m := range ir.StepMarkers {
		var r hcl.Range
		if m.Name == "engagement" {
			engagement = p.single(c, "engagement", owner)
			eb := engagement
			if eb == nil {
				continue
			}
			r = eb.TypeRange
		} else {
			attr := a[m.Name]
			if attr == nil {
				continue
			}
			if m.Name == "exit" {
				// exit = false would be a step that does nothing.
				if v := p.boolean(attr); v.Invalid || !v.Value {
					if !v.Invalid {
						p.errorAt(v.Range, "%s: exit = false does nothing", owner).detail(
							"Write exit = true to end the workflow at this step, or remove the step.")
					}
					continue
				}
			}
			r = attr.NameRange
		}
		markers = append(markers, found{m.Name, m.Kind, p.rng(r)})
	}
	sort.SliceStable(markers, func(i, j int) bool { return markers[i].rng.Start.Byte < markers[j].rng.Start.Byte })
	if len(markers) == 0 {
		if _, hasExit := a["exit"]; !hasExit {
			p.errorAt(st.DeclRange, "%s does nothing", owner).detail(
				"Give it exactly one of %s, e.g. wait = \"1d\" or send = \"welcome\".", ir.StepMarkerList)
		}
		return st
	}
	first := markers[0]
	for _, extra := range markers[1:] {
		if first.kind == plan.StepBranch && extra.kind == plan.StepBranch {
			p.errorAt(extra.rng, "%s tests both a condition (if) and an engagement", owner).detail(
				"A branch tests one of them; split it into two branch steps.")
			continue
		}
		p.errorAt(extra.rng, "%s has both %s and %s", owner, first.name, extra.name).detail(
			"A step does one thing, set by exactly one of %s; split it into two steps.", ir.StepMarkerList)
	}
	has := func(name string) bool { return first.name == name }
	st.Kind = &ir.String{Value: first.kind, Range: first.rng}
	st.Next = p.str(a["next"], false)
	st.Then = p.str(a["then"], false)
	st.Else = p.str(a["else"], false)
	st.RelativeTo = p.str(a["relative_to"], false)
	st.Value = p.scalarText(a["value"])
	switch {
	case has("wait"):
		st.Duration = p.str(a["wait"], false)
	case has("send"):
		st.Template = p.str(a["send"], false)
	case has("notify_owner"):
		st.Template = p.str(a["notify_owner"], false)
	case has("if"):
		st.Condition = p.str(a["if"], true)
	case has("engagement"):
		st.Engagement = p.engagement(engagement)
	case has("set_property"):
		st.Field = p.str(a["set_property"], false)
	case has("clear_property"):
		st.Field = p.str(a["clear_property"], false)
	case has("assign_owner"):
		st.Owners = p.strList(a["assign_owner"])
	}
	if st.Field == nil {
		// field names the property an assign_owner step writes; on any other
		// kind the schema says it does not apply.
		st.Field = p.str(a["field"], false)
	} else if extra := a["field"]; extra != nil {
		p.errorAt(p.rng(extra.NameRange), "%s: field does not apply: %s names the property already", owner, first.name)
	}
	if ab := p.single(c, "ab_test", owner); ab != nil {
		st.ABTest = p.abTest(ab)
	}
	return st
}

func (p *parser) engagement(b *hcl.Block) *ir.Engagement {
	c := p.content(b.Body, engagementSchema)
	return &ir.Engagement{
		DeclRange: p.rng(b.DefRange),
		Step:      p.str(c.Attributes["step"], false),
		Event:     p.str(c.Attributes["event"], false),
		Within:    p.str(c.Attributes["within"], false),
	}
}

func (p *parser) sequence(b *hcl.Block) {
	s := &ir.Sequence{Name: p.name(b), DeclRange: p.rng(b.DefRange)}
	c := p.content(b.Body, sequenceSchema)
	a := c.Attributes
	s.Model = p.str(a["model"], false)
	s.Segment = p.str(a["segment"], false)
	s.Sender = p.str(a["sender"], false)
	s.Policy = p.str(a["policy"], false)
	s.Goal = p.str(a["goal"], true)
	s.Paused = p.boolean(a["paused"])
	for _, sb := range blocks(c, "step", 1) {
		owner := describe("sequence", b) + ": " + describe("step", sb)
		sc := p.content(sb.Body, sequenceStepSchema)
		st := &ir.SequenceStep{
			Name:      p.name(sb),
			DeclRange: p.rng(sb.DefRange),
			Offset:    p.str(sc.Attributes["offset"], false),
			Template:  p.str(sc.Attributes["template"], false),
		}
		if wb := p.single(sc, "when", owner); wb != nil {
			st.When = p.engagement(wb)
		}
		if ab := p.single(sc, "ab_test", owner); ab != nil {
			st.ABTest = p.abTest(ab)
		}
		s.Steps = append(s.Steps, st)
	}
	p.cfg.Sequences = append(p.cfg.Sequences, s)
}

func (p *parser) autoresponder(b *hcl.Block) {
	r := &ir.Autoresponder{Name: p.name(b), DeclRange: p.rng(b.DefRange)}
	c := p.content(b.Body, autoresponderSchema)
	a := c.Attributes
	r.Model = p.str(a["model"], false)
	r.Segment = p.str(a["segment"], false)
	r.Sender = p.str(a["sender"], false)
	r.Mode = p.str(a["mode"], false)
	r.Start = p.str(a["start"], false)
	r.End = p.str(a["end"], false)
	r.Template = p.str(a["template"], false)
	r.MaxFollowUps = p.integer(a["max_follow_ups"])
	r.ExcludeResponders = p.boolean(a["exclude_responders"])
	r.DoNotEmail = p.str(a["do_not_email"], false)
	r.Paused = p.boolean(a["paused"])
	for _, fb := range blocks(c, "follow_up", 1) {
		fc := p.content(fb.Body, followUpSchema)
		r.FollowUps = append(r.FollowUps, &ir.FollowUp{
			Name:      p.name(fb),
			DeclRange: p.rng(fb.DefRange),
			Offset:    p.str(fc.Attributes["offset"], false),
			Template:  p.str(fc.Attributes["template"], false),
		})
	}
	if rb := p.single(c, "recurrence", describe("autoresponder", b)); rb != nil {
		rc := p.content(rb.Body, recurrenceSchema)
		r.Recurrence = &ir.Recurrence{
			DeclRange:  p.rng(rb.DefRange),
			Unit:       p.str(rc.Attributes["unit"], false),
			Every:      p.integer(rc.Attributes["every"]),
			Weekdays:   p.strList(rc.Attributes["weekdays"]),
			DayOfMonth: p.integer(rc.Attributes["day_of_month"]),
		}
	}
	p.cfg.Autoresponders = append(p.cfg.Autoresponders, r)
}
