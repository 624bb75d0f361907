package sqlgen

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// Unsupported reports a sub-expression that has no exact SQL translation.
type Unsupported struct {
	Expr   string // the CEL sub-expression, as written back from the AST
	Reason string
}

func (u *Unsupported) Error() string {
	if u.Expr == "" {
		return u.Reason
	}
	return fmt.Sprintf("%s: %s", u.Expr, u.Reason)
}

// ErrRender wraps failures that only show at render time, when a sub-expression that
// depends on now yields a value SQL cannot carry exactly. Callers fall back to the
// in-process path for that evaluation.
var ErrRender = errors.New("cannot render filter as SQL")

// Filter is a translated filter, ready to be rendered for a given evaluation time.
// It is immutable and safe for concurrent use.
type Filter struct {
	root node
}

// Where renders the filter as a SQL boolean expression. Placeholders are numbered
// from first ($first, $first+1, …) and args holds their values in order. now is
// truncated to whole microseconds, the precision of Postgres timestamps.
func (f *Filter) Where(now time.Time, first int) (sql string, args []any, err error) {
	return f.WhereNotNull(now, first, nil)
}

// WhereNotNull is Where for a table whose catalog declares the columns in notNull
// (database column names) NOT NULL: their NULL guards and COALESCEs are left out,
// which keeps predicates index-friendly. Postgres enforces the constraint, so the
// answer is unchanged; pass a fresh reading of the catalog.
func (f *Filter) WhereNotNull(now time.Time, first int, notNull map[string]bool) (sql string, args []any, err error) {
	w := newWriter(now.Truncate(time.Microsecond), first)
	w.notNull = notNull
	f.root(w, false)
	if w.err != nil {
		return "", nil, w.err
	}
	return w.sb.String(), w.args, nil
}

// And combines filters; the result is TRUE only where all are.
func And(fs ...*Filter) *Filter {
	nodes := make([]node, len(fs))
	for i, f := range fs {
		nodes[i] = f.root
	}
	return &Filter{root: andNode(nodes...)}
}

// node renders a boolean fragment: E when neg is false, !E when neg is true. The
// fragment is TRUE exactly when CEL evaluates that expression to true.
type node func(w *writer, neg bool)

// vnode renders a value of a non-boolean type (or a boolean used as a value). It is
// never NULL except where CEL would yield an error.
type vnode func(w *writer)

func andNode(parts ...node) node {
	if len(parts) == 1 {
		return parts[0]
	}
	return func(w *writer, neg bool) {
		op := " AND "
		if neg {
			op = " OR " // De Morgan: !(a && b) == !a || !b
		}
		w.str("(")
		for i, p := range parts {
			if i > 0 {
				w.str(op)
			}
			w.n(p, neg)
		}
		w.str(")")
	}
}

func orNode(parts ...node) node {
	return func(w *writer, neg bool) {
		op := " OR "
		if neg {
			op = " AND "
		}
		w.str("(")
		for i, p := range parts {
			if i > 0 {
				w.str(op)
			}
			w.n(p, neg)
		}
		w.str(")")
	}
}

func notNode(n node) node { return func(w *writer, neg bool) { n(w, !neg) } }

// constant is a row-independent sub-expression. Its value comes from CEL itself:
// fixed at translation time when it does not read now, else computed per render.
type constant struct {
	expr string
	typ  *types.Type
	val  ref.Val
	prg  cel.Program
}

type paramKey struct {
	c    *constant
	part string
}

type writer struct {
	sb     bytes.Buffer
	args   []any
	first  int
	now    time.Time
	nowVal ref.Val
	vals   map[*constant]ref.Val
	slots  map[paramKey]int
	err    error
	// notNull holds the columns the table's catalog declares NOT NULL.
	notNull map[string]bool
}

// nullable reports whether col may hold NULL. A field workflows write may be
// cleared whatever the CRM's catalog declares.
func (w *writer) nullable(col *column) bool {
	return col.name == "" || col.written || !w.notNull[col.name]
}

func newWriter(now time.Time, first int) *writer {
	if first < 1 {
		first = 1
	}
	return &writer{
		first:  first,
		now:    now.UTC(),
		nowVal: types.Timestamp{Time: now.UTC()},
		vals:   map[*constant]ref.Val{},
		slots:  map[paramKey]int{},
	}
}

// maxSQLBytes bounds the rendered SQL. Guards render their operand more than
// once, so nested arithmetic can grow the text exponentially; past this size the
// filter is evaluated in process instead.
const maxSQLBytes = 256 << 10

