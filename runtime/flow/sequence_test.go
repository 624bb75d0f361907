package flow

import (
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/abtest"
)

// nurture is the seed's restock nurture (campaigns/restock_nurture.hcl).
func nurture(t *testing.T) *Sequence {
	t.Helper()
	s, err := CompileSequence(&plan.Sequence{
		Name: "restock_nurture",
		Steps: []plan.SequenceStep{
			{Name: "week1", Offset: "0d", Template: "w1", ABTest: &plan.ABTest{
				TestPercent: 20, Metric: "open_rate", DecideAfter: "4h", Inconclusive: "send_first",
				Variants: []plan.Variant{{Name: "urgent", Subject: "A"}, {Name: "personal", Subject: "B"}},
			}},
			{Name: "week2_ignored", Offset: "7d", Template: "w2i", When: &plan.Engagement{Step: "week1", Event: "ignored"}},
			{Name: "week2_clicked", Offset: "7d", Template: "w2c", When: &plan.Engagement{Step: "week1", Event: "clicked"}},
			{Name: "week3", Offset: "14d", Template: "w3"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// keys finds a contact key inside and one outside week1's test group.
func keys(t *testing.T, s *Sequence) (inTest, rest string) {
	for i := 0; i < 1000 && (inTest == "" || rest == ""); i++ {
		k := "lead-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		if _, ok := abtest.Assign(KindSequence, s.Name, "week1", k, s.Steps[0].AB); ok {
			if inTest == "" {
				inTest = k
			}
		} else if rest == "" {
			rest = k
		}
	}
	if inTest == "" || rest == "" {
		t.Fatal("no keys on both sides of the split")
	}
	return inTest, rest
}

func kinds(d Decision) string {
	var b []string
	for _, a := range d.Actions {
		s := string(a.Kind)
		if a.Step != "" {
			s += ":" + a.Step
		}
		if a.Variant != "" {
			s += "/" + a.Variant
		}
		b = append(b, s)
	}
	return strings.Join(b, " ")
}

func TestSequenceAdvance(t *testing.T) {
	s := nurture(t)
	inTest, rest := keys(t, s)
	testVariant, _ := abtest.Assign(KindSequence, s.Name, "week1", inTest, s.Steps[0].AB)
	sent := func(first map[string]time.Time) map[string]Engagement {
		return map[string]Engagement{"week1": {Sent: true, SentAt: t0, First: first}}
	}
	day := 24 * time.Hour
	tests := []struct {
		name       string
		key        string
		next       int
		facts      Facts
		want       string
		wantNext   int
		wantWake   time.Time
		wantHold   string
		wantExit   string
		wantReason string
	}{
		{name: "test group gets its variant at once", key: inTest, facts: Facts{Now: t0},
			want: "sent:week1/" + testVariant, wantNext: 1, wantWake: t0.Add(7 * day)},
		{name: "the rest waits for the decision", key: rest, facts: Facts{Now: t0},
			want: "held:week1", wantNext: 0, wantHold: "week1"},
		{name: "the rest gets the winner", key: rest, facts: Facts{Now: t0.Add(5 * time.Hour), AB: map[string]ABOutcome{"week1": {Winner: "personal"}}},
			want: "sent:week1/personal", wantNext: 1, wantWake: t0.Add(7 * day)},
		{name: "inconclusive stop skips the step for the rest", key: rest, facts: Facts{Now: t0.Add(5 * time.Hour), AB: map[string]ABOutcome{"week1": {Stop: true}}},
			want: "skipped:week1", wantNext: 1, wantWake: t0.Add(7 * day)},
		{name: "not due yet", key: inTest, next: 1, facts: Facts{Now: t0.Add(6 * day)},
			want: "", wantNext: 1, wantWake: t0.Add(7 * day)},
		{name: "ignored week1: the reminder", key: inTest, next: 1, facts: Facts{Now: t0.Add(7 * day), Steps: sent(nil)},
			want: "sent:week2_ignored skipped:week2_clicked", wantNext: 3, wantWake: t0.Add(14 * day)},
		{name: "clicked week1: the other mail", key: inTest, next: 1, facts: Facts{Now: t0.Add(7 * day), Steps: sent(map[string]time.Time{"click": t0.Add(time.Hour)})},
			want: "skipped:week2_ignored sent:week2_clicked", wantNext: 3, wantWake: t0.Add(14 * day)},
		{name: "only opened: neither week 2 mail", key: inTest, next: 1, facts: Facts{Now: t0.Add(7 * day), Steps: sent(map[string]time.Time{"open": t0.Add(time.Hour)})},
			want: "skipped:week2_ignored skipped:week2_clicked", wantNext: 3, wantWake: t0.Add(14 * day)},
		{name: "bounced is not ignored", key: inTest, next: 1, facts: Facts{Now: t0.Add(7 * day), Steps: sent(map[string]time.Time{"bounce": t0.Add(time.Minute)})},
			want: "skipped:week2_ignored skipped:week2_clicked", wantNext: 3, wantWake: t0.Add(14 * day)},
		{name: "week1 never sent (suppressed then)", key: inTest, next: 1, facts: Facts{Now: t0.Add(7 * day)},
			want: "skipped:week2_ignored skipped:week2_clicked", wantNext: 3, wantWake: t0.Add(14 * day), wantReason: "week1 was not sent"},
		{name: "goal reached in week 2: nothing further", key: inTest, next: 3, facts: Facts{Now: t0.Add(14 * day), GoalReached: true},
			want: "exited:week3", wantNext: 3, wantExit: ExitGoal},
		{name: "week 3 to everyone not converted, then completed", key: rest, next: 3, facts: Facts{Now: t0.Add(14 * day)},
			want: "sent:week3 exited", wantNext: 4, wantExit: ExitCompleted},
		{name: "a daemon down for three weeks catches up in order", key: inTest, facts: Facts{Now: t0.Add(21 * day), Steps: nil},
			want: "sent:week1/" + testVariant + " skipped:week2_ignored skipped:week2_clicked sent:week3 exited", wantNext: 4, wantExit: ExitCompleted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := s.Advance(State{ContactKey: tc.key, EnrolledAt: t0, Next: tc.next}, tc.facts)
			if got := kinds(d); got != tc.want {
				t.Errorf("actions = %q, want %q", got, tc.want)
			}
			if d.Next != tc.wantNext || !d.WakeAt.Equal(tc.wantWake) || d.Hold != tc.wantHold || d.Exit != tc.wantExit {
				t.Errorf("next %d wake %v hold %q exit %q; want next %d wake %v hold %q exit %q",
					d.Next, d.WakeAt, d.Hold, d.Exit, tc.wantNext, tc.wantWake, tc.wantHold, tc.wantExit)
			}
			if tc.wantReason != "" && (len(d.Actions) == 0 || !strings.Contains(d.Actions[0].Reason, tc.wantReason)) {
				t.Errorf("first reason %q, want it to mention %q", d.Actions[0].Reason, tc.wantReason)
			}
		})
	}
}

func TestWhenWithin(t *testing.T) {
	w := &When{Step: "a", Event: Clicked, Within: 24 * time.Hour}
	e := Engagement{Sent: true, SentAt: t0, First: map[string]time.Time{"click": t0.Add(30 * time.Hour)}}
	if ok, _ := w.holds(e, t0.Add(48*time.Hour)); ok {
		t.Error("a click after the window counted")
	}
	e.First["click"] = t0.Add(2 * time.Hour)
	if ok, _ := w.holds(e, t0.Add(48*time.Hour)); !ok {
		t.Error("a click inside the window did not count")
	}
	ig := &When{Step: "a", Event: Ignored, Within: 24 * time.Hour}
	late := Engagement{Sent: true, SentAt: t0, First: map[string]time.Time{"open": t0.Add(30 * time.Hour)}}
	if ok, _ := ig.holds(late, t0.Add(48*time.Hour)); !ok {
		t.Error("an open after the window should leave the message ignored within it")
	}
}

func TestSendAllIsDeterministicAndSplits(t *testing.T) {
	s := nurture(t)
	counts := map[string]int{}
	for i := 0; i < 2000; i++ {
		k := "k" + strings.Repeat("y", i%7) + string(rune('A'+i%50)) + string(rune('a'+i/50))
		if _, in := abtest.Assign(KindSequence, s.Name, "week1", k, s.Steps[0].AB); in {
			continue
		}
		d1 := s.Advance(State{ContactKey: k, EnrolledAt: t0}, Facts{Now: t0, AB: map[string]ABOutcome{"week1": {SendAll: true}}})
		d2 := s.Advance(State{ContactKey: k, EnrolledAt: t0}, Facts{Now: t0, AB: map[string]ABOutcome{"week1": {SendAll: true}}})
		if d1.Actions[0].Variant != d2.Actions[0].Variant || d1.Actions[0].Variant == "" {
			t.Fatalf("send_all variant for %s: %q then %q", k, d1.Actions[0].Variant, d2.Actions[0].Variant)
		}
		counts[d1.Actions[0].Variant]++
	}
	if counts["urgent"] == 0 || counts["personal"] == 0 {
		t.Errorf("send_all did not split the rest: %v", counts)
	}
}

func TestCompileSequenceErrors(t *testing.T) {
	for _, tc := range []struct {
		steps []plan.SequenceStep
		want  string
	}{
		{[]plan.SequenceStep{{Name: "a", Offset: "x"}}, "sequence s / step a: offset"},
		{[]plan.SequenceStep{{Name: "a", Offset: "-1d"}}, "negative"},
		{[]plan.SequenceStep{{Name: "a", Offset: "2d"}, {Name: "b", Offset: "1d"}}, "order them by offset"},
		{[]plan.SequenceStep{{Name: "a", Offset: "1d", When: &plan.Engagement{Step: "b", Event: "opened"}}}, `when.step "b" is not an earlier step`},
		{[]plan.SequenceStep{{Name: "a", Offset: "1d"}, {Name: "b", Offset: "2d", When: &plan.Engagement{Step: "a", Event: "liked"}}}, `when.event "liked"`},
	} {
		_, err := CompileSequence(&plan.Sequence{Name: "s", Steps: tc.steps})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to contain %q", tc.steps, err, tc.want)
		}
	}
}

// Zoho's single-response autoresponder: started 2010-01-01, follow-ups at +3
// and +10 days land on January 4 and January 11; whoever replies gets no
// further follow-up; a do-not-email record is never mailed.
func TestAutoresponderSingleMode(t *testing.T) {
	a, err := CompileAutoresponder(&plan.Autoresponder{
		Name: "trial_welcome", Mode: "single", MaxFollowUps: 3, ExcludeResponders: true,
		FollowUps: []plan.FollowUp{{Name: "welcome", Offset: "0d", Template: "w"}, {Name: "day_3", Offset: "3d", Template: "d3"}, {Name: "day_10", Offset: "10d", Template: "d10"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2010, 1, 1, 9, 0, 0, 0, time.UTC)
	d := a.Advance(State{ContactKey: "c1", EnrolledAt: start}, Facts{Now: start})
	if kinds(d) != "sent:welcome" || !d.WakeAt.Equal(time.Date(2010, 1, 4, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("day 0: %s, wake %v; want the welcome and a wake-up on January 4", kinds(d), d.WakeAt)
	}
	d = a.Advance(State{ContactKey: "c1", EnrolledAt: start, Next: 1}, Facts{Now: d.WakeAt})
	if kinds(d) != "sent:day_3" || !d.WakeAt.Equal(time.Date(2010, 1, 11, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("January 4: %s, wake %v; want day_3 and a wake-up on January 11", kinds(d), d.WakeAt)
	}
	d = a.Advance(State{ContactKey: "c1", EnrolledAt: start, Next: 2}, Facts{Now: d.WakeAt, Replied: true})
	if kinds(d) != "exited:day_10" || d.Exit != ExitResponded {
		t.Fatalf("a responder on January 11: %s (exit %q); want no day_10, exit responded", kinds(d), d.Exit)
	}
	d = a.Advance(State{ContactKey: "c2", EnrolledAt: start}, Facts{Now: start.Add(11 * 24 * time.Hour), DoNotEmail: true})
	if kinds(d) != "skipped:welcome skipped:day_3 skipped:day_10 exited" {
		t.Fatalf("do not email: %s; want every follow-up skipped", kinds(d))
	}
	// max_follow_ups caps the series; multiple mode is not a series of
	// follow-ups (CompileRecurring reads it), saying so.
	short, _ := CompileAutoresponder(&plan.Autoresponder{Name: "x", Mode: "single", MaxFollowUps: 2,
		FollowUps: []plan.FollowUp{{Name: "a", Offset: "0d"}, {Name: "b", Offset: "1d"}, {Name: "c", Offset: "2d"}}})
	if len(short.Steps) != 2 {
		t.Errorf("max_follow_ups 2 kept %d follow-ups", len(short.Steps))
	}
	if _, err := CompileAutoresponder(&plan.Autoresponder{Name: "m", Mode: "multiple"}); err == nil || !strings.Contains(err.Error(), "CompileRecurring") {
		t.Errorf("multiple mode: %v", err)
	}
}

// Where an enrollment resumes after the plan changed under it.
func TestPositionAfterAPlanChange(t *testing.T) {
	s, err := CompileSequence(&plan.Sequence{Name: "s", Steps: []plan.SequenceStep{
		{Name: "a", Offset: "0d"}, {Name: "new", Offset: "2d"}, {Name: "b", Offset: "7d"}, {Name: "c", Offset: "14d"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	for _, tc := range []struct {
		name  string
		index int
		step  string
		due   time.Duration
		want  int
	}{
		{"unchanged", 2, "b", 7 * day, 2},
		{"a step inserted before it: resumes at the same step, not the new one", 1, "b", 7 * day, 2},
		{"its step removed: the first step at or after its offset", 1, "gone", 10 * day, 3},
		{"its step removed, nothing later: past the end", 3, "gone", 20 * day, 4},
		{"no name kept: the index", 1, "", 0, 1},
	} {
		if got := s.Position(tc.index, tc.step, tc.due); got != tc.want {
			t.Errorf("%s: Position(%d, %q, %v) = %d, want %d", tc.name, tc.index, tc.step, tc.due, got, tc.want)
		}
	}
}

// A contact whose address was suppressed (an unsubscribe, a hard bounce)
// exits at its next due step, saying why, rather than taking steps whose
// messages the claim would cancel; until a step is due it only waits, so a
// suppression lifted before then lets it go on.
func TestSuppressedContactExitsAtItsNextDueStep(t *testing.T) {
	s := nurture(t)
	_, rest := keys(t, s)
	st := State{ContactKey: rest, EnrolledAt: t0, Next: 1}
	d := s.Advance(st, Facts{Now: t0.Add(24 * time.Hour), Suppressed: "unsubscribed"})
	if d.Exit != "" || !d.WakeAt.Equal(t0.Add(7*24*time.Hour)) {
		t.Fatalf("before week 2 is due: exit %q, wake %v; want a wait for day 7", d.Exit, d.WakeAt)
	}
	d = s.Advance(st, Facts{Now: t0.Add(7 * 24 * time.Hour), Suppressed: "hard_bounce"})
	if kinds(d) != "exited:week2_ignored" || d.Exit != ExitUnsubscribed || !strings.Contains(d.Actions[0].Reason, "hard_bounce") {
		t.Fatalf("week 2 due, address suppressed: %s (exit %q, %q); want an exit at week2_ignored naming the reason", kinds(d), d.Exit, d.Actions)
	}
	if d = s.Advance(st, Facts{Now: t0.Add(7 * 24 * time.Hour)}); d.Exit != "" {
		t.Fatalf("not suppressed: exit %q", d.Exit)
	}
}
