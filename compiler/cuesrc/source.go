package cuesrc

import (
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"

	"github.com/campaignctl/campaignctl/compiler/ir"
)

// sourceFile is one .cue file of the tree.
type sourceFile struct {
	name  string // path in the tree, as the parser was given it
	src   []byte
	lines *ir.Lines
}

// sources knows the bytes of every file and where fields are written, to turn
// CUE positions into IR ranges.
//
// CUE reports one position per value: for a field with several conjuncts, or a
// value computed from others, it may have none or one far from where a reader
// would look. So the files are also indexed syntactically: each field written
// with a literal label, by path, the first in sorted file order. Such a field
// certainly contributes to the value at that path, and its label is where a
// person would say the object "is declared".
type sources struct {
	files  map[string]*sourceFile
	first  *sourceFile            // the first file, for errors with no position
	fields map[string]*indexEntry // by pathKey
}

type indexEntry struct {
	field *ast.Field
	// parent is the enclosing field when this field is the whole value of it
	// (the shorthand `segment: name: {...}`), for a declaration range that
	// starts at the kind.
	parent *ast.Field
}

func newSources() *sources {
	return &sources{files: map[string]*sourceFile{}, fields: map[string]*indexEntry{}}
}

func (s *sources) add(name string, src []byte) *sourceFile {
	f := &sourceFile{name: name, src: src, lines: ir.NewLines(src)}
	s.files[name] = f
	if s.first == nil {
		s.first = f
	}
	return f
}

func pathKey(path []string) string { return strings.Join(path, "\x00") }

// index records the fields of decls, written under the labels prefix, and of the
// struct literals nested in them.
func (s *sources) index(decls []ast.Decl, prefix []string, parent *ast.Field) {
	for _, d := range decls {
		switch x := d.(type) {
		case *ast.Field:
			name, _, err := ast.LabelName(x.Label)
			if err != nil {
				continue // a dynamic label; CUE's own positions must do
			}
			path := append(append([]string(nil), prefix...), name)
			key := pathKey(path)
			if _, seen := s.fields[key]; !seen {
				s.fields[key] = &indexEntry{field: x, parent: parent}
			}
			s.indexExpr(x.Value, path, x)
		case *ast.EmbedDecl:
			s.indexExpr(x.Expr, prefix, nil)
		case *ast.Comprehension:
			s.indexExpr(x.Value, prefix, nil)
		}
	}
}

// indexExpr indexes the struct literals of a field's value: the value itself,
// and the operands of & (`#Segment & {...}`).
func (s *sources) indexExpr(e ast.Expr, path []string, owner *ast.Field) {
	switch x := e.(type) {
	case *ast.StructLit:
		parent := (*ast.Field)(nil)
		if len(x.Elts) == 1 && !x.Lbrace.IsValid() {
			parent = owner // `a: b: c` is a: {b: c} without braces
		}
		s.index(x.Elts, path, parent)
	case *ast.ParenExpr:
		s.indexExpr(x.X, path, nil)
	case *ast.BinaryExpr:
		if x.Op == token.AND {
			s.indexExpr(x.X, path, nil)
			s.indexExpr(x.Y, path, nil)
		}
	}
}

// lookup returns the first field written at path, if any.
func (s *sources) lookup(path []string) *indexEntry { return s.fields[pathKey(path)] }

// file returns the file a position is in, if it is one of the tree's.
func (s *sources) file(p token.Pos) *sourceFile {
	if !p.IsValid() {
		return nil
	}
	return s.files[p.Filename()]
}

// span returns the range from start to end, which must be in the same file of
// the tree.
func (s *sources) span(start, end token.Pos) (ir.Range, bool) {
	f := s.file(start)
	if f == nil {
		return ir.Range{}, false
	}
	a, b := start.Offset(), endOffset(end, start, f)
	if a < 0 || a > len(f.src) {
		return ir.Range{}, false
	}
	if b < a || b > len(f.src) {
		b = a
	}
	return f.lines.Range(f.name, a, b), true
}

// endOffset is end's offset when end is a valid position in the same file as
// start, else start's.
func endOffset(end, start token.Pos, f *sourceFile) int {
	if !end.IsValid() || end.Filename() != f.name {
		return start.Offset()
	}
	return end.Offset()
}

// node returns the source range of an AST node.
func (s *sources) node(n ast.Node) (ir.Range, bool) {
	if n == nil {
		return ir.Range{}, false
	}
	return s.span(n.Pos(), n.End())
}

// label returns the range of a field's label, inside the quotes of a quoted
// one, so it underlines the name as HCL's label ranges do.
func (s *sources) label(f *ast.Field) (ir.Range, bool) {
	l := f.Label
	if a, ok := l.(*ast.Alias); ok {
		if inner, ok := a.Expr.(ast.Label); ok {
			l = inner
		}
	}
	r, ok := s.node(l)
	if !ok {
		return r, false
	}
	if lit, isLit := l.(*ast.BasicLit); isLit && lit.Kind == token.STRING {
		file := s.files[r.Filename]
		start, end := r.Start.Byte, r.End.Byte
		if end-start >= 2 && file.src[start] == '"' && file.src[end-1] == '"' {
			return file.lines.Range(file.name, start+1, end-1), true
		}
	}
	return r, true
}

// point returns a range for a bare position: the identifier or literal that
// starts there, or a single character.
func (s *sources) point(p token.Pos) (ir.Range, bool) {
	f := s.file(p)
	if f == nil {
		return ir.Range{}, false
	}
	start := p.Offset()
	if start < 0 || start > len(f.src) {
		return ir.Range{}, false
	}
	end := start
	for end < len(f.src) && isWordByte(f.src[end]) {
		end++
	}
	if end == start && end < len(f.src) && f.src[end] != '\n' && f.src[end] != '\r' {
		end++
		for end < len(f.src) && f.src[end]&0xC0 == 0x80 {
			end++ // the rest of a multi-byte character
		}
	}
	return f.lines.Range(f.name, start, end), true
}

func isWordByte(c byte) bool {
	return c == '_' || c == '#' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// fileStart is the start of the first file: where an error with no position
// at all is reported, so it still names a file of the tree.
func (s *sources) fileStart() ir.Range {
	if s.first == nil {
		return ir.Range{}
	}
	return s.first.lines.Range(s.first.name, 0, 0)
}
