package segment_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/runtime/segment"
)

// FuzzPaths feeds filters through both paths: any input that compiles against the
// lead model and pushes down must select exactly the keys the CEL program selects,
// and neither path may fail. The seed corpus is generated filters; the fuzzer
// mutates them into arbitrary CEL.
//
//	go test ./runtime/segment -run '^$' -fuzz FuzzPaths -fuzztime 60s
func FuzzPaths(f *testing.F) {
	for _, e := range corpus(corpusSeed+1, 40) {
		f.Add(e)
	}
	f.Add(seedFilter)
	db, _ := openLeadsWithEvents(f, 600, 11)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, filter string) {
		if len(filter) > 2000 {
			return
		}
		p := seedPlan(planSegment("fuzz", filter))
		ev, err := segment.New(p)
		if err != nil {
			// Not a well-typed bool filter over the model: nothing to compare.
			if !strings.Contains(err.Error(), "segment \"fuzz\"") && !strings.Contains(err.Error(), "segment.") {
				t.Fatalf("unexpected New error: %v", err)
			}
			return
		}
		x, err := ev.Explain("fuzz", testNow)
		if err != nil {
			t.Fatal(err)
		}
		inproc := fuzzKeys(t, ctx, ev.ForcePath(segment.InProcess), db)
		if x.Path != segment.Pushdown {
			return
		}
		push := fuzzKeys(t, ctx, ev, db)
		if strings.Join(push, ",") != strings.Join(inproc, ",") {
			a, b := diffKeys(push, inproc)
			t.Fatalf("paths disagree on %s\nSQL: %s\nargs: %#v\nonly pushdown: %v\nonly in-process: %v", filter, x.Where, x.Args, head(a, 10), head(b, 10))
		}
	})
}

func fuzzKeys(t *testing.T, ctx context.Context, ev *segment.Evaluator, db *sqlx.DB) []string {
	t.Helper()
	var out []string
	path, err := ev.Each(ctx, db, "fuzz", testNow, 1000, func(ms []segment.Match) error {
		for _, m := range ms {
			out = append(out, m.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s path failed: %v", path, err)
	}
	sort.Slice(out, func(i, j int) bool { return keyLess(out[i], out[j]) })
	return out
}
