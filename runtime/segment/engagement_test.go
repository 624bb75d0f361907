package segment_test

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// fixtureEvent is one row of the events fixture, kept in Go so the test can
// compute every engagement predicate independently of both evaluation paths.
type fixtureEvent struct {
	model, key, typ, campaign, step, topic string
	at                                     time.Time
	machine                                bool // properties.machine: an open or click a machine made
}

const day = 24 * time.Hour

// eventOffsets put events on both sides of every window boundary the filters use:
// (now - within, now] excludes now - within and includes now; the future is out.
var eventOffsets = []time.Duration{
	-30 * day, -30*day + time.Microsecond, -14 * day, -14*day + time.Microsecond,
	-90 * day, -90*day + time.Microsecond, -36 * time.Hour, -36*time.Hour + time.Microsecond,
	-time.Hour, 0, time.Microsecond, 2 * day, -200 * day, -3 * day, -5 * day, -10 * day,
}

// openLeadsWithEvents is openLeads plus the runner's schema and a seeded events
// table: real contacts' events, and decoys that must never count (another model,
// a key that differs only by a leading zero or a space, a type differing in case
// is impossible by the table's CHECK, an open or click a machine made).
func openLeadsWithEvents(t testing.TB, n int, seed int64) (*sqlx.DB, []fixtureEvent) {
	t.Helper()
	db := openLeads(t, n, seed)
	ctx := context.Background()
	st := &store.Store{DB: db}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(seed))
	types := []string{"page_view", "page_view", "click", "open", "form_submit", "purchase"}
	topics := []string{"makeup", "makeup", "skincare", "", "Makeup"}
	campaigns := []string{"restock_nurture", "other", ""}
	steps := []string{"week1", "week2", ""}
	// Its own source, so the fixture is otherwise the one it was before machine
	// events.
	machines := rand.New(rand.NewSource(seed + 2))
	var evs []fixtureEvent
	for i := 1; i <= n; i++ {
		if r.Intn(10) < 3 {
			continue // no events at all: inactive, zero counts
		}
		for j := r.Intn(9); j > 0; j-- {
			e := fixtureEvent{
				model: "lead", key: strconv.Itoa(i), typ: pick(r, types), topic: pick(r, topics),
				campaign: pick(r, campaigns), step: pick(r, steps), at: testNow.Add(pick(r, eventOffsets)),
			}
			if e.typ == "click" || e.typ == "open" {
				e.machine = machines.Intn(3) == 0
			}
			switch r.Intn(12) {
			case 0:
				e.model = "customer"
			case 1:
				e.key = "0" + e.key
			case 2:
				e.key = e.key + " "
			}
			evs = append(evs, e)
		}
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		props := `{}`
		if e.machine {
			props = `{"machine": true}`
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaignctl.events (model, contact_key, type, campaign, step, topic, occurred_at, properties) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
			e.model, e.key, e.typ, e.campaign, e.step, e.topic, e.at, props); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "ANALYZE campaignctl.events"); err != nil {
		t.Fatal(err)
	}
	return db, evs
}

// goCount counts the fixture events of lead key that match. A machine's opens
// and clicks never count.
func goCount(evs []fixtureEvent, key string, within time.Duration, match func(e fixtureEvent) bool) int {
	n := 0
	for _, e := range evs {
		if e.model != "lead" || e.key != key || e.at.After(testNow) || e.machine {
			continue
		}
		if within > 0 && !e.at.After(testNow.Add(-within)) {
			continue
		}
		if match(e) {
			n++
		}
	}
	return n
}

func ofType(ts ...string) func(fixtureEvent) bool {
	return func(e fixtureEvent) bool {
		for _, t := range ts {
			if e.typ == t {
				return true
			}
		}
		return false
	}
}

