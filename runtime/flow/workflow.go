package flow

import (
	"fmt"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// KindWorkflow is the runner's kind of workflows.
const KindWorkflow = "workflow"

// PendingRecheck is how often an engagement branch looks again for a message
// that is not sent yet.
const PendingRecheck = time.Hour

// Workflow is a plan workflow ready to advance: its steps with their
// successors resolved to indexes and their durations parsed. Steps run in
// order; a step's Next (or a branch's Then and Else) jumps.
type Workflow struct {
	Name  string
	Steps []WorkflowStep
	index map[string]int
}

// WorkflowStep is one step of a workflow.
type WorkflowStep struct {
	Name string
	Kind string // plan.StepWait, plan.StepSend, …
	// Next is the index of the step that follows (len(Steps): the end).
	Next int
	// wait: Wait after the enrollment reached the step, or, with RelativeTo
	// (a contact field such as customer.next_purchase_at, or event.date), Wait
	// after (negative: before) that time.
	Wait       time.Duration
	RelativeTo string
	// send and notify_owner
	Template string
	AB       *plan.ABTest
	// branch: a CEL condition (the engine evaluates it, Facts.Conds holds the
	// value) or engagement with an earlier send step.
	Condition  string
	Engagement *When
	// Window is how long after the tested step the workflow means to look at
	// its engagement: the plain waits written between the two (zero when a
	// wait between them is relative to a date).
	Window     time.Duration
	Then, Else int
	// set_property, clear_property, assign_owner
	Field, Value string
	Owners       []string
}

// CompileWorkflow resolves a plan workflow's step names and parses its
// durations. The compiler validated the plan; an error names the step and
// field this runner cannot run.
func CompileWorkflow(w *plan.Workflow) (*Workflow, error) {
	out := &Workflow{Name: w.Name, index: map[string]int{}}
	for i, st := range w.Steps {
		if _, dup := out.index[st.Name]; dup {
			return nil, fmt.Errorf("workflow %s: step %s appears twice", w.Name, st.Name)
		}
		out.index[st.Name] = i
	}
	end := len(w.Steps)
	resolve := func(step, field, name string, dflt int) (int, error) {
		if name == "" {
			return dflt, nil
		}
		i, ok := out.index[name]
		if !ok {
			return 0, fmt.Errorf("workflow %s / step %s: %s %q is not a step of the workflow", w.Name, step, field, name)
		}
		return i, nil
	}
	for i, st := range w.Steps {
		cs := WorkflowStep{Name: st.Name, Kind: st.Kind, Template: st.Template, AB: st.ABTest,
			Condition: st.Condition, RelativeTo: st.RelativeTo, Field: st.Field, Value: st.Value, Owners: st.Owners}
		var err error
		if cs.Next, err = resolve(st.Name, "next", st.Next, min(i+1, end)); err != nil {
			return nil, err
		}
		switch st.Kind {
		case plan.StepWait:
			if cs.Wait, err = plan.ParseDuration(st.Duration); err != nil {
				return nil, fmt.Errorf("workflow %s / step %s: wait: %w", w.Name, st.Name, err)
			}
			if cs.Wait < 0 && st.RelativeTo == "" {
				return nil, fmt.Errorf("workflow %s / step %s: wait %q is negative without relative_to: a wait cannot go back in time", w.Name, st.Name, st.Duration)
			}
		case plan.StepBranch:
			if cs.Then, err = resolve(st.Name, "then", st.Then, cs.Next); err != nil {
				return nil, err
			}
			if cs.Else, err = resolve(st.Name, "else", st.Else, cs.Next); err != nil {
				return nil, err
			}
			if e := st.Engagement; e != nil {
				cs.Engagement = &When{Step: e.Step, Event: e.Event}
				switch e.Event {
				case Opened, Clicked, Replied, Bounced, Ignored:
				default:
					return nil, fmt.Errorf("workflow %s / step %s: engagement.event %q: want opened, clicked, replied, bounced or ignored", w.Name, st.Name, e.Event)
				}
				if j, ok := out.index[e.Step]; !ok || w.Steps[j].Kind != plan.StepSend {
					return nil, fmt.Errorf("workflow %s / step %s: engagement.step %q is not a send step of the workflow", w.Name, st.Name, e.Step)
				}
				if e.Within != "" {
					if cs.Engagement.Within, err = plan.ParseDuration(e.Within); err != nil {
						return nil, fmt.Errorf("workflow %s / step %s: engagement.within: %w", w.Name, st.Name, err)
					}
				}
			} else if st.Condition == "" {
				return nil, fmt.Errorf("workflow %s / step %s: a branch needs a condition (if) or an engagement test", w.Name, st.Name)
			}
		case plan.StepAssignOwner:
			if len(st.Owners) == 0 {
				return nil, fmt.Errorf("workflow %s / step %s: assign_owner lists no owner", w.Name, st.Name)
			}
		case plan.StepSend, plan.StepNotifyOwner, plan.StepSetProperty, plan.StepClearProperty, plan.StepExit:
		default:
			return nil, fmt.Errorf("workflow %s / step %s: step kind %q is not run by this version of the daemon", w.Name, st.Name, st.Kind)
		}
		out.Steps = append(out.Steps, cs)
	}
	for i := range out.Steps {
		st := &out.Steps[i]
		if st.Engagement == nil {
			continue
		}
		from := out.index[st.Engagement.Step]
		for j := from + 1; j < i; j++ {
			if between := out.Steps[j]; between.Kind == plan.StepWait {
				if between.RelativeTo != "" {
					st.Window = 0
					break
				}
				st.Window += between.Wait
			}
		}
	}
	return out, nil
}

// Index returns the index of the step named name.
func (w *Workflow) Index(name string) (int, bool) {
	i, ok := w.index[name]
	return i, ok
}

// NextName is the name of step i, "" past the last.
func (w *Workflow) NextName(i int) string {
	if i >= 0 && i < len(w.Steps) {
		return w.Steps[i].Name
	}
	return ""
}

// Position finds where an enrollment resumes after the plan may have changed:
// at the step it was waiting for, by name, wherever it now stands; if that
// step was removed, at the step now at its old index (the one that took its
// place), or at the end.
func (w *Workflow) Position(index int, name string) int {
	if name == "" {
		return min(max(index, 0), len(w.Steps))
	}
	if i, ok := w.index[name]; ok {
		return i
	}
	return min(max(index, 0), len(w.Steps))
}

// WorkflowState is what the runner keeps of one workflow enrollment.
type WorkflowState struct {
	ContactKey string
	// Next is the index of the next step to run.
	Next int
	// At is when the enrollment reached Next on the engine's clock: the time
	// its last wait ended as scheduled (not when the daemon got to it), so a
	// chain of waits keeps its times after downtime.
	At time.Time
}

// WorkflowFacts are what the engine read about the contact for this advance.
type WorkflowFacts struct {
	Now         time.Time
	GoalReached bool
	// Conds holds the value of each branch step's condition, by step name;
	// CondErrs why a condition could not be evaluated (it then reads false).
	Conds    map[string]bool
	CondErrs map[string]string
	// Times holds the value of each wait's relative_to field (absent: unset).
	Times map[string]time.Time
	// Steps holds the engagement with each send step an engagement branch tests.
	Steps map[string]Engagement
	AB    map[string]ABOutcome
}

// WaitOutcome is what a wait step does with an enrollment that reaches it.
type WaitOutcome struct {
	// Waits: the enrollment stops until Due. From is when the wait counts
	// from (Due is From plus the step's Wait): the time the enrollment
	// reached the wait, or the time of its RelativeTo.
	Waits     bool
	Due, From time.Time
	// Resume is when the enrollment goes on when it does not stop: the end
	// of a wait that has passed, or the time it reached a wait it skips.
	Resume time.Time
	// Skipped: the step's RelativeTo has no time for the contact (not in
	// the facts' Times); the wait is skipped.
	Skipped bool
	// Reason is the history line's detail when it waits or skips.
	Reason string
}

// Reach is what wait step s does with an enrollment that reaches it at at,
// given the facts' Times and Now. Advance uses it, and so does the engine
// when a new revision changes the step's relative_to for the enrollments
// already stopped at it: they are timed again as if they reached it now
// (at being when they did).
func (s *WorkflowStep) Reach(at time.Time, f WorkflowFacts) WaitOutcome {
	due := at.Add(s.Wait)
	if s.RelativeTo != "" {
		base, ok := f.Times[s.RelativeTo]
		if !ok {
			return WaitOutcome{Resume: at, Skipped: true, Reason: s.RelativeTo + " is not set: the wait is skipped"}
		}
		due = base.Add(s.Wait)
	}
	if due.After(f.Now) {
		return WaitOutcome{Waits: true, Due: due, From: due.Add(-s.Wait), Reason: "until " + due.UTC().Format(time.RFC3339)}
	}
	return WaitOutcome{Resume: maxTime(at, due)}
}

// Workflow action kinds, besides those of sequences.
const (
	ActNotify   ActionKind = "notified"
	ActSet      ActionKind = "set"
	ActClear    ActionKind = "cleared"
	ActAssign   ActionKind = "assigned"
	ActBranch   ActionKind = "branched"
	ActWait     ActionKind = "waited"
	ExitLoop               = "loop"
	maxPerVisit            = 2
)

// Advance runs the workflow's steps from st.Next until one must wait (a wait
// whose time has not come, an undecided A/B test) or the workflow ends. A wait
// counts from when the enrollment reached it as scheduled, or from the send
// just before it when that send was late. A step
// that writes a property (set, clear, assign) ends the advance too, due at
// once, so the next advance reads the contact with the new value. A goal
// reached exits before any further step.
func (w *Workflow) Advance(st WorkflowState, f WorkflowFacts) Decision {
	d := Decision{Next: st.Next}
	if f.GoalReached {
		d.Actions = append(d.Actions, Action{Kind: ActExit, Step: w.NextName(st.Next), Reason: "goal reached"})
		d.Exit = ExitGoal
		return d
	}
	at := st.At
	visits := map[int]int{}
	sentNow := map[string]bool{} // sends decided in this advance, not in the facts yet
	i := st.Next
	for i < len(w.Steps) {
		step := &w.Steps[i]
		d.Next = i
		// A loop without a wait would run for ever within one advance: the
		// second visit of a step in one advance ends the enrollment.
		if visits[i]++; visits[i] >= maxPerVisit {
			d.Actions = append(d.Actions, Action{Kind: ActExit, Step: step.Name, Reason: "step " + step.Name + " reached twice without a wait: the workflow loops"})
			d.Exit = ExitLoop
			return d
		}
		switch step.Kind {
		case plan.StepWait:
			w := step.Reach(at, f)
			switch {
			case w.Skipped:
				d.Actions = append(d.Actions, Action{Kind: ActSkip, Step: step.Name, Reason: w.Reason})
			case w.Waits:
				d.Actions = append(d.Actions, Action{Kind: ActWait, Step: step.Name, Reason: w.Reason})
				d.Next, d.WakeAt = step.Next, w.Due
				d.WaitStep, d.WaitFrom, d.WaitRelativeTo, d.WaitReached = step.Name, w.From, step.RelativeTo, at
				return d
			}
			at = w.Resume
			i = step.Next
		case plan.StepSend:
			variant, reason := "", ""
			if step.AB != nil {
				var held, stop bool
				variant, reason, held, stop = placeAB(KindWorkflow, w.Name, step.Name, step.AB, st.ContactKey, f.AB)
				if held {
					d.Actions = append(d.Actions, Action{Kind: ActHold, Step: step.Name, Reason: reason})
					d.Hold = step.Name
					return d
				}
				if stop {
					d.Actions = append(d.Actions, Action{Kind: ActSkip, Step: step.Name, Reason: reason})
					i = step.Next
					continue
				}
			}
			d.Actions = append(d.Actions, Action{Kind: ActSend, Step: step.Name, Variant: variant, Reason: reason})
			sentNow[step.Name] = true
			// A wait after a send counts from the send: a daemon catching up
			// after downtime does not send two steps back to back.
			at = maxTime(at, f.Now)
			i = step.Next
		case plan.StepNotifyOwner:
			d.Actions = append(d.Actions, Action{Kind: ActNotify, Step: step.Name, Reason: "owner notified with " + step.Template})
			i = step.Next
		case plan.StepBranch:
			// An engagement test gives the contact as long to react as the
			// workflow meant to, counted from when the message went out: a
			// message held by quiet hours or a frequency cap is waited for,
			// and one sent late moves the test by as much.
			if e := step.Engagement; e != nil {
				en := f.Steps[e.Step]
				if en.Pending || sentNow[e.Step] {
					d.Actions = append(d.Actions, Action{Kind: ActWait, Step: step.Name, Reason: e.Step + " is not sent yet: its engagement is looked at once it is"})
					d.Next, d.WakeAt = i, f.Now.Add(PendingRecheck)
					return d
				}
				if en.Sent && step.Window > 0 && en.SentAt.After(en.EnqueuedAt) {
					if due := en.SentAt.Add(step.Window); due.After(f.Now) {
						d.Actions = append(d.Actions, Action{Kind: ActWait, Step: step.Name, Reason: fmt.Sprintf("%s went out %s late: until %s", e.Step, en.SentAt.Sub(en.EnqueuedAt).Round(time.Second), due.UTC().Format(time.RFC3339))})
						d.Next, d.WakeAt = i, due
						return d
					}
				}
			}
			ok, why := w.branch(step, f)
			to := step.Else
			if ok {
				to = step.Then
			}
			d.Actions = append(d.Actions, Action{Kind: ActBranch, Step: step.Name, Reason: why + " → " + w.stepOrEnd(to)})
			i = to
		case plan.StepSetProperty, plan.StepClearProperty, plan.StepAssignOwner:
			kind, reason := ActSet, step.Field+" = "+step.Value
			switch step.Kind {
			case plan.StepClearProperty:
				kind, reason = ActClear, step.Field+" cleared"
			case plan.StepAssignOwner:
				kind, reason = ActAssign, step.Field+": round robin"
			}
			d.Actions = append(d.Actions, Action{Kind: kind, Step: step.Name, Reason: reason})
			d.Next, d.WakeAt = step.Next, maxTime(at, f.Now)
			if step.Next >= len(w.Steps) {
				d.Actions = append(d.Actions, Action{Kind: ActExit, Reason: "no steps left"})
				d.Exit, d.WakeAt = ExitCompleted, time.Time{}
			}
			return d
		case plan.StepExit:
			d.Actions = append(d.Actions, Action{Kind: ActExit, Step: step.Name, Reason: "exit step " + step.Name})
			d.Next, d.Exit = len(w.Steps), ExitCompleted
			return d
		}
	}
	d.Next = len(w.Steps)
	d.Actions = append(d.Actions, Action{Kind: ActExit, Reason: "no steps left"})
	d.Exit = ExitCompleted
	return d
}

func (w *Workflow) stepOrEnd(i int) string {
	if i >= len(w.Steps) {
		return "end"
	}
	return w.Steps[i].Name
}

// branch evaluates a branch step's test and says why, in words.
func (w *Workflow) branch(step *WorkflowStep, f WorkflowFacts) (bool, string) {
	if step.Engagement != nil {
		return step.Engagement.holds(f.Steps[step.Engagement.Step], f.Now)
	}
	if msg, failed := f.CondErrs[step.Name]; failed {
		return false, "condition " + step.Condition + " could not be evaluated (" + msg + "): taken as false"
	}
	if f.Conds[step.Name] {
		return true, step.Condition + " is true"
	}
	return false, step.Condition + " is false"
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
