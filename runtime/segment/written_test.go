package segment_test

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// writtenPlan is leadModel with segments over stage, and a workflow that
// writes lead.stage (set and clear) and lead.score, so filters read those
// two fields with what workflows wrote laid over the CRM's columns.
func writtenPlan(segs ...plan.Segment) *plan.Plan {
	return &plan.Plan{
		Models:   []plan.Model{leadModel()},
		Segments: segs,
		Workflows: []plan.Workflow{{Name: "qualify", Model: "lead", Steps: []plan.Step{
			{Name: "mark", Kind: plan.StepSetProperty, Field: "lead.stage", Value: "Qualified"},
			{Name: "unmark", Kind: plan.StepClearProperty, Field: "lead.stage"},
			{Name: "rate", Kind: plan.StepSetProperty, Field: "lead.score", Value: "77"},
		}}},
	}
}

// openWrittenLeads is openLeads with the runner's schema, leads 1 to 4 set to
// known stages, and what a workflow wrote for them: lead 1 (New in the CRM)
// marked Qualified, lead 2 (Qualified in the CRM) cleared, lead 3 (New) scored
// 77 and lead 4 (New) untouched.
func openWrittenLeads(t testing.TB, n int) *sqlx.DB {
	t.Helper()
	db := openLeads(t, n, 37)
	ctx := context.Background()
	if _, err := (&store.Store{DB: db}).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`UPDATE crm_lead SET stage = CASE id WHEN 2 THEN 'Qualified' ELSE 'New' END, score = 5 WHERE id <= 4`)
	db.MustExec(`INSERT INTO campaignctl.contact_properties (model, contact_key, field, value, set_at, kind, object, step) VALUES
		('lead', '1', 'stage', 'Qualified', now(), 'workflow', 'qualify', 'mark'),
		('lead', '2', 'stage', NULL, now(), 'workflow', 'qualify', 'unmark'),
		('lead', '3', 'score', '77', now(), 'workflow', 'qualify', 'rate'),
		('other', '4', 'stage', 'Qualified', now(), 'workflow', 'qualify', 'mark'),
		('lead', '04', 'stage', 'Qualified', now(), 'workflow', 'qualify', 'mark')`)
	return db
}

