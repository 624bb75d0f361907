package engine_test

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/mailer/smtptest"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// The 15 example workflows of campaigns/workflows/, compiled from the files a
// marketer edits, run on a real Postgres and a real SMTP relay with a moved
// clock. Each is driven by its real trigger: an event stored as `events
// import` and POST /v1/events store it, a contact field crossing a threshold,
// a date field, inactivity, engagement. The test states, per workflow, which
// mail (and internal notification) each contact must get and when, and which
// properties the steps write, and compares with the outbox, the relay and the
// runner's property table.

// examplePlan compiles the repository's campaigns directory and keeps what
// workflows need: models, segments, senders, templates, policies and the
// workflows (the campaigns, sequences and autoresponders have tests of their
// own).
func examplePlan(t *testing.T, only string) *plan.Plan {
	t.Helper()
	p, ds := compiler.Compile(os.DirFS("../../campaigns"), compiler.Options{})
	if ds.HasErrors() {
		t.Fatalf("compiling campaigns/: %v", ds)
	}
	// campaigns/customer_lifecycle.hcl adds three workflows over every
	// customer (inactivity, birthdays, registrations); they have a test of
	// their own (only = "lifecycle").
	if only == "lifecycle" {
		var ws []plan.Workflow
		for _, w := range p.Workflows {
			if lifecycleWorkflows[w.Name] {
				ws = append(ws, w)
			}
		}
		p.Workflows = ws
		p.Campaigns, p.Sequences, p.Autoresponders = nil, nil, nil
		p.Finalize()
		return p
	}
	var ws []plan.Workflow
	types := map[string]bool{}
	for _, w := range p.Workflows {
		if lifecycleWorkflows[w.Name] {
			continue
		}
		ws = append(ws, w)
		types[w.Type] = true
	}
	if len(ws) != 15 || len(types) != 15 {
		t.Fatalf("campaigns/workflows declares %d workflows of %d types, want one of each of the 15 types", len(ws), len(types))
	}
	p.Workflows = ws
	p.Campaigns, p.Sequences, p.Autoresponders = nil, nil, nil
	p.Finalize()
	return p
}

var lifecycleWorkflows = map[string]bool{"welcome_on_registration": true, "birthday_greeting": true, "wake_up_dormant_customers": true}

const crmSchema = `
CREATE TABLE crm_lead (
    id bigint PRIMARY KEY, name text NOT NULL, email_from text, stage text, lost_reason text,
    active boolean NOT NULL DEFAULT true, blacklisted boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT '2025-01-01', owner text, time_zone text DEFAULT 'UTC',
    customer_tier text, expected_revenue double precision);
CREATE TABLE crm_customer (
    id bigint PRIMARY KEY, name text NOT NULL, email text, active boolean NOT NULL DEFAULT true,
    blacklisted boolean NOT NULL DEFAULT false, do_not_email boolean NOT NULL DEFAULT false,
    time_zone text DEFAULT 'UTC', lifecycle_stage text DEFAULT 'lead', plan text DEFAULT 'basic',
    registered_at timestamptz NOT NULL DEFAULT '2025-01-01', trial_started_at timestamptz, birthday timestamptz,
    last_order_at timestamptz, last_seen_at timestamptz, next_purchase_at timestamptz, value_tier text,
    lifetime_value double precision, orders integer, weekly_logins integer NOT NULL DEFAULT 1, owner text);
`

// wfSend is one message the test expects: to whom, for which workflow step,
// when (on the engine's clock), with which subject.
type wfSend struct {
	workflow, step, to string
	at                 time.Duration // after t0
	// latest, when set, allows the send anywhere in [at, latest] (an A/B
	// remainder waits for the decision).
	latest time.Duration
}

