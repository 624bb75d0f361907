package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store"
)

// eventCounts reads what event_month_counts should hold for the rows
// currently in campaignctl.events before cutoff: the oracle, by plain GROUP BY.
func eventCounts(t *testing.T, st *store.Store, where string, args ...any) map[string]int64 {
	t.Helper()
	var rows []struct {
		Key    string `db:"key"`
		Events int64  `db:"events"`
	}
	if err := st.DB.Select(&rows, `SELECT to_char(date_trunc('month', occurred_at AT TIME ZONE 'UTC'), 'YYYY-MM') || '/' || model || '/' || type || '/' || campaign || '/' || step AS key, count(*) AS events
		FROM campaignctl.events WHERE `+where+` GROUP BY 1`, args...); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Key] = r.Events
	}
	return out
}

func storedCounts(t *testing.T, st *store.Store) map[string]int64 {
	t.Helper()
	var rows []struct {
		Key    string `db:"key"`
		Events int64  `db:"events"`
	}
	if err := st.DB.Select(&rows, `SELECT to_char(month, 'YYYY-MM') || '/' || model || '/' || type || '/' || campaign || '/' || step AS key, events
		FROM campaignctl.event_month_counts`); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Key] = r.Events
	}
	return out
}

// retentionEvents stores events in every month from 2024-01 to 2025-06 (with
// their partitions), a few per (type, campaign, step), and rows of 2023-05 and
// 2023-07 that sit in the default partition (no partition for them).
func retentionEvents(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	if _, err := st.EnsureEventPartitions(ctx, at("2024-01-01T00:00:00Z"), at("2025-06-30T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	var evs []store.Event
	for m := at("2023-05-01T00:00:00Z"); m.Before(at("2025-07-01T00:00:00Z")); m = m.AddDate(0, 1, 0) {
		if m.Equal(at("2023-06-01T00:00:00Z")) || (m.Before(at("2024-01-01T00:00:00Z")) && !m.Equal(at("2023-05-01T00:00:00Z")) && !m.Equal(at("2023-07-01T00:00:00Z"))) {
			continue
		}
		for i := range 1 + m.Month()%4 {
			typ := []string{"open", "click", "page_view"}[int(i)%3]
			evs = append(evs,
				store.Event{OccurredAt: m.Add(time.Duration(i)*37*time.Hour + time.Hour), Model: "lead", ContactKey: fmt.Sprint(i), Type: typ, Campaign: "launch", Step: ""},
				store.Event{OccurredAt: m.AddDate(0, 1, 0).Add(-time.Microsecond), Model: "customer", ContactKey: "c1", Type: "reply", Campaign: "nurture", Step: "week1"},
				store.Event{OccurredAt: m, Model: "lead", ContactKey: "9", Type: "page_view", Topic: "makeup"},
			)
		}
	}
	if _, err := st.InsertEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if n := count(t, st, `SELECT count(*) FROM campaignctl.events_default`); n == 0 {
		t.Fatal("the fixture meant to leave rows in the default partition")
	}
}

func monthsOf(ds []store.DroppedPartition) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Month.Format("2006-01"))
	}
	return out
}

