package engine

import (
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/mailer"
)

// A worker's batch is as many messages as the relay takes in Lease/6 at its
// recent pace: a claim's lease is checked once before its batch, so a batch
// that outlasted Lease/3 could hand the relay a row another replica took over.
func TestBatchLimitFollowsTheRelaysPace(t *testing.T) {
	p := &sendPass{e: &Engine{Lease: 30 * time.Second}}
	if got := p.groupLimit(); got != 1 {
		t.Fatalf("before any message was timed: limit %d, want 1", got)
	}
	p.timed(time.Millisecond)
	if got := p.groupLimit(); got != maxBatch {
		t.Fatalf("a relay at 1 ms a message: limit %d, want %d", got, maxBatch)
	}
	// A relay that slows to 3 s a message: the average follows within a few
	// batches, and the batch shrinks to one message.
	for range 10 {
		p.timed(3 * time.Second)
	}
	if got := p.groupLimit(); got != 1 {
		t.Fatalf("a relay at 3 s a message (average %s): limit %d, want 1", time.Duration(p.perMessage.Load()), got)
	}
	// Lease/6 is 5 s: at 0.9 s a message, five.
	for range 20 {
		p.timed(900 * time.Millisecond)
	}
	if got := p.groupLimit(); got != 5 {
		t.Fatalf("a relay at 0.9 s a message (average %s): limit %d, want 5", time.Duration(p.perMessage.Load()), got)
	}
}

// A batch's time is shared by the messages the relay was handed, not by
// those HandOff refused: they took none of it. Dividing by the whole batch
// read a relay that slowed in the middle of a batch as faster than it was,
// and the next batch was larger than its pace allows.
func TestBatchPaceCountsOnlyWhatWasHandedOver(t *testing.T) {
	late := &mailer.SendError{Stage: mailer.StageMail, Err: mailer.ErrHandOffLate}
	refused := func(n, from int) []error {
		errs := make([]error, n)
		for i := from; i < n; i++ {
			errs[i] = late
		}
		return errs
	}
	// 16 messages, the last 12 refused: 4 s over 4 messages is 1 s each.
	per, handed := batchPace(4*time.Second, 16, refused(16, 4))
	if per != time.Second || handed != 4 {
		t.Fatalf("4 of 16 handed over in 4 s: %s a message over %d, want 1s over 4", per, handed)
	}
	// All handed over: the time is shared by all.
	if per, handed := batchPace(16*time.Millisecond, 16, refused(16, 16)); per != time.Millisecond || handed != 16 {
		t.Fatalf("16 of 16 in 16 ms: %s over %d, want 1ms over 16", per, handed)
	}
	// None handed over (the first was abandoned with its DATA open): its
	// time counts as one message's.
	if per, handed := batchPace(900*time.Millisecond, 16, refused(16, 0)); per != 900*time.Millisecond || handed != 0 {
		t.Fatalf("0 of 16 in 900 ms: %s over %d, want 900ms over 0", per, handed)
	}

	// Through sendPass: a relay at 1 s a message behind a lease of 30 s
	// (Lease/6 = 5 s) allows batches of 5. A batch of which 4 went out in 4 s
	// and 12 were refused must leave it at 5, not raise it to 16 (4 s / 16 =
	// 250 ms a message).
	p := &sendPass{e: &Engine{Lease: 30 * time.Second}}
	for range 20 {
		p.timed(time.Second)
	}
	p.paced(4*time.Second, 16, refused(16, 4))
	if got := p.groupLimit(); got != 5 {
		t.Fatalf("after a batch abandoned at its fifth message: limit %d, want 5 (pace %s)", got, time.Duration(p.perMessage.Load()))
	}
	// A batch refused from its first message, at once: nothing was timed,
	// and the estimate must not read it as a fast relay.
	for range 20 {
		p.paced(time.Millisecond, 16, refused(16, 0))
	}
	if got := p.groupLimit(); got != 5 {
		t.Fatalf("after batches refused at once: limit %d, want 5 (pace %s)", got, time.Duration(p.perMessage.Load()))
	}
}
