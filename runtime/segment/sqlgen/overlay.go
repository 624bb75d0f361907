package sqlgen

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
)

// PropertiesTable is the runner's table of the properties workflows write
// (runtime/store's migration 005_workflows.sql creates it). Its primary key
// (model, contact_key, field) answers the joins below, for one contact by an
// index lookup, for a whole table as a hash join over one field's writes.
const PropertiesTable = `"campaignctl"."contact_properties"`

// Overlay makes the translator read each field in written (field names of the
// model) as workflows leave it: the value a set_property or assign_owner step
// stored in PropertiesTable for the row's contact, converted to the field's
// type, or NULL where a clear_property step cleared it; the CRM's column where
// no workflow wrote the field for that contact. Call it once, before
// translating; a field outside written keeps its plain column, so the SQL of
// a filter that reads none of them does not change.
//
// The field's value is
//
//	(CASE WHEN campaignctl_wN.campaignctl_k IS NOT NULL THEN <campaignctl_wN.campaignctl_v converted> ELSE "column" END)
//
// over the join OverlayJoins writes, which the query must add to its FROM
// item: one LEFT JOIN per written field it reads, on the properties table's
// primary key (model, contact_key, field). A join rather than a correlated
// subquery per reference: Postgres then plans a hash join over the field's
// writes or an index probe per row, whichever is cheaper, and estimates it as
// such, where a scalar subquery in every row's expression was estimated at
// millions and sent every whole-table query through JIT compilation (a second
// of it for 100,000 rows). Such a column is always treated as nullable: a
// cleared property is NULL whatever the CRM's catalog says. The conversion
// never raises an error for a value of the wrong form (one written under an
// earlier revision that gave the field another type): see convertSQL.
func (t *Translator) Overlay(written map[string]bool) error {
	if len(written) == 0 {
		return nil
	}
	if t.outerKey == "" {
		return fmt.Errorf("model %s: workflows write %s, but the model has no table and key to find what they wrote", t.model.Name, strings.Join(sortedKeys(written), ", "))
	}
	for _, name := range sortedKeys(written) {
		col, ok := t.cols[name]
		if !ok {
			return fmt.Errorf("model %s: workflows write field %q, which the model does not declare", t.model.Name, name)
		}
		alias := t.overlayAlias(name)
		found := alias + ".campaignctl_k IS NOT NULL"
		if col.field.Type == plan.TypeStringList {
			// Only clear_property can write a list field (the compiler
			// refuses set_property on one): any write reads as cleared.
			col.sql = "(CASE WHEN " + found + " THEN NULL::text[] ELSE " + col.sql + " END)"
		} else {
			col.sql = "(CASE WHEN " + found + " THEN " + convertSQL(col.field.Type, alias+".campaignctl_v") + " ELSE " + col.sql + " END)"
		}
		col.written = true
	}
	return nil
}

// overlayAlias names the join of a written field: campaignctl_w and the
// field's position in the model, so no two fields share one and none can
// capture a column of the model's table (its select list has only
// campaignctl_-prefixed columns).
func (t *Translator) overlayAlias(field string) string {
	for i, f := range t.model.Fields {
		if f.Name == field {
			return "campaignctl_w" + strconv.Itoa(i)
		}
	}
	return ""
}

// OverlayJoins returns the LEFT JOINs to append to the model's table for the
// fields (names) a filter reads: one per field Overlay made written, none
// for the others, so a filter reading no written field reads the table alone.
func (t *Translator) OverlayJoins(fields []string) string {
	var b strings.Builder
	for _, name := range fields {
		if !t.Written(name) {
			continue
		}
		alias := t.overlayAlias(name)
		b.WriteString(" LEFT JOIN (SELECT contact_key AS campaignctl_k, value AS campaignctl_v FROM " + PropertiesTable +
			" WHERE model = " + pq.QuoteLiteral(t.model.Name) + " AND field = " + pq.QuoteLiteral(name) + ") AS " + alias +
			" ON " + alias + ".campaignctl_k = " + t.outerKey)
	}
	return b.String()
}

// ColumnSQL returns the SQL expression a filter reads for field: its quoted
// column, or the overlay expression of a field workflows write (Overlay),
// which needs OverlayJoins. The in-process path selects it, so both paths
// read the same value.
func (t *Translator) ColumnSQL(field string) (string, bool) {
	col, ok := t.cols[field]
	if !ok {
		return "", false
	}
	return col.sql, true
}

// Written reports whether field reads what workflows wrote (Overlay).
func (t *Translator) Written(field string) bool {
	col, ok := t.cols[field]
	return ok && col.written
}

