package engine_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// A confirmation mail (double opt-in: someone just subscribed on the
// website and waits for it) is not queued behind a campaign's backlog. The
// campaign's 1,000 messages were due first, and claims went in due order, so
// the confirmation went after every one of them: behind a relay taking 200
// messages a second, 4 s; behind a hosted relay's 10 a second, more than a
// minute and a half, and hours for a list of 100,000. Mail sent to one
// person because of what that person did (a confirmation, an autoresponder,
// a workflow's step) now goes before bulk mail that is due: only what the
// daemon had already claimed goes first.
func TestConfirmationIsNotQueuedBehindACampaignsBacklog(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		delay time.Duration
		// most is how many campaign messages may go between the request and
		// its confirmation: what the two workers had in hand when it was
		// claimed (a group of up to 16 each, fewer for a slow relay) and
		// what went while the reconcile pass queued it; not the 128
		// campaign rows claimed before it and waiting for a worker.
		most int
	}{
		{"fast relay", 10 * time.Millisecond, 64}, // about 200 messages a second
		// About 40 a second: the campaigns' queue stays full, and the
		// one-to-one lane is asked for anyway when the confirmation is
		// queued (before, once 64 rows of room had freed: 1.6 s later).
		{"slow relay", 50 * time.Millisecond, 32},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ahead := confirmationBehind(t, c.delay, confirmationPlan())
			if ahead > c.most {
				t.Errorf("%d campaign messages went between the request and its confirmation; want at most %d", ahead, c.most)
			}
		})
	}
}

// Nor behind a sequence's backlog: a sequence started on a list of 1,000
// enqueues its first step for all of them at once, in the same lane as the
// confirmation (both are mail to one person), and claims in that lane went
// in due order: the confirmation waited for every step due before it.
// Confirmations and autoresponders (someone is waiting for them) now go
// first in their lane.
func TestConfirmationIsNotQueuedBehindASequencesBacklog(t *testing.T) {
	t.Parallel()
	ahead := confirmationBehind(t, 10*time.Millisecond, withConfirmation(sequencePlan()))
	// What each of the two workers had in hand (a group of up to 16) and,
	// one group in four, a group that starts with the sequence's jobs
	// (TestSequenceKeepsItsShareBehindABacklogOfConfirmations), and what
	// went while the confirmation was queued; not the sequence's rows
	// claimed before it and waiting for a worker.
	if ahead > 80 {
		t.Errorf("%d sequence messages went between the request and its confirmation; want at most 80", ahead)
	}
}

