package check

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// Lowering turns each IR object into its plan struct, mechanically: what is
// written is copied, what is absent is left zero, and nothing is checked. Along
// the way it records, for each JSON path of the plan struct ("steps\x002\x00
// template"), the source range that wrote it. That index serves twice: it maps a
// schema error's path back to a file, line and column, and it tells a written
// zero (test_percent = 0, exclude_responders = false) from an absent field, which
// a Go struct cannot, so the schema's defaults apply only to what is absent.

// object is one lowered object of the tree.
type object struct {
	kind string // the schemas' kind name: "workflow"
	src  any    // the IR object (*ir.Workflow, …)
	name ir.Name
	decl ir.Range
	// value points to the plan struct (*plan.Workflow, …). After schema
	// validation it is replaced by the struct with the schema's defaults, when
	// the object is valid.
	value any
	// completed is true once value holds the schema's defaults.
	completed bool
	idx       *pathIndex
}

// pathIndex maps JSON paths of one object to where they were written.
type pathIndex struct {
	ranges map[string]ir.Range
	// invalid holds paths whose value the front end could not read (and has
	// reported): they are left out of validation and their errors are dropped.
	invalid map[string]bool
	// zeros holds the zero values that were written (false, 0, ""), which
	// encoding/json drops from fields tagged omitempty: they are put back for
	// validation, so daily_quota = 0 is refused rather than taken as absent.
	zeros map[string]any
}

func newIndex() *pathIndex {
	return &pathIndex{ranges: map[string]ir.Range{}, invalid: map[string]bool{}}
}

// sep separates the parts of a path key. Names never contain it.
const sep = "\x00"

func join(prefix, part string) string {
	if prefix == "" {
		return part
	}
	return prefix + sep + part
}

func at(prefix string, i int) string { return join(prefix, strconv.Itoa(i)) }

// pathKey is the index key of a schema error's path.
func pathKey(path []string) string { return strings.Join(path, sep) }

type lowerer struct{ idx *pathIndex }

func (l *lowerer) mark(path string, r ir.Range, invalid bool) {
	l.idx.ranges[path] = r
	if invalid {
		l.idx.invalid[path] = true
	}
}

// zero records a written zero value.
func (l *lowerer) zero(path string, v any) {
	if l.idx.zeros == nil {
		l.idx.zeros = map[string]any{}
	}
	l.idx.zeros[path] = v
}

func (l *lowerer) str(path string, s *ir.String) string {
	if s == nil {
		return ""
	}
	l.mark(path, s.Range, s.Invalid)
	if s.Invalid {
		return ""
	}
	if s.Value == "" {
		l.zero(path, "")
	}
	return s.Value
}

// cel lowers a CEL expression, trimmed: the surrounding blank lines of a heredoc
// are not part of the condition, and the plan should not change when they do.
func (l *lowerer) cel(path string, s *ir.String) string { return strings.TrimSpace(l.str(path, s)) }

func (l *lowerer) boolean(path string, b *ir.Bool) bool {
	if b == nil {
		return false
	}
	l.mark(path, b.Range, b.Invalid)
	if !b.Value && !b.Invalid {
		l.zero(path, false)
	}
	return b.Value && !b.Invalid
}

func (l *lowerer) integer(path string, n *ir.Int) int {
	if n == nil {
		return 0
	}
	l.mark(path, n.Range, n.Invalid)
	if n.Invalid {
		return 0
	}
	if n.Value == 0 {
		l.zero(path, json.Number("0"))
	}
	return int(n.Value)
}

func (l *lowerer) float(path string, n *ir.Float) float64 {
	if n == nil {
		return 0
	}
	l.mark(path, n.Range, n.Invalid)
	if n.Invalid {
		return 0
	}
	if n.Value == 0 {
		l.zero(path, json.Number("0"))
	}
	return n.Value
}

func (l *lowerer) list(path string, sl *ir.StringList) []string {
	if sl == nil {
		return nil
	}
	l.mark(path, sl.Range, sl.Invalid)
	if sl.Invalid {
		return nil
	}
	out := make([]string, len(sl.Values))
	for i, s := range sl.Values {
		out[i] = l.str(at(path, i), s)
	}
	return out
}

func (l *lowerer) name(path string, n ir.Name) string {
	l.mark(path, n.Range, false)
	return n.Value
}

// block indexes a nested block (trigger, quiet_hours, …) at path and returns
// the path of a member of it.
func (l *lowerer) block(path string, decl ir.Range) func(member string) string {
	l.mark(path, decl, false)
	return func(member string) string { return join(path, member) }
}

