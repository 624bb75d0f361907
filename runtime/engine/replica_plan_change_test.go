package engine_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/mailer/smtptest"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// A plan change while three replicas send behind a slow relay, one of them
// slow to look (its reconcile interval is 20 times the others'): each sees
// the new revision by its next claim or reconcile pass, and from the moment
// a replica sees it, only the messages it had already handed to the relay,
// one per connection, can still go out under the old revision. An edited
// subject reaches every later message of every replica; a removed campaign
// sends nothing more and its pending rows are cancelled, whichever replica
// held them. Each replica has a relay of its own, so what went out after it
// looked is counted per replica.
func TestPlanChangeReachesEveryReplicaMidSend(t *testing.T) {
	t.Parallel()
	paused := campaign("c", "")
	paused.Paused = true
	for _, tc := range []struct {
		name string
		next *plan.Plan
	}{
		{"edit", testPlan("New subject", campaign("c", ""))},
		{"removal", testPlan("Old subject")},
		{"pause", testPlan("Old subject", paused)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rb := setupRelay(t, 600) // 300 active
			rb.apply(t, testPlan("Old subject", campaign("c", "")))
			fast := &clock.Accelerated{Start: t0, Factor: 86400}
			var engines []*engine.Engine
			var relays []*smtptest.Relay
			for i, interval := range []time.Duration{50 * time.Millisecond, 50 * time.Millisecond, time.Second} {
				r := rb.relay
				if i > 0 {
					r = smtptest.New()
					addr, err := r.Start("127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { r.Close() })
					rb.addr = addr
				}
				r.SetDelay(50 * time.Millisecond)
				e := rb.replica(t, fmt.Sprintf("r%d", i), fast)
				// A lease long enough for batches of 16 at this pace: as many
				// messages as a replica can have composed when it sees a
				// change.
				e.Lease = 5 * time.Second
				engines, relays = append(engines, e), append(relays, r)
				run(t, e, engine.RunOptions{Interval: interval})
			}
			count := func() (n int) {
				for _, r := range relays {
					n += r.Count()
				}
				return n
			}
			waitFor(t, "the first 40 deliveries", 30*time.Second, func() bool { return count() >= 40 })
			rb.apply(t, tc.next)
			applied := time.Now()
			atApply := count()
			rev, err := rb.st.LatestRevisionID(rb.ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Each relay's delivery count when its replica had loaded the
			// revision (-1: not yet).
			seen := []int{-1, -1, -1}
			waitFor(t, "every replica to load the new revision", 10*time.Second, func() bool {
				all := true
				for i, e := range engines {
					if seen[i] < 0 {
						if engine.LoadedRevision(e) == rev {
							seen[i] = relays[i].Count()
						} else {
							all = false
						}
					}
				}
				return all
			})
			took := time.Since(applied)
			// Sent, cancelled, or held while paused.
			heldPaused := func() (n int64) {
				if err := rb.st.DB.Get(&n, `SELECT count(*) FROM campaignctl.outbox WHERE status = 'pending' AND due_at = $1 AND claimed_by IS NULL`, store.HeldWhilePaused); err != nil {
					t.Fatal(err)
				}
				return n
			}
			waitFor(t, "the campaign's rows to be sent, cancelled or held", 60*time.Second, func() bool {
				got := rb.outbox(t)
				return got["sent"]+got["cancelled"]+heldPaused() == 300
			})
			total, old := 0, make([]int, len(relays))
			for i, r := range relays {
				for j, m := range r.Messages() {
					if j >= seen[i] && bytes.Contains(m.Data, []byte("Subject: Old subject")) {
						old[i]++
					}
				}
				total += r.Count()
				// A connection may finish the message it held when its replica
				// looked.
				if old[i] > engines[i].Concurrency {
					t.Errorf("replica %d: %d messages with the old revision reached its relay after it had seen the %s (at its delivery %d); want at most %d, one per connection", i, old[i], tc.name, seen[i], engines[i].Concurrency)
				}
			}
			t.Logf("%s: applied at delivery %d; the replicas saw it at their deliveries %v, the last %s later; old messages after: %v", tc.name, atApply, seen, took.Round(time.Millisecond), old)
			if took > 3*time.Second {
				t.Errorf("the last replica saw the revision %s after it was applied; its interval is 1 s", took.Round(time.Millisecond))
			}
			got := rb.outbox(t)
			if int(got["sent"]) != total || got["pending"] != heldPaused() {
				t.Errorf("outbox %v; the relays received %d; want every row sent, cancelled or held, and as many sent as received", got, total)
			}
			if tc.name == "edit" && got["sent"] != 300 {
				t.Errorf("outbox %v, want 300 sent", got)
			}
			perRcpt := map[string]int{}
			for _, r := range relays {
				for rcpt, n := range r.Deliveries() {
					perRcpt[rcpt] += n
				}
			}
			for rcpt, n := range perRcpt {
				if n > 1 {
					t.Errorf("%s received %d messages", rcpt, n)
				}
			}
		})
	}
}

// A campaign paused mid-send on three replicas and resumed goes on where it
// stopped: every contact gets exactly one message, none of them twice, and
// nothing is left held.
func TestCampaignPausedAndResumedMidSendOnThreeReplicas(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 600) // 300 active
	rb.relay.SetDelay(10 * time.Millisecond)
	rb.apply(t, testPlan("Hi", campaign("c", "")))
	rb.acceleratedReplicas(t, 3, engine.RunOptions{Interval: 50 * time.Millisecond})
	waitFor(t, "the first 60 deliveries", 30*time.Second, func() bool { return rb.relay.Count() >= 60 })
	paused := campaign("c", "")
	paused.Paused = true
	rb.apply(t, testPlan("Hi", paused))
	var atPause int
	waitFor(t, "sending to stop", 15*time.Second, func() bool {
		n := rb.relay.Count()
		time.Sleep(300 * time.Millisecond)
		atPause = rb.relay.Count()
		return n == atPause
	})
	if atPause >= 300 {
		t.Fatalf("all 300 sent before the pause took effect; the test needs a slower relay")
	}
	rb.apply(t, testPlan("Hi", campaign("c", "")))
	waitFor(t, "every contact mailed after the resume", 60*time.Second, func() bool { return rb.relay.Count() >= 300 })
	time.Sleep(300 * time.Millisecond)
	assertExactlyOnce(t, rb.relay, 300)
	if got := rb.outbox(t); got["sent"] != 300 || got["pending"] != 0 {
		t.Errorf("outbox %v after the resume, want 300 sent and nothing pending", got)
	}
	t.Logf("paused after %d deliveries", atPause)
}
