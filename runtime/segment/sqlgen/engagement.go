package sqlgen

import (
	"strconv"
	"time"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"

	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
)

// DefaultEventsTable is the runner's events table (runtime/store's migration
// 002_events.sql creates it).
const DefaultEventsTable = `"campaignctl"."events"`

// Aliases inside event subqueries. They are long and prefixed so that no CRM table
// name can capture them: the outer row is referenced by its full table name.
const (
	evAlias      = "campaignctl_ev"
	evCountAlias = "campaignctl_evc"
	evContact    = evAlias + ".contact_key"
)

// engagement translates an engagement predicate. The bool ones become EXISTS
// subqueries, which are two-valued, so negation is a plain NOT EXISTS and the
// planner can turn them into semi- and anti-joins. event_count is a correlated
// count; compared with a constant it becomes an EXISTS over the grouped events
// instead (see countCompare).
func (c *tctx) engagement(e celast.Expr, call celmodel.EngagementCall) (texpr, error) {
	if c.t.eventsTable == "" {
		return texpr{}, c.unsupported(e, "engagement predicates need the runner's events table")
	}
	switch call.Func {
	case celmodel.FuncClicked, celmodel.FuncOpened:
		return texpr{t: types.BoolType, pred: c.t.existsNode(call)}, nil
	case celmodel.FuncInactiveFor:
		return texpr{t: types.BoolType, pred: notNode(c.t.existsNode(call))}, nil
	case celmodel.FuncEventCount:
		cl := call
		return texpr{t: types.IntType, evc: &cl, val: func(w *writer) {
			w.str("(")
			c.t.selectEvents(w, "count(*)", call, true)
			w.str(")")
		}}, nil
	}
	return texpr{}, c.unsupported(e, "unknown engagement predicate %s", call.Func)
}

// existsNode is EXISTS (an event matching call for this row).
func (t *Translator) existsNode(call celmodel.EngagementCall) node {
	return func(w *writer, neg bool) {
		if neg {
			w.str("NOT ")
		}
		w.str("EXISTS (")
		t.selectEvents(w, "1", call, true)
		w.str(")")
	}
}

// selectEvents writes SELECT cols over the events that count for call, aliased
// evAlias: those of the model, of the type(s), campaign, step and topic, in the
// window (now-Within, now]. correlated keeps only the outer row's contact's.
// For opened, evAlias is a UNION ALL of the people's opens and clicks (see
// peopleByType) rather than the events table.
// Every engagement subquery and join goes through here, so the pushdown and the
// in-process path cannot drift apart on which events count.
func (t *Translator) selectEvents(w *writer, cols string, call celmodel.EngagementCall, correlated bool) {
	people, others := splitFlagged(call.Types())
	w.str("SELECT " + cols + " FROM ")
	// Only opened has several flagged types and no other: a call that mixed
	// them with other types would take the one-OR form below.
	byType := len(people) > 1 && len(others) == 0
	if byType {
		t.peopleByType(w, people)
	} else {
		w.str(t.eventsTable)
	}
	w.str(" AS " + evAlias + " WHERE ")
	col := func(name string) string { return evAlias + "." + name }
	w.str(col("model") + " = ")
	w.bind("model", t.model.Name, "text")
	if correlated {
		w.str(" AND " + col("contact_key") + " = " + t.outerKey)
	}
	switch {
	case byType:
		// The branches select the types.
	case len(people) == 0:
		w.str(" AND " + col("type"))
		bindTypes(w, others)
	case len(others) == 0:
		w.str(" AND " + peopleOnly(people[0]))
	default:
		// inactive_for: one OR, which reads properties for every row (no
		// index-only scan). On the benchmark data its plan, and the old one,
		// scan the window's partitions anyway, and it costs the same; a UNION
		// ALL of two index-only scans measured 15-30% slower.
		w.str(" AND (" + col("type"))
		bindTypes(w, others)
		for _, ty := range people {
			w.str(" OR (" + peopleOnly(ty) + ")")
		}
		w.str(")")
	}
	if call.Campaign != "" {
		w.str(" AND " + col("campaign") + " = ")
		w.bind("", call.Campaign, "text")
		if call.Step != "" {
			w.str(" AND " + col("step") + " = ")
			w.bind("", call.Step, "text")
		}
	}
	if call.Topic != "" {
		w.str(" AND " + col("topic") + " = ")
		w.bind("", call.Topic, "text")
	}
	w.str(" AND " + col("occurred_at") + " <= ")
	w.bind("now", w.now, "timestamptz")
	if call.Within > 0 {
		w.str(" AND " + col("occurred_at") + " > ")
		w.bind("from:"+call.Within.String(), w.now.Add(-call.Within), "timestamptz")
	}
}

