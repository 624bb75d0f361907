package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// datedRescuePlan is rescuePlan with two dates on the lead (renews_at,
// trial_ends_at) and the workflow "first", a wait of wait timed from
// relativeTo ("" for a plain wait), then "second". A wait of nothing comes
// first: nobody stops there, and the waits after it are retimed all the same.
func datedRescuePlan(wait, relativeTo string) *plan.Plan {
	p := rescuePlan(
		plan.Step{Name: "settle", Kind: plan.StepWait, Duration: "0d"},
		plan.Step{Name: "first", Kind: plan.StepSend, Template: "restock_week1"},
		plan.Step{Name: "pause", Kind: plan.StepWait, Duration: wait, RelativeTo: relativeTo},
		plan.Step{Name: "second", Kind: plan.StepSend, Template: "restock_week3"})
	p.Models[0].Fields = append(p.Models[0].Fields,
		plan.Field{Name: "renews_at", Column: "renews_at", Type: plan.TypeTimestamp},
		plan.Field{Name: "trial_ends_at", Column: "trial_ends_at", Type: plan.TypeTimestamp})
	p.Finalize()
	return p
}

// addDates adds datedRescuePlan's two dates to the leads table.
func addDates(nb *nurtureBundle) {
	nb.st.DB.MustExec(`ALTER TABLE leads ADD COLUMN renews_at timestamptz, ADD COLUMN trial_ends_at timestamptz`)
}

// wakes returns each active enrollment's wake-up as "key day HH" (days after
// t0), and "key exited" for the others.
func wakes(t *testing.T, nb *nurtureBundle) []string {
	t.Helper()
	var rows []struct {
		Key   string     `db:"contact_key"`
		State string     `db:"state"`
		Wake  *time.Time `db:"wake_at"`
	}
	if err := nb.st.DB.Select(&rows, `SELECT contact_key, state, wake_at FROM campaignctl.enrollments ORDER BY contact_key`); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		if r.State != "active" || r.Wake == nil {
			out = append(out, r.Key+" "+r.State)
			continue
		}
		d := r.Wake.Sub(t0)
		out = append(out, fmt.Sprintf("%s %gd", r.Key, d.Hours()/24))
	}
	return out
}

// A wait's relative_to edited mid-run reaches the contacts already stopped
// at it: each wakes at the new field's date plus the duration, as a contact
// reaching the wait under the new revision would; one without the new date
// goes on at once (a new arrival skips the wait), and one whose new time
// has passed goes on at once too.
func TestEditedWaitRelativeToReachesContactsAlreadyWaiting(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 10)
	day := 24 * time.Hour
	addDates(nb)
	set := func(id int, renews, trial any) {
		nb.st.DB.MustExec(`UPDATE leads SET renews_at = $2, trial_ends_at = $3 WHERE id = $1`, id, renews, trial)
	}
	at := func(d int) time.Time { return t0.Add(time.Duration(d) * day) }
	set(1, at(10), at(5))
	set(2, at(3), at(8))
	set(3, at(4), nil)
	set(4, at(6), at(0)) // B + 1d has passed by day 1.5
	steps := func() {
		nb.step(t, nb.eng)
		nb.step(t, nb.eng)
	}
	nb.apply(t, datedRescuePlan("1d", "lead.renews_at"))
	nb.step(t, nb.eng)
	abandon(t, nb, nb.clock.Now(), 1, 2, 3, 4)
	steps() // day 0: "first" to all, each waits until renews_at + 1d
	if got := fmt.Sprint(wakes(t, nb)); got != "[1 11d 2 4d 3 5d 4 7d]" {
		t.Fatalf("day 0, timed from renews_at: wake-ups %s", got)
	}
	nb.clock.Advance(day + day/2)
	nb.apply(t, datedRescuePlan("1d", "lead.trial_ends_at"))
	if err := nb.eng.Reconcile(nb.ctx); err != nil {
		t.Fatal(err)
	}
	// Day 1.5: 3 has no trial_ends_at and 4's passed: both go on at once,
	// 3 from where it reached the wait (day 0), 4 from trial_ends_at + 1d.
	if got := fmt.Sprint(wakes(t, nb)); got != "[1 6d 2 9d 3 0d 4 1d]" {
		t.Fatalf("day 1.5, relative_to edited to trial_ends_at: wake-ups %s; want 1 at day 6, 2 at day 9, 3 and 4 at once", got)
	}
	steps()
	if got := perSubject(t, nb); got[subjWeek3] != 2 {
		t.Fatalf("day 1.5: %v; want %q to 3 and 4 only", got, subjWeek3)
	}
	nb.clock.Advance(4*day + day/2)
	steps()
	if got := perSubject(t, nb); got[subjWeek3] != 3 {
		t.Fatalf("day 6: %v; want %q to 1 too", got, subjWeek3)
	}
	nb.clock.Advance(3 * day)
	steps()
	if got := perSubject(t, nb); got[subjWeek3] != 4 || got[subjUrgent] != 4 {
		t.Fatalf("day 9: %v; want both steps to all 4", got)
	}
}

