package flow

import (
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

var w0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// cart is campaigns/workflows/abandoned_cart.hcl without its A/B test.
func cart() *plan.Workflow {
	return &plan.Workflow{Name: "cart_rescue", Steps: []plan.Step{
		{Name: "pause", Kind: plan.StepWait, Duration: "1h"},
		{Name: "reminder", Kind: plan.StepSend, Template: "cart_reminder"},
		{Name: "pause_2", Kind: plan.StepWait, Duration: "1d"},
		{Name: "discount", Kind: plan.StepSend, Template: "cart_discount"},
	}}
}

// nps is campaigns/workflows/customer_satisfaction.hcl.
func nps() *plan.Workflow {
	return &plan.Workflow{Name: "nps_followup", Steps: []plan.Step{
		{Name: "promoter", Kind: plan.StepBranch, Condition: "int(event.score) >= 9", Then: "ask_review", Else: "detractor"},
		{Name: "ask_review", Kind: plan.StepSend, Template: "nps_ask_review", Next: "done"},
		{Name: "detractor", Kind: plan.StepBranch, Condition: "int(event.score) <= 6", Then: "apologize", Else: "done"},
		{Name: "apologize", Kind: plan.StepSend, Template: "nps_apology"},
		{Name: "tell_owner", Kind: plan.StepNotifyOwner, Template: "nps_detractor_alert"},
		{Name: "done", Kind: plan.StepExit},
	}}
}

func mustWorkflow(t *testing.T, w *plan.Workflow) *Workflow {
	t.Helper()
	c, err := CompileWorkflow(w)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// trace renders a decision's actions as "kind step" lines plus where it stops.
func trace(w *Workflow, d Decision) string {
	var parts []string
	for _, a := range d.Actions {
		parts = append(parts, string(a.Kind)+" "+a.Step)
	}
	tail := "next=" + w.stepOrEnd(d.Next)
	if !d.WakeAt.IsZero() {
		tail += " wake=" + d.WakeAt.Format("01-02T15:04")
	}
	if d.Exit != "" {
		tail += " exit=" + d.Exit
	}
	if d.Hold != "" {
		tail += " hold=" + d.Hold
	}
	return strings.Join(append(parts, tail), "; ")
}

func TestWorkflowAdvance(t *testing.T) {
	cartW := mustWorkflow(t, cart())
	npsW := mustWorkflow(t, nps())
	event := mustWorkflow(t, &plan.Workflow{Name: "open_day", Steps: []plan.Step{
		{Name: "confirm", Kind: plan.StepSend, Template: "c"},
		{Name: "day_before", Kind: plan.StepWait, Duration: "-1d", RelativeTo: "event.date"},
		{Name: "remind", Kind: plan.StepSend, Template: "r"},
	}})
	engaged := mustWorkflow(t, &plan.Workflow{Name: "quiet_leads", Steps: []plan.Step{
		{Name: "still_interested", Kind: plan.StepSend, Template: "s"},
		{Name: "pause", Kind: plan.StepWait, Duration: "14d"},
		{Name: "answered", Kind: plan.StepBranch, Engagement: &plan.Engagement{Step: "still_interested", Event: "ignored"}, Then: "archive", Else: "done"},
		{Name: "archive", Kind: plan.StepSetProperty, Field: "lead.active", Value: "false"},
		{Name: "done", Kind: plan.StepExit},
	}})
	loop := mustWorkflow(t, &plan.Workflow{Name: "loop", Steps: []plan.Step{
		{Name: "a", Kind: plan.StepNotifyOwner, Template: "n"},
		{Name: "b", Kind: plan.StepBranch, Condition: "true", Then: "a"},
	}})
	sent := func(at time.Time, first map[string]time.Time) map[string]Engagement {
		return map[string]Engagement{"still_interested": {Sent: true, SentAt: at, First: first}}
	}
	for _, tc := range []struct {
		name string
		w    *Workflow
		st   WorkflowState
		f    WorkflowFacts
		want string
	}{
		{"a new enrollment waits an hour", cartW, WorkflowState{At: w0}, WorkflowFacts{Now: w0},
			"waited pause; next=reminder wake=03-02T10:00"},
		{"after the hour: reminder, then a day from when it went to the outbox", cartW, WorkflowState{Next: 1, At: w0.Add(time.Hour)}, WorkflowFacts{Now: w0.Add(time.Hour + 3*time.Minute)},
			"sent reminder; waited pause_2; next=discount wake=03-03T10:03"},
		{"down for three days: the reminder at once, the discount a day after it, not back to back", cartW, WorkflowState{At: w0}, WorkflowFacts{Now: w0.Add(72 * time.Hour)},
			"sent reminder; waited pause_2; next=discount wake=03-06T09:00"},
		{"goal reached exits before the next step", cartW, WorkflowState{Next: 1, At: w0.Add(time.Hour)}, WorkflowFacts{Now: w0.Add(time.Hour), GoalReached: true},
			"exited reminder; next=reminder exit=goal"},
		{"promoter: ask for a review, then the exit step", npsW, WorkflowState{At: w0}, WorkflowFacts{Now: w0, Conds: map[string]bool{"promoter": true}},
			"branched promoter; sent ask_review; exited done; next=end exit=completed"},
		{"detractor: apology and the owner told", npsW, WorkflowState{At: w0}, WorkflowFacts{Now: w0, Conds: map[string]bool{"detractor": true}},
			"branched promoter; branched detractor; sent apologize; notified tell_owner; exited done; next=end exit=completed"},
		{"passive: nothing sent", npsW, WorkflowState{At: w0}, WorkflowFacts{Now: w0, Conds: map[string]bool{}},
			"branched promoter; branched detractor; exited done; next=end exit=completed"},
		{"a condition that fails to evaluate reads false", npsW, WorkflowState{At: w0}, WorkflowFacts{Now: w0, CondErrs: map[string]string{"promoter": "no such key: score"}, Conds: map[string]bool{"detractor": false}},
			"branched promoter; branched detractor; exited done; next=end exit=completed"},
		{"the day before a future event date", event, WorkflowState{At: w0}, WorkflowFacts{Now: w0, Times: map[string]time.Time{"event.date": w0.Add(10 * 24 * time.Hour)}},
			"sent confirm; waited day_before; next=remind wake=03-11T09:00"},
		{"registered the day of the event: the reminder goes at once", event, WorkflowState{At: w0}, WorkflowFacts{Now: w0, Times: map[string]time.Time{"event.date": w0.Add(2 * time.Hour)}},
			"sent confirm; sent remind; exited ; next=end exit=completed"},
		{"no event date: the wait is skipped, saying so", event, WorkflowState{At: w0}, WorkflowFacts{Now: w0},
			"sent confirm; skipped day_before; sent remind; exited ; next=end exit=completed"},
		{"ignored for 14 days: archived, and the advance stops to re-read", engaged, WorkflowState{Next: 2, At: w0.Add(14 * 24 * time.Hour)}, WorkflowFacts{Now: w0.Add(14 * 24 * time.Hour), Steps: sent(w0, nil)},
			"branched answered; set archive; next=done wake=03-16T09:00"},
		{"clicked: not archived", engaged, WorkflowState{Next: 2, At: w0.Add(14 * 24 * time.Hour)}, WorkflowFacts{Now: w0.Add(14 * 24 * time.Hour), Steps: sent(w0, map[string]time.Time{"click": w0.Add(time.Hour)})},
			"branched answered; exited done; next=end exit=completed"},
		{"a loop without a wait ends the enrollment", loop, WorkflowState{At: w0}, WorkflowFacts{Now: w0, Conds: map[string]bool{"b": true}},
			"notified a; branched b; exited a; next=a exit=loop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := trace(tc.w, tc.w.Advance(tc.st, tc.f)); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestWorkflowABHoldsTheRemainderUntilDecided(t *testing.T) {
	p := cart()
	p.Steps[3].ABTest = &plan.ABTest{TestPercent: 30, Metric: "conversions", DecideAfter: "2d", Inconclusive: "send_all",
		Variants: []plan.Variant{{Name: "percent"}, {Name: "free_delivery"}}}
	w := mustWorkflow(t, p)
	held, tested := 0, 0
	for i := 0; i < 1000; i++ {
		key := strings.Repeat("k", 1+i%7) + string(rune('a'+i%26)) + time.Duration(i).String()
		d := w.Advance(WorkflowState{ContactKey: key, Next: 3, At: w0}, WorkflowFacts{Now: w0})
		switch {
		case d.Hold == "discount" && d.Next == 3:
			held++
		case d.Exit == ExitCompleted && d.Actions[0].Variant != "":
			tested++
		default:
			t.Fatalf("unexpected decision %s", trace(w, d))
		}
		decided := w.Advance(WorkflowState{ContactKey: key, Next: 3, At: w0}, WorkflowFacts{Now: w0, AB: map[string]ABOutcome{"discount": {Winner: "free_delivery"}}})
		if v := decided.Actions[0].Variant; d.Hold != "" && v != "free_delivery" {
			t.Fatalf("after the decision a held contact got %q, want the winner", v)
		}
	}
	if tested < 240 || tested > 360 {
		t.Errorf("%d of 1000 in the 30%% test group, want within binomial tolerance of 300", tested)
	}
	if held+tested != 1000 {
		t.Errorf("held %d + tested %d != 1000", held, tested)
	}
}

func TestCompileWorkflowErrors(t *testing.T) {
	for _, tc := range []struct {
		steps []plan.Step
		want  string
	}{
		{[]plan.Step{{Name: "a", Kind: plan.StepSend, Next: "nowhere"}}, `next "nowhere" is not a step`},
		{[]plan.Step{{Name: "a", Kind: plan.StepWait, Duration: "-1d"}}, "negative without relative_to"},
		{[]plan.Step{{Name: "a", Kind: plan.StepWait, Duration: "soon"}}, "wait:"},
		{[]plan.Step{{Name: "a", Kind: plan.StepBranch, Engagement: &plan.Engagement{Step: "b", Event: "clicked"}}, {Name: "b", Kind: plan.StepExit}}, "not a send step"},
		{[]plan.Step{{Name: "a", Kind: plan.StepAssignOwner, Field: "lead.owner"}}, "lists no owner"},
		{[]plan.Step{{Name: "a", Kind: "teleport"}}, `step kind "teleport" is not run`},
	} {
		_, err := CompileWorkflow(&plan.Workflow{Name: "w", Steps: tc.steps})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CompileWorkflow(%+v) = %v, want an error containing %q", tc.steps, err, tc.want)
		}
	}
}

func TestWorkflowPositionAfterAPlanChange(t *testing.T) {
	w := mustWorkflow(t, cart())
	if got := w.Position(1, "discount"); got != 3 {
		t.Errorf("waiting for discount, now at index 3: Position = %d", got)
	}
	if got := w.Position(2, "removed_step"); got != 2 {
		t.Errorf("a removed step resumes at the step that took its index: Position = %d, want 2", got)
	}
	if got := w.Position(9, "gone"); got != 4 {
		t.Errorf("past the end: Position = %d, want 4", got)
	}
}

// An engagement branch waits for a held message and gives a late one the
// time the workflow meant: the reaction window counts from when it went out.
func TestWorkflowEngagementWaitsForAHeldMessage(t *testing.T) {
	w := mustWorkflow(t, &plan.Workflow{Name: "quiet_leads", Steps: []plan.Step{
		{Name: "still_interested", Kind: plan.StepSend, Template: "s"},
		{Name: "pause", Kind: plan.StepWait, Duration: "14d"},
		{Name: "answered", Kind: plan.StepBranch, Engagement: &plan.Engagement{Step: "still_interested", Event: "ignored"}, Then: "archive", Else: "done"},
		{Name: "archive", Kind: plan.StepSetProperty, Field: "lead.active", Value: "false"},
		{Name: "done", Kind: plan.StepExit},
	}})
	at := w0.Add(14 * 24 * time.Hour)
	st := WorkflowState{Next: 2, At: at}
	held := w.Advance(st, WorkflowFacts{Now: at, Steps: map[string]Engagement{"still_interested": {Pending: true, EnqueuedAt: w0}}})
	if got := trace(w, held); got != "waited answered; next=answered wake=03-16T10:00" {
		t.Errorf("message still held: %s", got)
	}
	// Sent 10 days late, never opened: 14 days from the send, not from the decision.
	late := map[string]Engagement{"still_interested": {Sent: true, EnqueuedAt: w0, SentAt: w0.Add(10 * 24 * time.Hour)}}
	if got := trace(w, w.Advance(st, WorkflowFacts{Now: at, Steps: late})); got != "waited answered; next=answered wake=03-26T09:00" {
		t.Errorf("sent late, looked at too early: %s", got)
	}
	if got := trace(w, w.Advance(st, WorkflowFacts{Now: w0.Add(24 * 24 * time.Hour), Steps: late})); got != "branched answered; set archive; next=done wake=03-26T09:00" {
		t.Errorf("sent late, looked at 14 days after the send: %s", got)
	}
}

// A branch on a step sent in the same advance (no wait between them) waits for
// the message instead of judging it unsent.
func TestWorkflowEngagementOnAStepSentInTheSameAdvance(t *testing.T) {
	w := mustWorkflow(t, &plan.Workflow{Name: "w", Steps: []plan.Step{
		{Name: "mail", Kind: plan.StepSend, Template: "m"},
		{Name: "opened", Kind: plan.StepBranch, Engagement: &plan.Engagement{Step: "mail", Event: "opened"}, Then: "done", Else: "done"},
		{Name: "done", Kind: plan.StepExit},
	}})
	if got := trace(w, w.Advance(WorkflowState{At: w0}, WorkflowFacts{Now: w0})); got != "sent mail; waited opened; next=opened wake=03-02T10:00" {
		t.Errorf("got %s", got)
	}
}
