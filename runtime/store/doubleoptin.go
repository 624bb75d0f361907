package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lib/pq"
)

// Double opt-in and the preference center (issue 15): the confirmation mail
// is queued like any message; confirming writes the consent grant and the
// event that triggers what the subscription starts, in one transaction; the
// preference center reads and writes the ledger per subscription type.

// KindSubscription is the outbox kind of a double opt-in confirmation mail;
// its campaign column is the subscription type and its step ConfirmStep.
const (
	KindSubscription = "subscription"
	ConfirmStep      = "confirm"
)

// ConsentSourcePreferenceCenter is the ledger source of a choice made on the
// preference center page (migration 012).
const ConsentSourcePreferenceCenter = "preference_center"

// ConfirmRequest is one subscription request to confirm by mail.
type ConfirmRequest struct {
	ContactKey, Email string
}

// QueueConfirmations queues one confirmation mail per request for
// subscription and records the request events (of kind, object) as decided,
// in one transaction. It returns how many mails were queued.
func (s *Store) QueueConfirmations(ctx context.Context, subscription string, reqs []ConfirmRequest, decided []int64, now time.Time) (int64, error) {
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("subscription %s: queueing confirmations: %w", subscription, err)
	}
	defer tx.Rollback()
	if len(decided) > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaignctl.trigger_seen (kind, object, event_id)
