package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/flow"
)

// series is what the engine runs per enrollment, whatever the plan kind: a
// sequence, or an autoresponder — single mode (its follow-ups are steps
// without conditions or tests) or multiple mode (a recurrence: its steps are
// its issues, named by date, all sending the one template). One description,
// so enrolling, sending and policies are written once for all three.
type series struct {
	Kind, Name                     string
	Model, Segment, Sender, Policy string
	Goal                           string
	DoNotEmail                     string // model field ref, e.g. "customer.do_not_email"
	Start, End                     time.Time
	Steps                          []plan.SequenceStep
	compiled                       *flow.Sequence
	// recurring is set for a multiple-mode autoresponder (compiled is then
	// nil); Steps holds one step, issueStep, with its template: the step
	// every issue resolves to for its template, class and policy.
	recurring  *flow.Recurring
	compileErr error
}

// issueStep names the one plan step of a recurring series, which every issue
// ("issue-2026-02-01") resolves to.
const issueStep = "issue"

func seriesKey(kind, name string) string { return kind + "/" + name }

// seriesOf lists the plan's sequences and autoresponders as series, sorted by
// kind then name.
func seriesOf(p *plan.Plan) []*series {
	var out []*series
	for i := range p.Sequences {
		s := &p.Sequences[i]
		sr := &series{Kind: flow.KindSequence, Name: s.Name, Model: s.Model, Segment: s.Segment, Sender: s.Sender,
			Policy: s.Policy, Goal: s.Goal, Steps: s.Steps}
		sr.compiled, sr.compileErr = flow.CompileSequence(s)
		out = append(out, sr)
	}
	for i := range p.Autoresponders {
		a := &p.Autoresponders[i]
		sr := &series{Kind: flow.KindAutoresponder, Name: a.Name, Model: a.Model, Segment: a.Segment, Sender: a.Sender,
			DoNotEmail: a.DoNotEmail}
		if a.Mode == "multiple" {
			sr.Steps = []plan.SequenceStep{{Name: issueStep, Template: a.Template}}
			sr.recurring, sr.compileErr = flow.CompileRecurring(a)
			if sr.compileErr == nil {
				sr.Start, sr.End = sr.recurring.Start, sr.recurring.End
			}
			out = append(out, sr)
			continue
		}
		for _, f := range a.FollowUps {
			sr.Steps = append(sr.Steps, plan.SequenceStep{Name: f.Name, Offset: f.Offset, Template: f.Template})
		}
		sr.compiled, sr.compileErr = flow.CompileAutoresponder(a)
		if sr.compileErr == nil {
			var err error
			if sr.Start, err = planDate(a.Start); err != nil {
				sr.compileErr = fmt.Errorf("autoresponder %s: start: %w", a.Name, err)
			} else if sr.End, err = planDate(a.End); err != nil {
				sr.compileErr = fmt.Errorf("autoresponder %s: end: %w", a.Name, err)
			}
		}
		out = append(out, sr)
	}
	sort.Slice(out, func(i, j int) bool { return seriesKey(out[i].Kind, out[i].Name) < seriesKey(out[j].Kind, out[j].Name) })
	return out
}

// planDate reads a plan date ("2026-01-01", midnight UTC) or timestamp; "" is
// the zero time.
func planDate(s string) (time.Time, error) { return flow.ParseInstant(s) }

// step returns the plan step of the series by name; every issue of a
// recurring series is its issueStep.
func (s *series) step(name string) (*plan.SequenceStep, bool) {
	if s.recurring != nil {
		if (name == issueStep || flow.IsIssue(name)) && len(s.Steps) == 1 {
			return &s.Steps[0], true
		}
		return nil, false
	}
	for i := range s.Steps {
		if s.Steps[i].Name == name {
			return &s.Steps[i], true
		}
	}
	return nil, false
}

// doNotEmailSegment names the hidden segment holding an autoresponder's
// do_not_email condition, evaluated like a goal.
func doNotEmailSegment(kind, name string) string { return "__dne__" + kind + "__" + name }

// hiddenSegments are the series' goals and do-not-email fields as segments,
// so the evaluator answers them for a batch of keys in one query.
func hiddenSegments(ser []*series) []plan.Segment {
	var out []plan.Segment
	for _, s := range ser {
		if s.Goal != "" {
			// A goal holds for archived contacts too: an opportunity won and
			// then archived has still converted.
			out = append(out, plan.Segment{Name: goalSegment(s.Kind, s.Name), Model: s.Model, Filter: s.Goal, IncludeArchived: true})
		}
		if s.DoNotEmail != "" {
			field := s.DoNotEmail
			if !strings.HasPrefix(field, s.Model+".") {
				field = s.Model + "." + field
			}
			out = append(out, plan.Segment{Name: doNotEmailSegment(s.Kind, s.Name), Model: s.Model, Filter: field, IncludeArchived: true})
		}
	}
	return out
}
