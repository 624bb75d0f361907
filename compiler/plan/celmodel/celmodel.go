// Package celmodel declares a plan model as a CEL environment. It is shared by the
// compiler, which type-checks segment filters against it, and the runtime, which
// evaluates or translates the same filters, so both agree on what a name means.
//
// A model named lead is visible to CEL as the variable lead, an object whose fields
// are the model's fields: lead.stage, and has(lead.stage) to tell a NULL column from
// its zero value. The variable now is the evaluation time; another segment of the
// same model is visible as the bool variable segment.<name>. Engagement predicates
// over the runner's events table are member functions of the model variable
// (lead.clicked(days(30)); see engagement.go).
//
// The package does not read rows, talk to a database or decide what NULL means; it
// only fixes names and types, and the Record interface through which an evaluator
// hands a row to CEL.
package celmodel

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// EventVar is the variable that holds, in a workflow's trigger filter, goal
// and branch conditions, the event that enrolled the contact (event.topic,
// event.value, event.at). A trigger that declares its event's properties
// makes it a typed object (see WorkflowEnv); one that does not leaves it a
// map from field names to values of any type.
const EventVar = "event"

// WithEvent declares EventVar as the untyped map: the environment of a
// trigger that declares no properties, and of consent rules.
func WithEvent() cel.EnvOption {
	return cel.Variable(EventVar, cel.MapType(cel.StringType, cel.DynType))
}

// ZeroValue is what a field of type t reads as when its column is NULL (has()
// is false): the type's zero value, the epoch for timestamps.
func ZeroValue(t plan.FieldType) ref.Val {
	switch t {
	case plan.TypeString:
		return types.String("")
	case plan.TypeInt:
		return types.Int(0)
	case plan.TypeFloat:
		return types.Double(0)
	case plan.TypeBool:
		return types.False
	case plan.TypeTimestamp:
		return types.Timestamp{Time: time.Unix(0, 0).UTC()}
	case plan.TypeStringList:
		return types.NewStringList(types.DefaultTypeAdapter, nil)
	}
	return types.NewErr("unknown field type %q", t)
}

// NowVar is the CEL variable holding the evaluation time.
const NowVar = "now"

// SegmentPrefix prefixes references to other segments: segment.lost_leads.
const SegmentPrefix = "segment"

// typePrefix namespaces the CEL object type of a model, so the type name can never
// be mistaken for the variable of the same model.
const typePrefix = "campaignctl.model."

// reserved are names a model may not take: the built-in variables, and CEL's own
// type and function identifiers, which a variable of the same name would shadow or
// be shadowed by.
var reserved = map[string]bool{
	NowVar: true, SegmentPrefix: true,
	"bool": true, "bytes": true, "double": true, "duration": true, "dyn": true,
	"int": true, "list": true, "map": true, "null_type": true, "string": true,
	"timestamp": true, "type": true, "uint": true, "null": true, "true": true,
	"false": true, "in": true, "has": true, "size": true, "matches": true,
	"google": true, "campaignctl": true,
}

// Reserved reports whether a model name would collide with a built-in variable,
// type or function name.
func Reserved(name string) bool { return reserved[name] }

// CELType maps a field type to its CEL type.
func CELType(t plan.FieldType) (*cel.Type, error) {
	switch t {
	case plan.TypeString:
		return cel.StringType, nil
	case plan.TypeInt:
		return cel.IntType, nil
	case plan.TypeFloat:
		return cel.DoubleType, nil
	case plan.TypeBool:
		return cel.BoolType, nil
	case plan.TypeTimestamp:
		return cel.TimestampType, nil
	case plan.TypeStringList:
		return cel.ListType(cel.StringType), nil
	}
	return nil, fmt.Errorf("unknown field type %q (want one of string, int, float, bool, timestamp, list(string))", t)
}

// VarName is the CEL expression that reads a model field, e.g. lead.stage.
func VarName(m *plan.Model, field string) string { return m.Name + "." + field }

// TypeName is the CEL object type name of a model's records.
func TypeName(m *plan.Model) string { return typePrefix + m.Name }

// SegmentVar is the CEL variable that refers to another segment.
func SegmentVar(segment string) string { return SegmentPrefix + "." + segment }

// Record is one row of a model as CEL reads it. Field indexes are positions in
// Model.Fields. What a NULL column reads as is the evaluator's decision; IsSet is
// what has() reports.
type Record interface {
	Field(i int) ref.Val
	IsSet(i int) bool
}

// Env builds the CEL environment of a model. segments names the other segments of
// the same model that a filter may reference.
func Env(m *plan.Model, segments []string) (*cel.Env, error) {
	if Reserved(m.Name) {
		return nil, fmt.Errorf("model name %q is reserved in CEL filters: rename the model", m.Name)
	}
	prov, err := newProvider(m)
	if err != nil {
		return nil, err
	}
	return cel.NewEnv(envOptions(m, prov, segments)...)
}