func TestDropExpiredEvents(t *testing.T) {
	st := migrated(t)
	ctx := context.Background()
	retentionEvents(t, st)
	// A cutoff in the middle of 2024-04: 2024-04 is not entirely before it.
	cutoff := at("2024-04-17T12:00:00Z")
	now := at("2025-05-20T00:00:00Z")
	want := []string{"2023-05", "2023-07", "2024-01", "2024-02", "2024-03"}

	dry, err := st.ExpiredEventMonths(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if got := monthsOf(dry); !slices.Equal(got, want) {
		t.Fatalf("dry run lists %v, want %v", got, want)
	}
	if !dry[0].InDefault || dry[2].InDefault {
		t.Errorf("dry run: 2023-05 in default = %v, 2024-01 in default = %v; want true, false", dry[0].InDefault, dry[2].InDefault)
	}
	expired := eventCounts(t, st, `occurred_at < $1`, at("2024-04-01T00:00:00Z"))
	keptBefore := count(t, st, `SELECT count(*) FROM campaignctl.events WHERE occurred_at >= $1`, at("2024-04-01T00:00:00Z"))
	var expiredRows int64
	for _, n := range expired {
		expiredRows += n
	}
	partsBefore := partitions(t, st)

	var called []string
	got, err := st.DropExpiredEvents(ctx, cutoff, now, nil, func(d store.DroppedPartition) { called = append(called, d.Partition) })
	if err != nil {
		t.Fatal(err)
	}
	if m := monthsOf(got); !slices.Equal(m, want) {
		t.Fatalf("dropped %v, want %v", m, want)
	}
	if len(called) != len(want) {
		t.Errorf("callback called for %v, want once per month", called)
	}
	var sum int64
	for _, d := range got {
		sum += d.Events
	}
	if sum != expiredRows {
		t.Errorf("dropped partitions report %d events, the rows before the drop were %d", sum, expiredRows)
	}
	// The old months are gone, whole; the others are intact.
	if n := count(t, st, `SELECT count(*) FROM campaignctl.events WHERE occurred_at < $1`, at("2024-04-01T00:00:00Z")); n != 0 {
		t.Errorf("%d events before 2024-04 remain", n)
	}
	if n := count(t, st, `SELECT count(*) FROM campaignctl.events WHERE occurred_at >= $1`, at("2024-04-01T00:00:00Z")); n != keptBefore {
		t.Errorf("%d events from 2024-04 on remain, want %d", n, keptBefore)
	}
	var wantParts []string
	for _, p := range partsBefore {
		if p != "events_p202401" && p != "events_p202402" && p != "events_p202403" {
			wantParts = append(wantParts, p)
		}
	}
	if got := partitions(t, st); !slices.Equal(got, wantParts) {
		t.Errorf("partitions after the drop = %v, want %v", got, wantParts)
	}
	if n := count(t, st, `SELECT count(*) FROM pg_tables WHERE schemaname = 'campaignctl' AND tablename IN ('events_p202305', 'events_p202307', 'events_p202401')`); n != 0 {
		t.Errorf("%d dropped partition tables still exist (detached but not dropped?)", n)
	}
	// The aggregates hold exactly what the rows counted.
	if stored := storedCounts(t, st); !mapsEqual(stored, expired) {
		t.Errorf("event_month_counts = %v\nwant (GROUP BY of the rows before the drop) %v", stored, expired)
	}
	recorded, err := st.DroppedEventPartitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m := monthsOf(recorded); !slices.Equal(m, want) {
		t.Errorf("event_partitions_dropped lists %v, want %v", m, want)
	}

	// A second pass finds nothing to do and changes nothing.
	again, err := st.DropExpiredEvents(ctx, cutoff, now, nil, nil)
	if err != nil || len(again) != 0 {
		t.Fatalf("second pass dropped %v, %v; want nothing", monthsOf(again), err)
	}
	if stored := storedCounts(t, st); !mapsEqual(stored, expired) {
		t.Errorf("a second pass changed event_month_counts")
	}
	// Events still go in, old months included (into the default partition).
	if _, err := st.InsertEvents(ctx, []store.Event{ev("2024-05-02T00:00:00Z", "later"), ev("2024-02-02T00:00:00Z", "late-import")}); err != nil {
		t.Fatal(err)
	}
	// ...and a late old event is dropped by the next pass, adding to its month.
	late, err := st.DropExpiredEvents(ctx, cutoff, now, nil, nil)
	if err != nil || !slices.Equal(monthsOf(late), []string{"2024-02"}) || late[0].Events != 1 {
		t.Fatalf("pass after a late import dropped %+v, %v; want 2024-02 with 1 event", late, err)
	}
	if n := count(t, st, `SELECT events FROM campaignctl.event_month_counts WHERE month = '2024-02-01' AND type = 'page_view' AND campaign = '' AND model = 'lead'`); int64(n) != expired["2024-02/lead/page_view//"]+1 {
		t.Errorf("2024-02 page views = %d, want %d", n, expired["2024-02/lead/page_view//"]+1)
	}
}

// Several replicas' passes and partition creation at once: no row is counted
// twice or lost, and nothing fails.
func TestDropExpiredEventsConcurrently(t *testing.T) {
	st := migrated(t)
	ctx := context.Background()
	retentionEvents(t, st)
	cutoff := at("2025-01-01T00:00:00Z")
	expired := eventCounts(t, st, `occurred_at < $1`, cutoff)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	dropped := make(chan []store.DroppedPartition, 4)
	for range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			d, err := st.DropExpiredEvents(ctx, cutoff, cutoff, nil, nil)
			errs <- err
			dropped <- d
		}()
		go func() {
			defer wg.Done()
			_, err := st.EnsureEventPartitions(ctx, at("2023-01-01T00:00:00Z"), at("2023-12-01T00:00:00Z"))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	close(dropped)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// A month may be dropped twice (EnsureEventPartitions made its partition
	// again, empty, after a pass dropped it), but no row is counted twice.
	var sum int64
	for ds := range dropped {
		for _, d := range ds {
			sum += d.Events
		}
	}
	// EnsureEventPartitions may have made 2023's partitions (empty, or with
	// the default's rows) after the passes: one more pass takes them.
	last, err := st.DropExpiredEvents(ctx, cutoff, cutoff, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range last {
		sum += d.Events
	}
	var want int64
	for _, n := range expired {
		want += n
	}
	if sum != want {
		t.Errorf("the passes report %d events dropped, the expired rows were %d", sum, want)
	}
	if n := count(t, st, `SELECT count(*) FROM campaignctl.events WHERE occurred_at < $1`, cutoff); n != 0 {
		t.Errorf("%d expired events remain", n)
	}
	if stored := storedCounts(t, st); !mapsEqual(stored, expired) {
		t.Errorf("event_month_counts = %v\nwant %v", stored, expired)
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
