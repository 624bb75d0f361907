package sqlgen

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
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

// isConst reports whether e reads no row value: only literals, now, and variables
// bound by comprehensions inside e.
func (c *tctx) isConst(e celast.Expr, bound map[string]bool) bool {
	switch e.Kind() {
	case celast.LiteralKind:
		return true
	case celast.IdentKind:
		n := e.AsIdent()
		return n == celmodel.NowVar || bound[n]
	case celast.SelectKind:
		return c.isConst(e.AsSelect().Operand(), bound)
	case celast.CallKind:
		call := e.AsCall()
		if call.IsMemberFunction() && !c.isConst(call.Target(), bound) {
			return false
		}
		for _, a := range call.Args() {
			if !c.isConst(a, bound) {
				return false
			}
		}
		return true
	case celast.ListKind:
		for _, el := range e.AsList().Elements() {
			if !c.isConst(el, bound) {
				return false
			}
		}
		return true
	case celast.MapKind:
		for _, en := range e.AsMap().Entries() {
			me := en.AsMapEntry()
			if !c.isConst(me.Key(), bound) || !c.isConst(me.Value(), bound) {
				return false
			}
		}
		return true
	case celast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			if !c.isConst(f.AsStructField().Value(), bound) {
				return false
			}
		}
		return true
	case celast.ComprehensionKind:
		comp := e.AsComprehension()
		if !c.isConst(comp.IterRange(), bound) || !c.isConst(comp.AccuInit(), bound) {
			return false
		}
		inner := map[string]bool{comp.IterVar(): true, comp.AccuVar(): true}
		if comp.HasIterVar2() {
			inner[comp.IterVar2()] = true
		}
		for k := range bound {
			inner[k] = true
		}
		return c.isConst(comp.LoopCondition(), inner) && c.isConst(comp.LoopStep(), inner) && c.isConst(comp.Result(), inner)
	}
	return false
}

