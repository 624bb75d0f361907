package flow

import (
	"fmt"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/abtest"
)

// Object kinds in the runner's tables.
const (
	KindSequence      = "sequence"
	KindAutoresponder = "autoresponder"
)

// Sequence is a series of sends on offsets from enrollment, ready to advance:
// a plan.Sequence, or a single-mode autoresponder (CompileAutoresponder).
type Sequence struct {
	Kind  string
	Name  string
	Steps []SequenceStep
	// ExitOnReply ends the enrollment ('responded') once the contact replied
	// to any of its messages: an autoresponder's exclude_responders.
	ExitOnReply bool
}

// SequenceStep is one send of a sequence.
type SequenceStep struct {
	Name     string
	Offset   time.Duration
	Template string
	When     *When
	AB       *plan.ABTest
}

// When is a step's condition on engagement with an earlier step.
type When struct {
	Step  string
	Event string // opened, clicked, replied, bounced, ignored
	// Within bounds the engagement to this long after the earlier step was sent
	// (zero: any time before now).
	Within time.Duration
}

// Engagement event names a When may test.
const (
	Opened  = "opened"
	Clicked = "clicked"
	Replied = "replied"
	Bounced = "bounced"
	Ignored = "ignored"
)

// CompileSequence parses a plan sequence's offsets and conditions. The compiler
// has validated the plan; an error here means a plan this runner cannot run,
// and names the step and field.
func CompileSequence(s *plan.Sequence) (*Sequence, error) {
	out := &Sequence{Kind: KindSequence, Name: s.Name}
	seen := map[string]bool{}
	for _, st := range s.Steps {
		off, err := plan.ParseDuration(st.Offset)
		if err != nil {
			return nil, fmt.Errorf("sequence %s / step %s: offset: %w", s.Name, st.Name, err)
		}
		if off < 0 {
			return nil, fmt.Errorf("sequence %s / step %s: offset %q is negative: a step cannot come before enrollment", s.Name, st.Name, st.Offset)
		}
		cs := SequenceStep{Name: st.Name, Offset: off, Template: st.Template, AB: st.ABTest}
		if st.When != nil {
			w := &When{Step: st.When.Step, Event: st.When.Event}
			switch w.Event {
			case Opened, Clicked, Replied, Bounced, Ignored:
			default:
				return nil, fmt.Errorf("sequence %s / step %s: when.event %q: want opened, clicked, replied, bounced or ignored", s.Name, st.Name, w.Event)
			}
			if !seen[w.Step] {
				return nil, fmt.Errorf("sequence %s / step %s: when.step %q is not an earlier step of the sequence", s.Name, st.Name, w.Step)
			}
			if st.When.Within != "" {
				if w.Within, err = plan.ParseDuration(st.When.Within); err != nil {
					return nil, fmt.Errorf("sequence %s / step %s: when.within: %w", s.Name, st.Name, err)
				}
			}
			cs.When = w
		}
		if len(out.Steps) > 0 && off < out.Steps[len(out.Steps)-1].Offset {
			return nil, fmt.Errorf("sequence %s / step %s: offset %s comes before the previous step's: steps run in the order written, so order them by offset", s.Name, st.Name, st.Offset)
		}
		seen[st.Name] = true
		out.Steps = append(out.Steps, cs)
	}
	return out, nil
}

// CompileAutoresponder turns a single-mode autoresponder into a series: each
// follow-up at its offset from the contact's enrollment (which the engine
// never places before the autoresponder's start), responders excluded when
// the autoresponder says so. Multiple mode (a recurrence) is not a series of
// fixed offsets: CompileRecurring reads it.
func CompileAutoresponder(a *plan.Autoresponder) (*Sequence, error) {
	if a.Mode != "single" {
		return nil, fmt.Errorf("autoresponder %s: mode %q is not a series of follow-ups (a recurrence is read by CompileRecurring)", a.Name, a.Mode)
	}
	steps := make([]plan.SequenceStep, 0, len(a.FollowUps))
	for i, f := range a.FollowUps {
		if a.MaxFollowUps > 0 && i >= a.MaxFollowUps {
			break
		}
		steps = append(steps, plan.SequenceStep{Name: f.Name, Offset: f.Offset, Template: f.Template})
	}
	s, err := CompileSequence(&plan.Sequence{Name: a.Name, Steps: steps})
	if err != nil {
		return nil, fmt.Errorf("autoresponder: %w", err)
	}
	s.Kind, s.ExitOnReply = KindAutoresponder, a.ExcludeResponders
	return s, nil
}

