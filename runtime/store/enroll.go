package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Source is where a segment's contacts come from when Postgres evaluates the
// whole filter (the pushdown path): the quoted table, key and email columns and
// the WHERE clause with its arguments ($1…).
type Source struct {
	Table, Key, Email string
	Where             string
	Args              []any
}

// EnrollFromSource enrolls every contact of src not yet enrolled in (kind,
// object) — newly matching contacts only, and only those with an address — in one INSERT … SELECT with an anti
// join, so the audience never leaves the database. The first wake-up is at
// wake. It returns how many contacts were enrolled.
func (s *Store) EnrollFromSource(ctx context.Context, kind, object string, src Source, wake, now time.Time, revision int64) (int64, error) {
	n := len(src.Args)
	p := func(i int) string { return "$" + strconv.Itoa(n+i) }
	// Anti joins on both unique keys: a contact already enrolled, or an address
	// already enrolled through another record of the same person. Both are
	// plain NOT EXISTS so the planner makes them hash anti joins: written with
	// "en = '' OR NOT EXISTS …", or without the partial index's predicate, the
	// address test became a subplan scanning the enrollments once per contact
	// (over two minutes for 1M, instead of 1.2 s). Two records of one address
	// in the same pass: the lowest key is inserted first (ORDER BY, applied to
	// the new rows only) and ON CONFLICT drops the other.
	query := `INSERT INTO campaignctl.enrollments (kind, object, contact_key, email, email_normalized, occurrence,
    state, step_index, wake_at, enrolled_at, revision_id, updated_at)
SELECT ` + p(1) + `, ` + p(2) + `, c.k, c.e, c.en, 1, 'active', 0, ` + p(3) + `, ` + p(4) + `, ` + p(5) + `, ` + p(4) + `
FROM (SELECT ` + src.Key + ` AS ord, ` + src.Key + `::text AS k, btrim(coalesce(` + src.Email + `::text, '')) AS e,
             lower(btrim(coalesce(` + src.Email + `::text, ''))) AS en
      FROM ` + src.Table + ` WHERE (` + src.Where + `) AND btrim(coalesce(` + src.Email + `::text, '')) <> '') AS c
WHERE NOT EXISTS (SELECT 1 FROM campaignctl.enrollments x
                  WHERE x.kind = ` + p(1) + ` AND x.object = ` + p(2) + ` AND x.contact_key = c.k)
  AND NOT EXISTS (SELECT 1 FROM campaignctl.enrollments x
                  WHERE x.kind = ` + p(1) + ` AND x.object = ` + p(2) + ` AND x.email_normalized <> '' AND x.email_normalized = c.en)
  AND NOT EXISTS (SELECT 1 FROM campaignctl.enrollment_exclusions x
                  WHERE x.kind = ` + p(1) + ` AND x.object = ` + p(2) + ` AND x.contact_key = c.k)
ORDER BY c.ord
ON CONFLICT DO NOTHING`
	args := append(append([]any(nil), src.Args...), kind, object, wake, now, revision)
	added, err := s.enterSegment(ctx, kind, object, query, args...)
	if err != nil {
		return 0, fmt.Errorf("%s %s: enrolling newly matching contacts: %w", kind, object, err)
	}
	if added >= analyzeAfterRows {
		// A bulk enrollment grows the table from nothing before autovacuum
		// notices; with the old statistics the planner expects a handful of due
		// rows and each claim of a batch scans and sorts all of them (measured:
		// 922 ms per claim after enrolling 1M, until autoanalyze ran minutes
		// later). ANALYZE samples, so its cost is bounded whatever the size.
		if _, aerr := s.DB.ExecContext(ctx, `ANALYZE campaignctl.enrollments`); aerr != nil {
			return added, fmt.Errorf("%s %s: refreshing enrollment statistics: %w", kind, object, aerr)
		}
	}
	return added, err
}

// EnrollBatch enrolls a batch of contacts (the in-process path), skipping those
// already enrolled by contact or by address.
func (s *Store) EnrollBatch(ctx context.Context, kind, object string, batch []Recipient, wake, now time.Time, revision int64) (int64, error) {
	keys := make([]string, len(batch))
	emails := make([]string, len(batch))
	for i, r := range batch {
		keys[i], emails[i] = r.Key, r.Email
	}
	n, err := s.enterSegment(ctx, kind, object, q("enroll-batch"), kind, object, wake, now, revision, pq.Array(keys), pq.Array(emails))
	if err != nil {
		return 0, fmt.Errorf("%s %s: enrolling %d contacts: %w", kind, object, len(batch), err)
	}
	return n, nil
}

