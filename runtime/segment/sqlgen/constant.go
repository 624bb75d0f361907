package sqlgen

import (
	"time"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"

	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
)

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
