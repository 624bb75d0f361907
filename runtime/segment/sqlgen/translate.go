package sqlgen

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
)

// Translator translates the filters of one model. It is safe for concurrent use
// once built, provided the Segments resolver is.
type Translator struct {
	env   *cel.Env
	model *plan.Model
	cols  map[string]*column
	// eventsTable is the quoted events table engagement predicates read, and
	// outerKey the model's key of the outer row as text, qualified by the table.
	eventsTable string
	outerKey    string
	// Segments returns the translated filter of another segment of the same model,
	// including that segment's own default-filter rule. It is called during
	// Translate for every segment.<name> the filter mentions.
	Segments func(name string) (*Filter, error)
}

// column is a model field as SQL sees it.
type column struct {
	field   plan.Field
	name    string // database column, unquoted; "" for a macro's element
	sql     string // quoted identifier
	kind    types.Kind
	zero    ref.Val
	zeroSQL string
	// written: sql reads what workflows wrote over the CRM's column (Overlay).
	written bool
}

// NewTranslator prepares the translation of filters over model m, type-checked in
// env (celmodel.Env of the same model).
func NewTranslator(env *cel.Env, m *plan.Model) (*Translator, error) {
	t := &Translator{env: env, model: m, cols: map[string]*column{}, eventsTable: DefaultEventsTable}
	if table, err := QuoteTable(m.Table); err == nil && m.Key != "" {
		t.outerKey = "(" + table + "." + pq.QuoteIdentifier(m.Key) + ")::text"
	} else {
		t.eventsTable = "" // no way to correlate: engagement predicates stay in process
	}
	for _, f := range m.Fields {
		// Every column is treated as possibly NULL: a declaration in git cannot
		// promise what the CRM's table holds, and trusting a wrong one silently
		// drops contacts under negation (NOT (stage IN …) over a NULL stage).
		c := &column{field: f, name: ColumnName(f), sql: pq.QuoteIdentifier(ColumnName(f))}
		switch f.Type {
		case plan.TypeString:
			c.kind, c.zero, c.zeroSQL = types.StringKind, types.String(""), "''"
		case plan.TypeInt:
			c.kind, c.zero, c.zeroSQL = types.IntKind, types.Int(0), "0"
		case plan.TypeFloat:
			c.kind, c.zero, c.zeroSQL = types.DoubleKind, types.Double(0), "0::float8"
		case plan.TypeBool:
			c.kind, c.zero, c.zeroSQL = types.BoolKind, types.False, "FALSE"
		case plan.TypeTimestamp:
			c.kind, c.zero, c.zeroSQL = types.TimestampKind, types.Timestamp{Time: time.Unix(0, 0).UTC()}, "'1970-01-01 00:00:00+00'::timestamptz"
		case plan.TypeStringList:
			c.kind, c.zero, c.zeroSQL = types.ListKind, types.NewStringList(types.DefaultTypeAdapter, nil), "'{}'::text[]"
		default:
			return nil, fmt.Errorf("model %s field %s: unknown type %q", m.Name, f.Name, f.Type)
		}
		t.cols[f.Name] = c
	}
	return t, nil
}

// ColumnName is the database column of a field (Column, or Name when unset).
func ColumnName(f plan.Field) string {
	if f.Column != "" {
		return f.Column
	}
	return f.Name
}

// QuoteTable quotes a model's table, "name" or "schema.name".
func QuoteTable(table string) (string, error) {
	parts := strings.Split(table, ".")
	if len(parts) > 2 || table == "" {
		return "", fmt.Errorf("table %q: want name or schema.name", table)
	}
	for i, p := range parts {
		if p == "" {
			return "", fmt.Errorf("table %q: want name or schema.name", table)
		}
		parts[i] = pq.QuoteIdentifier(p)
	}
	return strings.Join(parts, "."), nil
}

// Translate translates a checked filter. It returns *Unsupported when a
// sub-expression has no exact SQL form.
func (t *Translator) Translate(checked *cel.Ast) (*Filter, error) {
	if checked == nil || !checked.IsChecked() {
		return nil, fmt.Errorf("sqlgen: filter is not type-checked")
	}
	a := checked.NativeRep()
	c := &tctx{t: t, ast: a}
	x, err := c.expr(a.Expr())
	if err != nil {
		return nil, err
	}
	if x.t.Kind() != types.BoolKind {
		return nil, &Unsupported{Expr: c.text(a.Expr()), Reason: "a filter must be a bool expression"}
	}
	return &Filter{root: c.pred(x)}, nil
}

