package segment

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
)

// BenchmarkEvalSeedRow is the cost of evaluating the seed filter on one row held
// in memory: the CEL share of the in-process path.
func BenchmarkEvalSeedRow(b *testing.B) {
	m := plan.Model{Name: "lead", Table: "crm_lead", Key: "id", Email: "email_from", Fields: []plan.Field{
		{Name: "stage", Type: plan.TypeString, Nullable: true},
		{Name: "lost_reason", Type: plan.TypeString, Nullable: true},
		{Name: "blacklisted", Type: plan.TypeBool},
		{Name: "created_at", Type: plan.TypeTimestamp, Nullable: true},
	}}
	p := &plan.Plan{Models: []plan.Model{m}, Segments: []plan.Segment{{Name: "s", Model: "lead", Filter: `!lead.blacklisted && lead.created_at >= timestamp("2024-01-01T00:00:01Z") &&
	!(lead.stage in ["New", "Qualified", "Won"]) && lead.lost_reason == "Not enough stock"`}}}
	ev, err := New(p)
	if err != nil {
		b.Fatal(err)
	}
	c := ev.segs["s"]
	rec := newRecord(&p.Models[0])
	for i, f := range p.Models[0].Fields {
		rec.slots[i] = newSlot(f.Type)
	}
	arena := []byte("LostNot enough stock")
	rec.slots[0].point(&cell{valid: true, start: 0, end: 4}, arena)
	rec.slots[1].point(&cell{valid: true, start: 4, end: 20}, arena)
	rec.slots[2].point(&cell{valid: true}, arena)
	rec.slots[3].point(&cell{valid: true, t: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)}, arena)
	act := &activation{model: "lead", obj: celmodel.NewObject(&p.Models[0], rec), now: types.Timestamp{Time: time.Now()}, segs: ev.segs}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, _, _ := c.prg.Eval(act)
		if out != types.True {
			b.Fatal(out)
		}
	}
}

func TestRetryInProcessOnlyForSQLFaults(t *testing.T) {
	cases := map[error]bool{
		&pq.Error{Code: "2201B"}:                            true,  // invalid regular expression
		&pq.Error{Code: "54001"}:                            true,  // statement too complex
		fmt.Errorf("wrapped: %w", &pq.Error{Code: "22003"}): true,  // numeric value out of range
		&pq.Error{Code: "57014"}:                            false, // query canceled
		&pq.Error{Code: "08006"}:                            false, // connection failure
		errors.New("connection refused"):                    false,
	}
	for err, want := range cases {
		if got := retryInProcess(err); got != want {
			t.Errorf("retryInProcess(%v) = %v, want %v", err, got, want)
		}
	}
}

func TestParseTextArray(t *testing.T) {
	cases := map[string][]string{
		`{}`:                    {},
		`{a,b}`:                 {"a", "b"},
		`{NULL,"NULL",""}`:      {"", "NULL", ""},
		`{"a,b","c\"d","e\\f"}`: {"a,b", `c"d`, `e\f`},
		`[0:1]={x,y}`:           {"x", "y"},
		`{é,"😀 x"}`:             {"é", "😀 x"},
	}
	for in, want := range cases {
		got, err := parseTextArray([]byte(in))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseTextArray(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`{{a},{b}}`, `{"a}`, `a,b`, `{a"b",c}x`} {
		if _, err := parseTextArray([]byte(bad)); err == nil {
			t.Errorf("parseTextArray(%s) accepted", bad)
		}
	}
	if got, err := parseTextArray(nil); got != nil || err != nil {
		t.Errorf("NULL array: %q, %v", got, err)
	}
}
