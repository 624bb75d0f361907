package sqlgen

import (
	"strings"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

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

// guardInt renders an integer computed in numeric, NULL where CEL overflows.
func guardInt(r vnode) vnode {
	return guard(r, minInt64SQL, maxInt64SQL, "(", ")::bigint")
}

func guardTime(r vnode) vnode {
	return guard(r, minTimeSQL, maxTimeSQL, "", "")
}

// guard renders r where it lies between lo and hi (cast by open and close),
// else NULL. A cheap r is written twice, in a CASE. An r that reads a subquery
// (an engagement count) or is long is computed once, in a one-row subquery
// that OFFSET 0 keeps the planner from inlining: written twice, nested
// arithmetic over event counts grew as 2^depth in text and in subqueries run
// per contact (a lead score adding three counts ran 15 of them).
func guard(r vnode, lo, hi, open, close string) vnode {
	return func(w *writer) {
		x := w.render(r)
		if w.err != nil {
			return
		}
		if len(x) <= cheapGuardBytes && !strings.Contains(x, "SELECT ") {
			w.str("CASE WHEN " + x + " BETWEEN " + lo + " AND " + hi + " THEN " + open + x + close + " END")
			return
		}
		const v = guardAlias + ".v"
		w.str("(SELECT CASE WHEN " + v + " BETWEEN " + lo + " AND " + hi + " THEN " + open + v + close +
			" END FROM (SELECT " + x + " AS v OFFSET 0) AS " + guardAlias + ")")
	}
}

const (
	// cheapGuardBytes is the longest operand a guard writes twice.
	cheapGuardBytes = 256
	// guardAlias names a guard's one-row subquery. It shadows nothing the
	// operand reads: the operand is rendered inside that subquery's own
	// SELECT, whose outer references skip it.
	guardAlias = "campaignctl_guard"
)

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
