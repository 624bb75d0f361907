package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// Schema is what the applied plan's triggers declare about the properties of
// events (plan.Plan.EventDecls), by model and type ("customer/cart_abandoned").
// A workflow's conditions read a declared property with its declared type, so
// an event whose property has another JSON type is refused on arrival, naming
// the property and its value, instead of failing (or silently not matching)
// in a trigger filter later. Undeclared properties, events of undeclared
// types, and declared properties left out or null are accepted: a left-out
// property reads as absent (has(event.value) is false).
//
// The nil Schema checks nothing, as before a plan declared properties.
type Schema map[string]*plan.EventDecl

// SchemaOf is the Schema of a plan (nil for a nil plan).
func SchemaOf(p *plan.Plan) Schema {
	if p == nil {
		return nil
	}
	d := p.EventDecls()
	if len(d) == 0 {
		return nil
	}
	return Schema(d)
}

// check reports each declared property of e whose JSON value has another
// type, as a *FieldError on "properties.<name>".
func (s Schema) check(e store.Event) []error {
	if s == nil || len(e.Properties) == 0 {
		return nil
	}
	d := s[e.Model+"/"+e.Type]
	if d == nil {
		return nil
	}
	var props map[string]json.RawMessage
	if json.Unmarshal(e.Properties, &props) != nil {
		return nil // not an object: Validate says so
	}
	var errs []error
	for _, p := range d.Properties {
		raw, ok := props[p.Name]
		if !ok || string(raw) == "null" {
			continue
		}
		if want, ok := propertyFits(p.Type, raw); !ok {
			errs = append(errs, &FieldError{Field: "properties." + p.Name, Msg: fmt.Sprintf(
				"want %s, got %s %s (workflow %q declares %s.%s as %s for %s events)",
				want, jsonKind(raw), showJSON(raw), d.By[p.Name], "event", p.Name, p.Type, d.Type)})
		}
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].(*FieldError).Field < errs[j].(*FieldError).Field })
	return errs
}

// propertyFits says whether raw (valid JSON, not null) has the JSON type of
// a property of type t, and otherwise what is wanted.
func propertyFits(t plan.FieldType, raw json.RawMessage) (want string, ok bool) {
	raw = bytes.TrimSpace(raw)
	switch t {
	case plan.TypeString:
		return "a JSON string", raw[0] == '"'
	case plan.TypeInt:
		return "a JSON integer, e.g. 3", integerLiteral.Match(raw)
	case plan.TypeFloat:
		return "a JSON number, e.g. 25.5", raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')
	case plan.TypeBool:
		return "true or false", string(raw) == "true" || string(raw) == "false"
	case plan.TypeTimestamp:
		want = `an RFC 3339 time in a string, e.g. "2026-11-20T10:00:00Z"`
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return want, false
		}
		_, err := time.Parse(time.RFC3339Nano, s)
		return want, err == nil
	case plan.TypeStringList:
		want = `an array of strings, e.g. ["a", "b"]`
		var l []any
		if raw[0] != '[' || json.Unmarshal(raw, &l) != nil {
			return want, false
		}
		for _, x := range l {
			if _, ok := x.(string); !ok {
				return want, false
			}
		}
		return want, true
	}
	return "a value of type " + string(t), false
}
