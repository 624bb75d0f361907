package sqlgen_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
	"github.com/campaignctl/campaignctl/runtime/segment/sqlgen"
)

var now = time.Date(2024, 6, 15, 12, 0, 0, 0, time.UTC)

func model() *plan.Model {
	return &plan.Model{Name: "lead", Table: "crm_lead", Key: "id", Email: "email_from", Fields: []plan.Field{
		{Name: "name", Type: plan.TypeString, Nullable: true},
		{Name: "stage", Column: "stage", Type: plan.TypeString, Nullable: true},
		{Name: "lost_reason", Type: plan.TypeString, Nullable: true},
		{Name: "kind", Type: plan.TypeString},
		{Name: "active", Type: plan.TypeBool, Nullable: true},
		{Name: "blacklisted", Type: plan.TypeBool},
		{Name: "created_at", Type: plan.TypeTimestamp, Nullable: true},
		{Name: "score", Type: plan.TypeInt, Nullable: true},
		{Name: "probability", Type: plan.TypeFloat, Nullable: true},
		{Name: "tags", Type: plan.TypeStringList, Nullable: true},
		{Name: "odd", Column: `we"ird col`, Type: plan.TypeString},
	}}
}

func translate(t *testing.T, m *plan.Model, src string, refs map[string]string) (*sqlgen.Filter, error) {
	t.Helper()
	var names []string
	for n := range refs {
		names = append(names, n)
	}
	env, err := celmodel.Env(m, names)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := sqlgen.NewTranslator(env, m)
	if err != nil {
		t.Fatal(err)
	}
	tr.Segments = func(name string) (*sqlgen.Filter, error) {
		ast, iss := env.Compile(refs[name])
		if iss.Err() != nil {
			t.Fatal(iss.Err())
		}
		return tr.Translate(ast)
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		t.Fatalf("%s: %v", src, iss.Err())
	}
	return tr.Translate(ast)
}

