package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// entryPlan is the seed nurture cut to two plain steps (week1 now, week3 in
// 14 days), its segment pushed down to Postgres or, with streamed, evaluated
// in process (string() has no SQL form) so that entry goes through
// enroll-batch.
func entryPlan(t *testing.T, streamed bool) *plan.Plan {
	t.Helper()
	p := nurturePlan()
	want := segment.Pushdown
	if streamed {
		p.Segments[0].Filter += ` && string(lead.name) != ""`
		want = segment.InProcess
	}
	s := &p.Sequences[0]
	s.Steps = []plan.SequenceStep{
		{Name: "week1", Offset: "0d", Template: "restock_week1"},
		{Name: "week3", Offset: "14d", Template: "restock_week3"},
	}
	p.Finalize()
	ev, err := segment.New(p)
	if err != nil {
		t.Fatal(err)
	}
	if x, err := ev.Explain("restock_waitlist", t0); err != nil || x.Path != want {
		t.Fatalf("segment restock_waitlist: %s (%s) %v, want %s", x.Path, x.Reason, err, want)
	}
	return p
}

// holdEntry opens a transaction that has inserted, and not committed, the
// enrollment of contact key in the nurture: an entry statement that reaches
// that contact waits for this transaction (ON CONFLICT must know whether the
// row commits), after its snapshot was taken. It returns the transaction and
// its backend's pid.
func holdEntry(t *testing.T, nb *nurtureBundle, key string) (*sqlx.Tx, int) {
	t.Helper()
	tx := nb.st.DB.MustBegin()
	t.Cleanup(func() { tx.Rollback() })
	tx.MustExec(`INSERT INTO campaignctl.enrollments (kind, object, contact_key, email, email_normalized, occurrence,
    state, step_index, wake_at, enrolled_at, revision_id, updated_at)
SELECT 'sequence', 'restock_nurture', $1, $2, $2, 1, 'active', 0, $3, $3, max(id), $3 FROM campaignctl.revisions`,
		key, "lead"+key+"@example.com", nb.clock.Now())
	var pid int
	if err := tx.Get(&pid, `SELECT pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	return tx, pid
}

// waitBlockedBy waits until an INSERT into the enrollments waits for the
// backend pid.
func waitBlockedBy(t *testing.T, nb *nurtureBundle, pid int, what string) {
	t.Helper()
	waitFor(t, what, 20*time.Second, func() bool {
		var n int
		return nb.st.DB.Get(&n, `SELECT count(*) FROM pg_stat_activity
WHERE $1 = ANY (pg_blocking_pids(pid)) AND query LIKE '%INSERT INTO campaignctl.enrollments%'`, pid) == nil && n > 0
	})
}

func (nb *nurtureBundle) activeIn(t *testing.T, key string) (n int) {
	t.Helper()
	if err := nb.st.DB.Get(&n, `SELECT count(*) FROM campaignctl.enrollments
WHERE kind = 'sequence' AND object = 'restock_nurture' AND contact_key = $1 AND state = 'active'`, key); err != nil {
		t.Fatal(err)
	}
	return n
}

// messagesTo counts the nurture's messages to contact key that are not
// cancelled: pending, leased or sent.
func (nb *nurtureBundle) messagesTo(t *testing.T, key string) (n int) {
	t.Helper()
	if err := nb.st.DB.Get(&n, `SELECT count(*) FROM campaignctl.outbox
WHERE kind = 'sequence' AND campaign = 'restock_nurture' AND contact_key = $1 AND status <> 'cancelled'`, key); err != nil {
		t.Fatal(err)
	}
	return n
}

// An operator excludes contact 1 from a segment-entered sequence while the
// set-based entry statement is in flight: its snapshot was taken before the
// exclude committed, and it commits after. The entry is held at a row
// another transaction inserted and has not committed (contact 3, after
// contact 1 in the pushdown's key order), as a replica or an event-trigger
// pass enrolling the same contact at that moment would hold it; the exclude
// runs while it waits; then the holder rolls back and the entry goes on.
// Contact 1 must end with no active enrollment and no message, on the
// pushed-down path (one INSERT … SELECT) and the streamed one
// (enroll-batch).
func TestExcludeRacingASegmentEntry(t *testing.T) {
	t.Parallel()
	for _, streamed := range []bool{false, true} {
		name := map[bool]string{false: "pushdown", true: "streamed"}[streamed]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			nb := setupNurture(t, 10) // in the segment: 1 2 3 4 6 7 8 9 (7 shares 6's address)
			nb.apply(t, entryPlan(t, streamed))
			holder, pid := holdEntry(t, nb, "3")
			entered := make(chan struct{})
			go func() {
				defer close(entered)
				if err := nb.eng.Reconcile(nb.ctx); err != nil {
					t.Errorf("reconcile: %v", err)
				}
			}()
			waitBlockedBy(t, nb, pid, "the segment entry to wait for the uncommitted enrollment of contact 3")

			excluded := make(chan store.ManualResult, 1)
			go func() {
				defer close(excluded)
				r, err := nb.st.Exclude(nb.ctx, store.ManualAction{Kind: "sequence", Object: "restock_nurture", ContactKey: "1",
					Actor: "ops", Reason: "asked to stop", At: nb.clock.Now()})
				if err != nil {
					t.Errorf("exclude 1: %v", err)
				}
				excluded <- r
			}()
			// The exclude either finished already or waits for the entry;
			// either way it has begun before the entry goes on.
			waitFor(t, "the exclude to finish or to wait for the entry", 20*time.Second, func() bool {
				if len(excluded) > 0 {
					return true
				}
				var n int
				return nb.st.DB.Get(&n, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`) == nil && n > 0
			})
			if err := holder.Rollback(); err != nil {
				t.Fatal(err)
			}
			waitDone(t, entered, 20*time.Second, "the segment entry")
			var r store.ManualResult
			select {
			case r = <-excluded:
			case <-time.After(20 * time.Second):
				t.Fatal("timed out waiting for the exclude")
			}
			// The entry held the object's entry lock before the exclude
			// began: the exclude waited for it, then ended what it wrote.
			if r.Exited != 1 || !r.Excluded {
				t.Errorf("exclude 1: %s; want it to end the enrollment the entry in flight wrote", r)
			}

			for range 2 {
				nb.step(t, nb.eng)
				nb.clock.Advance(15 * 24 * time.Hour)
			}
			if n := nb.activeIn(t, "1"); n != 0 {
				t.Errorf("contact 1: %d active enrollment(s) after it was excluded while the entry ran", n)
			}
			if n := nb.messagesTo(t, "1"); n != 0 {
				t.Errorf("contact 1: %d message(s) pending or sent after it was excluded while the entry ran", n)
			}
			got := received(t, nb.relay)
			if n := got["lead1@example.com|"+subjUrgent] + got["lead1@example.com|"+subjWeek3]; n != 0 {
				t.Errorf("contact 1, excluded, received %d message(s)", n)
			}
			// The entry went on for the others: contact 3, whose row it waited for, got both steps.
			if got["lead3@example.com|"+subjUrgent] != 1 || got["lead3@example.com|"+subjWeek3] != 1 {
				t.Errorf("contact 3 received %v, want each step once", got)
			}
		})
	}
}

