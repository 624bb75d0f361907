package schemas

import (
	"strconv"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
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
// typo (at most 2 edits, and fewer than half of s), else "".
func nearest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if c == s {
			continue
		}
		if d := editDistance(s, c); d < bestD && d*2 < len(s) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance over bytes (names are
// ASCII): insertions, deletions, substitutions and swaps of two neighbours each
// cost 1, so "sned" is one edit from "send".
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
