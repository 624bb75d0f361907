package main

import (
	"strings"
	"testing"
)

func TestJudgeClassifiesEachMessage(t *testing.T) {
	const n = 202 // ids 101 and 202 are hard-refused
	hard := Planted{Hard: 101}.hard
	tl := newTally()
	for id := 1; id <= n; id++ {
		for i, m := range messages {
			if m.due(id) && !hard(id) {
				tl.delivered[key{id, i}] = 1
				tl.ledger[key{id, i}] = row{"sent", ""}
			}
		}
	}
	// The hard-refused: failed with a reason, or never enqueued once suppressed.
	tl.ledger[key{101, 0}] = row{"failed", "rcpt 550 5.1.1"}
	tl.suppressed[101] = "hard_bounce"
	tl.ledger[key{202, 0}] = row{"cancelled", "address suppressed"}
	tl.suppressed[202] = "hard_bounce"
	v := judge(n, hard, tl, 10)
	if f := v.failures(); len(f) != 0 {
		t.Fatalf("a clean tally fails: %v", f)
	}
	if v.failedReason != 2 || v.lost != 0 { // 101 and 202 are due Hello only
		t.Errorf("failed for a reason: %d, lost %d; want 2 and 0", v.failedReason, v.lost)
	}

	// Each kind of fault is counted where it belongs.
	tl.delivered[key{3, 1}] = 3                // two duplicates
	delete(tl.delivered, key{6, 1})            // ledger says sent, nothing came
	delete(tl.delivered, key{9, 1})            // lost:
	tl.ledger[key{9, 1}] = row{"pending", ""}  // still pending at the end
	tl.ledger[key{12, 1}] = row{"failed", "x"} // delivered, but the ledger says failed
	tl.suppressed[7] = "hard_bounce"           // never refused for good
	delete(tl.suppressed, 202)                 // refused for good, not suppressed
	delete(tl.ledger, key{202, 0})             // and its message is lost
	v = judge(n, hard, tl, 1)
	got := strings.Join(v.failures(), "; ")
	for _, want := range []string{"3 messages lost", "2 duplicates exceed the in-flight window's 1", "2 ledger rows disagree", "1 contacts suppressed without a hard refusal", "1 hard refusals not suppressed"} {
		if !strings.Contains(got, want) {
			t.Errorf("failures %q lack %q", got, want)
		}
	}
	var b strings.Builder
	v.print(&b)
	if !strings.Contains(b.String(), "FAIL:") || !strings.Contains(b.String(), "c9@example.com") {
		t.Errorf("the table does not say FAIL with an example:\n%s", b.String())
	}
}
