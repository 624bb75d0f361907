package segment_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment"
)

// TestMacrosAbsorbFailingElementsLikeCEL: exists and all over a list field push
// down, and an element whose predicate fails (division by zero for the 3-letter
// tags) is absorbed or not exactly as CEL does, under both polarities.
func TestMacrosAbsorbFailingElementsLikeCEL(t *testing.T) {
	const n = 500
	db := openLeads(t, n, 5)
	fail := `6 / (size(t) - 3) > 0`
	filters := []string{
		`lead.tags.exists(t, ` + fail + `)`, `!lead.tags.exists(t, ` + fail + `)`,
		`lead.tags.all(t, ` + fail + `)`, `!lead.tags.all(t, ` + fail + `)`,
		`lead.tags.exists(t, t == "vip" || ` + fail + `)`, `!lead.tags.all(t, t != "vip" && ` + fail + `)`,
		`lead.tags.exists(t, lead.tags.all(u, u == t))`, `!lead.tags.exists(t, t == lead.stage)`,
	}
	var segs []plan.Segment
	for i, f := range filters {
		segs = append(segs, planSegment(fmt.Sprintf("m%d", i), f))
	}
	ev, err := segment.New(&plan.Plan{Models: []plan.Model{leadModel()}, Segments: segs})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range filters {
		name := fmt.Sprintf("m%d", i)
		got, path := keys(t, ev, db, name, 100)
		want, _ := keys(t, ev.ForcePath(segment.InProcess), db, name, 100)
		if path != segment.Pushdown {
			x, _ := ev.Explain(name, testNow)
			t.Errorf("%s: %s path (%s), want pushdown", f, path, x.Reason)
		}
		if a, b := diffKeys(got, want); len(a)+len(b) > 0 {
			t.Errorf("%s: only pushdown %v, only in-process %v", f, head(a, 10), head(b, 10))
		}
		if len(want) == 0 || len(want) == n {
			t.Errorf("%s: in-process selects %d of %d leads; agreement proves nothing", f, len(want), n)
		}
	}
}

// TestCatalogNotNullDropsGuards: with the catalog read, a negated test of a NOT
// NULL column has no IS NULL guard, a nullable one keeps it, and both still
// select what the in-process path selects.
func TestCatalogNotNullDropsGuards(t *testing.T) {
	db := openLeads(t, 300, 9)
	p := &plan.Plan{Models: []plan.Model{leadModel()}, Segments: []plan.Segment{
		planSegment("kind", `!(lead.kind in ["person"]) && has(lead.blacklisted)`),
		planSegment("stage", `!(lead.stage in ["New"])`),
	}}
	plain, err := segment.New(p)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := plain.WithCatalog(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		seg          string
		plainGuard   bool
		catalogGuard bool
	}{{"kind", true, false}, {"stage", true, true}} {
		px, _ := plain.Explain(tc.seg, testNow)
		cx, _ := ev.Explain(tc.seg, testNow)
		if got := strings.Contains(px.Where, "IS NULL") || strings.Contains(px.Where, "IS NOT NULL"); got != tc.plainGuard {
			t.Errorf("%s without catalog: guard %v, want %v: %s", tc.seg, got, tc.plainGuard, px.Where)
		}
		if got := strings.Contains(cx.Where, "IS NULL") || strings.Contains(cx.Where, "IS NOT NULL"); got != tc.catalogGuard {
			t.Errorf("%s with catalog: guard %v, want %v: %s", tc.seg, got, tc.catalogGuard, cx.Where)
		}
		got, _ := keys(t, ev, db, tc.seg, 100)
		want, _ := keys(t, ev.ForcePath(segment.InProcess), db, tc.seg, 100)
		if a, b := diffKeys(got, want); len(a)+len(b) > 0 || len(got) == 0 {
			t.Errorf("%s: %d keys; only pushdown %v, only in-process %v", tc.seg, len(got), head(a, 5), head(b, 5))
		}
	}
}
