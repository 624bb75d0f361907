package schemas

import (
	"strconv"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
	"github.com/campaignctl/campaignctl/internal/suggest"
)

// This file reads the schemas themselves, for messages: the constraint at a
// path, the values an enum allows, the name closest to a typo.

// lookup finds the value at a JSON path. In a schema (anyIndex) a list index
// stands for any element: the list is unified with a one-element list of top,
// which yields the element's schema (a plain AnyIndex lookup does not see
// through a list with a validator such as list.MinItems). Every list in the
// schemas is `[...T]`, so element 0 speaks for all. Optional and required
// fields count.
func (ev *evaluator) lookup(v cue.Value, path []string, anyIndex bool) cue.Value {
	if !v.Exists() {
		return v
	}
	cur := v
	for _, p := range path {
		var next cue.Value
		if isDigits(p) {
			n, err := strconv.Atoi(p)
			if err != nil {
				return cue.Value{}
			}
			if anyIndex {
				cur, n = cur.Unify(ev.ctx.CompileString("[_]")), 0
			}
			next = cur.LookupPath(cue.MakePath(cue.Index(n)))
		} else {
			for _, sel := range []cue.Selector{cue.Str(p), cue.Str(p).Optional(), cue.Str(p).Required()} {
				if next = cur.LookupPath(cue.MakePath(sel)); next.Exists() {
					break
				}
			}
		}
		if !next.Exists() {
			return next
		}
		cur = next
	}
	return cur
}

// allowedValues lists the strings an enum-like schema value accepts ("a" | "b",
// with or without a default, possibly narrowed by a conjunction), or nil when
// the value is not such an enum. It reads the candidates off the value's syntax
// and keeps those that unify, so it does not depend on how the syntax is
// arranged. A pattern or a bound anywhere in it, or a value that accepts a
// string no enum would list, means "not an enum".
func (ev *evaluator) allowedValues(v cue.Value) []string {
	if !v.Exists() || v.IncompleteKind() != cue.StringKind {
		return nil
	}
	if s, err := v.String(); err == nil && v.IsConcrete() {
		return []string{s}
	}
	var candidates []string
	open := false
	ast.Walk(v.Syntax(), func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.UnaryExpr:
			switch x.Op {
			case token.MAT, token.NMAT, token.LSS, token.GTR, token.LEQ, token.GEQ, token.NEQ:
				open = true
			}
		case *ast.BasicLit:
			if x.Kind == token.STRING {
				if s, err := strconv.Unquote(x.Value); err == nil {
					candidates = append(candidates, s)
				}
			}
		case *ast.CallExpr:
			open = true
		}
		return !open
	}, nil)
	if open || v.Unify(ev.ctx.Encode("\x00not an enum value")).Err() == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, c := range candidates {
		if seen[c] {
			continue
		}
		seen[c] = true
		if v.Unify(ev.ctx.Encode(c)).Err() == nil {
			out = append(out, c)
		}
	}
	return out
}

// nearest returns the candidate closest to s when it is close enough to be a
// typo, else "": the rule every message of campaignctl uses (internal/suggest).
func nearest(s string, candidates []string) string { return suggest.Closest(s, candidates) }
