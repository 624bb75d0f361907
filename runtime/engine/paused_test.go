package engine_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/internal/testlog"
	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// A sequence paused mid-run, on a real Postgres and SMTP relay: its message
// already in the outbox is held (pending, never cancelled), no step is taken
// and nobody is enrolled while the clock runs past its next step, and once
// unpaused every enrollment resumes where it was: the held step goes out
// once, then the next, and the contact who joined during the pause is
// enrolled. Nothing lost, nothing twice.
func TestPausedSequenceHoldsAndResumes(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 30)
	const name = "restock_nurture"
	mk := pausedNurture
	day := 24 * time.Hour
	nb.apply(t, mk(false))
	nb.step(t, nb.eng) // day 0: "one" to everyone
	first := nb.relay.Count()
	if first == 0 {
		t.Fatal("nothing sent on day 0")
	}

	// Day 7: "two" is enqueued, then the plan pauses the sequence before the
	// send loop hands it to the relay.
	nb.clock.Advance(7 * day)
	if err := nb.eng.Reconcile(nb.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := nb.eng.AdvanceDue(nb.ctx); err != nil {
		t.Fatal(err)
	}
	nb.apply(t, mk(true))
	// A contact joins the segment during the pause.
	nb.st.DB.MustExec(`INSERT INTO leads (id, email, name, lost_reason) VALUES (1000, 'late@example.com', 'Late', 'Not enough stock')`)
	history := func() int {
		var n int
		if err := nb.st.DB.Get(&n, `SELECT count(*) FROM campaignctl.enrollment_steps`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	enrollments := func() string {
		var rows []struct {
			Key   string    `db:"contact_key"`
			Index int       `db:"step_index"`
			Next  string    `db:"next_step"`
			Wake  time.Time `db:"wake_at"`
		}
		if err := nb.st.DB.Select(&rows, `SELECT contact_key, step_index, next_step, wake_at FROM campaignctl.enrollments ORDER BY contact_key`); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(rows)
	}
	nb.step(t, nb.eng)
	before, hist := enrollments(), history()
	// Day 15: past "three"'s time; several passes, a minute and days apart.
	for _, d := range []time.Duration{time.Minute, 2 * time.Minute, 4 * day, 4 * day} {
		nb.clock.Advance(d)
		nb.step(t, nb.eng)
	}
	if n := nb.relay.Count(); n != first {
		t.Fatalf("while paused, %d messages went out", n-first)
	}
	if got := enrollments(); got != before {
		t.Errorf("enrollments moved while paused:\n%s\nwas:\n%s", got, before)
	}
	if n := history(); n != hist {
		t.Errorf("%d history lines written while paused", n-hist)
	}
	var counts []struct {
		Status string `db:"status"`
		Error  string `db:"last_error"`
		N      int    `db:"n"`
	}
	if err := nb.st.DB.Select(&counts, `SELECT status, coalesce(last_error, '') AS last_error, count(*) AS n FROM campaignctl.outbox
		WHERE step = 'two' GROUP BY 1, 2`); err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 || counts[0].Status != store.OutboxPending || counts[0].Error != "held: object paused" || counts[0].N != first {
		t.Errorf("step two's messages while paused: %+v, want %d pending, held: object paused", counts, first)
	}
	// Each held message was claimed and held once over the four passes (it
	// was due again a minute later, so each pass held all of them again).
	if got := testutil.ToFloat64(nb.eng.Metrics.Held.WithLabelValues("sequence", name, "paused")); got != float64(first) {
		t.Errorf("campaignctl_messages_held_total{rule=paused} = %v over four passes, want %d: each held message once", got, first)
	}

	// Unpaused on day 15: the held "two" goes out, then "three" (its time
	// has passed), and the late contact is enrolled and gets "one".
	nb.apply(t, mk(false))
	for range 4 {
		nb.step(t, nb.eng)
		nb.clock.Advance(time.Minute)
	}
	got := received(t, nb.relay)
	perSubject := map[string]int{}
	for k, n := range got {
		if n != 1 {
			t.Errorf("%s received %d times", k, n)
		}
		perSubject[k[strings.Index(k, "|")+1:]]++
	}
	want := map[string]int{subjUrgent: first + 1, subjIgnored: first, subjWeek3: first}
	if fmt.Sprint(perSubject) != fmt.Sprint(want) {
		t.Fatalf("messages per subject %v, want %v", perSubject, want)
	}
	var cancelled int
	if err := nb.st.DB.Get(&cancelled, `SELECT count(*) FROM campaignctl.outbox WHERE status = 'cancelled'`); err != nil {
		t.Fatal(err)
	}
	if cancelled != 0 {
		t.Errorf("%d messages cancelled", cancelled)
	}
}

// A paused campaign past its send_at is not materialized; once unpaused it
// goes out, once.
func TestPausedCampaignIsNotMaterialized(t *testing.T) {
	t.Parallel()
	b := setup(t, 20)
	c := pausedPastSendAt(t, b)
	for range 3 {
		if n := b.pass(t); n != 0 {
			t.Fatalf("a paused campaign sent %d", n)
		}
	}
	var queued int
	if err := b.st.DB.Get(&queued, `SELECT count(*) FROM campaignctl.outbox`); err != nil {
		t.Fatal(err)
	}
	if queued != 0 {
		t.Fatalf("a paused campaign queued %d messages", queued)
	}
	c.Paused = false
	b.apply(t, testPlan("Hello", c))
	if n := b.pass(t) + b.pass(t); n != 10 {
		t.Fatalf("unpaused, it sent %d, want the 10 active contacts", n)
	}
	if n := b.smtp.Count(); n != 10 {
		t.Fatalf("the relay received %d, want 10", n)
	}
}

// An event-triggered workflow paused mid-run: the registrations of the pause
// enroll nobody and its waiting enrollment takes no step while paused; once
// unpaused, the trigger reads on from where it stopped, so those contacts are
// welcomed, late, once each, and the waiting one resumes.
func TestPausedWorkflowKeepsItsEvents(t *testing.T) {
	t.Parallel()
	p := examplePlan(t, "lifecycle")
	var ws []plan.Workflow
	for _, w := range p.Workflows {
		if w.Name == "welcome_on_registration" {
			ws = append(ws, w)
		}
	}
	p.Workflows = ws
	mk := func(paused bool) *plan.Plan {
		q := *p
		q.Workflows = []plan.Workflow{ws[0]}
		q.Workflows[0].Paused = paused
		q.Finalize()
		return &q
	}
	nb, eng := workflowRig(t)
	db, st, ctx := nb.st.DB, nb.st, nb.ctx
	for i := 1; i <= 4; i++ {
		db.MustExec(`INSERT INTO crm_customer (id, name, email, orders) VALUES ($1, $2, $3, 0)`,
			i, fmt.Sprintf("Customer %d", i), fmt.Sprintf("customer%d@example.org", i))
	}
	reg := func(ids ...int) {
		var evs []store.Event
		for _, id := range ids {
			evs = append(evs, store.Event{OccurredAt: nb.clock.Now(), Model: "customer", ContactKey: fmt.Sprint(id), Type: "registration", Properties: []byte(`{}`)})
		}
		if _, err := st.InsertEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	day := 24 * time.Hour
	nb.apply(t, mk(false))
	nb.step(t, eng)
	reg(1)
	nb.step(t, eng)
	nb.step(t, eng)
	if n := nb.relay.Count(); n != 1 {
		t.Fatalf("customer 1 welcomed with %d messages, want 1", n)
	}

	nb.apply(t, mk(true))
	nb.step(t, eng)
	nb.clock.Advance(time.Hour)
	reg(2, 3)
	for _, d := range []time.Duration{time.Minute, day, 4 * day} {
		nb.clock.Advance(d)
		nb.step(t, eng)
	}
	reg(4)
	nb.step(t, eng)
	if n := nb.relay.Count(); n != 1 {
		t.Fatalf("while paused, %d messages went out", n-1)
	}
	var enrolled int
	if err := db.Get(&enrolled, `SELECT count(*) FROM campaignctl.enrollments`); err != nil {
		t.Fatal(err)
	}
	if enrolled != 1 {
		t.Fatalf("%d enrollments while paused, want customer 1's only", enrolled)
	}

	nb.apply(t, mk(false))
	runWorkflows(t, nb, nb.clock.Now().Add(5*day), nil, eng)
	perAddress := map[string]int{}
	for k, n := range received(t, nb.relay) {
		if n != 1 {
			t.Errorf("%s received %d times", k, n)
		}
		perAddress[k[:strings.Index(k, "|")]]++
	}
	// Each gets the welcome and, not having ordered three days later, the
	// first-order offer: customer 1 the offer it waited for during the pause.
	want := map[string]int{"customer1@example.org": 2, "customer2@example.org": 2, "customer3@example.org": 2, "customer4@example.org": 2}
	if fmt.Sprint(perAddress) != fmt.Sprint(want) {
		t.Fatalf("messages per address %v, want %v", perAddress, want)
	}
}

// A replica still on the plan that paused an object can hold one of its
// messages after the leader, on the plan that unpauses it, released the
// held ones (each replica reads the latest revision before it claims, so
// the window is short, but it exists). The leader's next pass releases that
// message too: nothing stays held for a pause that has ended. The stale hold
// is injected as the stale replica's ledger writes it.
func TestStaleReplicasPausedHoldIsReleasedOnTheNextPass(t *testing.T) {
	t.Parallel()
	b := setup(t, 20) // 10 active
	b.apply(t, testPlan("Hi", campaign("c", "")))
	if err := b.eng.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := b.st.DB.Get(&id, `UPDATE campaignctl.outbox SET due_at = $1, last_error = 'held: object paused'
		WHERE id = (SELECT min(id) FROM campaignctl.outbox) RETURNING id`, store.HeldWhilePaused); err != nil {
		t.Fatal(err)
	}
	if n := b.pass(t); n != 10 {
		t.Fatalf("one pass sent %d, want all 10, the stale hold included", n)
	}
	var status string
	if err := b.st.DB.Get(&status, `SELECT status FROM campaignctl.outbox WHERE id = $1`, id); err != nil || status != store.OutboxSent {
		t.Fatalf("the message a stale replica held: %q (%v), want sent", status, err)
	}
}

// pausedNurture is the nurture sequence, paused or not, with three steps a
// week apart.
func pausedNurture(paused bool) *plan.Plan {
	p := nurturePlan()
	p.Sequences[0].Goal = ""
	p.Sequences[0].Paused = paused
	p.Sequences[0].Steps = []plan.SequenceStep{
		{Name: "one", Offset: "0d", Template: "restock_week1"},
		{Name: "two", Offset: "7d", Template: "restock_week2_ignored"},
		{Name: "three", Offset: "14d", Template: "restock_week3"},
	}
	p.Finalize()
	return p
}

// waitingOnPaused runs e with --exit-when-idle until its log says, for the
// paused object, what it holds (want, e.g. "kind=sequence object=x
// enrollments=0 messages=0"), and checks it is still running. It returns a
// channel closed once Run returns.
func waitingOnPaused(t *testing.T, e *engine.Engine, want string) <-chan struct{} {
	t.Helper()
	logs := &testlog.Buffer{}
	e.Log = slog.New(slog.NewTextHandler(logs, nil))
	_, done := run(t, e, engine.RunOptions{Interval: 20 * time.Millisecond, ExitWhenIdle: true})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), want) {
		select {
		case <-done:
			t.Fatalf("serve --exit-when-idle exited while a paused object waits, without a word on it:\n%s", logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s the log does not say %q:\n%s", want, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // fifteen more passes: an absence cannot be waited for
	select {
	case <-done:
		t.Fatalf("serve --exit-when-idle exited while a paused object waits:\n%s", logs)
	default:
	}
	if n := strings.Count(logs.String(), "not exiting when idle"); n != 1 {
		t.Errorf("the wait is logged %d times, want once per revision:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("the wait is not a warning:\n%s", logs)
	}
	return done
}

// A sequence paused before it enrolled anyone has work that cannot proceed
// (its segment is not read while paused): --exit-when-idle used to exit
// silently, as if the plan were carried out. The daemon waits, says which
// object it waits for, and once a revision unpauses it, enrolls, sends and
// exits.
func TestExitWhenIdleWaitsForAPausedObjectWithoutEnrollments(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 10)
	nb.apply(t, pausedNurture(true))
	done := waitingOnPaused(t, nb.eng, "kind=sequence object=restock_nurture enrollments=0 messages=0")
	if n := nb.relay.Count(); n != 0 {
		t.Errorf("a paused sequence sent %d messages", n)
	}
	nb.apply(t, pausedNurture(false))
	waitFor(t, "day 0's messages after the unpause", 20*time.Second, func() bool { return nb.relay.Count() > 0 })
	nb.clock.Advance(15 * 24 * time.Hour)
	waitDone(t, done, 30*time.Second, "serve --exit-when-idle to exit once the unpaused sequence finished")
	var active int
	if err := nb.st.DB.Get(&active, `SELECT count(*) FROM campaignctl.enrollments WHERE state = 'active'`); err != nil || active != 0 {
		t.Errorf("%d enrollments active after the exit (%v)", active, err)
	}
}

// A sequence paused with enrollments waiting and a step's messages held:
// the daemon waits (as it did), and now says for what, with counts and no
// contact data; unpaused, it sends the held step and the next, then exits.
func TestExitWhenIdleSaysWhatAPausedObjectHolds(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 10)
	nb.apply(t, pausedNurture(false))
	nb.step(t, nb.eng) // day 0: "one" to everyone
	first := nb.relay.Count()
	if first == 0 {
		t.Fatal("nothing sent on day 0")
	}
	nb.clock.Advance(7 * 24 * time.Hour)
	if err := nb.eng.Reconcile(nb.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := nb.eng.AdvanceDue(nb.ctx); err != nil {
		t.Fatal(err)
	}
	nb.apply(t, pausedNurture(true))
	done := waitingOnPaused(t, nb.eng, fmt.Sprintf("kind=sequence object=restock_nurture enrollments=%d messages=%d", first, first))
	if n := nb.relay.Count(); n != first {
		t.Errorf("%d messages of the paused sequence went out", n-first)
	}
	nb.apply(t, pausedNurture(false))
	waitFor(t, "the held step after the unpause", 20*time.Second, func() bool { return nb.relay.Count() == 2*first })
	nb.clock.Advance(7 * 24 * time.Hour)
	waitDone(t, done, 30*time.Second, "serve --exit-when-idle to exit once the unpaused sequence finished")
	if n := nb.relay.Count(); n != 3*first {
		t.Errorf("%d messages in all, want the 3 steps to each of %d", n, first)
	}
}

// A paused campaign past its send_at is never materialized while paused: the
// daemon waits for it, saying so, and sends it once unpaused, then exits.
func TestExitWhenIdleWaitsForAPausedCampaign(t *testing.T) {
	t.Parallel()
	b := setup(t, 20)
	c := pausedPastSendAt(t, b)
	done := waitingOnPaused(t, b.eng, "kind=campaign object=later enrollments=0 messages=0")
	if n := b.smtp.Count(); n != 0 {
		t.Errorf("a paused campaign sent %d", n)
	}
	c.Paused = false
	b.apply(t, testPlan("Hello", c))
	waitDone(t, done, 30*time.Second, "serve --exit-when-idle to exit once the unpaused campaign went out")
	if n := b.smtp.Count(); n != 10 {
		t.Errorf("the relay received %d, want the 10 active contacts", n)
	}
}

// pausedPastSendAt applies a plan whose campaign "later", due an hour after
// t0, is paused, moves the clock an hour past its send_at, and returns the
// campaign.
func pausedPastSendAt(t *testing.T, b *bundle) plan.Campaign {
	t.Helper()
	c := campaign("later", t0.Add(time.Hour).Format(time.RFC3339))
	c.Paused = true
	b.apply(t, testPlan("Hello", c))
	b.clock.Advance(2 * time.Hour)
	return c
}
