package engine

import (
	"fmt"
	"slices"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/flow"
)

// NotRun lists what p declares that this daemon does not carry out yet, one
// line each, so apply and serve can say so instead of accepting it silently.
// Campaigns, sequences, workflows and autoresponders (single and recurring)
// run, with quiet hours, frequency caps, and daily quotas and rates per
// sender applied at send time; an autoresponder that cannot compile is named
// with the reason, and a recurring one whose max_follow_ups stops its issues
// before its end (or at all, without an end) says when; an A/B test judged
// on conversions where there is no goal is decided by its inconclusive
// policy; a workflow this daemon cannot run (a condition calling an
// engagement predicate, an unknown step kind) is named with the reason.
func NotRun(p *plan.Plan) []string {
	var out []string
	for _, w := range workflowsOf(p) {
		if w.compileErr != nil {
			out = append(out, w.compileErr.Error()+": this workflow is not run")
		}
		for _, st := range w.p.Steps {
			if st.ABTest != nil && st.ABTest.Metric == "conversions" && w.p.Goal == "" {
				out = append(out, fmt.Sprintf("workflow %s / step %s: the A/B metric conversions counts contacts who reach the goal, and the workflow has none; the test is decided by its inconclusive policy (%s)", w.p.Name, st.Name, st.ABTest.Inconclusive))
			}
		}
	}
	for _, s := range seriesOf(p) {
		if s.Kind != flow.KindAutoresponder {
			continue
		}
		if s.compileErr != nil {
			out = append(out, s.compileErr.Error()+": this autoresponder is not run")
			continue
		}
		if s.recurring == nil {
			continue
		}
		// Not a limit of the daemon but of the plan, said here so that a
		// newsletter does not stop after max_follow_ups (10 unless written)
		// issues without anyone having been told.
		if last, cut := s.recurring.MaxCutsShort(); cut {
			until := "it has no end"
			if !s.End.IsZero() {
				until = "its end is " + s.End.Format(time.RFC3339)
			}
			out = append(out, fmt.Sprintf("autoresponder %s: max_follow_ups = %d stops each contact after %d issues (a contact enrolled at the start gets its last on %s), while %s; raise max_follow_ups to send more",
				s.Name, s.recurring.MaxIssues, s.recurring.MaxIssues, last.Format(time.RFC3339), until))
		}
	}
	for _, c := range p.Campaigns {
		if t := c.ABTest; t != nil && t.Metric == "conversions" {
			out = append(out, fmt.Sprintf("campaign %s: the A/B metric conversions is not measured for one-off campaigns, which have no goal; the test is decided by its inconclusive policy (%s)", c.Name, t.Inconclusive))
		}
	}
	for _, s := range p.Sequences {
		for _, st := range s.Steps {
			if st.ABTest != nil && st.ABTest.Metric == "conversions" && s.Goal == "" {
				out = append(out, fmt.Sprintf("sequence %s / step %s: the A/B metric conversions counts contacts who reach the goal, and the sequence has none; the test is decided by its inconclusive policy (%s)", s.Name, st.Name, st.ABTest.Inconclusive))
			}
		}
	}
	for _, pol := range p.Policies {
		// Suppression is one list checked at claim time for every class; a
		// class other than marketing may bypass an unsubscribe or a
		// blacklisting (policy.BypassesSuppression), and a policy cannot
		// narrow the list.
		if len(pol.Suppress) > 0 {
			for _, src := range plan.SuppressionSources {
				if !slices.Contains(pol.Suppress, src) {
					out = append(out, fmt.Sprintf("policy %s: suppress leaves out %s, but every suppression source is honoured", pol.Name, src))
				}
			}
		}
	}
	return out
}