// A wait timed from the trigger event edited mid-run, after retention
// removed the events: the enrollment keeps a copy of its trigger event, so
// event.return_by still reads. Then the relative_to is removed (the wait
// counts from when each contact reached it) and added again.
func TestEditedWaitRelativeToEventReadsTheEnrollmentsCopy(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 10)
	day := 24 * time.Hour
	addDates(nb)
	at := func(d float64) string { return t0.Add(time.Duration(d * float64(day))).Format(time.RFC3339) }
	cart := func(id int, props string) {
		t.Helper()
		if _, err := nb.st.InsertEvents(nb.ctx, []store.Event{{OccurredAt: nb.clock.Now(), Model: "lead", ContactKey: fmt.Sprint(id),
			Type: "cart_abandoned", ExternalID: fmt.Sprintf("cart-%d", id), Properties: []byte(props)}}); err != nil {
			t.Fatal(err)
		}
	}
	steps := func() {
		nb.step(t, nb.eng)
		nb.step(t, nb.eng)
	}
	nb.apply(t, datedRescuePlan("1d", "event.delivery_at"))
	nb.step(t, nb.eng)
	cart(1, fmt.Sprintf(`{"delivery_at": %q, "return_by": %q}`, at(3), at(6)))
	cart(2, fmt.Sprintf(`{"delivery_at": %q}`, at(4)))
	steps()
	if got := fmt.Sprint(wakes(t, nb)); got != "[1 4d 2 5d]" {
		t.Fatalf("day 0, timed from event.delivery_at: wake-ups %s", got)
	}
	nb.st.DB.MustExec(`DELETE FROM campaignctl.events`) // retention
	nb.clock.Advance(day)
	nb.apply(t, datedRescuePlan("1d", "event.return_by"))
	if err := nb.eng.Reconcile(nb.ctx); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(wakes(t, nb)); got != "[1 7d 2 0d]" {
		t.Fatalf("day 1, relative_to edited to event.return_by: wake-ups %s; want 1 at day 7, 2 (no return_by) at once", got)
	}
	steps()
	if got := perSubject(t, nb); got[subjWeek3] != 1 {
		t.Fatalf("day 1: %v; want %q to 2 only", got, subjWeek3)
	}
	var skipped []string
	if err := nb.st.DB.Select(&skipped, `SELECT s.action || ': ' || s.detail FROM campaignctl.enrollment_steps s JOIN campaignctl.enrollments e ON e.id = s.enrollment_id
		WHERE e.contact_key = '2' AND s.step = 'pause' ORDER BY s.at, s.action DESC`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(skipped) != fmt.Sprintf("[waited: until %s skipped: event.return_by is not set: the wait is skipped]", at(5)) {
		t.Errorf("2's history at the wait: %q", skipped)
	}

	// Day 1.5: the relative_to removed: 1 waits three days from day 0.
	nb.clock.Advance(day / 2)
	cart(3, fmt.Sprintf(`{"delivery_at": %q}`, at(9)))
	nb.apply(t, datedRescuePlan("3d", ""))
	steps() // 3 reaches the plain wait at day 1.5
	if got := fmt.Sprint(wakes(t, nb)); got != "[1 3d 2 exited 3 4.5d]" {
		t.Fatalf("day 1.5, relative_to removed: wake-ups %s; want 1 three days after day 0, 3 after day 1.5", got)
	}
	// Day 2: added again, as event.delivery_at with one day.
	nb.clock.Advance(day / 2)
	nb.apply(t, datedRescuePlan("1d", "event.delivery_at"))
	steps()
	if got := fmt.Sprint(wakes(t, nb)); got != "[1 4d 2 exited 3 10d]" {
		t.Fatalf("day 2, relative_to added: wake-ups %s; want 1 at day 4, 3 at day 10", got)
	}
}

