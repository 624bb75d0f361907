package segment_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// awkwardWrites are stored property texts a workflow of the current plan
// would not write (left by an earlier revision, or typed in by hand), beside
// a few near misses that are of the field's form. want is what a segment
// reads (nil: NULL).
var awkwardWrites = []struct {
	field, value string
	want         any
}{
	{"created_at", "2026-02-30", nil},
	{"created_at", "2024-02-29", "2024-02-29 00:00:00 +0000 UTC"},
	{"created_at", "2023-02-29", nil},
	{"created_at", "1900-02-29", nil},
	{"created_at", "2000-02-29T12:00:00Z", "2000-02-29 12:00:00 +0000 UTC"},
	{"created_at", "2026-04-31", nil},
	{"created_at", "2026-04-30T23:59:59Z", "2026-04-30 23:59:59 +0000 UTC"},
	{"created_at", "2026-02-30T10:00:00Z", nil},
	{"created_at", "2026-02-29T10:00:00", nil},
	{"created_at", "0000-01-01", nil},
	{"created_at", "0001-01-01", "0001-01-01 00:00:00 +0000 UTC"},
	{"created_at", "2026-12-03T10:00:00+01:00", "2026-12-03 09:00:00 +0000 UTC"},
	{"created_at", "2026-12-03T10:00:00-15:59", "2026-12-04 01:59:00 +0000 UTC"},
	{"created_at", "2026-12-03T10:00:00+16:00", nil},
	{"created_at", "2026-12-03T10:00:00+23:00", nil},
	{"created_at", "2026-12-03T10:00:00+0100", nil},
	{"created_at", "2026-12-03T10:00:00+01", nil},
	{"created_at", "2026-12-03 10:00:00+00", nil},
	{"created_at", "2026-12-03T24:00:00Z", nil},
	{"created_at", " 2026-12-03", nil},
	{"created_at", "", nil},
	{"score", "", nil},
	{"score", " 12 ", nil},
	{"score", "12", int64(12)},
	{"score", "-0012", int64(-12)},
	{"score", "1e3", nil},
	{"score", "9223372036854775807", int64(math.MaxInt64)},
	{"score", "-9223372036854775809", nil},
	{"score", strings.Repeat("9", 200000), nil},
	{"probability", "1e400", nil},
	{"probability", "-1e400", nil},
	{"probability", "1e-400", nil},
	{"probability", "5e-324", nil},
	{"probability", "2.2250738585072014e-308", 2.2250738585072014e-308},
	{"probability", "1e308", 1e308},
	{"probability", "0e-999", 0.0},
	{"probability", "NaN", math.NaN()},
	{"probability", "-nan", nil},
	{"probability", "-Infinity", math.Inf(-1)},
	{"probability", "inf", math.Inf(1)},
	{"probability", " 0.5", nil},
	{"probability", "0x1p-2", nil},
	{"probability", "1_000", nil},
	{"probability", "", nil},
	{"probability", "1" + strings.Repeat("0", 200000), nil},
	{"probability", "0." + strings.Repeat("0", 20000) + "1", nil},
	{"active", "true", true},
	{"active", "t", true},
	{"active", "F", false},
	{"active", "yes", nil},
	{"active", " true", nil},
	{"active", "tRUE", nil},
	{"active", "", nil},
	{"stage", "", ""},
	{"stage", " 12 ", " 12 "},
}

