package diff_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// A JSON Schema validator for the subset of draft 2020-12 that
// docs/diff.schema.json uses. It is strict about the schema itself: a keyword
// it does not implement is an error, never silently ignored, so the schema
// cannot promise something this test does not check. (A full validator
// library would be one more dependency for one test file.)

type schemaDoc struct {
	root map[string]any
}

var schemaKeywords = map[string]bool{
	// annotations, no assertion
	"$schema": true, "$id": true, "title": true, "description": true, "$defs": true, "$comment": true,
	// assertions implemented below
	"type": true, "enum": true, "const": true, "$ref": true,
	"properties": true, "required": true, "additionalProperties": true,
	"items": true, "minItems": true, "maxItems": true,
	"minLength": true, "pattern": true, "minimum": true,
	"allOf": true, "oneOf": true, "anyOf": true, "not": true, "if": true, "then": true, "else": true,
}

func loadSchema(t *testing.T) *schemaDoc {
	t.Helper()
	data, err := os.ReadFile("../../docs/diff.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("docs/diff.schema.json: %v", err)
	}
	s := &schemaDoc{root: root}
	if err := s.checkKeywords(root, "#"); err != nil {
		t.Fatalf("docs/diff.schema.json: %v", err)
	}
	return s
}

// checkKeywords walks every subschema and refuses unknown keywords.
func (s *schemaDoc) checkKeywords(node any, at string) error {
	m, ok := node.(map[string]any)
	if !ok {
		if _, isBool := node.(bool); isBool {
			return nil
		}
		return fmt.Errorf("%s: a schema must be an object or a boolean", at)
	}
	for k, v := range m {
		if !schemaKeywords[k] {
			return fmt.Errorf("%s: keyword %q is not supported by the test validator", at, k)
		}
		switch k {
		case "properties", "$defs":
			for name, sub := range v.(map[string]any) {
				if err := s.checkKeywords(sub, at+"/"+k+"/"+name); err != nil {
					return err
				}
			}
		case "items", "additionalProperties", "not", "if", "then", "else":
			if err := s.checkKeywords(v, at+"/"+k); err != nil {
				return err
			}
		case "allOf", "oneOf", "anyOf":
			for i, sub := range v.([]any) {
				if err := s.checkKeywords(sub, fmt.Sprintf("%s/%s/%d", at, k, i)); err != nil {
					return err
				}
			}
		case "$ref":
			if _, err := s.resolve(v.(string)); err != nil {
				return fmt.Errorf("%s: %w", at, err)
			}
		}
	}
	return nil
}

func (s *schemaDoc) resolve(ref string) (any, error) {
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	if !ok {
		return nil, fmt.Errorf("$ref %q: only #/$defs/… is supported", ref)
	}
	defs, _ := s.root["$defs"].(map[string]any)
	sub, ok := defs[name]
	if !ok {
		return nil, fmt.Errorf("$ref %q: no such definition", ref)
	}
	return sub, nil
}

func (s *schemaDoc) validateJSON(data []byte) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	return s.validate(s.root, v, "$")
}

