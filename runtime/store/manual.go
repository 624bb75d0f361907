package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// ManualAction is one operator action on a contact's enrollment in an object
// (campaignctl enrollments exclude|include|reset).
type ManualAction struct {
	Kind, Object, ContactKey string
	// Email is the contact's address, read from the CRM, for include and reset
	// (a new enrollment needs it).
	Email  string
	Actor  string
	Reason string
	At     time.Time
	// Revision is the applied revision a new enrollment starts under.
	Revision int64
}

// ManualResult says what an action did, in words the command prints and the
// audit row keeps.
type ManualResult struct {
	Exited     int64 // active enrollments ended ('manual')
	Cancelled  int64 // messages not yet handed to a relay, cancelled
	Occurrence int   // the occurrence started (include, reset), else 0
	Excluded   bool  // the contact is excluded afterwards
}

func (r ManualResult) String() string {
	var parts []string
	if r.Exited > 0 {
		parts = append(parts, fmt.Sprintf("ended %d active enrollment(s)", r.Exited))
	}
	if r.Cancelled > 0 {
		parts = append(parts, fmt.Sprintf("cancelled %d pending message(s)", r.Cancelled))
	}
	if r.Occurrence > 0 {
		parts = append(parts, fmt.Sprintf("started occurrence %d", r.Occurrence))
	}
	if r.Excluded {
		parts = append(parts, "excluded from further enrollment")
	}
	if len(parts) == 0 {
		return "nothing to change"
	}
	return strings.Join(parts, ", ")
}

// ErrAlreadyEnrolled: include found the contact enrolled and active.
var ErrAlreadyEnrolled = errors.New("the contact is already enrolled and active")

// Exclude ends the contact's active enrollment in the object (reason
// 'manual'), cancels its messages not yet handed to a relay, and keeps the
// contact from being enrolled again until Include.
func (s *Store) Exclude(ctx context.Context, a ManualAction) (ManualResult, error) {
	return s.manual(ctx, "exclude", a, func(tx *sqlx.Tx, r *ManualResult) error {
		if err := endActive(ctx, tx, a, r); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO campaignctl.enrollment_exclusions (kind, object, contact_key, excluded_at)
VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, a.Kind, a.Object, a.ContactKey, a.At)
		r.Excluded = true
		return err
	})
}

// Include lifts an exclusion and enrolls the contact now, as a new
// occurrence, whether or not its trigger or segment holds: an operator's
// decision. A contact already active is left as it is (ErrAlreadyEnrolled).
func (s *Store) Include(ctx context.Context, a ManualAction) (ManualResult, error) {
	return s.manual(ctx, "include", a, func(tx *sqlx.Tx, r *ManualResult) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM campaignctl.enrollment_exclusions WHERE kind = $1 AND object = $2 AND contact_key = $3`,
			a.Kind, a.Object, a.ContactKey); err != nil {
			return err
		}
		var active bool
		if err := tx.GetContext(ctx, &active, `SELECT EXISTS (SELECT 1 FROM campaignctl.enrollments
WHERE kind = $1 AND object = $2 AND contact_key = $3 AND state = 'active')`, a.Kind, a.Object, a.ContactKey); err != nil {
			return err
		}
		if active {
			return ErrAlreadyEnrolled
		}
		return startOccurrence(ctx, tx, a, r)
	})
}

// Reset ends the contact's active enrollment (reason 'manual'), cancels its
// pending messages and enrolls it again from the first step, as a new
// occurrence (its messages are new ones, with new Message-IDs).
func (s *Store) Reset(ctx context.Context, a ManualAction) (ManualResult, error) {
	return s.manual(ctx, "reset", a, func(tx *sqlx.Tx, r *ManualResult) error {
		if err := endActive(ctx, tx, a, r); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM campaignctl.enrollment_exclusions WHERE kind = $1 AND object = $2 AND contact_key = $3`,
			a.Kind, a.Object, a.ContactKey); err != nil {
			return err
		}
		return startOccurrence(ctx, tx, a, r)
	})
}

