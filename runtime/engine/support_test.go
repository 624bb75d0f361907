package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

func TestNotRunNamesWhatTheDaemonIgnores(t *testing.T) {
	t.Parallel()
	if got := NotRun(&plan.Plan{Campaigns: []plan.Campaign{{Name: "plain", Template: "t"}}, Sequences: []plan.Sequence{{Name: "s"}},
		Policies: []plan.Policy{{Name: "default", QuietHours: &plan.QuietHours{Start: "21:00", End: "08:00"}}}}); len(got) != 0 {
		t.Fatalf("a plain campaign, a sequence and quiet hours are run, NotRun says %v", got)
	}
	p := &plan.Plan{
		Models: []plan.Model{{Name: "lead", Fields: []plan.Field{{Name: "score", Type: plan.TypeInt}}}},
		Workflows: []plan.Workflow{{Name: "ok", Model: "lead", Trigger: plan.Trigger{Event: "page_view"}, Steps: []plan.Step{{Name: "b", Kind: plan.StepBranch, Condition: "lead.score > 3"}}},
			{Name: "seg", Model: "lead", Trigger: plan.Trigger{Event: "page_view"}, Steps: []plan.Step{{Name: "b", Kind: plan.StepBranch, Condition: "segment.vip"}}}},
		Sequences: []plan.Sequence{{Name: "n", Steps: []plan.SequenceStep{{Name: "w1", ABTest: &plan.ABTest{Metric: "conversions", Inconclusive: "send_first"}}}},
			{Name: "g", Goal: "lead.won", Steps: []plan.SequenceStep{{Name: "w1", ABTest: &plan.ABTest{Metric: "conversions"}}, {Name: "w2", ABTest: &plan.ABTest{Metric: "revenue"}}}}},
		Campaigns: []plan.Campaign{{Name: "ab", Template: "t", ABTest: &plan.ABTest{Metric: "conversions"}, Policy: "eu"}, {Name: "ab2", Template: "t", ABTest: &plan.ABTest{Metric: "click_rate"}},
			{Name: "ab3", Template: "t", ABTest: &plan.ABTest{Metric: "revenue"}}},
		Policies: []plan.Policy{{Name: "eu", FrequencyCap: &plan.FrequencyCap{Max: 3, Per: "7d"}, DailyQuota: 10,
			Bypass:   map[string][]string{plan.ClassTransactional: {"quiet_hours", "unsubscribed"}},
			Suppress: []string{"unsubscribed", "blacklisted", "hard_bounce"}}},
	}
	got := strings.Join(NotRun(p), "\n")
	for _, want := range []string{"workflow seg: step b: if \"segment.vip\"", "campaign ab: the A/B metric conversions", "sequence n / step w1: the A/B metric conversions", "policy eu: suppress leaves out complaint"} {
		if !strings.Contains(got, want) {
			t.Errorf("NotRun lacks %q:\n%s", want, got)
		}
	}
	// A transactional bypass of unsubscribes runs (TestSuppressionBypassByClass);
	// revenue is measured, and conversions under a goal.
	if strings.Contains(got, "autoresponder") || strings.Contains(got, "sequence(s)") || strings.Contains(got, "workflow ok") || strings.Contains(got, "bypass") ||
		strings.Contains(got, "revenue") || strings.Contains(got, "sequence g") || strings.Contains(got, "ab3") {
		t.Errorf("NotRun names what the plan does not have or what runs:\n%s", got)
	}
	// Autoresponders: single and recurring ones run; one that cannot compile
	// is named; a recurrence that max_follow_ups cuts short says so, one it
	// does not is not named.
	monthly := &plan.Recurrence{Unit: "month", Every: 1, DayOfMonth: 1}
	ar := NotRun(&plan.Plan{Autoresponders: []plan.Autoresponder{{Name: "a", Mode: "single"},
		{Name: "year", Mode: "multiple", Template: "t", Recurrence: monthly, Start: "2026-01-01", End: "2027-01-01", MaxFollowUps: 12},
		{Name: "news", Mode: "multiple", Template: "t", Recurrence: monthly, Start: "2026-01-01", MaxFollowUps: 10},
		{Name: "m", Mode: "multiple"}}})
	want := []string{
		"autoresponder m: mode multiple needs recurrence: this autoresponder is not run",
		"autoresponder news: max_follow_ups = 10 stops each contact after 10 issues (a contact enrolled at the start gets its last on 2026-10-01T00:00:00Z), while it has no end; raise max_follow_ups to send more",
	}
	if strings.Join(ar, "\n") != strings.Join(want, "\n") {
		t.Errorf("NotRun for autoresponders:\n%s\nwant\n%s", strings.Join(ar, "\n"), strings.Join(want, "\n"))
	}
}