// confirmationBehind applies p (bulk or sequence mail to the 1,000 active
// contacts of 2,000, and confirmationPlan's double opt-in subscription),
// sends through a relay taking delay a message on each of two sessions, has
// contact 1 (not active) ask for a double opt-in subscription once 100
// messages went, and returns how many other messages went between the
// request and its confirmation.
func confirmationBehind(t *testing.T, delay time.Duration, p *plan.Plan) int {
	t.Helper()
	rb := setupRelay(t, 2000) // 1,000 active: the campaign's audience
	rb.relay.SetDelay(delay)
	rb.eng.BatchSize = 500 // the daemon's: 128 claimed rows wait for a worker
	rb.apply(t, p)
	stop, _ := run(t, rb.eng, engine.RunOptions{Interval: 20 * time.Millisecond})
	defer stop()
	waitFor(t, "the mail under way", 30*time.Second, func() bool { return rb.relay.Count() >= 100 })

	// Contact 1 is inactive, so not in the campaign: it asks to subscribe.
	before := rb.relay.Count()
	if _, err := rb.st.InsertEvents(rb.ctx, []store.Event{{OccurredAt: rb.clock.Now(), Model: "c",
		ContactKey: "1", Type: plan.EventSubscribeRequested, Topic: "blog", Properties: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	confirmed := func() int {
		for i, m := range rb.relay.Messages() {
			if strings.Contains(string(m.Data), "Subject: Please confirm") {
				return i
			}
		}
		return -1
	}
	asked := time.Now()
	var queued time.Duration
	queuedAt := -1
	waitFor(t, "the confirmation", 60*time.Second, func() bool {
		if queuedAt < 0 {
			var n int
			if err := rb.st.DB.Get(&n, `SELECT count(*) FROM campaignctl.outbox WHERE kind = 'subscription'`); err == nil && n > 0 {
				queued, queuedAt = time.Since(asked), rb.relay.Count()
			}
		}
		return confirmed() >= 0
	})
	at := confirmed()
	t.Logf("the confirmation was queued %s and %d other messages after the request, and sent %s after it, %d other messages later",
		queued.Round(time.Millisecond), queuedAt-before, time.Since(asked).Round(time.Millisecond), at-queuedAt)
	return at - before
}

// A backlog in the one-to-one lane larger than the relay takes (here 1,000
// confirmations queued at once) does not stop a campaign: workers start one
// group in four with the campaigns' jobs. With the one-to-one lane strictly
// first, the campaign waited for the whole backlog: of the 400 deliveries
// after the first campaign message, 398 were the campaign's, all after the
// last confirmation. A campaign row a killed replica held would then wait for
// that backlog too, not for its lease.
func TestCampaignKeepsItsShareBehindABacklogOfConfirmations(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 2000) // even keys active: the campaign's 1,000
	rb.relay.SetDelay(2 * time.Millisecond)
	rb.eng.BatchSize = 500
	rb.apply(t, confirmationPlan())
	askAll(t, rb) // 1,000 confirmations
	// One pass queues them and the campaign's messages, all due now.
	if err := rb.eng.Reconcile(rb.ctx); err != nil {
		t.Fatal(err)
	}
	if got := rb.outbox(t)["pending"]; got != 2000 {
		t.Fatalf("%d messages pending after a reconcile pass, want the 1,000 confirmations and the campaign's 1,000", got)
	}
	confirms, start := sendAllAndShare(t, rb, 400)
	// Three groups in four take the confirmations first; a group is up to
	// 16 messages, so the split is rough.
	if confirms < 200 || confirms > 360 {
		t.Errorf("%d confirmations and %d campaign messages in 400 deliveries while both lanes were due; want confirmations first but the campaign at least a tenth", confirms, 400-confirms)
	}
	t.Logf("from delivery %d: %d confirmations and %d campaign messages in the next 400", start, confirms, 400-confirms)
}

// Nor does a backlog of confirmations (a list imported at once, each asked
// to confirm) stop a sequence: one group in four starts with the one-to-one
// lane's jobs. With the waited lane always first, the sequence's 1,000 steps
// waited for all 1,000 confirmations.
func TestSequenceKeepsItsShareBehindABacklogOfConfirmations(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 2000) // even keys active: the sequence's 1,000
	rb.relay.SetDelay(2 * time.Millisecond)
	rb.eng.BatchSize = 500
	rb.apply(t, withConfirmation(sequencePlan()))
	askAll(t, rb)
	// Reconcile passes queue the confirmations and the sequence's steps,
	// all due now.
	if err := rb.eng.Reconcile(rb.ctx); err != nil { // enrolls, queues the confirmations
		t.Fatal(err)
	}
	if _, err := rb.eng.AdvanceDue(rb.ctx); err != nil { // queues the first step
		t.Fatal(err)
	}
	if got := rb.outbox(t)["pending"]; got != 2000 {
		t.Fatalf("%d messages pending after a reconcile pass and an advance, want the 1,000 confirmations and the sequence's 1,000", got)
	}
	confirms, start := sendAllAndShare(t, rb, 400)
	// One group in four starts with the sequence's, one with the
	// campaigns' (none here, so it takes confirmations): about a quarter.
	if seq := 400 - confirms; seq < 40 || seq > 200 {
		t.Errorf("%d confirmations and %d sequence messages in 400 deliveries while both lanes were due; want confirmations first but the sequence at least a tenth", confirms, seq)
	}
	t.Logf("from delivery %d: %d confirmations and %d sequence messages in the next 400", start, confirms, 400-confirms)
}

// askAll has the 1,000 inactive contacts of setupRelay's 2,000 (odd keys)
// ask for confirmationPlan's double opt-in subscription.
func askAll(t *testing.T, rb *relayBundle) {
	t.Helper()
	var evs []store.Event
	for k := 1; k < 2000; k += 2 {
		evs = append(evs, store.Event{OccurredAt: rb.clock.Now(), Model: "c", ContactKey: strconv.Itoa(k),
			Type: plan.EventSubscribeRequested, Topic: "blog", Properties: []byte(`{}`)})
	}
	if _, err := rb.st.InsertEvents(rb.ctx, evs); err != nil {
		t.Fatal(err)
	}
}

// sendAllAndShare runs the engine until the relay took the 2,000 messages
// queued, then counts the confirmations among the n deliveries that follow
// the first delivery of the kind (confirmation or other) that started
// second, and returns where that was: both were due all along.
func sendAllAndShare(t *testing.T, rb *relayBundle, n int) (confirms, start int) {
	t.Helper()
	stop, _ := run(t, rb.eng, engine.RunOptions{Interval: 20 * time.Millisecond})
	defer stop()
	waitFor(t, "all", 60*time.Second, func() bool { return rb.relay.Count() >= 2000 })
	msgs := rb.relay.Messages()
	isConfirm := func(i int) bool { return strings.Contains(string(msgs[i].Data), "Subject: Please confirm") }
	start = 1
	for start < len(msgs) && isConfirm(start) == isConfirm(0) {
		start++
	}
	if start+n > len(msgs) {
		t.Fatalf("the lane that started second got its first message at %d of %d: one lane waited for the other", start, len(msgs))
	}
	for i := start; i < start+n; i++ {
		if isConfirm(i) {
			confirms++
		}
	}
	return confirms, start
}

// sequencePlan is testPlan with a sequence "welcome" to the active contacts,
// its one step due at enrollment.
func sequencePlan() *plan.Plan {
	p := testPlan("Hi")
	p.Sequences = []plan.Sequence{{Name: "welcome", Model: "c", Segment: "active", Sender: "s",
		Steps: []plan.SequenceStep{{Name: "one", Offset: "0d", Template: "t"}}}}
	return p
}

// confirmationPlan is testPlan's campaign "c" to the active contacts, and a
// double opt-in subscription "blog" whose confirmation's subject is "Please
// confirm".
func confirmationPlan() *plan.Plan {
	return withConfirmation(testPlan("Hi", campaign("c", "")))
}

// withConfirmation adds confirmationPlan's subscription to p.
func withConfirmation(p *plan.Plan) *plan.Plan {
	p.Models[0].Subscriptions = []plan.Subscription{{Name: "blog", DoubleOptIn: true,
		ConfirmTemplate: "confirm", ConfirmSender: "s", WordingVersion: "v1"}}
	p.Templates = append(p.Templates, plan.Template{Name: "confirm", Subject: "Please confirm",
		Text: "Confirm: {{ .confirm_url }}", Class: plan.ClassTransactional})
	p.Finalize()
	return p
}
