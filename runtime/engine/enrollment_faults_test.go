package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// The enrollment side (sequences, workflows) under the faults the send path is
// tested with: replicas, a plan change mid-run, a crash mid-advance.

// threeSteps is the nurture plan with a goal-less sequence of the given steps
// (name, offset, template) and, when welcome is set, a second sequence
// "welcome" of one step on the same segment.
func threeSteps(welcome bool, steps ...[3]string) *plan.Plan {
	p := nurturePlan()
	p.Sequences[0].Goal = ""
	p.Sequences[0].Steps = nil
	for _, s := range steps {
		p.Sequences[0].Steps = append(p.Sequences[0].Steps, plan.SequenceStep{Name: s[0], Offset: s[1], Template: s[2]})
	}
	if welcome {
		p.Templates = append(p.Templates, plan.Template{Name: "welcome", Subject: "Welcome", Text: "Hi {{ .unsubscribe_url }}", Class: plan.ClassMarketing})
		p.Sequences = append(p.Sequences, plan.Sequence{Name: "welcome", Model: "lead", Segment: "restock_waitlist", Sender: "warehouse",
			Steps: []plan.SequenceStep{{Name: "hello", Offset: "0d", Template: "welcome"}}})
	}
	p.Finalize()
	return p
}

// perSubject counts the relay's messages by subject, failing on any address
// that received one subject twice.
func perSubject(t *testing.T, nb *nurtureBundle) map[string]int {
	t.Helper()
	out := map[string]int{}
	for k, n := range received(t, nb.relay) {
		if n != 1 {
			t.Errorf("%s received %d times", k, n)
		}
		out[k[strings.Index(k, "|")+1:]]++
	}
	return out
}

// A replica advances with the plan its Run loop loaded last, up to one
// --interval old. Enrollments the leader made under a newer revision, or
// steps that revision added, must not be judged by the older plan: a new
// sequence's enrollments used to be put off for an hour ("not in the plan"),
// and an enrollment at the old last step exited completed, never getting the
// step the new revision appended.
func TestReplicaWithAnOlderPlanAdvancesUnderTheNewOne(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 30)
	stale := nb.replica(t, "r1")
	day := 24 * time.Hour
	nb.apply(t, threeSteps(false, [3]string{"one", "0d", "restock_week1"}, [3]string{"two", "7d", "restock_week2_ignored"}))
	nb.step(t, nb.eng) // day 0: "one" to everyone
	first := nb.relay.Count()
	if first == 0 {
		t.Fatal("nothing sent on day 0")
	}
	if err := engine.Load(nb.ctx, stale); err != nil {
		t.Fatal(err)
	}
	// Day 7: a new revision appends "three" and adds the sequence "welcome";
	// the leader enrolls under it, and the replica advances before its Run
	// loop loaded it.
	nb.clock.Advance(7 * day)
	nb.apply(t, threeSteps(true, [3]string{"one", "0d", "restock_week1"}, [3]string{"two", "7d", "restock_week2_ignored"}, [3]string{"three", "8d", "restock_week3"}))
	if err := nb.eng.Reconcile(nb.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.AdvanceLoaded(nb.ctx, stale); err != nil {
		t.Fatal(err)
	}
	if _, err := nb.eng.SendDue(nb.ctx); err != nil {
		t.Fatal(err)
	}
	got := perSubject(t, nb)
	if got["Welcome"] != first || got[subjIgnored] != first {
		t.Fatalf("day 7, advanced by the replica: %v; want %d of Welcome and of %q at once", got, first, subjIgnored)
	}
	nb.clock.Advance(day)
	nb.step(t, nb.eng, stale)
	nb.step(t, nb.eng, stale)
	want := map[string]int{subjUrgent: first, subjIgnored: first, "Welcome": first, subjWeek3: first}
	if got := perSubject(t, nb); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("day 8: messages per subject %v, want %v", got, want)
	}
}

