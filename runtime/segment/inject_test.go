package segment_test

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// hostile are strings that would change a query if they were ever spliced into SQL
// text instead of bound.
var hostile = []string{
	`'; DROP TABLE canary; --`,
	`" OR 1=1 --`,
	`') OR ('1'='1`,
	`$1`,
	`$$; DROP TABLE canary; $$`,
	`\'; DROP TABLE canary; --`,
	`%' OR '1'='1`,
	`_`,
	`E'\\x27'`,
	`*/ DROP TABLE canary; /*`,
	`"; DROP TABLE canary; --`,
	`:name`,
	`?`,
	"\\",
	"'\n; DROP TABLE canary;\n--",
}

// TestInjectionIsInert puts hostile strings in every value position of a filter and
// in every identifier the plan supplies (schema, table, key, email and field
// columns, segment names), and checks that each value matches as data, on both
// paths, and that the canary table survives.
func TestInjectionIsInert(t *testing.T) {
	db, _ := storetest.Open(t)
	ctx := context.Background()
	schema, table := `we"ird; DROP TABLE canary; --`, `lead'); DROP TABLE canary; --`
	cols := map[string]string{
		"key": `id"); DROP TABLE canary; --`, "email": `e'mail`, "stage": `st"age`, "tags": `ta gs; --`,
	}
	q := pq.QuoteIdentifier
	ddl := fmt.Sprintf(`CREATE TABLE canary (x int); INSERT INTO canary VALUES (1);
		CREATE SCHEMA %s; CREATE TABLE %s.%s (%s bigint PRIMARY KEY, %s text, %s text, %s text[])`,
		q(schema), q(schema), q(table), q(cols["key"]), q(cols["email"]), q(cols["stage"]), q(cols["tags"]))
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		t.Fatal(err)
	}
	for i, h := range hostile {
		if _, err := db.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s.%s VALUES ($1, $2, $3, $4)`, q(schema), q(table)),
			i+1, h, h, pq.Array([]string{h})); err != nil {
			t.Fatal(err)
		}
	}
	// One more row that every hostile OR 1=1 would drag in.
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s.%s VALUES (1000, 'x', 'x', '{x}')`, q(schema), q(table))); err != nil {
		t.Fatal(err)
	}

	m := plan.Model{Name: "lead", Table: schema + "." + table, Key: cols["key"], Email: cols["email"], Fields: []plan.Field{
		{Name: "stage", Column: cols["stage"], Type: plan.TypeString, Nullable: true},
		{Name: "tags", Column: cols["tags"], Type: plan.TypeStringList, Nullable: true},
	}}
	p := &plan.Plan{Models: []plan.Model{m}}
	type check struct {
		seg  string
		want []string
	}
	var checks []check
	for i, h := range hostile {
		lit := strconv.Quote(h)
		key := strconv.Itoa(i + 1)
		// Rows whose stage contains h: a prefix/suffix/contains test may match more
		// than the row itself (e.g. "\\" is inside other values).
		var contains, prefix []string
		for j, o := range hostile {
			if strings.Contains(o, h) {
				contains = append(contains, strconv.Itoa(j+1))
			}
			if strings.HasPrefix(o, h) {
				prefix = append(prefix, strconv.Itoa(j+1))
			}
		}
		segName := fmt.Sprintf(`s%d'); DROP TABLE canary; --`, i)
		filters := map[string][]string{
			`lead.stage == ` + lit:                                                   {key},
			`lead.stage in [` + lit + `, "nope"]`:                                    {key},
			lit + ` in lead.tags`:                                                    {key},
			`lead.stage.startsWith(` + lit + `)`:                                     prefix,
			`lead.stage.contains(` + lit + `)`:                                       contains,
			`lead.stage.matches(` + strconv.Quote("^"+regexp.QuoteMeta(h)+"$") + `)`: {key},
		}
		n := 0
		for f, want := range filters {
			name := fmt.Sprintf("%s_%d", segName, n)
			n++
			p.Segments = append(p.Segments, plan.Segment{Name: name, Model: "lead", Filter: f})
			checks = append(checks, check{seg: name, want: want})
		}
	}
	ev, err := segment.New(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		x, err := ev.Explain(c.seg, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if x.Path != segment.Pushdown {
			t.Errorf("%s: not pushed down: %s", c.seg, x.Reason)
		}
		for _, h := range hostile {
			if len(h) > 2 && strings.Contains(x.SQL, h) {
				t.Errorf("%s: value %q appears in the SQL text %s", c.seg, h, x.SQL)
			}
		}
		for _, e := range []*segment.Evaluator{ev, ev.ForcePath(segment.InProcess)} {
			var got []string
			path, err := e.Each(ctx, db, c.seg, testNow, 100, func(ms []segment.Match) error {
				for _, m := range ms {
					got = append(got, m.Key)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s (%s): %v", c.seg, path, err)
			}
			sort.Slice(got, func(i, j int) bool { return keyLess(got[i], got[j]) })
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s (%s): got keys %v, want %v", c.seg, path, got, c.want)
			}
		}
	}
	var canary int
	if err := db.GetContext(ctx, &canary, `SELECT count(*) FROM canary`); err != nil || canary != 1 {
		t.Fatalf("canary table damaged: %d rows, %v", canary, err)
	}
	var rows int
	if err := db.GetContext(ctx, &rows, fmt.Sprintf(`SELECT count(*) FROM %s.%s`, q(schema), q(table))); err != nil || rows != len(hostile)+1 {
		t.Fatalf("lead table damaged: %d rows, %v", rows, err)
	}
}