// TranslatePartial translates what it can of a filter that Translate refuses:
// the conjunction of the top-level && operands that translate, or nil when none
// does. Every row the filter accepts satisfies the result, so a caller can use it
// to narrow the rows it evaluates in process; it must still evaluate the whole
// filter on them.
func (t *Translator) TranslatePartial(checked *cel.Ast) *Filter {
	if checked == nil || !checked.IsChecked() {
		return nil
	}
	a := checked.NativeRep()
	c := &tctx{t: t, ast: a}
	var parts []node
	for _, e := range c.flatten(a.Expr(), operators.LogicalAnd) {
		x, err := c.expr(e)
		if err != nil || x.t.Kind() != types.BoolKind {
			continue
		}
		parts = append(parts, c.pred(x))
	}
	if len(parts) == 0 {
		return nil
	}
	return &Filter{root: andNode(parts...)}
}

// tctx is the state of one translation.
type tctx struct {
	t   *Translator
	ast *celast.AST
	// bound holds the element variables of the exists/all macros being
	// translated, as columns of the unnested array; depth numbers their aliases.
	bound map[string]*column
	depth int
}

// texpr is a translated sub-expression: a constant, a plain column, a list literal,
// a boolean predicate or any other value.
type texpr struct {
	t      *types.Type
	con    *constant
	col    *column
	elems  []texpr // list literal with row-dependent elements
	pred   node
	val    vnode
	mayErr bool // SQL value may be NULL because CEL would fail
	// evc is the engagement call when the value is an event_count.
	evc *celmodel.EngagementCall
}

func (c *tctx) text(e celast.Expr) string {
	s, err := cel.ExprToString(e, c.ast.SourceInfo())
	if err != nil {
		return fmt.Sprintf("expression #%d", e.ID())
	}
	return s
}

func (c *tctx) unsupported(e celast.Expr, format string, args ...any) error {
	return &Unsupported{Expr: c.text(e), Reason: fmt.Sprintf(format, args...)}
}

func (c *tctx) typeOf(e celast.Expr) *types.Type { return c.ast.GetType(e.ID()) }

// expr translates one sub-expression.
func (c *tctx) expr(e celast.Expr) (texpr, error) {
	if c.isConst(e, nil) {
		return c.constant(e)
	}
	switch e.Kind() {
	case celast.IdentKind:
		name := e.AsIdent()
		if col, ok := c.bound[name]; ok {
			return texpr{t: c.typeOf(e), col: col}, nil
		}
		if seg, ok := strings.CutPrefix(name, celmodel.SegmentPrefix+"."); ok {
			return c.segmentRef(e, seg)
		}
		if name == c.t.model.Name {
			return texpr{}, c.unsupported(e, "the record as a whole has no SQL form; compare its fields")
		}
		return texpr{}, c.unsupported(e, "unknown variable")
	case celast.SelectKind:
		return c.selectField(e)
	case celast.CallKind:
		return c.call(e)
	case celast.ListKind:
		var elems []texpr
		for _, el := range e.AsList().Elements() {
			x, err := c.expr(el)
			if err != nil {
				return texpr{}, err
			}
			elems = append(elems, x)
		}
		if len(e.AsList().OptionalIndices()) > 0 {
			return texpr{}, c.unsupported(e, "optional list elements have no SQL form")
		}
		return texpr{t: c.typeOf(e), elems: elems}, nil
	case celast.ComprehensionKind:
		return c.comprehension(e)
	}
	return texpr{}, c.unsupported(e, "maps and messages have no SQL form")
}

func (c *tctx) segmentRef(e celast.Expr, name string) (texpr, error) {
	if c.t.Segments == nil {
		return texpr{}, c.unsupported(e, "segment references are not available here")
	}
	f, err := c.t.Segments(name)
	if err != nil {
		var u *Unsupported
		if errors.As(err, &u) {
			return texpr{}, &Unsupported{Expr: c.text(e), Reason: "the referenced segment cannot be pushed down (" + u.Error() + ")"}
		}
		return texpr{}, fmt.Errorf("segment.%s: %w", name, err)
	}
	return texpr{t: types.BoolType, pred: f.root}, nil
}

func (c *tctx) selectField(e celast.Expr) (texpr, error) {
	sel := e.AsSelect()
	op := sel.Operand()
	if op.Kind() != celast.IdentKind || op.AsIdent() != c.t.model.Name {
		return texpr{}, c.unsupported(e, "only fields of %s have a SQL form", c.t.model.Name)
	}
	col, ok := c.t.cols[sel.FieldName()]
	if !ok {
		return texpr{}, c.unsupported(e, "no such field")
	}
	if sel.IsTestOnly() {
		return texpr{t: types.BoolType, pred: hasNode(col)}, nil
	}
	return texpr{t: c.typeOf(e), col: col}, nil
}

