package engine_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// writtenStagePlan is testPlan with a stage field, two segments that leave
// qualified contacts out (one pushed down, one evaluated in process: string()
// has no SQL form), and workflows that mark a contact Qualified on a
// demo_request and clear the stage on a demo_cancelled.
func writtenStagePlan(t *testing.T, campaigns ...plan.Campaign) *plan.Plan {
	t.Helper()
	p := testPlan("Hi", campaigns...)
	p.Models[0].Fields = append(p.Models[0].Fields, plan.Field{Name: "stage", Column: "stage", Type: plan.TypeString, Nullable: true})
	const open = `c.active && !(c.stage in ["Qualified", "Won"])`
	p.Segments = append(p.Segments,
		plan.Segment{Name: "open", Model: "c", Filter: open},
		plan.Segment{Name: "open_slow", Model: "c", Filter: open + ` && string(c.active) in ["true", "false"]`},
		plan.Segment{Name: "staged", Model: "c", Filter: `c.active && has(c.stage)`})
	p.Workflows = []plan.Workflow{
		{Name: "qualify", Type: "lead_nurturing", Class: plan.ClassMarketing, Model: "c", Trigger: plan.Trigger{Event: "demo_request"},
			Steps: []plan.Step{{Name: "mark", Kind: plan.StepSetProperty, Field: "c.stage", Value: "Qualified"}}},
		{Name: "unqualify", Type: "lead_nurturing", Class: plan.ClassMarketing, Model: "c", Trigger: plan.Trigger{Event: "demo_cancelled"},
			Steps: []plan.Step{{Name: "unmark", Kind: plan.StepClearProperty, Field: "c.stage"}}},
	}
	p.Finalize()
	ev, err := segment.New(p)
	if err != nil {
		t.Fatal(err)
	}
	for seg, want := range map[string]segment.Path{"open": segment.Pushdown, "open_slow": segment.InProcess} {
		if x, err := ev.Explain(seg, t0); err != nil || x.Path != want {
			t.Fatalf("segment %s: %s (%s) %v, want %s", seg, x.Path, x.Reason, err, want)
		}
	}
	return p
}

// TestCampaignAudiencesSeeWhatWorkflowsWrote: a workflow run by the engine
// marks contact 4 Qualified; a campaign whose segment leaves qualified
// contacts out no longer mails it, whether the segment is pushed down or
// evaluated in process. Once another workflow clears the stage, the contact
// is in both audiences again, and its stage reads as NULL (has() is false),
// as templates and workflow conditions read a cleared property, not as the
// CRM's New.
func TestCampaignAudiencesSeeWhatWorkflowsWrote(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 8) // active: 2, 4, 6, 8
	rb.st.DB.MustExec(`ALTER TABLE contacts ADD COLUMN stage text`)
	rb.st.DB.MustExec(`UPDATE contacts SET stage = 'New'`)
	withSegment := func(name, seg string) plan.Campaign {
		c := campaign(name, "")
		c.Segment = seg
		return c
	}
	event := func(typ string) {
		t.Helper()
		if _, err := rb.st.InsertEvents(rb.ctx, []store.Event{{OccurredAt: rb.clock.Now(), Model: "c", ContactKey: "4", Type: typ, Properties: []byte(`{}`)}}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			rb.pass(t)
			if _, err := rb.eng.AdvanceDue(rb.ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	audiences := func() map[string]string {
		t.Helper()
		rb.pass(t)
		var rows []struct {
			Campaign   string `db:"campaign"`
			ContactKey string `db:"contact_key"`
		}
		if err := rb.st.DB.Select(&rows, `SELECT campaign, contact_key FROM campaignctl.outbox WHERE kind = 'campaign'`); err != nil {
			t.Fatal(err)
		}
		keys := map[string][]string{}
		for _, r := range rows {
			keys[r.Campaign] = append(keys[r.Campaign], r.ContactKey)
		}
		out := map[string]string{}
		for c, ks := range keys {
			sort.Strings(ks)
			out[c] = strings.Join(ks, " ")
		}
		return out
	}

	rb.apply(t, writtenStagePlan(t))
	event("demo_request")
	var v *string
	if err := rb.st.DB.Get(&v, `SELECT value FROM campaignctl.contact_properties WHERE model = 'c' AND contact_key = '4' AND field = 'stage'`); err != nil || v == nil || *v != "Qualified" {
		t.Fatalf("the workflow did not mark contact 4 Qualified: %v %v", v, err)
	}
	rb.apply(t, writtenStagePlan(t, withSegment("fast", "open"), withSegment("slow", "open_slow")))
	got := audiences()
	if want := map[string]string{"fast": "2 6 8", "slow": "2 6 8"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("with contact 4 marked Qualified: audiences %v, want %v", got, want)
	}

	event("demo_cancelled")
	rb.apply(t, writtenStagePlan(t, withSegment("fast", "open"), withSegment("slow", "open_slow"),
		withSegment("fast_after", "open"), withSegment("slow_after", "open_slow"), withSegment("staged_after", "staged")))
	got = audiences()
	if want := map[string]string{"fast": "2 6 8", "slow": "2 6 8", "fast_after": "2 4 6 8", "slow_after": "2 4 6 8", "staged_after": "2 6 8"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("once the stage is cleared: audiences %v, want %v", got, want)
	}
}