// Position finds where an enrollment resumes after the plan may have changed:
// it waits for step name, last seen at index; due is that step's offset from
// enrollment as it was scheduled. The rule: the enrollment resumes at the
// step it was waiting for, wherever that step now stands (steps inserted
// before it are not taken: the enrollment has passed them); if that step was
// removed, at the first step whose offset is at or after the removed one's,
// or past the end. An empty name (an enrollment that has not moved yet, or a
// store from before names were kept) keeps index.
func (s *Sequence) Position(index int, name string, due time.Duration) int {
	if name == "" {
		return min(index, len(s.Steps))
	}
	if index < len(s.Steps) && s.Steps[index].Name == name {
		return index
	}
	for i, st := range s.Steps {
		if st.Name == name {
			return i
		}
	}
	for i, st := range s.Steps {
		if st.Offset >= due {
			return i
		}
	}
	return len(s.Steps)
}

// NextName is the name of step i, "" past the last.
func (s *Sequence) NextName(i int) string { return s.stepName(i) }

// State is what the runner keeps of one enrollment between advances.
type State struct {
	ContactKey string
	EnrolledAt time.Time
	// Next is the index of the next step to consider.
	Next int
}

// Engagement is what a contact did with one earlier step's message.
type Engagement struct {
	Sent   bool
	SentAt time.Time
	// Pending: the message is enqueued but not handed to the relay yet (held
	// by quiet hours or a frequency cap, or queued behind others).
	Pending bool
	// EnqueuedAt is when the step decided to send it.
	EnqueuedAt time.Time
	// First is the time of the first event of each type since the message was
	// sent: "open", "click", "reply", "bounce".
	First map[string]time.Time
}

// Facts are what the engine knows about the enrollment's contact now.
type Facts struct {
	Now         time.Time
	GoalReached bool
	// Steps holds the engagement with each earlier step a When refers to.
	Steps map[string]Engagement
	// AB holds the decided A/B tests, by step name.
	AB map[string]ABOutcome
	// Replied: the contact replied to one of this enrollment's messages.
	Replied bool
	// DoNotEmail: the contact's record forbids mail (an autoresponder's
	// do_not_email field); its sends are skipped, saying so.
	DoNotEmail bool
	// Suppressed is why the contact's address is on the suppression list
	// (unsubscribed, hard_bounce, complaint, ...), "" when it is not: the
	// enrollment exits at its next due step (ExitUnsubscribed) instead of
	// enqueuing messages the claim would only cancel.
	Suppressed string
}

// ABOutcome is a decided A/B test as the remainder sees it.
type ABOutcome struct {
	Winner  string
	SendAll bool
	Stop    bool
}

// ActionKind is what one action does.
type ActionKind string

const (
	ActSend ActionKind = "sent"
	ActSkip ActionKind = "skipped"
	ActExit ActionKind = "exited"
	ActHold ActionKind = "held"
)

// Action is one thing Advance decided, in order.
type Action struct {
	Kind    ActionKind
	Step    string
	Variant string
	// Reason says why, in words explain can print: "week1 was clicked", "goal
	// reached", "waiting for the A/B decision on week1".
	Reason string
}

// Exit reasons.
const (
	ExitCompleted = "completed"
	ExitGoal      = "goal"
	ExitResponded = "responded"
	// ExitUnsubscribed: the address was suppressed (an unsubscribe, a hard
	// bounce, a complaint, ...) when a step came due.
	ExitUnsubscribed = "unsubscribed"
)

// Decision is the result of one advance.
type Decision struct {
	Actions []Action
	// Next is the index of the next step to consider.
	Next int
	// WakeAt is when to advance again; zero when the enrollment exits or holds.
	WakeAt time.Time
	// Hold names the step whose A/B decision the enrollment waits for.
	Hold string
	// Exit is ExitCompleted or ExitGoal when the enrollment ends.
	Exit string
	// WaitStep names the workflow wait step the enrollment stopped at (empty
	// otherwise), and WaitFrom is when that wait began: WakeAt is WaitFrom
	// plus the step's duration, so a new duration can be applied to the
	// contacts already waiting (Store.RewaitWorkflow).
	WaitStep string
	WaitFrom time.Time
	// WaitRelativeTo is the wait's relative_to ("" for a plain wait) and
	// WaitReached when the enrollment reached it: what a new revision that
	// edits the relative_to times the wait again from (engine.retimeWaits).
	WaitRelativeTo string
	WaitReached    time.Time
}