// TestEngagementPredicatesMatchGoAndBothPaths checks every engagement predicate
// form against an answer computed in Go from the fixture events, on the pushdown
// and the in-process path, and that mixed filters agree on both paths.
func TestEngagementPredicatesMatchGoAndBothPaths(t *testing.T) {
	const n = 400
	db, evs := openLeadsWithEvents(t, n, 7)
	type tc struct {
		filter   string
		want     func(key string) bool // nil: only the two paths are compared
		pushdown bool
	}
	cases := []tc{
		{`lead.clicked(days(30))`, func(k string) bool { return goCount(evs, k, 30*day, ofType("click")) > 0 }, true},
		{`lead.opened(days(30))`, func(k string) bool { return goCount(evs, k, 30*day, ofType("click", "open")) > 0 }, true},
		{`lead.opened("restock_nurture", "week1")`, func(k string) bool {
			return goCount(evs, k, 0, func(e fixtureEvent) bool {
				return (e.typ == "open" || e.typ == "click") && e.campaign == "restock_nurture" && e.step == "week1"
			}) > 0
		}, true},
		{`lead.clicked("restock_nurture", "")`, func(k string) bool {
			return goCount(evs, k, 0, func(e fixtureEvent) bool { return e.typ == "click" && e.campaign == "restock_nurture" }) > 0
		}, true},
		{`lead.event_count("page_view", "makeup", days(14)) >= 3`, func(k string) bool {
			return goCount(evs, k, 14*day, func(e fixtureEvent) bool { return e.typ == "page_view" && e.topic == "makeup" }) >= 3
		}, true},
		{`2 <= lead.event_count("page_view", "makeup", days(14))`, func(k string) bool {
			return goCount(evs, k, 14*day, func(e fixtureEvent) bool { return e.typ == "page_view" && e.topic == "makeup" }) >= 2
		}, true},
		{`lead.event_count("page_view", days(14)) < 2`, func(k string) bool { return goCount(evs, k, 14*day, ofType("page_view")) < 2 }, true},
		{`lead.event_count("page_view", days(14)) == 0`, func(k string) bool { return goCount(evs, k, 14*day, ofType("page_view")) == 0 }, true},
		{`lead.event_count("page_view", days(14)) == 2`, func(k string) bool { return goCount(evs, k, 14*day, ofType("page_view")) == 2 }, true},
		{`lead.event_count("form_submit", days(90)) != 1`, func(k string) bool { return goCount(evs, k, 90*day, ofType("form_submit")) != 1 }, true},
		{`lead.event_count("purchase", duration("36h")) > 0`, func(k string) bool { return goCount(evs, k, 36*time.Hour, ofType("purchase")) > 0 }, true},
		{`lead.event_count("page_view", days(14)) <= -1`, func(k string) bool { return false }, true},
		{`lead.event_count("page_view", days(14)) > 9223372036854775807`, func(k string) bool { return false }, true},
		{`lead.inactive_for(days(90))`, func(k string) bool {
			return goCount(evs, k, 90*day, ofType("page_view", "click", "form_submit")) == 0
		}, true},
		{`!lead.inactive_for(duration("36h"))`, func(k string) bool {
			return goCount(evs, k, 36*time.Hour, ofType("page_view", "click", "form_submit")) > 0
		}, true},
		{`lead.event_count("page_view", days(14)) + lead.event_count("click", days(14)) > 3`, func(k string) bool {
			return goCount(evs, k, 14*day, ofType("page_view"))+goCount(evs, k, 14*day, ofType("click")) > 3
		}, true},
		{`lead.event_count("page_view", days(14)) + lead.event_count("click", days(14)) + lead.event_count("form_submit", days(90)) >= 3`, func(k string) bool {
			return goCount(evs, k, 14*day, ofType("page_view"))+goCount(evs, k, 14*day, ofType("click"))+goCount(evs, k, 90*day, ofType("form_submit")) >= 3
		}, true},
		{`lead.stage == "Lost" && !lead.clicked(days(30))`, nil, true},
		{`lead.clicked(days(30)) == lead.blacklisted`, nil, true},
		{`(lead.clicked(days(30)) ? lead.score : lead.priority) > 2`, nil, true},
		{`lead.event_count("page_view", days(14)) > lead.priority`, nil, true},
		{`lead.name.trim() == "new" || lead.event_count("page_view", days(14)) > lead.priority`, nil, false},
		{`lead.tags.exists(t, t == "vip" && lead.clicked(days(30))) || lead.tags.all(t, t != "" || lead.opened(days(14))) || lead.name.trim() == "new"`, nil, false},
		{`lead.tags.exists(t, t == "vip" && lead.clicked(days(30)))`, nil, true},
		{`lead.opened(days(30)) && lead.name.lowerAscii().trim() == "new"`, nil, false},
	}
	var segs []plan.Segment
	for i, c := range cases {
		segs = append(segs, planSegment(fmt.Sprintf("e%02d", i), c.filter))
	}
	// A reference to a segment with events carries its calls into the in-process
	// scan of the referring segment.
	segs = append(segs, planSegment("ref", `segment.e00 || lead.name.trim() == "new"`))
	p := &plan.Plan{Models: []plan.Model{leadModel()}, Segments: segs}
	ev, err := segment.New(p)
	if err != nil {
		t.Fatal(err)
	}
	inproc := ev.ForcePath(segment.InProcess)
	allKeys := make([]string, n)
	for i := range allKeys {
		allKeys[i] = strconv.Itoa(i + 1)
	}
	for i, c := range cases {
		name := fmt.Sprintf("e%02d", i)
		x, err := ev.Explain(name, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if (x.Path == segment.Pushdown) != c.pushdown {
			t.Errorf("%s: path %s (%s), want pushdown=%v", c.filter, x.Path, x.Reason, c.pushdown)
		}
		got, _ := keys(t, ev, db, name, 50)
		ref, _ := keys(t, inproc, db, name, 50)
		if a, b := diffKeys(got, ref); len(a)+len(b) > 0 {
			t.Errorf("%s: %s path and in-process disagree: only %s %v, only in-process %v\nSQL: %s", c.filter, x.Path, x.Path, head(a, 10), head(b, 10), x.SQL)
		}
		cnt, _, err := ev.Count(context.Background(), db, name, testNow)
		if err != nil || cnt != int64(len(got)) {
			t.Errorf("%s: Count = %d (%v), Each found %d", c.filter, cnt, err, len(got))
		}
		if c.want == nil {
			// Two paths agreeing on nothing, or on everyone, prove nothing.
			if len(got) == 0 || len(got) == n {
				t.Errorf("%s: %d of %d leads match; the case proves nothing", c.filter, len(got), n)
			}
			continue
		}
		var want []string
		for _, k := range allKeys {
			if c.want(k) {
				want = append(want, k)
			}
		}
		if a, b := diffKeys(got, want); len(a)+len(b) > 0 {
			t.Errorf("%s: only campaignctl %v, only Go %v", c.filter, head(a, 10), head(b, 10))
		}
		if len(want) == 0 && !strings.Contains(c.filter, "-1") && !strings.Contains(c.filter, "9223372036854775807") {
			t.Errorf("%s: the fixture gives no match; the case proves nothing", c.filter)
		}
		if len(want) == n {
			t.Errorf("%s: the fixture matches every lead; the case proves nothing", c.filter)
		}
	}
	got, path := keys(t, ev, db, "ref", 50)
	ref, _ := keys(t, inproc, db, "ref", 50)
	if a, b := diffKeys(got, ref); len(a)+len(b) > 0 || path != segment.InProcess {
		t.Errorf("ref: %s path; only auto %v, only in-process %v", path, head(a, 10), head(b, 10))
	}
	// ref reaches the events only through segment.e00: it must select at least
	// e00's leads, or the referenced call was not computed for its scan.
	e00, _ := keys(t, ev, db, "e00", 50)
	if missing, _ := diffKeys(e00, got); len(e00) == 0 || len(missing) > 0 {
		t.Errorf("ref misses %d of the %d leads of segment.e00: %v", len(missing), len(e00), head(missing, 10))
	}
}

// TestEngagementSQLIsParameterized shows that the strings of an engagement call
// travel as parameters only.
func TestEngagementSQLIsParameterized(t *testing.T) {
	hostile := `x'; DROP TABLE crm_lead; --`
	ev, x := explainOne(t, fmt.Sprintf(`lead.opened(%q, %q) || lead.event_count("page_view", %q, days(3)) > 1`, hostile, hostile, hostile))
	if x.Path != segment.Pushdown || strings.Contains(x.SQL, "DROP") {
		t.Fatalf("path %s, SQL carries the value: %s", x.Path, x.SQL)
	}
	bound := func(args []any) int {
		n := 0
		for _, a := range args {
			if a == hostile {
				n++
			}
		}
		return n
	}
	if found := bound(x.Args); found < 3 {
		t.Errorf("the hostile string is bound %d times, want the campaign, the step and the topic: %v", found, x.Args)
	}
	ix, err := ev.ForcePath(segment.InProcess).Explain("s", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ix.SQL, "DROP") {
		t.Fatalf("in-process SQL carries the value: %s", ix.SQL)
	}
	if found := bound(ix.Args); found < 3 {
		t.Errorf("in-process: the hostile string is bound %d times, want the campaign, the step and the topic: %v", found, ix.Args)
	}
	db, _ := openLeadsWithEvents(t, 20, 1)
	for _, e := range []*segment.Evaluator{ev, ev.ForcePath(segment.InProcess)} {
		if _, _, err := e.Count(context.Background(), db, "s", testNow); err != nil {
			t.Fatal(err)
		}
	}
	var tables int
	if err := db.Get(&tables, `SELECT count(*) FROM pg_tables WHERE tablename = 'crm_lead'`); err != nil || tables != 1 {
		t.Fatalf("crm_lead is gone (%d, %v)", tables, err)
	}
}

// explainOne builds an evaluator for one segment "s" of the lead model with
// filter and explains it at testNow.
func explainOne(t *testing.T, filter string) (*segment.Evaluator, segment.Explanation) {
	t.Helper()
	ev, err := segment.New(&plan.Plan{Models: []plan.Model{leadModel()}, Segments: []plan.Segment{planSegment("s", filter)}})
	if err != nil {
		t.Fatal(err)
	}
	x, err := ev.Explain("s", testNow)
	if err != nil {
		t.Fatal(err)
	}
	return ev, x
}

// TestSummedCountsAreCountedOnce: each integer addition is guarded against
// overflow, and a guard used to write its operand twice, so a sum of n event
// counts read the events table 2^n - 1 times per contact (15 for a lead score
// of three counts: 2.7 s per enrollment pass on the seed's 5,000 leads). Each
// count is now in the SQL once, however deep the sum.
func TestSummedCountsAreCountedOnce(t *testing.T) {
	types := []string{"page_view", "click", "form_submit", "open", "purchase", "page_view", "click", "open"}
	src := `lead.event_count("page_view", days(14))`
	for i, typ := range types[1:] {
		src = fmt.Sprintf(`(%s + lead.event_count(%q, days(%d)))`, src, typ, 10+i)
	}
	_, x := explainOne(t, src+" >= 3")
	if x.Path != segment.Pushdown {
		t.Fatalf("path %s (%s), want pushdown", x.Path, x.Reason)
	}
	if n := strings.Count(x.SQL, "count(*)"); n != len(types) {
		t.Errorf("%d counts in the SQL of a sum of %d, want %d:\n%.2000s", n, len(types), len(types), x.SQL)
	}
}

// TestEngagementArgumentsMustBeLiterals: a plan that did not come through the
// compiler still cannot smuggle a row value into an engagement call.
func TestEngagementArgumentsMustBeLiterals(t *testing.T) {
	for _, f := range []string{
		`lead.event_count("page_view", lead.stage, days(3)) > 0`,
		`lead.clicked(days(lead.priority))`,
		`lead.opened(duration("-5m"))`,
	} {
		p := &plan.Plan{Models: []plan.Model{leadModel()}, Segments: []plan.Segment{planSegment("s", f)}}
		if _, err := segment.New(p); err == nil || !strings.Contains(err.Error(), `segment "s"`) {
			t.Errorf("%s: New = %v, want an error naming the segment", f, err)
		}
	}
}

// TestEngagementWithoutEventsTableSaysToMigrate: a database the runner never
// migrated gives an error that says what to run, on both paths.
func TestEngagementWithoutEventsTableSaysToMigrate(t *testing.T) {
	db := openLeads(t, 10, 3)
	p := &plan.Plan{Models: []plan.Model{leadModel()}, Segments: []plan.Segment{planSegment("s", `lead.clicked(days(30))`)}}
	ev, err := segment.New(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*segment.Evaluator{ev, ev.ForcePath(segment.InProcess)} {
		_, path, err := e.Count(context.Background(), db, "s", testNow)
		if err == nil || !strings.Contains(err.Error(), "campaignctl migrate") {
			t.Errorf("%s: Count error = %v, want one that says to run campaignctl migrate", path, err)
		}
	}
}
