package main

import (
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// TestExplainShowsWhatWorkflowsWrote: a workflow of the applied plan writes
// lead.score, and wrote 60 for bob (12 in the CRM): explain reads bob in
// hot_lost, and its breakdown shows the value the segment read, so the two
// agree.
func TestExplainShowsWhatWorkflowsWrote(t *testing.T) {
	t.Parallel()
	url := seedExplain(t)
	p := explainPlan()
	p.Workflows = []plan.Workflow{{Name: "rescore", Type: "lead_nurturing", Class: plan.ClassMarketing, Model: "lead",
		Trigger: plan.Trigger{Event: "demo_request"},
		Steps:   []plan.Step{{Name: "score", Kind: plan.StepSetProperty, Field: "lead.score", Value: "60"}}}}
	p.Finalize()
	st := applyExplainPlan(t, url, p)
	st.DB.MustExec(`INSERT INTO campaignctl.contact_properties (model, contact_key, field, value, set_at, kind, object, step)
		VALUES ('lead', '2', 'score', '60', now(), 'workflow', 'rescore', 'score')`)
	code, stdout, stderr := runSub(runExplain, "--db", url, "lead:2", "winback")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	assertContainsLines(t, stdout, `
    segment hot_lost: member now
`+explainFilterLine+`
      true  lead.stage == "Lost"          lead.stage = "Lost"
      true  lead.score >= 50              lead.score = 60
      true  lead.country in ["FR", "DE"]  lead.country = "FR"
`)
}
