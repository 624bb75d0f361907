package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/engine"
)

// While a backlog drains the claimer claims after its cursor, and from the
// start every 250 ms: a row another replica claimed and then died holding
// is taken over once its lease runs out, while the backlog still drains,
// not only when a claim finally comes back short at its end (which is when
// a claimer that never went back to the start would find it).
func TestExpiredClaimBehindTheCursorIsTakenOverMidBacklog(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 1200) // 600 active
	// 600 messages at 8 ms each, one session: about 5 s of backlog.
	rb.relay.SetDelay(8 * time.Millisecond)
	rb.apply(t, testPlan("Hi", campaign("c", "")))
	if err := rb.eng.Reconcile(rb.ctx); err != nil {
		t.Fatal(err)
	}
	// A replica claims the first 20 rows in due order and is killed: its
	// lease runs out in a second, behind the cursor of whoever drains the rest.
	dead, err := rb.st.ClaimDue(rb.ctx, rb.clock.Now(), "dead", time.Second, 20)
	if err != nil || len(dead) != 20 {
		t.Fatalf("the dead replica's claim: %d rows, %v", len(dead), err)
	}
	e := rb.replica(t, "r1", rb.clock)
	e.Concurrency = 1
	_, done := run(t, e, engine.RunOptions{Interval: 20 * time.Millisecond, ExitWhenIdle: true})
	waitDone(t, done, 60*time.Second, "the replica to drain the backlog")
	assertExactlyOnce(t, rb.relay, 600)

	deadAt := map[string]bool{}
	for _, r := range dead {
		deadAt[strings.ToLower(r.Email)] = true
	}
	msgs := rb.relay.Messages()
	last := -1
	for i, m := range msgs {
		for _, to := range m.To {
			if deadAt[strings.ToLower(to)] {
				last = i
			}
		}
	}
	// Taken over about 1.3 s into a 5 s drain (around the 160th delivery);
	// without the claims from the start, among the last 50.
	if last < 0 || last >= len(msgs)-100 {
		t.Fatalf("the dead replica's last row was delivered %d of %d: not taken over while the backlog drained", last+1, len(msgs))
	}
	t.Logf("the dead replica's rows were delivered by message %d of %d", last+1, len(msgs))
}
