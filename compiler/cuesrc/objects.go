package cuesrc

import (
	"fmt"
	"reflect"

	"cuelang.org/go/cue"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// This file maps each kind of the language onto its IR object. Names mirror
// the HCL front end exactly: an HCL attribute is a CUE field of the same name,
// an HCL block that appears once (trigger { ... }) is a struct field
// (trigger: {...}), and labeled blocks (step "welcome" { ... }) are a struct of
// structs by name (step: welcome: {...}).

// kindNames lists the kinds in the order the docs give them.
var kindNames = plan.KindNames()

// walk reads every object of the evaluated package.
func (l *loader) walk(root cue.Value) {
	it, err := root.Fields()
	if err != nil {
		l.cueError(err, nil)
		return
	}
	for it.Next() {
		kind := selectorName(it.Selector())
		v := it.Value()
		k, ok := ir.LookupKind(kind)
		if !ok {
			n, _ := l.name([]string{kind}, v, l.src.fileStart())
			l.errorAt(n.Range, "unknown top-level field %q%s", kind, didYouMean(kind, kindNames)).Detail = fmt.Sprintf(
				"At the top level, a campaigns package declares objects by kind: %s, each as <kind>: <name>: {...}. "+
					"A value that only helps to write them must be a definition (#%s) or a hidden field (_%s), which the compiler does not read.",
				list(kindNames), kind, kind)
			continue
		}
		kindPath := []string{kind}
		_, kindDecl := l.name(kindPath, v, l.src.fileStart())
		objs, ok := l.structFields(v, kindPath, kindDecl, fmt.Sprintf("%s must be a struct of objects by name, as %s: <name>: {...}", kind, kind))
		if !ok {
			continue
		}
		for _, m := range objs {
			if o, ok := l.object(kind, ir.Members(k.Type), "", m.path, m.v, m.decl); ok {
				obj := k.New()
				ir.SetHeader(obj, o.name, o.decl)
				l.read(o, obj)
				k.Add(l.cfg, obj)
			}
		}
	}
}

func selectorName(s cue.Selector) string {
	if s.LabelType() == cue.StringLabel {
		return s.Unquoted()
	}
	return s.String()
}

// member is one regular field of a struct.
type member struct {
	path []string
	v    cue.Value
	decl ir.Range // where the struct is written, for errors about the member
}

// structFields returns the regular fields of v, or reports that v is not a
// struct (with the message given) and returns false.
func (l *loader) structFields(v cue.Value, path []string, where ir.Range, notStruct string) ([]member, bool) {
	v, _ = v.Default()
	// A struct holding an error somewhere inside still lists its fields; only
	// a value that is not a struct at all stops here.
	it, err := v.Fields()
	if err != nil {
		if verr := v.Err(); verr != nil {
			l.cueError(verr, &where)
		} else {
			l.errorAt(l.locate(path, v, where).rng, "%s", notStruct)
		}
		return nil, false
	}
	var out []member
	for it.Next() {
		p := append(append([]string(nil), path...), selectorName(it.Selector()))
		out = append(out, member{path: p, v: it.Value(), decl: where})
	}
	return out, true
}

// read fills obj, a pointer to an IR struct whose header is set, from o's
// members, as the struct declares them (ir.Members).
func (l *loader) read(o *object, obj reflect.Value) {
	s := obj.Elem()
	for _, m := range o.members {
		f := s.FieldByIndex(m.Field.Index)
		switch m.Form {
		case ir.FormString:
			f.Set(reflect.ValueOf(o.str(m.Name)))
		case ir.FormBool:
			f.Set(reflect.ValueOf(o.boolean(m.Name)))
		case ir.FormInt:
			f.Set(reflect.ValueOf(o.integer(m.Name)))
		case ir.FormFloat:
			f.Set(reflect.ValueOf(o.number(m.Name)))
		case ir.FormStringList:
			f.Set(reflect.ValueOf(o.strList(m.Name)))
		case ir.FormBlock:
			if m.Custom {
				f.Set(l.custom(o, m))
			} else if b, ok := o.block(m.Name, ir.Members(m.Elem())); ok {
				f.Set(l.block(b, m))
			}
		case ir.FormBlocks:
			if m.Custom {
				f.Set(l.custom(o, m))
				continue
			}
			for _, b := range o.named(m.Name, ir.Members(m.Elem())) {
				f.Set(reflect.Append(f, l.block(b, m)))
			}
		}
	}
}

// block reads the opened nested block b of member m into a new IR struct.
func (l *loader) block(b *object, m ir.Member) reflect.Value {
	v := reflect.New(m.Elem())
	ir.SetHeader(v, b.name, b.decl)
	l.read(b, v)
	return v
}

// custom reads a member the declarations leave to hand-written code.
func (l *loader) custom(o *object, m ir.Member) reflect.Value {
	switch m.Name {
	case "bypass":
		var out *ir.Bypass
		if v, ok := o.attrs["bypass"]; ok {
			out = l.bypass(o, v)
		}
		return reflect.ValueOf(out)
	case "step":
		var steps []*ir.Step
		for _, s := range o.named("step", ir.StepMembers()) {
			steps = append(steps, l.step(s))
		}
		return reflect.ValueOf(steps)
	}
	panic("cuesrc: no reader for the custom member " + m.Name)
}

// bypass reads `bypass: {transactional: [...]}`: one list per mail class. The
// class names are not fixed here: the schema says which exist, with a
// suggestion for a typo.
func (l *loader) bypass(o *object, v cue.Value) *ir.Bypass {
	path := o.child("bypass")
	out := &ir.Bypass{DeclRange: o.labelRange("bypass")}
	members, ok := l.structFields(v, path, out.DeclRange, fmt.Sprintf("bypass of %s must be a struct of rule lists by mail class, as bypass: transactional: [\"quiet_hours\"]", o.what))
	if !ok {
		return out
	}
	b := &object{l: l, what: "bypass of " + o.what, path: path, name: ir.Name{Value: "bypass"}, decl: out.DeclRange, attrs: map[string]cue.Value{}}
	var classes []string
	for _, m := range members {
		class := m.path[len(m.path)-1]
		b.attrs[class] = m.v
		classes = append(classes, class)
	}
	b.byPosition(classes) // HCL lists them in source order
	for _, class := range classes {
		out.Classes = append(out.Classes, &ir.BypassClass{
			Class: ir.Name{Value: class, Range: b.labelRange(class)},
			Rules: b.strList(class),
		})
	}
	return out
}

// step reads one workflow step through the step resolver both front ends
// share (ir.ReadStep).
func (l *loader) step(s *object) *ir.Step {
	st := &ir.Step{Name: s.name, DeclRange: s.decl}
	ir.ReadStep(cueStep{s}, st, s.what)
	return st
}

// cueStep is a step's struct as the step resolver reads it.
type cueStep struct{ o *object }

func (s cueStep) Assign() string                       { return ": " }
func (s cueStep) Has(member string) bool               { return s.o.has(member) }
func (s cueStep) NameRange(member string) ir.Range     { return s.o.labelRange(member) }
func (s cueStep) Str(member string, _ bool) *ir.String { return s.o.str(member) }
func (s cueStep) Bool(member string) *ir.Bool          { return s.o.boolean(member) }
func (s cueStep) StrList(member string) *ir.StringList { return s.o.strList(member) }
func (s cueStep) ScalarText(member string) *ir.String  { return s.o.scalarText(member) }
func (s cueStep) Engagement() *ir.Engagement           { return s.nested("engagement").(*ir.Engagement) }
func (s cueStep) ABTest() *ir.ABTest                   { return s.nested("ab_test").(*ir.ABTest) }
func (s cueStep) Error(at ir.Range, detail, summary string) {
	s.o.l.errorAt(at, "%s", summary).Detail = detail
}

// nested reads the step's nested block of the given name, or returns a nil
// pointer of its type.
func (s cueStep) nested(name string) any {
	for _, m := range s.o.members {
		if m.Name != name {
			continue
		}
		if b, ok := s.o.block(name, ir.Members(m.Elem())); ok {
			return s.o.l.block(b, m).Interface()
		}
		return reflect.Zero(m.Field.Type).Interface()
	}
	panic("cuesrc: a step has no member " + name)
}
