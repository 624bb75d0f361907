package diff

// Shared by the text and Markdown views: how a value is written, and how a
// whole sub-object (an added step, a removed A/B test) is spelt out as one line
// per leaf field, with the same paths the field changes use.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// leaf is one scalar (or unnamed list) of a flattened value.
type leaf struct {
	path  string
	value any
}

// flatten spells a value out as leaves. A scalar is one leaf at path; a struct,
// map or named list is its fields, entries or elements, recursively.
func flatten(path string, v any) []leaf {
	var out []leaf
	// An element of a named list (steps[week2]) has its name in the path.
	flattenValue(path, reflect.ValueOf(v), strings.HasSuffix(path, "]"), &out)
	return out
}

func flattenValue(path string, v reflect.Value, inNamedList bool, out *[]leaf) {
	v = deref(v)
	if !v.IsValid() {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, omitEmpty, skip := jsonField(f)
			// Inside a named list the element's name is already in the path.
			if skip || (inNamedList && name == "name") {
				continue
			}
			fv := v.Field(i)
			if absent(fv, omitEmpty) {
				continue
			}
			if f.Anonymous && name == "" {
				flattenValue(path, fv, false, out)
				continue
			}
			flattenValue(joinPath(path, name), fv, false, out)
		}
	case reflect.Slice, reflect.Array:
		nameIdx := namedElem(v.Type().Elem())
		if nameIdx >= 0 {
			if names, ok := elementNames(v, nameIdx); ok && len(names) > 0 {
				for i, n := range names {
					flattenValue(path+"["+pathKey(n)+"]", v.Index(i), true, out)
				}
				return
			}
		}
		*out = append(*out, leaf{path, v.Interface()})
	case reflect.Map:
		if v.Len() == 0 {
			*out = append(*out, leaf{path, v.Interface()})
			return
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i].Interface()) < fmt.Sprint(keys[j].Interface()) })
		for _, k := range keys {
			flattenValue(joinPath(path, pathKey(fmt.Sprint(k.Interface()))), v.MapIndex(k), false, out)
		}
	default:
		*out = append(*out, leaf{path, v.Interface()})
	}
}

// quoteValue writes a scalar as a reader expects it: strings quoted (printable
// Unicode kept as is), numbers without exponent, lists and objects as compact
// JSON.
func quoteValue(v any) string {
	rv := deref(reflect.ValueOf(v))
	if !rv.IsValid() {
		return "null"
	}
	switch rv.Kind() {
	case reflect.String:
		return strconv.Quote(rv.String())
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(rv.Float(), 'f', -1, 64)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rv.Interface()); err != nil {
		return fmt.Sprint(rv.Interface())
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// namesList writes the element names of a Reorder: "week1, week2".
func namesList(v any) string {
	names, _ := v.([]string)
	return strings.Join(names, ", ")
}

func plural(n int, word string) string {
	return strconv.Itoa(n) + " " + pluralWord(n, word)
}

// summaryLine is the last line of the text view and the headline of the
// Markdown one.
func summaryLine(s Summary) string {
	if s.Total() == 0 {
		return "No changes."
	}
	return fmt.Sprintf("Plan: %d to add, %d to change, %d to remove, %d to rename.", s.Add, s.Change, s.Remove, s.Rename)
}

// impactLines describes an Impact, one line per audience and enrollment.
func impactLines(imp *Impact) []string {
	var out []string
	for _, a := range imp.Audiences {
		line := fmt.Sprintf("segment %q: %s → %s contacts", a.Segment, countText(a.Before), countText(a.After))
		if a.Before != nil && a.After != nil {
			delta := *a.After - *a.Before
			sign := "+"
			if delta < 0 {
				sign = "" // groupDigits writes the minus
			}
			line += " (" + sign + groupDigits(delta) + ")"
		}
		if len(a.UsedBy) > 0 {
			line += ", used by " + strings.Join(a.UsedBy, ", ")
		}
		out = append(out, line)
	}
	for _, e := range imp.Enrollments {
		out = append(out, fmt.Sprintf("%s %q: %s enrolled now", e.Kind, e.Name, plural64(e.Active, "contact")))
		for _, s := range e.Steps {
			line := fmt.Sprintf("  step %q: %s waiting", s.Step, groupDigits(s.Waiting))
			if s.Change != "" {
				line += " (" + s.Change + " by this change)"
			}
			out = append(out, line)
		}
	}
	return out
}

func countText(n *int64) string {
	if n == nil {
		return "none"
	}
	return groupDigits(*n)
}

func plural64(n int64, word string) string {
	return groupDigits(n) + " " + pluralWord(n, word)
}

// groupDigits writes 3877 as 3,877, as reviewers read counts.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