func hasNode(col *column) node {
	return func(w *writer, neg bool) {
		if !w.nullable(col) {
			w.sqlBool(!neg)
			return
		}
		if neg {
			w.str(col.sql + " IS NULL")
		} else {
			w.str(col.sql + " IS NOT NULL")
		}
	}
}

// pred turns a bool-typed texpr into a predicate node.
func (c *tctx) pred(x texpr) node {
	switch {
	case x.pred != nil:
		return x.pred
	case x.col != nil:
		col := x.col
		return func(w *writer, neg bool) {
			w.raw(col, neg, false, func() { w.str(col.sql) })
		}
	case x.con != nil:
		k := x.con
		return func(w *writer, neg bool) {
			v := w.value(k)
			b, ok := v.(types.Bool)
			if !ok {
				w.str("NULL")
				return
			}
			w.sqlBool(bool(b) != neg)
		}
	}
	v := x.val
	return leaf(func(w *writer) { w.str("("); v(w); w.str(")") })
}

// operand renders x as a value: columns read NULL as their zero value.
func (c *tctx) operand(x texpr) vnode {
	switch {
	case x.con != nil:
		k := x.con
		return func(w *writer) {
			v := w.value(k)
			if v == nil {
				w.str("NULL")
				return
			}
			w.scalarParam(k, "", v)
		}
	case x.col != nil:
		col := x.col
		return func(w *writer) {
			if !w.nullable(col) {
				w.str(col.sql)
				return
			}
			w.str("COALESCE(" + col.sql + ", " + col.zeroSQL + ")")
		}
	case x.pred != nil:
		p := x.pred
		// A boolean used as a value: NULL only where CEL fails.
		return func(w *writer) {
			w.str("CASE WHEN ")
			w.n(p, false)
			w.str(" THEN TRUE WHEN ")
			w.n(p, true)
			w.str(" THEN FALSE END")
		}
	}
	return x.val
}

// raw renders a predicate p over the raw (possibly NULL) column col, for the
// polarity neg. p must be strict in the column (NULL in, NULL out) and two-valued
// otherwise. zero is what CEL says the un-negated predicate is when the column
// holds its zero value, i.e. is NULL.
func (w *writer) raw(col *column, neg, zero bool, p func()) {
	// A NULL row matches exactly when CEL's answer for the zero value, after
	// negation, is true; only then does the predicate need the IS NULL guard.
	nullRowMatches := zero != neg && w.nullable(col)
	if nullRowMatches {
		w.str("(")
	}
	if neg {
		w.str("NOT (")
		p()
		w.str(")")
	} else {
		p()
	}
	if nullRowMatches {
		w.str(" OR " + col.sql + " IS NULL)")
	}
}

// leaf makes a predicate over non-NULL operands (NULL only where CEL fails) into a
// node; negation is a plain NOT, which keeps NULL NULL.
func leaf(p func(w *writer)) node {
	return func(w *writer, neg bool) {
		if neg {
			w.str("NOT ")
		}
		w.v(p)
	}
}

// strictLeaf is leaf for a predicate whose SQL is not strict in its operands
// (NULL in can give TRUE or FALSE out): when an operand may be NULL because CEL
// fails, a CASE makes the whole predicate NULL first.
func strictLeaf(guard bool, operands []vnode, p func(w *writer)) node {
	if !guard {
		return leaf(p)
	}
	return leaf(func(w *writer) {
		w.str("(CASE WHEN ")
		for i, o := range operands {
			if i > 0 {
				w.str(" OR ")
			}
			w.str("(")
			w.v(o)
			w.str(") IS NULL")
		}
		w.str(" THEN NULL ELSE ")
		w.v(p)
		w.str(" END)")
	})
}