// enterSegment runs one insert of a segment entry of (kind, object) in a
// transaction of its own, after taking the object's entry lock shared
// (lock-object-entry) in the statement before: an operator's exclude waits
// for the insert to commit and then ends what it enrolled, or the insert
// starts after the exclude committed and its snapshot holds the exclusion.
// It returns how many rows the insert wrote.
func (s *Store) enterSegment(ctx context.Context, kind, object, insert string, args ...any) (int64, error) {
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, q("lock-object-entry"), kind, object); err != nil {
		return 0, fmt.Errorf("taking the entry lock an operator's exclude waits on: %w", err)
	}
	res, err := tx.ExecContext(ctx, insert, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

// Enrollment is one enrollment claimed for advancing.
type Enrollment struct {
	ID         int64        `db:"id"`
	Kind       string       `db:"kind"`
	Object     string       `db:"object"`
	ContactKey string       `db:"contact_key"`
	Email      string       `db:"email"`
	Occurrence int          `db:"occurrence"`
	StepIndex  int          `db:"step_index"`
	NextStep   string       `db:"next_step"`
	EnrolledAt time.Time    `db:"enrolled_at"`
	WakeAt     sql.NullTime `db:"wake_at"`
	RevisionID int64        `db:"revision_id"`
	// TriggerEvent is the event that enrolled the contact (workflows), as
	// stored: JSON, or nil.
	TriggerEvent []byte `db:"trigger_event"`
}

// Advancer is one transaction advancing a batch of due enrollments: Claim
// locks them, the caller gathers facts and decides, Apply writes the decisions
// and their messages, Commit makes both visible at once.
type Advancer struct {
	tx *sqlx.Tx
	s  *Store
	// enqueued counts the outbox rows Apply inserted, added to the store's
	// count when the transaction commits.
	enqueued int64
}

// BeginAdvance starts an advancing transaction.
func (s *Store) BeginAdvance(ctx context.Context) (*Advancer, error) {
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("advancing enrollments: %w", err)
	}
	return &Advancer{tx: tx, s: s}, nil
}

// selectPrepared runs the store's prepared statement of the named query
// inside the advancing transaction (Tx.Stmt reuses what the connection has
// prepared) and scans its rows into dest.
func (a *Advancer) selectPrepared(ctx context.Context, dest any, name string, args ...any) error {
	st, err := a.s.prepare(ctx, name)
	if err != nil {
		return err
	}
	return a.tx.StmtxContext(ctx, st).SelectContext(ctx, dest, args...)
}

// Claim locks up to limit enrollments due at now that no other replica holds,
// leaving out those of the paused objects: they wait, untouched, until their
// object is unpaused.
func (a *Advancer) Claim(ctx context.Context, now time.Time, limit int, paused []ObjectRef) ([]Enrollment, error) {
	kinds, names := objectArrays(paused)
	var out []Enrollment
	// Prepared, on every pass: planning it cost more than running it (0.23 ms
	// against 0.04 in runtime/engine's tests). Its plan is the due index in
	// wake_at order whatever the parameters.
	if err := a.selectPrepared(ctx, &out, "claim-due-enrollments", now, limit, pq.Array(kinds), pq.Array(names)); err != nil {
		return nil, fmt.Errorf("claiming due enrollments: %w", err)
	}
	return out, nil
}

// StepEngagement is what one enrollment's contact did with one earlier step.
type StepEngagement struct {
	EnrollmentID int64  `db:"enrollment_id"`
	Step         string `db:"step"`
	Status       string `db:"status"`
	// EnqueuedAt is when the step decided to send (the outbox row's
	// creation, on the engine's clock); SentAt when the relay took it.
	EnqueuedAt time.Time    `db:"created_at"`
	SentAt     sql.NullTime `db:"sent_at"`
	OpenAt     sql.NullTime `db:"open_at"`
	ClickAt    sql.NullTime `db:"click_at"`
	ReplyAt    sql.NullTime `db:"reply_at"`
	BounceAt   sql.NullTime `db:"bounce_at"`
}

