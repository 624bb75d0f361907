package cuesrc

import (
	"fmt"
	"io/fs"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"

	"github.com/campaignctl/campaignctl/compiler/ir"
)

// This file reads attribute values. Each reader returns nil when the attribute
// is absent, and a value marked Invalid when it is written but cannot be read
// (the error is recorded), so the checker neither reports it missing nor looks
// at it. The rules match the HCL front end's, so both languages accept the same
// values and lower them to the same plan.

// object is one object, or one block inside an object, being read: its name,
// where it is declared, and its attributes by name.
type object struct {
	l *loader
	// members are the attributes and nested blocks it may have.
	members []ir.Member
	what    string // `segment "x"`, for messages
	path    []string
	name    ir.Name
	decl    ir.Range
	attrs   map[string]cue.Value
}

// object opens the struct at path, reporting members it does not have (ms
// are those it may have). ok is false if it is not a struct (reported). what
// names it in messages; empty means `<kind> "<name>"`.
func (l *loader) object(kind string, ms []ir.Member, what string, path []string, v cue.Value, fallback ir.Range) (o *object, ok bool) {
	o = &object{l: l, members: ms, path: path, attrs: map[string]cue.Value{}}
	o.name, o.decl = l.name(path, v, fallback)
	o.what = what
	if what == "" {
		o.what = fmt.Sprintf("%s %q", kind, o.name.Value)
	}
	allowed := make([]string, len(ms))
	for i, m := range ms {
		allowed[i] = m.Name
	}
	members, ok := l.structFields(v, path, o.decl, fmt.Sprintf("%s must be a struct, as %s: {%s: ...}", o.what, path[len(path)-1], allowed[0]))
	if !ok {
		return o, false
	}
	for _, m := range members {
		attr := m.path[len(m.path)-1]
		if !slices.Contains(allowed, attr) {
			n, _ := l.name(m.path, m.v, o.decl)
			l.errorAt(n.Range, "unknown attribute %q in %s%s", attr, o.what, didYouMean(attr, allowed)).Detail =
				fmt.Sprintf("It may have %s.", list(allowed))
			continue
		}
		o.attrs[attr] = m.v
	}
	return o, true
}

// child returns the path of a member.
func (o *object) child(attr string) []string {
	return append(append([]string(nil), o.path...), attr)
}

// value returns the attribute's value with its default applied, and where it
// is written. ok is false when the attribute is absent.
func (o *object) value(attr string) (cue.Value, located, bool) {
	v, ok := o.attrs[attr]
	if !ok {
		return cue.Value{}, located{}, false
	}
	v, _ = v.Default()
	return v, o.l.locate(o.child(attr), v, o.decl), true
}

// has reports whether the attribute is written.
func (o *object) has(attr string) bool {
	_, ok := o.attrs[attr]
	return ok
}

// labelRange is where the attribute's name is written.
func (o *object) labelRange(attr string) ir.Range {
	n, _ := o.l.name(o.child(attr), o.attrs[attr], o.decl)
	return n.Range
}

// concrete reports whether v is a final value of one of the kinds want,
// reporting why not.
func (o *object) concrete(attr string, v cue.Value, loc located, want cue.Kind, example string) bool {
	if err := v.Err(); err != nil {
		o.l.cueError(err, &loc.rng)
		return false
	}
	if !v.IsConcrete() {
		if _, _, embeds := o.l.embedded(loc.field); embeds {
			o.l.errorAt(loc.rng, "%s of %s has no value: @embed was not read", attr, o.what).Detail =
				"CUE reads @embed only in a file that declares @extern(embed): add that line at the top of the file, above the package clause."
			return false
		}
		o.l.errorAt(loc.rng, "%s of %s has no value: it is %s", attr, o.what, short(v)).Detail = fmt.Sprintf(
			"Every attribute the compiler reads needs one final value. Write %s: %s, or give the definition it comes from a default (*%s | %s).",
			attr, example, example, short(v))
		return false
	}
	if v.Kind()&want == 0 {
		o.l.errorAt(loc.rng, "%s of %s must be %s, not %s", attr, o.what, kindName(want), describe(v)).Detail =
			fmt.Sprintf("Write %s: %s.", attr, example)
		return false
	}
	return true
}

func kindName(k cue.Kind) string {
	switch k {
	case cue.StringKind:
		return "a string"
	case cue.BoolKind:
		return "true or false"
	case cue.IntKind, cue.NumberKind:
		return "a number"
	case cue.ListKind:
		return "a list of strings"
	}
	return k.String()
}

