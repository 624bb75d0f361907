package check

import (
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// minWait is the shortest wait between steps, per mail class, below which a
// workflow is reported (a warning): two marketing emails minutes apart read as
// spam to the contact and to mailbox providers. The schemas do not state minima,
// so they live here. Waits relative to a date are exempt: "-1d" before an event
// is about the event, not about spacing.
var minWait = map[string]time.Duration{
	plan.ClassMarketing: time.Hour,
}

// minWaitByType overrides minWait for types whose contacts need even more room:
// someone inactive for months is not won back by a second email within a day.
var minWaitByType = map[string]time.Duration{
	"re_engagement": 24 * time.Hour,
}

// triggerFieldTypes are the field types trigger.field may have, by event.
var triggerFieldTypes = map[string][]plan.FieldType{
	"metric_threshold": {plan.TypeInt, plan.TypeFloat},
	"date_field":       {plan.TypeTimestamp},
	"purchase_cycle":   {plan.TypeTimestamp},
}

const workflowCELDetail = "A workflow condition is true or false for one contact: compare the contact's fields (and event.<field>, the event that enrolled the contact) with values, and combine comparisons with && and ||."

func (c *checker) workflow(w *ir.Workflow) {
	owner := fmt.Sprintf("workflow %q", w.Name.Value)
	class, typ := sendClass{src: w, written: w.Class}, val(w.Type)
	me := c.modelRef(w.Model)
	snd := resolve(c, w.Sender, "sender", c.senders)
	pol := c.policyRef(w.Policy)
	c.sendingPolicy = pol
	var ev *eventDecl
	if me != nil {
		ev = c.eventProperties(owner, me.model.Name.Value, w.Trigger)
	}
	stateTrigger := ""
	if w.Trigger != nil && usable(w.Trigger.Event) && plan.StateTriggers[w.Trigger.Event.Value] {
		stateTrigger = w.Trigger.Event.Value
	}

	if t := w.Trigger; t != nil {
		if seg := resolve(c, t.Segment, "segment", c.segments); seg != nil {
			c.sameModel(owner, "trigger segment", t.Segment, seg, me)
		}
		if usable(t.Filter) && usable(t.Event) && plan.StateTriggers[t.Event.Value] && strings.Contains(t.Filter.Value, eventVar+".") {
			// The runtime makes a state trigger's filter a segment filter,
			// which has no event: it would refuse the whole workflow.
			i := strings.Index(t.Filter.Value, eventVar+".")
			c.errorf(t.Filter.Sub(i, i+len(eventVar)), "trigger filter of %s reads event, but a %s trigger has no event", owner, t.Event.Value).Detail =
				"A state trigger (metric_threshold, engagement_threshold, inactivity, date_field, purchase_cycle, segment_entry) enrolls the contacts whose fields newly match its filter; there is no event to read. Test the contact's fields instead; the goal and if conditions may read event.at, when the contact enrolled."
		} else if usable(t.Filter) {
			c.checkCEL(celUse{owner: "trigger filter of " + owner, expr: t.Filter, env: me, scope: scopeEvent, event: ev, detail: workflowCELDetail})
		}
		if usable(t.Event) {
			c.unusedTriggerAttrs(owner, t)
		}
		c.duration(owner, "trigger window", t.Window, false)
		c.duration(owner, "trigger inactive_for", t.InactiveFor, false)
		c.triggerWindow("trigger of "+owner, "window", t.Window)
		c.triggerWindow("trigger of "+owner, "inactive_for", t.InactiveFor)
		c.fieldRef(owner, "trigger field", t.Field, me, false, triggerFieldTypes[val(t.Event)]...)
	}
	if usable(w.Goal) {
		c.checkCEL(celUse{owner: "goal of " + owner, expr: w.Goal, env: me, scope: scopeEvent, event: ev, stateTrigger: stateTrigger,
			detail: "A goal is true for a contact who has done what the workflow is for; that contact leaves the workflow. " + workflowCELDetail})
	}
	if r := w.Reenroll; r != nil {
		c.duration(owner, "reenroll after", r.After, false)
	}

	g := newStepGraph(w.Steps)
	g.build(c, owner)
	sends := false
	via := fmt.Sprintf("%s sends it to the %s contacts it enrolls", owner, val(w.Model))
	for i, s := range w.Steps {
		so := fmt.Sprintf("step %q of %s", s.Name.Value, owner)
		if !usable(s.Kind) {
			continue
		}
		switch s.Kind.Value {
		case plan.StepWait:
			relative := usable(s.RelativeTo)
			if d, ok := c.duration(so, "wait", s.Duration, relative); ok && !relative {
				c.waits = append(c.waits, pendingWait{owner: so, s: s.Duration, d: d, class: class, typ: typ})
			}
			c.fieldRef(so, "relative_to", s.RelativeTo, me, true, plan.TypeTimestamp)
			if name, ok := strings.CutPrefix(val(s.RelativeTo), eventVar+"."); ok {
				if ev != nil {
					c.eventTimestamp(so, s.RelativeTo, ev, name)
				} else {
					c.stateEventTimestamp(so, s.RelativeTo, w.Trigger, name)
				}
			}
		case plan.StepSend:
			sends = true
			c.use(templateUse{ref: s.Template, user: so, via: via, env: me, class: class})
			c.abTest(so, s.ABTest, me, class, via, usable(w.Goal))
		case plan.StepNotifyOwner:
			sends = true
			c.use(templateUse{ref: s.Template, user: so,
				via: fmt.Sprintf("%s sends it to the owner of each %s contact", owner, val(w.Model)), env: me, class: sendClass{fixed: plan.ClassInternal}})
		case plan.StepBranch:
			if usable(s.Condition) {
				c.checkCEL(celUse{owner: "condition of " + so, expr: s.Condition, env: me, scope: scopeEvent, event: ev, stateTrigger: stateTrigger, detail: workflowCELDetail})
			}
			if e := s.Engagement; e != nil {
				c.engagement(so, e, g, i)
			}
		case plan.StepSetProperty:
			if f, ok := c.fieldRef(so, "set_property", s.Field, me, false); ok {
				c.propertyValue(so, s, f)
			}
		case plan.StepClearProperty:
			if f, ok := c.fieldRef(so, "clear_property", s.Field, me, false); ok && !f.Nullable {
				c.errorf(s.Field.Content(), "%s: clear_property %s: the field is not nullable", so, s.Field.Value).Detail =
					"Clearing a property stores NULL, which a field without nullable = true cannot hold. Declare the field nullable if its column allows NULL, or set_property it to a value."
			}
		case plan.StepAssignOwner:
			c.fieldRef(so, "field", s.Field, me, false, plan.TypeString)
			if s.Owners != nil && !s.Owners.Invalid {
				for _, o := range s.Owners.Values {
					if !usable(o) {
						continue
					}
					if _, err := mail.ParseAddress(o.Value); err != nil {
						c.errorf(o.Content(), "%s: owner %q is not an email address", so, o.Value).Detail =
							"assign_owner lists the reps' addresses, e.g. [\"ann@acme.example\", \"bo@acme.example\"]."
					}
				}
			}
		}
	}
	g.lint(c, owner)
	if sends && w.Sender == nil {
		c.errorf(w.DeclRange, "%s sends mail but has no sender", owner).Detail =
			"Add sender = \"<sender name>\": send and notify_owner steps need a from address."
	}
	c.sendsFrom(snd, owner, pol)
}

// classOf returns the mail class of a campaign or workflow: the schema's
// completed value, or what is written when the object did not validate, or ""
// when it is unknown (the lints that depend on it are then skipped rather than
// guessed).
func (c *checker) classOf(src any, written *ir.String) string {
	if o, ok := c.low[src]; ok && o.completed {
		switch v := o.value.(type) {
		case *plan.Workflow:
			return v.Class
		case *plan.Campaign:
			return v.Class
		}
	}
	if usable(written) {
		return written.Value
	}
	return ""
}

// sendClass finds the mail class of a send once the schemas have filled in
// defaults: a fixed class, or that of a campaign or workflow.
type sendClass struct {
	fixed   string
	src     any // *ir.Campaign or *ir.Workflow
	written *ir.String
}

func (c *checker) resolveClass(k sendClass) string {
	if k.fixed != "" {
		return k.fixed
	}
	return c.classOf(k.src, k.written)
}

// pendingWait is a wait step whose length is checked against its workflow's
// minimum once the workflow's class is known.
type pendingWait struct {
	owner string
	s     *ir.String
	d     time.Duration
	class sendClass
	typ   string
}

// minWait reports a wait shorter than the minimum of the workflow's class or
// type.
func (c *checker) minWait(w pendingWait) {
	owner, s, d, class, typ := w.owner, w.s, w.d, c.resolveClass(w.class), w.typ
	least, ok := minWaitByType[typ]
	why := fmt.Sprintf("workflows of type %s", typ)
	if !ok {
		least, ok = minWait[class]
		why = class + " workflows"
	}
	if !ok || d >= least {
		return
	}
	c.warnf(s.Content(), "%s: wait %s is shorter than %s, the least for %s", owner, s.Value, formatDuration(least), why).Detail =
		"Emails this close together read as spam to contacts and to mailbox providers. Wait longer, or merge the steps."
}

// formatDuration writes a duration the way the language does: "1h", "1d".
func formatDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
}

