package segment_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment"
)

// seedFilter is Odoo's "lost leads reactivation" from the design seed.
const seedFilter = `!lead.blacklisted && lead.created_at >= timestamp("2024-01-01T00:00:01Z") &&
	!(lead.stage in ["New", "Qualified", "Won"]) && lead.lost_reason == "Not enough stock"`

// seedSQL is the hand-written equivalent. Under the package's NULL rule a NULL
// stage reads as "" (so it is not in the list: COALESCE), and a NULL lost_reason
// or created_at reads as a value that fails its comparison, as SQL's NULL does.
const seedSQL = `SELECT id::text FROM crm_lead WHERE NOT blacklisted AND created_at >= '2024-01-01 00:00:01+00'
	AND COALESCE(stage, '') NOT IN ('New', 'Qualified', 'Won') AND lost_reason = 'Not enough stock'`

func seedPlan(extra ...plan.Segment) *plan.Plan {
	p := &plan.Plan{
		Models: []plan.Model{leadModel()},
		Segments: append([]plan.Segment{
			{Name: "lost_leads", Model: "lead", Filter: seedFilter, IncludeArchived: true},
			// What the compiler emits for the same filter without include_archived:
			// the model's default filter (lead.active) conjoined.
			{Name: "lost_active", Model: "lead", Filter: "lead.active && (" + seedFilter + ")"},
			{Name: "vip", Model: "lead", Filter: `"vip" in lead.tags`},
			{Name: "vip_lost", Model: "lead", Filter: `segment.vip && segment.lost_leads`},
			{Name: "not_vip_or_lowered", Model: "lead", Filter: `!segment.vip || lead.name.lowerAscii() == "new"`},
			{Name: "unsupported", Model: "lead", Filter: `lead.tags.exists_one(t, t.startsWith("v")) && !lead.blacklisted`},
			{Name: "uses_unsupported", Model: "lead", Filter: `segment.unsupported || lead.score > 10`},
		}, extra...),
	}
	p.Finalize()
	return p
}