// Enrollments that stopped at a wait before migration 024 did not keep what
// the wait was timed from: a daemon upgraded under the same revision takes
// them to be timed by the wait as it stands, and moves none of them; a
// later edit of the relative_to reaches them, counted from their history's
// "waited" line where the time they reached the wait was not kept.
func TestWaitsBegunBeforeRelativeToWasKeptAreRetimedOnTheNextEdit(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 10)
	day := 24 * time.Hour
	addDates(nb)
	at := func(d int) time.Time { return t0.Add(time.Duration(d) * day) }
	nb.st.DB.MustExec(`UPDATE leads SET renews_at = $1, trial_ends_at = $2 WHERE id = 1`, at(10), at(5))
	nb.st.DB.MustExec(`UPDATE leads SET renews_at = $1 WHERE id = 2`, at(3))
	nb.apply(t, datedRescuePlan("1d", "lead.renews_at"))
	nb.step(t, nb.eng)
	abandon(t, nb, nb.clock.Now(), 1, 2)
	nb.step(t, nb.eng)
	nb.step(t, nb.eng)
	nb.st.DB.MustExec(`UPDATE campaignctl.enrollments SET wait_relative_to = NULL, wait_reached_at = NULL`)
	nb.clock.Advance(day)
	upgraded := nb.replica(t, "r1")
	if err := upgraded.Reconcile(nb.ctx); err != nil {
		t.Fatal(err)
	}
	var stamped []string
	if err := nb.st.DB.Select(&stamped, `SELECT contact_key || ' ' || coalesce(wait_relative_to, 'NULL') FROM campaignctl.enrollments ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(wakes(t, nb)); got != "[1 11d 2 4d]" || fmt.Sprint(stamped) != "[1 lead.renews_at 2 lead.renews_at]" {
		t.Fatalf("upgraded, same revision: wake-ups %s, timed from %v; want them unmoved, timed from lead.renews_at", got, stamped)
	}
	nb.apply(t, datedRescuePlan("1d", "lead.trial_ends_at"))
	if err := upgraded.Reconcile(nb.ctx); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(wakes(t, nb)); got != "[1 6d 2 0d]" {
		t.Fatalf("relative_to edited to trial_ends_at: wake-ups %s; want 1 at day 6, 2 (no trial_ends_at) from day 0, when it reached the wait", got)
	}
}

// Two leaders (one taking over while the other still runs its pass) retime
// the same wait at once, a page of two enrollments at a time, and a third
// writes a page it read before they ran: every enrollment is timed from the
// new field once, with one history line.
func TestWaitRetimedByTwoLeadersAtOnceMovesEachOnce(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 10)
	day := 24 * time.Hour
	addDates(nb)
	nb.st.DB.MustExec(`UPDATE leads SET renews_at = $1::timestamptz + id * interval '1 day', trial_ends_at = $1::timestamptz + (10 + id) * interval '1 day'`, t0)
	nb.apply(t, datedRescuePlan("1d", "lead.renews_at"))
	nb.step(t, nb.eng)
	abandon(t, nb, nb.clock.Now(), 1, 2, 3, 4, 5, 6) // 7 shares 6's address
	nb.step(t, nb.eng)
	nb.step(t, nb.eng)
	nb.clock.Advance(day / 2)
	nb.apply(t, datedRescuePlan("1d", "lead.trial_ends_at"))
	// A third leader read the page before the two and writes after them.
	late, err := nb.st.WaitsTimedOtherwise(nb.ctx, "rescue", "pause", "lead.trial_ends_at", 0, 10)
	if err != nil || len(late) != 6 {
		t.Fatalf("the late leader's page: %d rows, %v", len(late), err)
	}
	a, b := nb.replica(t, "r1"), nb.replica(t, "r2")
	a.BatchSize, b.BatchSize = 2, 2
	errs := make(chan error, 2)
	for _, e := range []*engine.Engine{a, b} {
		go func() { errs <- e.Reconcile(nb.ctx) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var rs []store.Retime
	var hist []store.StepRecord
	for _, r := range late {
		rs = append(rs, store.Retime{ID: r.ID, Wake: t0, Waits: true, From: t0, Reached: t0})
		hist = append(hist, store.StepRecord{EnrollmentID: r.ID, Step: "pause", Action: "waited", Detail: "late: now timed from lead.trial_ends_at", At: nb.clock.Now()})
	}
	if n, err := nb.st.RetimeWaits(nb.ctx, "rescue", "pause", "lead.trial_ends_at", nb.clock.Now(), rs, hist); err != nil || n != 0 {
		t.Fatalf("the late leader's write moved %d enrollments (%v); want none: they were retimed already", n, err)
	}
	if got := fmt.Sprint(wakes(t, nb)); got != "[1 12d 2 13d 3 14d 4 15d 5 16d 6 17d]" {
		t.Fatalf("wake-ups %s; want each at trial_ends_at + 1d", got)
	}
	var lines []string
	if err := nb.st.DB.Select(&lines, `SELECT e.contact_key || ' x' || count(*) FROM campaignctl.enrollment_steps s JOIN campaignctl.enrollments e ON e.id = s.enrollment_id
		WHERE s.step = 'pause' AND s.detail LIKE '%now timed from lead.trial_ends_at' GROUP BY e.contact_key ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(lines) != "[1 x1 2 x1 3 x1 4 x1 5 x1 6 x1]" {
		t.Errorf("retime history lines per contact %v, want one each", lines)
	}
}