// str reads a string attribute.
func (o *object) str(attr string) *ir.String {
	v, loc, ok := o.value(attr)
	if !ok {
		return nil
	}
	return o.l.readString(o, attr, v, loc)
}

func (l *loader) readString(o *object, attr string, v cue.Value, loc located) *ir.String {
	if !o.concrete(attr, v, loc, cue.StringKind, `"..."`) {
		return &ir.String{Range: loc.rng, Invalid: true}
	}
	s, err := v.String()
	if err != nil {
		l.cueError(err, &loc.rng)
		return &ir.String{Range: loc.rng, Invalid: true}
	}
	out := &ir.String{Value: s, Range: loc.rng}
	out.Spans = l.spans(s, loc, out)
	return out
}

// boolean reads a bool attribute.
func (o *object) boolean(attr string) *ir.Bool {
	v, loc, ok := o.value(attr)
	if !ok {
		return nil
	}
	if !o.concrete(attr, v, loc, cue.BoolKind, "true") {
		return &ir.Bool{Range: loc.rng, Invalid: true}
	}
	b, err := v.Bool()
	if err != nil {
		o.l.cueError(err, &loc.rng)
		return &ir.Bool{Range: loc.rng, Invalid: true}
	}
	return &ir.Bool{Value: b, Range: loc.rng}
}

// Whole numbers are kept within what a JSON reader anywhere reads exactly, as
// in HCL.
const maxWhole = 1 << 53

// integer reads a whole-number attribute. 3.0 counts as whole, as in HCL.
func (o *object) integer(attr string) *ir.Int {
	v, loc, ok := o.value(attr)
	if !ok {
		return nil
	}
	example := wholeExample(attr)
	if !o.concrete(attr, v, loc, cue.NumberKind, example) {
		return &ir.Int{Range: loc.rng, Invalid: true}
	}
	bf, ok := bigNumber(v)
	i, acc := bf.Int64()
	if !ok || !bf.IsInt() || acc != big.Exact || i > maxWhole || i < -maxWhole {
		o.l.errorAt(loc.rng, "%s of %s must be a whole number, not %s", attr, o.what, short(v)).Detail =
			fmt.Sprintf("Write %s: %s.", attr, example)
		return &ir.Int{Range: loc.rng, Invalid: true}
	}
	return &ir.Int{Value: i, Range: loc.rng}
}

func wholeExample(name string) string {
	if strings.Contains(name, "percent") {
		return "20"
	}
	return "3"
}

// number reads a number attribute.
func (o *object) number(attr string) *ir.Float {
	v, loc, ok := o.value(attr)
	if !ok {
		return nil
	}
	if !o.concrete(attr, v, loc, cue.NumberKind, "3") {
		return &ir.Float{Range: loc.rng, Invalid: true}
	}
	bf, ok := bigNumber(v)
	f, _ := bf.Float64()
	if !ok || f > 1e15 || f < -1e15 {
		o.l.errorAt(loc.rng, "%s of %s is out of range: %s", attr, o.what, short(v))
		return &ir.Float{Range: loc.rng, Invalid: true}
	}
	return &ir.Float{Value: f, Range: loc.rng}
}

// bigNumber converts a concrete number the way HCL reads a number literal (a
// 512-bit binary float), so both front ends agree to the last digit.
func bigNumber(v cue.Value) (*big.Float, bool) {
	f, _, err := big.ParseFloat(fmt.Sprint(v), 10, 512, big.ToNearestEven)
	if err != nil {
		return new(big.Float), false
	}
	return f, true
}

// scalarText reads an attribute stored as text that may be written as a
// string, a number or a bool (value: true in a set_property step): numbers and
// bools become their canonical text, as in HCL.
func (o *object) scalarText(attr string) *ir.String {
	v, loc, ok := o.value(attr)
	if !ok {
		return nil
	}
	if v.Err() == nil && v.IsConcrete() {
		switch v.Kind() {
		case cue.BoolKind:
			b, _ := v.Bool()
			return &ir.String{Value: strconv.FormatBool(b), Range: loc.rng}
		case cue.IntKind, cue.FloatKind:
			if bf, ok := bigNumber(v); ok {
				return &ir.String{Value: bf.Text('f', -1), Range: loc.rng}
			}
		}
	}
	return o.l.readString(o, attr, v, loc)
}