// sameModel reports a segment used by an object over another model.
func (c *checker) sameModel(owner, attr string, ref *ir.String, seg *ir.Segment, me *modelEnv) {
	if me == nil || !usable(seg.Model) || seg.Model.Value == me.model.Name.Value {
		return
	}
	c.errorf(ref.Content(), "%s: %s %q is over model %s, not %s", owner, attr, ref.Value, seg.Model.Value, me.model.Name.Value).Detail =
		fmt.Sprintf("An object enrolls contacts of one model; use a segment over %s.", me.model.Name.Value)
}

// propertyValue checks that a set_property step's value is of the field's
// form (plan.PropertyValue), the one the engine writes and segments read as
// a value: a value of any other form would validate and then have its step
// skipped at every run. The value is always a literal in the language.
func (c *checker) propertyValue(owner string, s *ir.Step, f plan.Field) {
	if !usable(s.Value) {
		return
	}
	// An unknown field type is reported where the field is declared.
	if _, err := plan.PropertyValue(f.Type, s.Value.Value); errors.Is(err, plan.ErrNotOfForm) {
		form := plan.PropertyForm(f.Type)
		c.errorf(s.Value.Content(), "%s: value %q does not fit %s, %s field", owner, s.Value.Value, s.Field.Value, article(string(f.Type))).Detail =
			strings.ToUpper(form[:1]) + form[1:] + "."
	}
}

