package engine_test

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// The leader, and only the leader, drops the event months entirely older than
// the plan's retention; a second pass does nothing; the clock moving on drops
// the next months.
func TestLeaderDropsExpiredEventPartitions(t *testing.T) {
	t.Parallel()
	b := setup(t, 4)
	p := testPlan("Hello")
	p.Policies = []plan.Policy{{Name: "default", EventRetention: "400d"}, {Name: "short", EventRetention: "60d"}}
	p.Finalize()
	b.apply(t, p)
	first, last := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if _, err := b.st.EnsureEventPartitions(b.ctx, first, last); err != nil {
		t.Fatal(err)
	}
	var evs []store.Event
	for m := first; !m.After(last); m = m.AddDate(0, 1, 0) {
		evs = append(evs, store.Event{OccurredAt: m.Add(time.Hour), Model: "c", ContactKey: "1", Type: "page_view"},
			store.Event{OccurredAt: m.Add(49 * time.Hour), Model: "c", ContactKey: "2", Type: "click", Campaign: "x"})
	}
	if _, err := b.st.InsertEvents(b.ctx, evs); err != nil {
		t.Fatal(err)
	}
	months := func() []string {
		t.Helper()
		var out []string
		if err := b.st.DB.Select(&out, `SELECT to_char(date_trunc('month', occurred_at AT TIME ZONE 'UTC'), 'YYYY-MM') FROM campaignctl.events GROUP BY 1 ORDER BY 1`); err != nil {
			t.Fatal(err)
		}
		return out
	}
	all := months()
	dropped := func() float64 { return testutil.ToFloat64(b.eng.Metrics.EventPartitionsDropped) }

	// Another replica holds the leadership: this one drops nothing.
	held, release, err := b.st.TryLeader(b.ctx)
	if err != nil || !held {
		t.Fatalf("TryLeader = %v, %v", held, err)
	}
	if err := b.eng.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := months(); !slices.Equal(got, all) || dropped() != 0 {
		t.Fatalf("a replica that is not the leader dropped events: months %v → %v, metric %v", all, got, dropped())
	}
	release()

	// t0 is 2026-12-01 09:00; the longest retention, 400 days, puts the
	// cutoff on 2025-10-27: every month up to 2025-09 goes.
	if err := b.eng.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	got := months()
	if got[0] != "2025-10" || len(got) != len(all)-21 {
		t.Fatalf("after the leader's pass the events span %v, want 2025-10 to 2026-12", got)
	}
	if dropped() != 21 || testutil.ToFloat64(b.eng.Metrics.EventsDropped) != 42 {
		t.Errorf("metrics: %v partitions, %v events dropped; want 21 and 42", dropped(), testutil.ToFloat64(b.eng.Metrics.EventsDropped))
	}
	var counted int
	if err := b.st.DB.Get(&counted, `SELECT sum(events) FROM campaignctl.event_month_counts`); err != nil || counted != 42 {
		t.Errorf("event_month_counts holds %d events (%v), want 42", counted, err)
	}
	// Again: nothing to do.
	if err := b.eng.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if again := months(); !slices.Equal(again, got) || dropped() != 21 {
		t.Errorf("a second pass changed something: %v, metric %v", again, dropped())
	}
	// 40 days on, the cutoff is 2025-12-06: 2025-10 and 2025-11 go.
	b.clock.Advance(40 * 24 * time.Hour)
	if err := b.eng.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if later := months(); later[0] != "2025-12" || dropped() != 23 {
		t.Errorf("40 days later the events start at %s, metric %v; want 2025-12 and 23", later[0], dropped())
	}
}

// A plan without event_retention keeps every event.
func TestNoRetentionKeepsEvents(t *testing.T) {
	t.Parallel()
	b := setup(t, 4)
	b.apply(t, testPlan("Hello"))
	old := time.Date(2020, 1, 15, 0, 0, 0, 0, time.UTC)
	if _, err := b.st.InsertEvents(b.ctx, []store.Event{{OccurredAt: old, Model: "c", ContactKey: "1", Type: "page_view"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.EnsureEventPartitions(b.ctx, old, old); err != nil {
		t.Fatal(err)
	}
	if err := b.eng.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.st.DB.Get(&n, `SELECT count(*) FROM campaignctl.events WHERE occurred_at = $1`, old); err != nil || n != 1 {
		t.Errorf("the 2020 event: %d rows (%v), want it kept", n, err)
	}
}