func TestEveryExampleWorkflowRunsFromItsRealTrigger(t *testing.T) {
	t.Parallel()
	p := examplePlan(t, "")
	nb, eng := workflowRig(t)
	// Three replicas share the work: every enrollment advances on one of
	// them, and nothing below may arrive twice.
	eng2, eng3 := nb.replica(t, "w1"), nb.replica(t, "w2")
	db, st, ctx := nb.st.DB, nb.st, nb.ctx
	lead := func(id int, owner string) {
		db.MustExec(`INSERT INTO crm_lead (id, name, email_from, stage, owner) VALUES ($1, $2, $3, 'New', $4)`,
			id, fmt.Sprintf("Lead %d", id), fmt.Sprintf("lead%d@example.com", id), owner)
	}
	customer := func(id int, owner string) {
		db.MustExec(`INSERT INTO crm_customer (id, name, email, owner) VALUES ($1, $2, $3, $4)`,
			id, fmt.Sprintf("Customer %d", id), fmt.Sprintf("customer%d@example.org", id), owner)
	}
	for i := 1; i <= 10; i++ {
		owner := map[int]string{4: "alice@acme.example", 6: "", 7: "carol@acme.example"}[i]
		lead(i, owner)
	}
	for i := 1; i <= 18; i++ {
		owner := map[int]string{4: "bob@acme.example", 8: "carol@acme.example", 15: "alice@acme.example"}[i]
		customer(i, owner)
	}
	db.MustExec(`UPDATE crm_customer SET weekly_logins = 25 WHERE id = 13`)
	db.MustExec(`UPDATE crm_customer SET weekly_logins = 5 WHERE id = 5`)
	db.MustExec(`UPDATE crm_customer SET next_purchase_at = $1 WHERE id = 14`, t0.Add(10*24*time.Hour))

	day := 24 * time.Hour
	ev := func(model string, key int, typ, topic string, props map[string]any) store.Event {
		raw, _ := json.Marshal(props)
		if props == nil {
			raw = []byte(`{}`)
		}
		return store.Event{OccurredAt: nb.clock.Now(), Model: model, ContactKey: fmt.Sprint(key), Type: typ, Topic: topic, Properties: raw}
	}
	insert := func(es ...store.Event) {
		t.Helper()
		if _, err := st.InsertEvents(ctx, es); err != nil {
			t.Fatal(err)
		}
	}
	// History from before the workflows were applied: page views of leads 2,
	// 6 and 7 ten days ago. They make those leads active (no re-engagement)
	// and lead 2 engaged (5 visits in 14 days), but trigger nothing stored
	// before the workflow existed.
	var history []store.Event
	for _, id := range []int{2, 2, 2, 2, 2, 6, 7} {
		e := ev("lead", id, "page_view", "pricing", nil)
		e.OccurredAt = t0.Add(-10 * day)
		history = append(history, e)
	}
	insert(history...)
	nb.apply(t, p)
	// Stored after the apply, before any daemon looked: a trigger all the same.
	insert(ev("lead", 1, "blog_subscription", "", nil))
	nb.step(t, eng) // the first pass: state triggers enroll

	insert(
		ev("customer", 1, "cart_abandoned", "", map[string]any{"value": 35}),
		ev("customer", 2, "cart_abandoned", "", map[string]any{"value": 35.5}),
		ev("customer", 3, "cart_abandoned", "", map[string]any{"value": 10}),
		ev("customer", 4, "lifecycle_change", "", map[string]any{"from": "trial", "to": "customer"}),
		ev("customer", 5, "lifecycle_change", "", map[string]any{"from": "trial", "to": "customer"}),
		ev("customer", 6, "lifecycle_change", "", map[string]any{"from": "lead", "to": "trial"}),
		ev("customer", 7, "nps_response", "", map[string]any{"score": 10}),
		ev("customer", 8, "nps_response", "", map[string]any{"score": 3}),
		ev("customer", 9, "nps_response", "", map[string]any{"score": 7}),
		ev("customer", 10, "inbound_email", "", map[string]any{"category": "billing"}),
		ev("customer", 11, "inbound_email", "", map[string]any{"category": "shipping"}),
		ev("customer", 12, "inbound_email", "", map[string]any{"category": "returns"}),
		ev("lead", 3, "event_registration", "", map[string]any{"name": "Warehouse Open Day 2026", "date": t0.Add(10*day + time.Hour).Format(time.RFC3339)}),
		ev("lead", 9, "event_registration", "", map[string]any{"name": "Another Day", "date": t0.Add(10 * day).Format(time.RFC3339)}),
		ev("lead", 4, "conversion", "ebook", nil),
		ev("lead", 5, "conversion", "ebook", nil),
		ev("lead", 6, "page_view", "pricing", nil),
		ev("lead", 7, "page_view", "pricing", nil),
		ev("lead", 8, "content_download", "inventory-planning", nil),
		ev("customer", 15, "quote_signed", "", nil),
		ev("customer", 16, "purchase", "", map[string]any{"category": "shelving"}),
		ev("customer", 17, "purchase", "", map[string]any{"category": "chairs"}),
	)
	// What happens later, on the engine's clock.
	script := map[time.Time]func(){
		t0.Add(2 * time.Hour): func() { db.MustExec(`UPDATE crm_customer SET last_order_at = $1 WHERE id = 2`, nb.clock.Now()) },
		t0.Add(day): func() {
			db.MustExec(`UPDATE crm_customer SET weekly_logins = 30 WHERE id = 18`)
			insert(ev("lead", 7, "page_view", "pricing", nil))                                      // within reenroll.after: ignored
			insert(clickOn("lead", 8, "inventory_guide_followup", "more_on_topic", nb.clock.Now())) // read the checklist
		},
		t0.Add(3*day + 2*time.Hour): func() {
			insert(clickOn("lead", 4, "ebook_nurture", "case_study", nb.clock.Now()))
			// A link scanner "clicks" lead 5's mail: flagged as a machine's, it
			// does not make lead 5 interested.
			scan := clickOn("lead", 5, "ebook_nurture", "case_study", nb.clock.Now())
			scan.Properties = []byte(`{"machine": true, "machine_reason": "link scanner"}`)
			insert(scan)
		},
		t0.Add(8 * day): func() { insert(ev("lead", 7, "page_view", "pricing", nil)) }, // re-enrolled
	}
	runWorkflows(t, nb, t0.Add(15*day), script, eng, eng2, eng3)

	h := time.Hour
	want := []wfSend{
		{"cart_rescue", "reminder", "customer1@example.org", h, 0},
		{"cart_rescue", "discount", "customer1@example.org", day + h, 4 * day},
		{"cart_rescue", "reminder", "customer2@example.org", h, 0}, // ordered at +2h: the goal ends it
		{"blog_welcome", "welcome", "lead1@example.com", 0, 0},
		{"blog_welcome", "best_of", "lead1@example.com", 7 * day, 0},
		{"new_customer_onboarding", "day_0", "customer4@example.org", 0, 0},
		{"new_customer_onboarding", "day_2", "customer4@example.org", 2 * day, 0},
		{"new_customer_onboarding", "tell_owner", "bob@acme.example", 7 * day, 0}, // 0 logins a week on
		{"new_customer_onboarding", "day_0", "customer5@example.org", 0, 0},
		{"new_customer_onboarding", "day_2", "customer5@example.org", 2 * day, 0},
		{"nps_followup", "ask_review", "customer7@example.org", 0, 0},
		{"nps_followup", "apologize", "customer8@example.org", 0, 0},
		{"nps_followup", "tell_owner", "carol@acme.example", 0, 0},
		{"support_triage", "acknowledge", "customer10@example.org", 0, 0},
		{"support_triage", "tell_owner", "billing@acme.example", 0, 0},
		{"support_triage", "acknowledge", "customer11@example.org", 0, 0},
		{"support_triage", "tell_owner", "*rotation*", 0, 0},
		{"support_triage", "acknowledge", "customer12@example.org", 0, 0},
		{"support_triage", "tell_owner", "*rotation*", 0, 0},
		{"power_users", "tips", "customer13@example.org", 0, 0},
		{"power_users", "tips", "customer18@example.org", day, 0},
		{"engaged_leads", "invite", "lead2@example.com", 0, 0},
		{"open_day", "confirm", "lead3@example.com", 0, 0},
		{"open_day", "remind", "lead3@example.com", 9*day + h, 0},
		{"open_day", "thank", "lead3@example.com", 11*day + h, 0},
		{"ebook_nurture", "deliver", "lead4@example.com", 0, 0},
		{"ebook_nurture", "case_study", "lead4@example.com", 3 * day, 0},
		{"ebook_nurture", "tell_owner", "alice@acme.example", 7 * day, 0},
		{"ebook_nurture", "deliver", "lead5@example.com", 0, 0},
		{"ebook_nurture", "case_study", "lead5@example.com", 3 * day, 0},
		{"reorder_reminder", "remind", "customer14@example.org", 7 * day, 0},
		{"reorder_reminder", "last_call", "customer14@example.org", 10 * day, 0},
		{"pricing_page_alert", "notify", "alice@acme.example", 0, 0}, // lead 6 had no owner: the rotation's first
		{"pricing_page_alert", "notify", "carol@acme.example", 0, 0},
		{"pricing_page_alert", "notify", "carol@acme.example", 8 * day, 0},
		{"inventory_guide_followup", "more_on_topic", "lead8@example.com", 2 * h, 0},
		{"inventory_guide_followup", "demo_offer", "lead8@example.com", 4*day + 2*h, 0},
		{"quote_signed", "confirm", "customer15@example.org", 0, 0},
		{"quote_signed", "tell_owner", "alice@acme.example", 0, 0},
		{"shelving_accessories", "suggest", "customer16@example.org", 3 * day, 0},
	}
	// Every lead without a visit, click or form in 90 days when the workflow
	// was applied gets the re-engagement mail at once.
	for _, id := range []int{1, 3, 4, 5, 8, 9, 10} {
		want = append(want, wfSend{"quiet_leads", "still_interested", fmt.Sprintf("lead%d@example.com", id), 0, 0})
	}

	type sent struct {
		Workflow, Step, Email string
		SentAt                time.Time `db:"sent_at"`
		Status                string
	}
	var got []sent
	if err := db.Select(&got, `SELECT campaign AS workflow, step, email, status, coalesce(sent_at, 'epoch') AS sent_at
		FROM campaignctl.outbox WHERE kind = 'workflow' ORDER BY campaign, step, email, occurrence`); err != nil {
		t.Fatal(err)
	}
	used := make([]bool, len(got))
	var problems []string
	rotation := map[string]bool{}
	for _, w := range want {
		found := false
		for i, g := range got {
			if used[i] || g.Workflow != w.workflow || g.Step != w.step {
				continue
			}
			if w.to == "*rotation*" {
				if g.Email != "sam@acme.example" && g.Email != "lee@acme.example" && g.Email != "kim@acme.example" {
					continue
				}
				rotation[g.Email] = true
			} else if g.Email != w.to {
				continue
			}
			used[i], found = true, true
			at := g.SentAt.Sub(t0)
			ok := g.Status == "sent" && at == w.at
			if w.latest > 0 {
				ok = g.Status == "sent" && at >= w.at && at <= w.latest
			}
			if !ok {
				problems = append(problems, fmt.Sprintf("%s / %s to %s: %s at t0%+v, want sent at t0+%v", w.workflow, w.step, w.to, g.Status, at, w.at))
			}
			break
		}
		if !found {
			problems = append(problems, fmt.Sprintf("%s / %s to %s at t0+%v: never enqueued", w.workflow, w.step, w.to, w.at))
		}
	}
	for i, g := range got {
		if !used[i] {
			problems = append(problems, fmt.Sprintf("unexpected: %s / %s to %s (%s at t0%+v)", g.Workflow, g.Step, g.Email, g.Status, g.SentAt.Sub(t0)))
		}
	}
	if len(rotation) != 2 {
		problems = append(problems, fmt.Sprintf("customers 11 and 12 were assigned %v, want two different owners of the rotation", rotation))
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}

	// The relay got each of them once, with the template's subject (or the
	// A/B variant's) and the contact's fields rendered.
	gotMail := received(t, nb.relay)
	if n := len(nb.relay.Messages()); n != len(want) {
		t.Errorf("the relay received %d messages, want %d", n, len(want))
	}
	for _, k := range []string{
		"bob@acme.example|Onboarding stalled: Customer 4",
		"carol@acme.example|Detractor: Customer 8",
		"alice@acme.example|Lead 6 is looking at pricing",
		"billing@acme.example|New request from Customer 10",
		"customer16@example.org|The finishing touch for your new shelving",
	} {
		if gotMail[k] != 1 {
			t.Errorf("relay: %q received %d times, want once", k, gotMail[k])
		}
	}
	if gotMail["customer1@example.org|10% off what you left in your cart"]+gotMail["customer1@example.org|Free delivery on what you left in your cart"] != 1 {
		t.Errorf("the cart discount went out as neither A/B variant's subject: %v", gotMail)
	}

	// Property writes: the runner's table, per contact and field.
	var props []string
	if err := db.Select(&props, `SELECT model || ' ' || contact_key || ' ' || field || '=' || coalesce(value, 'NULL') || ' by ' || object || '/' || step
		FROM campaignctl.contact_properties ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	wantProps := []string{
		"customer 10 owner=billing@acme.example by support_triage/assign_billing",
		"customer 13 lifecycle_stage=advocate by power_users/mark_advocate",
		"customer 15 lifecycle_stage=customer by quote_signed/mark_customer",
		"customer 18 lifecycle_stage=advocate by power_users/mark_advocate",
		"lead 2 stage=Qualified by engaged_leads/mark_qualified",
		"lead 4 stage=Qualified by ebook_nurture/qualify",
		"lead 6 owner=alice@acme.example by pricing_page_alert/assign",
	}
	// The re-engagement archives the leads that ignored it, 14 days on.
	for _, id := range []int{1, 10, 3, 4, 5, 8, 9} {
		wantProps = append(wantProps, fmt.Sprintf("lead %d active=false by quiet_leads/archive", id))
	}
	var rest []string
	for _, p := range props {
		if strings.HasPrefix(p, "customer 11 owner=") || strings.HasPrefix(p, "customer 12 owner=") {
			continue // the rotation, checked through the notifications above
		}
		rest = append(rest, p)
	}
	sort.Strings(wantProps)
	if strings.Join(rest, "\n") != strings.Join(wantProps, "\n") {
		t.Errorf("properties written:\n%s\nwant:\n%s", strings.Join(rest, "\n"), strings.Join(wantProps, "\n"))
	}

	// Every enrollment has ended but none is stuck, and lead 7 went through
	// the pricing alert twice (re-enrollment after 7 days), not three times.
	var states []string
	if err := db.Select(&states, `SELECT object || ' ' || state || ' ' || coalesce(exit_reason, '') || ' ' || count(*)
		FROM campaignctl.enrollments GROUP BY object, state, exit_reason ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if strings.Contains(s, " active ") {
			t.Errorf("an enrollment is still active after 15 days: %s", s)
		}
	}
	var lead7 int
	db.Get(&lead7, `SELECT count(*) FROM campaignctl.enrollments WHERE object = 'pricing_page_alert' AND contact_key = '7'`)
	if lead7 != 2 {
		t.Errorf("lead 7 enrolled %d times in pricing_page_alert, want 2 (a view within reenroll.after does not re-enroll)", lead7)
	}
	var goal int
	db.Get(&goal, `SELECT count(*) FROM campaignctl.enrollments WHERE object = 'cart_rescue' AND contact_key = '2' AND exit_reason = 'goal'`)
	if goal != 1 {
		t.Errorf("customer 2 ordered after the reminder: want its cart_rescue enrollment exited with reason goal, got %d", goal)
	}
	if t.Failed() {
		t.Logf("enrollments: %v", states)
	}
}

