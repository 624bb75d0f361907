package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// What one contact went through, for `campaignctl explain` and `timeline`:
// its messages, enrollments, their steps, A/B decisions, suppression and
// events. Every read here is keyed by the contact (and the object, when known)
// so that it stays an index lookup on tables that grow with every send; the
// one exception, messages by contact key alone, says so in queries.sql.

// Message is one outbox row as explain and timeline show it.
type Message struct {
	ID              int64          `db:"id"`
	Kind            string         `db:"kind"`
	Object          string         `db:"campaign"`
	Step            string         `db:"step"`
	Variant         string         `db:"variant"`
	ContactKey      string         `db:"contact_key"`
	EmailNormalized string         `db:"email_normalized"`
	Occurrence      int            `db:"occurrence"`
	EnrollmentID    sql.NullInt64  `db:"enrollment_id"`
	Status          string         `db:"status"`
	DueAt           time.Time      `db:"due_at"`
	CreatedAt       time.Time      `db:"created_at"`
	SentAt          sql.NullTime   `db:"sent_at"`
	Attempts        int            `db:"attempts"`
	MessageID       sql.NullString `db:"message_id"`
	LastSMTP        sql.NullString `db:"last_smtp"`
	// LastError holds the last failure, or why send-time policy holds a
	// pending message ("held: quiet hours … until 08:00 local").
	LastError sql.NullString `db:"last_error"`
}

// ObjectContactMessages returns the messages of (kind, object) at the given
// steps ("" for a campaign) to contactKey, and to address (a normalized
// address, "" for none) through another record of the same person, oldest
// first.
func (s *Store) ObjectContactMessages(ctx context.Context, kind, object string, steps []string, contactKey, address string) ([]Message, error) {
	var out []Message
	if err := s.DB.SelectContext(ctx, &out, q("object-contact-messages"), kind, object, pq.Array(steps), contactKey, address); err != nil {
		return nil, fmt.Errorf("%s %s: reading the messages of contact %s: %w", kind, object, contactKey, err)
	}
	return out, nil
}

// ObjectRef names an object: identity is (kind, name) everywhere.
type ObjectRef struct{ Kind, Name string }

// objectArrays splits refs into the pairwise kinds and names arrays the
// queries take ($n::text[], $m::text[] unnested together).
func objectArrays(refs []ObjectRef) (kinds, names []string) {
	kinds, names = make([]string, len(refs)), make([]string, len(refs))
	for i, r := range refs {
		kinds[i], names[i] = r.Kind, r.Name
	}
	return kinds, names
}

// ContactMessages returns up to limit (0: all) of the latest messages to
// contactKey, newest first, of the objects in mine (the objects of the
// contact's model), and of objects not in declared (every object the applied
// plan declares) that went to address, the contact's normalized address:
// the outbox does not say which model a key belongs to.
func (s *Store) ContactMessages(ctx context.Context, contactKey string, mine, declared []ObjectRef, address string, limit int) ([]Message, error) {
	mk, mn := objectArrays(mine)
	dk, dn := objectArrays(declared)
	var out []Message
	if err := s.DB.SelectContext(ctx, &out, q("contact-messages"), contactKey, pq.Array(mk), pq.Array(mn),
		pq.Array(dk), pq.Array(dn), address, limitArg(limit)); err != nil {
		return nil, fmt.Errorf("reading the messages of contact %s: %w", contactKey, err)
	}
	return out, nil
}

// EnrollmentRecord is one enrollment of a contact, whatever its state.
type EnrollmentRecord struct {
	ID              int64          `db:"id"`
	Kind            string         `db:"kind"`
	Object          string         `db:"object"`
	ContactKey      string         `db:"contact_key"`
	EmailNormalized string         `db:"email_normalized"`
	Occurrence      int            `db:"occurrence"`
	State           string         `db:"state"`
	StepIndex       int            `db:"step_index"`
	WakeAt          sql.NullTime   `db:"wake_at"`
	Hold            sql.NullString `db:"hold"`
	EnrolledAt      time.Time      `db:"enrolled_at"`
	RevisionID      int64          `db:"revision_id"`
	ExitReason      sql.NullString `db:"exit_reason"`
	ExitedAt        sql.NullTime   `db:"exited_at"`
}