// Opens and clicks a machine made — a privacy proxy's prefetch, a link
// scanner's click, a HEAD request — are stored with properties.machine = true
// (docs/sending.md) and are not engagement: a list behind Safe Links would look
// as if everyone clicked. flaggedTypes are the types the tracking endpoints
// flag; the other types are never flagged, and their SQL reads no property.
var flaggedTypes = map[string]bool{celmodel.EventOpen: true, celmodel.EventClick: true}

// splitFlagged splits types into the flagged ones (in the order given) and the
// others.
func splitFlagged(types []string) (flagged, others []string) {
	for _, ty := range types {
		if flaggedTypes[ty] {
			flagged = append(flagged, ty)
		} else {
			others = append(others, ty)
		}
	}
	return flagged, others
}

// peopleOnly is the condition for the events of type ty (a flagged one) that
// a person made, with the test runtime/store's queries use for machine events.
// The type is written as a literal, not bound: it is one of celmodel's
// constants, and with literals Postgres proves the predicate of the partial index
// events_open_click_people (migration 021) in any plan, generic ones included,
// where "type = $2" proves nothing; it then reads that index alone
// (index-only) instead of visiting the heap for properties.
func peopleOnly(ty string) string {
	return evAlias + ".type = '" + ty + "' AND coalesce(" + evAlias + ".properties->>'machine', '') <> 'true'"
}

// eventColumns are the columns of the events table that selectEvents reads
// outside the type conditions.
const eventColumns = "model, contact_key, type, campaign, step, topic, occurred_at"

// peopleByType writes, in place of the events table, the people's events of
// several flagged types (opened's open and click) as a UNION ALL of one
// branch per type. Written as one condition, type IN ('click', 'open') is the
// predicate of events_open_click_people itself: Postgres proves the predicate
// with it, then leaves it out of the index condition as implied, so the key
// (model, type, occurred_at) bounds nothing past model and the scan reads
// every human open and click of the model, in the window or not; generic
// plans preferred events_model_type_occurred_at and a heap visit per event.
// In a branch, type = 'click' stays in the index condition and the window
// bounds the scan. Postgres pulls the UNION ALL up and pushes the outer
// conditions (model, contact, campaign, window) into each branch, so EXISTS
// is still a semi- or anti-join and counts and joins read the same rows.
//
// Measured on TestPeopleEngagementReadsTheOpenClickIndex's table (120,000
// events over 40 days, vacuumed), opened(days(30)), shared buffers read in a
// custom / generic plan: type IN: 349 / 30,274; (type = 'click' OR type =
// 'open'): 349 / 1,965 (the OR is dropped as implied too in custom plans; a
// BitmapOr over this index, then the heap's pages, in generic ones); two
// EXISTS OR'ed: 290 / 290, but Postgres makes them hashed subplans tested per
// row instead of a semi-join, and they took three to four times as long as
// IN without a window; these branches: 280 / 280, the generic plan in about
// half IN's time, the custom one in IN's.
func (t *Translator) peopleByType(w *writer, types []string) {
	w.str("(")
	for i, ty := range types {
		if i > 0 {
			w.str(" UNION ALL ")
		}
		w.str("SELECT " + eventColumns + " FROM " + t.eventsTable + " AS " + evAlias + " WHERE " + peopleOnly(ty))
	}
	w.str(")")
}

// bindTypes writes " = $n" for one type or " IN ($n, …)" for several.
func bindTypes(w *writer, types []string) {
	if len(types) == 1 {
		w.str(" = ")
		w.bind("type:"+types[0], types[0], "text")
		return
	}
	w.str(" IN (")
	for i, ty := range types {
		if i > 0 {
			w.str(", ")
		}
		w.bind("type:"+ty, ty, "text")
	}
	w.str(")")
}