func TestSeedFilterBothPathsAndHandSQL(t *testing.T) {
	db := openLeads(t, 3000, 1)
	ev, err := segment.New(seedPlan())
	if err != nil {
		t.Fatal(err)
	}
	x, err := ev.Explain("lost_leads", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if x.Path != segment.Pushdown || x.Reason != "" {
		t.Fatalf("seed filter takes %s (%s), want pushdown", x.Path, x.Reason)
	}
	if strings.Contains(x.SQL, "Not enough stock") || strings.Contains(x.SQL, "Qualified") {
		t.Errorf("values leaked into the SQL text: %s", x.SQL)
	}

	want := sqlKeys(t, db, seedSQL)
	if len(want) < 10 {
		t.Fatalf("fixture too thin: the hand-written query matches %d rows", len(want))
	}
	push, path := keys(t, ev, db, "lost_leads", 7)
	if path != segment.Pushdown {
		t.Errorf("Each took %s", path)
	}
	inproc, path := keys(t, ev.ForcePath(segment.InProcess), db, "lost_leads", 1000)
	if path != segment.InProcess {
		t.Errorf("forced Each took %s", path)
	}
	for name, got := range map[string][]string{"pushdown": push, "in-process": inproc} {
		if !reflect.DeepEqual(got, want) {
			a, b := diffKeys(got, want)
			t.Errorf("%s: %d keys, hand SQL %d; only %s: %v; only hand SQL: %v", name, len(got), len(want), name, a, b)
		}
	}

	ctx := context.Background()
	for _, e := range []*segment.Evaluator{ev, ev.ForcePath(segment.InProcess)} {
		n, path, err := e.Count(ctx, db, "lost_leads", testNow)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(len(want)) {
			t.Errorf("Count on %s = %d, want %d", path, n, len(want))
		}
	}

	// The default filter narrows the audience to active leads.
	active := sqlKeys(t, db, seedSQL+" AND active")
	got, _ := keys(t, ev, db, "lost_active", 100)
	if !reflect.DeepEqual(got, active) || len(active) >= len(want) {
		t.Errorf("lost_active: %d keys, want %d (of %d lost leads)", len(got), len(active), len(want))
	}
}

func TestSegmentReferencesAndFallbackReasons(t *testing.T) {
	db := openLeads(t, 2000, 2)
	ev, err := segment.New(seedPlan())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		seg       string
		path      segment.Path
		reasonHas string
		handSQL   string
	}{
		{seg: "vip", path: segment.Pushdown, handSQL: `SELECT id::text FROM crm_lead WHERE 'vip' = ANY(tags)`},
		{seg: "vip_lost", path: segment.Pushdown, handSQL: seedSQL + ` AND 'vip' = ANY(tags)`},
		{seg: "not_vip_or_lowered", path: segment.Pushdown,
			handSQL: `SELECT id::text FROM crm_lead WHERE NOT COALESCE('vip' = ANY(tags), false) OR translate(COALESCE(name, ''), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') = 'new'`},
		{seg: "unsupported", path: segment.InProcess, reasonHas: `lead.tags.exists_one(t, t.startsWith("v"))`,
			handSQL: `SELECT id::text FROM crm_lead WHERE NOT blacklisted AND (SELECT count(*) FROM unnest(tags) u WHERE u LIKE 'v%') = 1`},
		{seg: "uses_unsupported", path: segment.InProcess, reasonHas: "segment.unsupported",
			handSQL: `SELECT id::text FROM crm_lead WHERE (NOT blacklisted AND (SELECT count(*) FROM unnest(tags) u WHERE u LIKE 'v%') = 1) OR COALESCE(score, 0) > 10`},
	}
	for _, c := range cases {
		t.Run(c.seg, func(t *testing.T) {
			x, err := ev.Explain(c.seg, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if x.Path != c.path {
				t.Fatalf("path %s (%s), want %s", x.Path, x.Reason, c.path)
			}
			if c.reasonHas != "" && !strings.Contains(x.Reason, c.reasonHas) {
				t.Errorf("reason %q does not name %q", x.Reason, c.reasonHas)
			}
			if c.seg == "unsupported" && x.Where != `(NOT ("blacklisted") OR "blacklisted" IS NULL)` {
				t.Errorf("prefilter %q, want the translatable conjunct", x.Where)
			}
			want := sqlKeys(t, db, c.handSQL)
			if len(want) == 0 {
				t.Fatalf("hand SQL matches nothing; fixture too thin")
			}
			got, path := keys(t, ev, db, c.seg, 50)
			if path != c.path {
				t.Errorf("Each took %s", path)
			}
			if !reflect.DeepEqual(got, want) {
				a, b := diffKeys(got, want)
				t.Errorf("got %d keys, want %d; extra %v; missing %v", len(got), len(want), a, b)
			}
		})
	}
}

func TestSampleAndStops(t *testing.T) {
	db := openLeads(t, 1500, 3)
	ev, err := segment.New(seedPlan())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	all, _ := keys(t, ev, db, "lost_leads", 1000)
	for _, e := range []*segment.Evaluator{ev, ev.ForcePath(segment.InProcess)} {
		rows, path, err := e.Sample(ctx, db, "lost_leads", testNow, 3, []string{"stage", "lost_reason", "created_at", "tags"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 {
			t.Fatalf("%s: %d rows", path, len(rows))
		}
		for i, r := range rows {
			if r["id"] != all[i] {
				t.Errorf("%s: sample %d has id %v, want %s (key order)", path, i, r["id"], all[i])
			}
			if r["lost_reason"] != "Not enough stock" {
				t.Errorf("%s: sample %d lost_reason %v", path, i, r["lost_reason"])
			}
			if _, ok := r["created_at"].(time.Time); !ok {
				t.Errorf("%s: created_at is %T", path, r["created_at"])
			}
			if _, ok := r["name"]; ok {
				t.Errorf("%s: unrequested field present", path)
			}
		}
		full, _, err := e.Sample(ctx, db, "lost_leads", testNow, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(full) != 1 || len(full[0]) != len(leadModel().Fields)+1 {
			t.Errorf("%s: full sample %v", path, full)
		}
		if _, _, err := e.Sample(ctx, db, "lost_leads", testNow, 1, []string{"nope"}); err == nil {
			t.Errorf("%s: unknown field accepted", path)
		}

		// fn's error stops the stream and comes back unchanged.
		stop := errors.New("stop")
		calls := 0
		_, err = e.Each(ctx, db, "lost_leads", testNow, 2, func([]segment.Match) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("%s: Each returned %v after %d calls", path, err, calls)
		}
	}
	if _, _, err := ev.Count(ctx, db, "nope", testNow); err == nil {
		t.Error("unknown segment accepted")
	}
}

func TestNewRefusesBadPlans(t *testing.T) {
	m := leadModel()
	cases := map[string][]plan.Segment{
		"cycle": {
			{Name: "a", Model: "lead", Filter: "segment.b"},
			{Name: "b", Model: "lead", Filter: "segment.a"},
		},
		"self":        {{Name: "a", Model: "lead", Filter: "segment.a || true"}},
		"unknown ref": {{Name: "a", Model: "lead", Filter: "segment.zz"}},
		"type":        {{Name: "a", Model: "lead", Filter: "lead.score"}},
		"no model":    {{Name: "a", Model: "contact", Filter: "true"}},
	}
	for name, segs := range cases {
		p := &plan.Plan{Models: []plan.Model{m}, Segments: segs}
		if _, err := segment.New(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNowIsTruncatedAlike(t *testing.T) {
	db := openLeads(t, 500, 4)
	p := &plan.Plan{Models: []plan.Model{leadModel()}, Segments: []plan.Segment{
		{Name: "recent", Model: "lead", Filter: `lead.created_at > now - duration("720h")`},
	}}
	ev, err := segment.New(p)
	if err != nil {
		t.Fatal(err)
	}
	// A now with nanoseconds: both paths must see the same microsecond.
	now := testNow.Add(999 * time.Nanosecond)
	ctx := context.Background()
	a, pa, err := ev.Count(ctx, db, "recent", now)
	if err != nil {
		t.Fatal(err)
	}
	b, pb, err := ev.ForcePath(segment.InProcess).Count(ctx, db, "recent", now)
	if err != nil {
		t.Fatal(err)
	}
	if pa != segment.Pushdown || pb != segment.InProcess || a != b || a == 0 {
		t.Errorf("pushdown %d (%s), in-process %d (%s)", a, pa, b, pb)
	}
}

// TestConcurrentUse runs every entry point of one Evaluator from several
// goroutines at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	db := openLeads(t, 800, 5)
	ev, err := segment.New(seedPlan())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want, _, err := ev.Count(ctx, db, "vip_lost", testNow)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func(g int) {
			e := ev
			if g%2 == 1 {
				e = ev.ForcePath(segment.InProcess)
			}
			n, path, err := e.Count(ctx, db, "vip_lost", testNow)
			if err == nil && n != want {
				err = fmt.Errorf("goroutine %d: Count on %s = %d, want %d", g, path, n, want)
			}
			if err == nil {
				_, _, err = e.Sample(ctx, db, "not_vip_or_lowered", testNow, 5, nil)
			}
			errs <- err
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestRenderFailureFallsBack: a constant that depends on now and leaves CEL's
// timestamp range at evaluation time sends that evaluation in-process, with the
// reason, and both paths still agree.
func TestRenderFailureFallsBack(t *testing.T) {
	db := openLeads(t, 300, 6)
	p := seedPlan(planSegment("late", `lead.created_at < timestamp("9999-12-31T00:00:00Z") + (now - timestamp("2024-01-01T00:00:00Z"))`))
	ev, err := segment.New(p)
	if err != nil {
		t.Fatal(err)
	}
	x, err := ev.Explain("late", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || x.Path != segment.Pushdown {
		t.Fatalf("at 2024-01-01: %s %v", x.Path, err)
	}
	x, err = ev.Explain("late", testNow)
	if err != nil || x.Path != segment.InProcess || !strings.Contains(x.Reason, "cannot render") {
		t.Fatalf("at %s: %s (%s) %v", testNow, x.Path, x.Reason, err)
	}
	n, path, err := ev.Count(context.Background(), db, "late", testNow)
	if err != nil || path != segment.InProcess || n != 0 {
		t.Errorf("Count = %d on %s (%v); every row fails, so none matches", n, path, err)
	}
}