// lower lowers every object of cfg, in kind order and then source order.
func lower(cfg *ir.Config) []*object {
	objs := make([]*object, 0, cfg.Len())
	for _, k := range ir.Kinds {
		for _, src := range k.Objects(cfg) {
			name, decl := ir.Header(src)
			o := &object{kind: k.Name, src: src, name: name, decl: decl, idx: newIndex()}
			dst := reflect.New(k.Kind.Type)
			lowerStruct(&lowerer{idx: o.idx}, "", reflect.ValueOf(src).Elem(), dst.Elem())
			o.value = dst.Interface()
			objs = append(objs, o)
		}
	}
	return objs
}

// planField is where a member goes in the plan struct: the field of the
// same Go name, under its JSON name.
type planField struct {
	index []int
	json  string
}

var planFields sync.Map // [2]reflect.Type{plan struct, IR struct} → []planField, by member

// planFieldsOf returns the plan field of each member of the IR struct it.
func planFieldsOf(pt, it reflect.Type) []planField {
	key := [2]reflect.Type{pt, it}
	if fs, ok := planFields.Load(key); ok {
		return fs.([]planField)
	}
	fs, err := matchPlanFields(pt, it)
	if err != nil {
		panic(err) // TestDeclarations catches it
	}
	planFields.Store(key, fs)
	return fs
}

func matchPlanFields(pt, it reflect.Type) ([]planField, error) {
	ms := ir.Members(it)
	out := make([]planField, len(ms))
	for i, m := range ms {
		f, ok := pt.FieldByName(m.Field.Name)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !ok || name == "" || name == "-" {
			return nil, fmt.Errorf("check: %v.%s (%s) has no field %s with a JSON name in %v", it, m.Field.Name, m.Name, m.Field.Name, pt)
		}
		if !fits(m, f.Type) {
			return nil, fmt.Errorf("check: %v.%s (%s) cannot be lowered to %v.%s of type %v", it, m.Field.Name, m.Name, pt, f.Name, f.Type)
		}
		out[i] = planField{index: f.Index, json: name}
	}
	return out, nil
}

// fits reports whether a member's value can be lowered to a plan field of
// type t.
func fits(m ir.Member, t reflect.Type) bool {
	if m.Custom {
		return true
	}
	switch m.Form {
	case ir.FormString:
		return t.Kind() == reflect.String
	case ir.FormBool:
		return t.Kind() == reflect.Bool
	case ir.FormInt:
		return t.Kind() == reflect.Int
	case ir.FormFloat:
		return t.Kind() == reflect.Float64
	case ir.FormStringList:
		return t == reflect.TypeFor[[]string]()
	case ir.FormBlock:
		return t.Kind() == reflect.Struct || t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct
	case ir.FormBlocks:
		return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct
	}
	return false
}

var nameType = reflect.TypeFor[ir.Name]()

// declRange is the DeclRange of an addressable IR struct.
func declRange(s reflect.Value) ir.Range {
	return *s.FieldByName("DeclRange").Addr().Interface().(*ir.Range)
}

// lowerStruct lowers the IR struct src into the plan struct dst, member by
// member as declared (ir.Members), at the JSON path prefix.
func lowerStruct(l *lowerer, prefix string, src, dst reflect.Value) {
	if n := src.FieldByName("Name"); n.IsValid() && n.Type() == nameType {
		dst.FieldByName("Name").SetString(l.name(join(prefix, "name"), *n.Addr().Interface().(*ir.Name)))
	}
	fields := planFieldsOf(dst.Type(), src.Type())
	for i, m := range ir.Members(src.Type()) {
		path := join(prefix, fields[i].json)
		v, d := src.FieldByIndex(m.Field.Index), dst.FieldByIndex(fields[i].index)
		switch {
		case m.Custom:
			lowerCustom(l, m, path, src, v, d)
		case m.Form == ir.FormString && m.CEL:
			d.SetString(l.cel(path, v.Interface().(*ir.String)))
		case m.Form == ir.FormString:
			d.SetString(l.str(path, v.Interface().(*ir.String)))
		case m.Form == ir.FormBool:
			d.SetBool(l.boolean(path, v.Interface().(*ir.Bool)))
		case m.Form == ir.FormInt:
			d.SetInt(int64(l.integer(path, v.Interface().(*ir.Int))))
		case m.Form == ir.FormFloat:
			d.SetFloat(l.float(path, v.Interface().(*ir.Float)))
		case m.Form == ir.FormStringList:
			d.Set(reflect.ValueOf(l.list(path, v.Interface().(*ir.StringList))))
		case m.Form == ir.FormBlock:
			lowerBlock(l, path, v, d)
		case m.Form == ir.FormBlocks:
			lowerBlocks(l, path, declRange(src), v, d, func(p string, s, d reflect.Value) {
				lowerStruct(l, p, s, d)
			})
		}
	}
}

