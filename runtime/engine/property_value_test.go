package engine_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment"
)

// TestSetPropertyRefusesAValueNotOfTheFieldsForm: a set_property step whose
// value does not fit its field's type (a hand-edited plan the compiler never
// saw: a day past February's end for a timestamp, a word for an int) writes
// nothing, so segments and consent keep reading the CRM's value rather than
// NULL; its history line says which field, which form the type wants and
// what to do; the log names the workflow, step and field, not the contact;
// the workflow goes on to its next step, whose valid value is written.
func TestSetPropertyRefusesAValueNotOfTheFieldsForm(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 8)
	rb.st.DB.MustExec(`ALTER TABLE contacts ADD COLUMN renew_at timestamptz, ADD COLUMN score int8, ADD COLUMN stage text`)
	p := testPlan("Hi")
	m := &p.Models[0]
	m.Fields = append(m.Fields,
		plan.Field{Name: "renew_at", Column: "renew_at", Type: plan.TypeTimestamp, Nullable: true},
		plan.Field{Name: "score", Column: "score", Type: plan.TypeInt, Nullable: true},
		plan.Field{Name: "stage", Column: "stage", Type: plan.TypeString, Nullable: true})
	p.Workflows = []plan.Workflow{{Name: "renewal", Type: "lead_nurturing", Class: plan.ClassMarketing, Model: "c", Trigger: plan.Trigger{Event: "demo_request"},
		Steps: []plan.Step{
			{Name: "renew", Kind: plan.StepSetProperty, Field: "c.renew_at", Value: "2026-02-30"},
			{Name: "rate", Kind: plan.StepSetProperty, Field: "c.score", Value: " 12 "},
			{Name: "mark", Kind: plan.StepSetProperty, Field: "c.stage", Value: "Renewing"},
		}}}
	p.Finalize()
	rb.apply(t, p)
	rb.workflowEvent(t, "4", "demo_request")

	var written []struct {
		Field string  `db:"field"`
		Value *string `db:"value"`
	}
	if err := rb.st.DB.Select(&written, `SELECT field, value FROM campaignctl.contact_properties WHERE model = 'c' AND contact_key = '4' ORDER BY field`); err != nil {
		t.Fatal(err)
	}
	if len(written) != 1 || written[0].Field != "stage" || written[0].Value == nil || *written[0].Value != "Renewing" {
		t.Errorf("written for contact 4: %+v, want only stage = Renewing", written)
	}
	var steps []struct {
		Step   string `db:"step"`
		Action string `db:"action"`
		Detail string `db:"detail"`
	}
	if err := rb.st.DB.Select(&steps, `SELECT s.step, s.action, s.detail FROM campaignctl.enrollment_steps s
		JOIN campaignctl.enrollments e ON e.id = s.enrollment_id WHERE e.object = 'renewal' AND e.contact_key = '4' ORDER BY s.at`); err != nil {
		t.Fatal(err)
	}
	got := map[string][2]string{}
	for _, s := range steps {
		got[s.Step] = [2]string{s.Action, s.Detail}
	}
	for step, want := range map[string][]string{
		"renew": {"c.renew_at", "2026-02-30", "a timestamp is", "not written", "fix the step's value"},
		"rate":  {"c.score", "an int is", "not written"},
	} {
		a := got[step]
		if a[0] != "skipped" {
			t.Errorf("step %s: action %q (%s), want skipped", step, a[0], a[1])
		}
		for _, w := range want {
			if !strings.Contains(a[1], w) {
				t.Errorf("step %s: detail %q does not say %q", step, a[1], w)
			}
		}
	}
	if a := got["mark"]; a[0] != "set" {
		t.Errorf("step mark: %v, want set", a)
	}
	logs := rb.logs.String()
	if !strings.Contains(logs, "renewal") || !strings.Contains(logs, "c.renew_at") || !strings.Contains(logs, "c.score") {
		t.Errorf("the log does not name the workflow and fields:\n%s", logs)
	}
	if strings.Contains(logs, "c4@example.com") || strings.Contains(logs, "Contact 4") {
		t.Errorf("the log names the contact:\n%s", logs)
	}
}

// TestConsentReadsAStoredValueAsSegmentsDo: under an opt_in policy whose
// consent condition reads c.opt_in (false for every contact in the CRM),
// values stored in the properties table before the engine checked them, or
// by hand, decide consent as a segment reads them: "true" and "t" grant it;
// " true" and "yes", not of a bool's form, read as NULL in segments, so they
// grant nothing here either (not a lenient true for one, an evaluation error
// for the other); the consent and the segment c.opt_in select the same
// contacts.
func TestConsentReadsAStoredValueAsSegmentsDo(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 8) // active: 2, 4, 6, 8
	rb.st.DB.MustExec(`ALTER TABLE contacts ADD COLUMN opt_in bool NOT NULL DEFAULT false`)
	p := optInPlan(campaign("granted", ""))
	p.Segments = append(p.Segments, plan.Segment{Name: "opted", Model: "c", Filter: "c.active && c.opt_in"})
	p.Workflows = []plan.Workflow{{Name: "grant", Type: "lead_nurturing", Class: plan.ClassMarketing, Model: "c", Trigger: plan.Trigger{Event: "opted_in"},
		Steps: []plan.Step{{Name: "grant", Kind: plan.StepSetProperty, Field: "c.opt_in", Value: "true"}}}}
	p.Finalize()
	rb.st.DB.MustExec(`INSERT INTO campaignctl.contact_properties (model, contact_key, field, value, set_at, kind, object, step) VALUES
		('c', '2', 'opt_in', ' true', now(), 'workflow', 'grant', 'grant'),
		('c', '4', 'opt_in', 'true', now(), 'workflow', 'grant', 'grant'),
		('c', '6', 'opt_in', 'yes', now(), 'workflow', 'grant', 'grant'),
		('c', '8', 'opt_in', 't', now(), 'workflow', 'grant', 'grant')`)
	rb.apply(t, p)
	rb.pass(t)
	var rows []struct {
		ContactKey string `db:"contact_key"`
		Status     string `db:"status"`
		Error      string `db:"error"`
	}
	if err := rb.st.DB.Select(&rows, `SELECT contact_key, status, coalesce(last_error, '') AS error FROM campaignctl.outbox WHERE campaign = 'granted' ORDER BY contact_key`); err != nil {
		t.Fatal(err)
	}
	var sent []string
	for _, r := range rows {
		if r.Status == "sent" {
			sent = append(sent, r.ContactKey)
		} else if strings.Contains(r.Error, "could not be evaluated") {
			t.Errorf("contact %s: %s, want the condition read with opt_in unset", r.ContactKey, r.Error)
		}
	}
	ev, err := segment.New(p)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err = ev.WithCatalog(rb.ctx, rb.st.DB); err != nil {
		t.Fatal(err)
	}
	var opted []string
	if _, err := ev.Each(rb.ctx, rb.st.DB, "opted", rb.clock.Now(), 100, func(ms []segment.Match) error {
		for _, m := range ms {
			opted = append(opted, m.Key)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(opted)
	if got, seg := strings.Join(sent, " "), strings.Join(opted, " "); got != "4 8" || seg != "4 8" {
		t.Errorf("consent granted to %q, segment c.opt_in holds %q; want 4 8 for both", got, seg)
	}
}
