package diff_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// The compiler does not read workflows, sequences, policies or autoresponders
// from HCL yet, so the golden cases for those kinds are plan files. They are
// generated here, through plan.Finalize, so their hashes are right and they
// cannot drift from the plan types: TestPlanFixtures fails when a file differs
// from what this code produces, and -update rewrites it.

type planFixture struct {
	name     string
	old, new *plan.Plan
}

func planFixtures() []planFixture {
	return []planFixture{
		workflowChange(),
		stepOrder(),
		sequenceChange(),
		addRemoveFlows(),
		policyAutoresponder(),
		campaignClassABTest(),
	}
}

func TestPlanFixtures(t *testing.T) {
	for _, f := range planFixtures() {
		for side, p := range map[string]*plan.Plan{"old": f.old, "new": f.new} {
			p.Finalize()
			data, err := plan.Encode(p)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(casesDir, f.name, side+".plan.json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./compiler/diff -update)", err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("%s is not what planFixtures generates: run go test ./compiler/diff -update and review", path)
			}
		}
	}
}

// basePlan holds what every fixture refers to: a model, a segment, a sender
// and templates.
func basePlan() *plan.Plan {
	p := &plan.Plan{
		Models: []plan.Model{{
			Name: "lead", Table: "crm_lead", Key: "id", Email: "email_from",
			Fields: []plan.Field{
				{Name: "name", Column: "name", Type: plan.TypeString},
				{Name: "stage", Column: "stage", Type: plan.TypeString},
				{Name: "cart_value", Column: "cart_value", Type: plan.TypeFloat},
			},
		}},
		Segments: []plan.Segment{
			{Name: "lost_not_enough_stock", Model: "lead", Filter: "lead.stage == \"Lost\""},
			{Name: "trial_users", Model: "lead", Filter: "lead.stage == \"Trial\""},
		},
		Senders: []plan.Sender{{Name: "warehouse", From: "Acme Warehouse <news@acme.example>"}},
	}
	for _, name := range []string{
		"back_in_stock", "reminder", "followup", "last_chance", "cart_reminder",
		"cart_reminder_v2", "cart_discount", "owner_alert", "welcome", "tips", "survey",
		"trial_day3", "trial_day10", "trial_day10_v2", "trial_day20", "receipt",
		"subject_a", "subject_b",
	} {
		p.Templates = append(p.Templates, plan.Template{
			Name: name, Subject: "Subject of " + name, Class: plan.ClassMarketing,
			Text: "Hello {{ .lead.name }}\nUnsubscribe: {{ .unsubscribe_url }}\n",
		})
	}
	return p
}

func cartRecovery() plan.Workflow {
	return plan.Workflow{
		Name: "cart_recovery", Type: "abandoned_cart", Model: "lead", Class: plan.ClassMarketing,
		Sender:  "warehouse",
		Trigger: plan.Trigger{Event: "cart_abandoned", Filter: "event.value > 20.0"},
		Goal:    "lead.stage == \"Customer\"",
		Steps: []plan.Step{
			{Name: "wait1", Kind: plan.StepWait, Duration: "1h"},
			{Name: "remind", Kind: plan.StepSend, Template: "cart_reminder"},
			{Name: "check", Kind: plan.StepBranch, Engagement: &plan.Engagement{Step: "remind", Event: "opened", Within: "2d"}, Then: "done", Else: "discount"},
			{Name: "discount", Kind: plan.StepSend, Template: "cart_discount", Next: "done"},
			{Name: "done", Kind: plan.StepExit},
		},
	}
}

// workflowChange edits a workflow every way a step can change: a wait's
// duration, a send's template (already-sent warning), a branch's engagement and
// target, a step added and one removed, the trigger, the goal and the class.
func workflowChange() planFixture {
	oldP, newP := basePlan(), basePlan()
	oldP.Workflows = []plan.Workflow{cartRecovery()}
	w := cartRecovery()
	w.Class = plan.ClassTransactional
	w.Trigger.Filter = "event.value > 50.0\n&& lead.stage != \"Customer\""
	w.Goal = "lead.stage in [\"Customer\", \"Won\"]"
	w.Steps = []plan.Step{
		{Name: "wait1", Kind: plan.StepWait, Duration: "2h"},
		{Name: "remind", Kind: plan.StepSend, Template: "cart_reminder_v2"},
		{Name: "check", Kind: plan.StepBranch, Engagement: &plan.Engagement{Step: "remind", Event: "clicked", Within: "2d"}, Then: "notify", Else: "discount"},
		{Name: "discount", Kind: plan.StepSend, Template: "cart_discount"},
		{Name: "notify", Kind: plan.StepNotifyOwner, Template: "owner_alert"},
	}
	newP.Workflows = []plan.Workflow{w}
	return planFixture{"workflow-change", oldP, newP}
}

