package segment_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/internal/racetest"
	"github.com/campaignctl/campaignctl/runtime/segment"
)

// diffCorpusSize is the number of generated filters; CAMPAIGNCTL_DIFF_N overrides,
// and CAMPAIGNCTL_DIFF_SEED picks another corpus and table (the default is fixed).
//
// Under the race detector the test runs the corpus's first tenth (60
// filters). The test is sequential but for the scan's decoder goroutine, which
// every filter runs the same way, so the race detector learns nothing more
// from the other 540 and would spend minutes of CPU on them; make test runs
// the full corpus without it (scripts/test.sh, plain_also).
const diffCorpusSize = 600

// corpusSeed fixes the corpus; change it only together with a look at the figures.
const corpusSeed = 20240101

// TestDifferentialPushdownVsInProcess runs a seeded corpus of random well-typed
// filters over the edge-case table and requires the pushdown path and the
// in-process path to select exactly the same keys for every filter that pushes
// down; for filters that do not, the prefiltered in-process path must agree with
// the plain one.
func TestDifferentialPushdownVsInProcess(t *testing.T) {
	n := racetest.Tenth(diffCorpusSize)
	if s := os.Getenv("CAMPAIGNCTL_DIFF_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("CAMPAIGNCTL_DIFF_N=%q: %v", s, err)
		}
		n = v
	}
	seed := int64(corpusSeed)
	if s := os.Getenv("CAMPAIGNCTL_DIFF_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("CAMPAIGNCTL_DIFF_SEED=%q: %v", s, err)
		}
		seed = v
	}
	db, _ := openLeadsWithEvents(t, 3000, seed)
	filters := corpus(seed, n)
	var segs []plan.Segment
	for i, f := range filters {
		segs = append(segs, plan.Segment{Name: fmt.Sprintf("g%04d", i), Model: "lead", Filter: f, IncludeArchived: true})
	}
	ev, err := segment.New(seedPlan(segs...))
	if err != nil {
		t.Fatal(err)
	}
	// The pushdown drops the NULL guards of the fixture's NOT NULL columns (kind,
	// blacklisted, priority); the in-process path is the reference either way.
	if ev, err = ev.WithCatalog(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	pushed, prefiltered, failures := 0, 0, 0
	reasons := map[string]int{}
	for i, f := range filters {
		name := fmt.Sprintf("g%04d", i)
		x, err := ev.Explain(name, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if x.Path != segment.Pushdown {
			reasons[shortReason(x.Reason)]++
			if x.Where != "" {
				// The in-process path with a prefilter must agree with the
				// plain in-process path too.
				prefiltered++
				if !comparePaths(t, ev, db, name, f, x) {
					failures++
				}
			}
			continue
		}
		pushed++
		if !comparePaths(t, ev, db, name, f, x) {
			failures++
			if failures > 10 {
				t.Fatal("too many differences; stopping")
			}
		}
	}
	t.Logf("%d filters, %d pushed down (%.0f%%), %d in process with a prefilter; fallback reasons: %v",
		n, pushed, 100*float64(pushed)/float64(n), prefiltered, reasons)
	if pushed < n*3/4 {
		t.Errorf("only %d of %d generated filters pushed down; the translator lost coverage", pushed, n)
	}
}

func shortReason(r string) string {
	if i := strings.LastIndex(r, ": "); i >= 0 {
		r = r[i+2:]
	}
	if len(r) > 60 {
		r = r[:60]
	}
	return r
}

// comparePaths reports whether both paths agree on one segment; on a difference it
// logs the filter, the SQL and the rows that differ.
func comparePaths(t testing.TB, ev *segment.Evaluator, db *sqlx.DB, name, filter string, x segment.Explanation) bool {
	t.Helper()
	ctx := context.Background()
	collect := func(e *segment.Evaluator) ([]string, segment.Path, error) {
		var out []string
		path, err := e.Each(ctx, db, name, testNow, 500, func(ms []segment.Match) error {
			for _, m := range ms {
				out = append(out, m.Key)
			}
			return nil
		})
		sort.Slice(out, func(i, j int) bool { return keyLess(out[i], out[j]) })
		return out, path, err
	}
	push, pp, err := collect(ev)
	if err != nil || pp != x.Path {
		t.Errorf("%s: %s failed (%s): %v\nfilter: %s\nSQL: %s\nargs: %#v", name, x.Path, pp, err, filter, x.Where, x.Args)
		return false
	}
	inproc, ip, err := collect(ev.ForcePath(segment.InProcess))
	if err != nil || ip != segment.InProcess {
		t.Errorf("%s: in-process failed (%s): %v\nfilter: %s", name, ip, err, filter)
		return false
	}
	if reflect.DeepEqual(push, inproc) {
		return true
	}
	onlyPush, onlyIn := diffKeys(push, inproc)
	var rows []string
	for _, k := range append(append([]string{}, head(onlyPush, 3)...), head(onlyIn, 3)...) {
		var r string
		if err := db.Get(&r, `SELECT row_to_json(l)::text FROM crm_lead l WHERE id = $1`, k); err == nil {
			rows = append(rows, r)
		}
	}
	t.Errorf("%s: paths disagree: %s %d keys, plain in-process %d\nfilter: %s\nSQL: %s\nargs: %#v\nonly %s: %v\nonly plain in-process: %v\nrows:\n  %s",
		name, x.Path, len(push), len(inproc), filter, x.Where, x.Args, x.Path, head(onlyPush, 10), head(onlyIn, 10), strings.Join(rows, "\n  "))
	return false
}

func head(xs []string, n int) []string {
	if len(xs) > n {
		return xs[:n]
	}
	return xs
}