// rescuePlan is the nurture plan's model, sender and templates with one
// event-triggered workflow: "first" at once, "second" a day later, "third"
// a day after that, "fourth" a day later. Re-enrollment is allowed, at once.
func rescuePlan(steps ...plan.Step) *plan.Plan {
	p := nurturePlan()
	p.Sequences = nil
	if len(steps) == 0 {
		steps = []plan.Step{
			{Name: "first", Kind: plan.StepSend, Template: "restock_week1"},
			{Name: "day1", Kind: plan.StepWait, Duration: "1d"},
			{Name: "second", Kind: plan.StepSend, Template: "restock_week2_ignored"},
			{Name: "day2", Kind: plan.StepWait, Duration: "1d"},
			{Name: "third", Kind: plan.StepSend, Template: "restock_week3"},
			{Name: "day3", Kind: plan.StepWait, Duration: "1d"},
			{Name: "fourth", Kind: plan.StepSend, Template: "restock_week2_clicked"},
		}
	}
	p.Workflows = []plan.Workflow{{Name: "rescue", Type: "abandoned_cart", Model: "lead", Class: plan.ClassMarketing, Sender: "warehouse",
		Trigger: plan.Trigger{Event: "cart_abandoned"}, Reenroll: &plan.Reenroll{Allowed: true}, Steps: steps}}
	p.Finalize()
	return p
}

