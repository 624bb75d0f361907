package segment_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// The engagement benchmarks add CAMPAIGNCTL_BENCH_EVENTS events (default
// 3,000,000) to the benchmark leads: page views on three topics, clicks, opens and
// form submissions spread over the 60 days before testNow, in monthly partitions.
// A quarter of the opens and clicks are flagged properties.machine, as the
// tracking endpoints flag a privacy proxy's prefetch or a link scanner's click
// (docs/sending.md); engagement predicates leave them out.
const defaultBenchEvents = 3_000_000

var benchEv struct {
	once sync.Once
	err  error
}

const benchEventsSQL = `
INSERT INTO campaignctl.events (model, contact_key, type, topic, campaign, step, occurred_at, properties)
SELECT 'lead',
	-- Half the events go to the 2% most active leads, as on a real site.
	(1 + CASE WHEN (h >> 40) % 2 = 0 THEN h % greatest($2::bigint / 50, 1) ELSE h % $2::bigint END)::text,
	(ARRAY['page_view', 'page_view', 'page_view', 'page_view', 'page_view', 'page_view', 'open', 'open',
		'open', 'open', 'form_submit', 'form_submit', 'click', 'purchase'])[1 + (h >> 8) % 14],
	(ARRAY['makeup', 'skincare', 'pricing', ''])[1 + (h >> 12) % 4],
	(ARRAY['restock_nurture', 'newsletter', ''])[1 + (h >> 16) % 3],
	(ARRAY['week1', 'week2', ''])[1 + (h >> 20) % 3],
	$3::timestamptz - ((h >> 24) % 5184000) * interval '1 second',
	-- (h >> 8) % 14 picks the type above: 6 to 9 are opens, 12 the click.
	CASE WHEN (h >> 8) % 14 IN (6, 7, 8, 9, 12) AND (h >> 32) % 4 = 0
		THEN '{"machine": true, "machine_reason": "scanner"}'::jsonb ELSE '{}'::jsonb END
FROM (SELECT (hashint8extended(i::bigint, 7) & 9223372036854775807) AS h FROM generate_series(1, $1::bigint) AS i) s`

// benchEventsDB returns the benchmark leads with their events, creating the events
// on first use.
func benchEventsDB(b *testing.B) *sqlx.DB {
	b.Helper()
	db, n := benchDB(b)
	benchEv.once.Do(func() {
		events := defaultBenchEvents
		if s := os.Getenv("CAMPAIGNCTL_BENCH_EVENTS"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v <= 0 {
				benchEv.err = fmt.Errorf("CAMPAIGNCTL_BENCH_EVENTS=%q: want a positive number", s)
				return
			}
			events = v
		}
		ctx := context.Background()
		start := time.Now()
		st := &store.Store{DB: db}
		if _, err := st.Migrate(ctx); err != nil {
			benchEv.err = err
			return
		}
		if _, err := st.EnsureEventPartitions(ctx, testNow.AddDate(0, -7, 0), testNow); err != nil {
			benchEv.err = err
			return
		}
		if _, err := db.ExecContext(ctx, benchEventsSQL, events, n, testNow); err != nil {
			benchEv.err = fmt.Errorf("generating %d events: %w", events, err)
			return
		}
		if _, err := db.ExecContext(ctx, "VACUUM ANALYZE campaignctl.events"); err != nil {
			benchEv.err = err
			return
		}
		fmt.Fprintf(os.Stderr, "segment benchmarks: generated %d events in %s\n", events, time.Since(start).Round(time.Millisecond))
	})
	if benchEv.err != nil {
		b.Fatal(benchEv.err)
	}
	return db
}

// engagementFilter is the example campaign's makeup_browsers segment.
const engagementFilter = `lead.event_count("page_view", "makeup", days(14)) >= 3 && !lead.clicked(days(30))`