// What a workflow writes (set_property, clear_property, assign_owner) is seen
// by every reader of a contact's fields (workflow conditions, templates,
// segments, do_not_email, consent, the time zone): apply and serve, which
// until 2026-12-05 named once per model the fields only some readers saw,
// have nothing to say about it.
func TestNotRunIsQuietAboutFieldsWorkflowsWrite(t *testing.T) {
	t.Parallel()
	p := &plan.Plan{
		Models: []plan.Model{
			{Name: "lead", Table: "crm_lead", Fields: []plan.Field{{Name: "stage", Type: plan.TypeString}, {Name: "owner", Type: plan.TypeString}}},
			{Name: "customer", Table: "crm_customer", Fields: []plan.Field{{Name: "owner", Type: plan.TypeString, Nullable: true}}},
		},
		Workflows: []plan.Workflow{
			{Name: "qualify", Trigger: plan.Trigger{Event: "page_view"}, Model: "lead", Steps: []plan.Step{
				{Name: "mark", Kind: plan.StepSetProperty, Field: "lead.stage", Value: "Qualified"},
				{Name: "route", Kind: plan.StepAssignOwner, Field: "lead.owner", Owners: []string{"a@example.com"}},
			}},
			{Name: "again", Trigger: plan.Trigger{Event: "page_view"}, Model: "lead", Steps: []plan.Step{{Name: "mark", Kind: plan.StepSetProperty, Field: "lead.stage", Value: "Won"}}},
			{Name: "tidy", Trigger: plan.Trigger{Event: "page_view"}, Model: "customer", Steps: []plan.Step{{Name: "clear", Kind: plan.StepClearProperty, Field: "customer.owner"}}},
			{Name: "plain", Trigger: plan.Trigger{Event: "page_view"}, Model: "customer", Steps: []plan.Step{{Name: "hi", Kind: plan.StepSend, Template: "t"}}},
		},
	}
	if got := NotRun(p); len(got) != 0 {
		t.Errorf("NotRun: %q, want nothing", got)
	}
}

// withWrites lays what workflows wrote over a contact's CRM row as the CRM
// would give it, for templates as for consent: converted to the field's
// type, a cleared value missing, a value not of the field's form (and a
// list, which a workflow can only clear) missing as a segment's NULL; the
// CRM's row itself is not changed.
func TestWithWritesConvertsWhatWorkflowsWrote(t *testing.T) {
	t.Parallel()
	m := &plan.Model{Name: "lead", Fields: []plan.Field{
		{Name: "stage", Type: plan.TypeString}, {Name: "score", Type: plan.TypeInt}, {Name: "vip", Type: plan.TypeBool},
		{Name: "seen", Type: plan.TypeTimestamp}, {Name: "owner", Type: plan.TypeString}, {Name: "tags", Type: plan.TypeStringList},
		{Name: "odd", Type: plan.TypeInt},
	}}
	str := func(s string) *string { return &s }
	b := batchContacts{props: map[string]map[string]map[string]*string{"lead": {"7": {
		"stage": str("Qualified"), "score": str("42"), "vip": str("true"), "seen": str("2026-12-01T10:00:00Z"),
		"owner": nil, "tags": str("{a,b}"), "odd": str("many"), "unknown": str("x"),
	}}}, written: map[string]map[string]bool{"lead": {"stage": true, "score": true, "vip": true, "seen": true, "owner": true, "tags": true, "odd": true}}}
	crm := map[string]any{"stage": "New", "score": int64(1), "vip": false, "owner": "ann@acme.example"}
	got := b.withWrites(m, "7", crm)
	want := map[string]any{"stage": "Qualified", "score": int64(42), "vip": true,
		"seen": time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("withWrites = %v, want %v", got, want)
	}
	if crm["stage"] != "New" || crm["owner"] != "ann@acme.example" || len(crm) != 4 {
		t.Errorf("the CRM's row was changed: %v", crm)
	}
	if other := b.withWrites(m, "8", crm); fmt.Sprint(other) != fmt.Sprint(crm) {
		t.Errorf("a contact no workflow wrote for: %v, want its CRM row", other)
	}
}