// abandon stores a cart_abandoned event of each lead, with an external id.
func abandon(t *testing.T, nb *nurtureBundle, at time.Time, ids ...int) int64 {
	t.Helper()
	var evs []store.Event
	for _, id := range ids {
		evs = append(evs, store.Event{OccurredAt: at, Model: "lead", ContactKey: fmt.Sprint(id), Type: "cart_abandoned",
			ExternalID: fmt.Sprintf("cart-%d", id), Properties: []byte(`{}`)})
	}
	n, err := nb.st.InsertEvents(nb.ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A trigger event delivered twice (a client re-sending a batch: the same
// external id at the same instant), and one read again on every pass while it
// is newer than the trigger cursor's margin, enrolls its contact once, even
// in a workflow that allows re-enrollment at once and whose enrollment ended
// before the event was read again.
func TestTriggerEventDeliveredTwiceEnrollsOnce(t *testing.T) {
	t.Parallel()
	nb, at := enrolledByOneEventEach(t)
	if n := abandon(t, nb, at, 1, 2, 3); n != 0 {
		t.Fatalf("the re-sent batch stored %d events, want none", n)
	}
	for range 3 {
		nb.clock.Advance(time.Minute)
		nb.step(t, nb.eng)
	}
	nb.assertEnrolledOnceEach(t)
}

// A client retrying a trigger event with another timestamp (its own clock, a
// corrected time, a month earlier) sends the same event: the same external
// id. It is stored once, so it does not enroll its contact a second time in a
// workflow that allows re-enrollment at once, after the first enrollment
// ended.
func TestTriggerEventRetriedWithAnotherTimeEnrollsOnce(t *testing.T) {
	t.Parallel()
	nb, at := enrolledByOneEventEach(t)
	for _, retry := range []time.Time{at.Add(90 * time.Second), at.AddDate(0, -1, 0)} {
		if n := abandon(t, nb, retry, 1, 2, 3); n != 0 {
			t.Errorf("the retry at %s stored %d events, want none", retry.Format(time.RFC3339), n)
		}
		for range 3 {
			nb.clock.Advance(3 * time.Minute) // past the trigger cursor's margin
			nb.step(t, nb.eng)
		}
	}
	nb.assertEnrolledOnceEach(t)
}

// A workflow's plan changes while its enrollments run: an edited template
// applies to the messages already enqueued and not yet sent; removing the
// workflow exits its enrollments and cancels its queued messages on the
// leader's first pass under the new revision, and nothing more of it is sent.
func TestWorkflowEditedThenRemovedMidRun(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 20)
	r1 := nb.replica(t, "r1")
	day := 24 * time.Hour
	nb.apply(t, rescuePlan())
	nb.step(t, nb.eng, r1)
	abandon(t, nb, nb.clock.Now(), 1, 2, 3, 4, 6, 8)
	nb.step(t, nb.eng, r1)
	nb.step(t, nb.eng, r1)
	if got := perSubject(t, nb); got[subjUrgent] != 6 {
		t.Fatalf("day 0: %v, want %q to the 6 who abandoned a cart", got, subjUrgent)
	}
	pending := func(step string) (n int) {
		t.Helper()
		if err := nb.st.DB.Get(&n, `SELECT count(*) FROM campaignctl.outbox WHERE kind = 'workflow' AND step = $1 AND status = 'pending'`, step); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Day 1: "second" is enqueued, then its template is edited before it goes.
	nb.clock.Advance(day)
	if _, err := r1.AdvanceDue(nb.ctx); err != nil {
		t.Fatal(err)
	}
	if n := pending("second"); n != 6 {
		t.Fatalf("%d messages of step second pending, want 6", n)
	}
	edited := rescuePlan()
	for i := range edited.Templates {
		if edited.Templates[i].Name == "restock_week2_ignored" {
			edited.Templates[i].Subject = "Edited"
		}
	}
	edited.Finalize()
	nb.apply(t, edited)
	nb.step(t, nb.eng, r1)
	if got := perSubject(t, nb); got["Edited"] != 6 || got[subjIgnored] != 0 {
		t.Fatalf("day 1 after the edit: %v, want the edited subject to the 6", got)
	}
	// Day 2: "third" is enqueued, then the workflow leaves the plan.
	nb.clock.Advance(day)
	if _, err := r1.AdvanceDue(nb.ctx); err != nil {
		t.Fatal(err)
	}
	if n := pending("third"); n != 6 {
		t.Fatalf("%d messages of step third pending, want 6", n)
	}
	gone := rescuePlan()
	gone.Workflows = nil
	gone.Finalize()
	nb.apply(t, gone)
	if err := nb.eng.Reconcile(nb.ctx); err != nil {
		t.Fatal(err)
	}
	var states []string
	if err := nb.st.DB.Select(&states, `SELECT DISTINCT state || ' ' || coalesce(exit_reason, '') FROM campaignctl.enrollments`); err != nil {
		t.Fatal(err)
	}
	var cancelled int
	if err := nb.st.DB.Get(&cancelled, `SELECT count(*) FROM campaignctl.outbox WHERE kind = 'workflow' AND step = 'third' AND status = 'cancelled'`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(states) != "[exited removed]" || cancelled != 6 {
		t.Fatalf("after the leader's first pass under the removal: enrollments %v, %d of step third cancelled; want all exited removed, 6 cancelled", states, cancelled)
	}
	abandon(t, nb, nb.clock.Now(), 5)
	for range 3 {
		nb.clock.Advance(day)
		nb.step(t, nb.eng, r1)
	}
	want := map[string]int{subjUrgent: 6, "Edited": 6}
	if got := perSubject(t, nb); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("messages per subject %v, want %v (nothing after the removal)", got, want)
	}
}

// Three daemons (Run, --exit-when-idle) advance one sequence and one workflow
// on one database, in small batches, with the plan paused and unpaused
// mid-run (days 1 and 2 pass while paused): every contact gets each step's
// message once, every enrollment takes each step once (one history line)
// and completes, nothing moves while paused, and each daemon exits once, and
// only once, everything is done.
func TestThreeDaemonsAdvanceEachStepOncePausedMidRun(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 60)
	mk := func(paused bool) *plan.Plan {
		p := threeSteps(false, [3]string{"one", "0d", "restock_week1"}, [3]string{"two", "1d", "restock_week2_ignored"}, [3]string{"three", "2d", "restock_week3"})
		p.Sequences[0].Paused = paused
		var steps []plan.Step
		for i, name := range []string{"first", "second", "third"} {
			if i > 0 {
				steps = append(steps, plan.Step{Name: "wait_" + name, Kind: plan.StepWait, Duration: "1d"})
			}
			steps = append(steps, plan.Step{Name: name, Kind: plan.StepSend, Template: "wf_" + name})
			p.Templates = append(p.Templates, plan.Template{Name: "wf_" + name, Subject: "Cart " + name, Text: "x {{ .unsubscribe_url }}", Class: plan.ClassMarketing})
		}
		p.Workflows = rescuePlan(steps...).Workflows
		p.Workflows[0].Paused = paused
		p.Finalize()
		return p
	}
	nb.apply(t, mk(false))
	// Nobody leads at first: the test holds the leadership lock, so nothing
	// is enrolled yet and nothing is pending.
	release := holdLeadership(t, nb.bundle)
	opts := engine.RunOptions{Interval: 20 * time.Millisecond, ExitWhenIdle: true}
	var dones []<-chan struct{}
	var engines []*engine.Engine
	for i := range 3 {
		e := nb.eng
		if i > 0 {
			e = nb.replica(t, fmt.Sprintf("r%d", i))
		}
		e.BatchSize = 5
		_, done := run(t, e, opts)
		dones, engines = append(dones, done), append(engines, e)
	}
	running := func(when string) {
		t.Helper()
		for i, d := range dones {
			select {
			case <-d:
				t.Fatalf("%s: daemon %d exited with work left", when, i)
			default:
			}
		}
	}
	time.Sleep(300 * time.Millisecond) // fifteen passes of each daemon: an absence cannot be waited for
	running("before anyone enrolled")
	release()
	carts := []int{2, 3, 4, 6, 8, 9, 11, 12, 13, 14, 16, 17}
	abandon(t, nb, nb.clock.Now(), carts...)
	var enrolled int
	waitFor(t, "the sequence's enrollment", 20*time.Second, func() bool {
		return nb.st.DB.Get(&enrolled, `SELECT count(*) FROM campaignctl.enrollments WHERE kind = 'sequence'`) == nil && enrolled > 0
	})
	total := func(seq, wf int) int { return seq*enrolled + wf*len(carts) }
	waitFor(t, "day 0's messages", 20*time.Second, func() bool { return nb.relay.Count() == total(1, 1) })
	running("day 0")
	history := func() (n int) {
		t.Helper()
		if err := nb.st.DB.Get(&n, `SELECT count(*) FROM campaignctl.enrollment_steps`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The plan pauses both objects; once every daemon runs it, days 1 and 2
	// pass: nothing is sent or written.
	nb.apply(t, mk(true))
	var paused int64
	if err := nb.st.DB.Get(&paused, `SELECT max(id) FROM campaignctl.revisions`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every daemon to run the paused plan", 20*time.Second, func() bool {
		for _, e := range engines {
			if int64(testutil.ToFloat64(e.Metrics.AppliedRevision)) != paused {
				return false
			}
		}
		return true
	})
	sent, hist := nb.relay.Count(), history()
	for range 2 {
		nb.clock.Advance(24 * time.Hour)
		time.Sleep(300 * time.Millisecond) // fifteen passes of each daemon: an absence cannot be waited for
		running("paused")
		if n, h := nb.relay.Count(), history(); n != sent || h != hist {
			t.Fatalf("while paused: %d messages and %d history lines more", n-sent, h-hist)
		}
	}
	// Unpaused on day 2: the sequence catches up (two and three at once);
	// the workflow sends "second", and "third" a day after it (a wait after a
	// send counts from the send).
	nb.apply(t, mk(false))
	waitFor(t, "the catch-up after the pause", 20*time.Second, func() bool { return nb.relay.Count() == total(3, 2) })
	running("the workflow's last wait")
	nb.clock.Advance(24 * time.Hour)
	for i, d := range dones {
		waitDone(t, d, 30*time.Second, fmt.Sprintf("daemon %d to exit once idle", i))
	}
	want := map[string]int{subjUrgent: enrolled, subjIgnored: enrolled, subjWeek3: enrolled,
		"Cart first": len(carts), "Cart second": len(carts), "Cart third": len(carts)}
	if got := perSubject(t, nb); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("messages per subject %v, want %v", got, want)
	}
	nb.assertStepsOnceAllCompleted(t, "sequence", "workflow")
}

// The database goes away in the middle of an advance: the second batch's
// connection is terminated (what a Postgres restart does to every backend)
// after its messages were enqueued and before its enrollments moved, and the
// replica that advanced the first batch is never heard from again (a crash
// between an advance and the send of its messages). The other replica takes
// over: every contact gets each step once, each step is taken once, and
// every enrollment completes.
func TestConnectionLostMidAdvanceLosesAndDoublesNothing(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 60)
	nb.apply(t, threeSteps(false, [3]string{"one", "0d", "restock_week1"}, [3]string{"two", "1d", "restock_week2_ignored"}, [3]string{"three", "2d", "restock_week3"}))
	crashed := nb.eng
	crashed.BatchSize = 10
	if err := crashed.Reconcile(nb.ctx); err != nil {
		t.Fatal(err)
	}
	// The second batch's history lines (written after its messages, before
	// its moves, in the same transaction) wait until the test kills them.
	nb.st.DB.MustExec(`CREATE SEQUENCE stall_history`)
	nb.st.DB.MustExec(`CREATE FUNCTION stall_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('stall_history') = 2 THEN PERFORM pg_sleep(60); END IF;
  RETURN NULL;
END $$`)
	nb.st.DB.MustExec(`CREATE TRIGGER stall_history BEFORE INSERT ON campaignctl.enrollment_steps FOR EACH STATEMENT EXECUTE FUNCTION stall_history()`)
	advanced := make(chan error, 1)
	go func() {
		_, err := crashed.AdvanceDue(nb.ctx)
		advanced <- err
	}()
	var pid int
	waitFor(t, "the second batch to stall", 20*time.Second, func() bool {
		return nb.st.DB.Get(&pid, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'`) == nil
	})
	nb.st.DB.MustExec(`SELECT pg_terminate_backend($1)`, pid)
	if err := <-advanced; err == nil {
		t.Fatal("the advance whose connection was terminated reported no error")
	}
	var enqueued, moved int
	if err := nb.st.DB.Get(&enqueued, `SELECT count(*) FROM campaignctl.outbox`); err != nil {
		t.Fatal(err)
	}
	if err := nb.st.DB.Get(&moved, `SELECT count(*) FROM campaignctl.enrollments WHERE step_index > 0`); err != nil {
		t.Fatal(err)
	}
	if enqueued != 10 || moved != 10 {
		t.Fatalf("after the lost connection: %d messages enqueued, %d enrollments moved; want the first batch's 10 of each", enqueued, moved)
	}
	// The crashed replica is gone; another one carries on.
	other := nb.replica(t, "r1")
	for range 3 {
		nb.step(t, other)
		nb.step(t, other)
		nb.clock.Advance(24 * time.Hour)
	}
	var enrolled int
	if err := nb.st.DB.Get(&enrolled, `SELECT count(*) FROM campaignctl.enrollments`); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{subjUrgent: enrolled, subjIgnored: enrolled, subjWeek3: enrolled}
	if got := perSubject(t, nb); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("messages per subject %v, want %v", got, want)
	}
	nb.assertStepsOnceAllCompleted(t, "sequence")
}

// A step's offset edited mid-run reaches the enrollments already waiting for
// it: shortened, the step goes out at the new time (at once if it passed),
// not at the wake-up written under the old offset; lengthened, it waits.
func TestEditedOffsetReachesEnrollmentsAlreadyWaiting(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 30)
	day := 24 * time.Hour
	nb.apply(t, threeSteps(false, [3]string{"one", "0d", "restock_week1"}, [3]string{"two", "7d", "restock_week2_ignored"}, [3]string{"three", "14d", "restock_week3"}))
	nb.step(t, nb.eng)
	first := nb.relay.Count()
	nb.clock.Advance(4 * day)
	nb.apply(t, threeSteps(false, [3]string{"one", "0d", "restock_week1"}, [3]string{"two", "3d", "restock_week2_ignored"}, [3]string{"three", "16d", "restock_week3"}))
	nb.step(t, nb.eng)
	nb.step(t, nb.eng)
	if got := perSubject(t, nb); got[subjIgnored] != first {
		t.Fatalf("day 4, step two moved from 7d to 3d: %v; want %q to the %d at once", got, subjIgnored, first)
	}
	nb.clock.Advance(10 * day) // day 14: three's old time
	nb.step(t, nb.eng)
	if got := perSubject(t, nb); got[subjWeek3] != 0 {
		t.Fatalf("day 14, step three moved from 14d to 16d: %v; want nothing of it yet", got)
	}
	nb.clock.Advance(2 * day)
	nb.step(t, nb.eng)
	nb.step(t, nb.eng)
	want := map[string]int{subjUrgent: first, subjIgnored: first, subjWeek3: first}
	if got := perSubject(t, nb); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("day 16: %v, want %v", got, want)
	}
}

