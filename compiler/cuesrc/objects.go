package cuesrc

import (
	"fmt"

	"cuelang.org/go/cue"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// This file maps each kind of the language onto its IR object. Names mirror
// the HCL front end exactly: an HCL attribute is a CUE field of the same name,
// an HCL block that appears once (trigger { ... }) is a struct field
// (trigger: {...}), and labeled blocks (step "welcome" { ... }) are a struct of
// structs by name (step: welcome: {...}).

// kinds maps each top-level field to the reader of its objects.
var kinds = map[string]func(*loader, *object){
	"model":         (*loader).model,
	"segment":       (*loader).segment,
	"sender":        (*loader).sender,
	"template":      (*loader).template,
	"policy":        (*loader).policy,
	"campaign":      (*loader).campaign,
	"workflow":      (*loader).workflow,
	"sequence":      (*loader).sequence,
	"autoresponder": (*loader).autoresponder,
}

// kindNames lists the kinds in the order the docs give them.
var kindNames = []string{"model", "segment", "sender", "template", "policy", "campaign", "workflow", "sequence", "autoresponder"}

// attributes lists the members each kind of struct accepts, attributes and
// nested blocks alike. The keys that are not kinds name nested blocks.
var attributes = map[string][]string{
	"model":         {"table", "key", "email", "default_filter", "time_zone", "field", "consent", "subscription"},
	"subscription":  {"consent", "double_opt_in", "confirm_template", "confirm_sender", "confirm_within", "wording_version"},
	"field":         {"type", "column", "nullable"},
	"segment":       {"model", "filter", "include_archived"},
	"sender":        {"from", "reply_to"},
	"template":      {"subject", "html", "text", "class", "subscription"},
	"policy":        {"daily_quota", "rate_per_minute", "quiet_hours", "frequency_cap", "suppress", "bypass", "require_org_reply_to", "org_domains", "audience_growth_warn_percent", "consent", "event_retention"},
	"quiet_hours":   {"start", "end"},
	"frequency_cap": {"max", "per"},
	"campaign":      {"segment", "template", "sender", "send_at", "class", "policy", "ab_test", "paused"},
	"ab_test":       {"test_percent", "metric", "decide_after", "inconclusive", "variant"},
	"variant":       {"subject", "template"},
	"workflow":      {"type", "model", "class", "sender", "policy", "trigger", "goal", "reenroll", "step", "paused"},
	"trigger":       {"event", "filter", "segment", "topic", "threshold", "window", "inactive_for", "field", "property"},
	"property":      {"type"},
	"reenroll":      {"allowed", "after"},
	"step": {"wait", "relative_to", "send", "if", "engagement", "then", "else", "set_property", "clear_property",
		"value", "notify_owner", "assign_owner", "field", "exit", "next", "ab_test"},
	"engagement":    {"step", "event", "within"},
	"sequence":      {"model", "segment", "sender", "policy", "goal", "step", "paused"},
	"sequence_step": {"offset", "template", "when", "ab_test"},
	"autoresponder": {"model", "segment", "sender", "mode", "start", "end", "template", "follow_up", "recurrence",
		"max_follow_ups", "exclude_responders", "do_not_email", "paused"},
	"follow_up":  {"offset", "template"},
	"recurrence": {"unit", "every", "weekdays", "day_of_month"},
}

// walk reads every object of the evaluated package.
func (l *loader) walk(root cue.Value) {
	it, err := root.Fields()
	if err != nil {
		l.cueError(err, nil)
		return
	}
	for it.Next() {
		kind := selectorName(it.Selector())
		v := it.Value()
		read, ok := kinds[kind]
		if !ok {
			n, _ := l.name([]string{kind}, v, l.src.fileStart())
			l.errorAt(n.Range, "unknown top-level field %q%s", kind, didYouMean(kind, kindNames)).Detail = fmt.Sprintf(
				"At the top level, a campaigns package declares objects by kind: %s, each as <kind>: <name>: {...}. "+
					"A value that only helps to write them must be a definition (#%s) or a hidden field (_%s), which the compiler does not read.",
				list(kindNames), kind, kind)
			continue
		}
		kindPath := []string{kind}
		_, kindDecl := l.name(kindPath, v, l.src.fileStart())
		objs, ok := l.structFields(v, kindPath, kindDecl, fmt.Sprintf("%s must be a struct of objects by name, as %s: <name>: {...}", kind, kind))
		if !ok {
			continue
		}
		for _, m := range objs {
			if o, ok := l.object(kind, "", m.path, m.v, m.decl); ok {
				read(l, o)
			}
		}
	}
}

func selectorName(s cue.Selector) string {
	if s.LabelType() == cue.StringLabel {
		return s.Unquoted()
	}
	return s.String()
}

// member is one regular field of a struct.
type member struct {
	path []string
	v    cue.Value
	decl ir.Range // where the struct is written, for errors about the member
}

// structFields returns the regular fields of v, or reports that v is not a
// struct (with the message given) and returns false.
func (l *loader) structFields(v cue.Value, path []string, where ir.Range, notStruct string) ([]member, bool) {
	v, _ = v.Default()
	// A struct holding an error somewhere inside still lists its fields; only
	// a value that is not a struct at all stops here.
	it, err := v.Fields()
	if err != nil {
		if verr := v.Err(); verr != nil {
			l.cueError(verr, &where)
		} else {
			l.errorAt(l.locate(path, v, where).rng, "%s", notStruct)
		}
		return nil, false
	}
	var out []member
	for it.Next() {
		p := append(append([]string(nil), path...), selectorName(it.Selector()))
		out = append(out, member{path: p, v: it.Value(), decl: where})
	}
	return out, true
}

func (l *loader) model(o *object) {
	m := &ir.Model{Name: o.name, DeclRange: o.decl}
	m.Table = o.str("table")
	m.Key = o.str("key")
	m.Email = o.str("email")
	m.DefaultFilter = o.str("default_filter")
	m.TimeZone = o.str("time_zone")
	for _, f := range o.named("field", "field") {
		m.Fields = append(m.Fields, &ir.Field{
			Name:      f.name,
			DeclRange: f.decl,
			Type:      f.str("type"),
			Column:    f.str("column"),
			Nullable:  f.boolean("nullable"),
		})
	}
	m.Consent = o.str("consent")
	for _, sb := range o.named("subscription", "subscription") {
		m.Subscriptions = append(m.Subscriptions, &ir.Subscription{Name: sb.name, DeclRange: sb.decl, Consent: sb.str("consent"),
			DoubleOptIn: sb.boolean("double_opt_in"), ConfirmTemplate: sb.str("confirm_template"), ConfirmSender: sb.str("confirm_sender"),
			ConfirmWithin: sb.str("confirm_within"), WordingVersion: sb.str("wording_version")})
	}
	l.cfg.Models = append(l.cfg.Models, m)
}

func (l *loader) segment(o *object) {
	l.cfg.Segments = append(l.cfg.Segments, &ir.Segment{
		Name:            o.name,
		DeclRange:       o.decl,
		Model:           o.str("model"),
		Filter:          o.str("filter"),
		IncludeArchived: o.boolean("include_archived"),
	})
}

func (l *loader) sender(o *object) {
	l.cfg.Senders = append(l.cfg.Senders, &ir.Sender{
		Name:      o.name,
		DeclRange: o.decl,
		From:      o.str("from"),
		ReplyTo:   o.str("reply_to"),
	})
}

func (l *loader) template(o *object) {
	l.cfg.Templates = append(l.cfg.Templates, &ir.Template{
		Name:         o.name,
		DeclRange:    o.decl,
		Subject:      o.str("subject"),
		HTML:         o.str("html"),
		Text:         o.str("text"),
		Class:        o.str("class"),
		Subscription: o.str("subscription"),
	})
}

func (l *loader) policy(o *object) {
	p := &ir.Policy{
		Name:                      o.name,
		DeclRange:                 o.decl,
		DailyQuota:                o.integer("daily_quota"),
		RatePerMinute:             o.integer("rate_per_minute"),
		Suppress:                  o.strList("suppress"),
		RequireOrgReplyTo:         o.boolean("require_org_reply_to"),
		OrgDomains:                o.strList("org_domains"),
		AudienceGrowthWarnPercent: o.integer("audience_growth_warn_percent"),
		Consent:                   o.str("consent"),
		EventRetention:            o.str("event_retention"),
	}
	if q, ok := o.block("quiet_hours", "quiet_hours"); ok {
		p.QuietHours = &ir.QuietHours{DeclRange: q.decl, Start: q.str("start"), End: q.str("end")}
	}
	if f, ok := o.block("frequency_cap", "frequency_cap"); ok {
		p.FrequencyCap = &ir.FrequencyCap{DeclRange: f.decl, Max: f.integer("max"), Per: f.str("per")}
	}
	if v, ok := o.attrs["bypass"]; ok {
		p.Bypass = l.bypass(o, v)
	}
	l.cfg.Policies = append(l.cfg.Policies, p)
}

// bypass reads `bypass: {transactional: [...]}`: one list per mail class. The
// class names are not fixed here: the schema says which exist, with a
// suggestion for a typo.
func (l *loader) bypass(o *object, v cue.Value) *ir.Bypass {
	path := o.child("bypass")
	out := &ir.Bypass{DeclRange: o.labelRange("bypass")}
	members, ok := l.structFields(v, path, out.DeclRange, fmt.Sprintf("bypass of %s must be a struct of rule lists by mail class, as bypass: transactional: [\"quiet_hours\"]", o.what))
	if !ok {
		return out
	}
	b := &object{l: l, kind: "bypass", what: "bypass of " + o.what, path: path, name: ir.Name{Value: "bypass"}, decl: out.DeclRange, attrs: map[string]cue.Value{}}
	var classes []string
	for _, m := range members {
		class := m.path[len(m.path)-1]
		b.attrs[class] = m.v
		classes = append(classes, class)
	}
	b.byPosition(classes) // HCL lists them in source order
	for _, class := range classes {
		out.Classes = append(out.Classes, &ir.BypassClass{
			Class: ir.Name{Value: class, Range: b.labelRange(class)},
			Rules: b.strList(class),
		})
	}
	return out
}

func (l *loader) campaign(o *object) {
	l.cfg.Campaigns = append(l.cfg.Campaigns, &ir.Campaign{
		Name:      o.name,
		DeclRange: o.decl,
		Segment:   o.str("segment"),
		Template:  o.str("template"),
		Sender:    o.str("sender"),
		SendAt:    o.str("send_at"),
		Class:     o.str("class"),
		Policy:    o.str("policy"),
		Paused:    o.boolean("paused"),
		ABTest:    l.abTest(o),
	})
}

// abTest reads the ab_test block of o, if any.
func (l *loader) abTest(o *object) *ir.ABTest {
	a, ok := o.block("ab_test", "ab_test")
	if !ok {
		return nil
	}
	ab := &ir.ABTest{
		DeclRange:    a.decl,
		TestPercent:  a.integer("test_percent"),
		Metric:       a.str("metric"),
		DecideAfter:  a.str("decide_after"),
		Inconclusive: a.str("inconclusive"),
	}
	for _, v := range a.named("variant", "variant") {
		ab.Variants = append(ab.Variants, &ir.Variant{
			Name:      v.name,
			DeclRange: v.decl,
			Subject:   v.str("subject"),
			Template:  v.str("template"),
		})
	}
	return ab
}

func (l *loader) workflow(o *object) {
	w := &ir.Workflow{
		Name:      o.name,
		DeclRange: o.decl,
		Type:      o.str("type"),
		Model:     o.str("model"),
		Class:     o.str("class"),
		Sender:    o.str("sender"),
		Policy:    o.str("policy"),
		Goal:      o.str("goal"),
		Paused:    o.boolean("paused"),
	}
	if t, ok := o.block("trigger", "trigger"); ok {
		w.Trigger = &ir.Trigger{
			DeclRange:   t.decl,
			Event:       t.str("event"),
			Filter:      t.str("filter"),
			Segment:     t.str("segment"),
			Topic:       t.str("topic"),
			Threshold:   t.number("threshold"),
			Window:      t.str("window"),
			InactiveFor: t.str("inactive_for"),
			Field:       t.str("field"),
		}
		for _, pr := range t.named("property", "property") {
			w.Trigger.Properties = append(w.Trigger.Properties, &ir.EventProperty{Name: pr.name, DeclRange: pr.decl, Type: pr.str("type")})
		}
	}
	if r, ok := o.block("reenroll", "reenroll"); ok {
		w.Reenroll = &ir.Reenroll{DeclRange: r.decl, Allowed: r.boolean("allowed"), After: r.str("after")}
	}
	for _, s := range o.named("step", "step") {
		w.Steps = append(w.Steps, l.step(s))
	}
	l.cfg.Workflows = append(l.cfg.Workflows, w)
}

// step reads one workflow step. Its kind is the one marker it has; a second
// marker is reported and left out of the IR, so the schema does not report the
// same mistake again as a field that does not fit the kind.
func (l *loader) step(s *object) *ir.Step {
	st := &ir.Step{Name: s.name, DeclRange: s.decl}
	var names []string
	kindOf := map[string]string{}
	for _, m := range ir.StepMarkers {
		if !s.has(m.Name) {
			continue
		}
		if m.Name == "exit" {
			// exit: false would be a step that does nothing.
			if v := s.boolean("exit"); v.Invalid || !v.Value {
				if !v.Invalid {
					l.errorAt(v.Range, "%s: exit: false does nothing", s.what).Detail =
						"Write exit: true to end the workflow at this step, or remove the step."
				}
				continue
			}
		}
		names = append(names, m.Name)
		kindOf[m.Name] = m.Kind
	}
	s.byPosition(names)
	if len(names) == 0 {
		if !s.has("exit") {
			l.errorAt(st.DeclRange, "%s does nothing", s.what).Detail = fmt.Sprintf(
				"Give it exactly one of %s, e.g. wait: \"1d\" or send: \"welcome\".", ir.StepMarkerList)
		}
		return st
	}
	first := names[0]
	for _, extra := range names[1:] {
		if kindOf[first] == plan.StepBranch && kindOf[extra] == plan.StepBranch {
			l.errorAt(s.labelRange(extra), "%s tests both a condition (if) and an engagement", s.what).Detail =
				"A branch tests one of them; split it into two branch steps."
			continue
		}
		l.errorAt(s.labelRange(extra), "%s has both %s and %s", s.what, first, extra).Detail = fmt.Sprintf(
			"A step does one thing, set by exactly one of %s; split it into two steps.", ir.StepMarkerList)
	}
	st.Kind = &ir.String{Value: kindOf[first], Range: s.labelRange(first)}
	st.Next = s.str("next")
	st.Then = s.str("then")
	st.Else = s.str("else")
	st.RelativeTo = s.str("relative_to")
	st.Value = s.scalarText("value")
	switch first {
	case "wait":
		st.Duration = s.str("wait")
	case "send":
		st.Template = s.str("send")
	case "notify_owner":
		st.Template = s.str("notify_owner")
	case "if":
		st.Condition = s.str("if")
	case "engagement":
		st.Engagement = l.engagement(s, "engagement")
	case "set_property":
		st.Field = s.str("set_property")
	case "clear_property":
		st.Field = s.str("clear_property")
	case "assign_owner":
		st.Owners = s.strList("assign_owner")
	}
	if st.Field == nil {
		// field names the property an assign_owner step writes; on any other
		// kind the schema says it does not apply.
		st.Field = s.str("field")
	} else if s.has("field") {
		l.errorAt(s.labelRange("field"), "%s: field does not apply: %s names the property already", s.what, first)
	}
	st.ABTest = l.abTest(s)
	return st
}

// engagement reads an engagement test (engagement: or when:) of o.
func (l *loader) engagement(o *object, attr string) *ir.Engagement {
	e, ok := o.block(attr, "engagement")
	if !ok {
		return nil
	}
	return &ir.Engagement{DeclRange: e.decl, Step: e.str("step"), Event: e.str("event"), Within: e.str("within")}
}

func (l *loader) sequence(o *object) {
	s := &ir.Sequence{
		Name:      o.name,
		DeclRange: o.decl,
		Model:     o.str("model"),
		Segment:   o.str("segment"),
		Sender:    o.str("sender"),
		Policy:    o.str("policy"),
		Goal:      o.str("goal"),
		Paused:    o.boolean("paused"),
	}
	for _, st := range o.named("step", "sequence_step") {
		s.Steps = append(s.Steps, &ir.SequenceStep{
			Name:      st.name,
			DeclRange: st.decl,
			Offset:    st.str("offset"),
			Template:  st.str("template"),
			When:      l.engagement(st, "when"),
			ABTest:    l.abTest(st),
		})
	}
	l.cfg.Sequences = append(l.cfg.Sequences, s)
}

func (l *loader) autoresponder(o *object) {
	r := &ir.Autoresponder{
		Name:              o.name,
		DeclRange:         o.decl,
		Model:             o.str("model"),
		Segment:           o.str("segment"),
		Sender:            o.str("sender"),
		Mode:              o.str("mode"),
		Start:             o.str("start"),
		End:               o.str("end"),
		Template:          o.str("template"),
		MaxFollowUps:      o.integer("max_follow_ups"),
		ExcludeResponders: o.boolean("exclude_responders"),
		DoNotEmail:        o.str("do_not_email"),
		Paused:            o.boolean("paused"),
	}
	for _, f := range o.named("follow_up", "follow_up") {
		r.FollowUps = append(r.FollowUps, &ir.FollowUp{
			Name:      f.name,
			DeclRange: f.decl,
			Offset:    f.str("offset"),
			Template:  f.str("template"),
		})
	}
	if rc, ok := o.block("recurrence", "recurrence"); ok {
		r.Recurrence = &ir.Recurrence{
			DeclRange:  rc.decl,
			Unit:       rc.str("unit"),
			Every:      rc.integer("every"),
			Weekdays:   rc.strList("weekdays"),
			DayOfMonth: rc.integer("day_of_month"),
		}
	}
	l.cfg.Autoresponders = append(l.cfg.Autoresponders, r)
}
