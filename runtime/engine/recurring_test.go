package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/engine"
)

// Recurring (multiple-mode) autoresponders on a real Postgres and a real SMTP
// relay, with the clock moved by hand. The expected dates are written out
// here by hand, from the calendar, not computed by the recurrence code.

// setupNewsletter is setupNurture with a customers table: ids 1..n on plan
// "news", customer n+1 on plan "trial" (never in the segment).
func setupNewsletter(t *testing.T, n int) *nurtureBundle {
	t.Helper()
	nb := setupNurture(t, 0)
	nb.st.DB.MustExec(`CREATE TABLE customers (id int PRIMARY KEY, email text, name text, plan text, do_not_email bool NOT NULL DEFAULT false)`)
	for i := 1; i <= n+1; i++ {
		pl := "news"
		if i == n+1 {
			pl = "trial"
		}
		nb.st.DB.MustExec(`INSERT INTO customers VALUES ($1, $2, $3, $4, false)`, i, fmt.Sprintf("cust%d@example.com", i), fmt.Sprint("C", i), pl)
	}
	// Every pass enrolls (the interval is on the wall clock, the test's days
	// pass on the fake one).
	nb.eng.EnrollInterval = time.Nanosecond
	return nb
}

func newsletterPlan(a plan.Autoresponder) *plan.Plan {
	a.Model, a.Segment, a.Sender, a.Mode, a.Template = "customer", "readers", "founder", "multiple", "news_issue"
	if a.Name == "" {
		a.Name = "newsletter"
	}
	p := &plan.Plan{
		Models: []plan.Model{{Name: "customer", Table: "customers", Key: "id", Email: "email", Fields: []plan.Field{
			{Name: "name", Column: "name", Type: plan.TypeString},
			{Name: "plan", Column: "plan", Type: plan.TypeString},
			{Name: "do_not_email", Column: "do_not_email", Type: plan.TypeBool},
		}}},
		Segments:       []plan.Segment{{Name: "readers", Model: "customer", Filter: `customer.plan == "news"`}},
		Senders:        []plan.Sender{{Name: "founder", From: "Dana <dana@acme.example>"}},
		Templates:      []plan.Template{{Name: "news_issue", Subject: "Acme news", Text: "Hi {{ .customer.name }} {{ .unsubscribe_url }}", Class: plan.ClassMarketing}},
		Autoresponders: []plan.Autoresponder{a},
	}
	p.Finalize()
	return p
}

// sentIssues returns, per contact, the issues sent as "step@date of sending".
func sentIssues(t *testing.T, nb *nurtureBundle) map[string][]string {
	t.Helper()
	var rows []struct {
		Key  string    `db:"contact_key"`
		Step string    `db:"step"`
		Sent time.Time `db:"sent_at"`
	}
	if err := nb.st.DB.Select(&rows, `SELECT contact_key, step, sent_at FROM campaignctl.outbox
		WHERE kind = 'autoresponder' AND status = 'sent' ORDER BY contact_key::int, sent_at`); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range rows {
		got[r.Key] = append(got[r.Key], r.Step+"@"+r.Sent.UTC().Format("2006-01-02"))
	}
	return got
}

func exits(t *testing.T, nb *nurtureBundle) string {
	t.Helper()
	var out []string
	if err := nb.st.DB.Select(&out, `SELECT contact_key || ' ' || state || coalesce(' ' || exit_reason, '') FROM campaignctl.enrollments ORDER BY contact_key::int`); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, ", ")
}

