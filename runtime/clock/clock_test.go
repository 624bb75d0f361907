package clock

import (
	"testing"
	"time"
)

// Two replicas (or one restarted after a crash) given the same Start and
// Origin read the same simulated time, whenever each was started.
func TestAcceleratedWithOriginAgreesAcrossRestarts(t *testing.T) {
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	origin := time.Now().Add(-10 * time.Second)
	a := &Accelerated{Start: start, Factor: 3600, Origin: origin}
	time.Sleep(20 * time.Millisecond)
	b := &Accelerated{Start: start, Factor: 3600, Origin: origin} // "restarted" later
	ta, tb := a.Now(), b.Now()
	if d := tb.Sub(ta); d < 0 || d > 10*time.Minute {
		t.Fatalf("same origin, read 1 ms apart: %s and %s differ by %s of simulated time; want about the same", ta, tb, d)
	}
	// 10 real seconds after the origin at 3600×: about 10 simulated hours.
	if got := ta.Sub(start); got < 10*time.Hour || got > 11*time.Hour {
		t.Fatalf("10 s after the origin at 3600×, the clock is %s past Start; want about 10h", got)
	}
	// Without an Origin, the clock starts at Start when first read.
	c := &Accelerated{Start: start, Factor: 3600}
	if got := c.Now().Sub(start); got < 0 || got > time.Minute {
		t.Fatalf("no origin: first read is %s past Start; want about 0", got)
	}
}