func TestTranslate(t *testing.T) {
	cases := []struct {
		cel  string
		sql  string
		args []any
	}{
		{
			cel:  `!lead.blacklisted && lead.created_at >= timestamp("2024-01-01T00:00:01Z") && !(lead.stage in ["New", "Qualified", "Won"]) && lead.lost_reason == "Not enough stock"`,
			sql:  `((NOT ("blacklisted") OR "blacklisted" IS NULL) AND ("created_at" >= $1::timestamptz) AND (NOT (("stage" IN ($2::text, $3::text, $4::text))) OR "stage" IS NULL) AND ("lost_reason" = $5::text))`,
			args: []any{time.Date(2024, 1, 1, 0, 0, 1, 0, time.UTC), "New", "Qualified", "Won", "Not enough stock"},
		},
		// A NULL stage reads as "": it equals "" and differs from "x".
		{cel: `lead.stage == ""`, sql: `(("stage" = $1::text) OR "stage" IS NULL)`, args: []any{""}},
		{cel: `lead.stage != "x"`, sql: `(("stage" <> $1::text) OR "stage" IS NULL)`, args: []any{"x"}},
		{cel: `!(lead.stage == "x")`, sql: `(NOT (("stage" = $1::text)) OR "stage" IS NULL)`, args: []any{"x"}},
		{cel: `"x" == lead.stage`, sql: `("stage" = $1::text)`, args: []any{"x"}},
		{cel: `lead.active`, sql: `"active"`},
		{cel: `!lead.active`, sql: `(NOT ("active") OR "active" IS NULL)`},
		{cel: `lead.active == false`, sql: `(NOT ("active") OR "active" IS NULL)`},
		{cel: `has(lead.stage) && !has(lead.name) && has(lead.kind)`, sql: `("stage" IS NOT NULL AND "name" IS NULL AND "kind" IS NOT NULL)`},
		// Strings order bytewise.
		{cel: `lead.name < "b"`, sql: `(("name" COLLATE "C" < $1::text) OR "name" IS NULL)`, args: []any{"b"}},
		{cel: `lead.kind >= lead.name`, sql: `(COALESCE("kind", '') COLLATE "C" >= COALESCE("name", ''))`},
		// IEEE NaN: Postgres needs telling.
		{cel: `lead.probability > 0.5`, sql: `("probability" > $1::float8 AND "probability" <> 'NaN'::float8)`, args: []any{"0.5"}},
		{cel: `!(lead.probability > 0.5)`, sql: `(NOT (("probability" > $1::float8 AND "probability" <> 'NaN'::float8)) OR "probability" IS NULL)`, args: []any{"0.5"}},
		{cel: `lead.probability == double("NaN")`, sql: `FALSE`},
		{cel: `lead.probability != double("NaN")`, sql: `TRUE`},
		{cel: `lead.probability in [double("NaN"), 1.0]`, sql: `("probability" IN ($1::float8))`, args: []any{"1"}},
		{cel: `lead.stage in []`, sql: `FALSE`},
		{cel: `!(lead.stage in [])`, sql: `TRUE`},
		{cel: `lead.stage in ["", "New"]`, sql: `(("stage" IN ($1::text, $2::text)) OR "stage" IS NULL)`, args: []any{"", "New"}},
		// LIKE metacharacters in values are escaped; the value is still a parameter.
		{cel: `lead.name.startsWith("a%_\\")`, sql: `("name" LIKE $1::text)`, args: []any{`a\%\_\\%`}},
		{cel: `lead.name.endsWith("")`, sql: `(("name" LIKE $1::text) OR "name" IS NULL)`, args: []any{"%"}},
		{cel: `lead.name.contains(lead.stage)`, sql: `(strpos(COALESCE("name", ''), COALESCE("stage", '')) > 0)`},
		{cel: `lead.name.matches("^ab.c$")`, sql: `("name" ~ $1::text)`, args: []any{`\Aab[^\u000a]c\Z`}},
		{cel: `"vip" in lead.tags`, sql: `("tags" @> ARRAY[$1::text])`, args: []any{"vip"}},
		{cel: `!("" in lead.tags)`, sql: `(NOT (("tags" @> ARRAY[''::text] OR array_position("tags", NULL) IS NOT NULL)) OR "tags" IS NULL)`},
		{cel: `size(lead.tags) > 1`, sql: `(COALESCE(cardinality("tags"), 0) > $1::bigint)`, args: []any{int64(1)}},
		{cel: `size(lead.name) == 3`, sql: `(char_length(COALESCE("name", '')) = $1::bigint)`, args: []any{int64(3)}},
		// Constants, now included, are evaluated by CEL and bound as one value.
		{cel: `lead.created_at > now - duration("24h")`, sql: `("created_at" > $1::timestamptz)`, args: []any{now.Add(-24 * time.Hour)}},
		{cel: `lead.score > 2 * 3 + 1`, sql: `("score" > $1::bigint)`, args: []any{int64(7)}},
		{cel: `lead.created_at + duration("1h") < now`, sql: `(CASE WHEN (COALESCE("created_at", '1970-01-01 00:00:00+00'::timestamptz) + $1::interval) BETWEEN '0001-01-01 00:00:00+00'::timestamptz AND '9999-12-31 23:59:59.999999+00'::timestamptz THEN (COALESCE("created_at", '1970-01-01 00:00:00+00'::timestamptz) + $1::interval) END < $2::timestamptz)`,
			args: []any{"3600000000 microseconds", now}},
		{cel: `lead.name.lowerAscii() == "x"`, sql: `(translate(COALESCE("name", ''), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') = $1::text)`, args: []any{"x"}},
		{cel: `lead.odd == "x"`, sql: `("we""ird col" = $1::text)`, args: []any{"x"}},
		{cel: `segment.vip && lead.kind == "p"`, sql: `(("tags" @> ARRAY[$1::text]) AND ("kind" = $2::text))`, args: []any{"vip", "p"}},
		{cel: `!segment.vip`, sql: `(NOT (("tags" @> ARRAY[$1::text])) OR "tags" IS NULL)`, args: []any{"vip"}},
	}
	for _, c := range cases {
		f, err := translate(t, model(), c.cel, map[string]string{"vip": `"vip" in lead.tags`})
		if err != nil {
			t.Errorf("%s: %v", c.cel, err)
			continue
		}
		sql, args, err := f.Where(now, 1)
		if err != nil {
			t.Errorf("%s: %v", c.cel, err)
			continue
		}
		if sql != c.sql {
			t.Errorf("%s\n got SQL %s\nwant SQL %s", c.cel, sql, c.sql)
		}
		if len(args) != 0 || len(c.args) != 0 {
			if !reflect.DeepEqual(args, c.args) {
				t.Errorf("%s\n got args %#v\nwant args %#v", c.cel, args, c.args)
			}
		}
	}
}

func TestPlaceholdersStartAtFirst(t *testing.T) {
	f, err := translate(t, model(), `lead.stage == "a" || lead.name == "b"`, nil)
	if err != nil {
		t.Fatal(err)
	}
	sql, args, err := f.Where(now, 4)
	if err != nil {
		t.Fatal(err)
	}
	if want := `(("stage" = $4::text) OR ("name" = $5::text))`; sql != want || len(args) != 2 {
		t.Errorf("got %s %v, want %s", sql, args, want)
	}
}