func (s *schemaDoc) validate(schema, v any, at string) error {
	if b, ok := schema.(bool); ok {
		if !b {
			return fmt.Errorf("%s: not allowed", at)
		}
		return nil
	}
	m := schema.(map[string]any)
	// Keywords in a fixed order, so the first error reported is stable.
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kv := m[k]
		var err error
		switch k {
		case "$ref":
			var sub any
			if sub, err = s.resolve(kv.(string)); err == nil {
				err = s.validate(sub, v, at)
			}
		case "type":
			err = checkType(kv, v, at)
		case "enum":
			err = fmt.Errorf("%s: %v is not one of %v", at, v, kv)
			for _, e := range kv.([]any) {
				if jsonEqual(e, v) {
					err = nil
				}
			}
		case "const":
			if !jsonEqual(kv, v) {
				err = fmt.Errorf("%s: %v, want %v", at, v, kv)
			}
		case "properties":
			if obj, ok := v.(map[string]any); ok {
				for name, sub := range kv.(map[string]any) {
					if pv, ok := obj[name]; ok {
						if err = s.validate(sub, pv, at+"."+name); err != nil {
							break
						}
					}
				}
			}
		case "required":
			if obj, ok := v.(map[string]any); ok {
				for _, r := range kv.([]any) {
					if _, ok := obj[r.(string)]; !ok {
						err = fmt.Errorf("%s: missing %q", at, r)
						break
					}
				}
			}
		case "additionalProperties":
			if obj, ok := v.(map[string]any); ok {
				props, _ := m["properties"].(map[string]any)
				names := make([]string, 0, len(obj))
				for name := range obj {
					names = append(names, name)
				}
				sort.Strings(names)
				for _, name := range names {
					if _, declared := props[name]; declared {
						continue
					}
					if err = s.validate(kv, obj[name], at+"."+name); err != nil {
						err = fmt.Errorf("%s: undocumented property %q: %w", at, name, err)
						break
					}
				}
			}
		case "items":
			if arr, ok := v.([]any); ok {
				for i, e := range arr {
					if err = s.validate(kv, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
						break
					}
				}
			}
		case "minItems", "maxItems":
			if arr, ok := v.([]any); ok {
				n, _ := kv.(json.Number).Int64()
				if (k == "minItems" && int64(len(arr)) < n) || (k == "maxItems" && int64(len(arr)) > n) {
					err = fmt.Errorf("%s: %d items, %s is %d", at, len(arr), k, n)
				}
			}
		case "minLength":
			if str, ok := v.(string); ok {
				n, _ := kv.(json.Number).Int64()
				if int64(len([]rune(str))) < n {
					err = fmt.Errorf("%s: %q is shorter than %d", at, str, n)
				}
			}
		case "pattern":
			if str, ok := v.(string); ok {
				if !regexp.MustCompile(kv.(string)).MatchString(str) {
					err = fmt.Errorf("%s: %q does not match %s", at, str, kv)
				}
			}
		case "minimum":
			if num, ok := v.(json.Number); ok {
				a, _ := new(big.Float).SetString(num.String())
				b, _ := new(big.Float).SetString(kv.(json.Number).String())
				if a.Cmp(b) < 0 {
					err = fmt.Errorf("%s: %s is below %s", at, num, kv)
				}
			}
		case "allOf":
			for _, sub := range kv.([]any) {
				if err = s.validate(sub, v, at); err != nil {
					break
				}
			}
		case "anyOf", "oneOf":
			matched := 0
			var last error
			for _, sub := range kv.([]any) {
				if e := s.validate(sub, v, at); e == nil {
					matched++
				} else {
					last = e
				}
			}
			switch {
			case matched == 0:
				err = fmt.Errorf("%s: matches none of %s: %w", at, k, last)
			case k == "oneOf" && matched > 1:
				err = fmt.Errorf("%s: matches %d branches of oneOf", at, matched)
			}
		case "not":
			if s.validate(kv, v, at) == nil {
				err = fmt.Errorf("%s: must not match %v", at, kv)
			}
		case "if":
			if s.validate(kv, v, at) == nil {
				if then, ok := m["then"]; ok {
					err = s.validate(then, v, at)
				}
			} else if els, ok := m["else"]; ok {
				err = s.validate(els, v, at)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func checkType(want, v any, at string) error {
	var types []string
	switch w := want.(type) {
	case string:
		types = []string{w}
	case []any:
		for _, t := range w {
			types = append(types, t.(string))
		}
	}
	for _, t := range types {
		if hasType(t, v) {
			return nil
		}
	}
	return fmt.Errorf("%s: %T is not %s", at, v, strings.Join(types, " or "))
}

func hasType(t string, v any) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestSchemaValidatorRejects makes sure the validator can fail: each document
// breaks the schema in one way.
func TestSchemaValidatorRejects(t *testing.T) {
	s := loadSchema(t)
	hash := strings.Repeat("a", 64)
	valid := fmt.Sprintf(`{"format_version":1,"old_plan_hash":%q,"new_plan_hash":%q,
		"summary":{"add":1,"change":0,"remove":0,"rename":0},
		"changes":[{"kind":"segment","name":"x","action":"add","new_hash":%q,"fields":[{"path":"model","action":"add","new":"lead"}]}],
		"impact":null,"warnings":[]}`, hash, hash, hash)
	if err := s.validateJSON([]byte(valid)); err != nil {
		t.Fatalf("valid document refused: %v", err)
	}
	for name, bad := range map[string]string{
		"version":        strings.Replace(valid, `"format_version":1`, `"format_version":2`, 1),
		"hash":           strings.Replace(valid, `"old_plan_hash":"`+hash, `"old_plan_hash":"xyz`, 1),
		"kind":           strings.Replace(valid, `"kind":"segment"`, `"kind":"segmnt"`, 1),
		"extra property": strings.Replace(valid, `"impact":null`, `"impact":null,"extra":1`, 1),
		"negative count": strings.Replace(valid, `"add":1`, `"add":-1`, 1),
		"add with old":   strings.Replace(valid, `"new":"lead"`, `"new":"lead","old":"x"`, 1),
		"missing fields": strings.Replace(valid, `,"fields":[{"path":"model","action":"add","new":"lead"}]`, ``, 1),
		"impact shape":   strings.Replace(valid, `"impact":null`, `"impact":{"audiences":[]}`, 1),
		"rename no name": strings.Replace(valid, `"action":"add","new_hash"`, `"action":"rename","new_hash"`, 1),
	} {
		if err := s.validateJSON([]byte(bad)); err == nil {
			t.Errorf("%s: invalid document accepted", name)
		}
	}
}