// A wait retimed to a field a workflow writes reads the written value laid
// over the CRM's, as the advance does.
func TestWaitRetimedToAWrittenFieldReadsTheWrite(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 10)
	day := 24 * time.Hour
	addDates(nb)
	nb.st.DB.MustExec(`UPDATE leads SET renews_at = $1, trial_ends_at = $2 WHERE id = 1`, t0.Add(10*day), t0.Add(5*day))
	mk := func(relativeTo string) *plan.Plan {
		p := datedRescuePlan("1d", relativeTo)
		w := &p.Workflows[0]
		w.Steps = append([]plan.Step{{Name: "extend", Kind: plan.StepSetProperty, Field: "lead.trial_ends_at", Value: t0.Add(7 * day).Format(time.RFC3339)}}, w.Steps...)
		p.Finalize()
		return p
	}
	nb.apply(t, mk("lead.renews_at"))
	nb.step(t, nb.eng)
	abandon(t, nb, nb.clock.Now(), 1)
	for range 3 {
		nb.step(t, nb.eng)
	}
	if got := fmt.Sprint(wakes(t, nb)); got != "[1 11d]" {
		t.Fatalf("timed from renews_at: wake-ups %s", got)
	}
	nb.clock.Advance(day)
	nb.apply(t, mk("lead.trial_ends_at"))
	if err := nb.eng.Reconcile(nb.ctx); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(wakes(t, nb)); got != "[1 8d]" {
		t.Fatalf("retimed to trial_ends_at: wake-ups %s; want day 8, from the written day 7 (the CRM says day 5)", got)
	}
}
