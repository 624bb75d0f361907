package segment_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// testNow is the evaluation time of every test; some fixture timestamps sit on
// either side of now - 30 days.
var testNow = time.Date(2024, 6, 15, 12, 0, 0, 0, time.UTC)

const leadDDL = `
CREATE TABLE crm_lead (
	id          bigint PRIMARY KEY,
	email_from  text,
	name        text,
	stage       text,
	lost_reason text,
	kind        text NOT NULL,
	active      boolean,
	blacklisted boolean NOT NULL,
	created_at  timestamptz,
	score       bigint,
	priority    integer NOT NULL,
	probability double precision,
	tags        text[]
)`

// leadModel maps crm_lead. Nullable mirrors the table's NOT NULL constraints.
func leadModel() plan.Model {
	return plan.Model{Name: "lead", Table: "crm_lead", Key: "id", Email: "email_from", Fields: []plan.Field{
		{Name: "name", Column: "name", Type: plan.TypeString, Nullable: true},
		{Name: "stage", Column: "stage", Type: plan.TypeString, Nullable: true},
		{Name: "lost_reason", Column: "lost_reason", Type: plan.TypeString, Nullable: true},
		{Name: "kind", Column: "kind", Type: plan.TypeString},
		{Name: "active", Column: "active", Type: plan.TypeBool, Nullable: true},
		{Name: "blacklisted", Column: "blacklisted", Type: plan.TypeBool},
		{Name: "created_at", Column: "created_at", Type: plan.TypeTimestamp, Nullable: true},
		{Name: "score", Column: "score", Type: plan.TypeInt, Nullable: true},
		{Name: "priority", Column: "priority", Type: plan.TypeInt},
		{Name: "probability", Column: "probability", Type: plan.TypeFloat, Nullable: true},
		{Name: "tags", Column: "tags", Type: plan.TypeStringList, Nullable: true},
	}}
}