// Engagement reads, for the enrollments ids of (kind, object) whose contacts
// (keys, the enrollments' contact keys in any order) belong to model, what
// they did with the given steps.
func (a *Advancer) Engagement(ctx context.Context, kind, object, model string, ids []int64, keys []string, steps []string) ([]StepEngagement, error) {
	var out []StepEngagement
	// Prepared: its four subqueries over every partition of the events
	// table took 13 ms to plan, for 4 ms of execution, on each batch.
	if err := a.selectPrepared(ctx, &out, "enrollment-engagement", kind, object, model, pq.Array(ids), pq.Array(steps), pq.Array(keys)); err != nil {
		return nil, fmt.Errorf("%s %s: reading engagement with earlier steps: %w", kind, object, err)
	}
	return out, nil
}

// StepMessage is a message a decision enqueues.
type StepMessage struct {
	Step, Variant, ContactKey, Email string
	// Class is the mail class (marketing, transactional, internal).
	Class        string
	Occurrence   int
	EnrollmentID int64
}

// StepRecord is one line of an enrollment's history.
type StepRecord struct {
	EnrollmentID          int64
	Step, Action, Variant string
	Detail                string
	At                    time.Time
}

// Move is where one enrollment goes next.
type Move struct {
	ID   int64
	Next int
	// NextStep is the name of step Next ("" past the last step).
	NextStep string
	// Wake is when to look again (zero: not by time).
	Wake time.Time
	Hold string
	Exit string
	// WaitStep and WaitFrom: the workflow wait step the enrollment stops at
	// and when that wait began (flow.Decision), kept so that an edited
	// duration reaches it (RewaitWorkflow). Empty and zero otherwise.
	WaitStep string
	WaitFrom time.Time
	// WaitRelativeTo and WaitReached: what that wait is timed from ("" for
	// a plain wait) and when the enrollment reached it (flow.Decision), kept
	// so that an edited relative_to reaches it (RetimeWaits).
	WaitRelativeTo string
	WaitReached    time.Time
}

// Apply enqueues messages for (kind, object), records the steps taken and
// moves the enrollments, all in the advancing transaction.
func (a *Advancer) Apply(ctx context.Context, kind, object string, now time.Time, msgs []StepMessage, hist []StepRecord, moves []Move) error {
	if len(msgs) > 0 {
		steps, variants, keys, emails := make([]string, len(msgs)), make([]string, len(msgs)), make([]string, len(msgs)), make([]string, len(msgs))
		occs, eids := make([]int64, len(msgs)), make([]int64, len(msgs))
		classes := make([]string, len(msgs))
		for i, m := range msgs {
			steps[i], variants[i], keys[i], emails[i], occs[i], eids[i] = m.Step, m.Variant, m.ContactKey, m.Email, int64(m.Occurrence), m.EnrollmentID
			classes[i] = m.Class
			if classes[i] == "" {
				classes[i] = "marketing"
			}
		}
		res, err := a.tx.ExecContext(ctx, q("enqueue-steps"), kind, object, now,
			pq.Array(steps), pq.Array(variants), pq.Array(keys), pq.Array(emails), pq.Array(occs), pq.Array(eids), pq.Array(classes))
		if err != nil {
			return fmt.Errorf("%s %s: enqueueing %d step messages: %w", kind, object, len(msgs), err)
		}
		if n, err := res.RowsAffected(); err == nil {
			a.enqueued += n
		}
	}
	if err := recordSteps(ctx, a.tx, hist); err != nil {
		return fmt.Errorf("%s %s: recording steps: %w", kind, object, err)
	}
	if len(moves) > 0 {
		ids, nexts := make([]int64, len(moves)), make([]int64, len(moves))
		wakes, froms := make([]sql.NullTime, len(moves)), make([]sql.NullTime, len(moves))
		holds, exits, names := make([]string, len(moves)), make([]string, len(moves)), make([]string, len(moves))
		waits, rels, reached := make([]string, len(moves)), make([]string, len(moves)), make([]sql.NullTime, len(moves))
		for i, m := range moves {
			ids[i], nexts[i], holds[i], exits[i], names[i] = m.ID, int64(m.Next), m.Hold, m.Exit, m.NextStep
			wakes[i] = sql.NullTime{Time: m.Wake, Valid: !m.Wake.IsZero()}
			if m.WaitStep != "" && !m.WaitFrom.IsZero() {
				waits[i], froms[i], rels[i] = m.WaitStep, sql.NullTime{Time: m.WaitFrom, Valid: true}, m.WaitRelativeTo
				reached[i] = sql.NullTime{Time: m.WaitReached, Valid: !m.WaitReached.IsZero()}
			}
		}
		if _, err := a.tx.ExecContext(ctx, q("move-enrollments"), now, pq.Array(ids), pq.Array(nexts), nullTimes(wakes), pq.Array(holds), pq.Array(exits), pq.Array(names),
			pq.Array(waits), nullTimes(froms), pq.Array(rels), nullTimes(reached)); err != nil {
			return fmt.Errorf("%s %s: moving %d enrollments: %w", kind, object, len(moves), err)
		}
	}
	return nil
}