SELECT $1, $2, id FROM unnest($3::bigint[]) AS t(id) ON CONFLICT DO NOTHING`, KindSubscription, subscription, pq.Array(decided)); err != nil {
			return 0, fmt.Errorf("subscription %s: recording the requests seen: %w", subscription, err)
		}
	}
	var n int64
	if len(reqs) > 0 {
		keys, emails := make([]string, len(reqs)), make([]string, len(reqs))
		for i, r := range reqs {
			keys[i], emails[i] = r.ContactKey, r.Email
		}
		res, err := tx.ExecContext(ctx, q("queue-confirmations"), subscription, pq.Array(keys), pq.Array(emails), now)
		if err != nil {
			return 0, fmt.Errorf("subscription %s: queueing %d confirmations: %w", subscription, len(reqs), err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return 0, err
		}
	}
	return n, tx.Commit()
}

// Confirmation is a click on a confirmation link, as verified by the daemon.
type Confirmation struct {
	OutboxID       int64
	Subscription   string
	Model          string
	ContactKey     string
	Email          string
	WordingVersion string
	// IP and UserAgent are the request's metadata, kept as evidence.
	IP, UserAgent string
	At            time.Time
}

// ErrNoConfirmation: the confirmation mail the link belongs to is not in the
// outbox (the contact was forgotten since): nothing is recorded.
var ErrNoConfirmation = errors.New("the confirmation mail of this link is no longer known")

// ConfirmSubscription records a confirmed subscription: a consent grant for
// the subscription type (source link, with the wording version and the
// request's metadata) and an event of type eventType (topic = subscription),
// which triggers the workflows of the subscription. A link already used
// records nothing again: it returns the first entry and false.
func (s *Store) ConfirmSubscription(ctx context.Context, c Confirmation, eventType string) (entry int64, fresh bool, err error) {
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return 0, false, fmt.Errorf("confirming a subscription: %w", err)
	}
	defer tx.Rollback()
	var row struct {
		Email string `db:"email_normalized"`
		Key   string `db:"contact_key"`
	}
	if err := tx.GetContext(ctx, &row, q("lock-confirmation"), c.OutboxID, c.Subscription); errors.Is(err, sql.ErrNoRows) {
		return 0, false, ErrNoConfirmation
	} else if err != nil {
		return 0, false, fmt.Errorf("confirming a subscription: %w", err)
	}
	if row.Email != c.Email || row.Key != c.ContactKey {
		// Signed by us for another row: only a bug could do that.
		return 0, false, fmt.Errorf("confirming a subscription: outbox row %d is not this contact's", c.OutboxID)
	}
	err = tx.GetContext(ctx, &entry, q("confirmed-by"), c.Email, c.Subscription, strconv.FormatInt(c.OutboxID, 10))
	if err == nil {
		return entry, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("confirming a subscription: %w", err)
	}
	// A confirmed request lifts an unsubscribe from all marketing mail: the
	// person has just asked to come back, and proved the address is theirs.
	// A bounce, a complaint, a blacklisting or a manual suppression stays.
	res, err := tx.ExecContext(ctx, `DELETE FROM campaignctl.suppressions WHERE email_normalized = $1 AND reason = $2`, c.Email, SuppressionUnsubscribed)
	if err != nil {
		return 0, false, fmt.Errorf("confirming a subscription: lifting the unsubscribe: %w", err)
	}
	lifted, _ := res.RowsAffected()
	evidence := map[string]any{
		"outbox_id": c.OutboxID, "wording_version": c.WordingVersion,
		"ip": c.IP, "user_agent": c.UserAgent, "model": c.Model, "contact_key": c.ContactKey,
	}
	if lifted > 0 {
		evidence["lifted_unsubscribe"] = true
	}
	ev, _ := json.Marshal(evidence)
	if err := tx.GetContext(ctx, &entry, q("record-consent"), c.Email, c.Subscription, ConsentGrant, ConsentSourceLink, string(ev), c.At); err != nil {
		return 0, false, fmt.Errorf("confirming a subscription: recording consent: %w", err)
	}
	props, _ := json.Marshal(map[string]any{"subscription": c.Subscription, "consent_entry": entry, "wording_version": c.WordingVersion})
	if _, err := InsertEventsTx(ctx, tx, []Event{{
		OccurredAt: c.At, Model: c.Model, ContactKey: c.ContactKey, Type: eventType, Topic: c.Subscription,
		ExternalID: "confirm-" + strconv.FormatInt(c.OutboxID, 10), Properties: props,
	}}); err != nil {
		return 0, false, fmt.Errorf("confirming a subscription: storing the %s event: %w", eventType, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, false, fmt.Errorf("confirming a subscription: %w", err)
	}
	return entry, true, nil
}

// Preferences is what the preference center shows for one address: whether
// it is suppressed (unsubscribed from all marketing mail, bounced, …) and its
// latest ledger entry per subscription type ("" = all marketing mail).
func (s *Store) Preferences(ctx context.Context, email string) (suppressed bool, latest map[string]ConsentEntry, err error) {
	if suppressed, err = s.IsSuppressed(ctx, email); err != nil {
		return false, nil, fmt.Errorf("reading preferences: %w", err)
	}
	var rows []ConsentEntry
	if err := s.DB.SelectContext(ctx, &rows, q("preferences"), email); err != nil {
		return false, nil, fmt.Errorf("reading preferences: %w", err)
	}
	latest = make(map[string]ConsentEntry, len(rows))
	for _, r := range rows {
		latest[r.Subscription] = r
	}
	return suppressed, latest, nil
}

// ConsentChange is one entry the preference center appends.
type ConsentChange struct {
	Subscription, Action string
}

// RecordConsentChanges appends the entries of one choice, in one
// transaction: all or none.
func (s *Store) RecordConsentChanges(ctx context.Context, email, source string, changes []ConsentChange, evidence map[string]any, at time.Time) error {
	if len(changes) == 0 {
		return nil
	}
	ev, err := json.Marshal(evidence)
	if err != nil {
		return fmt.Errorf("recording consent: evidence: %w", err)
	}
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recording consent: %w", err)
	}
	defer tx.Rollback()
	for _, c := range changes {
		var id int64
		if err := tx.GetContext(ctx, &id, q("record-consent"), email, c.Subscription, c.Action, source, string(ev), at); err != nil {
			return fmt.Errorf("recording consent: %w", err)
		}
	}
	return tx.Commit()
}

// ConfirmationCount is the double opt-in funnel of one subscription type.
type ConfirmationCount struct {
	Subscription string `db:"subscription" json:"subscription"`
	// Requested counts the confirmation mails queued since the start, one per
	// request; Queued those still waiting to be sent, NotSent those failed or
	// cancelled (a hard bounce, a suppressed address).
	Requested int64 `db:"requested" json:"requested"`
	Queued    int64 `db:"queued" json:"queued"`
	Sent      int64 `db:"sent" json:"sent"`
	NotSent   int64 `db:"not_sent" json:"not_sent"`
	// Of those sent: confirmed, awaiting a click while the link is valid,
	// and expired without one.
	Confirmed int64 `db:"confirmed" json:"confirmed"`
	Awaiting  int64 `db:"awaiting" json:"awaiting"`
	Expired   int64 `db:"expired" json:"expired"`
}

// ConfirmationCounts returns the double opt-in funnel of each subscription
// type at now; within[i] is how long a link of subs[i] is valid.
func (s *Store) ConfirmationCounts(ctx context.Context, subs []string, within []time.Duration, now time.Time) ([]ConfirmationCount, error) {
	secs := make([]float64, len(within))
	for i, d := range within {
		secs[i] = d.Seconds()
	}
	var out []ConfirmationCount
	if err := s.DB.SelectContext(ctx, &out, q("confirmation-counts"), pq.Array(subs), pq.Array(secs), now); err != nil {
		return nil, fmt.Errorf("counting confirmations: %w", err)
	}
	return out, nil
}
