package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// A marketing workflow's mail is marketing whatever its template declares,
// as the compiler resolves it (and warns: "sends template ... as marketing
// mail, but the template is declared transactional"). The runtime used the
// template's class: the welcome went out as transactional mail, past the
// unsubscribe the examples' default policy lets only transactional mail
// bypass, to a customer who had unsubscribed.
func TestMarketingWorkflowSendsItsTemplatesAsMarketing(t *testing.T) {
	t.Parallel()
	p := examplePlan(t, "lifecycle")
	var w plan.Workflow
	for _, x := range p.Workflows {
		if x.Name == "welcome_on_registration" {
			w = x
		}
	}
	if w.Name == "" {
		t.Fatal("the examples have no workflow welcome_on_registration")
	}
	w.Class = plan.ClassMarketing
	p.Workflows = []plan.Workflow{w}
	found := false
	for i := range p.Templates {
		if p.Templates[i].Name == "registration_welcome" {
			p.Templates[i].Class = plan.ClassTransactional
			found = true
		}
	}
	if !found {
		t.Fatal("the examples have no template registration_welcome")
	}
	p.Finalize()

	nb, eng := workflowRig(t)
	db := nb.st.DB
	db.MustExec(`INSERT INTO crm_customer (id, name, email, orders) VALUES (1, 'Kept', 'kept@example.org', 0), (2, 'Gone', 'gone@example.org', 0)`)
	db.MustExec(`INSERT INTO campaignctl.suppressions (email_normalized, reason, created_at) VALUES ('gone@example.org', 'unsubscribed', now())`)
	nb.apply(t, p)
	nb.step(t, eng)
	var evs []store.Event
	for _, id := range []string{"1", "2"} {
		evs = append(evs, store.Event{OccurredAt: nb.clock.Now(), Model: "customer", ContactKey: id, Type: "registration", Properties: []byte(`{}`)})
	}
	if _, err := nb.st.InsertEvents(nb.ctx, evs); err != nil {
		t.Fatal(err)
	}
	runWorkflows(t, nb, nb.clock.Now().Add(2*24*time.Hour), nil, eng)

	var classes []string
	if err := db.Select(&classes, `SELECT DISTINCT class FROM campaignctl.outbox WHERE kind = 'workflow' AND campaign = 'welcome_on_registration' AND step = 'welcome' ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if strings.Join(classes, ",") != plan.ClassMarketing {
		t.Errorf("the welcome's outbox rows are of class %v, want only marketing (the workflow's)", classes)
	}
	got := received(t, nb.relay)
	kept := 0
	for k, n := range got {
		switch {
		case strings.HasPrefix(k, "kept@example.org|"):
			kept += n
		case strings.HasPrefix(k, "gone@example.org|"):
			t.Errorf("the unsubscribed customer received %q", k)
		}
	}
	if kept != 1 {
		t.Errorf("the subscribed customer received %d messages, want the welcome (%v)", kept, got)
	}
	// The unsubscribed customer's welcome is skipped at the advance, saying
	// why, not enqueued to be cancelled at its claim.
	var rows int
	if err := db.Get(&rows, `SELECT count(*) FROM campaignctl.outbox WHERE email_normalized = 'gone@example.org'`); err != nil || rows != 0 {
		t.Errorf("%d outbox rows for the unsubscribed customer (err %v), want none", rows, err)
	}
	var why string
	if err := db.Get(&why, `SELECT s.detail FROM campaignctl.enrollment_steps s JOIN campaignctl.enrollments n ON n.id = s.enrollment_id
WHERE n.contact_key = '2' AND s.step = 'welcome'`); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(why, "suppressed (unsubscribed)") {
		t.Errorf("the unsubscribed customer's welcome: %q, want skipped as suppressed", why)
	}
}

// A sequence's mail is marketing whatever its templates declare, as the
// compiler fixes it (warning about a transactional template); the runtime
// used the template's class, so such a step went out as transactional mail,
// untracked and past what a policy lets only transactional mail bypass.
func TestSequenceSendsItsTemplatesAsMarketing(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 2)
	p := trackedPlan()
	for i := range p.Templates {
		p.Templates[i].Class = plan.ClassTransactional
	}
	p.Finalize()
	nb.apply(t, p)
	nb.step(t, nb.eng)
	var classes []string
	if err := nb.st.DB.Select(&classes, `SELECT DISTINCT class FROM campaignctl.outbox WHERE kind = 'sequence' ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if strings.Join(classes, ",") != plan.ClassMarketing {
		t.Errorf("the sequence's outbox rows are of class %v, want only marketing", classes)
	}
	if n := len(nb.relay.Messages()); n != 2 {
		t.Fatalf("the relay received %d messages, want the first step for both leads", n)
	}
}
