package store

import (
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

//go:embed inbound.sql
var inboundSQL string

var inboundQueries = mustParseQueries(inboundSQL)

// SentMessage is the outbox row an inbound reply, bounce or complaint is about.
type SentMessage struct {
	ID         int64      `db:"id"`
	Kind       string     `db:"kind"`
	Campaign   string     `db:"campaign"`
	Step       string     `db:"step"`
	Variant    string     `db:"variant"`
	ContactKey string     `db:"contact_key"`
	Email      string     `db:"email"`
	EmailNorm  string     `db:"email_normalized"`
	Occurrence int        `db:"occurrence"`
	Status     string     `db:"status"`
	SentAt     *time.Time `db:"sent_at"`
	MessageID  string     `db:"message_id"`
}

// SentMessage reads outbox row id; ok is false when there is none.
func (s *Store) SentMessage(ctx context.Context, id int64) (SentMessage, bool, error) {
	return s.sentMessage(ctx, "inbound-sent-message", id)
}

// SentMessageByMessageID reads the outbox row that carried msgID (without
// angle brackets). A Message-ID of today's form names its row
// ("<hash>.<id>@<domain>", mailer.MessageID), read by primary key; one sent
// before 2026-12-05 is the hash alone, found through the index migration 018
// keeps for those (the latest row that carried it).
func (s *Store) SentMessageByMessageID(ctx context.Context, msgID string) (SentMessage, bool, error) {
	if id, ok := messageRowID(msgID); ok {
		return s.sentMessage(ctx, "inbound-sent-message-by-row", id, msgID)
	}
	return s.sentMessage(ctx, "inbound-sent-message-by-id", msgID)
}

// messageRowID is the outbox row id a Message-ID of today's form carries
// after the dot of its local part; ok is false when there is no number
// there. Whether the row sent that Message-ID is the query's to check.
func messageRowID(msgID string) (int64, bool) {
	local, _, ok := strings.Cut(msgID, "@")
	dot := strings.LastIndexByte(local, '.')
	if !ok || dot < 0 {
		return 0, false
	}
	id, err := strconv.ParseInt(local[dot+1:], 10, 64)
	return id, err == nil
}

func (s *Store) sentMessage(ctx context.Context, query string, args ...any) (SentMessage, bool, error) {
	var m SentMessage
	err := s.DB.GetContext(ctx, &m, inboundQueries[query], args...)
	if errors.Is(err, sql.ErrNoRows) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("reading the sent message: %w", err)
	}
	return m, true, nil
}

// InboundRecord is what one inbound message records: an event (skipped when
// Event.Model is empty: the object left the plan and its model is unknown)
// and, for a hard bounce or a complaint, a suppression.
type InboundRecord struct {
	Event Event
	// Suppress is the suppression reason (hard_bounce, complaint), or "".
	Suppress string
	Email    string
	Campaign string
	Now      time.Time
}

// RecordInbound stores rec in one transaction. The event is stored once per
// (model, external id) whatever its time; recorded is false when it already
// was (a second delivery of the same report), and then nothing is written.
func (s *Store) RecordInbound(ctx context.Context, rec InboundRecord) (recorded bool, err error) {
	if rec.Event.ExternalID == "" {
		return false, errors.New("recording an inbound event: no external id")
	}
	props := rec.Event.Properties
	if len(props) == 0 {
		props = json.RawMessage("{}")
	}
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("recording an inbound event: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, inboundQueries["inbound-lock"], rec.Event.ExternalID); err != nil {
		return false, fmt.Errorf("recording an inbound event: %w", err)
	}
	recorded = true
	if rec.Event.Model != "" {
		if err := checkEvent(rec.Event); err != nil {
			return false, fmt.Errorf("recording an inbound event: %w", err)
		}
		e := rec.Event
		res, err := tx.ExecContext(ctx, inboundQueries["inbound-record-event"], e.OccurredAt, e.Model, e.ContactKey, e.Type, e.Campaign, e.Step, e.ExternalID, string(props))
		if err != nil {
			return false, fmt.Errorf("recording an inbound event: %w", eventsError(err))
		}
		n, _ := res.RowsAffected()
		recorded = n == 1
	}
	if recorded && rec.Suppress != "" {
		if _, err := tx.ExecContext(ctx, q("suppress"), rec.Email, rec.Suppress, rec.Campaign, rec.Now); err != nil {
			return false, fmt.Errorf("suppressing address: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("recording an inbound event: %w", err)
	}
	if recorded && rec.Event.Model != "" {
		// Counted like the API's and the tracker's events, so a burst of
		// bounces refreshes its partition's statistics too.
		s.noteEventsStored([]Event{rec.Event})
	}
	return recorded, nil
}