func (w *writer) str(s string) {
	if w.err != nil {
		return
	}
	if w.sb.Len()+len(s) > maxSQLBytes {
		w.fail(fmt.Errorf("%w: the SQL would exceed %d KiB", ErrRender, maxSQLBytes>>10))
		return
	}
	w.sb.WriteString(s)
}

// render renders x and returns its text instead of writing it, so that the
// caller can write it more than once without rendering it (and binding its
// placeholders) again.
func (w *writer) render(x vnode) string {
	mark := w.sb.Len()
	w.v(x)
	if w.err != nil {
		return ""
	}
	s := string(w.sb.Bytes()[mark:])
	w.sb.Truncate(mark)
	return s
}

// n renders a boolean fragment unless rendering has already failed, which keeps a
// failed render from walking an exponentially large tree.
func (w *writer) n(p node, neg bool) {
	if w.err == nil {
		p(w, neg)
	}
}

// v renders a value fragment unless rendering has already failed.
func (w *writer) v(x vnode) {
	if w.err == nil {
		x(w)
	}
}

func (w *writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// value returns the constant's CEL value for this render, evaluating and checking
// it once. On failure it records the error and returns nil.
func (w *writer) value(c *constant) ref.Val {
	if v, ok := w.vals[c]; ok {
		return v
	}
	v := c.val
	if v == nil {
		out, _, err := c.prg.Eval(map[string]any{"now": w.nowVal})
		if err != nil {
			w.fail(fmt.Errorf("%w: %s fails to evaluate: %v", ErrRender, c.expr, err))
			w.vals[c] = nil
			return nil
		}
		if msg := checkValue(out); msg != "" {
			w.fail(fmt.Errorf("%w: %s %s", ErrRender, c.expr, msg))
			w.vals[c] = nil
			return nil
		}
		v = out
	}
	w.vals[c] = v
	return v
}

// param writes a placeholder bound to a value derived from constant c; part names
// the derivation so the same derived value reuses one placeholder.
func (w *writer) param(c *constant, part string, v any, sqlType string) {
	k := paramKey{c, part}
	n, ok := w.slots[k]
	if !ok {
		w.args = append(w.args, v)
		n = w.first + len(w.args) - 1
		w.slots[k] = n
	}
	w.str("$" + strconv.Itoa(n) + "::" + sqlType)
}

// scalarParam writes the placeholder of a scalar CEL value.
func (w *writer) scalarParam(c *constant, part string, v ref.Val) {
	gv, t, err := goParam(v)
	if err != nil {
		w.fail(fmt.Errorf("%w: %s: %v", ErrRender, c.expr, err))
		w.str("NULL")
		return
	}
	w.param(c, part, gv, t)
}

// goParam converts a CEL scalar to the Go value lib/pq binds and the SQL type the
// placeholder is cast to. Floats and durations go as text so that no precision is
// lost on the way (strconv's shortest round-trip form; whole microseconds).
func goParam(v ref.Val) (any, string, error) {
	switch x := v.(type) {
	case types.String:
		return string(x), "text", nil
	case types.Int:
		return int64(x), "bigint", nil
	case types.Bool:
		return bool(x), "boolean", nil
	case types.Double:
		return formatFloat(float64(x)), "float8", nil
	case types.Timestamp:
		return x.Time.UTC(), "timestamptz", nil
	case types.Duration:
		return strconv.FormatInt(x.Duration.Microseconds(), 10) + " microseconds", "interval", nil
	}
	return nil, "", fmt.Errorf("values of type %s cannot be bound as a parameter", v.Type().TypeName())
}

func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// checkValue returns why a constant's value cannot travel to Postgres exactly, or "".
func checkValue(v ref.Val) string {
	switch x := v.(type) {
	case *types.Err:
		return "evaluates to an error: " + x.String()
	case types.String:
		if strings.IndexByte(string(x), 0) >= 0 {
			return "contains a NUL character, which Postgres text cannot hold"
		}
	case types.Timestamp:
		if x.Time.Nanosecond()%1000 != 0 {
			return "has sub-microsecond precision, which Postgres timestamptz cannot hold"
		}
	case types.Duration:
		if x.Duration%time.Microsecond != 0 {
			return "has sub-microsecond precision, which Postgres interval cannot hold"
		}
	case traits.Lister:
		it := x.Iterator()
		for it.HasNext() == types.True {
			if msg := checkValue(it.Next()); msg != "" {
				return "has an element that " + msg
			}
		}
	}
	return ""
}

// sqlBool writes a fixed boolean literal.
func (w *writer) sqlBool(b bool) {
	if b {
		w.str("TRUE")
	} else {
		w.str("FALSE")
	}
}
