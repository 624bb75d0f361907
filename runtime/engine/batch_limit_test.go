package engine

import (
	"testing"
	"time"
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