func TestUnsupportedNamesTheSubExpression(t *testing.T) {
	cases := []struct{ cel, expr, reason string }{
		{`lead.stage == "x" && lead.tags.exists_one(t, t == "a")`, `lead.tags.exists_one(t, t == "a")`, "exists_one"},
		{`lead.name.trim() == "x"`, `lead.name.trim()`, "trim"},
		{`lead.name.matches("(?i)new")`, `"(?i)new"`, "case"},
		{`lead.name.matches(lead.stage)`, `lead.name.matches(lead.stage)`, "fixed string"},
		{`lead.name == "a\x00"`, `"a\x00"`, "NUL"},
		{`lead.probability * 2.0 > 1.0`, `lead.probability * 2.0`, "overflow"},
		{`lead.created_at > timestamp("2024-01-01T00:00:00.0000005Z")`, `timestamp("2024-01-01T00:00:00.0000005Z")`, "sub-microsecond"},
		{`lead.score > 1 / 0`, `1 / 0`, "error"},
		{`segment.bad`, `segment.bad`, "lead.name.trim()"},
	}
	for _, c := range cases {
		_, err := translate(t, model(), c.cel, map[string]string{"bad": `lead.name.trim().lowerAscii() == ""`})
		var u *sqlgen.Unsupported
		if !errors.As(err, &u) {
			t.Errorf("%s: got %v, want *Unsupported", c.cel, err)
			continue
		}
		if u.Expr != c.expr || !strings.Contains(u.Error(), c.reason) {
			t.Errorf("%s: got %q (%s), want expr %q and a reason with %q", c.cel, u.Expr, u.Reason, c.expr, c.reason)
		}
	}
}

func TestNowDependentConstantFailsAtRender(t *testing.T) {
	f, err := translate(t, model(), `lead.created_at < now + duration("1us")`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Where(now.Add(500*time.Nanosecond), 1); err != nil {
		t.Fatalf("a now with nanoseconds is truncated, not refused: %v", err)
	}
	// Valid when translated (probed at 2024-01-01), past year 9999 at now.
	g, err := translate(t, model(), `lead.created_at < timestamp("9999-12-31T00:00:00Z") + (now - timestamp("2024-01-01T00:00:00Z"))`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.Where(now, 1); !errors.Is(err, sqlgen.ErrRender) {
		t.Fatalf("got %v, want ErrRender", err)
	}
}

func TestQuoteTable(t *testing.T) {
	for in, want := range map[string]string{
		"crm_lead":         `"crm_lead"`,
		"crm.lead":         `"crm"."lead"`,
		`x"; DROP TABLE y`: `"x""; DROP TABLE y"`,
	} {
		got, err := sqlgen.QuoteTable(in)
		if err != nil || got != want {
			t.Errorf("QuoteTable(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a.b.c", ".a", "a."} {
		if _, err := sqlgen.QuoteTable(bad); err == nil {
			t.Errorf("QuoteTable(%q) accepted", bad)
		}
	}
}

// TestExponentialSQLIsRefused: a modulo writes its dividend twice (the
// MinInt64 % -1 check and the mod), so 40 nested ones would write 2^40 copies.
// The render stops at the size bound, quickly, and reports ErrRender so the
// caller falls back.
func TestExponentialSQLIsRefused(t *testing.T) {
	f := nested40(t, " % 7")
	start := time.Now()
	_, _, err := f.Where(now, 1)
	if !errors.Is(err, sqlgen.ErrRender) {
		t.Fatalf("got %v, want ErrRender", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusing took %s", d)
	}
}

// TestNestedAdditionsStayLinear: an integer guard writes a long operand once
// (in a one-row subquery), so 40 nested additions render in size linear in
// the nesting. They used to double it at each level and hit the size bound.
func TestNestedAdditionsStayLinear(t *testing.T) {
	f := nested40(t, " + 1")
	sql, _, err := f.Where(now, 1)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(sql, `"score"`); n == 0 || n > 8 {
		t.Errorf("the column is written %d times, want a few:\n%.1000s", n, sql)
	}
	if len(sql) > 16<<10 {
		t.Errorf("%d bytes of SQL for 40 additions", len(sql))
	}
}

// nested40 translates "(((lead.score op) op) ...) > 0", op applied 40 times.
func nested40(t *testing.T, op string) *sqlgen.Filter {
	t.Helper()
	src := "lead.score"
	for i := 0; i < 40; i++ {
		src = "(" + src + op + ")"
	}
	f, err := translate(t, model(), src+" > 0", nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
