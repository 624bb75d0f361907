package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// The event retention's fold attributes events to messages with the plan's
// objects and models; they must be the ones the report reads.
func TestReportTargetsMatchObjectModels(t *testing.T) {
	t.Parallel()
	p := reportPlan()
	var fromReport []plan.ObjectModel
	for _, t := range reportTargets(p) {
		fromReport = append(fromReport, plan.ObjectModel{Kind: t.kind, Name: t.name, Model: t.model})
	}
	objects := p.ObjectModels()
	key := func(a, b plan.ObjectModel) int {
		if a.Kind+"/"+a.Name < b.Kind+"/"+b.Name {
			return -1
		}
		return 1
	}
	slices.SortFunc(fromReport, key)
	slices.SortFunc(objects, key)
	if !slices.Equal(fromReport, objects) {
		t.Errorf("report targets %v, plan.ObjectModels %v", fromReport, objects)
	}
}

// Dropping expired event partitions leaves every report figure as it was:
// the scripted population of reportSeed (events in March and April 2026, with
// every edge case), March moved into a partition of its own and April left in
// the default partition, dropped in two steps.
func TestReportUnchangedByEventRetention(t *testing.T) {
	t.Parallel()
	db, url := reportSeed(t)
	ctx := context.Background()
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	report := func() string {
		t.Helper()
		doc, err := readReport(ctx, st, "", reportNow)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.MarshalIndent(doc, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// The engine decides A/B tests on ab-counts, which reads events too.
	abCounts := func() string {
		t.Helper()
		var out []any
		for _, events := range [][]string{{"open", "click"}, {"click"}, {"reply"}} {
			for _, o := range []struct{ kind, name, step string }{{"campaign", "launch", ""}, {"sequence", "nurture", "welcome"}} {
				c, err := st.ABCounts(ctx, o.kind, o.name, o.step, "lead", events)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, c)
			}
		}
		b, _ := json.Marshal(out)
		return string(b)
	}
	before, abBefore := report(), abCounts()
	if _, err := st.EnsureEventPartitions(ctx, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	var total, marchRows int
	db.Get(&total, `SELECT count(*) FROM campaignctl.events`)
	db.Get(&marchRows, `SELECT count(*) FROM campaignctl.events_p202603`)
	if marchRows == 0 || marchRows == total {
		t.Fatalf("March holds %d of %d events; the test needs events on both sides of the first cutoff", marchRows, total)
	}
	objects := reportPlan().ObjectModels()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, step := range []struct {
		cutoff time.Time
		months []string
	}{
		{time.Date(2026, 4, 20, 0, 0, 0, 0, time.UTC), []string{"2026-03"}},
		{time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), []string{"2026-04"}},
	} {
		dropped, err := st.DropExpiredEvents(ctx, step.cutoff, now, objects, nil)
		if err != nil {
			t.Fatal(err)
		}
		var months []string
		for _, d := range dropped {
			months = append(months, d.Month.Format("2006-01"))
		}
		if !slices.Equal(months, step.months) {
			t.Fatalf("cutoff %s dropped %v, want %v", step.cutoff.Format(time.DateOnly), months, step.months)
		}
		if after := report(); after != before {
			t.Fatalf("the report changed after dropping %v:\n%s", months, lineDiff(before, after))
		}
		if after := abCounts(); after != abBefore {
			t.Fatalf("the A/B counts the engine decides on changed after dropping %v:\n%s\nwant %s", months, after, abBefore)
		}
	}
	var left, counted, folded int
	db.Get(&left, `SELECT count(*) FROM campaignctl.events WHERE occurred_at < '2026-06-01'`)
	db.Get(&counted, `SELECT coalesce(sum(events), 0) FROM campaignctl.event_month_counts`)
	db.Get(&folded, `SELECT count(*) FROM campaignctl.message_engagement_folded`)
	if left != 0 || counted != total || folded == 0 {
		t.Fatalf("after the drops: %d events left before June, %d counted in event_month_counts (want %d), %d messages folded", left, counted, total, folded)
	}
	// The fold is what keeps the figures: without it they change.
	db.MustExec(`DELETE FROM campaignctl.message_engagement_folded`)
	if report() == before || abCounts() == abBefore {
		t.Error("the report or the A/B counts are the same without the folded engagement: this test would not notice a fold that does nothing")
	}
}

// status shows the retention, the months the next pass drops (changing
// nothing) and, after a pass, the months dropped.
func TestStatusShowsEventRetention(t *testing.T) {
	t.Parallel()
	_, url := reportSeed(t)
	ctx := context.Background()
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := reportPlan()
	p.Policies = []plan.Policy{{Name: "default", EventRetention: "60d"}, {Name: "keep_long", EventRetention: "120d"}}
	p.Finalize()
	data, err := plan.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.InsertRevision(ctx, store.Revision{PlanHash: p.Hash, Plan: string(data), AppliedAt: reportT0}); err != nil {
		t.Fatal(err)
	}
	// The seeded events are in March and April 2026. At 2026-09-10, 120 days
	// back is 2026-05-13: both months are due.
	at := time.Date(2026, 9, 10, 0, 0, 0, 0, time.UTC)
	cutoff := at.Add(-120 * 24 * time.Hour)
	due := []string{"2026-03", "2026-04"}
	var events int
	st.DB.Get(&events, `SELECT count(*) FROM campaignctl.events`)
	code, stdout, stderr := runSub(runStatus, "--db", url, "--at", at.Format(time.RFC3339))
	want := fmt.Sprintf("event retention 120d (policy keep_long): events before %s are dropped by whole months\n  next pass drops %s: %s\n",
		cutoff.Format(time.DateOnly), plural(len(due), "month"), strings.Join(due, ", "))
	if code != 0 || !strings.Contains(stdout, want) {
		t.Fatalf("exit %d, stderr %q; stdout:\n%s\nwant it to contain:\n%s", code, stderr, stdout, want)
	}
	var after int
	st.DB.Get(&after, `SELECT count(*) FROM campaignctl.events`)
	if after != events {
		t.Fatalf("status changed the events: %d rows, then %d", events, after)
	}
	if _, err := st.DropExpiredEvents(ctx, cutoff, at, p.ObjectModels(), nil); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runSub(runStatus, "--db", url, "--format", "json", "--at", at.Format(time.RFC3339))
	var doc statusDoc
	if err := json.Unmarshal([]byte(stdout), &doc); code != 0 || err != nil {
		t.Fatalf("exit %d, %v", code, err)
	}
	r := doc.EventRetention
	if r == nil || len(r.Due) != 0 || !slices.Equal(r.Dropped, due) || r.DroppedEvents != int64(events) {
		t.Errorf("after the pass: %+v; want nothing due, %v dropped with %d events", r, due, events)
	}
}
