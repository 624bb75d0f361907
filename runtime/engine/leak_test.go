package engine_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/mailer"
)

// TestRunLeavesNoGoroutineBehind runs the daemon's loop through a relay
// outage, a relay that hangs up on every connection and a stalled message,
// stops it, closes its SMTP pool, and checks that every goroutine it started
// is gone: a daemon that restarts its loops (or a replica that runs for
// months through faults) must not pile them up. It is the package's one test
// without t.Parallel: Go runs it before the parallel ones start, so every
// goroutine it finds is its own.
func TestRunLeavesNoGoroutineBehind(t *testing.T) {
	rb := setupRelay(t, 400) // 200 active
	rb.relay.SetDelay(2 * time.Millisecond)
	rb.apply(t, testPlan("Hi", campaign("c", "")))
	// Everything that runs now (the database pool, the relay's listener,
	// the test's own) is not the engine's.
	before := goleak.IgnoreCurrent()

	stop, _ := run(t, rb.eng, engine.RunOptions{Interval: 20 * time.Millisecond})
	waitFor(t, "40 deliveries", 20*time.Second, func() bool { return rb.relay.Count() >= 40 })
	rb.relay.Down()
	time.Sleep(300 * time.Millisecond)
	if err := rb.relay.Up(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "80 deliveries", 20*time.Second, func() bool { return rb.relay.Count() >= 80 })
	rb.relay.CloseConnections()
	stalled := rb.relay.Count()
	rb.relay.SetStall(func(string) bool { return true })
	time.Sleep(300 * time.Millisecond) // some sends wait on the stalled relay
	stop()
	rb.relay.SetStall(nil)
	rb.relay.CloseConnections()
	rb.eng.Mailer.(*mailer.SMTP).Close()
	t.Logf("stopped after %d deliveries (%d before the stall)", rb.relay.Count(), stalled)

	// The relay's own session goroutines end when their connections do.
	goleak.VerifyNone(t, before,
		goleak.IgnoreAnyFunction("github.com/campaignctl/campaignctl/runtime/mailer/smtptest.(*Relay).handle"),
		goleak.IgnoreAnyFunction("github.com/campaignctl/campaignctl/runtime/mailer/smtptest.(*Relay).serve"))
}