// strList reads a list of strings, each element with its own range.
func (o *object) strList(attr string) *ir.StringList {
	v, loc, ok := o.value(attr)
	if !ok {
		return nil
	}
	if !o.concrete(attr, v, loc, cue.ListKind, `["...", "..."]`) {
		return &ir.StringList{Range: loc.rng, Invalid: true}
	}
	it, err := v.List()
	if err != nil {
		o.l.cueError(err, &loc.rng)
		return &ir.StringList{Range: loc.rng, Invalid: true}
	}
	out := &ir.StringList{Range: loc.rng, Values: []*ir.String{}}
	for i := 0; it.Next(); i++ {
		ev, _ := it.Value().Default()
		eloc := o.l.locate(append(o.child(attr), strconv.Itoa(i)), ev, loc.rng)
		s := o.l.readString(o, "each element of "+attr, ev, eloc)
		if s.Invalid {
			out.Invalid = true
			continue
		}
		out.Values = append(out.Values, s)
	}
	return out
}

// block opens a nested struct that appears at most once (trigger: {...}),
// whose members are ms.
func (o *object) block(attr string, ms []ir.Member) (*object, bool) {
	v, ok := o.attrs[attr]
	if !ok {
		return nil, false
	}
	what := fmt.Sprintf("%s of %s", attr, o.what)
	return o.l.object(attr, ms, what, o.child(attr), v, o.decl)
}

// named opens a struct of named structs (step: welcome: {...}), each with
// the members ms, in CUE's field order.
func (o *object) named(attr string, ms []ir.Member) []*object {
	v, ok := o.attrs[attr]
	if !ok {
		return nil
	}
	path := o.child(attr)
	where := o.labelRange(attr)
	members, ok := o.l.structFields(v, path, where, fmt.Sprintf("%s of %s must be a struct of %ss by name, as %s: <name>: {...}", attr, o.what, attr, attr))
	if !ok {
		return nil
	}
	var out []*object
	for _, m := range members {
		what := fmt.Sprintf("%s %q of %s", attr, m.path[len(m.path)-1], o.what)
		if c, ok := o.l.object(attr, ms, what, m.path, m.v, where); ok {
			out = append(out, c)
		}
	}
	return out
}

// byPosition sorts attribute names by where they are written, for rules that
// depend on the order a person wrote things in (the first kind marker of a
// step wins).
func (o *object) byPosition(names []string) {
	pos := map[string]ir.Range{}
	for _, n := range names {
		pos[n] = o.labelRange(n)
	}
	sort.SliceStable(names, func(i, j int) bool {
		a, b := pos[names[i]], pos[names[j]]
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
}

// spans maps the bytes of value back to the source. A value read from one
// literal, or from a file with @embed, is mapped byte by byte; a computed value
// (an interpolation, a concatenation, a value from a definition's parameter) is
// one span, not verbatim, over the expression that computes it, so an error
// anywhere in it underlines the whole expression. For an embedded file, s's
// Range becomes the @embed attribute.
func (l *loader) spans(value string, loc located, s *ir.String) []ir.Span {
	if value == "" {
		return nil
	}
	if target, attrRange, ok := l.embedded(loc.field); ok {
		if data, err := fs.ReadFile(l.fsys, target); err == nil && string(data) == value {
			s.Range = attrRange
			lines := ir.NewLines(data)
			return []ir.Span{{Offset: 0, Len: len(data), Source: lines.Range(target, 0, len(data)), Verbatim: true}}
		}
	}
	if loc.expr != nil {
		var found []ir.Span
		ast.Walk(loc.expr, func(n ast.Node) bool {
			if found != nil {
				return false
			}
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			r, ok := l.src.node(lit)
			if !ok || r.End.Byte-r.Start.Byte != len(lit.Value) {
				return true // the node's extent is not its text; do not guess
			}
			f := l.src.files[r.Filename]
			if v, sp, ok := decodeString(f.lines, f.name, lit.Value, r.Start.Byte); ok && v == value {
				found = sp
			}
			return true
		}, nil)
		if found != nil {
			return found
		}
	}
	if loc.rng.IsZero() {
		return nil
	}
	return []ir.Span{{Offset: 0, Len: len(value), Source: loc.rng}}
}

// short formats a value for a message, on one line and not too long.
func short(v cue.Value) string {
	s := strings.Join(strings.Fields(fmt.Sprint(v)), " ")
	if r := []rune(s); len(r) > 60 {
		s = string(r[:57]) + "..."
	}
	return s
}

// describe names a concrete value for a type error.
func describe(v cue.Value) string {
	switch v.Kind() {
	case cue.StructKind:
		return "a struct"
	case cue.ListKind:
		return "a list"
	case cue.NullKind:
		return "null (leave the attribute out to leave it unset)"
	case cue.BytesKind:
		return "bytes (use double quotes for a string)"
	}
	return fmt.Sprintf("%s %s", v.Kind(), short(v))
}
