package check

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/schemas"
)

// TestDeclarations follows every attribute and block the IR declares (ir.Kinds,
// ir.Members) to the plan and to the schemas: it fails when a declaration is
// malformed, when a declared member has no plan field of the same Go name with
// a JSON name and a type it can be lowered to, or when the schemas (as their
// JSON Schema export) have no field of that JSON name where the member would
// be. A new attribute thus cannot be declared for one side only.
func TestDeclarations(t *testing.T) {
	js := loadJSONSchema(t)
	for _, k := range ir.Kinds {
		root := js.property(js.resolve(js.root), k.Plural)
		if len(root) == 0 {
			t.Errorf("the schemas have no list %q of kind %s", k.Plural, k.Name)
			continue
		}
		checkDeclared(t, js, k.Name, k.Type, k.Kind.Type, js.items(root))
	}
}

func checkDeclared(t *testing.T, js *jsonSchema, where string, it, pt reflect.Type, schema []map[string]any) {
	t.Helper()
	var ms []ir.Member
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("%s: %v", where, r)
			}
		}()
		ms = ir.Members(it)
	}()
	fields, err := matchPlanFields(pt, it)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	for i, m := range ms {
		name := fields[i].json
		at := where + "." + m.Name
		sub := js.property(schema, name)
		if len(sub) == 0 {
			t.Errorf("%s: the schemas have no field %q (plan %v.%s)", at, name, pt, pt.FieldByIndex(fields[i].index).Name)
			continue
		}
		pf := pt.FieldByIndex(fields[i].index).Type
		switch {
		case m.Custom && m.Name == "step":
			checkSteps(t, js, at, js.items(sub))
		case m.Custom:
		case m.Form == ir.FormBlock:
			if pf.Kind() == reflect.Pointer {
				pf = pf.Elem()
			}
			checkDeclared(t, js, at, m.Elem(), pf, sub)
		case m.Form == ir.FormBlocks:
			checkDeclared(t, js, at, m.Elem(), pf.Elem(), js.items(sub))
		}
	}
}

// checkSteps checks the plan's step fields against the schemas' step kinds: a
// step's members are declared apart from its IR (ir.StepMembers) and lowered by
// hand.
func checkSteps(t *testing.T, js *jsonSchema, where string, schema []map[string]any) {
	st := reflect.TypeFor[plan.Step]()
	for i := range st.NumField() {
		name, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
		if len(js.property(schema, name)) == 0 {
			t.Errorf("%s: the schemas have no step field %q (plan Step.%s)", where, name, st.Field(i).Name)
		}
	}
	if len(ir.StepMembers()) == 0 {
		t.Errorf("%s: no step members declared", where)
	}
}

// jsonSchema walks the schemas' JSON Schema export.
type jsonSchema struct {
	root map[string]any
	defs map[string]any
}

func loadJSONSchema(t *testing.T) *jsonSchema {
	t.Helper()
	raw, err := schemas.JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	defs, _ := root["$defs"].(map[string]any)
	return &jsonSchema{root: root, defs: defs}
}

// resolve expands $ref, allOf, anyOf and oneOf: the nodes any of which may
// describe a value.
func (js *jsonSchema) resolve(n map[string]any) []map[string]any {
	if n == nil {
		return nil
	}
	out := []map[string]any{n}
	if ref, ok := n["$ref"].(string); ok {
		d, _ := js.defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		out = append(out, js.resolve(d)...)
	}
	for _, key := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := n[key].([]any)
		for _, e := range list {
			m, _ := e.(map[string]any)
			out = append(out, js.resolve(m)...)
		}
	}
	return out
}

// property returns the schema of the named property in every node that has
// it.
func (js *jsonSchema) property(nodes []map[string]any, name string) []map[string]any {
	var out []map[string]any
	for _, n := range nodes {
		for _, r := range js.resolve(n) {
			props, _ := r["properties"].(map[string]any)
			if p, ok := props[name].(map[string]any); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

// items returns the element schemas of array nodes.
func (js *jsonSchema) items(nodes []map[string]any) []map[string]any {
	var out []map[string]any
	for _, n := range nodes {
		for _, r := range js.resolve(n) {
			if it, ok := r["items"].(map[string]any); ok {
				out = append(out, it)
			}
		}
	}
	return out
}

// TestSchemasHaveEveryKind fails when the schemas' #Kinds and plan.Kinds
// disagree: a kind the compiler lowers must have a definition to validate
// against, under the same name, and the lists keep one order.
func TestSchemasHaveEveryKind(t *testing.T) {
	if got, want := schemas.Kinds(), plan.KindNames(); !slices.Equal(got, want) {
		t.Errorf("schemas' #Kinds = %v, plan.Kinds = %v", got, want)
	}
}