// recordSteps writes history lines in tx.
func recordSteps(ctx context.Context, tx *sqlx.Tx, hist []StepRecord) error {
	if len(hist) == 0 {
		return nil
	}
	ids, steps, actions, ats, variants, details := make([]int64, len(hist)), make([]string, len(hist)), make([]string, len(hist)), make([]time.Time, len(hist)), make([]string, len(hist)), make([]string, len(hist))
	for i, h := range hist {
		ids[i], steps[i], actions[i], ats[i], variants[i], details[i] = h.EnrollmentID, h.Step, h.Action, h.At, h.Variant, h.Detail
	}
	_, err := tx.ExecContext(ctx, q("record-enrollment-steps"), pq.Array(ids), pq.Array(steps), pq.Array(actions), pq.Array(ats), pq.Array(variants), pq.Array(details))
	return err
}

// nullTimes renders a timestamptz[] literal with NULLs, which pq.Array cannot
// build from sql.NullTime.
func nullTimes(ts []sql.NullTime) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, t := range ts {
		if i > 0 {
			b.WriteByte(',')
		}
		if !t.Valid {
			b.WriteString("NULL")
			continue
		}
		b.WriteByte('"')
		b.WriteString(t.Time.UTC().Format("2006-01-02 15:04:05.999999Z07:00"))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// Commit ends the advance, making the moves and their messages visible
// together. The messages count towards the next RefreshOutboxStats.
func (a *Advancer) Commit() error {
	if err := a.tx.Commit(); err != nil {
		return err
	}
	a.s.outboxAdded.Add(a.enqueued)
	return nil
}

// Rollback abandons the advance; the enrollments stay due.
func (a *Advancer) Rollback() error { return a.tx.Rollback() }

// ExitRemoved exits the active enrollments of kind's objects not in keep and
// cancels their messages not yet handed to a relay.
func (s *Store) ExitRemoved(ctx context.Context, kind string, keep []string, now time.Time) error {
	if keep == nil {
		keep = []string{}
	}
	if _, err := s.DB.ExecContext(ctx, q("exit-removed-objects"), kind, pq.Array(keep), now); err != nil {
		return fmt.Errorf("exiting enrollments of removed %ss: %w", kind, err)
	}
	return nil
}

// ShortenWaits moves the wake-up of (kind, object)'s active enrollments
// waiting for one of steps to their enrollment plus that step's offset, where
// that is earlier than the wake-up written: a step whose offset a new revision
// shortened reaches the contacts already waiting for it. It returns how many
// moved.
func (s *Store) ShortenWaits(ctx context.Context, kind, object string, steps []string, offsets []time.Duration, now time.Time) (int64, error) {
	us := make([]int64, len(offsets))
	for i, o := range offsets {
		us[i] = o.Microseconds()
	}
	res, err := s.DB.ExecContext(ctx, q("shorten-waits"), kind, object, pq.Array(steps), pq.Array(us), now)
	if err != nil {
		return 0, fmt.Errorf("%s %s: moving the wake-ups of shortened steps: %w", kind, object, err)
	}
	return res.RowsAffected()
}

// RewaitWorkflow applies a new revision's wait durations of a workflow to
// the enrollments already in those waits: an active enrollment stopped at one
// of steps wakes at the start of its wait plus that step's duration (waits[i],
// for steps[i]), earlier or later than the wake-up written under the old
// duration. Only enrollments whose wait's start was recorded (those that
// reached the wait once migration 023 was in) move; it is idempotent. It
// returns how many moved.
func (s *Store) RewaitWorkflow(ctx context.Context, object string, steps []string, waits []time.Duration, now time.Time) (int64, error) {
	us := make([]int64, len(waits))
	for i, w := range waits {
		us[i] = w.Microseconds()
	}
	res, err := s.DB.ExecContext(ctx, q("rewait-workflow"), object, pq.Array(steps), pq.Array(us), now)
	if err != nil {
		return 0, fmt.Errorf("workflow %s: moving the wake-ups of edited waits: %w", object, err)
	}
	return res.RowsAffected()
}

// StampWorkflowWaits records, for workflow object's enrollments that
// stopped at one of steps before migration 024, that their wait is timed
// from rels[i] (steps[i]'s relative_to, "" for a plain wait): what they were
// timed from was not kept, and the running revision's definition is the best
// there is. Idempotent; it returns how many it stamped.
func (s *Store) StampWorkflowWaits(ctx context.Context, object string, steps, rels []string) (int64, error) {
	res, err := s.DB.ExecContext(ctx, q("stamp-workflow-waits"), object, pq.Array(steps), pq.Array(rels))
	if err != nil {
		return 0, fmt.Errorf("workflow %s: recording what waits begun before migration 024 are timed from: %w", object, err)
	}
	return res.RowsAffected()
}

// WaitingEnrollment is an enrollment stopped at a workflow wait, with when
// it reached the wait.
type WaitingEnrollment struct {
	Enrollment
	ReachedAt time.Time `db:"reached_at"`
}

// WaitsTimedOtherwise reads up to limit of workflow object's active
// enrollments stopped at wait step whose wait was timed from something else
// than relativeTo (the step's relative_to now, "" for a plain wait), in id
// order after the id after: a page at a time, so a caller never holds all
// of a workflow's waiting enrollments.
func (s *Store) WaitsTimedOtherwise(ctx context.Context, object, step, relativeTo string, after int64, limit int) ([]WaitingEnrollment, error) {
	var out []WaitingEnrollment
	if err := s.DB.SelectContext(ctx, &out, q("waits-timed-otherwise"), object, step, relativeTo, after, limit); err != nil {
		return nil, fmt.Errorf("workflow %s: reading the enrollments at wait %s timed otherwise: %w", object, step, err)
	}
	return out, nil
}

// Retime is an enrollment's new timing at a wait: it wakes at Wake; Waits
// says whether it still stops at the wait (From: the wait's start, Reached:
// when it reached it) or goes on at Wake (the wait has passed, or is skipped).
type Retime struct {
	ID            int64
	Wake          time.Time
	Waits         bool
	From, Reached time.Time
}

// RetimeWaits writes the new timing of enrollments stopped at wait step of
// workflow object, now timed from relativeTo, and their history lines, in
// one transaction. An enrollment that left the wait since it was read, or
// that another pass retimed already, is left as it is (with no history
// line). It returns how many moved.
func (s *Store) RetimeWaits(ctx context.Context, object, step, relativeTo string, now time.Time, rs []Retime, hist []StepRecord) (int64, error) {
	ids, waits := make([]int64, len(rs)), make([]bool, len(rs))
	wakes, froms, reached := make([]sql.NullTime, len(rs)), make([]sql.NullTime, len(rs)), make([]sql.NullTime, len(rs))
	for i, r := range rs {
		ids[i], waits[i] = r.ID, r.Waits
		wakes[i] = sql.NullTime{Time: r.Wake, Valid: true}
		froms[i] = sql.NullTime{Time: r.From, Valid: r.Waits}
		reached[i] = sql.NullTime{Time: r.Reached, Valid: r.Waits}
	}
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("workflow %s: retiming wait %s: %w", object, step, err)
	}
	defer tx.Rollback()
	var moved []int64
	if err := tx.SelectContext(ctx, &moved, q("retime-waits"), object, step, relativeTo, now,
		pq.Array(ids), nullTimes(wakes), pq.Array(waits), nullTimes(froms), nullTimes(reached)); err != nil {
		return 0, fmt.Errorf("workflow %s: retiming %d enrollments at wait %s: %w", object, len(rs), step, err)
	}
	in := make(map[int64]bool, len(moved))
	for _, id := range moved {
		in[id] = true
	}
	var kept []StepRecord
	for _, h := range hist {
		if in[h.EnrollmentID] {
			kept = append(kept, h)
		}
	}
	if err := recordSteps(ctx, tx, kept); err != nil {
		return 0, fmt.Errorf("workflow %s: recording the retimed waits at %s: %w", object, step, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("workflow %s: retiming wait %s: %w", object, step, err)
	}
	return int64(len(moved)), nil
}

// ABDecision is a decided A/B test.
type ABDecision struct {
	Kind        string    `db:"kind" json:"kind"`
	Object      string    `db:"object" json:"object"`
	Step        string    `db:"step" json:"step"`
	DecidedAt   time.Time `db:"decided_at" json:"decided_at"`
	Winner      string    `db:"winner" json:"winner"`
	Decision    string    `db:"decision" json:"decision"`
	Significant bool      `db:"significant" json:"significant"`
	PValue      float64   `db:"p_value" json:"p_value"`
	Metric      string    `db:"metric" json:"metric"`
	Reason      string    `db:"reason" json:"reason"`
}

// ABDecisions lists every decided A/B test.
func (s *Store) ABDecisions(ctx context.Context) ([]ABDecision, error) {
	var out []ABDecision
	if err := s.selectPrepared(ctx, &out, "ab-decisions"); err != nil {
		return nil, fmt.Errorf("reading A/B decisions: %w", err)
	}
	return out, nil
}

// ABTestStarted returns when the A/B test of (kind, object, step) started, if it has.
func (s *Store) ABTestStarted(ctx context.Context, kind, object, step string) (time.Time, bool, error) {
	var t sql.NullTime
	if err := s.getPrepared(ctx, &t, "ab-test-started", kind, object, step); err != nil {
		return time.Time{}, false, fmt.Errorf("%s %s / %s: A/B test start: %w", kind, object, step, err)
	}
	return t.Time, t.Valid, nil
}

// VariantCount is one variant's test figures.
type VariantCount struct {
	Variant   string `db:"variant"`
	Sent      int64  `db:"sent"`
	Successes int64  `db:"successes"`
}

// ABCounts counts, per variant of the test group of (kind, object, step), the
// delivered messages and the contacts with one of eventTypes since (model:
// the contacts' model), or with the goal reached when eventTypes is nil.
func (s *Store) ABCounts(ctx context.Context, kind, object, step, model string, eventTypes []string) ([]VariantCount, error) {
	var out []VariantCount
	var err error
	if eventTypes == nil {
		err = s.DB.SelectContext(ctx, &out, q("ab-conversions"), kind, object, step)
	} else {
		err = s.DB.SelectContext(ctx, &out, q("ab-counts"), kind, object, step, pq.Array(eventTypes), model)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s / %s: counting the A/B test: %w", kind, object, step, err)
	}
	return out, nil
}

// VariantRevenue is one variant's revenue figures: the test contacts it was
// delivered to, how many bought, and their revenue's mean and sample variance.
type VariantRevenue struct {
	Variant    string  `db:"variant"`
	Sent       int64   `db:"sent"`
	Purchasers int64   `db:"purchasers"`
	Mean       float64 `db:"mean"`
	Var        float64 `db:"var"`
}

// ABRevenue sums, per variant of the test group of (kind, object, step), each
// test contact's purchase events' value from its message until until (model:
// the contacts' model).
func (s *Store) ABRevenue(ctx context.Context, kind, object, step, model string, until time.Time) ([]VariantRevenue, error) {
	var out []VariantRevenue
	if err := s.DB.SelectContext(ctx, &out, q("ab-revenue"), kind, object, step, model, until); err != nil {
		return nil, fmt.Errorf("%s %s / %s: summing the A/B test's revenue: %w", kind, object, step, err)
	}
	return out, nil
}

// RecordABDecision stores the decision (once: a second leader's is ignored) and
// makes the enrollments waiting for it due at now, in one transaction.
func (s *Store) RecordABDecision(ctx context.Context, d ABDecision, detail any, now time.Time) error {
	js, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("A/B decision detail: %w", err)
	}
	var p any
	if !math.IsNaN(d.PValue) && !math.IsInf(d.PValue, 0) {
		p = d.PValue
	}
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, q("insert-ab-decision"), d.Kind, d.Object, d.Step, d.DecidedAt, d.Winner, d.Decision, d.Significant, p, d.Metric, d.Reason, string(js)); err != nil {
		return fmt.Errorf("%s %s / %s: recording the A/B decision: %w", d.Kind, d.Object, d.Step, err)
	}
	if _, err := tx.ExecContext(ctx, q("release-held"), d.Kind, d.Object, d.Step, now); err != nil {
		return fmt.Errorf("%s %s / %s: releasing held enrollments: %w", d.Kind, d.Object, d.Step, err)
	}
	return tx.Commit()
}