func onboarding(order ...string) plan.Workflow {
	steps := map[string]plan.Step{
		"welcome": {Name: "welcome", Kind: plan.StepSend, Template: "welcome"},
		"wait_3d": {Name: "wait_3d", Kind: plan.StepWait, Duration: "3d"},
		"tips":    {Name: "tips", Kind: plan.StepSend, Template: "tips"},
		"wait_7d": {Name: "wait_7d", Kind: plan.StepWait, Duration: "7d"},
		"survey":  {Name: "survey", Kind: plan.StepSend, Template: "survey"},
	}
	w := plan.Workflow{
		Name: "onboarding", Type: "customer_onboarding", Model: "lead", Class: plan.ClassMarketing,
		Sender:  "warehouse",
		Trigger: plan.Trigger{Event: "lifecycle_change", Filter: "lead.stage == \"Customer\""},
	}
	for _, n := range order {
		w.Steps = append(w.Steps, steps[n])
	}
	return w
}

// stepOrder moves steps without editing them: one Reorder, nothing else.
func stepOrder() planFixture {
	oldP, newP := basePlan(), basePlan()
	oldP.Workflows = []plan.Workflow{onboarding("welcome", "wait_3d", "tips", "wait_7d", "survey")}
	newP.Workflows = []plan.Workflow{onboarding("welcome", "wait_3d", "survey", "wait_7d", "tips")}
	return planFixture{"step-order", oldP, newP}
}

// nurture is the seed's sequence: week 1 to everyone, week 2 depending on what
// the lead did with week 1, week 3 to every lead that has not converted.
func nurture() plan.Sequence {
	return plan.Sequence{
		Name: "back_in_stock_nurture", Model: "lead", Segment: "lost_not_enough_stock",
		Sender: "warehouse", Goal: "lead.stage == \"Won\"",
		Steps: []plan.SequenceStep{
			{Name: "week1", Offset: "0d", Template: "back_in_stock"},
			{Name: "week2_ignored", Offset: "7d", Template: "reminder", When: &plan.Engagement{Step: "week1", Event: "ignored"}},
			{Name: "week2_clicked", Offset: "7d", Template: "followup", When: &plan.Engagement{Step: "week1", Event: "clicked"}},
			{Name: "week3", Offset: "14d", Template: "last_chance"},
		},
	}
}

// sequenceChange turns a one-email week 2 into the seed's two-way week 2,
// moves week 3 and gives it an A/B test.
func sequenceChange() planFixture {
	oldP, newP := basePlan(), basePlan()
	s := nurture()
	s.Goal = "lead.stage == \"Won\" || lead.stage == \"Customer\""
	s.Steps = []plan.SequenceStep{
		{Name: "week1", Offset: "0d", Template: "back_in_stock"},
		{Name: "week2", Offset: "7d", Template: "reminder"},
		{Name: "week3", Offset: "14d", Template: "last_chance"},
	}
	oldP.Sequences = []plan.Sequence{s}
	s = nurture()
	s.Steps[3].Offset = "21d"
	s.Steps[3].ABTest = &plan.ABTest{
		Variants:    []plan.Variant{{Name: "a", Subject: "20% off, last chance"}, {Name: "b", Subject: "Last chance: 20% off"}},
		TestPercent: 20, Metric: "click_rate", DecideAfter: "24h", Inconclusive: "send_first",
	}
	newP.Sequences = []plan.Sequence{s}
	return planFixture{"sequence-change", oldP, newP}
}

func trialFollowups() plan.Autoresponder {
	return plan.Autoresponder{
		Name: "trial_followups", Model: "lead", Segment: "trial_users", Sender: "warehouse",
		Mode: "single", Start: "2026-01-05",
		FollowUps: []plan.FollowUp{
			{Name: "day3", Offset: "3d", Template: "trial_day3"},
			{Name: "day10", Offset: "10d", Template: "trial_day10"},
		},
		DoNotEmail: "blacklisted",
	}
}