// TestAwkwardWrittenValuesReadAsNull: whatever text the properties table
// holds for a written field, a segment reading it does not fail: a value not
// of the field's form (a day past its month's end, an overflowing number, a
// time zone Postgres refuses) reads as NULL, one of its form as its value, on
// the pushdown path and the in-process path alike, row by row, both in the
// values a sample shows and in the contacts a filter over the field selects.
func TestAwkwardWrittenValuesReadAsNull(t *testing.T) {
	db := openLeads(t, len(awkwardWrites)+5, 5)
	ctx := context.Background()
	if _, err := (&store.Store{DB: db}).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var steps []plan.Step
	for i, c := range awkwardWrites {
		key := strconv.Itoa(i + 1)
		db.MustExec(`INSERT INTO campaignctl.contact_properties (model, contact_key, field, value, set_at, kind, object, step)
			VALUES ('lead', $1, $2, $3, now(), 'workflow', 'w', 's')`, key, c.field, c.value)
		steps = append(steps, plan.Step{Name: "s" + key, Kind: plan.StepSetProperty, Field: "lead." + c.field})
	}
	filters := map[string]string{
		"created_at":  `has(lead.created_at) && lead.created_at >= timestamp("0001-01-01T00:00:00Z")`,
		"score":       `has(lead.score) && lead.score > -100`,
		"probability": `has(lead.probability)`,
		"active":      `has(lead.active) && (lead.active || !lead.active)`,
		"stage":       `has(lead.stage)`,
	}
	segs := []plan.Segment{planSegment("all", "true")}
	for f, expr := range filters {
		segs = append(segs, planSegment("has_"+f, expr))
	}
	ev, err := segment.New(&plan.Plan{Models: []plan.Model{leadModel()}, Segments: segs,
		Workflows: []plan.Workflow{{Name: "w", Model: "lead", Steps: steps}}})
	if err != nil {
		t.Fatal(err)
	}
	show := func(v any) string {
		if tm, ok := v.(time.Time); ok {
			v = tm.UTC()
		}
		return fmt.Sprint(v)
	}
	inProcess := ev.ForcePath(segment.InProcess)
	var samples [2][]map[string]any
	for i, e := range []*segment.Evaluator{ev, inProcess} {
		rows, path, err := e.Sample(ctx, db, "all", testNow, len(awkwardWrites), nil)
		if err != nil || len(rows) != len(awkwardWrites) {
			t.Fatalf("%s: %d rows, %v", path, len(rows), err)
		}
		samples[i] = rows
		for j, c := range awkwardWrites {
			if got := rows[j][c.field]; show(got) != show(c.want) {
				t.Errorf("%s: %s written %.40q reads %v (%T), want %v", path, c.field, c.value, got, got, c.want)
			}
		}
	}
	// PropertyValue, which the engine checks a set_property value with and
	// consent conditions read a write through, reads each text alike.
	model := leadModel()
	for j, c := range awkwardWrites {
		if a, b := show(samples[0][j][c.field]), show(samples[1][j][c.field]); a != b {
			t.Errorf("%s written %.40q: pushdown reads %s, in process %s", c.field, c.value, a, b)
		}
		f, _ := model.Field(c.field)
		v, err := plan.PropertyValue(f.Type, c.value)
		if err != nil {
			v = nil
			if !errors.Is(err, plan.ErrNotOfForm) || len(c.value) > 10 && strings.Contains(err.Error(), c.value) {
				t.Errorf("%s %.40q: %v, want ErrNotOfForm without the text", c.field, c.value, err)
			}
		}
		if show(v) != show(samples[0][j][c.field]) {
			t.Errorf("%s written %.40q: PropertyValue reads %s, a segment %s", c.field, c.value, show(v), show(samples[0][j][c.field]))
		}
	}
	for f := range filters {
		seg := "has_" + f
		var paths [2]segment.Path
		var got [2]map[string]bool
		for i, e := range []*segment.Evaluator{ev, inProcess} {
			in := map[string]bool{}
			var err error
			paths[i], err = e.Each(ctx, db, seg, testNow, 1000, func(ms []segment.Match) error {
				for _, m := range ms {
					in[m.Key] = true
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s (%s): %v", seg, paths[i], err)
			}
			got[i] = in
		}
		if paths[0] != segment.Pushdown || paths[1] != segment.InProcess {
			t.Fatalf("%s: paths %s, %s", seg, paths[0], paths[1])
		}
		for j, c := range awkwardWrites {
			if c.field != f {
				continue
			}
			key := strconv.Itoa(j + 1)
			want := c.want != nil
			if got[0][key] != want || got[1][key] != want {
				t.Errorf("%s: %s written %.40q: in the segment on pushdown %v, in process %v, want %v", seg, f, c.value, got[0][key], got[1][key], want)
			}
		}
	}
}