// lowerBlock lowers a nested block (*ir.Trigger) into its plan field (a
// struct or a pointer to one), unless it is absent.
func lowerBlock(l *lowerer, path string, v, d reflect.Value) {
	if v.IsNil() {
		return
	}
	l.block(path, declRange(v.Elem()))
	if d.Kind() == reflect.Pointer {
		d.Set(reflect.New(d.Type().Elem()))
		d = d.Elem()
	}
	lowerStruct(l, path, v.Elem(), d)
}

// lowerNested lowers one nested block of a hand-lowered struct into a new
// plan struct P, or returns nil if it is absent.
func lowerNested[P any, S any](l *lowerer, path string, src *S) *P {
	var out *P
	lowerBlock(l, path, reflect.ValueOf(src), reflect.ValueOf(&out).Elem())
	return out
}

// lowerBlocks lowers a list of named blocks (fields, steps, variants, …) at
// path into the plan's slice d, with lowerOne lowering one block at its
// element path. Each element maps to its declaration; the list itself maps
// to the first name written twice, if any, since the schema's error about a
// list is most often "distinct names"; otherwise to the owner's range. An
// empty list stays nil, as absent.
func lowerBlocks(l *lowerer, path string, owner ir.Range, v, d reflect.Value, lowerOne func(p string, src, dst reflect.Value)) {
	if v.Len() == 0 {
		return
	}
	out := reflect.MakeSlice(d.Type(), v.Len(), v.Len())
	listRange, dupFound := owner, false
	seen := map[string]bool{}
	for i := range v.Len() {
		p := at(path, i)
		b := v.Index(i).Elem()
		lowerOne(p, b, out.Index(i))
		name := b.FieldByName("Name").Addr().Interface().(*ir.Name)
		l.mark(p, declRange(b), false)
		if seen[name.Value] && !dupFound {
			listRange, dupFound = name.Range, true
		}
		seen[name.Value] = true
	}
	l.mark(path, listRange, false)
	d.Set(out)
}

// lowerCustom lowers the members the declarations leave to hand-written code.
func lowerCustom(l *lowerer, m ir.Member, path string, src, v, d reflect.Value) {
	switch m.Name {
	case "bypass":
		d.Set(reflect.ValueOf(lowerBypass(l, path, v.Interface().(*ir.Bypass))))
	case "step":
		lowerBlocks(l, path, declRange(src), v, d, func(p string, s, d reflect.Value) {
			d.Set(reflect.ValueOf(lowerStep(l, p, s.Addr().Interface().(*ir.Step))))
		})
	default:
		panic("check: no lowering for the custom member " + m.Name)
	}
}

// lowerBypass lowers a policy's bypass block: one rule list per mail class.
func lowerBypass(l *lowerer, path string, b *ir.Bypass) map[string][]string {
	if b == nil {
		return nil
	}
	m := l.block(path, b.DeclRange)
	out := map[string][]string{}
	for _, c := range b.Classes {
		rules := l.list(m(c.Class.Value), c.Rules)
		if rules == nil {
			rules = []string{}
		}
		out[c.Class.Value] = rules
	}
	return out
}

// lowerStep lowers one workflow step at path p. A step's IR is shaped like
// the plan's, but its members are not declared field by field (see
// ir.StepMembers), so it is lowered by hand.
func lowerStep(l *lowerer, p string, s *ir.Step) plan.Step {
	f := func(name string) string { return join(p, name) }
	if s.Kind == nil {
		// Front ends derive a step's kind from its attributes and report a
		// step that has none; the schema need not say it again.
		l.mark(f("kind"), s.DeclRange, true)
	}
	return plan.Step{
		Name:       l.name(f("name"), s.Name),
		Kind:       l.str(f("kind"), s.Kind),
		Next:       l.str(f("next"), s.Next),
		Duration:   l.str(f("duration"), s.Duration),
		RelativeTo: l.str(f("relative_to"), s.RelativeTo),
		Template:   l.str(f("template"), s.Template),
		ABTest:     lowerNested[plan.ABTest](l, f("ab_test"), s.ABTest),
		Condition:  l.cel(f("condition"), s.Condition),
		Engagement: lowerNested[plan.Engagement](l, f("engagement"), s.Engagement),
		Then:       l.str(f("then"), s.Then),
		Else:       l.str(f("else"), s.Else),
		Field:      l.str(f("field"), s.Field),
		Value:      l.str(f("value"), s.Value),
		Owners:     l.list(f("owners"), s.Owners),
	}
}