// EnrollmentCount is a number of enrollments of one object in one state.
type EnrollmentCount struct {
	Kind       string `db:"kind" json:"kind"`
	Object     string `db:"object" json:"object"`
	State      string `db:"state" json:"state"`
	ExitReason string `db:"exit_reason" json:"exit_reason,omitempty"`
	Held       bool   `db:"held" json:"held,omitempty"`
	N          int64  `db:"n" json:"count"`
}

// StepCount is how many enrollments of an object took one action at one step.
type StepCount struct {
	Kind   string `db:"kind" json:"kind"`
	Object string `db:"object" json:"object"`
	Step   string `db:"step" json:"step"`
	Action string `db:"action" json:"action"`
	N      int64  `db:"n" json:"count"`
}

// WaitingCount is how many active enrollments wait before one step.
type WaitingCount struct {
	Kind      string `db:"kind"`
	Object    string `db:"object"`
	StepIndex int    `db:"step_index"`
	N         int64  `db:"n"`
}

// EngineCounts returns what `campaignctl status` shows of the engine's objects.
func (s *Store) EngineCounts(ctx context.Context) ([]EnrollmentCount, []StepCount, []WaitingCount, error) {
	var ec []EnrollmentCount
	var sc []StepCount
	var wc []WaitingCount
	if err := s.DB.SelectContext(ctx, &ec, q("enrollment-counts")); err != nil {
		return nil, nil, nil, fmt.Errorf("counting enrollments: %w", err)
	}
	if err := s.DB.SelectContext(ctx, &sc, q("enrollment-step-counts")); err != nil {
		return nil, nil, nil, fmt.Errorf("counting enrollment steps: %w", err)
	}
	if err := s.DB.SelectContext(ctx, &wc, q("waiting-by-step")); err != nil {
		return nil, nil, nil, fmt.Errorf("counting waiting enrollments: %w", err)
	}
	return ec, sc, wc, nil
}