// With no entry in flight an exclude neither waits nor changes: it ends the
// active enrollment at once and keeps the contact out of later entries. And
// the lock the entries take is shared: while one replica's entry statement
// is in flight (held as above), another's entry of the same object, on
// either path, commits without waiting for it.
func TestExcludeAloneAndEntriesTogether(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 10)
	nb.apply(t, entryPlan(t, false))
	nb.step(t, nb.eng)
	if n := nb.activeIn(t, "2"); n != 1 {
		t.Fatalf("contact 2: %d active enrollments after the first entry, want 1", n)
	}
	ctx, cancel := context.WithTimeout(nb.ctx, 10*time.Second)
	r, err := nb.st.Exclude(ctx, store.ManualAction{Kind: "sequence", Object: "restock_nurture", ContactKey: "2",
		Actor: "ops", Reason: "asked to stop", At: nb.clock.Now()})
	cancel()
	if err != nil {
		t.Fatalf("exclude 2 with no entry running: %v", err)
	}
	if r.Exited != 1 || !r.Excluded {
		t.Errorf("exclude 2: %s, want its one active enrollment ended and the contact excluded", r)
	}
	// And a contact excluded before it ever matched stays out of the next
	// entry (a new replica's: an engine enters once per EnrollInterval).
	nb.st.DB.MustExec(`INSERT INTO leads (id, email, name, lost_reason) VALUES (14, 'lead14@example.com', 'Lead 14', 'Not enough stock')`)
	if r, err := nb.st.Exclude(nb.ctx, store.ManualAction{Kind: "sequence", Object: "restock_nurture", ContactKey: "14",
		Actor: "ops", At: nb.clock.Now()}); err != nil || r.Exited != 0 || !r.Excluded {
		t.Fatalf("exclude 14 before it is enrolled: %s, %v; want it excluded, nothing ended", r, err)
	}
	nb.clock.Advance(15 * 24 * time.Hour)
	nb.step(t, nb.replica(t, "r1"))
	if n := nb.messagesTo(t, "14") + nb.activeIn(t, "14"); n != 0 {
		t.Errorf("contact 14, excluded before the entry: %d enrollments and messages, want none", n)
	}
	if n := nb.activeIn(t, "2"); n != 0 {
		t.Errorf("contact 2: %d active enrollments after another entry", n)
	}
	got := received(t, nb.relay)
	if got["lead2@example.com|"+subjWeek3] != 0 || got["lead2@example.com|"+subjUrgent] != 1 {
		t.Errorf("contact 2 received %v, want week1 (before the exclude) only", got)
	}
	if got["lead4@example.com|"+subjWeek3] != 1 {
		t.Errorf("contact 4 received %v, want week3 too", got)
	}

	// Replica one's entry of contacts 11-13, held in flight at contact 13.
	nb.st.DB.MustExec(`INSERT INTO leads (id, email, name, lost_reason) VALUES
(11, 'lead11@example.com', 'Lead 11', 'Not enough stock'), (12, 'lead12@example.com', 'Lead 12', 'Not enough stock'),
(13, 'lead13@example.com', 'Lead 13', 'Not enough stock')`)
	holder, pid := holdEntry(t, nb, "13")
	one := nb.replica(t, "r2")
	entered := make(chan struct{})
	go func() {
		defer close(entered)
		if err := one.Reconcile(nb.ctx); err != nil {
			t.Errorf("reconcile: %v", err)
		}
	}()
	waitBlockedBy(t, nb, pid, "replica one's entry to wait for the uncommitted enrollment of contact 13")
	var shared int
	if err := nb.st.DB.Get(&shared, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE a.datname = current_database() AND l.locktype = 'advisory' AND l.mode = 'ShareLock' AND l.granted`); err != nil {
		t.Fatal(err)
	}
	if shared != 1 {
		t.Errorf("%d shared advisory locks granted while replica one's entry is in flight, want its one", shared)
	}
	var rev int64
	if err := nb.st.DB.Get(&rev, `SELECT max(id) FROM campaignctl.revisions`); err != nil {
		t.Fatal(err)
	}
	// Replica two, meanwhile, on each path (contact 5 is outside the
	// segment: these enroll it by hand, to stay clear of replica one's rows).
	ctx, cancel = context.WithTimeout(nb.ctx, 10*time.Second)
	defer cancel()
	if n, err := nb.st.EnrollFromSource(ctx, "sequence", "restock_nurture",
		store.Source{Table: "leads", Key: "id", Email: "email", Where: "id = $1", Args: []any{5}}, nb.clock.Now(), nb.clock.Now(), rev); err != nil || n != 1 {
		t.Errorf("replica two's pushed-down entry while replica one's is in flight: %d enrolled, %v; want 1, without waiting", n, err)
	}
	if n, err := nb.st.EnrollBatch(ctx, "sequence", "restock_nurture", []store.Recipient{{Key: "15", Email: "lead15@example.com"}},
		nb.clock.Now(), nb.clock.Now(), rev); err != nil || n != 1 {
		t.Errorf("replica two's streamed entry while replica one's is in flight: %d enrolled, %v; want 1, without waiting", n, err)
	}
	select {
	case <-entered:
		t.Fatal("replica one's entry finished while its row was held")
	default:
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, entered, 20*time.Second, "replica one's entry")
	for _, k := range []string{"11", "12", "13"} {
		if n := nb.activeIn(t, k); n != 1 {
			t.Errorf("contact %s: %d active enrollments after replica one's entry, want 1", k, n)
		}
	}
}
