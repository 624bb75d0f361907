// Package clock is the runtime's source of time for what is scheduled: when a
// campaign or a retry is due. The daemon uses Real; tests use Fake; the demo uses
// Accelerated to run weeks of a campaign in seconds. What measures real
// processes stays on real time whatever the Clock: claim leases (on the
// database's clock), SMTP timeouts, relay backoff and latency metrics.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface{ Now() time.Time }

// Real is the wall clock.
type Real struct{}

func (Real) Now() time.Time { return time.Now() }

// Accelerated runs Factor times faster than the wall clock: it reads Start at
// the real instant Origin, or, with a zero Origin, when it is first read.
// Replicas (and a replica restarted after a crash) given the same Start and
// Origin agree on the time; without an Origin each would start its own.
type Accelerated struct {
	Start  time.Time
	Factor float64
	Origin time.Time
	once   sync.Once
}

func (a *Accelerated) Now() time.Time {
	a.once.Do(func() {
		if a.Origin.IsZero() {
			a.Origin = time.Now()
		}
	})
	return a.Start.Add(time.Duration(float64(time.Since(a.Origin)) * a.Factor))
}

// Fake is a clock a test sets by hand.
type Fake struct {
	mu sync.Mutex
	t  time.Time
}

func NewFake(t time.Time) *Fake { return &Fake{t: t} }

func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

// Advance moves the fake clock forward.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// Set moves the fake clock to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.t = t
	f.mu.Unlock()
}
