package engine_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

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
		rb.workflowEvent(t, "4", typ)
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

// optInPlan is testPlan with campaigns under an opt_in policy whose
// consent condition reads the bool field c.opt_in (the column opt_in the
// test adds to contacts), the template sent under subscription type news;
// not finalized.
func optInPlan(campaigns ...plan.Campaign) *plan.Plan {
	p := testPlan("Hi", campaigns...)
	m := &p.Models[0]
	m.Fields = append(m.Fields, plan.Field{Name: "opt_in", Column: "opt_in", Type: plan.TypeBool, Nullable: true})
	m.Consent = "c.opt_in"
	m.Subscriptions = []plan.Subscription{{Name: "news"}}
	p.Templates[0].Subscription = "news"
	p.Policies = []plan.Policy{{Name: "default", Consent: plan.ConsentOptIn}}
	return p
}

// TestConsentSeesWhatWorkflowsWrote: under an opt_in policy whose consent
// condition reads c.opt_in (false for every contact in the CRM), a workflow
// run by the engine that sets c.opt_in to true for contact 4 grants it
// consent: the campaign mails contact 4 only, and the preference center shows
// its box ticked. Once another workflow clears the field, consent is gone
// again (a cleared field reads as missing, i.e. false).
func TestConsentSeesWhatWorkflowsWrote(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 8) // active: 2, 4, 6, 8
	rb.st.DB.MustExec(`ALTER TABLE contacts ADD COLUMN opt_in bool NOT NULL DEFAULT false`)
	consentPlan := func(campaigns ...plan.Campaign) *plan.Plan {
		p := optInPlan(campaigns...)
		p.Workflows = []plan.Workflow{
			{Name: "grant", Type: "lead_nurturing", Class: plan.ClassMarketing, Model: "c", Trigger: plan.Trigger{Event: "opted_in"},
				Steps: []plan.Step{{Name: "grant", Kind: plan.StepSetProperty, Field: "c.opt_in", Value: "true"}}},
			{Name: "revoke", Type: "lead_nurturing", Class: plan.ClassMarketing, Model: "c", Trigger: plan.Trigger{Event: "opted_out"},
				Steps: []plan.Step{{Name: "revoke", Kind: plan.StepClearProperty, Field: "c.opt_in"}}},
		}
		p.Finalize()
		return p
	}
	event := func(typ string) {
		t.Helper()
		rb.workflowEvent(t, "4", typ)
	}
	sent := func() map[string]string {
		t.Helper()
		rb.pass(t)
		var rows []struct {
			Campaign   string `db:"campaign"`
			ContactKey string `db:"contact_key"`
		}
		if err := rb.st.DB.Select(&rows, `SELECT campaign, contact_key FROM campaignctl.outbox WHERE kind = 'campaign' AND status = 'sent' ORDER BY 1, 2`); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range rows {
			out[r.Campaign] = strings.TrimSpace(out[r.Campaign] + " " + r.ContactKey)
		}
		return out
	}
	boxes := func() string {
		t.Helper()
		var out []string
		for _, k := range []string{"2", "4"} {
			got, err := rb.eng.PreferenceDefaults(rb.ctx, "c", k)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s:news=%v", k, got["news"]))
		}
		return strings.Join(out, " ")
	}

	rb.apply(t, consentPlan())
	event("opted_in")
	rb.apply(t, consentPlan(campaign("granted", "")))
	if got, want := sent(), map[string]string{"granted": "4"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("with contact 4's consent set by a workflow: sent %v, want %v", got, want)
	}
	if got, want := boxes(), "2:news=false 4:news=true"; got != want {
		t.Errorf("preference center with contact 4's consent set by a workflow: %s, want %s", got, want)
	}

	event("opted_out")
	rb.apply(t, consentPlan(campaign("granted", ""), campaign("revoked", "")))
	if got, want := sent(), map[string]string{"granted": "4"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("once a workflow cleared contact 4's consent: sent %v, want %v", got, want)
	}
	if got, want := boxes(), "2:news=false 4:news=false"; got != want {
		t.Errorf("preference center once a workflow cleared contact 4's consent: %s, want %s", got, want)
	}
}