// ReleaseDecidedHolds makes due at now every enrollment held for an A/B test
// that is already decided, and returns how many it released.
func (s *Store) ReleaseDecidedHolds(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.execPrepared(ctx, "release-decided-holds", now)
	if err != nil {
		return 0, fmt.Errorf("releasing enrollments held for decided A/B tests: %w", err)
	}
	return res.RowsAffected()
}

// KindStatusCount is a number of outbox rows of one object in one status.
type KindStatusCount struct {
	Kind string `db:"kind"`
	StatusCount
}

// SeriesMessageCounts counts the messages of sequences and autoresponders by
// object and status.
func (s *Store) SeriesMessageCounts(ctx context.Context) ([]KindStatusCount, error) {
	var out []KindStatusCount
	if err := s.DB.SelectContext(ctx, &out, q("series-message-counts")); err != nil {
		return nil, fmt.Errorf("counting sequence and autoresponder messages: %w", err)
	}
	return out, nil
}

// HeldCount is how many active enrollments of an object wait for the A/B
// decision of one step.
type HeldCount struct {
	Kind   string `db:"kind"`
	Object string `db:"object"`
	Step   string `db:"hold"`
	N      int64  `db:"n"`
}

// HeldByStep counts the enrollments waiting for an A/B decision, by step.
func (s *Store) HeldByStep(ctx context.Context) ([]HeldCount, error) {
	var out []HeldCount
	if err := s.DB.SelectContext(ctx, &out, q("held-by-step")); err != nil {
		return nil, fmt.Errorf("counting enrollments waiting for A/B decisions: %w", err)
	}
	return out, nil
}
