package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/engine"
)

// The enrollment side (sequences, workflows) under the faults the send path is
// tested with: replicas, a plan change mid-run, a crash mid-advance.

// threeSteps is the nurture plan with a goal-less sequence of the given steps
// (name, offset, template) and, when welcome is set, a second sequence
// "welcome" of one step on the same segment.
func threeSteps(welcome bool, steps ...[3]string) *plan.Plan {
	p := nurturePlan()
	p.Sequences[0].Goal = ""
	p.Sequences[0].Steps = nil
	for _, s := range steps {
		p.Sequences[0].Steps = append(p.Sequences[0].Steps, plan.SequenceStep{Name: s[0], Offset: s[1], Template: s[2]})
	}
	if welcome {
		p.Templates = append(p.Templates, plan.Template{Name: "welcome", Subject: "Welcome", Text: "Hi {{ .unsubscribe_url }}", Class: plan.ClassMarketing})
		p.Sequences = append(p.Sequences, plan.Sequence{Name: "welcome", Model: "lead", Segment: "restock_waitlist", Sender: "warehouse",
			Steps: []plan.SequenceStep{{Name: "hello", Offset: "0d", Template: "welcome"}}})
	}
	p.Finalize()
	return p
}

// perSubject counts the relay's messages by subject, failing on any address
// that received one subject twice.
func perSubject(t *testing.T, nb *nurtureBundle) map[string]int {
	t.Helper()
	out := map[string]int{}
	for k, n := range received(t, nb.relay) {
		if n != 1 {
			t.Errorf("%s received %d times", k, n)
		}
		out[k[strings.Index(k, "|")+1:]]++
	}
	return out
}

// A replica advances with the plan its Run loop loaded last, up to one
// --interval old. Enrollments the leader made under a newer revision, or
// steps that revision added, must not be judged by the older plan: a new
// sequence's enrollments used to be put off for an hour ("not in the plan"),
// and an enrollment at the old last step exited completed, never getting the
// step the new revision appended.
func TestReplicaWithAnOlderPlanAdvancesUnderTheNewOne(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 30)
	stale := nb.replica(t, "r1")
	day := 24 * time.Hour
	nb.apply(t, threeSteps(false, [3]string{"one", "0d", "restock_week1"}, [3]string{"two", "7d", "restock_week2_ignored"}))
	nb.step(t, nb.eng) // day 0: "one" to everyone
	first := nb.relay.Count()
	if first == 0 {
		t.Fatal("nothing sent on day 0")
	}
	if err := engine.Load(nb.ctx, stale); err != nil {
		t.Fatal(err)
	}
	// Day 7: a new revision appends "three" and adds the sequence "welcome";
	// the leader enrolls under it, and the replica advances before its Run
	// loop loaded it.
	nb.clock.Advance(7 * day)
	nb.apply(t, threeSteps(true, [3]string{"one", "0d", "restock_week1"}, [3]string{"two", "7d", "restock_week2_ignored"}, [3]string{"three", "8d", "restock_week3"}))
	if err := nb.eng.Reconcile(nb.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.AdvanceLoaded(nb.ctx, stale); err != nil {
		t.Fatal(err)
	}
	if _, err := nb.eng.SendDue(nb.ctx); err != nil {
		t.Fatal(err)
	}
	got := perSubject(t, nb)
	if got["Welcome"] != first || got[subjIgnored] != first {
		t.Fatalf("day 7, advanced by the replica: %v; want %d of Welcome and of %q at once", got, first, subjIgnored)
	}
	nb.clock.Advance(day)
	nb.step(t, nb.eng, stale)
	nb.step(t, nb.eng, stale)
	want := map[string]int{subjUrgent: first, subjIgnored: first, "Welcome": first, subjWeek3: first}
	if got := perSubject(t, nb); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("day 8: messages per subject %v, want %v", got, want)
	}
}
