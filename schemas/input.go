package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// decodeInput turns what the caller passed into a JSON tree (map[string]any,
// []any, string, bool, json.Number, nil).
//
// JSON and maps are taken as written: an absent field is absent, so its CUE
// default applies. A Go struct (the plan types) cannot say "absent" for a field
// without omitempty, so for structs empty strings, zero numbers and nulls in
// objects are dropped before validation: a Template with Class "" gets the
// default class, not an error about "". Booleans are kept as they are, because
// false is a real value a struct cannot tell from "unset"; a caller that needs
// the default of a boolean (exclude_responders) must pass JSON or a map.
func decodeInput(obj any) (any, error) {
	var raw []byte
	prune := false
	switch o := obj.(type) {
	case nil:
		return nil, fmt.Errorf("no object given")
	case []byte:
		raw = o
	case json.RawMessage:
		raw = o
	default:
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("encoding %T as JSON: %w", obj, err)
		}
		raw = b
		t := reflect.TypeOf(obj)
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		prune = t.Kind() == reflect.Struct
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("reading the object as JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("reading the object as JSON: more than one value")
	}
	if prune {
		tree = pruneZero(tree)
	}
	return tree, nil
}

// pruneZero drops the members of every object whose value is null, "" or a zero
// number. List elements are kept: their positions are their identity.
func pruneZero(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if isZero(e) {
				delete(x, k)
				continue
			}
			x[k] = pruneZero(e)
		}
	case []any:
		for i, e := range x {
			x[i] = pruneZero(e)
		}
	}
	return v
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case json.Number:
		f, err := x.Float64()
		return err == nil && f == 0
	}
	return false
}

// toExpr builds the CUE syntax of a JSON tree. Object keys are sorted so the
// same input always builds the same value.
func toExpr(v any) (ast.Expr, error) {
	switch x := v.(type) {
	case nil:
		return ast.NewNull(), nil
	case bool:
		return ast.NewBool(x), nil
	case string:
		return ast.NewString(x), nil
	case json.Number:
		return numberExpr(x)
	case []any:
		elems := make([]ast.Expr, 0, len(x))
		for _, e := range x {
			ex, err := toExpr(e)
			if err != nil {
				return nil, err
			}
			elems = append(elems, ex)
		}
		return ast.NewList(elems...), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		st := &ast.StructLit{Elts: make([]ast.Decl, 0, len(keys))}
		for _, k := range keys {
			ex, err := toExpr(x[k])
			if err != nil {
				return nil, err
			}
			st.Elts = append(st.Elts, &ast.Field{Label: ast.NewString(k), Value: ex})
		}
		return st, nil
	}
	return nil, fmt.Errorf("unexpected JSON value of type %T", v)
}

// toNative replaces the json.Numbers of a tree by int64 or float64, so
// cue.Context.Encode sees numbers (it would take json.Number for a string).
// It reports false when a number does not fit; the tree is copied, not changed.
func toNative(v any) (any, bool) {
	switch x := v.(type) {
	case json.Number:
		s := x.String()
		if !strings.ContainsAny(s, ".eE") {
			n, err := strconv.ParseInt(s, 10, 64)
			return n, err == nil
		}
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, ok := toNative(e)
			if !ok {
				return nil, false
			}
			out[i] = n
		}
		return out, true
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, ok := toNative(e)
			if !ok {
				return nil, false
			}
			out[k] = n
		}
		return out, true
	}
	return v, true
}

// numberExpr keeps integers integers: CUE's int and float differ, and
// "test_percent": 20 must satisfy int.
func numberExpr(n json.Number) (ast.Expr, error) {
	s := n.String()
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	// The JSON decoder has checked the syntax; CUE numbers are arbitrary
	// precision, so 1e400 reaches the schema, which says what is wrong.
	kind := token.INT
	if strings.ContainsAny(s, ".eE") {
		kind = token.FLOAT
	} else if !isDigits(s) {
		return nil, fmt.Errorf("bad number %q", n)
	}
	lit := &ast.BasicLit{Kind: kind, Value: s}
	if neg {
		return &ast.UnaryExpr{Op: token.SUB, X: lit}, nil
	}
	return lit, nil
}

// isDigits reports whether s is an unsigned decimal integer (of any size).
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// valueAt returns the member of the JSON tree at path, if there is one.
func valueAt(tree any, path []string) (any, bool) {
	cur := tree
	for _, p := range path {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[p]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// deleteAt removes the object member at path. It reports false when path does
// not name an object member (a list element, the root, or nothing).
func deleteAt(tree any, path []string) bool {
	if len(path) == 0 {
		return false
	}
	parent, ok := valueAt(tree, path[:len(path)-1])
	if !ok {
		return false
	}
	m, ok := parent.(map[string]any)
	if !ok {
		return false
	}
	if _, ok := m[path[len(path)-1]]; !ok {
		return false
	}
	delete(m, path[len(path)-1])
	return true
}

// copyTree deep-copies a JSON tree, so error recovery can delete members
// without touching the caller's view.
func copyTree(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = copyTree(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = copyTree(e)
		}
		return l
	}
	return v
}

// describeJSON names the JSON type of a value for messages.
func describeJSON(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a text"
	case json.Number:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a block"
	}
	return fmt.Sprintf("%T", v)
}

// showJSON renders a scalar for a message: strings quoted, others as JSON.
func showJSON(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	}
	return describeJSON(v)
}
