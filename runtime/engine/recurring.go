package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/campaignctl/campaignctl/runtime/flow"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// This file advances recurring (multiple-mode) autoresponders: enrolled like
// a single-mode one (segment entry, never before the start, nobody after the
// end), each enrollment then wakes at every issue of the recurrence.
// flow.Recurring.Advance decides; here the facts are read for a batch (do not
// email, still in the segment, replied) and the decision is applied in the
// advancing transaction, like a sequence's.
//
// An enrollment's row keeps: step_index, the number of issues sent (what
// max_follow_ups bounds); next_step, the issue it waits for
// ("issue-2026-02-01"); wake_at, that issue's time. Each issue is its own
// outbox step, so it goes out at most once per contact and occurrence.

// recurringFirstWake is when a contact enrolled at at is first looked at: its
// first issue, or at itself when none is left before the end (the advance
// then completes the enrollment, saying so).
func recurringFirstWake(r *flow.Recurring, at time.Time) time.Time {
	if t, ok := r.First(at); ok {
		return t
	}
	return at
}

// advanceRecurringGroup decides and applies one recurring autoresponder's
// share of a batch; it returns how many messages it enqueued.
func (e *Engine) advanceRecurringGroup(ctx context.Context, adv *store.Advancer, l *loaded, sr *series, group []store.Enrollment, now time.Time) (int, error) {
	kind, object, rec := sr.Kind, sr.Name, sr.recurring
	ids := make([]int64, len(group))
	keys := make([]string, len(group))
	for i, r := range group {
		ids[i], keys[i] = r.ID, r.ContactKey
	}
	// A suppressed address skips its issues while it is on the list (a
	// recurrence runs for years; one lifted lets the next issue go).
	suppressed, err := e.suppressionsOf(ctx, group)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", kind, object, err)
	}
	dne := map[string]bool{}
	if sr.DoNotEmail != "" {
		var err error
		if dne, err = l.eval.MatchKeys(ctx, e.Store.DB, doNotEmailSegment(kind, object), now, keys); err != nil {
			return 0, fmt.Errorf("%s %s: reading %s: %w", kind, object, sr.DoNotEmail, err)
		}
	}
	inSegment, err := l.eval.MatchKeys(ctx, e.Store.DB, sr.Segment, now, keys)
	if err != nil {
		return 0, fmt.Errorf("%s %s: reading segment %s: %w", kind, object, sr.Segment, err)
	}
	replied := map[int64]bool{}
	if rec.ExitOnReply {
		if replied, err = adv.Replied(ctx, kind, object, sr.Model, ids, keys); err != nil {
			return 0, err
		}
	}
	var msgs []store.StepMessage
	var hist []store.StepRecord
	moves := make([]store.Move, 0, len(group))
	class := seriesClass
	for _, r := range group {
		d := rec.Advance(flow.RecurringState{ContactKey: r.ContactKey, From: recurringFrom(rec, r), Sent: r.StepIndex},
			flow.RecurringFacts{Now: now, Replied: replied[r.ID], DoNotEmail: dne[r.ContactKey], LeftSegment: !inSegment[r.ContactKey],
				Suppressed: suppressed[normAddress(r.Email)]})
		for _, a := range d.Actions {
			if a.Kind == flow.ActSend {
				msgs = append(msgs, store.StepMessage{Step: a.Step, ContactKey: r.ContactKey, Email: r.Email, Occurrence: r.Occurrence, EnrollmentID: r.ID, Class: class})
			}
			hist = append(hist, store.StepRecord{EnrollmentID: r.ID, Step: a.Step, Action: string(a.Kind), Detail: a.Reason, At: now})
		}
		mv := store.Move{ID: r.ID, Next: d.Next, Wake: d.WakeAt, Exit: d.Exit}
		if !d.WakeAt.IsZero() {
			mv.NextStep = rec.IssueName(d.WakeAt)
		}
		moves = append(moves, mv)
	}
	if err := adv.Apply(ctx, kind, object, now, msgs, hist, moves); err != nil {
		return 0, err
	}
	if e.Metrics != nil && len(msgs) > 0 {
		e.Metrics.CountEnqueued(kind, object, msgs)
	}
	return len(msgs), nil
}

// recurringFrom is the earliest time an issue may still be owed to the
// enrollment. Before its first advance (next_step empty: just enrolled,
// included or reset) that is its enrollment: issues from then on. After, the
// time it was woken for, or the start of the day of the issue it waits for
// if that is earlier (a replica that could not run the revision pushed the
// wake-up back; the recurrence's time of day was edited).
func recurringFrom(rec *flow.Recurring, r store.Enrollment) time.Time {
	if r.NextStep == "" || !r.WakeAt.Valid {
		return r.EnrolledAt
	}
	from := r.WakeAt.Time
	if day, ok := rec.IssueDate(r.NextStep); ok && day.Before(from) {
		from = day
	}
	return from
}
