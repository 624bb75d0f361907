package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/encoding/jsonschema"
)

var jsonSchema struct {
	once sync.Once
	out  []byte
	err  error
}

// JSONSchema exports the definitions as one JSON Schema document (draft
// 2020-12) for editor completion: the root describes a document holding objects
// by kind (models, segments, …, workflows), and $defs holds every kind, every
// workflow type and the types they use.
//
// It is generated from the same CUE by cuelang.org/go/encoding/jsonschema. The
// shapes (fields, types, enums, patterns, required fields) carry over; the
// #…Rules definitions (conditional requirements, "contains a step of kind X")
// have no JSON Schema form and are left out, so an editor that accepts a file
// may still see the compiler refuse it. Defaults are not exported either. The
// result is computed once.
func JSONSchema() ([]byte, error) {
	jsonSchema.once.Do(func() {
		jsonSchema.out, jsonSchema.err = generateJSONSchema()
	})
	return jsonSchema.out, jsonSchema.err
}

func generateJSONSchema() ([]byte, error) {
	ev, err := acquire()
	if err != nil {
		return nil, err
	}
	defer release(ev, false)
	tree, err := generate(ev, "#Document")
	if err != nil {
		return nil, err
	}
	// #Step picks its definition by kind (#StepKinds[kind]), which JSON
	// Schema cannot say; the generator keeps only name and kind. Editors get
	// the kinds as alternatives instead, each with its own fields.
	kinds, err := generate(ev, "#StepKinds")
	if err != nil {
		return nil, err
	}
	defs, _ := tree["$defs"].(map[string]any)
	kindDefs, _ := kinds["$defs"].(map[string]any)
	kindRefs, _ := kinds["properties"].(map[string]any)
	step, _ := defs["Step"].(map[string]any)
	if defs == nil || step == nil || len(kindRefs) == 0 {
		return nil, fmt.Errorf("generating JSON Schema: no #Step or #StepKinds to describe steps with")
	}
	for name, d := range kindDefs {
		if _, taken := defs[name]; !taken {
			defs[name] = d
		}
	}
	var alternatives []any
	it, err := ev.root.LookupPath(cue.MakePath(cue.Def("#StepKinds"))).Fields()
	if err != nil {
		return nil, fmt.Errorf("reading #StepKinds: %w", err)
	}
	for it.Next() {
		if ref, ok := kindRefs[it.Selector().Unquoted()]; ok {
			alternatives = append(alternatives, ref)
		}
	}
	defs["Step"] = map[string]any{"description": step["description"], "anyOf": alternatives}
	dropRules(tree)
	tree["title"] = "campaignctl objects"
	tree["description"] = "Objects of a campaignctl plan by kind. Generated from the CUE schemas in schemas/; the compiler checks rules this schema cannot express."
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(tree); err != nil {
		return nil, fmt.Errorf("encoding JSON Schema: %w", err)
	}
	return buf.Bytes(), nil
}

// generate returns the JSON Schema of one definition as a JSON tree.
func generate(ev *evaluator, def string) (map[string]any, error) {
	v := ev.root.LookupPath(cue.MakePath(cue.Def(def)))
	expr, err := jsonschema.Generate(v, &jsonschema.GenerateConfig{})
	if err != nil {
		return nil, fmt.Errorf("generating JSON Schema for %s: %w", def, err)
	}
	s := ev.ctx.BuildExpr(expr)
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("generating JSON Schema for %s: %w", def, err)
	}
	raw, err := s.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding JSON Schema for %s: %w", def, err)
	}
	var tree map[string]any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return nil, fmt.Errorf("re-reading JSON Schema for %s: %w", def, err)
	}
	return tree, nil
}

// dropRules removes the #…Rules definitions and every reference to them. The
// generator turns a rules definition into `true`, or worse into a closed object
// that lists only the fields its comprehensions read, which would reject every
// real object once referenced next to the shape. Rules are the compiler's
// business; the JSON Schema describes shapes.
func dropRules(tree map[string]any) {
	defs, _ := tree["$defs"].(map[string]any)
	rules := map[string]bool{}
	for name := range defs {
		if strings.HasSuffix(name, "Rules") {
			rules["#/$defs/"+name] = true
			delete(defs, name)
		}
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok && rules[ref] {
				delete(x, "$ref")
			}
			for k, e := range x {
				x[k] = walk(e)
			}
			if all, ok := x["allOf"].([]any); ok {
				kept := all[:0]
				for _, e := range all {
					if m, ok := e.(map[string]any); ok && len(m) == 0 {
						continue // was only a reference to rules
					}
					kept = append(kept, e)
				}
				switch len(kept) {
				case 0:
					delete(x, "allOf")
				case 1:
					// allOf of one schema: merge it into its parent when they
					// share no keyword, which reads better in an editor.
					if m, ok := kept[0].(map[string]any); ok && disjoint(x, m) {
						delete(x, "allOf")
						for k, e := range m {
							x[k] = e
						}
					} else {
						x["allOf"] = kept
					}
				default:
					x["allOf"] = kept
				}
			}
			return x
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
			return x
		}
		return v
	}
	walk(tree)
}

func disjoint(parent, child map[string]any) bool {
	for k := range child {
		if _, ok := parent[k]; ok && k != "allOf" {
			return false
		}
	}
	return true
}
