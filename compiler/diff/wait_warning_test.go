package diff

import (
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// An edited relative_to of a workflow wait reaches the contacts already in
// the wait (the runner times them again from the new date, as it does a new
// arrival): the diff says so, as it does for an edited duration; a new wait
// step, where nobody waits yet, is not warned about.
func TestEditedWaitRelativeToIsWarnedAbout(t *testing.T) {
	mk := func(relativeTo, duration string) *plan.Plan {
		return &plan.Plan{Workflows: []plan.Workflow{{Name: "renew", Model: "customer", Steps: []plan.Step{
			{Name: "before", Kind: plan.StepWait, Duration: duration, RelativeTo: relativeTo},
			{Name: "remind", Kind: plan.StepSend, Template: "renewal"},
		}}}}
	}
	cases := []struct {
		name     string
		old, new *plan.Plan
		want     string
	}{
		{"relative_to changed", mk("customer.renews_at", "-7d"), mk("customer.expires_at", "-7d"),
			`workflow "renew" step before now counts its wait from customer.expires_at instead of customer.renews_at: contacts already waiting there are timed again from the new one, as contacts who reach the step from now on are (those whose new time has passed go on at once, and so do those for whom customer.expires_at is not set: the wait is skipped)`},
		{"relative_to added", mk("", "7d"), mk("customer.renews_at", "7d"),
			`workflow "renew" step before now counts its wait from customer.renews_at instead of when the contact reached the step: contacts already waiting there are timed again from the new one`},
		{"relative_to removed", mk("customer.renews_at", "7d"), mk("", "7d"),
			`workflow "renew" step before now counts its wait from when the contact reached the step instead of customer.renews_at: contacts already waiting there are timed again from the new one, as contacts who reach the step from now on are (those whose new time has passed go on at once)`},
		{"a new wait step", &plan.Plan{Workflows: []plan.Workflow{{Name: "renew", Model: "customer", Steps: []plan.Step{
			{Name: "remind", Kind: plan.StepSend, Template: "renewal"}}}}}, mk("customer.renews_at", "-7d"), ""},
		{"duration changed", mk("customer.renews_at", "-7d"), mk("customer.renews_at", "-3d"),
			`workflow "renew" step before now waits -3d instead of -7d: contacts already waiting there wait the new duration`},
	}
	for _, c := range cases {
		var got []string
		for _, w := range Plans(c.old, c.new).Warnings {
			if w.Code == WarnWorkflowWaitEdited {
				got = append(got, w.Message)
			}
		}
		if c.want == "" {
			if len(got) != 0 {
				t.Errorf("%s: warnings %q, want none (nobody waits in a new step)", c.name, got)
			}
			continue
		}
		if len(got) != 1 || !strings.HasPrefix(got[0], c.want) {
			t.Errorf("%s: warnings %q, want one starting %q", c.name, got, c.want)
		}
	}
}
