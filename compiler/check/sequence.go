package check

import (
	"fmt"
	"time"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// Sequences and autoresponders enroll the members of a segment and send them
// marketing mail on offsets; they share a model, a segment over it and a sender.

// enrollment checks the model, segment and sender of a sequence or
// autoresponder and returns the model's environment and the sender.
func (c *checker) enrollment(owner string, model, segment, sender *ir.String) (*modelEnv, *ir.Sender) {
	me := c.modelRef(model)
	if seg := resolve(c, segment, "segment", c.segments); seg != nil {
		c.sameModel(owner, "segment", segment, seg, me)
	}
	return me, resolve(c, sender, "sender", c.senders)
}

func (c *checker) sequence(s *ir.Sequence) {
	owner := fmt.Sprintf("sequence %q", s.Name.Value)
	me, snd := c.enrollment(owner, s.Model, s.Segment, s.Sender)
	pol := c.policyRef(s.Policy)
	c.sendingPolicy = pol
	if usable(s.Goal) {
		c.checkCEL(celUse{owner: "goal of " + owner, expr: s.Goal, env: me, scope: scopeSegment,
			detail: "A goal is true for a contact who has done what the sequence is for (converted); that contact gets no further step."})
	}
	via := fmt.Sprintf("%s sends it to segment %q", owner, val(s.Segment))
	index := map[string]int{}
	offsets := make([]time.Duration, len(s.Steps))
	known := make([]bool, len(s.Steps))
	for i, st := range s.Steps {
		so := fmt.Sprintf("step %q of %s", st.Name.Value, owner)
		offsets[i], known[i] = c.duration(so, "offset", st.Offset, false)
		c.use(templateUse{ref: st.Template, user: so, via: via, env: me, class: sendClass{fixed: plan.ClassMarketing}})
		c.abTest(so, st.ABTest, me, sendClass{fixed: plan.ClassMarketing}, via, usable(s.Goal))
		if w := st.When; w != nil {
			c.duration(so, "when within", w.Within, false)
			c.earlierStep(so, w, s.Steps, index, i, offsets, known)
		}
		if _, dup := index[st.Name.Value]; !dup {
			index[st.Name.Value] = i
		}
	}
	c.sendsFrom(snd, owner, pol)
}

// earlierStep checks a sequence step's `when`: it names an earlier step, sent
// before this one, so there was time to open, click or ignore it.
func (c *checker) earlierStep(owner string, w *ir.Engagement, steps []*ir.SequenceStep, index map[string]int, i int, offsets []time.Duration, known []bool) {
	if !usable(w.Step) {
		return
	}
	j, ok := index[w.Step.Value]
	if !ok {
		var earlier, later []string
		for k, st := range steps {
			switch {
			case k < i:
				earlier = append(earlier, st.Name.Value)
			case k > i && st.Name.Value == w.Step.Value:
				later = append(later, st.Name.Value)
			}
		}
		if len(later) > 0 || w.Step.Value == steps[i].Name.Value {
			c.errorf(w.Step.Content(), "%s: when step %q is not an earlier step", owner, w.Step.Value).Detail =
				"A step can only depend on what the contact did with a step listed before it."
			return
		}
		c.errorf(w.Step.Content(), "%s: when: unknown step %q%s", owner, w.Step.Value, didYouMean(w.Step.Value, earlier)).Detail =
			fmt.Sprintf("Earlier steps: %s.", list(earlier))
		return
	}
	if known[i] && known[j] && offsets[i] <= offsets[j] && usable(steps[i].Offset) {
		c.errorf(steps[i].Offset.Content(), "%s: offset %s is not after step %q's (%s), whose engagement it tests",
			owner, steps[i].Offset.Value, w.Step.Value, steps[j].Offset.Value).Detail =
			"The contact needs time to open, click or ignore the earlier email; give this step a later offset."
	}
}

func (c *checker) autoresponder(r *ir.Autoresponder) {
	owner := fmt.Sprintf("autoresponder %q", r.Name.Value)
	me, snd := c.enrollment(owner, r.Model, r.Segment, r.Sender)
	c.sendingPolicy = nil // autoresponders follow the default policy
	via := fmt.Sprintf("%s sends it to segment %q", owner, val(r.Segment))
	for _, f := range r.FollowUps {
		fo := fmt.Sprintf("follow-up %q of %s", f.Name.Value, owner)
		c.duration(fo, "offset", f.Offset, false)
		c.use(templateUse{ref: f.Template, user: fo, via: via, env: me, class: sendClass{fixed: plan.ClassMarketing}})
	}
	c.use(templateUse{ref: r.Template, user: owner, via: via, env: me, class: sendClass{fixed: plan.ClassMarketing}})
	c.fieldRef(owner, "do_not_email", r.DoNotEmail, me, false, plan.TypeBool)
	start, startOK := dateOrTime(r.Start)
	stop, stopOK := dateOrTime(r.End)
	if startOK && stopOK && !stop.After(start) {
		c.errorf(r.End.Content(), "%s: end %s is not after start %s", owner, r.End.Value, r.Start.Value)
	}
	// In multiple mode max_follow_ups bounds a recurrence without an end
	// (flow.CompileRecurring); with one, the end decides.
	if m := r.MaxFollowUps; m != nil && !m.Invalid && usable(r.Mode) && r.Mode.Value == "multiple" && usable(r.End) {
		c.warnf(m.Range, "%s: max_follow_ups is ignored: a recurrence with an end runs until its end", owner).Detail =
			"In mode multiple, max_follow_ups is the most issues one contact gets from a recurrence that has no end. With end set, every issue up to the end is sent. Remove max_follow_ups, or remove end to stop each contact after that many issues."
	}
	// Autoresponders follow the default policy: the plan gives them none of
	// their own.
	c.sendsFrom(snd, owner, nil)
}

// dateOrTime reads a date (2026-03-01, midnight UTC) or an RFC 3339 time. A
// malformed one is the schema's to report.
func dateOrTime(s *ir.String) (time.Time, bool) {
	if !usable(s) {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.DateOnly, s.Value); err == nil {
		return t, true
	}
	return time.Time{}, false
}