// convertSQL converts v, a property's text, to the SQL type of field type ft.
// The compiler accepts for set_property only values of the field's type, and
// the engine writes no other, so the forms below are what a step of the
// current plan writes; text of any other form (left by a revision that
// declared the field with another type, or typed in by hand) reads as NULL,
// like a cleared property, rather than failing the query: one contact's bad
// value must not fail a whole segment. The forms are plan's (property_value.go),
// which plan.PropertyValue tests in Go. Each CASE tests the form before any cast,
// and CASE evaluates its branches in order, so no cast sees text it would
// reject (v is a column, never a constant the planner could fold early):
//
//   - int: an optional sign and decimal digits, within int64;
//   - float: a decimal number, with an exponent of at most three digits, of
//     magnitude 0 or within float64's normal range; or inf or infinity with an
//     optional sign, or nan (any case);
//   - bool: the words strconv.ParseBool reads (1, t, T, TRUE, true, True, and
//     their false counterparts);
//   - timestamp: RFC 3339 (2026-12-03T10:00:00Z, with an optional fraction and
//     a Z or an offset within ±15:59), or a date or a date and time without an
//     offset, read as UTC; the date one that exists (no 2026-02-30, no
//     2023-02-29, no year 0).
//
// Ints and floats are at most plan.PropertyMaxNumberText characters long.
func convertSQL(ft plan.FieldType, v string) string {
	long := "length(" + v + ") > " + strconv.Itoa(plan.PropertyMaxNumberText)
	switch ft {
	case plan.TypeInt:
		return "CASE WHEN " + long + " OR " + v + " !~ '" + plan.PropertyIntForm + "' THEN NULL" +
			" WHEN " + v + "::numeric BETWEEN " + minInt64SQL + " AND " + maxInt64SQL + " THEN " + v + "::int8 END"
	case plan.TypeFloat:
		return "CASE WHEN " + v + " ~* '" + plan.PropertyFloatWordForm + "' THEN " + v + "::float8" +
			" WHEN " + long + " OR " + v + " !~ '" + plan.PropertyFloatForm + "' THEN NULL" +
			" WHEN abs(" + v + "::numeric) <= " + plan.PropertyMaxFloat + " AND (" + v + "::numeric = 0 OR abs(" + v + "::numeric) >= " + plan.PropertyMinNormalFloat + ")" +
			" THEN " + v + "::numeric::float8 END"
	case plan.TypeBool:
		return "CASE WHEN " + v + " IN (" + quoteAll(plan.PropertyTrueWords()) + ") THEN TRUE" +
			" WHEN " + v + " IN (" + quoteAll(plan.PropertyFalseWords()) + ") THEN FALSE END"
	case plan.TypeTimestamp:
		return "CASE WHEN " + v + " ~ '" + plan.PropertyTimestampForm + "' THEN " + v + "::timestamptz" +
			" WHEN " + v + " ~ '" + plan.PropertyLocalTimestampForm + "' THEN " + v + "::timestamp AT TIME ZONE 'UTC' END"
	}
	return v
}

func quoteAll(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = pq.QuoteLiteral(w)
	}
	return strings.Join(q, ", ")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DeclaredFields returns the fields of written (names) that m declares: the
// ones Overlay accepts. A workflow writing a field its model lacks (a
// hand-edited plan) is refused by the engine on its own, naming the field;
// segments read the others and need not fail with it.
func DeclaredFields(m *plan.Model, written map[string]bool) map[string]bool {
	declared := map[string]bool{}
	for _, f := range m.Fields {
		if written[f.Name] {
			declared[f.Name] = true
		}
	}
	return declared
}

// OverlayColumns returns, for the fields of m in written (the fields the
// plan's workflows write), the SQL expression a segment reads for each, by
// field name, and the joins the expressions need after m's table: for a
// caller that reads one contact's fields to show what its segments saw. A
// name m does not declare is left out, as segments leave it out.
func OverlayColumns(m *plan.Model, written map[string]bool) (map[string]string, string, error) {
	written = DeclaredFields(m, written)
	if len(written) == 0 {
		return nil, "", nil
	}
	env, err := celmodel.Env(m, nil)
	if err != nil {
		return nil, "", fmt.Errorf("model %s: %w", m.Name, err)
	}
	t, err := NewTranslator(env, m)
	if err != nil {
		return nil, "", err
	}
	if err := t.Overlay(written); err != nil {
		return nil, "", err
	}
	names := sortedKeys(written)
	cols := make(map[string]string, len(names))
	for _, n := range names {
		cols[n], _ = t.ColumnSQL(n)
	}
	return cols, t.OverlayJoins(names), nil
}
