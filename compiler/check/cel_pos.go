package check

import (
	"strings"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
)

// This file maps CEL's positions back to the source: rune and line/column
// offsets to bytes, the chain of selects an error names, the range of a call's
// argument, so a diagnostic underlines exactly what is wrong.

// chain is a dotted name as written: lead.stage, segment.x, or a lone identifier.
type chain struct {
	parts      []string
	start, end int // byte offsets in the expression
}

type walked struct {
	kinds  map[int64]ast.ExprKind
	chains map[int64]chain // by the id of the chain's root identifier
	root   map[int64]int64 // each identifier and selection in a chain → its root's id
	order  []int64         // chain roots in visiting order, for deterministic output
}

// chainAt returns the chain that the node id is part of.
func (w *walked) chainAt(id int64) (chain, bool) {
	root, ok := w.root[id]
	if !ok {
		return chain{}, false
	}
	ch, ok := w.chains[root]
	return ch, ok
}

// walkAST indexes the parsed expression: the kind of each node, and each
// maximal chain of selections on an identifier, keyed by the identifier's id
// (which is the id cel-go's "undeclared reference" errors carry).
func walkAST(a *cel.Ast, x *textIndex) *walked {
	w := &walked{kinds: map[int64]ast.ExprKind{}, chains: map[int64]chain{}, root: map[int64]int64{}}
	native := a.NativeRep()
	si := native.SourceInfo()
	ast.PreOrderVisit(native.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		w.kinds[e.ID()] = e.Kind()
		root, parts, ok := chainOf(e)
		if !ok {
			return
		}
		w.root[e.ID()] = root.ID()
		if _, done := w.chains[root.ID()]; done {
			return // pre-order: the longest chain on this root came first
		}
		r, _ := si.GetOffsetRange(root.ID())
		start := x.byteOfRune(int(r.Start))
		end := start + len(parts[0])
		if e.Kind() == ast.SelectKind {
			dot, _ := si.GetOffsetRange(e.ID())
			end = fieldEnd(x.text, x.byteOfRune(int(dot.Start)), parts[len(parts)-1])
		}
		if end < start || end > len(x.text) {
			end = start
		}
		w.chains[root.ID()] = chain{parts: parts, start: start, end: end}
		w.order = append(w.order, root.ID())
	}))
	return w
}

func chainOf(e ast.Expr) (root ast.Expr, parts []string, ok bool) {
	switch e.Kind() {
	case ast.IdentKind:
		return e, []string{e.AsIdent()}, true
	case ast.SelectKind:
		s := e.AsSelect()
		root, parts, ok := chainOf(s.Operand())
		if !ok {
			return nil, nil, false
		}
		return root, append(parts, s.FieldName()), true
	}
	return nil, nil, false
}

// fieldEnd returns the end of ".field" whose dot is at byte dot.
func fieldEnd(text string, dot int, field string) int {
	i := dot
	if i < len(text) && text[i] == '.' {
		i++
	}
	for i < len(text) && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r') {
		i++
	}
	if strings.HasPrefix(text[min(i, len(text)):], field) {
		return i + len(field)
	}
	return min(dot+1, len(text))
}

// textIndex converts CEL's positions (code points, lines and 0-based columns) to
// byte offsets in the expression.
type textIndex struct {
	text      string
	runeByte  []int // byte offset of each code point, plus len(text)
	lineStart []int // code point offset of each line's start
}

func newTextIndex(text string) *textIndex {
	x := &textIndex{text: text, lineStart: []int{0}}
	n := 0
	for i, r := range text {
		x.runeByte = append(x.runeByte, i)
		n++
		if r == '\n' {
			x.lineStart = append(x.lineStart, n)
		}
	}
	x.runeByte = append(x.runeByte, len(text))
	return x
}

func (x *textIndex) byteOfRune(r int) int {
	if r < 0 {
		return 0
	}
	if r >= len(x.runeByte) {
		return len(x.text)
	}
	return x.runeByte[r]
}

func (x *textIndex) byteOfLoc(line, col int) int {
	if line < 1 {
		return 0
	}
	if line > len(x.lineStart) {
		return len(x.text)
	}
	return x.byteOfRune(x.lineStart[line-1] + max(col, 0))
}

func isIdentStart(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

func isIdentChar(b byte) bool { return isIdentStart(b) || b >= '0' && b <= '9' }

func isOpChar(b byte) bool { return strings.IndexByte("=!<>&|+-*/%?:", b) >= 0 }

// tokenEnd returns the end of the token starting at byte start: an identifier,
// an operator, or one character.
func tokenEnd(text string, start int) int {
	if start >= len(text) {
		return len(text)
	}
	i := start
	switch {
	case isIdentChar(text[i]):
		for i < len(text) && isIdentChar(text[i]) {
			i++
		}
	case isOpChar(text[i]):
		for i < len(text) && i-start < 2 && isOpChar(text[i]) {
			i++
		}
	default:
		_, size := utf8.DecodeRuneInString(text[i:])
		i += size
	}
	return i
}

// argRange is the source range of a call argument: from its leftmost
// sub-expression (the function name of a global call) to the "," or ")" that ends
// it.
func argRange(a *ast.AST, x *textIndex, e ast.Expr) (int, int) {
	start := -1
	ast.PostOrderVisit(e, ast.NewExprVisitor(func(sub ast.Expr) {
		loc := a.SourceInfo().GetStartLocation(sub.ID())
		if loc.Line() <= 0 {
			return
		}
		if b := x.byteOfLoc(loc.Line(), loc.Column()); start < 0 || b < start {
			start = b
		}
	}))
	if start < 0 {
		return 0, len(x.text)
	}
	if e.Kind() == ast.CallKind && !e.AsCall().IsMemberFunction() {
		start, _ = calleeRange(x.text, start)
	}
	depth, end := 0, start
	for i := start; i < len(x.text); i++ {
		switch ch := x.text[i]; ch {
		case '(', '[', '{':
			depth++
		case ')', ']', '}', ',':
			if depth == 0 {
				return start, end
			}
			if ch != ',' {
				depth--
			}
		case '"', '\'':
			// Skip the string literal, escapes included.
			for i++; i < len(x.text) && x.text[i] != ch; i++ {
				if x.text[i] == '\\' {
					i++
				}
			}
		}
		if x.text[min(i, len(x.text)-1)] != ' ' {
			end = min(i+1, len(x.text))
		}
	}
	return start, end
}

// calleeRange returns the range of the function name before the "(" at byte
// paren, which is where cel-go places errors about calls.
func calleeRange(text string, paren int) (int, int) {
	if paren >= len(text) || text[paren] != '(' {
		return paren, tokenEnd(text, paren)
	}
	i := paren
	for i > 0 && isIdentChar(text[i-1]) {
		i--
	}
	if i == paren {
		return paren, paren + 1
	}
	return i, paren
}
