package schemas

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue/errors"
)

// This file sorts CUE's raw errors before messages.go phrases them: which
// class each is (required, not allowed, a conflict, a bound…), which are hard
// and which only follow from another, and which can be pruned.

type errClass int

const (
	errRequired    errClass = iota // a required field is missing
	errNotAllowed                  // a field the definition does not have
	errConflict                    // a value other than the one(s) allowed
	errMismatch                    // a value of the wrong type
	errBound                       // a value outside a bound or pattern
	errValidator                   // a list validator (MinItems, UniqueItems)
	errDisjunction                 // "N errors in empty disjunction": a header
	errRule                        // an error("…") rule of the schemas
	errIncomplete                  // no value where one is needed
	errUndefined                   // a lookup by a bad key (the step kind "sned")
	errOther
)

// rawError is one CUE error with its path made relative to the object.
type rawError struct {
	path   []string
	class  errClass
	format string
	args   []any
}

func newRawError(e errors.Error, prefix int) rawError {
	p := e.Path()
	if len(p) >= prefix {
		p = p[prefix:]
	}
	var path []string
	for i, label := range p {
		if list, ok := strings.CutPrefix(label, "_unique_names_"); ok && i+1 < len(p) {
			// The distinct-names rule (common.cue): the label after the
			// hidden field is the name used twice.
			name := p[i+1]
			if u, err := strconv.Unquote(name); err == nil {
				name = u
			}
			return rawError{path: append(path, list), class: errRule, format: "%s",
				args: []any{fmt.Sprintf("%s must have distinct names: %q is used twice", list, name)}}
		}
		if strings.HasPrefix(label, "_") || strings.HasPrefix(label, "#") {
			// Hidden fields and definitions are the schema's own; the error
			// belongs to the nearest place in the object.
			break
		}
		if u, err := strconv.Unquote(label); err == nil {
			label = u
		}
		path = append(path, label)
	}
	format, args := e.Msg()
	if format == "required field missing: %s" && len(args) == 1 {
		// A rule read a required field that is missing: report the field.
		return rawError{path: append(path, fmt.Sprint(args[0])), class: errRequired, format: "field is required but not present"}
	}
	return rawError{path: path, class: classify(format), format: format, args: args}
}

func classify(format string) errClass {
	switch {
	case format == "field is required but not present":
		return errRequired
	case format == "field not allowed":
		return errNotAllowed
	case strings.HasPrefix(format, "conflicting values") && strings.Contains(format, "mismatched types"):
		return errMismatch
	case strings.HasPrefix(format, "conflicting values"):
		return errConflict
	case strings.Contains(format, "out of bound"):
		return errBound
	case strings.Contains(format, "does not satisfy"):
		return errValidator
	case strings.Contains(format, "errors in empty disjunction"):
		return errDisjunction
	case format == "%s":
		return errRule
	case strings.HasPrefix(format, "undefined field"):
		return errUndefined
	case strings.HasPrefix(format, "cannot combine regular field"):
		return errMismatch
	case strings.HasPrefix(format, "incomplete value"), strings.HasPrefix(format, "non-concrete value"):
		return errIncomplete
	}
	return errOther
}

func (r rawError) hard() bool { return r.class != errRequired && r.class != errIncomplete }

func (r rawError) text() string { return fmt.Sprintf(r.format, r.args...) }

func anyHard(raws []rawError) bool {
	for _, r := range raws {
		if r.hard() {
			return true
		}
	}
	return false
}

// prunable says whether error recovery may drop the member at r's path: an
// unknown field or a wrong value can go; a list that breaks a list-wide rule
// stays (the lenient pass switches those rules off instead).
func (r rawError) prunable(tree any) bool {
	if len(r.path) == 0 || !r.hard() {
		return false
	}
	v, ok := valueAt(tree, r.path)
	if !ok {
		return false
	}
	switch r.class {
	case errNotAllowed, errMismatch, errValidator:
		return true
	}
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

// refineUndefined turns a failed lookup by a bad key into an error on the
// member that holds the key: `#StepKinds[kind]` with kind "sned" fails with
// "undefined field: sned" on the step; the mistake is the step's kind.
func refineUndefined(r rawError, tree any) rawError {
	if r.class != errUndefined || len(r.args) != 1 {
		return r
	}
	key := fmt.Sprint(r.args[0])
	parent, _ := valueAt(tree, r.path)
	m, ok := parent.(map[string]any)
	if !ok {
		return r
	}
	var members []string
	for k, v := range m {
		if s, ok := v.(string); ok && s == key {
			members = append(members, k)
		}
	}
	if len(members) != 1 {
		return r
	}
	return rawError{path: append(append([]string(nil), r.path...), members[0]), class: errConflict, format: "conflicting values %s and %s"}
}

// dropConsequences removes a failed lookup by a bad key ("undefined field:
// sned" on a step) when the bad key itself is reported below it, in any pass.
func dropConsequences(raws, all []rawError) []rawError {
	var kept []rawError
	for _, r := range raws {
		if r.class == errUndefined && slices.ContainsFunc(all, func(o rawError) bool {
			return len(o.path) > len(r.path) && under(o.path, [][]string{r.path})
		}) {
			continue
		}
		kept = append(kept, r)
	}
	return kept
}