// Advance runs every step whose time has come, in order, and stops at the first
// that is not due yet, at an A/B test still undecided for this contact, or at
// the end. A goal reached exits before any further step.
func (s *Sequence) Advance(st State, f Facts) Decision {
	d := Decision{Next: st.Next}
	if f.GoalReached {
		d.Actions = append(d.Actions, Action{Kind: ActExit, Step: s.stepName(st.Next), Reason: "goal reached"})
		d.Exit = ExitGoal
		return d
	}
	if s.ExitOnReply && f.Replied {
		d.Actions = append(d.Actions, Action{Kind: ActExit, Step: s.stepName(st.Next), Reason: "replied: responders get no further follow-up"})
		d.Exit = ExitResponded
		return d
	}
	for i := st.Next; i < len(s.Steps); i++ {
		step := &s.Steps[i]
		d.Next = i
		due := st.EnrolledAt.Add(step.Offset)
		if due.After(f.Now) {
			d.WakeAt = due
			return d
		}
		if f.Suppressed != "" {
			d.Actions = append(d.Actions, Action{Kind: ActExit, Step: step.Name, Reason: "the address is suppressed (" + f.Suppressed + "): no further steps"})
			d.Exit = ExitUnsubscribed
			return d
		}
		if f.DoNotEmail {
			d.Actions = append(d.Actions, Action{Kind: ActSkip, Step: step.Name, Reason: "the contact's record says do not email"})
			continue
		}
		if step.When != nil {
			ok, why := step.When.holds(f.Steps[step.When.Step], f.Now)
			if !ok {
				d.Actions = append(d.Actions, Action{Kind: ActSkip, Step: step.Name, Reason: why})
				continue
			}
		}
		variant, reason := "", ""
		if step.AB != nil {
			var held, stop bool
			variant, reason, held, stop = placeAB(s.Kind, s.Name, step.Name, step.AB, st.ContactKey, f.AB)
			if held {
				d.Actions = append(d.Actions, Action{Kind: ActHold, Step: step.Name, Reason: reason})
				d.Hold = step.Name
				return d
			}
			if stop {
				d.Actions = append(d.Actions, Action{Kind: ActSkip, Step: step.Name, Reason: reason})
				continue
			}
		}
		d.Actions = append(d.Actions, Action{Kind: ActSend, Step: step.Name, Variant: variant, Reason: reason})
	}
	d.Next = len(s.Steps)
	d.Actions = append(d.Actions, Action{Kind: ActExit, Reason: "no steps left"})
	d.Exit = ExitCompleted
	return d
}

func (s *Sequence) stepName(i int) string {
	if i < len(s.Steps) {
		return s.Steps[i].Name
	}
	return ""
}

// placeAB says which variant of the A/B test ab on step of (kind, name) the
// contact gets, or that it must wait for the decision (held), or that the test
// stopped the step (stop).
func placeAB(kind, name, step string, ab *plan.ABTest, key string, decided map[string]ABOutcome) (variant, reason string, held, stop bool) {
	if v, inTest := abtest.Assign(kind, name, step, key, ab); inTest {
		return v, "A/B test group: variant " + v, false, false
	}
	out, ok := decided[step]
	switch {
	case !ok:
		return "", "waiting for the A/B decision on " + step, true, false
	case out.Stop:
		return "", "the A/B test on " + step + " was inconclusive and its policy is stop", false, true
	case out.SendAll:
		v := abtest.SplitVariant(kind, name, step, key, ab)
		return v, "the A/B test on " + step + " was inconclusive: the rest is split too (variant " + v + ")", false, false
	}
	return out.Winner, "A/B winner: " + out.Winner, false, false
}

// holds says whether the condition holds for the engagement e with its step,
// and why (or why not), in words.
func (w *When) holds(e Engagement, now time.Time) (bool, string) {
	if !e.Sent {
		return false, fmt.Sprintf("%s was not sent to this contact, so %q cannot be known", w.Step, w.Event)
	}
	end := now
	if w.Within > 0 && e.SentAt.Add(w.Within).Before(now) {
		end = e.SentAt.Add(w.Within)
	}
	did := func(types ...string) bool {
		for _, t := range types {
			if at, ok := e.First[t]; ok && !at.After(end) {
				return true
			}
		}
		return false
	}
	var ok bool
	switch w.Event {
	case Opened:
		ok = did("open", "click") // a click proves the message was seen
	case Clicked:
		ok = did("click")
	case Replied:
		ok = did("reply")
	case Bounced:
		ok = did("bounce")
	case Ignored:
		ok = !did("open", "click", "reply", "bounce")
	}
	if ok {
		return true, fmt.Sprintf("%s: %s", w.Step, w.Event)
	}
	return false, fmt.Sprintf("%s: not %s", w.Step, w.Event)
}