// The value pools hold the cases where SQL and CEL tend to disagree: NULL, empty,
// case and Unicode, LIKE metacharacters, boundaries of every comparison.
var (
	stringPool = []any{nil, "", "New", "new", "NEW", "Qualified", "Won", "Lost", "Not enough stock",
		"not enough stock", "Not enough stock ", "a%b", "a_b", `a\b`, "%", "_", `\`, "é", "É", "e\u0301", "ß",
		"日本語", "😀", "a b", " lead", "x\ny", "abc", "abd", "ab", "a", "zz", "Z", "~", "a.c", "new lead",
		"Newsletter", "it's", `"quoted"`, "{x}", "NULL", strings.Repeat("long", 30)}
	kindPool  = []string{"", "person", "company", "Person", "é", "a%b"}
	intPool   = []any{nil, int64(0), int64(1), int64(-1), int64(2), int64(3), int64(10), int64(42), int64(100), int64(-100), int64(math.MaxInt64), int64(math.MinInt64), int64(math.MaxInt64 - 1), int64(math.MinInt64 + 1), int64(1 << 32)}
	prioPool  = []int64{0, 1, 2, 3, -1, math.MaxInt32, math.MinInt32}
	floatPool = []any{nil, 0.0, math.Copysign(0, -1), 0.5, 1.0, -1.0, math.NaN(), math.Inf(1), math.Inf(-1), 1e308, 5e-324, 0.1, 0.30000000000000004, 0.3, 99.5, 100.0}
	boolPool  = []any{nil, true, false}
	tagPool   = [][]any{nil, {}, {nil}, {""}, {"vip"}, {"vip", "newsletter"}, {"newsletter"}, {"a,b", `c"d`}, {"%", "_"}, {"VIP"}, {"é"}, {"vip", nil}, {"", "vip"}, {`\`}, {"NULL"}}
)

func timePool() []any {
	mustT := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	month := testNow.Add(-720 * time.Hour)
	return []any{nil,
		time.Unix(0, 0).UTC(),
		mustT("2024-01-01T00:00:00Z"), mustT("2024-01-01T00:00:01Z"), mustT("2024-01-01T00:00:00.999999Z"),
		mustT("2024-01-01T00:00:01.000001Z"), mustT("2024-01-01T00:00:00.999999Z"),
		mustT("2023-12-31T23:00:01-01:00"), mustT("2024-01-01T01:00:01+01:00"), mustT("2024-01-01T05:30:00+05:30"),
		mustT("0001-01-01T00:00:00Z"), mustT("9999-12-31T23:59:59.999999Z"), mustT("1969-12-31T23:59:59.999999Z"),
		month, month.Add(time.Microsecond), month.Add(-time.Microsecond), testNow, testNow.Add(time.Hour),
		mustT("2023-06-15T12:00:00Z"), mustT("2025-01-01T00:00:00Z"),
	}
}

func pick[T any](r *rand.Rand, pool []T) T { return pool[r.Intn(len(pool))] }

// openLeads creates crm_lead in a fresh database and fills it with n rows drawn
// from the pools (seeded, so every run sees the same table).
func openLeads(t testing.TB, n int, seed int64) *sqlx.DB {
	t.Helper()
	db, _ := storetest.Open(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, leadDDL); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(seed))
	times := timePool()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO crm_lead VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		var email any = fmt.Sprintf("lead%d@example.com", i)
		if i%17 == 0 {
			email = nil
		}
		var tags any
		if tg := pick(r, tagPool); tg != nil {
			arr := make([]sql.NullString, len(tg))
			for j, el := range tg {
				if el != nil {
					arr[j] = sql.NullString{String: el.(string), Valid: true}
				}
			}
			tags = pq.Array(arr)
		}
		var prob any = pick(r, floatPool)
		if f, ok := prob.(float64); ok {
			prob = formatPGFloat(f)
		}
		// Make the seed filter's own columns hit often enough to matter.
		stage, reason := pick(r, stringPool), pick(r, stringPool)
		if r.Intn(3) == 0 {
			stage = pick(r, []any{nil, "New", "Qualified", "Won", "Lost", "Proposition", ""})
			reason = pick(r, []any{nil, "Not enough stock", "Too expensive", ""})
		}
		if _, err := stmt.ExecContext(ctx, i, email, pick(r, stringPool), stage, reason, pick(r, kindPool),
			pick(r, boolPool), r.Intn(4) == 0, pick(r, times), pick(r, intPool), pick(r, prioPool), prob, tags); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "ANALYZE crm_lead"); err != nil {
		t.Fatal(err)
	}
	return db
}

func formatPGFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return fmt.Sprintf("%v", f)
}

// keys runs Each for a segment and returns the matched keys, sorted (Each promises
// no order on the in-process path).
func keys(t testing.TB, ev *segment.Evaluator, db *sqlx.DB, seg string, batch int) ([]string, segment.Path) {
	t.Helper()
	var out []string
	path, err := ev.Each(context.Background(), db, seg, testNow, batch, func(ms []segment.Match) error {
		if len(ms) == 0 || len(ms) > batch {
			return fmt.Errorf("batch of %d matches, want 1..%d", len(ms), batch)
		}
		for _, m := range ms {
			out = append(out, m.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("segment %s: Each: %v", seg, err)
	}
	sort.Slice(out, func(i, j int) bool { return keyLess(out[i], out[j]) })
	return out, path
}

// sqlKeys returns the keys a hand-written query selects.
func sqlKeys(t testing.TB, db *sqlx.DB, query string, args ...any) []string {
	t.Helper()
	var out []string
	if err := db.Select(&out, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	sort.Slice(out, func(i, j int) bool { return keyLess(out[i], out[j]) })
	return out
}

// keyLess orders decimal keys numerically, as ORDER BY id does.
func keyLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func diffKeys(a, b []string) (onlyA, onlyB []string) {
	in := map[string]bool{}
	for _, k := range b {
		in[k] = true
	}
	for _, k := range a {
		if !in[k] {
			onlyA = append(onlyA, k)
		}
		delete(in, k)
	}
	for k := range in {
		onlyB = append(onlyB, k)
	}
	sort.Strings(onlyB)
	return onlyA, onlyB
}

func planSegment(name, filter string) plan.Segment {
	return plan.Segment{Name: name, Model: "lead", Filter: filter, IncludeArchived: true}
}