// A workflow's wait edited mid-run reaches the enrollments already in it,
// counted from when their wait began: shortened, they go on at the new end
// (at once when it has passed); lengthened, they wait longer. docs/engine.md
// says so, and so does the diff's warning (workflow_wait_edited).
func TestEditedWorkflowWaitReachesContactsAlreadyWaiting(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 10)
	day := 24 * time.Hour
	mk := func(wait string) *plan.Plan {
		return rescuePlan(
			plan.Step{Name: "first", Kind: plan.StepSend, Template: "restock_week1"},
			plan.Step{Name: "pause", Kind: plan.StepWait, Duration: wait},
			plan.Step{Name: "second", Kind: plan.StepSend, Template: "restock_week3"})
	}
	steps := func() {
		nb.step(t, nb.eng)
		nb.step(t, nb.eng)
	}
	nb.apply(t, mk("4d"))
	nb.step(t, nb.eng)
	abandon(t, nb, nb.clock.Now(), 1, 2)
	steps() // day 0: 1 and 2 get "first" and wait until day 4
	nb.clock.Advance(day)
	nb.apply(t, mk("2d")) // day 1: shortened to two days
	abandon(t, nb, nb.clock.Now(), 3)
	steps() // 3 gets "first" and waits two days, until day 3
	if got := perSubject(t, nb); got[subjUrgent] != 3 || got[subjWeek3] != 0 {
		t.Fatalf("day 1: %v; want %q to all 3 and %q to nobody yet", got, subjUrgent, subjWeek3)
	}
	nb.clock.Advance(day)
	steps()
	// Day 2: 1 and 2 began their wait on day 0; two days have passed.
	if got := perSubject(t, nb); got[subjWeek3] != 2 {
		t.Fatalf("day 2, the wait shortened from 4d to 2d: %v; want %q to the 2 contacts waiting since day 0", got, subjWeek3)
	}
	nb.apply(t, mk("5d")) // day 2: lengthened to five days
	nb.clock.Advance(day)
	steps()
	// Day 3: 3's wait under the old duration ends now; under the new one on day 6.
	if got := perSubject(t, nb); got[subjWeek3] != 2 {
		t.Fatalf("day 3, the wait lengthened from 2d to 5d: %v; want nothing more before day 6", got)
	}
	nb.clock.Advance(2 * day)
	steps()
	if got := perSubject(t, nb); got[subjWeek3] != 2 {
		t.Fatalf("day 5: %v; want nothing more before day 6", got)
	}
	nb.clock.Advance(day)
	steps()
	if got := perSubject(t, nb); got[subjWeek3] != 3 || got[subjUrgent] != 3 {
		t.Fatalf("day 6: %v; want both steps to all 3", got)
	}
	var waiting int
	if err := nb.st.DB.Get(&waiting, `SELECT count(*) FROM campaignctl.enrollments WHERE wait_step IS NOT NULL OR waited_from IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	if waiting != 0 {
		t.Errorf("%d enrollments still say they wait after leaving the wait", waiting)
	}
}

// A workflow step removed mid-run: its messages not yet handed to the relay
// are cancelled, and an enrollment waiting for it resumes at the step that
// took its place (here the next wait, counted from the end of the previous
// one); nobody gets the removed step, everybody the later ones, once.
func TestWorkflowStepRemovedMidRun(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 10)
	day := 24 * time.Hour
	nb.apply(t, rescuePlan())
	nb.step(t, nb.eng)
	abandon(t, nb, nb.clock.Now(), 1, 2)
	nb.step(t, nb.eng)
	nb.clock.Advance(day / 2)
	abandon(t, nb, nb.clock.Now(), 3)
	nb.step(t, nb.eng)
	// Day 1: "second" is enqueued for 1 and 2, then removed from the plan;
	// 3 still waits for it.
	nb.clock.Advance(day / 2)
	if _, err := nb.eng.AdvanceDue(nb.ctx); err != nil {
		t.Fatal(err)
	}
	without := rescuePlan()
	w := &without.Workflows[0]
	for i, st := range w.Steps {
		if st.Name == "second" {
			w.Steps = append(w.Steps[:i:i], w.Steps[i+1:]...)
			break
		}
	}
	without.Finalize()
	nb.apply(t, without)
	for range 8 {
		nb.step(t, nb.eng)
		nb.clock.Advance(day / 2)
	}
	want := map[string]int{subjUrgent: 3, subjWeek3: 3, subjClicked: 3}
	if got := perSubject(t, nb); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("messages per subject %v, want %v (never the removed step)", got, want)
	}
	var cancelled []string
	if err := nb.st.DB.Select(&cancelled, `SELECT contact_key || ' ' || last_error FROM campaignctl.outbox WHERE status = 'cancelled' ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cancelled) != "[1 step second no longer sends in workflow rescue 2 step second no longer sends in workflow rescue]" {
		t.Errorf("cancelled: %v, want the removed step's two queued messages", cancelled)
	}
	var third []string
	if err := nb.st.DB.Select(&third, `SELECT contact_key || ' ' || to_char(created_at AT TIME ZONE 'UTC', 'DD HH24') FROM campaignctl.outbox WHERE step = 'third' ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(third) != "[1 03 09 2 03 09 3 03 21]" {
		t.Errorf("third enqueued %v; want 1 and 2 on day 2 (a day after their first wait ended), 3 on day 2.5", third)
	}
}

// assertEnrolledOnceEach checks that contacts 1, 2 and 3 were enrolled once
// each, ended, and got the workflow's one message once.
func (nb *nurtureBundle) assertEnrolledOnceEach(t *testing.T) {
	t.Helper()
	var occ []string
	if err := nb.st.DB.Select(&occ, `SELECT contact_key || ':' || occurrence || ':' || state FROM campaignctl.enrollments ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(occ) != "[1:1:exited 2:1:exited 3:1:exited]" {
		t.Fatalf("enrollments %v, want one occurrence each, ended", occ)
	}
	if got := perSubject(t, nb); got[subjUrgent] != 3 || len(got) != 1 {
		t.Fatalf("messages per subject %v, want %q to each of the 3 once", got, subjUrgent)
	}
}