// manual runs one action and its audit row in one transaction. The object's
// segment entry, then the contact and its enrollments in the object, are
// locked first, so a segment entry, an event-triggered enrollment or an
// advance of the same contact on a running daemon waits for the action, or
// the action for it.
func (s *Store) manual(ctx context.Context, action string, a ManualAction, body func(*sqlx.Tx, *ManualResult) error) (ManualResult, error) {
	var r ManualResult
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return r, err
	}
	defer tx.Rollback()
	// First the object's entry lock, exclusive: a segment entry's insert in
	// flight (it holds the lock shared, enterSegment) commits before this
	// action reads and ends the contact's enrollments, and one starting
	// later waits for this commit, then reads the exclusion. Always before
	// the contact's lock, as nothing takes them in the other order.
	if _, err := tx.ExecContext(ctx, q("lock-object-manual"), a.Kind, a.Object); err != nil {
		return r, fmt.Errorf("%s %s / %s: waiting for the segment entry in flight: %w", a.Kind, a.Object, action, err)
	}
	// Then the lock an event-triggered enrollment of the contact takes
	// (enrollEvents): one in flight commits before this action reads and
	// ends the contact's enrollments, so none is written after an exclude.
	if _, err := tx.ExecContext(ctx, q("lock-enrollment-contacts"), a.Kind, a.Object, pq.Array([]string{a.ContactKey})); err != nil {
		return r, fmt.Errorf("%s %s / %s: %w", a.Kind, a.Object, action, err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT id FROM campaignctl.enrollments WHERE kind = $1 AND object = $2 AND contact_key = $3 FOR UPDATE`,
		a.Kind, a.Object, a.ContactKey); err != nil {
		return r, fmt.Errorf("%s %s / %s: %w", a.Kind, a.Object, action, err)
	}
	if err := body(tx, &r); err != nil {
		if errors.Is(err, ErrAlreadyEnrolled) {
			return r, err
		}
		return r, fmt.Errorf("%s %s / %s contact %s: %w", a.Kind, a.Object, action, a.ContactKey, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO campaignctl.enrollment_audit (at, actor, action, kind, object, contact_key, reason, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, a.At, a.Actor, action, a.Kind, a.Object, a.ContactKey, a.Reason, r.String()); err != nil {
		return r, fmt.Errorf("recording the audit row: %w", err)
	}
	return r, tx.Commit()
}

func endActive(ctx context.Context, tx *sqlx.Tx, a ManualAction, r *ManualResult) error {
	var ids []int64
	if err := tx.SelectContext(ctx, &ids, `UPDATE campaignctl.enrollments
SET state = 'exited', exit_reason = 'manual', exited_at = $4, wake_at = NULL, hold = NULL, updated_at = $4
WHERE kind = $1 AND object = $2 AND contact_key = $3 AND state = 'active' RETURNING id`, a.Kind, a.Object, a.ContactKey, a.At); err != nil {
		return err
	}
	r.Exited = int64(len(ids))
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaignctl.enrollment_steps (enrollment_id, step, action, at, detail)
VALUES ($1, '', 'exited', $2, $3)`, id, a.At, "ended by "+a.Actor+" (campaignctl enrollments)"); err != nil {
			return err
		}
	}
	// Messages already leased to a relay may still go: the send path never
	// takes a message back from the relay.
	res, err := tx.ExecContext(ctx, `UPDATE campaignctl.outbox SET status = 'cancelled', last_error = 'enrollment ended by an operator'
WHERE kind = $1 AND campaign = $2 AND contact_key = $3 AND status = 'pending'
  AND (lease_until IS NULL OR lease_until < clock_timestamp())`, a.Kind, a.Object, a.ContactKey)
	if err != nil {
		return err
	}
	r.Cancelled, err = res.RowsAffected()
	return err
}

func startOccurrence(ctx context.Context, tx *sqlx.Tx, a ManualAction, r *ManualResult) error {
	if strings.TrimSpace(a.Email) == "" {
		return errors.New("the contact has no address in the CRM: there is nothing to enroll")
	}
	var last sql.NullInt64
	if err := tx.GetContext(ctx, &last, `SELECT max(occurrence) FROM campaignctl.enrollments WHERE kind = $1 AND object = $2 AND contact_key = $3`,
		a.Kind, a.Object, a.ContactKey); err != nil {
		return err
	}
	r.Occurrence = int(last.Int64) + 1
	// ON CONFLICT: another record of the same person (one address) holds this
	// occurrence; the new occurrence then has nothing to send to.
	res, err := tx.ExecContext(ctx, `INSERT INTO campaignctl.enrollments (kind, object, contact_key, email, email_normalized, occurrence,
    state, step_index, wake_at, enrolled_at, revision_id, updated_at)
VALUES ($1, $2, $3, btrim($4), lower(btrim($4)), $5, 'active', 0, $6, $6, $7, $6)
ON CONFLICT DO NOTHING`, a.Kind, a.Object, a.ContactKey, a.Email, r.Occurrence, a.At, a.Revision)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		r.Occurrence = 0
		return fmt.Errorf("the address %s is enrolled in occurrence %d through another record", a.Email, last.Int64+1)
	}
	return nil
}

// AuditRow is one manual action as recorded.
type AuditRow struct {
	At         time.Time `db:"at" json:"at"`
	Actor      string    `db:"actor" json:"actor"`
	Action     string    `db:"action" json:"action"`
	Kind       string    `db:"kind" json:"kind"`
	Object     string    `db:"object" json:"object"`
	ContactKey string    `db:"contact_key" json:"contact_key"`
	Reason     string    `db:"reason" json:"reason,omitempty"`
	Detail     string    `db:"detail" json:"detail"`
}

// Audit lists the manual actions on an object (all objects when object is
// ""), oldest first.
func (s *Store) Audit(ctx context.Context, kind, object string) ([]AuditRow, error) {
	var out []AuditRow
	err := s.DB.SelectContext(ctx, &out, `SELECT at, actor, action, kind, object, contact_key, reason, detail
FROM campaignctl.enrollment_audit WHERE ($1 = '' OR (kind = $1 AND object = $2)) ORDER BY at, id`, kind, object)
	return out, err
}

// Excluded returns which of keys are excluded from (kind, object).
func (s *Store) Excluded(ctx context.Context, kind, object string, keys []string) (map[string]bool, error) {
	var hit []string
	if err := s.DB.SelectContext(ctx, &hit, `SELECT contact_key FROM campaignctl.enrollment_exclusions
WHERE kind = $1 AND object = $2 AND contact_key = ANY($3::text[])`, kind, object, pq.Array(keys)); err != nil {
		return nil, fmt.Errorf("%s %s: reading exclusions: %w", kind, object, err)
	}
	out := make(map[string]bool, len(hit))
	for _, k := range hit {
		out[k] = true
	}
	return out, nil
}