// ObjectContactEnrollments returns the enrollments in (kind, object) of
// contactKey, and of address (normalized, "" for none) through another
// record of the same person, oldest first.
func (s *Store) ObjectContactEnrollments(ctx context.Context, kind, object, contactKey, address string) ([]EnrollmentRecord, error) {
	var out []EnrollmentRecord
	if err := s.DB.SelectContext(ctx, &out, q("object-contact-enrollments"), kind, object, contactKey, address); err != nil {
		return nil, fmt.Errorf("%s %s: reading the enrollments of contact %s: %w", kind, object, contactKey, err)
	}
	return out, nil
}

// EnrollmentStep is one line of an enrollment's history.
type EnrollmentStep struct {
	EnrollmentID int64     `db:"enrollment_id"`
	Step         string    `db:"step"`
	Action       string    `db:"action"`
	At           time.Time `db:"at"`
	Variant      string    `db:"variant"`
	Detail       string    `db:"detail"`
}

// EnrollmentHistory returns the history lines of the enrollments ids, by
// enrollment and time. Lines of one enrollment at the same instant come in no
// particular order: the caller knows the step order that breaks the tie.
func (s *Store) EnrollmentHistory(ctx context.Context, ids []int64) ([]EnrollmentStep, error) {
	var out []EnrollmentStep
	if len(ids) == 0 {
		return out, nil
	}
	if err := s.DB.SelectContext(ctx, &out, q("enrollment-history"), pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("reading the history of %d enrollments: %w", len(ids), err)
	}
	return out, nil
}

// ObjectABDecisions returns the decided A/B tests of (kind, object); PValue
// is NaN where none was computed.
func (s *Store) ObjectABDecisions(ctx context.Context, kind, object string) ([]ABDecision, error) {
	var out []ABDecision
	if err := s.DB.SelectContext(ctx, &out, q("object-ab-decisions"), kind, object); err != nil {
		return nil, fmt.Errorf("%s %s: reading A/B decisions: %w", kind, object, err)
	}
	return out, nil
}

// Suppression is why an address must not receive marketing mail.
type Suppression struct {
	EmailNormalized string `db:"email_normalized"`
	// Reason is unsubscribed, blacklisted, hard_bounce, complaint or manual.
	Reason string `db:"reason"`
	// Campaign is the object whose message led to it, "" when none did.
	Campaign  string    `db:"campaign"`
	CreatedAt time.Time `db:"created_at"`
}

// AddressSuppression returns the suppression of email (normalized here), and
// false when the address is not suppressed.
func (s *Store) AddressSuppression(ctx context.Context, email string) (Suppression, bool, error) {
	var out Suppression
	err := s.DB.GetContext(ctx, &out, q("address-suppression"), email)
	if errors.Is(err, sql.ErrNoRows) {
		return out, false, nil
	}
	if err != nil {
		return out, false, fmt.Errorf("reading the suppression list: %w", err)
	}
	return out, true, nil
}

// ContactEvent is one stored event of a contact, as timeline shows it.
type ContactEvent struct {
	ID         int64     `db:"id"`
	OccurredAt time.Time `db:"occurred_at"`
	Type       string    `db:"type"`
	Campaign   string    `db:"campaign"`
	Step       string    `db:"step"`
	Topic      string    `db:"topic"`
	URL        string    `db:"url"`
}

// ContactEvents returns up to limit (0: all) of the latest events of the
// contact key of model, newest first.
func (s *Store) ContactEvents(ctx context.Context, model, key string, limit int) ([]ContactEvent, error) {
	var out []ContactEvent
	if err := s.DB.SelectContext(ctx, &out, q("contact-events"), model, key, limitArg(limit)); err != nil {
		return nil, eventsError(fmt.Errorf("reading the events of %s %s: %w", model, key, err))
	}
	return out, nil
}

// limitArg is a LIMIT parameter: NULL (no limit) for 0 or less.
func limitArg(n int) any {
	if n <= 0 {
		return nil
	}
	return n
}
