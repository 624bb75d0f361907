package sqlgen

import (
	"strconv"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// comprehension translates the exists and all macros over a list(string) field:
// lead.tags.exists(t, t.startsWith("vip")) becomes an EXISTS over unnest(tags).
// The macros are recognized by the shape cel-go expands them to (a bool
// accumulator folded with || or &&), not by name, so what is translated is what
// the program evaluates. Other macros (map, filter, exists_one) and other ranges
// stay in process.
//
// The element variable is a column of the unnested array: NULL elements read as
// "" through the same guards as a NULL column. CEL absorbs a failing element in
// exists when another element is true, and in all when another is false; so each
// form below is TRUE exactly when CEL's answer is true:
//
//	exists  EXISTS (… WHERE p)              !exists  NOT EXISTS (… WHERE (!p) IS NOT TRUE)
//	all     NOT EXISTS (… WHERE p IS NOT TRUE)  !all  EXISTS (… WHERE !p)
//
// An empty or NULL list has no rows: exists is false and all is true, as in CEL.
func (c *tctx) comprehension(e celast.Expr) (texpr, error) {
	comp := e.AsComprehension()
	isExists, ok := c.boolFold(comp)
	if !ok {
		return texpr{}, c.unsupported(e, "macros over row values other than exists and all (map, filter, exists_one) have no SQL translation")
	}
	rng, err := c.expr(comp.IterRange())
	if err != nil {
		return texpr{}, err
	}
	if rng.col == nil || rng.col.kind != types.ListKind {
		return texpr{}, c.unsupported(e, "exists and all translate only over a list field of the model")
	}
	c.depth++
	defer func() { c.depth-- }()
	alias := "campaignctl_u" + strconv.Itoa(c.depth)
	elem := &column{sql: alias + ".campaignctl_v", kind: types.StringKind, zero: types.String(""), zeroSQL: "''"}
	if c.bound == nil {
		c.bound = map[string]*column{}
	}
	prev, shadowed := c.bound[comp.IterVar()]
	c.bound[comp.IterVar()] = elem
	defer func() {
		if shadowed {
			c.bound[comp.IterVar()] = prev
		} else {
			delete(c.bound, comp.IterVar())
		}
	}()
	px, err := c.expr(comp.LoopStep().AsCall().Args()[1])
	if err != nil {
		return texpr{}, err
	}
	p := c.pred(px)
	from := "(SELECT 1 FROM unnest(" + rng.col.sql + ") AS " + alias + "(campaignctl_v) WHERE "
	return texpr{t: types.BoolType, pred: func(w *writer, neg bool) {
		// some: does an element satisfy p (for polarity pneg)? every: do all?
		some := func(pneg bool) {
			w.str("EXISTS " + from)
			w.n(p, pneg)
			w.str(")")
		}
		every := func(pneg bool) {
			w.str("NOT EXISTS " + from + "(")
			w.n(p, pneg)
			w.str(") IS NOT TRUE)")
		}
		switch {
		case isExists && !neg:
			some(false)
		case isExists && neg:
			every(true)
		case !neg:
			every(false)
		default:
			some(true)
		}
	}}, nil
}

// boolFold reports whether comp is the expansion of exists (true) or all (false):
// a bool accumulator, starting false and folded with ||, or starting true and
// folded with &&, whose result is the accumulator.
func (c *tctx) boolFold(comp celast.ComprehensionExpr) (isExists, ok bool) {
	if comp.HasIterVar2() {
		return false, false
	}
	init := comp.AccuInit()
	if init.Kind() != celast.LiteralKind {
		return false, false
	}
	start, isBool := init.AsLiteral().(types.Bool)
	if !isBool {
		return false, false
	}
	res, step := comp.Result(), comp.LoopStep()
	if res.Kind() != celast.IdentKind || res.AsIdent() != comp.AccuVar() || step.Kind() != celast.CallKind {
		return false, false
	}
	call := step.AsCall()
	args := call.Args()
	if len(args) != 2 || args[0].Kind() != celast.IdentKind || args[0].AsIdent() != comp.AccuVar() {
		return false, false
	}
	switch {
	case call.FunctionName() == operators.LogicalOr && !bool(start):
		return true, true
	case call.FunctionName() == operators.LogicalAnd && bool(start):
		return false, true
	}
	return false, false
}