// addRemoveFlows adds a workflow and a sequence (both drawn in the Markdown)
// and removes a workflow and an autoresponder (both warned about).
func addRemoveFlows() planFixture {
	oldP, newP := basePlan(), basePlan()
	oldP.Workflows = []plan.Workflow{{
		Name: "blog_welcome", Type: "blog_welcome", Model: "lead", Class: plan.ClassMarketing,
		Sender:  "warehouse",
		Trigger: plan.Trigger{Event: "blog_subscription"},
		Steps:   []plan.Step{{Name: "hello", Kind: plan.StepSend, Template: "welcome"}},
	}}
	oldP.Autoresponders = []plan.Autoresponder{trialFollowups()}
	newP.Workflows = []plan.Workflow{cartRecovery()}
	newP.Sequences = []plan.Sequence{nurture()}
	return planFixture{"add-remove-flows", oldP, newP}
}

func defaultPolicy() plan.Policy {
	return plan.Policy{
		Name: "default", DailyQuota: 5000, RatePerMinute: 100,
		QuietHours: &plan.QuietHours{Start: "21:00", End: "08:00"},
		Suppress:   []string{"unsubscribed", "blacklisted", "hard_bounce"},
		Bypass:     map[string][]string{plan.ClassTransactional: {"quiet_hours", "frequency_cap"}},
	}
}

// policyAutoresponder changes a policy's numbers, nested blocks, lists and map
// entries, and an autoresponder's follow-ups (one re-templated, one added) and
// a boolean that is not omitempty.
func policyAutoresponder() planFixture {
	oldP, newP := basePlan(), basePlan()
	oldP.Policies = []plan.Policy{defaultPolicy()}
	oldP.Autoresponders = []plan.Autoresponder{trialFollowups()}
	p := defaultPolicy()
	p.DailyQuota = 8000
	p.QuietHours.Start = "20:00"
	p.FrequencyCap = &plan.FrequencyCap{Max: 3, Per: "7d"}
	p.Suppress = append(p.Suppress, "complaint")
	p.Bypass[plan.ClassTransactional] = []string{"quiet_hours", "frequency_cap", "unsubscribed"}
	p.Bypass[plan.ClassInternal] = []string{"quiet_hours"}
	p.AudienceGrowthWarnPercent = 25
	newP.Policies = []plan.Policy{p}
	a := trialFollowups()
	a.ExcludeResponders = true
	a.FollowUps[1].Template = "trial_day10_v2"
	a.FollowUps = append(a.FollowUps, plan.FollowUp{Name: "day20", Offset: "20d", Template: "trial_day20"})
	newP.Autoresponders = []plan.Autoresponder{a}
	return planFixture{"policy-autoresponder", oldP, newP}
}

// campaignClassABTest turns a marketing campaign transactional and edits an A/B
// test's variants (matched by name) of another.
func campaignClassABTest() planFixture {
	oldP, newP := basePlan(), basePlan()
	receipt := plan.Campaign{Name: "order_receipts", Segment: "trial_users", Template: "receipt", Sender: "warehouse", Class: plan.ClassMarketing}
	promo := plan.Campaign{
		Name: "spring_promo", Segment: "lost_not_enough_stock", Template: "back_in_stock", Sender: "warehouse",
		Class: plan.ClassMarketing, SendAt: "2026-04-01T09:00:00Z",
		ABTest: &plan.ABTest{
			Variants:    []plan.Variant{{Name: "a", Template: "subject_a"}, {Name: "b", Subject: "Spring is here"}},
			TestPercent: 10, Metric: "open_rate", DecideAfter: "4h", Inconclusive: "send_first",
		},
	}
	oldP.Campaigns = []plan.Campaign{receipt, promo}
	receipt.Class = plan.ClassTransactional
	promo.ABTest = &plan.ABTest{
		Variants: []plan.Variant{
			{Name: "a", Template: "subject_a"},
			{Name: "b", Subject: "Spring has sprung"},
			{Name: "c", Template: "subject_b"},
		},
		TestPercent: 20, Metric: "open_rate", DecideAfter: "4h", Inconclusive: "send_all",
	}
	newP.Campaigns = []plan.Campaign{receipt, promo}
	return planFixture{"campaign-class-abtest", oldP, newP}
}
