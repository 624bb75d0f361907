package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// TriggerMargin bounds how long a transaction inserting events may stay open.
// Event ids are taken when a row is inserted but become visible at commit, so
// a scan may see id 12 before id 11 commits; the trigger cursor therefore only
// passes events stored more than twice this long ago, and newer ones are read
// again on every pass (enrolling is idempotent per event).
const TriggerMargin = time.Minute

// TriggerEvent is a stored event read by a workflow trigger.
type TriggerEvent struct {
	ID         int64           `db:"id"`
	OccurredAt time.Time       `db:"occurred_at"`
	ContactKey string          `db:"contact_key"`
	Type       string          `db:"type"`
	Topic      string          `db:"topic"`
	Campaign   string          `db:"campaign"`
	Step       string          `db:"step"`
	URL        string          `db:"url"`
	ExternalID sql.NullString  `db:"external_id"`
	Properties json.RawMessage `db:"properties"`
	// Settled: stored long enough ago that the cursor may pass it.
	Settled bool `db:"settled"`
}

// TriggerCursor returns how far (kind, object) has read the events table. On
// first use it starts after the last event stored before revision was
// applied (the revision under which the object is first seen): a workflow is
// triggered by the events that arrive after it was applied, including while
// no daemon ran, and not by history. That first read scans the events table
// once.
func (s *Store) TriggerCursor(ctx context.Context, kind, object string, revision int64) (int64, error) {
	var id int64
	// A read on every pass, a write only the first time: an idle leader
	// writes nothing.
	err := s.getPrepared(ctx, &id, "trigger-cursor", kind, object)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%s %s: reading the trigger cursor: %w", kind, object, err)
	}
	err = s.DB.GetContext(ctx, &id, `
INSERT INTO campaignctl.trigger_cursors (kind, object, last_id)
VALUES ($1, $2, (SELECT coalesce(max(id), 0) FROM campaignctl.events
                 WHERE received_at < (SELECT stored_at FROM campaignctl.revisions WHERE id = $3)))
ON CONFLICT (kind, object) DO UPDATE SET last_id = campaignctl.trigger_cursors.last_id
RETURNING last_id`, kind, object, revision)
	if err != nil {
		return 0, fmt.Errorf("%s %s: reading the trigger cursor: %w", kind, object, err)
	}
	return id, nil
}

// MoveTriggerCursor moves (kind, object)'s cursor forward to id and forgets
// the events it passed.
func (s *Store) MoveTriggerCursor(ctx context.Context, kind, object string, id int64) error {
	_, err := s.DB.ExecContext(ctx, `
WITH moved AS (UPDATE campaignctl.trigger_cursors SET last_id = greatest(last_id, $3) WHERE kind = $1 AND object = $2)
DELETE FROM campaignctl.trigger_seen WHERE kind = $1 AND object = $2 AND event_id <= $3`, kind, object, id)
	if err != nil {
		return fmt.Errorf("%s %s: moving the trigger cursor: %w", kind, object, err)
	}
	return nil
}

// TriggerEvents reads up to limit events of model with one of types (and
// topic, unless empty) after id after, in id order, leaving out those (kind,
// object) has already decided on.
//
// It runs on every pass for every event-triggered object, so it is prepared:
// planned on each call, over every monthly partition of the events table, it
// cost 0.7 ms of planning for 0.03 ms of execution.
func (s *Store) TriggerEvents(ctx context.Context, kind, object, model string, types []string, topic string, after int64, limit int) ([]TriggerEvent, error) {
	var out []TriggerEvent
	if err := s.selectPrepared(ctx, &out, "trigger-events", after, model, pq.Array(types), topic, limit, interval(2*TriggerMargin), kind, object); err != nil {
		return nil, fmt.Errorf("reading %v events of %s: %w", types, model, err)
	}
	return out, nil
}

// EnrollmentSummary is what a contact's earlier enrollments in one object say
// about enrolling it again.
type EnrollmentSummary struct {
	ContactKey   string    `db:"contact_key"`
	Occurrences  int       `db:"occurrences"`
	Active       bool      `db:"active"`
	LastEnrolled time.Time `db:"last_enrolled"`
	// Left: the contact was seen outside the object's state trigger since its
	// last enrollment.
	Left bool `db:"left_trigger"`
}