func envOptions(m *plan.Model, prov *provider, segments []string) []cel.EnvOption {
	opts := []cel.EnvOption{
		cel.CustomTypeProvider(prov),
		// The string extensions (lowerAscii, trim, replace, split, …) make filters
		// more expressive; the runtime evaluates what SQL cannot.
		ext.Strings(),
		// Keeps macro calls in the AST's source info, so a diagnostic or a
		// pushdown reason can quote lead.tags.exists(…) as written.
		cel.EnableMacroCallTracking(),
		cel.Variable(NowVar, cel.TimestampType),
		cel.Variable(m.Name, prov.objType),
	}
	opts = append(opts, engagementOptions(prov.objType)...)
	opts = append(opts, zoneOptions()...)
	for _, s := range segments {
		opts = append(opts, cel.Variable(SegmentVar(s), cel.BoolType))
	}
	return opts
}

// NewObject wraps a record so CEL can use it as the value of the model variable.
// The evaluator may refill the record between evaluations and reuse the object.
func NewObject(m *plan.Model, r Record) *Object {
	return &Object{typ: cel.ObjectType(TypeName(m)), fields: fieldIndex(m), rec: r}
}

// provider resolves the model's object type and its fields (and, in a
// workflow's environment, the typed event's), and defers every other type to
// the standard registry.
type provider struct {
	*types.Registry
	typeName string
	objType  *types.Type
	structs  map[string]*structDef
}

// structDef is one object type the provider declares: its sorted field names
// and their types and getters.
type structDef struct {
	objType *types.Type
	names   []string
	fields  map[string]*types.FieldType
}

func newProvider(m *plan.Model) (*provider, error) {
	reg, err := types.NewRegistry()
	if err != nil {
		return nil, fmt.Errorf("building CEL type registry: %w", err)
	}
	p := &provider{
		Registry: reg,
		typeName: TypeName(m),
		objType:  cel.ObjectType(TypeName(m)),
		structs:  map[string]*structDef{},
	}
	def, err := newStructDef(p.objType, m.Fields, "model "+m.Name)
	if err != nil {
		return nil, err
	}
	p.structs[p.typeName] = def
	return p, nil
}

// newStructDef declares an object type whose values are Records, field i
// being fields[i].
// what names the owner in errors ("model lead").
func newStructDef(objType *types.Type, fields []plan.Field, what string) (*structDef, error) {
	def := &structDef{objType: objType, fields: make(map[string]*types.FieldType, len(fields))}
	name := objType.TypeName()
	for i, f := range fields {
		t, err := CELType(f.Type)
		if err != nil {
			return nil, fmt.Errorf("%s field %s: %w", what, f.Name, err)
		}
		if _, ok := def.fields[f.Name]; ok {
			return nil, fmt.Errorf("%s declares field %s twice", what, f.Name)
		}
		i := i
		def.fields[f.Name] = &types.FieldType{
			Type: t,
			IsSet: func(target any) bool {
				r, ok := asRecord(target)
				return ok && r.IsSet(i)
			},
			GetFrom: func(target any) (any, error) {
				r, ok := asRecord(target)
				if !ok {
					return nil, fmt.Errorf("%s: value of type %T is not a record", name, target)
				}
				return r.Field(i), nil
			},
		}
		def.names = append(def.names, f.Name)
	}
	sort.Strings(def.names)
	return def, nil
}

func asRecord(target any) (Record, bool) {
	switch t := target.(type) {
	case *Object:
		return t.rec, true
	case Record:
		return t, true
	}
	return nil, false
}

func (p *provider) FindStructType(name string) (*types.Type, bool) {
	if d, ok := p.structs[name]; ok {
		return types.NewTypeTypeWithParam(d.objType), true
	}
	return p.Registry.FindStructType(name)
}

func (p *provider) FindStructFieldNames(name string) ([]string, bool) {
	if d, ok := p.structs[name]; ok {
		return append([]string(nil), d.names...), true
	}
	return p.Registry.FindStructFieldNames(name)
}

func (p *provider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if d, ok := p.structs[name]; ok {
		ft, ok := d.fields[field]
		return ft, ok
	}
	return p.Registry.FindStructFieldType(name, field)
}

func (p *provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := p.structs[name]; ok {
		return types.NewErr("records of %s cannot be built in a filter; read them through its variable", name)
	}
	return p.Registry.NewValue(name, fields)
}

func fieldIndex(m *plan.Model) map[string]int {
	idx := make(map[string]int, len(m.Fields))
	for i, f := range m.Fields {
		idx[f.Name] = i
	}
	return idx
}

// SegmentRefs returns the segments a checked expression reads
// (segment.<name> identifiers), sorted, each once.
func SegmentRefs(a *celast.AST) []string {
	var out []string
	celast.PostOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() == celast.IdentKind {
			if n, ok := strings.CutPrefix(e.AsIdent(), SegmentPrefix+"."); ok {
				out = append(out, n)
			}
		}
	}))
	slices.Sort(out)
	return slices.Compact(out)
}
