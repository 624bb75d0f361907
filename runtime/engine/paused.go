package engine

import (
	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/flow"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// An object paused in the plan (paused = true) keeps all its state and does
// nothing until a later revision unpauses it:
//
//   - nobody new is enrolled: a sequence's or autoresponder's segment is not
//     read, and an event-triggered workflow's trigger cursor does not move, so
//     the events that arrive during the pause enroll their contacts when it
//     resumes (late, but none is lost);
//   - its enrollments are not claimed (claim-due-enrollments leaves them out):
//     no step is taken and nothing is written, so each resumes at the step it
//     was waiting for, due at once if its time passed during the pause;
//   - a paused campaign is not materialized;
//   - its messages already in the outbox are held at send time, never
//     cancelled: each is claimed once, as it comes due, and put back pending
//     with a due time that is never reached (store.HeldWhilePaused); the
//     leader's reconcile pass makes them due again once the object is
//     unpaused (store.ReleasePausedHolds).
//
// A/B decisions and the exits of removed objects are not paused: they only
// read what was sent, or follow the plan.

// rulePaused is the rule label of the messages held because their object is
// paused (campaignctl_messages_held_total{rule="paused"}).
const rulePaused = "paused"

// pausedObjects lists the plan's paused objects by seriesKey(kind, name), and
// as references for the claim query.
func pausedObjects(p *plan.Plan) (map[string]bool, []store.ObjectRef) {
	set := map[string]bool{}
	var refs []store.ObjectRef
	add := func(kind, name string, paused bool) {
		if paused {
			set[seriesKey(kind, name)] = true
			refs = append(refs, store.ObjectRef{Kind: kind, Name: name})
		}
	}
	for _, c := range p.Campaigns {
		add(kindCampaign, c.Name, c.Paused)
	}
	for _, s := range p.Sequences {
		add(flow.KindSequence, s.Name, s.Paused)
	}
	for _, a := range p.Autoresponders {
		add(flow.KindAutoresponder, a.Name, a.Paused)
	}
	for _, w := range p.Workflows {
		add(flow.KindWorkflow, w.Name, w.Paused)
	}
	return set, refs
}

// isPaused says whether the object is paused in the loaded plan.
func (l *loaded) isPaused(kind, name string) bool { return l.paused[seriesKey(kind, name)] }

// holdPaused holds a claimed message of a paused object: back to pending,
// due store.HeldWhilePaused (it was due again every minute before, so a
// paused campaign of 100,000 rewrote its 100,000 outbox rows every minute of
// its pause), with the reason in last_error. A hold is not an attempt, and
// the message is never cancelled for being paused.
func (e *Engine) holdPaused(l *loaded, tg target, r store.Claimed) (store.Outcome, bool) {
	if !l.isPaused(tg.kind, tg.name) {
		return store.Outcome{}, false
	}
	if e.Metrics != nil {
		e.Metrics.Held.WithLabelValues(tg.kind, tg.name, rulePaused).Inc()
	}
	o := outcome(r, store.OutboxPending)
	o.Hold, o.At, o.Error = true, store.HeldWhilePaused, "held: object paused"
	return o, true
}
