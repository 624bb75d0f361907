package engine

import (
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

func TestNotRunNamesWhatTheDaemonIgnores(t *testing.T) {
	if got := NotRun(&plan.Plan{Campaigns: []plan.Campaign{{Name: "plain", Template: "t"}}}); len(got) != 0 {
		t.Fatalf("a plain campaign is run, NotRun says %v", got)
	}
	p := &plan.Plan{
		Workflows: []plan.Workflow{{}, {}},
		Sequences: []plan.Sequence{{}},
		Campaigns: []plan.Campaign{{Name: "ab", Template: "t", ABTest: &plan.ABTest{}, Policy: "eu"}},
	}
	got := strings.Join(NotRun(p), "\n")
	for _, want := range []string{"2 workflow(s)", "1 sequence(s)", "campaign ab: its A/B test", "campaign ab: policy eu"} {
		if !strings.Contains(got, want) {
			t.Errorf("NotRun lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "autoresponder") {
		t.Errorf("NotRun names autoresponders the plan does not have:\n%s", got)
	}
}
