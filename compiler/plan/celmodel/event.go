package celmodel

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// A trigger that declares its event's properties gets a typed event: EventVar
// is then an object of type campaignctl.event whose fields are the built-in
// fields every stored event has (BuiltinEventFields) and the declared
// properties. event.value >= "thirty" against a float property, or
// event.vlue, is a type error at compile time; has(event.value) is false for
// an event without the property (or with it null), which then reads as its
// type's zero value.
//
// The runtime hands the event over as the map the engine builds from the
// stored event (properties beside the built-in fields, see runtime/engine's
// eventMap), and EventValue converts each declared field to its type, so the
// compiler and the runtime agree on what a name means and what type it has.

// eventTypeName is the CEL object type of a typed event.
const eventTypeName = "campaignctl.event"

// BuiltinEventFields are the fields of every stored event, as workflow
// conditions read them: a declared property may not take one of these names.
var BuiltinEventFields = []plan.EventProperty{
	{Name: "type", Type: plan.TypeString},
	{Name: "at", Type: plan.TypeTimestamp},
	{Name: "key", Type: plan.TypeString},
	{Name: "topic", Type: plan.TypeString},
	{Name: "campaign", Type: plan.TypeString},
	{Name: "step", Type: plan.TypeString},
	{Name: "url", Type: plan.TypeString},
	{Name: "id", Type: plan.TypeString},
}

// IsBuiltinEventField reports whether name is one of BuiltinEventFields.
func IsBuiltinEventField(name string) bool {
	for _, f := range BuiltinEventFields {
		if f.Name == name {
			return true
		}
	}
	return false
}

// eventFields lists the typed event's fields: the built-in ones, then the
// declared properties.
func eventFields(props []plan.EventProperty) []plan.Field {
	out := make([]plan.Field, 0, len(BuiltinEventFields)+len(props))
	for _, f := range BuiltinEventFields {
		out = append(out, plan.Field{Name: f.Name, Type: f.Type})
	}
	for _, p := range props {
		out = append(out, plan.Field{Name: p.Name, Type: p.Type})
	}
	return out
}

// WorkflowEnv is the environment of a workflow's conditions (trigger filter,
// goal, branch conditions): the model's (Env) and the enrolling event, typed
// by props when the trigger declares any, an untyped map otherwise.
func WorkflowEnv(m *plan.Model, segments []string, props []plan.EventProperty) (*cel.Env, error) {
	if len(props) == 0 {
		env, err := Env(m, segments)
		if err != nil {
			return nil, err
		}
		return env.Extend(WithEvent())
	}
	if Reserved(m.Name) {
		return nil, fmt.Errorf("model name %q is reserved in CEL filters: rename the model", m.Name)
	}
	prov, err := newProvider(m)
	if err != nil {
		return nil, err
	}
	for _, p := range props {
		if IsBuiltinEventField(p.Name) {
			return nil, fmt.Errorf("event property %s: every event has a built-in field of that name; rename the property", p.Name)
		}
	}
	evType := cel.ObjectType(eventTypeName)
	def, err := newStructDef(evType, eventFields(props), "the event")
	if err != nil {
		return nil, err
	}
	prov.structs[eventTypeName] = def
	opts := append(envOptions(m, prov, segments), cel.Variable(EventVar, evType))
	return cel.NewEnv(opts...)
}

// EventValue is the value of EventVar for a workflow condition: with no
// declared properties the map itself; otherwise a typed event whose fields
// are read from the map, each converted to its declared type. A field the
// map lacks, or holds as null, is unset (has() is false). A value that cannot
// be converted (an old event stored before the property was declared) makes
// the expression that reads it fail, naming the field.
func EventValue(props []plan.EventProperty, m map[string]any) any {
	if len(props) == 0 {
		return m
	}
	fields := eventFields(props)
	r := &eventRecord{vals: make([]ref.Val, len(fields)), set: make([]bool, len(fields))}
	for i, f := range fields {
		v, ok := m[f.Name]
		if !ok || v == nil {
			r.vals[i] = ZeroValue(f.Type)
			continue
		}
		r.set[i] = true
		r.vals[i] = eventField(f, v)
	}
	return &Object{typ: cel.ObjectType(eventTypeName), fields: fieldIndexOf(fields), rec: r}
}

type eventRecord struct {
	vals []ref.Val
	set  []bool
}

func (r *eventRecord) Field(i int) ref.Val { return r.vals[i] }
func (r *eventRecord) IsSet(i int) bool    { return r.set[i] }

func fieldIndexOf(fields []plan.Field) map[string]int {
	idx := make(map[string]int, len(fields))
	for i, f := range fields {
		idx[f.Name] = i
	}
	return idx
}

// eventField converts one value of a decoded JSON event (string, float64,
// bool, []any, or a time.Time the engine put there) to the CEL value of type
// f.Type.
func eventField(f plan.Field, v any) ref.Val {
	bad := func(want string) ref.Val {
		return types.NewErr("event.%s is declared %s but the event holds %s (%T); want %s", f.Name, f.Type, show(v), v, want)
	}
	switch f.Type {
	case plan.TypeString:
		if s, ok := v.(string); ok {
			return types.String(s)
		}
		return bad("a JSON string")
	case plan.TypeInt:
		if n, ok := v.(float64); ok && n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return types.Int(int64(n))
		}
		return bad("a JSON integer")
	case plan.TypeFloat:
		if n, ok := v.(float64); ok {
			return types.Double(n)
		}
		return bad("a JSON number")
	case plan.TypeBool:
		if b, ok := v.(bool); ok {
			return types.Bool(b)
		}
		return bad("true or false")
	case plan.TypeTimestamp:
		switch t := v.(type) {
		case time.Time:
			return types.Timestamp{Time: t.UTC()}
		case string:
			if ts, err := time.Parse(time.RFC3339Nano, t); err == nil {
				return types.Timestamp{Time: ts.UTC()}
			}
		}
		return bad("an RFC 3339 time in a string")
	case plan.TypeStringList:
		if l, ok := v.([]any); ok {
			out := make([]string, len(l))
			for i, x := range l {
				s, ok := x.(string)
				if !ok {
					return bad("an array of strings")
				}
				out[i] = s
			}
			return types.NewStringList(types.DefaultTypeAdapter, out)
		}
		return bad("an array of strings")
	}
	return types.NewErr("event.%s: unknown type %q", f.Name, f.Type)
}

func show(v any) string {
	s := fmt.Sprintf("%v", v)
	if str, ok := v.(string); ok {
		s = fmt.Sprintf("%q", str)
	}
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