// assertStepsOnceAllCompleted checks that no enrollment took a step twice
// and that every enrollment, of exactly the kinds given, exited completed.
func (nb *nurtureBundle) assertStepsOnceAllCompleted(t *testing.T, kinds ...string) {
	t.Helper()
	var twice []string
	if err := nb.st.DB.Select(&twice, `SELECT enrollment_id || ' ' || step || ' ' || action || ' x' || count(*) FROM campaignctl.enrollment_steps
		GROUP BY enrollment_id, step, action HAVING count(*) > 1 ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if len(twice) > 0 {
		t.Errorf("steps taken more than once: %v", head(twice))
	}
	var states []string
	if err := nb.st.DB.Select(&states, `SELECT DISTINCT kind || ' ' || state || ' ' || coalesce(exit_reason, '') FROM campaignctl.enrollments ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	want := make([]string, len(kinds))
	for i, k := range kinds {
		want[i] = k + " exited completed"
	}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("enrollments at the end: %v, want all completed (%v)", states, want)
	}
}

// An operator excludes a contact from a workflow while the leader's
// enrollment pass decides on that contact's trigger event. The pass read the
// exclusions before the operator's transaction committed and wrote the
// enrollment after: the contact must not end up enrolled (nor mailed) once
// the exclusion is recorded. Each iteration holds the pass just before it
// writes (the test locks trigger_seen, written first in that transaction),
// excludes, and lets it go; the rest of the iterations race freely.
func TestExcludeRacingAnEventEnrollmentPass(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 30)
	nb.apply(t, rescuePlan(plan.Step{Name: "only", Kind: plan.StepSend, Template: "restock_week1"}))
	nb.step(t, nb.eng)
	active := func(key int) (n int) {
		t.Helper()
		if err := nb.st.DB.Get(&n, `SELECT count(*) FROM campaignctl.enrollments WHERE kind = 'workflow' AND object = 'rescue' AND contact_key = $1 AND state = 'active'`, fmt.Sprint(key)); err != nil {
			t.Fatal(err)
		}
		return n
	}
	exclude := func(key int) {
		t.Helper()
		if _, err := nb.st.Exclude(nb.ctx, store.ManualAction{Kind: "workflow", Object: "rescue", ContactKey: fmt.Sprint(key),
			Actor: "ops", Reason: "asked to stop", At: nb.clock.Now()}); err != nil {
			t.Errorf("exclude %d: %v", key, err)
		}
	}
	reconcile := func() <-chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := nb.eng.Reconcile(nb.ctx); err != nil {
				t.Errorf("reconcile: %v", err)
			}
		}()
		return done
	}
	var excluded []int
	// Held just before the write, five times.
	for key := 1; key <= 5; key++ {
		abandon(t, nb, nb.clock.Now(), key)
		hold := nb.st.DB.MustBegin()
		hold.MustExec(`LOCK TABLE campaignctl.trigger_seen IN EXCLUSIVE MODE`)
		done := reconcile()
		waitFor(t, "the enrollment pass to wait on trigger_seen", 20*time.Second, func() bool {
			var waiting int
			return nb.st.DB.Get(&waiting, `SELECT count(*) FROM pg_locks WHERE relation = 'campaignctl.trigger_seen'::regclass AND NOT granted`) == nil && waiting > 0
		})
		exclude(key)
		hold.Rollback()
		waitDone(t, done, 20*time.Second, "the enrollment pass")
		excluded = append(excluded, key)
		if n := active(key); n != 0 {
			t.Errorf("contact %d: %d active enrollments after it was excluded while the pass ran", key, n)
		}
	}
	// Free-running: the exclusion at a different moment of each pass.
	for key := 6; key <= 15; key++ {
		abandon(t, nb, nb.clock.Now(), key)
		done := reconcile()
		time.Sleep(time.Duration(key-6) * 3 * time.Millisecond)
		exclude(key)
		waitDone(t, done, 20*time.Second, "the enrollment pass")
		excluded = append(excluded, key)
		if n := active(key); n != 0 {
			t.Errorf("contact %d: %d active enrollments after it was excluded while the pass ran", key, n)
		}
	}
	for range 3 {
		nb.clock.Advance(3 * time.Minute)
		nb.step(t, nb.eng)
	}
	got := received(t, nb.relay)
	for _, key := range excluded {
		for k := range got {
			if strings.HasPrefix(k, fmt.Sprintf("lead%d@example.com|", key)) {
				t.Errorf("contact %d, excluded, received %q", key, k)
			}
		}
		if n := active(key); n != 0 {
			t.Errorf("contact %d: %d active enrollments after more passes", key, n)
		}
	}
}

// enrolledByOneEventEach applies a one-step workflow triggered by an
// abandoned cart that lets a contact enroll again at once, stores one such
// event for contacts 1-3 at the clock's time (at) and steps until their
// enrollments have run.
func enrolledByOneEventEach(t *testing.T) (nb *nurtureBundle, at time.Time) {
	t.Helper()
	nb = setupNurture(t, 10)
	nb.apply(t, rescuePlan(plan.Step{Name: "only", Kind: plan.StepSend, Template: "restock_week1"}))
	nb.step(t, nb.eng)
	at = nb.clock.Now()
	if n := abandon(t, nb, at, 1, 2, 3); n != 3 {
		t.Fatalf("%d events stored, want 3", n)
	}
	for range 3 {
		nb.step(t, nb.eng)
	}
	return nb, at
}