// EnrollmentSummaries returns, for the keys enrolled before in (kind, object),
// their last occurrence, whether one is still active, and when the last began.
func (s *Store) EnrollmentSummaries(ctx context.Context, kind, object string, keys []string) (map[string]EnrollmentSummary, error) {
	var rows []EnrollmentSummary
	err := s.DB.SelectContext(ctx, &rows, `
SELECT contact_key, max(occurrence) AS occurrences, bool_or(state = 'active') AS active, max(enrolled_at) AS last_enrolled,
       (array_agg(trigger_left ORDER BY occurrence DESC))[1] AS left_trigger
FROM campaignctl.enrollments
WHERE kind = $1 AND object = $2 AND contact_key = ANY($3::text[])
GROUP BY contact_key`, kind, object, pq.Array(keys))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading earlier enrollments: %w", kind, object, err)
	}
	out := make(map[string]EnrollmentSummary, len(rows))
	for _, r := range rows {
		out[r.ContactKey] = r
	}
	return out, nil
}

// EventEnrollment is one contact to enroll because of one event.
type EventEnrollment struct {
	ContactKey, Email string
	Occurrence        int
	EventID           int64
	Event             json.RawMessage
	At, Wake          time.Time
}

// EnrollEvents inserts the enrollments events started and records that the
// trigger decided on the events seen (enrolling or not), in one transaction.
// An event enrolls at most once per object (a unique index), an occurrence at
// most once per contact and per address: conflicts are skipped. A contact
// excluded from the object is not enrolled, even when the exclusion came
// after the caller read the exclusions (see enrollEvents). It returns how
// many were inserted.
func (s *Store) EnrollEvents(ctx context.Context, kind, object string, es []EventEnrollment, seen []int64, revision int64) (int64, error) {
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("%s %s: enrolling from events: %w", kind, object, err)
	}
	defer tx.Rollback()
	if len(seen) > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaignctl.trigger_seen (kind, object, event_id)
SELECT $1, $2, id FROM unnest($3::bigint[]) AS t(id) ON CONFLICT DO NOTHING`, kind, object, pq.Array(seen)); err != nil {
			return 0, fmt.Errorf("%s %s: recording the events seen: %w", kind, object, err)
		}
	}
	n, err := enrollEvents(ctx, tx, kind, object, es, revision)
	if err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

func enrollEvents(ctx context.Context, tx *sqlx.Tx, kind, object string, es []EventEnrollment, revision int64) (int64, error) {
	if len(es) == 0 {
		return 0, nil
	}
	keys, emails, events := make([]string, len(es)), make([]string, len(es)), make([]string, len(es))
	occs, ids := make([]int64, len(es)), make([]int64, len(es))
	ats, wakes := make([]time.Time, len(es)), make([]time.Time, len(es))
	for i, e := range es {
		keys[i], emails[i], events[i] = e.ContactKey, e.Email, string(e.Event)
		occs[i], ids[i], ats[i], wakes[i] = int64(e.Occurrence), e.EventID, e.At, e.Wake
	}
	// The caller read the exclusions before deciding; an operator may have
	// excluded one of these contacts since, or be doing so now. The lock
	// waits for such an exclude to commit (and makes a later one wait for
	// this commit, then end what it finds), and the insert reads the
	// exclusions again, after the lock, in its own snapshot.
	if _, err := tx.ExecContext(ctx, q("lock-enrollment-contacts"), kind, object, pq.Array(keys)); err != nil {
		return 0, fmt.Errorf("%s %s: locking %d contacts against manual actions: %w", kind, object, len(keys), err)
	}
	res, err := tx.ExecContext(ctx, `
INSERT INTO campaignctl.enrollments (kind, object, contact_key, email, email_normalized, occurrence,
    state, step_index, wake_at, enrolled_at, revision_id, trigger_event, trigger_event_id, updated_at)
SELECT $1, $2, k, btrim(e), lower(btrim(e)), occ, 'active', 0, w, at, $3, ev::jsonb, nullif(id, 0), at
FROM unnest($4::text[], $5::text[], $6::int[], $7::bigint[], $8::text[], $9::timestamptz[], $10::timestamptz[])
     AS t(k, e, occ, id, ev, at, w)
