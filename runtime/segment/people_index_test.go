package segment_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// The segment predicates over people's opens and clicks can read the partial
// index events_open_click_people (migration 021), which holds only the opens
// and clicks no machine made: the segment SQL writes the index's predicate
// with the types as literals so that the planner can prove it (sqlgen's
// peopleOnly), in generic plans too. Here: 2,000 leads and 120,000 events
// over 40 days, half of them page views, a third of the opens and clicks a
// machine's, vacuumed and analyzed, so that the alternative the planner
// weighs is events_model_type_occurred_at and a visit to the heap (for
// properties) per event. Each query is planned on both paths as lib/pq runs
// it (a custom plan) and as a prepared statement would (a generic plan).
//
// Every predicate can use the index (checked with the other index dropped in
// a rolled-back transaction and sequential scans off), and every one is
// planned on it (chosen), in both plans. Each scan of the index must also
// name the type in its index condition: on the key (model, type,
// occurred_at), a condition on model and occurred_at alone bounds nothing
// past model, and the scan reads all the model's human opens and clicks, in
// the window or not. opened counts both types, and written as type IN
// ('click', 'open') it is exactly the index's predicate: Postgres proves the
// predicate with it, then leaves it out of the index condition as implied;
// the planner then preferred the other index and the heap in generic plans,
// and in custom plans the unbounded scan. So the SQL reads opens and clicks
// as a UNION ALL of one branch per type (sqlgen's eventsFrom).
func TestPeopleEngagementReadsTheOpenClickIndex(t *testing.T) {
	db := openLeads(t, 2000, 5)
	ctx := context.Background()
	if _, err := (&store.Store{DB: db}).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// The events' partition (testNow is before the monthly ones).
	storetest.QuietTable(t, db, "campaignctl.events_default")
	db.MustExec(`INSERT INTO campaignctl.events (model, contact_key, type, campaign, step, topic, occurred_at, properties)
		SELECT 'lead', (1 + i % 2000)::text,
			(ARRAY['page_view', 'page_view', 'page_view', 'form_submit', 'open', 'click'])[1 + i % 6],
			(ARRAY['newsletter', 'other'])[1 + i % 2], (ARRAY['week1', 'week2', ''])[1 + i % 3], '',
			$1::timestamptz - (i % 40) * interval '1 day' - (i % 1440) * interval '1 minute',
			CASE WHEN i % 3 = 0 THEN '{"machine": true, "machine_reason": "scanner"}' ELSE '{}' END::jsonb
		FROM generate_series(1, 120000) i`, testNow)
	db.MustExec(`ANALYZE crm_lead`)
	vacuumAllVisible(t, db, "campaignctl.events_default")

	cases := []struct {
		filter string
		chosen bool // planned on the index, not only able to be
	}{
		{`lead.clicked(days(30))`, true},
		{`!lead.clicked(days(30))`, true},
		{`lead.clicked("newsletter", "")`, true},
		{`lead.event_count("click", days(30)) >= 2`, true},
		{`lead.event_count("open", days(14)) == 1`, true},
		{`lead.opened(days(30))`, true},
		{`lead.opened("newsletter", "week1")`, true},
		{`!lead.opened(days(7))`, true},
	}
	var segs []plan.Segment
	for i, c := range cases {
		segs = append(segs, planSegment("s"+strconv.Itoa(i), c.filter))
	}
	ev, err := segment.New(&plan.Plan{Models: []plan.Model{leadModel()}, Segments: segs})
	if err != nil {
		t.Fatal(err)
	}
	// Postgres names the partitions' copies of the index; pg_inherits ties
	// each to events_open_click_people.
	var people []string
	if err := db.Select(&people, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'campaignctl.events_open_click_people'::regclass`); err != nil {
		t.Fatal(err)
	}
	if len(people) == 0 {
		t.Fatal("events_open_click_people has no partition index")
	}
	conn := storetest.PlanConn(t, db)
	// readsPeople says whether the plan reads events_open_click_people, and
	// fails the test if a scan of it does not bound the type.
	readsPeople := func(what, query string, args []any, mode string) (bool, string) {
		t.Helper()
		text, err := storetest.ExplainPrepared(ctx, conn, query, args, mode)
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, query)
		}
		reads := false
		for _, cond := range indexConds(text, people) {
			reads = true
			if !strings.Contains(cond, "(type = ") {
				t.Errorf("%s: a scan of events_open_click_people without the type in its index condition (%s) reads all the model's opens and clicks:\n%s", what, cond, text)
			}
		}
		return reads, text
	}
	// Able to: with the other index gone and sequential scans off, only a
	// predicate Postgres cannot prove keeps the plan off the index.
	ableToReadPeople := func(what, query string, args []any, mode string) (bool, string) {
		t.Helper()
		for _, stmt := range []string{"BEGIN", "DROP INDEX campaignctl.events_model_type_occurred_at", "SET LOCAL enable_seqscan = off"} {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		defer conn.ExecContext(ctx, "ROLLBACK")
		return readsPeople(what, query, args, mode)
	}
	for i, c := range cases {
		for _, e := range []*segment.Evaluator{ev, ev.ForcePath(segment.InProcess)} {
			x, err := e.Explain("s"+strconv.Itoa(i), testNow)
			if err != nil {
				t.Fatal(err)
			}
			for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
				what := fmt.Sprintf("%s on %s, %s", c.filter, x.Path, mode)
				if c.chosen {
					if ok, text := readsPeople(what, x.SQL, x.Args, mode); !ok {
						t.Errorf("%s: the plan does not read events_open_click_people:\n%s", what, text)
					}
				}
				if ok, text := ableToReadPeople(what, x.SQL, x.Args, mode); !ok {
					t.Errorf("%s: the plan cannot use events_open_click_people:\n%s", what, text)
				}
			}
		}
	}
	// The checks can fail: without the machine condition the same query is
	// not within the index's predicate.
	x, err := ev.Explain("s0", testNow)
	if err != nil {
		t.Fatal(err)
	}
	const flag = ` AND coalesce(campaignctl_ev.properties->>'machine', '') <> 'true'`
	if !strings.Contains(x.SQL, flag) {
		t.Fatalf("no machine condition in %s", x.SQL)
	}
	all := strings.Replace(x.SQL, flag, "", 1)
	if ok, text := readsPeople("without the machine condition", all, x.Args, "force_custom_plan"); ok {
		t.Errorf("a query that counts machine clicks reads events_open_click_people:\n%s", text)
	}
	if ok, text := ableToReadPeople("without the machine condition", all, x.Args, "force_custom_plan"); ok {
		t.Errorf("a query that counts machine clicks can use events_open_click_people:\n%s", text)
	}
}

// vacuumAllVisible vacuums and analyzes table until the visibility map holds
// all its pages, as on a table autovacuum has caught up with: the planner
// costs index-only scans by that share. A VACUUM that runs while another
// transaction of the database holds an older snapshot (autovacuum analyzing
// crm_lead, just filled) marks none of the new rows visible to all, and the
// plans are then those of a table with every row to visit in the heap. table
// should be quiet (storetest.QuietTable), or autovacuum may hold it too.
func vacuumAllVisible(t *testing.T, db *sqlx.DB, table string) {
	t.Helper()
	deadline := time.Now().Add(storetest.AnalyzeWait)
	for {
		db.MustExec(`VACUUM ANALYZE ` + table)
		var pages, visible int
		if err := db.QueryRow(`SELECT relpages, relallvisible FROM pg_class WHERE oid = $1::regclass`, table).Scan(&pages, &visible); err != nil {
			t.Fatal(err)
		}
		if visible == pages {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d pages all visible after vacuuming for %s", table, visible, pages, storetest.AnalyzeWait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// indexScan finds the indexes a plan reads.
var indexScan = regexp.MustCompile(`(?:Index|Index Only|Bitmap Index) Scan (?:Backward )?(?:using|on) (\S+)`)

// indexConds returns the index condition of each scan of one of indexes in
// the plan text (EXPLAIN's), "" for a scan without one.
func indexConds(text string, indexes []string) []string {
	var conds []string
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		m := indexScan.FindStringSubmatch(line)
		if m == nil || !slices.Contains(indexes, m[1]) {
			continue
		}
		cond := ""
		for _, next := range lines[i+1:] {
			if strings.Contains(next, "->") {
				break // the next plan node
			}
			if c, ok := strings.CutPrefix(strings.TrimSpace(next), "Index Cond: "); ok {
				cond = c
				break
			}
		}
		conds = append(conds, cond)
	}
	return conds
}