// constant makes a row-independent sub-expression into a parameter source.
func (c *tctx) constant(e celast.Expr) (texpr, error) {
	k := &constant{expr: c.text(e), typ: c.typeOf(e)}
	if e.Kind() == celast.LiteralKind {
		k.val = e.AsLiteral()
	} else {
		sub := celast.NewCheckedAST(celast.NewAST(e, c.ast.SourceInfo()), c.ast.TypeMap(), c.ast.ReferenceMap())
		prg, err := c.t.env.PlanProgram(sub)
		if err != nil {
			return texpr{}, c.unsupported(e, "cannot plan constant: %v", err)
		}
		k.prg = prg
		if !c.readsNow(e) {
			out, _, err := prg.Eval(map[string]any{})
			if err != nil {
				return texpr{}, c.unsupported(e, "evaluates to an error: %v", err)
			}
			k.val, k.prg = out, nil
		} else {
			// Probe with a representative time, so a constant that can never be
			// rendered is found now rather than on every evaluation.
			probe := types.Timestamp{Time: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
			out, _, err := prg.Eval(map[string]any{celmodel.NowVar: probe})
			if err != nil {
				return texpr{}, c.unsupported(e, "evaluates to an error: %v", err)
			}
			if msg := checkValue(out); msg != "" {
				return texpr{}, c.unsupported(e, "%s", msg)
			}
		}
	}
	if k.val != nil {
		if msg := checkValue(k.val); msg != "" {
			return texpr{}, c.unsupported(e, "%s", msg)
		}
	}
	return texpr{t: k.typ, con: k}, nil
}

func (c *tctx) readsNow(e celast.Expr) bool {
	found := false
	celast.PostOrderVisit(e, celast.NewExprVisitor(func(x celast.Expr) {
		if x.Kind() == celast.IdentKind && x.AsIdent() == celmodel.NowVar {
			found = true
		}
	}))
	return found
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

func scalarKind(k types.Kind) bool {
	switch k {
	case types.BoolKind, types.IntKind, types.DoubleKind, types.StringKind, types.TimestampKind:
		return true
	}
	return false
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

func (c *tctx) compare(e celast.Expr, op string, l, r texpr) (texpr, error) {
	lk, rk := l.t.Kind(), r.t.Kind()
	if lk != rk || !scalarKind(lk) {
		return texpr{}, c.unsupported(e, "comparison of %s with %s has no SQL translation", l.t, r.t)
	}
	if lk == types.BoolKind {
		return c.compareBool(e, op, l, r)
	}
	if x, ok := c.countCompare(op, l, r); ok {
		return x, nil
	}
	// A plain column against a constant compares the raw column, so indexes apply.
	if r.col != nil && l.con != nil {
		l, r, op = r, l, flipOp[op]
	}
	if l.col != nil && r.con != nil {
		return texpr{t: types.BoolType, pred: cmpColConst(l.col, op, r.con)}, nil
	}
	lv, rv := c.operand(l), c.operand(r)
	kind := lk
	// The NaN terms of a double comparison are not strict: guard them.
	strict := kind == types.DoubleKind && (l.mayErr || r.mayErr)
	return texpr{t: types.BoolType, pred: strictLeaf(strict, []vnode{lv, rv}, func(w *writer) {
		writeCompare(w, kind, op, lv, rv, true, true)
	})}, nil
}

// writeCompare writes "a op b" with CEL's semantics for the kind: bytewise string
// order, IEEE NaN for doubles (aNaN/bNaN say whether a side may be NaN).
func writeCompare(w *writer, kind types.Kind, op string, a, b vnode, aNaN, bNaN bool) {
	o := sqlOp[op]
	if kind == types.StringKind && op != operators.Equals && op != operators.NotEquals {
		w.str("(")
		w.v(a)
		w.str(` COLLATE "C" ` + o + " ")
		w.v(b)
		w.str(")")
		return
	}
	if kind != types.DoubleKind {
		w.str("(")
		w.v(a)
		w.str(" " + o + " ")
		w.v(b)
		w.str(")")
		return
	}
	// Postgres orders NaN above every number and makes it equal to itself; CEL
	// follows IEEE: every comparison with NaN is false except !=.
	w.str("(")
	w.v(a)
	w.str(" " + o + " ")
	w.v(b)
	nan := func(is bool) {
		if is {
			w.str(" = 'NaN'::float8")
		} else {
			w.str(" <> 'NaN'::float8")
		}
	}
	switch op {
	case operators.Equals, operators.Greater, operators.GreaterEquals:
		if aNaN {
			w.str(" AND ")
			w.v(a)
			nan(false)
		}
	case operators.NotEquals:
		if aNaN {
			w.str(" OR ")
			w.v(a)
			nan(true)
		}
	case operators.Less, operators.LessEquals:
		if bNaN {
			w.str(" AND ")
			w.v(b)
			nan(false)
		}
	}
	w.str(")")
}

func cmpColConst(col *column, op string, k *constant) node {
	return func(w *writer, neg bool) {
		v := w.value(k)
		if v == nil {
			w.str("NULL")
			return
		}
		zero := celCompare(op, col.zero, v)
		if d, ok := v.(types.Double); ok && math.IsNaN(float64(d)) {
			// Every value compares with NaN as the zero value does.
			w.sqlBool(zero != neg)
			return
		}
		w.raw(col, neg, zero, func() {
			writeCompare(w, col.kind, op, func(w *writer) { w.str(col.sql) },
				func(w *writer) { w.scalarParam(k, "", v) }, true, false)
		})
	}
}

// celCompare evaluates a comparison of two scalars of the same type as CEL does.
func celCompare(op string, a, b ref.Val) bool {
	if op == operators.Equals {
		return a.Equal(b) == types.True
	}
	if op == operators.NotEquals {
		return a.Equal(b) != types.True
	}
	if isNaN(a) || isNaN(b) {
		return false
	}
	cmp, ok := a.(traits.Comparer).Compare(b).(types.Int)
	if !ok {
		return false
	}
	switch op {
	case operators.Less:
		return cmp < 0
	case operators.LessEquals:
		return cmp <= 0
	case operators.Greater:
		return cmp > 0
	case operators.GreaterEquals:
		return cmp >= 0
	}
	return false
}

func isNaN(v ref.Val) bool {
	d, ok := v.(types.Double)
	return ok && math.IsNaN(float64(d))
}

func (c *tctx) compareBool(e celast.Expr, op string, l, r texpr) (texpr, error) {
	if op != operators.Equals && op != operators.NotEquals {
		return texpr{}, c.unsupported(e, "ordering of bools has no SQL translation")
	}
	// x == true is x, x == false is !x, when the constant is fixed.
	if l.con != nil && l.con.val != nil {
		l, r = r, l
	}
	if r.con != nil && r.con.val != nil {
		if b, ok := r.con.val.(types.Bool); ok {
			p := c.pred(l)
			if bool(b) != (op == operators.Equals) {
				p = notNode(p)
			}
			return texpr{t: types.BoolType, pred: p}, nil
		}
	}
	a, b := c.pred(l), c.pred(r)
	eq := func(w *writer, neg bool) {
		// (a && b) || (!a && !b): TRUE only when both sides are known and equal.
		w.str("((")
		w.n(a, false)
		w.str(" AND ")
		w.n(b, neg)
		w.str(") OR (")
		w.n(a, true)
		w.str(" AND ")
		w.n(b, !neg)
		w.str("))")
	}
	if op == operators.NotEquals {
		return texpr{t: types.BoolType, pred: notNode(eq)}, nil
	}
	return texpr{t: types.BoolType, pred: eq}, nil
}

func (c *tctx) in(e, le, re celast.Expr) (texpr, error) {
	l, err := c.expr(le)
	if err != nil {
		return texpr{}, err
	}
	r, err := c.expr(re)
	if err != nil {
		return texpr{}, err
	}
	if r.t.Kind() != types.ListKind {
		return texpr{}, c.unsupported(e, "membership in a %s has no SQL translation", r.t)
	}
	elemT := r.t.Parameters()[0]
	if elemT.Kind() != l.t.Kind() || !scalarKind(l.t.Kind()) {
		return texpr{}, c.unsupported(e, "membership of a %s in a %s has no SQL translation", l.t, r.t)
	}
	switch {
	case r.con != nil:
		return texpr{t: types.BoolType, pred: c.inConst(l, r.con)}, nil
	case r.elems != nil:
		// x in [a, b] is x == a || x == b, except that CEL builds the list first:
		// one failing element fails the whole test, where || would absorb it.
		var parts []node
		var guards []vnode
		for i, el := range r.elems {
			x, err := c.compare(re.AsList().Elements()[i], operators.Equals, l, el)
			if err != nil {
				return texpr{}, err
			}
			parts = append(parts, x.pred)
			if el.col == nil && el.con == nil {
				guards = append(guards, c.operand(el))
			}
		}
		if len(parts) == 0 {
			return texpr{t: types.BoolType, pred: func(w *writer, neg bool) { w.sqlBool(neg) }}, nil
		}
		or := orNode(parts...)
		if len(guards) == 0 {
			return texpr{t: types.BoolType, pred: or}, nil
		}
		return texpr{t: types.BoolType, pred: func(w *writer, neg bool) {
			w.str("(")
			w.n(or, neg)
			for _, g := range guards {
				w.str(" AND (")
				w.v(g)
				w.str(") IS NOT NULL")
			}
			w.str(")")
		}}, nil
	case r.col != nil && r.col.kind == types.ListKind:
		return texpr{t: types.BoolType, pred: c.inListColumn(l, r.col)}, nil
	}
	return texpr{}, c.unsupported(re, "only list literals and list fields have a SQL form")
}

// inConst renders x IN (constants…). NaN elements never match and are dropped.
func (c *tctx) inConst(l texpr, k *constant) node {
	lv := c.operand(l)
	return func(w *writer, neg bool) {
		v := w.value(k)
		list, ok := v.(traits.Lister)
		if !ok {
			w.str("NULL")
			return
		}
		var elems []ref.Val
		zero := false
		it := list.Iterator()
		for it.HasNext() == types.True {
			el := it.Next()
			if isNaN(el) {
				continue
			}
			elems = append(elems, el)
			if l.col != nil && celCompare(operators.Equals, l.col.zero, el) {
				zero = true
			}
		}
		if len(elems) == 0 {
			w.sqlBool(neg)
			return
		}
		w.overOperand(l.col, lv, neg, zero, func(x vnode) {
			w.str("(")
			w.v(x)
			w.str(" IN (")
			for i, el := range elems {
				if i > 0 {
					w.str(", ")
				}
				w.scalarParam(k, strconv.Itoa(i), el)
			}
			w.str("))")
		})
	}
}

// inListColumn renders x in <list field>. NULL lists read as empty lists and NULL
// elements as "".
func (c *tctx) inListColumn(l texpr, col *column) node {
	if l.con != nil {
		k := l.con
		return func(w *writer, neg bool) {
			v := w.value(k)
			s, ok := v.(types.String)
			if !ok {
				w.str("NULL")
				return
			}
			// @> lets a GIN index on the array column apply. It never matches NULL
			// elements, which read as "", hence the array_position term for "".
			w.raw(col, neg, false, func() {
				if s == "" {
					w.str("(" + col.sql + " @> ARRAY[''::text] OR array_position(" + col.sql + ", NULL) IS NOT NULL)")
					return
				}
				w.str("(" + col.sql + " @> ARRAY[")
				w.scalarParam(k, "", v)
				w.str("])")
			})
		}
	}
	lv := c.operand(l)
	return strictLeaf(l.mayErr, []vnode{lv}, func(w *writer) {
		arr := "COALESCE(" + col.sql + ", '{}'::text[])"
		w.str("(array_position(" + arr + ", ")
		w.v(lv)
		w.str(") IS NOT NULL OR (")
		w.v(lv)
		w.str(" = '' AND array_position(" + arr + ", NULL) IS NOT NULL))")
	})
}

func (c *tctx) size(e, target celast.Expr) (texpr, error) {
	x, err := c.expr(target)
	if err != nil {
		return texpr{}, err
	}
	switch {
	case x.t.Kind() == types.StringKind:
		v := c.operand(x)
		return texpr{t: types.IntType, mayErr: x.mayErr, val: func(w *writer) {
			w.str("char_length(")
			w.v(v)
			w.str(")")
		}}, nil
	case x.col != nil && x.col.kind == types.ListKind:
		col := x.col
		return texpr{t: types.IntType, val: func(w *writer) {
			w.str("COALESCE(cardinality(" + col.sql + "), 0)")
		}}, nil
	}
	return texpr{}, c.unsupported(e, "size of a %s has no SQL translation", x.t)
}

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func (c *tctx) stringFunc(e celast.Expr, fn string, recvE, argE celast.Expr) (texpr, error) {
	recv, err := c.expr(recvE)
	if err != nil {
		return texpr{}, err
	}
	arg, err := c.expr(argE)
	if err != nil {
		return texpr{}, err
	}
	if recv.t.Kind() != types.StringKind || arg.t.Kind() != types.StringKind {
		return texpr{}, c.unsupported(e, "%s over %s has no SQL translation", fn, recv.t)
	}
	if fn == "matches" {
		return c.matches(e, recv, arg, argE)
	}
	if arg.con != nil {
		k := arg.con
		pattern := func(s string) string {
			switch fn {
			case "startsWith":
				return likeEscape(s) + "%"
			case "endsWith":
				return "%" + likeEscape(s)
			}
			return "%" + likeEscape(s) + "%"
		}
		recvV := c.operand(recv)
		col := recv.col
		return texpr{t: types.BoolType, pred: func(w *writer, neg bool) {
			v := w.value(k)
			s, ok := v.(types.String)
			if !ok {
				w.str("NULL")
				return
			}
			// "" starts with, ends with and contains only "".
			w.overOperand(col, recvV, neg, s == "", func(x vnode) {
				w.str("(")
				w.v(x)
				w.str(" LIKE ")
				w.param(k, "like:"+fn, pattern(string(s)), "text")
				w.str(")")
			})
		}}, nil
	}
	a, b := c.operand(recv), c.operand(arg)
	return texpr{t: types.BoolType, pred: leaf(func(w *writer) {
		switch fn {
		case "startsWith":
			w.str("starts_with(")
			w.v(a)
			w.str(", ")
			w.v(b)
			w.str(")")
		case "endsWith":
			w.str("(right(")
			w.v(a)
			w.str(", char_length(")
			w.v(b)
			w.str(")) = ")
			w.v(b)
			w.str(")")
		default:
			w.str("(strpos(")
			w.v(a)
			w.str(", ")
			w.v(b)
			w.str(") > 0)")
		}
	})}, nil
}

func (c *tctx) matches(e celast.Expr, recv, arg texpr, argE celast.Expr) (texpr, error) {
	if arg.con == nil || arg.con.val == nil {
		return texpr{}, c.unsupported(e, "matches with a pattern that is not a fixed string has no SQL translation")
	}
	pat := string(arg.con.val.(types.String))
	pg, err := TranslateRegexp(pat)
	if err != nil {
		return texpr{}, c.unsupported(argE, "%v", err)
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return texpr{}, c.unsupported(argE, "invalid pattern: %v", err)
	}
	k := arg.con
	zero := re.MatchString("")
	recvV := c.operand(recv)
	col := recv.col
	return texpr{t: types.BoolType, pred: func(w *writer, neg bool) {
		w.overOperand(col, recvV, neg, zero, func(x vnode) {
			w.str("(")
			w.v(x)
			w.str(" ~ ")
			w.param(k, "regex", pg, "text")
			w.str(")")
		})
	}}, nil
}

// overOperand renders p, a predicate strict in its one row-dependent operand, for
// the polarity neg: over the raw column when the operand is a plain column (zero
// is p's value for the column's zero value, see raw), else over the operand's
// value x, whose NULL only ever stands for a CEL error.
func (w *writer) overOperand(col *column, x vnode, neg, zero bool, p func(x vnode)) {
	if col != nil {
		w.raw(col, neg, zero, func() { p(func(w *writer) { w.str(col.sql) }) })
		return
	}
	if neg {
		w.str("NOT ")
	}
	p(x)
}

const (
	minInt64SQL = "-9223372036854775808"
	maxInt64SQL = "9223372036854775807"
	// CEL timestamps are valid from year 1 to year 9999; Postgres holds
	// microseconds, so the last representable instant ends in .999999.
	minTimeSQL = "'0001-01-01 00:00:00+00'::timestamptz"
	maxTimeSQL = "'9999-12-31 23:59:59.999999+00'::timestamptz"
)

// guardInt renders an integer computed in numeric, NULL where CEL overflows.
func guardInt(r vnode) vnode {
	return func(w *writer) {
		w.str("CASE WHEN ")
		w.v(r)
		w.str(" BETWEEN " + minInt64SQL + " AND " + maxInt64SQL + " THEN (")
		w.v(r)
		w.str(")::bigint END")
	}
}

func guardTime(r vnode) vnode {
	return func(w *writer) {
		w.str("CASE WHEN ")
		w.v(r)
		w.str(" BETWEEN " + minTimeSQL + " AND " + maxTimeSQL + " THEN ")
		w.v(r)
		w.str(" END")
	}
}

func (c *tctx) arith(e celast.Expr, fn string, le, re celast.Expr) (texpr, error) {
	l, err := c.expr(le)
	if err != nil {
		return texpr{}, err
	}
	r, err := c.expr(re)
	if err != nil {
		return texpr{}, err
	}
	lk, rk := l.t.Kind(), r.t.Kind()
	a, b := c.operand(l), c.operand(r)
	mayErr := l.mayErr || r.mayErr
	switch {
	case lk == types.StringKind && rk == types.StringKind && fn == operators.Add:
		return texpr{t: types.StringType, mayErr: mayErr, val: func(w *writer) {
			w.str("(")
			w.v(a)
			w.str(" || ")
			w.v(b)
			w.str(")")
		}}, nil
	case lk == types.IntKind && rk == types.IntKind:
		num := func(w *writer, x vnode) {
			w.str("(")
			w.v(x)
			w.str(")::numeric")
		}
		var r vnode
		switch fn {
		case operators.Add, operators.Subtract, operators.Multiply:
			op := map[string]string{operators.Add: " + ", operators.Subtract: " - ", operators.Multiply: " * "}[fn]
			r = func(w *writer) {
				w.str("(")
				num(w, a)
				w.str(op)
				num(w, b)
				w.str(")")
			}
		case operators.Divide:
			// div truncates toward zero like Go; NULLIF turns x/0 into CEL's error.
			r = func(w *writer) {
				w.str("div(")
				num(w, a)
				w.str(", NULLIF(")
				num(w, b)
				w.str(", 0))")
			}
		case operators.Modulo:
			// mod keeps the dividend's sign like Go; CEL also fails on x % 0 and
			// on MinInt64 % -1.
			r = func(w *writer) {
				w.str("CASE WHEN ")
				w.v(b)
				w.str(" = 0 OR (")
				w.v(a)
				w.str(" = " + minInt64SQL + " AND ")
				w.v(b)
				w.str(" = -1) THEN NULL ELSE mod(")
				num(w, a)
				w.str(", ")
				num(w, b)
				w.str(") END")
			}
		}
		return texpr{t: types.IntType, mayErr: true, val: guardInt(r)}, nil
	case (lk == types.TimestampKind && rk == types.DurationKind && (fn == operators.Add || fn == operators.Subtract)) ||
		(lk == types.DurationKind && rk == types.TimestampKind && fn == operators.Add):
		op := " + "
		if fn == operators.Subtract {
			op = " - "
		}
		r := func(w *writer) {
			w.str("(")
			w.v(a)
			w.str(op)
			w.v(b)
			w.str(")")
		}
		return texpr{t: types.TimestampType, mayErr: true, val: guardTime(r)}, nil
	case lk == types.DoubleKind:
		return texpr{}, c.unsupported(e, "double arithmetic has no exact SQL form (Postgres raises an error on overflow where CEL yields infinity)")
	}
	return texpr{}, c.unsupported(e, "%s over %s and %s has no SQL translation", displayName(fn), l.t, r.t)
}

func (c *tctx) negate(e, ae celast.Expr) (texpr, error) {
	x, err := c.expr(ae)
	if err != nil {
		return texpr{}, err
	}
	v := c.operand(x)
	switch x.t.Kind() {
	case types.IntKind:
		return texpr{t: types.IntType, mayErr: true, val: guardInt(func(w *writer) {
			w.str("(-(")
			w.v(v)
			w.str(")::numeric)")
		})}, nil
	case types.DoubleKind:
		return texpr{t: types.DoubleType, mayErr: x.mayErr, val: func(w *writer) {
			w.str("(-")
			w.v(v)
			w.str(")")
		}}, nil
	}
	return texpr{}, c.unsupported(e, "negation of %s has no SQL translation", x.t)
}

const (
	asciiUpper = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ'"
	asciiLower = "'abcdefghijklmnopqrstuvwxyz'"
)

// asciiCase maps ASCII letters only, as CEL's lowerAscii and upperAscii do;
// Postgres' lower and upper would also fold other letters.
func (c *tctx) asciiCase(e celast.Expr, fn string, target celast.Expr) (texpr, error) {
	x, err := c.expr(target)
	if err != nil {
		return texpr{}, err
	}
	if x.t.Kind() != types.StringKind {
		return texpr{}, c.unsupported(e, "%s of %s has no SQL translation", fn, x.t)
	}
	v := c.operand(x)
	from, to := asciiUpper, asciiLower
	if fn == "upperAscii" {
		from, to = to, from
	}
	return texpr{t: types.StringType, mayErr: x.mayErr, val: func(w *writer) {
		w.str("translate(")
		w.v(v)
		w.str(", " + from + ", " + to + ")")
	}}, nil
}