WHERE NOT EXISTS (SELECT 1 FROM campaignctl.enrollment_exclusions x WHERE x.kind = $1 AND x.object = $2 AND x.contact_key = t.k)
ON CONFLICT DO NOTHING`, kind, object, revision, pq.Array(keys), pq.Array(emails), pq.Array(occs), pq.Array(ids),
		pq.Array(events), pq.Array(ats), pq.Array(wakes))
	if err != nil {
		return 0, fmt.Errorf("%s %s: enrolling %d contacts from events: %w", kind, object, len(es), err)
	}
	return res.RowsAffected()
}

// Property is a value a workflow step wrote for a contact; Value nil means
// cleared.
type Property struct {
	Field string
	Value *string
}

// PropertyWrite is one property written by a step.
type PropertyWrite struct {
	Model, ContactKey, Field string
	Value                    *string
	Step                     string
	EnrollmentID             int64
}

// ContactProperties returns the properties workflows wrote for the keys of
// model, by key and field (a nil value: cleared).
func (a *Advancer) ContactProperties(ctx context.Context, model string, keys []string) (map[string]map[string]*string, error) {
	return contactProperties(ctx, a.tx, model, keys)
}

// ContactProperties is Advancer.ContactProperties outside a transaction.
func (s *Store) ContactProperties(ctx context.Context, model string, keys []string) (map[string]map[string]*string, error) {
	return contactProperties(ctx, s.DB, model, keys)
}

func contactProperties(ctx context.Context, db sqlx.QueryerContext, model string, keys []string) (map[string]map[string]*string, error) {
	rows, err := db.QueryContext(ctx, `SELECT contact_key, field, value FROM campaignctl.contact_properties WHERE model = $1 AND contact_key = ANY($2::text[])`, model, pq.Array(keys))
	if err != nil {
		return nil, fmt.Errorf("reading the properties of %d %s contacts: %w", len(keys), model, err)
	}
	defer rows.Close()
	out := map[string]map[string]*string{}
	for rows.Next() {
		var k, f string
		var v sql.NullString
		if err := rows.Scan(&k, &f, &v); err != nil {
			return nil, err
		}
		if out[k] == nil {
			out[k] = map[string]*string{}
		}
		if v.Valid {
			s := v.String
			out[k][f] = &s
		} else {
			out[k][f] = nil
		}
	}
	return out, rows.Err()
}

// WriteProperties writes properties in the advancing transaction: the last
// write of a field wins.
func (a *Advancer) WriteProperties(ctx context.Context, kind, object string, now time.Time, ws []PropertyWrite) error {
	for _, w := range ws {
		var v sql.NullString
		if w.Value != nil {
			v = sql.NullString{String: *w.Value, Valid: true}
		}
		if _, err := a.tx.ExecContext(ctx, `
INSERT INTO campaignctl.contact_properties (model, contact_key, field, value, set_at, kind, object, step, enrollment_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (model, contact_key, field) DO UPDATE
SET value = EXCLUDED.value, set_at = EXCLUDED.set_at, kind = EXCLUDED.kind, object = EXCLUDED.object,
    step = EXCLUDED.step, enrollment_id = EXCLUDED.enrollment_id`,
			w.Model, w.ContactKey, w.Field, v, now, kind, object, w.Step, w.EnrollmentID); err != nil {
			return fmt.Errorf("%s %s / step %s: writing %s of contact %s: %w", kind, object, w.Step, w.Field, w.ContactKey, err)
		}
	}
	return nil
}

// TakeOwnerTurns reserves n turns of a step's round robin and returns the
// position of the first; replicas share the rotation through the row lock.
func (a *Advancer) TakeOwnerTurns(ctx context.Context, kind, object, step string, n int) (int64, error) {
	var next int64
	err := a.tx.GetContext(ctx, &next, `
INSERT INTO campaignctl.owner_rotation (kind, object, step, next) VALUES ($1, $2, $3, $4)
ON CONFLICT (kind, object, step) DO UPDATE SET next = campaignctl.owner_rotation.next + $4
RETURNING next - $4`, kind, object, step, n)
	if err != nil {
		return 0, fmt.Errorf("%s %s / step %s: taking owner turns: %w", kind, object, step, err)
	}
	return next, nil
}

// Departed is a contact whose last enrollment in an object has ended and who
// has not yet been seen outside the object's state trigger.
type Departed struct {
	ID         int64  `db:"id"`
	ContactKey string `db:"contact_key"`
}

// EndedNotLeft pages through the contacts of (kind, object) whose last
// enrollment has ended and is not marked trigger_left, in key order after
// afterKey.
func (s *Store) EndedNotLeft(ctx context.Context, kind, object, afterKey string, limit int) ([]Departed, error) {
	var out []Departed
	err := s.DB.SelectContext(ctx, &out, `
SELECT id, contact_key FROM (
    SELECT DISTINCT ON (contact_key) id, contact_key, state, trigger_left
    FROM campaignctl.enrollments
    WHERE kind = $1 AND object = $2 AND contact_key > $3
    ORDER BY contact_key, occurrence DESC) last
WHERE state = 'exited' AND NOT trigger_left
ORDER BY contact_key
LIMIT $4`, kind, object, afterKey, limit)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading ended enrollments: %w", kind, object, err)
	}
	return out, nil
}

// MarkTriggerLeft records that the contacts of these enrollments left the
// state trigger.
func (s *Store) MarkTriggerLeft(ctx context.Context, ids []int64) error {
	if _, err := s.DB.ExecContext(ctx, `UPDATE campaignctl.enrollments SET trigger_left = true WHERE id = ANY($1::bigint[])`, pq.Array(ids)); err != nil {
		return fmt.Errorf("marking %d enrollments as having left their trigger: %w", len(ids), err)
	}
	return nil
}
