package engine

import (
	"fmt"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// NotRun lists what p declares that this daemon does not carry out yet, one
// line each, so apply and serve can say so instead of accepting it silently:
// workflows, sequences and autoresponders are not run, and a campaign's A/B
// test and policy are not applied (the campaign goes to its whole segment with
// its template, without quotas, quiet hours or frequency caps).
func NotRun(p *plan.Plan) []string {
	var out []string
	count := func(n int, what string) {
		if n > 0 {
			out = append(out, fmt.Sprintf("%d %s: not run by this version of the daemon", n, what))
		}
	}
	count(len(p.Workflows), "workflow(s)")
	count(len(p.Sequences), "sequence(s)")
	count(len(p.Autoresponders), "autoresponder(s)")
	for _, c := range p.Campaigns {
		if c.ABTest != nil {
			out = append(out, fmt.Sprintf("campaign %s: its A/B test is not applied; every recipient gets template %s", c.Name, c.Template))
		}
		if c.Policy != "" {
			out = append(out, fmt.Sprintf("campaign %s: policy %s (quotas, send rate, quiet hours, frequency cap) is not applied", c.Name, c.Policy))
		}
	}
	return out
}
