package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// The seed's trial autoresponder (campaigns/trial_autoresponder.hcl), Zoho's
// single mode: started 2026-01-01, follow-ups at +0, +3 and +10 days go out on
// January 1, 4 and 11; a contact who replies gets no further follow-up; a
// do-not-email record is never mailed; one person with two records is mailed
// once.
func TestAutoresponderFollowUpsOnZohosDates(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 0)
	db := nb.st.DB
	db.MustExec(`CREATE TABLE customers (id int PRIMARY KEY, email text, name text, plan text, do_not_email bool NOT NULL DEFAULT false)`)
	for i := 1; i <= 8; i++ {
		email := fmt.Sprintf("cust%d@example.com", i)
		if i == 8 {
			email = "CUST7@example.com" // the same person as 7
		}
		db.MustExec(`INSERT INTO customers VALUES ($1, $2, $3, 'trial', $4)`, i, email, fmt.Sprint("C", i), i == 5)
	}
	p := &plan.Plan{
		Models: []plan.Model{{Name: "customer", Table: "customers", Key: "id", Email: "email", Fields: []plan.Field{
			{Name: "name", Column: "name", Type: plan.TypeString},
			{Name: "plan", Column: "plan", Type: plan.TypeString},
			{Name: "do_not_email", Column: "do_not_email", Type: plan.TypeBool},
		}}},
		Segments: []plan.Segment{{Name: "trial_signups", Model: "customer", Filter: `customer.plan == "trial"`}},
		Senders:  []plan.Sender{{Name: "founder", From: "Dana <dana@acme.example>"}},
		Templates: []plan.Template{
			{Name: "trial_welcome", Subject: "Welcome", Text: "Hi {{ .unsubscribe_url }}", Class: plan.ClassMarketing},
			{Name: "trial_day_3", Subject: "Day 3", Text: "Hi {{ .unsubscribe_url }}", Class: plan.ClassMarketing},
			{Name: "trial_day_10", Subject: "Day 10", Text: "Hi {{ .unsubscribe_url }}", Class: plan.ClassMarketing},
		},
		Autoresponders: []plan.Autoresponder{{
			Name: "trial_welcome", Model: "customer", Segment: "trial_signups", Sender: "founder", Mode: "single",
			Start: "2026-01-01", MaxFollowUps: 3, ExcludeResponders: true, DoNotEmail: "customer.do_not_email",
			FollowUps: []plan.FollowUp{{Name: "welcome", Offset: "0d", Template: "trial_welcome"},
				{Name: "day_3", Offset: "3d", Template: "trial_day_3"}, {Name: "day_10", Offset: "10d", Template: "trial_day_10"}},
		}},
	}
	p.Finalize()
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }

	// Applied before the start: contacts are enrolled as of the start, and
	// nothing goes out before it.
	nb.clock.Set(time.Date(2025, 12, 30, 12, 0, 0, 0, time.UTC))
	nb.apply(t, p)
	nb.step(t, nb.eng)
	if n := nb.relay.Count(); n != 0 {
		t.Fatalf("%d messages before the autoresponder's start", n)
	}
	for _, d := range []int{1, 2, 4, 5, 11, 12} {
		nb.clock.Set(day(d))
		nb.step(t, nb.eng)
		if d == 1 {
			// Customer 3 replies to the welcome.
			db.MustExec(`INSERT INTO campaignctl.events (occurred_at, model, contact_key, type, campaign, step) VALUES ($1, 'customer', '3', 'reply', 'trial_welcome', 'welcome')`, day(1).Add(2*time.Hour))
		}
	}
	var rows []struct {
		Key  string    `db:"contact_key"`
		Step string    `db:"step"`
		Sent time.Time `db:"sent_at"`
	}
	if err := db.Select(&rows, `SELECT contact_key, step, sent_at FROM campaignctl.outbox WHERE kind = 'autoresponder' AND status = 'sent' ORDER BY contact_key::int, sent_at`); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range rows {
		got[r.Key] = append(got[r.Key], r.Step+"@"+r.Sent.UTC().Format("Jan 2"))
	}
	all := []string{"welcome@Jan 1", "day_3@Jan 4", "day_10@Jan 11"}
	want := map[string][]string{"1": all, "2": all, "3": {"welcome@Jan 1"}, "4": all, "6": all, "7": all}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sent by contact:\n got %v\nwant %v\n(5 is do-not-email, 8 shares 7's address, 3 replied)", got, want)
	}
	if n := nb.relay.Count(); n != 16 {
		t.Errorf("the relay received %d messages, want 16", n)
	}
	var exits []string
	if err := db.Select(&exits, `SELECT contact_key || ' ' || exit_reason FROM campaignctl.enrollments ORDER BY contact_key::int`); err != nil {
		t.Fatal(err)
	}
	if want := "[1 completed 2 completed 3 responded 4 completed 5 completed 6 completed 7 completed]"; fmt.Sprint(exits) != want {
		t.Errorf("enrollments: %v, want %s", exits, want)
	}
}