// runWorkflows moves the clock from now to end, stopping at every enrollment
// wake-up, every due message, every scripted instant (running its action) and
// at least every 6 hours; at each stop the engines reconcile, advance and send.
func runWorkflows(t *testing.T, nb *nurtureBundle, end time.Time, script map[time.Time]func(), engines ...*engine.Engine) {
	t.Helper()
	db := nb.st.DB
	for {
		nb.step(t, engines...)
		nb.step(t, engines...) // what the first pass enqueued or made due at this instant
		now := nb.clock.Now()
		if !now.Before(end) {
			return
		}
		next := now.Add(6 * time.Hour)
		var due *time.Time
		if err := db.Get(&due, `SELECT min(t) FROM (
			SELECT min(wake_at) AS t FROM campaignctl.enrollments WHERE state = 'active' AND wake_at > $1
			UNION ALL SELECT min(due_at) FROM campaignctl.outbox WHERE status = 'pending' AND due_at > $1) x`, now); err != nil {
			t.Fatal(err)
		}
		if due != nil && due.Before(next) {
			next = *due
		}
		for at := range script {
			if at.After(now) && at.Before(next) {
				next = at
			}
		}
		nb.clock.Set(next)
		if f, ok := script[next]; ok {
			f()
		}
	}
}

// workflowRig is a fresh database with the CRM tables, a relay and an engine
// with the fake clock at t0.
func workflowRig(t *testing.T) (*nurtureBundle, *engine.Engine) {
	t.Helper()
	db := migratedDB(t)
	st := &store.Store{DB: db}
	st.SetMaxConns(8)
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	db.MustExec(crmSchema)
	relay := smtptest.New()
	addr, err := relay.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	nb := &nurtureBundle{relay: relay, addr: addr}
	nb.bundle = &bundle{st: st, clock: clock.NewFake(t0), reg: prometheus.NewRegistry(), ctx: t.Context()}
	eng := nb.replica(t, "w0")
	eng.EnrollInterval = time.Nanosecond // state triggers are looked at on every pass
	return nb, eng
}

