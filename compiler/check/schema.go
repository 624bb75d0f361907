package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/schemas"
)

// Schema validation: each lowered object is unified with its CUE definition
// (package schemas), which is the one source of truth for shapes, required
// fields, allowed values, formats and defaults. An object that passes is
// replaced by the schema's completed JSON, so defaults (a template's class, a
// workflow type's re-enrollment rule) are in the plan. Each error comes back as
// a JSON path, which the object's path index maps to its source range.

// schemaResult is the schema's answer for one object.
type schemaResult struct {
	errs []schemas.FieldError
	// internal is set when the object could not even be handed to the schema;
	// it is a bug, reported as such.
	internal error
}

// validateSchemas validates every object, in parallel: the schemas package
// keeps one CUE evaluator per CPU and is safe for concurrent use, and CUE is
// most of the compiler's time on a large tree.
func validateSchemas(objs []*object) []schemaResult {
	results := make([]schemaResult, len(objs))
	workers := min(runtime.GOMAXPROCS(0), len(objs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = validateOne(objs[i])
			}
		}()
	}
	for i := range objs {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

func validateOne(o *object) (res schemaResult) {
	input, err := schemaInput(o)
	if err != nil {
		return schemaResult{internal: err}
	}
	out, errs := schemas.Complete(o.kind, input)
	if len(errs) > 0 {
		return schemaResult{errs: errs}
	}
	// Decode into a fresh struct of the same type: what the schema completed is
	// the object now.
	fresh := reflect.New(reflect.TypeOf(o.value).Elem()).Interface()
	if err := json.Unmarshal(out, fresh); err != nil {
		return schemaResult{internal: fmt.Errorf("reading the schema's completed %s: %w", o.kind, err)}
	}
	o.value = fresh
	o.completed = true
	return schemaResult{}
}

// schemaInput is the object's JSON as a tree, with what was not written left
// out: a Go struct writes "" and 0 and false for absent fields, and the schema
// must see them absent for its defaults and "required" messages to apply. A
// written value is kept whatever it is (test_percent = 0 is refused, not
// defaulted), except one the front end could not read, which was reported.
func schemaInput(o *object) (map[string]any, error) {
	b, err := json.Marshal(o.value)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %q: %w", o.kind, o.name.Value, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("decoding %s %q: %w", o.kind, o.name.Value, err)
	}
	for p, v := range o.idx.zeros {
		restore(tree, strings.Split(p, sep), v)
	}
	prune(tree, "", o.idx)
	return tree, nil
}

// restore sets the member at path to v if the member is absent and its parent
// exists.
func restore(tree any, path []string, v any) {
	cur := tree
	for i, part := range path {
		last := i == len(path)-1
		switch x := cur.(type) {
		case map[string]any:
			if last {
				if _, ok := x[part]; !ok {
					x[part] = v
				}
				return
			}
			cur = x[part]
		case []any:
			n, err := strconv.Atoi(part)
			if err != nil || n < 0 || n >= len(x) || last {
				return
			}
			cur = x[n]
		default:
			return
		}
	}
}

// prune drops, recursively, the members that were not written and are zero,
// and those whose value the front end could not read. It reports whether v is
// now empty (an object without members).
func prune(v any, path string, idx *pathIndex) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := join(path, k)
			_, written := idx.ranges[p]
			if idx.invalid[p] {
				delete(x, k)
				continue
			}
			empty := prune(e, p, idx)
			if !written && (empty || zero(e)) {
				delete(x, k)
			}
		}
		return len(x) == 0
	case []any:
		for i, e := range x {
			prune(e, at(path, i), idx)
		}
	}
	return false
}

func zero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case json.Number:
		return x.String() == "0"
	}
	return false
}

// schemaDiags turns the schema's errors into diagnostics. An error at a path the
// checker has reported on already (an invalid name, a malformed duration: the
// checker's message is more specific) or whose value the front end could not
// read is dropped, so each mistake is reported once.
func schemaDiags(objs []*object, results []schemaResult, reported diag.Diagnostics) diag.Diagnostics {
	var ds diag.Diagnostics
	for i, o := range objs {
		r := results[i]
		if r.internal != nil {
			ds = append(ds, diag.Errorf(o.decl, "internal error while validating %s %q: %v; please report it", o.kind, o.name.Value, r.internal))
			continue
		}
		for _, e := range r.errs {
			if o.idx.underInvalid(e.Path) {
				continue
			}
			rng, exact := o.idx.locate(e.Path, o.decl)
			if exact && coveredBy(rng, reported) {
				continue
			}
			if !exact && o.idx.invalidNear(e.Path) {
				// Something is missing from a block where a value could not be
				// read: most likely that value ("a template needs a body" about
				// an html = file() that failed). Its error says enough.
				continue
			}
			ds = append(ds, diag.Errorf(rng, "%s %q: %s", o.kind, o.name.Value, e.Message))
		}
	}
	return ds
}

// locate returns the range of path: its own if it was written, else that of the
// nearest enclosing block that was, else the object's. exact says whether it is
// the path's own range.
func (x *pathIndex) locate(path []string, decl ir.Range) (ir.Range, bool) {
	for n := len(path); n > 0; n-- {
		if r, ok := x.ranges[pathKey(path[:n])]; ok {
			return r, n == len(path)
		}
	}
	return decl, false
}

// underInvalid reports whether path is, or lies inside, a value the front end
// could not read.
func (x *pathIndex) underInvalid(path []string) bool {
	if len(x.invalid) == 0 {
		return false
	}
	for n := len(path); n > 0; n-- {
		if x.invalid[pathKey(path[:n])] {
			return true
		}
	}
	return false
}

// invalidNear reports whether the block that holds path (its longest written
// prefix) holds a value the front end could not read.
func (x *pathIndex) invalidNear(path []string) bool {
	if len(x.invalid) == 0 {
		return false
	}
	n := len(path)
	for ; n > 0; n-- {
		if _, ok := x.ranges[pathKey(path[:n])]; ok {
			break
		}
	}
	block := pathKey(path[:n])
	for p := range x.invalid {
		if block == "" || strings.HasPrefix(p, block+sep) {
			return true
		}
	}
	return false
}

// coveredBy reports whether an error diagnostic of ds lies within r.
func coveredBy(r ir.Range, ds diag.Diagnostics) bool {
	for _, d := range ds {
		if d.Severity != diag.Error || d.Subject == nil {
			continue
		}
		s := d.Subject
		if s.Filename == r.Filename && s.Start.Byte >= r.Start.Byte && s.End.Byte <= r.End.Byte {
			return true
		}
	}
	return false
}
