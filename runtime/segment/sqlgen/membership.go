package sqlgen

import (
	"strconv"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

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
