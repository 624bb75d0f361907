package sqlgen

import (
	"math"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

func scalarKind(k types.Kind) bool {
	switch k {
	case types.BoolKind, types.IntKind, types.DoubleKind, types.StringKind, types.TimestampKind:
		return true
	}
	return false
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