// countAtLeast is EXISTS over the contacts with at least k matching events (k ≥ 1),
// written so that Postgres aggregates the events once and joins, rather than
// counting per row.
func (t *Translator) countAtLeast(call celmodel.EngagementCall, k int64, exact bool) node {
	return func(w *writer, neg bool) {
		if neg {
			w.str("NOT ")
		}
		w.str("EXISTS (SELECT 1 FROM (")
		t.selectEvents(w, evContact, call, false)
		op := " >= "
		if exact {
			op = " = "
		}
		w.str(" GROUP BY " + evContact + " HAVING count(*)" + op)
		w.bind("", k, "bigint")
		w.str(") AS " + evCountAlias + " WHERE " + evCountAlias + ".contact_key = " + t.outerKey + ")")
	}
}

// countCompare translates event_count(…) op k for an integer constant k, known at
// translation time, into EXISTS forms; ok is false for other comparisons, which
// take the general (correlated count) path.
func (c *tctx) countCompare(op string, l, r texpr) (texpr, bool) {
	if r.evc != nil && l.con != nil {
		l, r, op = r, l, flipOp[op]
	}
	if l.evc == nil || r.con == nil || r.con.val == nil {
		return texpr{}, false
	}
	kv, ok := r.con.val.(types.Int)
	if !ok {
		return texpr{}, false
	}
	k := int64(kv)
	call := *l.evc
	atLeast := func(n int64) node { // count >= n
		if n <= 0 {
			return func(w *writer, neg bool) { w.sqlBool(!neg) }
		}
		if n == 1 {
			return c.t.existsNode(call)
		}
		return c.t.countAtLeast(call, n, false)
	}
	var p node
	switch op {
	case operators.GreaterEquals:
		p = atLeast(k)
	case operators.Greater:
		if k == 1<<63-1 {
			return texpr{}, false
		}
		p = atLeast(k + 1)
	case operators.Less:
		p = notNode(atLeast(k))
	case operators.LessEquals:
		if k == 1<<63-1 {
			return texpr{}, false
		}
		p = notNode(atLeast(k + 1))
	case operators.Equals, operators.NotEquals:
		switch {
		case k < 0:
			p = func(w *writer, neg bool) { w.sqlBool(neg) }
		case k == 0:
			p = notNode(c.t.existsNode(call))
		default:
			p = c.t.countAtLeast(call, k, true)
		}
		if op == operators.NotEquals {
			p = notNode(p)
		}
	default:
		return texpr{}, false
	}
	return texpr{t: types.BoolType, pred: p}, true
}

// EngagementJoin renders the value of call for the rows of the model's table
// (named in the FROM clause without an alias) as a LEFT JOIN to add after that
// FROM clause and the select expression that reads it: a boolean for clicked,
// opened and inactive_for, a bigint for event_count. The joined relation holds one
// row per contact with matching events (DISTINCT, or grouped with the count), so
// the join keeps the table's rows one to one, and Postgres hashes it once rather
// than probing the events per row. alias names the joined relation; placeholders
// are numbered from first. The in-process path selects these, so CEL sees the
// answer the pushdown's EXISTS subqueries give.
func (t *Translator) EngagementJoin(call celmodel.EngagementCall, now time.Time, first int, alias string) (sel, join string, args []any) {
	w := newWriter(now.Truncate(time.Microsecond), first)
	key := alias + ".campaignctl_key"
	if call.Func == celmodel.FuncEventCount {
		w.str(" LEFT JOIN (")
		t.selectEvents(w, evContact+" AS campaignctl_key, count(*) AS campaignctl_n", call, false)
		w.str(" GROUP BY " + evContact + ")")
		sel = "COALESCE(" + alias + ".campaignctl_n, 0)"
	} else {
		w.str(" LEFT JOIN (")
		t.selectEvents(w, "DISTINCT "+evContact+" AS campaignctl_key", call, false)
		w.str(")")
		sel = "(" + key + " IS NOT NULL)"
		if call.Func == celmodel.FuncInactiveFor {
			sel = "(" + key + " IS NULL)"
		}
	}
	w.str(" AS " + alias + " ON " + key + " = " + t.outerKey)
	return sel, w.sb.String(), w.args
}

// bind writes a placeholder for a Go value; a non-empty key shares one placeholder
// between equal uses (the model name, now).
func (w *writer) bind(key string, v any, sqlType string) {
	k := paramKey{part: "bind:" + key}
	if key != "" {
		if n, ok := w.slots[k]; ok {
			w.str("$" + strconv.Itoa(n) + "::" + sqlType)
			return
		}
	}
	w.args = append(w.args, v)
	n := w.first + len(w.args) - 1
	if key != "" {
		w.slots[k] = n
	}
	w.str("$" + strconv.Itoa(n) + "::" + sqlType)
}