// A monthly newsletter on the 31st, at 09:00 UTC from 2026-01-01, without an
// end, run for fourteen months: every reader gets exactly one issue a month,
// on the month's 31st or its last day, never in between; a reader who
// replies gets no further issue; a do-not-email record gets none; one person
// with two records gets one; a reader who leaves the segment misses the
// issues while out and gets them again once back; a reader who joins later
// gets the issues from then on.
func TestMonthlyNewsletterRunsFourteenMonths(t *testing.T) {
	t.Parallel()
	nb := setupNewsletter(t, 6)
	db := nb.st.DB
	db.MustExec(`UPDATE customers SET do_not_email = true WHERE id = 5`)
	db.MustExec(`UPDATE customers SET email = 'CUST4@example.com ' WHERE id = 6`) // the same person as 4
	p := newsletterPlan(plan.Autoresponder{Start: "2026-01-01T09:00:00Z", MaxFollowUps: 100, ExcludeResponders: true,
		Recurrence: &plan.Recurrence{Unit: "month", Every: 1, DayOfMonth: 31}, DoNotEmail: "customer.do_not_email"})
	issues := []string{"2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31", "2026-06-30", "2026-07-31",
		"2026-08-31", "2026-09-30", "2026-10-31", "2026-11-30", "2026-12-31", "2027-01-31", "2027-02-28"}
	at := func(day string) time.Time {
		d, _ := time.Parse("2006-01-02", day)
		return d.Add(9 * time.Hour)
	}

	nb.clock.Set(time.Date(2025, 12, 30, 12, 0, 0, 0, time.UTC))
	nb.apply(t, p)
	nb.step(t, nb.eng)
	for i, day := range issues {
		// An hour before the issue, nothing goes out.
		nb.clock.Set(at(day).Add(-time.Hour))
		before := nb.relay.Count()
		nb.step(t, nb.eng)
		if nb.relay.Count() != before {
			t.Fatalf("%d messages went out an hour before the issue of %s", nb.relay.Count()-before, day)
		}
		nb.clock.Set(at(day))
		nb.step(t, nb.eng)
		nb.clock.Set(at(day).Add(26 * time.Hour))
		nb.step(t, nb.eng) // a day later: nothing more
		switch day {
		case "2026-02-28":
			// Reader 3 replies to the February issue.
			db.MustExec(`INSERT INTO campaignctl.events (occurred_at, model, contact_key, type, campaign, step) VALUES ($1, 'customer', '3', 'reply', 'newsletter', 'issue-2026-02-28')`, at(day).Add(2*time.Hour))
			// Reader 8 joins.
			db.MustExec(`INSERT INTO customers VALUES (8, 'cust8@example.com', 'C8', 'news', false)`)
		case "2026-05-31":
			db.MustExec(`UPDATE customers SET plan = 'paused' WHERE id = 2`) // leaves for June and July
		case "2026-07-31":
			db.MustExec(`UPDATE customers SET plan = 'news' WHERE id = 2`)
		}
		if n := nb.relay.Count(); n == 0 && i > 0 {
			t.Fatal("nothing sent")
		}
	}
	name := func(day string) string { return "issue-" + day + "@" + day }
	var all, from3, gap []string
	for i, day := range issues {
		all = append(all, name(day))
		if i >= 2 {
			from3 = append(from3, name(day))
		}
		if day != "2026-06-30" && day != "2026-07-31" {
			gap = append(gap, name(day))
		}
	}
	want := map[string][]string{"1": all, "2": gap, "3": all[:2], "4": all, "8": from3}
	if got := sentIssues(t, nb); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("issues by reader:\n got %v\nwant %v\n(3 replied in February, 5 is do-not-email, 6 is 4's address, 7 is not a reader, 8 joined in March, 2 was out in June and July)", got, want)
	}
	if n, w := nb.relay.Count(), 2*len(all)+len(gap)+2+len(from3); n != w {
		t.Errorf("the relay received %d messages, want %d", n, w)
	}
	if got, want := exits(t, nb), "1 active, 2 active, 3 exited responded, 4 active, 5 active, 8 active"; got != want {
		t.Errorf("enrollments: %s, want %s", got, want)
	}
	var next []string
	if err := db.Select(&next, `SELECT DISTINCT next_step || ' ' || wake_at FROM campaignctl.enrollments WHERE state = 'active'`); err != nil {
		t.Fatal(err)
	}
	if len(next) != 1 || !strings.HasPrefix(next[0], "issue-2027-03-31 2027-03-31 09:00:00") {
		t.Errorf("active enrollments wait for %v, want issue-2027-03-31 at 09:00 UTC", next)
	}
	var skipped []string
	if err := db.Select(&skipped, `SELECT DISTINCT en.contact_key || ' ' || s.step || ': ' || s.detail FROM campaignctl.enrollment_steps s
		JOIN campaignctl.enrollments en ON en.id = s.enrollment_id WHERE s.action = 'skipped' AND en.contact_key IN ('2', '5') ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 2+len(issues) || skipped[0] != "2 issue-2026-06-30: no longer in segment readers" || !strings.HasSuffix(skipped[2], "the contact's record says do not email") {
		t.Errorf("skipped issues of 2 and 5: %d %v", len(skipped), head(skipped))
	}
}

// A weekly recurrence on Tuesdays and Fridays at 08:00 until February, run by
// three replicas at once with a restart: each reader gets each of the nine
// issues once, on its day; the end stops it and the enrollments complete.
func TestWeeklyRecurrenceEndsAndReplicasNeverDuplicate(t *testing.T) {
	t.Parallel()
	const readers = 40
	nb := setupNewsletter(t, readers)
	p := newsletterPlan(plan.Autoresponder{Start: "2026-01-01T08:00:00Z", End: "2026-02-01", MaxFollowUps: 10,
		Recurrence: &plan.Recurrence{Unit: "week", Every: 1, Weekdays: []string{"fri", "tue"}}})
	want := []string{"2026-01-02", "2026-01-06", "2026-01-09", "2026-01-13", "2026-01-16", "2026-01-20", "2026-01-23", "2026-01-27", "2026-01-30"}

	nb.clock.Set(time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC))
	nb.apply(t, p)
	r1, r2, r3 := nb.replica(t, "r1"), nb.replica(t, "r2"), nb.replica(t, "r3")
	for _, r := range []*engine.Engine{r1, r2, r3} {
		r.EnrollInterval = time.Nanosecond
	}
	nb.step(t, nb.eng, r1, r2)
	// Every six hours to February 10: the issues' days, every day between,
	// and past the end.
	for now := time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC); now.Before(time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)); now = now.Add(6 * time.Hour) {
		nb.clock.Set(now)
		if now.Day() == 15 && now.Hour() == 2 {
			r1 = nb.replica(t, "r1-restarted") // a restart: nothing in memory
			r1.EnrollInterval = time.Nanosecond
		}
		nb.step(t, r1, r2, r3)
	}
	got := sentIssues(t, nb)
	var wantEach []string
	for _, d := range want {
		wantEach = append(wantEach, "issue-"+d+"@"+d)
	}
	for i := 1; i <= readers; i++ {
		if fmt.Sprint(got[fmt.Sprint(i)]) != fmt.Sprint(wantEach) {
			t.Fatalf("reader %d got %v, want %v", i, got[fmt.Sprint(i)], wantEach)
		}
	}
	if len(got) != readers {
		t.Errorf("%d contacts got issues, want %d", len(got), readers)
	}
	// The relay saw each message once: as many deliveries as sent rows.
	if n := nb.relay.Count(); n != readers*len(want) {
		t.Errorf("the relay received %d messages, want %d (no duplicate across replicas)", n, readers*len(want))
	}
	var hours []string
	if err := nb.st.DB.Select(&hours, `SELECT DISTINCT to_char(created_at AT TIME ZONE 'UTC', 'HH24:MI') FROM campaignctl.outbox`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(hours) != "[08:00]" {
		t.Errorf("issues enqueued at %v, want 08:00 (each advance ran on an issue's time)", hours)
	}
	var states []string
	if err := nb.st.DB.Select(&states, `SELECT DISTINCT state || ' ' || coalesce(exit_reason, '') FROM campaignctl.enrollments`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(states) != "[exited completed]" {
		t.Errorf("enrollments after the end: %v, want all exited completed", states)
	}
}

// A daemon down for months sends only the most recent missed issue, saying
// which it skipped; max_follow_ups ends an endless recurrence's enrollment
// after its last issue, saying so; with an end instead, the end decides, and a
// contact who matches after it is not enrolled.
func TestRecurrenceAfterDowntimeAndMaxFollowUps(t *testing.T) {
	t.Parallel()
	nb := setupNewsletter(t, 1)
	p := newsletterPlan(plan.Autoresponder{Start: "2026-01-01", MaxFollowUps: 4,
		Recurrence: &plan.Recurrence{Unit: "month", Every: 1, DayOfMonth: 1}})
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, time.UTC) }
	nb.clock.Set(day(1, 1))
	nb.apply(t, p)
	nb.step(t, nb.eng)
	nb.clock.Set(day(4, 15)) // down from January 1 to April 15
	nb.step(t, nb.eng)
	for _, m := range []time.Month{5, 6, 7, 8} {
		nb.clock.Set(day(m, 1))
		nb.step(t, nb.eng)
	}
	want := "map[1:[issue-2026-01-01@2026-01-01 issue-2026-04-01@2026-04-15 issue-2026-05-01@2026-05-01 issue-2026-06-01@2026-06-01]]"
	if got := fmt.Sprint(sentIssues(t, nb)); got != want {
		t.Fatalf("issues:\n got %s\nwant %s", got, want)
	}
	var hist []string
	if err := nb.st.DB.Select(&hist, `SELECT action || ' ' || step || coalesce(': ' || nullif(detail, ''), '') FROM campaignctl.enrollment_steps ORDER BY at, action DESC`); err != nil {
		t.Fatal(err)
	}
	wantHist := []string{
		"sent issue-2026-01-01",
		"skipped issue-2026-02-01: 2 issues from issue-2026-02-01 to issue-2026-03-01 were missed while no daemon ran: only the most recent missed issue, issue-2026-04-01, is sent",
		"sent issue-2026-04-01: due 2026-04-01T00:00:00Z, sent late",
		"sent issue-2026-05-01",
		"sent issue-2026-06-01",
		"exited issue-2026-07-01: max_follow_ups is 4: 4 issues sent",
	}
	if strings.Join(hist, "\n") != strings.Join(wantHist, "\n") {
		t.Errorf("history:\n%s\nwant\n%s", strings.Join(hist, "\n"), strings.Join(wantHist, "\n"))
	}
	if got := exits(t, nb); got != "1 exited completed" {
		t.Errorf("enrollment: %s", got)
	}
	// With an end (and the same max_follow_ups), the end decides: a new
	// reader who matches after it is not enrolled.
	p = newsletterPlan(plan.Autoresponder{Start: "2026-01-01", End: "2027-01-01", MaxFollowUps: 4,
		Recurrence: &plan.Recurrence{Unit: "month", Every: 1, DayOfMonth: 1}})
	nb.apply(t, p)
	nb.st.DB.MustExec(`INSERT INTO customers VALUES (9, 'cust9@example.com', 'C9', 'news', false)`)
	nb.clock.Set(time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC))
	nb.step(t, nb.eng)
	if got := exits(t, nb); got != "1 exited completed" {
		t.Errorf("enrollments after the end: %s, want nobody new", got)
	}
}

// A reader whose address is suppressed skips the issues while it is: none is
// enqueued (before, each issue was enqueued and cancelled at its claim), the
// history says why, and it stays enrolled, so the issue after the
// suppression is lifted goes out.
func TestSuppressedReaderSkipsIssuesWhileSuppressed(t *testing.T) {
	t.Parallel()
	nb := setupNewsletter(t, 2)
	p := newsletterPlan(plan.Autoresponder{Start: "2026-01-01T09:00:00Z", MaxFollowUps: 100,
		Recurrence: &plan.Recurrence{Unit: "month", Every: 1, DayOfMonth: 1}})
	nb.clock.Set(time.Date(2025, 12, 31, 12, 0, 0, 0, time.UTC))
	nb.apply(t, p)
	nb.step(t, nb.eng)
	month := func(m time.Month) {
		nb.clock.Set(time.Date(2026, m, 1, 9, 0, 0, 0, time.UTC))
		nb.step(t, nb.eng)
		nb.step(t, nb.eng)
	}
	month(time.January)
	if err := nb.st.Suppress(nb.ctx, "cust1@example.com", "unsubscribed", "newsletter", nb.clock.Now()); err != nil {
		t.Fatal(err)
	}
	month(time.February)
	month(time.March)
	nb.st.DB.MustExec(`DELETE FROM campaignctl.suppressions WHERE email_normalized = 'cust1@example.com'`)
	month(time.April)
	want := map[string][]string{
		"1": {"issue-2026-01-01@2026-01-01", "issue-2026-04-01@2026-04-01"},
		"2": {"issue-2026-01-01@2026-01-01", "issue-2026-02-01@2026-02-01", "issue-2026-03-01@2026-03-01", "issue-2026-04-01@2026-04-01"},
	}
	if got := sentIssues(t, nb); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("issues by reader:\n got %v\nwant %v", got, want)
	}
	var cancelled int
	if err := nb.st.DB.Get(&cancelled, `SELECT count(*) FROM campaignctl.outbox WHERE status = 'cancelled'`); err != nil || cancelled != 0 {
		t.Errorf("%d issues enqueued and cancelled (err %v), want none enqueued while suppressed", cancelled, err)
	}
	var skipped []string
	if err := nb.st.DB.Select(&skipped, `SELECT s.step || ': ' || s.detail FROM campaignctl.enrollment_steps s
		JOIN campaignctl.enrollments en ON en.id = s.enrollment_id WHERE s.action = 'skipped' AND en.contact_key = '1' ORDER BY s.at`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(skipped) != "[issue-2026-02-01: the address is suppressed (unsubscribed) issue-2026-03-01: the address is suppressed (unsubscribed)]" {
		t.Errorf("reader 1's skipped issues: %v", skipped)
	}
	if got := exits(t, nb); got != "1 active, 2 active" {
		t.Errorf("enrollments: %s, want both active", got)
	}
}