// engagement checks a branch on engagement with another step: it must be a send
// step that can run before the branch.
func (c *checker) engagement(owner string, e *ir.Engagement, g *stepGraph, branch int) {
	c.duration(owner, "engagement within", e.Within, false)
	if !usable(e.Step) {
		return
	}
	target, ok := g.resolve(c, owner, "engagement step", e.Step)
	if !ok {
		return
	}
	ts := g.steps[target]
	if usable(ts.Kind) && ts.Kind.Value != plan.StepSend {
		c.errorf(e.Step.Content(), "%s: engagement step %q is a %s step, not a send step", owner, e.Step.Value, strings.ReplaceAll(ts.Kind.Value, "_", " ")).Detail =
			"Opens, clicks, replies, bounces and ignores are about an email: an engagement branch looks at a send step."
		return
	}
	if !g.reaches(target, branch) {
		c.errorf(e.Step.Content(), "%s: engagement step %q never runs before this branch", owner, e.Step.Value).Detail =
			"The branch tests what the contact did with that email, so the email must have been sent on the way to the branch. Test an earlier send step."
	}
}

// unusedTriggerAttrs refuses a trigger attribute its event does not use
// (plan.TriggerUses): `threshold = 3` on a page_view trigger would validate
// and enroll on the first page view.
func (c *checker) unusedTriggerAttrs(owner string, t *ir.Trigger) {
	ev := t.Event.Value
	uses := plan.TriggerUses(ev)
	attrs := []struct {
		name string
		set  bool
		at   ir.Range
	}{
		{"topic", t.Topic != nil, rangeOf(t.Topic)},
		{"threshold", t.Threshold != nil, floatRange(t.Threshold)},
		{"window", t.Window != nil, rangeOf(t.Window)},
		{"inactive_for", t.InactiveFor != nil, rangeOf(t.InactiveFor)},
		{"field", t.Field != nil, rangeOf(t.Field)},
	}
	var used []string
	for _, a := range attrs {
		if uses[a.name] {
			used = append(used, a.name)
		}
	}
	says := "uses none of topic, threshold, window, inactive_for and field"
	if len(used) > 0 {
		says = "uses " + strings.Join(used, " and ") + " only"
	}
	for _, a := range attrs {
		if a.set && !uses[a.name] {
			c.errorf(a.at, "trigger of %s: event %s does not use %s", owner, ev, a.name).Detail =
				fmt.Sprintf("The %s trigger %s; %s would be ignored. Remove it, or pick the trigger that reads it (threshold and window: engagement_threshold; threshold and field: metric_threshold; inactive_for: inactivity; field: date_field or purchase_cycle; topic: an event trigger).", ev, says, a.name)
		}
	}
}

func rangeOf(s *ir.String) ir.Range {
	if s == nil {
		return ir.Range{}
	}
	return s.Range
}

func floatRange(f *ir.Float) ir.Range {
	if f == nil {
		return ir.Range{}
	}
	return f.Range
}