// clickOn is a click on a workflow step's message, as the tracking redirect
// records it.
func clickOn(model string, key int, workflow, step string, at time.Time) store.Event {
	return store.Event{OccurredAt: at, Model: model, ContactKey: fmt.Sprint(key), Type: "click", Campaign: workflow, Step: step, Properties: []byte(`{}`)}
}

// outboxLines lists the workflow messages as "workflow / step → address at
// date time status", sorted.
func outboxLines(t *testing.T, nb *nurtureBundle) []string {
	t.Helper()
	var out []string
	if err := nb.st.DB.Select(&out, `SELECT campaign || ' / ' || step || ' → ' || email || ' at ' ||
			coalesce(to_char(sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), '-') || ' ' || status
		FROM campaignctl.outbox WHERE kind = 'workflow' ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	return out
}

// The three workflows of campaigns/customer_lifecycle.hcl: a birthday
// greeting every year (a date field's anniversary, re-enrolled after 360
// days), a welcome on registration that skips the offer once the customer
// ordered, and a wake-up for customers inactive 120 days whose goal (seen
// again after enrolling) compares a contact field with event.at.
func TestCustomerLifecycleWorkflows(t *testing.T) {
	t.Parallel()
	p := examplePlan(t, "lifecycle")
	nb, eng := workflowRig(t)
	eng2 := nb.replica(t, "w1")
	db, st, ctx := nb.st.DB, nb.st, nb.ctx
	for i := 1; i <= 6; i++ {
		db.MustExec(`INSERT INTO crm_customer (id, name, email, orders) VALUES ($1, $2, $3, 0)`,
			i, fmt.Sprintf("Customer %d", i), fmt.Sprintf("customer%d@example.org", i))
	}
	// t0 is 1 December, 09:00 UTC.
	db.MustExec(`UPDATE crm_customer SET birthday = '1990-12-01T00:00:00Z' WHERE id = 1`)
	db.MustExec(`UPDATE crm_customer SET birthday = '1985-12-02T00:00:00Z' WHERE id = 2`)
	// Customers 5 and 6 visit the site: not dormant.
	visit := func(id int, at time.Time) store.Event {
		return store.Event{OccurredAt: at, Model: "customer", ContactKey: fmt.Sprint(id), Type: "page_view", Properties: []byte(`{}`)}
	}
	if _, err := st.InsertEvents(ctx, []store.Event{visit(5, t0.Add(-24*time.Hour)), visit(6, t0.Add(-24*time.Hour))}); err != nil {
		t.Fatal(err)
	}
	nb.apply(t, p)
	nb.step(t, eng, eng2)
	reg := func(id int) store.Event {
		return store.Event{OccurredAt: nb.clock.Now(), Model: "customer", ContactKey: fmt.Sprint(id), Type: "registration", Properties: []byte(`{}`)}
	}
	if _, err := st.InsertEvents(ctx, []store.Event{reg(5), reg(6)}); err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	script := map[time.Time]func(){
		t0.Add(day):     func() { db.MustExec(`UPDATE crm_customer SET orders = 1 WHERE id = 6`) },
		t0.Add(2 * day): func() { db.MustExec(`UPDATE crm_customer SET last_seen_at = $1 WHERE id = 4`, nb.clock.Now()) },
	}
	runWorkflows(t, nb, t0.Add(10*day), script, eng, eng2)
	// A year on: the birthdays come back, nothing else does.
	nb.clock.Set(t0.Add(364 * day))
	runWorkflows(t, nb, t0.Add(367*day), nil, eng, eng2)

	want := []string{
		// Customer 1's birthday is today: greeted at once. Customer 2's is
		// tomorrow: the day starts at midnight UTC, inside the quiet hours
		// (21:00 to 08:00 in the customer's zone), so it waits for 08:00.
		"birthday_greeting / greet → customer1@example.org at 2026-12-01 09:00 sent",
		"birthday_greeting / greet → customer2@example.org at 2026-12-02 08:00 sent",
		"birthday_greeting / greet → customer1@example.org at 2027-12-01 08:00 sent",
		"birthday_greeting / greet → customer2@example.org at 2027-12-02 08:00 sent",
		"welcome_on_registration / welcome → customer5@example.org at 2026-12-01 09:00 sent",
		"welcome_on_registration / welcome → customer6@example.org at 2026-12-01 09:00 sent",
		"welcome_on_registration / first_order_offer → customer5@example.org at 2026-12-04 09:00 sent",
	}
	// A year on, customers 5 and 6 have not visited for 120 days either.
	want = append(want, "wake_up_dormant_customers / wake_up → customer5@example.org at 2027-11-30 09:00 sent",
		"wake_up_dormant_customers / wake_up → customer6@example.org at 2027-11-30 09:00 sent")
	for _, id := range []int{1, 2, 3, 4} {
		want = append(want, fmt.Sprintf("wake_up_dormant_customers / wake_up → customer%d@example.org at 2026-12-01 09:00 sent", id))
		if id != 4 { // seen again on day 2: the goal ends it
			want = append(want, fmt.Sprintf("wake_up_dormant_customers / last_try → customer%d@example.org at 2026-12-08 09:00 sent", id))
		}
	}
	sort.Strings(want)
	if got := outboxLines(t, nb); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("workflow mail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := len(nb.relay.Messages()); n != len(want) {
		t.Errorf("the relay received %d messages, want %d", n, len(want))
	}
}

// A workflow's trigger filter and branch may read a segment of its model
// (segment.tier_silver, segment.tier_gold): the membership is read for the
// batch of events or of advanced enrollments and bound with the contact.
// A condition calling an engagement function directly is refused (the
// workflow is not run, and apply says so), not read false at run time.
func TestWorkflowBranchReadsASegment(t *testing.T) {
	p := examplePlan(t, "lifecycle")
	var w plan.Workflow
	for _, x := range p.Workflows {
		if x.Name == "welcome_on_registration" {
			w = x
		}
	}
	found := false
	for i, st := range w.Steps {
		if st.Name == "ordered" {
			w.Steps[i].Condition = "segment.tier_gold || customer.orders > 0"
			found = true
		}
	}
	if !found {
		t.Fatal("welcome_on_registration has no step ordered")
	}
	// And its trigger leaves silver customers out.
	w.Trigger.Filter = "!segment.tier_silver"
	p.Workflows = []plan.Workflow{w}
	p.Finalize()
	if nr := engine.NotRun(p); len(nr) != 0 {
		t.Fatalf("a branch reading a segment is reported as not run: %v", nr)
	}

	nb, eng := workflowRig(t)
	db := nb.st.DB
	db.MustExec(`INSERT INTO crm_customer (id, name, email, orders, value_tier) VALUES
		(1, 'Gold', 'gold@example.org', 0, 'gold'), (2, 'Plain', 'plain@example.org', 0, 'bronze'), (3, 'Silver', 'silver@example.org', 0, 'silver')`)
	nb.apply(t, p)
	nb.step(t, eng)
	var evs []store.Event
	for _, id := range []string{"1", "2", "3"} {
		evs = append(evs, store.Event{OccurredAt: nb.clock.Now(), Model: "customer", ContactKey: id, Type: "registration", Properties: []byte(`{}`)})
	}
	if _, err := nb.st.InsertEvents(nb.ctx, evs); err != nil {
		t.Fatal(err)
	}
	runWorkflows(t, nb, nb.clock.Now().Add(5*24*time.Hour), nil, eng)
	got := map[string][]string{}
	for k := range received(t, nb.relay) {
		addr, step, _ := strings.Cut(k, "|")
		got[addr] = append(got[addr], step)
	}
	for _, s := range got {
		sort.Strings(s)
	}
	// Subjects: "Welcome to Acme, <name>!" and the offer's "10% off your first order".
	if g, p := strings.Join(got["gold@example.org"], ","), strings.Join(got["plain@example.org"], ","); len(got["gold@example.org"]) != 1 || !strings.Contains(g, "Welcome") ||
		len(got["plain@example.org"]) != 2 || !strings.Contains(p, "Welcome") || !strings.Contains(p, "first order") {
		t.Fatalf("received %v; want the welcome for both and the first-order offer for the customer outside tier_gold only", got)
	}
	if len(got["silver@example.org"]) != 0 {
		t.Errorf("the silver customer, whom the trigger filter leaves out, received %v", got["silver@example.org"])
	}

	// An engagement function in a condition: not run, and said.
	w.Steps[2].Condition = "customer.opened(days(7))"
	p.Workflows = []plan.Workflow{w}
	p.Finalize()
	nr := strings.Join(engine.NotRun(p), "\n")
	if !strings.Contains(nr, "workflow welcome_on_registration") || !strings.Contains(nr, "engagement function") || !strings.Contains(nr, "segment.<name>") {
		t.Errorf("NotRun for a condition calling opened(): %q; want the workflow named, the reason and the way round it", nr)
	}
}