// engagementHandSQL is what a careful engineer would write by hand for it.
const engagementHandSQL = `
SELECT count(*) FROM crm_lead l
WHERE l.id::text IN (
	SELECT contact_key FROM campaignctl.events
	WHERE model = 'lead' AND type = 'page_view' AND topic = 'makeup'
	  AND occurred_at > $1::timestamptz - interval '14 days' AND occurred_at <= $1::timestamptz
	GROUP BY contact_key HAVING count(*) >= 3)
AND NOT EXISTS (
	SELECT 1 FROM campaignctl.events e
	WHERE e.model = 'lead' AND e.type = 'click' AND e.contact_key = l.id::text
	  AND e.occurred_at > $1::timestamptz - interval '30 days' AND e.occurred_at <= $1::timestamptz
	  AND coalesce(e.properties->>'machine', '') <> 'true')`

// BenchmarkPairEngagementVsHandSQL counts the makeup_browsers segment through the
// pushdown and through the hand-written query, alternating, and reports the ratio
// of their times.
func BenchmarkPairEngagementVsHandSQL(b *testing.B) {
	db := benchEventsDB(b)
	p := seedPlan(planSegment("makeup_browsers", engagementFilter))
	ev, err := segment.New(p)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var push, hand time.Duration
	var n int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		got, path, err := ev.Count(ctx, db, "makeup_browsers", testNow)
		t1 := time.Now()
		var want int64
		herr := db.GetContext(ctx, &want, engagementHandSQL, testNow)
		t2 := time.Now()
		if err != nil || herr != nil || got != want || path != segment.Pushdown || want == 0 {
			b.Fatalf("pushdown %d on %s (%v), hand %d (%v)", got, path, err, want, herr)
		}
		n = got
		push += t1.Sub(t0)
		hand += t2.Sub(t1)
	}
	b.ReportMetric(float64(n), "matches")
	b.ReportMetric(float64(push.Milliseconds())/float64(b.N), "pushdown-ms")
	b.ReportMetric(float64(hand.Milliseconds())/float64(b.N), "hand-ms")
	b.ReportMetric(push.Seconds()/hand.Seconds(), "ratio")
}

// BenchmarkCountInactiveFor counts the re-engagement audience (no page view,
// click or form submission for 90 days) on both paths.
func BenchmarkCountInactiveFor(b *testing.B) {
	db := benchEventsDB(b)
	p := &plan.Plan{Models: []plan.Model{leadModel()}, Segments: []plan.Segment{planSegment("dormant", `lead.inactive_for(days(90))`)}}
	ev, err := segment.New(p)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, path := range []segment.Path{segment.Pushdown, segment.InProcess} {
		b.Run(string(path), func(b *testing.B) {
			e := ev.ForcePath(path)
			var n int64
			for i := 0; i < b.N; i++ {
				got, gotPath, err := e.Count(ctx, db, "dormant", testNow)
				if err != nil || gotPath != path {
					b.Fatalf("Count on %s: %v", gotPath, err)
				}
				if i > 0 && got != n {
					b.Fatalf("count changed from %d to %d", n, got)
				}
				n = got
			}
			b.ReportMetric(float64(n), "matches")
		})
	}
}

// BenchmarkCountOpenClick counts segments over opens and clicks alone, on both
// paths: the predicates that leave machine opens and clicks out.
func BenchmarkCountOpenClick(b *testing.B) {
	db := benchEventsDB(b)
	filters := map[string]string{
		"opened":      `lead.opened(days(30))`,
		"clicks":      `lead.event_count("click", days(14)) >= 2`,
		"clickedStep": `lead.clicked("restock_nurture", "week1")`,
	}
	var segs []plan.Segment
	for name, f := range filters {
		segs = append(segs, planSegment(name, f))
	}
	ev, err := segment.New(&plan.Plan{Models: []plan.Model{leadModel()}, Segments: segs})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"opened", "clicks", "clickedStep"} {
		for _, path := range []segment.Path{segment.Pushdown, segment.InProcess} {
			b.Run(name+"/"+string(path), func(b *testing.B) {
				e := ev.ForcePath(path)
				var n int64
				for i := 0; i < b.N; i++ {
					got, gotPath, err := e.Count(ctx, db, name, testNow)
					if err != nil || gotPath != path {
						b.Fatalf("Count on %s: %v", gotPath, err)
					}
					if i > 0 && got != n {
						b.Fatalf("count changed from %d to %d", n, got)
					}
					n = got
				}
				b.ReportMetric(float64(n), "matches")
			})
		}
	}
}
