package engine

import (
	"fmt"
	"slices"
	"sort"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// NotRun lists what p declares that this daemon does not carry out yet, one
// line each, so apply and serve can say so instead of accepting it silently.
// Campaigns, sequences, workflows and single-mode autoresponders run, with
// quiet hours and frequency caps applied at send time; multiple-mode
// (recurring) autoresponders do not run; a campaign's A/B test is not
// applied; daily quotas and send rates are not enforced; an A/B test judged
// on revenue is decided by its inconclusive policy; a workflow this daemon
// cannot run (a condition reading a segment, an unknown step kind) is named
// with the reason.
func NotRun(p *plan.Plan) []string {
	var out []string
	for _, w := range workflowsOf(p) {
		if w.compileErr != nil {
			out = append(out, w.compileErr.Error()+": this workflow is not run")
		}
		for _, st := range w.p.Steps {
			if st.ABTest != nil && st.ABTest.Metric == "revenue" {
				out = append(out, fmt.Sprintf("workflow %s / step %s: the A/B metric revenue is not measured; the test is decided by its inconclusive policy (%s)", w.p.Name, st.Name, st.ABTest.Inconclusive))
			}
		}
	}
	for _, a := range p.Autoresponders {
		if a.Mode != "single" {
			out = append(out, fmt.Sprintf("autoresponder %s: mode %s (a recurrence) is not run by this version of the daemon; only mode single is", a.Name, a.Mode))
		}
	}
	for _, c := range p.Campaigns {
		if t := c.ABTest; t != nil && (t.Metric == "conversions" || t.Metric == "revenue") {
			out = append(out, fmt.Sprintf("campaign %s: the A/B metric %s is not measured for one-off campaigns; the test is decided by its inconclusive policy (%s)", c.Name, t.Metric, t.Inconclusive))
		}
	}
	for _, s := range p.Sequences {
		for _, st := range s.Steps {
			if st.ABTest != nil && st.ABTest.Metric == "revenue" {
				out = append(out, fmt.Sprintf("sequence %s / step %s: the A/B metric revenue is not measured; the test is decided by its inconclusive policy (%s)", s.Name, st.Name, st.ABTest.Inconclusive))
			}
		}
	}
	for _, pol := range p.Policies {
		var off []string
		if pol.DailyQuota > 0 {
			off = append(off, "daily_quota")
		}
		if pol.RatePerMinute > 0 {
			off = append(off, "rate_per_minute")
		}
		if len(off) > 0 {
			out = append(out, fmt.Sprintf("policy %s: %v not enforced yet (quiet hours, the frequency cap and suppression are)", pol.Name, off))
		}
		// Suppression is one list checked at claim time for every class: a
		// class cannot bypass it, and a policy cannot narrow it.
		for _, class := range sortedKeys(pol.Bypass) {
			for _, rule := range pol.Bypass[class] {
				if rule == "unsubscribed" || rule == "blacklisted" {
					out = append(out, fmt.Sprintf("policy %s: bypass %s %s is not applied: suppressed addresses get no mail of any class", pol.Name, class, rule))
				}
			}
		}
		if len(pol.Suppress) > 0 {
			for _, src := range []string{"unsubscribed", "blacklisted", "hard_bounce", "complaint"} {
				if !slices.Contains(pol.Suppress, src) {
					out = append(out, fmt.Sprintf("policy %s: suppress leaves out %s, but every suppression source is honoured", pol.Name, src))
				}
			}
		}
	}
	return out
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