// TestQuietHoursSeeTheTimeZoneWorkflowsWrote: every contact is in Paris in
// the CRM (18:14, outside quiet hours); a workflow moved contact 2 to Tokyo
// (02:14, inside them): its promo is held until 08:00 Tokyo, the others go.
func TestQuietHoursSeeTheTimeZoneWorkflowsWrote(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	db := b.st.DB
	db.MustExec(`CREATE TABLE people (id int PRIMARY KEY, email text, tz text)`)
	db.MustExec(`INSERT INTO people SELECT i, 'p' || i || '@example.com', 'Europe/Paris' FROM generate_series(1, 4) i`)
	db.MustExec(`INSERT INTO campaignctl.contact_properties (model, contact_key, field, value, set_at, kind, object, step)
		VALUES ('person', '2', 'tz', 'Asia/Tokyo', now(), 'workflow', 'relocate', 'move')`)
	p := &plan.Plan{
		Models: []plan.Model{{Name: "person", Table: "people", Key: "id", Email: "email", TimeZone: "tz", Fields: []plan.Field{
			{Name: "tz", Column: "tz", Type: plan.TypeString},
		}}},
		Segments:  []plan.Segment{{Name: "everyone", Model: "person", Filter: "true"}},
		Senders:   []plan.Sender{{Name: "s", From: "Shop <news@shop.example>"}},
		Policies:  []plan.Policy{{Name: "default", QuietHours: &plan.QuietHours{Start: "21:00", End: "08:00"}}},
		Templates: []plan.Template{{Name: "promo", Subject: "Promo", Text: "Hi {{ .unsubscribe_url }}", Class: plan.ClassMarketing}},
		Campaigns: []plan.Campaign{{Name: "promo", Segment: "everyone", Template: "promo", Sender: "s", Class: plan.ClassMarketing}},
		Workflows: []plan.Workflow{{Name: "relocate", Type: "lead_nurturing", Class: plan.ClassMarketing, Model: "person", Trigger: plan.Trigger{Event: "moved"},
			Steps: []plan.Step{{Name: "move", Kind: plan.StepSetProperty, Field: "person.tz", Value: "Asia/Tokyo"}}}},
	}
	p.Finalize()
	b.clock.Set(time.Date(2026, 12, 1, 17, 14, 0, 0, time.UTC))
	b.apply(t, p)
	b.pass(t)
	var rows []struct {
		Key    string `db:"contact_key"`
		Status string `db:"status"`
		Err    string `db:"last_error"`
	}
	if err := db.Select(&rows, `SELECT contact_key, status, coalesce(last_error, '') AS last_error FROM campaignctl.outbox ORDER BY contact_key`); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		s := r.Key + ":" + r.Status
		if strings.Contains(r.Err, "Asia/Tokyo") {
			s += "(Tokyo)"
		}
		got = append(got, s)
	}
	if want := "1:sent 2:pending(Tokyo) 3:sent 4:sent"; strings.Join(got, " ") != want {
		t.Errorf("outbox %s, want %s", strings.Join(got, " "), want)
	}
}

// TestDoNotEmailSeesWhatWorkflowsWrote: an autoresponder's do_not_email field
// is read as workflows left it: customer 2, mailable in the CRM, was marked
// do-not-email by a workflow and is not mailed; customer 5 is do-not-email in
// the CRM and stays so.
func TestDoNotEmailSeesWhatWorkflowsWrote(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 0)
	db := nb.st.DB
	db.MustExec(`CREATE TABLE customers (id int PRIMARY KEY, email text, plan text, do_not_email bool NOT NULL DEFAULT false)`)
	db.MustExec(`INSERT INTO customers SELECT i, 'cust' || i || '@example.com', 'trial', i = 5 FROM generate_series(1, 6) i`)
	db.MustExec(`INSERT INTO campaignctl.contact_properties (model, contact_key, field, value, set_at, kind, object, step)
		VALUES ('customer', '2', 'do_not_email', 'true', now(), 'workflow', 'opt_out', 'mark')`)
	p := &plan.Plan{
		Models: []plan.Model{{Name: "customer", Table: "customers", Key: "id", Email: "email", Fields: []plan.Field{
			{Name: "plan", Column: "plan", Type: plan.TypeString},
			{Name: "do_not_email", Column: "do_not_email", Type: plan.TypeBool},
		}}},
		Segments:  []plan.Segment{{Name: "trial_signups", Model: "customer", Filter: `customer.plan == "trial"`}},
		Senders:   []plan.Sender{{Name: "founder", From: "Dana <dana@acme.example>"}},
		Templates: []plan.Template{{Name: "trial_welcome", Subject: "Welcome", Text: "Hi {{ .unsubscribe_url }}", Class: plan.ClassMarketing}},
		Autoresponders: []plan.Autoresponder{{
			Name: "trial_welcome", Model: "customer", Segment: "trial_signups", Sender: "founder", Mode: "single",
			Start: "2026-01-01", MaxFollowUps: 1, DoNotEmail: "customer.do_not_email",
			FollowUps: []plan.FollowUp{{Name: "welcome", Offset: "0d", Template: "trial_welcome"}},
		}},
		Workflows: []plan.Workflow{{Name: "opt_out", Type: "lead_nurturing", Class: plan.ClassMarketing, Model: "customer", Trigger: plan.Trigger{Event: "asked_no_mail"},
			Steps: []plan.Step{{Name: "mark", Kind: plan.StepSetProperty, Field: "customer.do_not_email", Value: "true"}}}},
	}
	p.Finalize()
	nb.clock.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	nb.apply(t, p)
	nb.step(t, nb.eng)
	nb.step(t, nb.eng)
	var keys []string
	if err := db.Select(&keys, `SELECT contact_key FROM campaignctl.outbox WHERE kind = 'autoresponder' AND status = 'sent' ORDER BY contact_key`); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(keys, " "), "1 3 4 6"; got != want {
		t.Errorf("welcomed %s, want %s (2 marked do-not-email by a workflow, 5 in the CRM)", got, want)
	}
}

// workflowEvent records an event of type typ for contact key of model c and
// runs the daemon's passes and advances that the workflows it triggers need.
func (rb *relayBundle) workflowEvent(t *testing.T, key, typ string) {
	t.Helper()
	if _, err := rb.st.InsertEvents(rb.ctx, []store.Event{{OccurredAt: rb.clock.Now(), Model: "c", ContactKey: key, Type: typ, Properties: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		rb.pass(t)
		if _, err := rb.eng.AdvanceDue(rb.ctx); err != nil {
			t.Fatal(err)
		}
	}
}