func (c *tctx) call(e celast.Expr) (texpr, error) {
	if ec, ok, err := celmodel.ParseEngagementCall(e, c.t.model.Name); ok {
		if err != nil {
			return texpr{}, c.unsupported(e, "%v", err)
		}
		return c.engagement(e, ec)
	}
	call := e.AsCall()
	fn := call.FunctionName()
	args := call.Args()
	switch fn {
	case operators.LogicalAnd, operators.LogicalOr:
		var parts []node
		for _, a := range c.flatten(e, fn) {
			x, err := c.expr(a)
			if err != nil {
				return texpr{}, err
			}
			parts = append(parts, c.pred(x))
		}
		if fn == operators.LogicalAnd {
			return texpr{t: types.BoolType, pred: andNode(parts...)}, nil
		}
		return texpr{t: types.BoolType, pred: orNode(parts...)}, nil
	case operators.LogicalNot:
		x, err := c.expr(args[0])
		if err != nil {
			return texpr{}, err
		}
		return texpr{t: types.BoolType, pred: notNode(c.pred(x))}, nil
	case operators.Conditional:
		return c.conditional(e, args)
	case operators.Equals, operators.NotEquals, operators.Less, operators.LessEquals,
		operators.Greater, operators.GreaterEquals:
		l, err := c.expr(args[0])
		if err != nil {
			return texpr{}, err
		}
		r, err := c.expr(args[1])
		if err != nil {
			return texpr{}, err
		}
		return c.compare(e, fn, l, r)
	case operators.In:
		return c.in(e, args[0], args[1])
	case "size":
		target := call.Target()
		if !call.IsMemberFunction() {
			target = args[0]
		}
		return c.size(e, target)
	case "startsWith", "endsWith", "contains", "matches":
		var recv, arg celast.Expr
		switch {
		case call.IsMemberFunction() && len(args) == 1:
			recv, arg = call.Target(), args[0]
		case !call.IsMemberFunction() && len(args) == 2 && fn == "matches":
			recv, arg = args[0], args[1]
		default:
			return texpr{}, c.unsupported(e, "unexpected form of %s", fn)
		}
		return c.stringFunc(e, fn, recv, arg)
	case operators.Add, operators.Subtract, operators.Multiply, operators.Divide, operators.Modulo:
		return c.arith(e, fn, args[0], args[1])
	case operators.Negate:
		return c.negate(e, args[0])
	case "lowerAscii", "upperAscii":
		if !call.IsMemberFunction() || len(args) != 0 {
			return texpr{}, c.unsupported(e, "unexpected form of %s", fn)
		}
		return c.asciiCase(e, fn, call.Target())
	}
	return texpr{}, c.unsupported(e, "function %s has no SQL translation", displayName(fn))
}

func displayName(fn string) string {
	if d, ok := operators.FindReverse(fn); ok && d != "" {
		return d
	}
	return fn
}

// flatten collects the operands of a chain of the same logical operator.
func (c *tctx) flatten(e celast.Expr, fn string) []celast.Expr {
	if e.Kind() == celast.CallKind && e.AsCall().FunctionName() == fn && !c.isConst(e, nil) {
		var out []celast.Expr
		for _, a := range e.AsCall().Args() {
			out = append(out, c.flatten(a, fn)...)
		}
		return out
	}
	return []celast.Expr{e}
}

func (c *tctx) conditional(e celast.Expr, args []celast.Expr) (texpr, error) {
	cond, err := c.expr(args[0])
	if err != nil {
		return texpr{}, err
	}
	a, err := c.expr(args[1])
	if err != nil {
		return texpr{}, err
	}
	b, err := c.expr(args[2])
	if err != nil {
		return texpr{}, err
	}
	cp := c.pred(cond)
	t := c.typeOf(e)
	if t.Kind() == types.BoolKind {
		ap, bp := c.pred(a), c.pred(b)
		// WHEN !c rather than ELSE: a failing condition must select neither branch.
		return texpr{t: t, pred: func(w *writer, neg bool) {
			w.str("CASE WHEN ")
			w.n(cp, false)
			w.str(" THEN ")
			w.n(ap, neg)
			w.str(" WHEN ")
			w.n(cp, true)
			w.str(" THEN ")
			w.n(bp, neg)
			w.str(" END")
		}}, nil
	}
	if !scalarKind(t.Kind()) {
		return texpr{}, c.unsupported(e, "a conditional of type %s has no SQL form", t)
	}
	av, bv := c.operand(a), c.operand(b)
	return texpr{t: t, mayErr: true, val: func(w *writer) {
		w.str("CASE WHEN ")
		w.n(cp, false)
		w.str(" THEN ")
		w.v(av)
		w.str(" WHEN ")
		w.n(cp, true)
		w.str(" THEN ")
		w.v(bv)
		w.str(" END")
	}}, nil
}

var flipOp = map[string]string{
	operators.Equals: operators.Equals, operators.NotEquals: operators.NotEquals,
	operators.Less: operators.Greater, operators.LessEquals: operators.GreaterEquals,
	operators.Greater: operators.Less, operators.GreaterEquals: operators.LessEquals,
}

var sqlOp = map[string]string{
	operators.Equals: "=", operators.NotEquals: "<>",
	operators.Less: "<", operators.LessEquals: "<=",
	operators.Greater: ">", operators.GreaterEquals: ">=",
}

const (
	minInt64SQL = "-9223372036854775808"
	maxInt64SQL = "9223372036854775807"
	// CEL timestamps are valid from year 1 to year 9999; Postgres holds
	// microseconds, so the last representable instant ends in .999999.
	minTimeSQL = "'0001-01-01 00:00:00+00'::timestamptz"
	maxTimeSQL = "'9999-12-31 23:59:59.999999+00'::timestamptz"
)

const (
	asciiUpper = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ'"
	asciiLower = "'abcdefghijklmnopqrstuvwxyz'"
)