// member runs segment seg on path (forced when path is InProcess, the
// automatic choice otherwise) and reports which of leads 1 to 4 it holds,
// and the path taken.
func member(t *testing.T, ev *segment.Evaluator, db *sqlx.DB, seg string, force bool) (map[string]bool, segment.Path) {
	t.Helper()
	if force {
		ev = ev.ForcePath(segment.InProcess)
	}
	got, path := keys(t, ev, db, seg, 1000)
	in := map[string]bool{}
	for _, k := range got {
		if k == "1" || k == "2" || k == "3" || k == "4" {
			in[k] = true
		}
	}
	// MatchKeys is how workflow conditions read segments: it must agree.
	mk, err := ev.MatchKeys(context.Background(), db, seg, testNow, []string{"1", "2", "3", "4"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"1", "2", "3", "4"} {
		if mk[k] != in[k] {
			t.Errorf("%s: MatchKeys says lead %s in=%v, Each says %v", seg, k, mk[k], in[k])
		}
	}
	return in, path
}

// TestSegmentsSeeWhatWorkflowsWrote: a lead a workflow marks Qualified leaves
// a segment that leaves qualified leads out, on the pushdown path, on the
// in-process path (a filter Postgres cannot evaluate, with and without its
// prefilter) and through MatchKeys; a cleared stage reads as NULL (as
// templates and workflow conditions read it), not as the CRM's Qualified; an
// int field reads its written value converted; writes of another model or of
// another key's text are not this lead's.
func TestSegmentsSeeWhatWorkflowsWrote(t *testing.T) {
	db := openWrittenLeads(t, 200)
	// exists_one has no SQL form: the segment is evaluated in process, with
	// the stage test as its prefilter.
	unpushable := ` && (lead.tags.exists_one(x, x == "vip") || !lead.tags.exists_one(x, x == "vip"))`
	ev, err := segment.New(writtenPlan(
		planSegment("unqualified", `!(lead.stage in ["Qualified", "Won"])`),
		planSegment("unqualified_slow", `!(lead.stage in ["Qualified", "Won"])`+unpushable),
		planSegment("stage_unset", `!has(lead.stage) && lead.stage == ""`),
		planSegment("stage_unset_slow", `!has(lead.stage) && lead.stage == ""`+unpushable),
		planSegment("rated", `lead.score > 50`),
		planSegment("rated_slow", `lead.score > 50`+unpushable),
	))
	if err != nil {
		t.Fatal(err)
	}
	ev, err = ev.WithCatalog(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		seg   string
		force bool
		path  segment.Path
		want  string // which of leads 1..4 are in
	}{
		{"unqualified", false, segment.Pushdown, "2 3 4"},
		{"unqualified", true, segment.InProcess, "2 3 4"},
		{"unqualified_slow", false, segment.InProcess, "2 3 4"},
		{"stage_unset", false, segment.Pushdown, "2"},
		{"stage_unset_slow", false, segment.InProcess, "2"},
		{"stage_unset", true, segment.InProcess, "2"},
		{"rated", false, segment.Pushdown, "3"},
		{"rated_slow", false, segment.InProcess, "3"},
		{"rated", true, segment.InProcess, "3"},
	}
	for _, c := range cases {
		in, path := member(t, ev, db, c.seg, c.force)
		var got []string
		for _, k := range []string{"1", "2", "3", "4"} {
			if in[k] {
				got = append(got, k)
			}
		}
		if path != c.path || strings.Join(got, " ") != c.want {
			t.Errorf("%s (forced in process: %v): leads %q on %s, want %q on %s", c.seg, c.force, strings.Join(got, " "), path, c.want, c.path)
		}
	}
	// Beyond leads 1 to 4, both paths agree on the whole table.
	for _, seg := range []string{"unqualified", "stage_unset", "rated"} {
		a, _ := keys(t, ev, db, seg, 1000)
		b, _ := keys(t, ev.ForcePath(segment.InProcess), db, seg, 1000)
		if x, y := diffKeys(a, b); len(x)+len(y) > 0 {
			t.Errorf("%s: only pushdown %v, only in-process %v", seg, head(x, 5), head(y, 5))
		}
	}
	// A sample shows the value the filter read.
	rows, _, err := ev.Sample(context.Background(), db, "rated", testNow, 10, []string{"score"})
	if err != nil || len(rows) == 0 || rows[0]["score"] != int64(77) {
		t.Errorf("sample of rated: %v, %v; want lead 3 with score 77", rows, err)
	}
}

// TestUnwrittenFieldsKeepTheirSQL: in a plan whose workflows write lead.stage
// and lead.score, a filter that reads neither renders exactly the SQL it
// renders in a plan without workflows (the golden below is today's), and one
// that reads a written field reads it through the properties table, by its
// primary key.
func TestUnwrittenFieldsKeepTheirSQL(t *testing.T) {
	filters := map[string]string{
		"kind":    `lead.kind == "person" && !lead.blacklisted`,
		"tags":    `"vip" in lead.tags && lead.created_at > timestamp("2024-01-01T00:00:00Z")`,
		"reason":  `!(lead.lost_reason in ["Too expensive"]) || lead.probability >= 0.5`,
		"stage":   `lead.stage != "Qualified"`,
		"score":   `lead.score + 1 > 50`,
		"via_ref": `segment.stage && lead.kind == "person"`,
	}
	var segs []plan.Segment
	for name, f := range filters {
		segs = append(segs, planSegment(name, f))
	}
	written, err := segment.New(writtenPlan(segs...))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := segment.New(&plan.Plan{Models: []plan.Model{leadModel()}, Segments: segs})
	if err != nil {
		t.Fatal(err)
	}
	for name := range filters {
		wx, err1 := written.Explain(name, testNow)
		px, err2 := plain.Explain(name, testNow)
		if err1 != nil || err2 != nil || wx.Path != segment.Pushdown {
			t.Fatalf("%s: %v, %v, path %s", name, err1, err2, wx.Path)
		}
		readsWritten := name == "stage" || name == "score" || name == "via_ref"
		if same := wx.SQL == px.SQL; same == readsWritten {
			t.Errorf("%s: SQL unchanged = %v, want %v:\n%s\n%s", name, same, !readsWritten, wx.SQL, px.SQL)
		}
		if got := strings.Count(wx.SQL, `"campaignctl"."contact_properties"`); readsWritten && got == 0 {
			t.Errorf("%s: does not read the properties table: %s", name, wx.SQL)
		}
	}
	const golden = `SELECT "id", "email_from" FROM "crm_lead" WHERE (("kind" = $1::text) AND (NOT ("blacklisted") OR "blacklisted" IS NULL)) ORDER BY "id"`
	if x, _ := written.Explain("kind", testNow); x.SQL != golden {
		t.Errorf("kind:\n got %s\nwant %s", x.SQL, golden)
	}
	x, _ := written.Explain("stage", testNow)
	const from = `FROM "crm_lead" LEFT JOIN (SELECT contact_key AS campaignctl_k, value AS campaignctl_v FROM "campaignctl"."contact_properties" WHERE model = 'lead' AND field = 'stage') AS campaignctl_w1 ON campaignctl_w1.campaignctl_k = ("crm_lead"."id")::text WHERE `
	const stage = `(CASE WHEN campaignctl_w1.campaignctl_k IS NOT NULL THEN campaignctl_w1.campaignctl_v ELSE "stage" END)`
	if !strings.Contains(x.SQL, from) || !strings.Contains(x.SQL, stage+" <> $1::text") {
		t.Errorf("stage: not the overlay shape: %s", x.SQL)
	}
}

// TestWrittenValuesConvertToTheFieldType: each written text reads as the
// field's type; one of another form (left by a revision that gave the field
// another type) reads as NULL instead of failing the query; a list field
// only ever reads a write as cleared.
func TestWrittenValuesConvertToTheFieldType(t *testing.T) {
	db := openLeads(t, 40, 3)
	ctx := context.Background()
	if _, err := (&store.Store{DB: db}).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		field, value string
		want         any // nil: reads as NULL
	}{
		{"score", "77", int64(77)}, {"score", "-9223372036854775808", int64(math.MinInt64)},
		{"score", "+5", int64(5)}, {"score", "9223372036854775808", nil}, {"score", "7.5", nil}, {"score", "abc", nil},
		{"probability", "0.25", 0.25}, {"probability", "-1e3", -1000.0}, {"probability", ".5", 0.5},
		{"probability", "Infinity", math.Inf(1)}, {"probability", "1e400", nil}, {"probability", "1e99999", nil}, {"probability", "x", nil},
		{"active", "true", true}, {"active", "False", false}, {"active", "1", true}, {"active", "yes", nil},
		{"created_at", "2026-12-03T10:00:00Z", ts("2026-12-03T10:00:00Z")},
		{"created_at", "2026-12-03T10:00:00.5+01:00", ts("2026-12-03T09:00:00.5Z")},
		{"created_at", "2026-12-03", ts("2026-12-03T00:00:00Z")}, {"created_at", "tomorrow", nil}, {"created_at", "2026-13-01", nil},
		{"tags", "{vip}", nil},
	}
	var written []plan.Step
	for i, c := range cases {
		key := strconv.Itoa(i + 1)
		db.MustExec(`INSERT INTO campaignctl.contact_properties (model, contact_key, field, value, set_at, kind, object, step)
			VALUES ('lead', $1, $2, $3, now(), 'workflow', 'w', 's')`, key, c.field, c.value)
		written = append(written, plan.Step{Name: "s" + key, Kind: plan.StepSetProperty, Field: "lead." + c.field})
	}
	p := &plan.Plan{Models: []plan.Model{leadModel()}, Segments: []plan.Segment{planSegment("all", "true")},
		Workflows: []plan.Workflow{{Name: "w", Model: "lead", Steps: written}}}
	ev, err := segment.New(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*segment.Evaluator{ev, ev.ForcePath(segment.InProcess)} {
		rows, path, err := e.Sample(ctx, db, "all", testNow, len(cases), nil)
		if err != nil || len(rows) != len(cases) {
			t.Fatalf("%s: %d rows, %v", path, len(rows), err)
		}
		for i, c := range cases {
			got := rows[i][c.field]
			if g, ok := got.(time.Time); ok {
				got = g.UTC()
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("%s: %s written %q reads %v (%T), want %v", path, c.field, c.value, got, got, c.want)
			}
		}
	}
}

// TestWrittenFieldTheModelLacks: a workflow writing a field the model does not
// declare (a hand-edited plan; the engine refuses that workflow, naming the
// field) does not stop the plan's segments from compiling.
func TestWrittenFieldTheModelLacks(t *testing.T) {
	p := writtenPlan(planSegment("s", `lead.stage == "New"`))
	p.Workflows[0].Steps = append(p.Workflows[0].Steps, plan.Step{Name: "typo", Kind: plan.StepSetProperty, Field: "lead.stagee", Value: "x"})
	ev, err := segment.New(p)
	if err != nil {
		t.Fatal(err)
	}
	if x, err := ev.Explain("s", testNow); err != nil || !strings.Contains(x.SQL, "field = 'stage'") || strings.Contains(x.SQL, "stagee") {
		t.Errorf("%v: %s", err, x.SQL)
	}
}

// TestWrittenFieldsWithoutThePropertiesTable: on a database without the
// runner's schema (a CRM that `diff --db` or `audience` is pointed at) no
// workflow wrote anything, so once the catalog is read the segments read the
// CRM alone and count what a plan without workflows counts; without the
// catalog the query fails with a hint to migrate.
func TestWrittenFieldsWithoutThePropertiesTable(t *testing.T) {
	db := openLeads(t, 300, 11)
	ctx := context.Background()
	seg := planSegment("unqualified", `!(lead.stage in ["Qualified", "Won"])`)
	written, err := segment.New(writtenPlan(seg))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := segment.New(&plan.Plan{Models: []plan.Model{leadModel()}, Segments: []plan.Segment{seg}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := written.Count(ctx, db, "unqualified", testNow); err == nil || !strings.Contains(err.Error(), "campaignctl migrate") {
		t.Fatalf("without the catalog: %v, want the missing table and a hint to migrate", err)
	}
	cat, err := written.WithCatalog(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*segment.Evaluator{cat, cat.ForcePath(segment.InProcess)} {
		got, path, err := e.Count(ctx, db, "unqualified", testNow)
		want, _, err2 := plain.Count(ctx, db, "unqualified", testNow)
		if err != nil || err2 != nil || got != want || got == 0 {
			t.Errorf("%s: %d (%v), want %d (%v)", path, got, err, want, err2)
		}
	}
	if x, _ := cat.Explain("unqualified", testNow); strings.Contains(x.SQL, "contact_properties") {
		t.Errorf("reads the missing table: %s", x.SQL)
	}
	// Once migrated, the same call reads the writes again.
	if _, err := (&store.Store{DB: db}).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if cat, err = written.WithCatalog(ctx, db); err != nil {
		t.Fatal(err)
	}
	if x, _ := cat.Explain("unqualified", testNow); !strings.Contains(x.SQL, "contact_properties") {
		t.Errorf("after migrate, does not read the properties table: %s", x.SQL)
	}
}
