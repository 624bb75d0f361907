package diff

// The field walk. It goes by reflection over the plan types and by their JSON
// names, so that a field or a kind added to compiler/plan is diffed without a
// change here, and the paths it reports are the names a reader sees in plan.json.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// kind is one list of objects in plan.Plan: a slice of structs that each have a
// "name" and a "hash" field.
type kind struct {
	name    string // singular, snake_case: "campaign", "workflow"
	field   int    // index of the slice in plan.Plan
	nameIdx int    // index of the Name field in the element struct
	hashIdx int    // index of the Hash field
}

// planKinds are plan.Kinds, in the order Finalize hashes them in.
var planKinds = findKinds()

// Kinds returns the object kinds the diff knows, in plan order.
func Kinds() []string {
	out := make([]string, len(planKinds))
	for i, k := range planKinds {
		out[i] = k.name
	}
	return out
}

// findKinds finds the list, name and hash fields of each kind of plan.Kinds.
func findKinds() []kind {
	t := reflect.TypeFor[plan.Plan]()
	out := make([]kind, len(plan.Kinds))
	for i, pk := range plan.Kinds {
		k := kind{name: pk.Name, field: -1, nameIdx: -1, hashIdx: -1}
		for j := range t.NumField() {
			if jsonName(t.Field(j)) == pk.Plural {
				k.field = j
			}
		}
		for j := range pk.Type.NumField() {
			switch ef := pk.Type.Field(j); {
			case ef.Type.Kind() != reflect.String:
			case jsonName(ef) == "name":
				k.nameIdx = j
			case jsonName(ef) == "hash":
				k.hashIdx = j
			}
		}
		if k.field < 0 || k.nameIdx < 0 || k.hashIdx < 0 {
			panic(fmt.Sprintf("diff: kind %s has no list, name or hash in the plan", pk.Name))
		}
		out[i] = k
	}
	return out
}

// object is one plan object seen through reflection.
type object struct {
	name, hash string
	v          reflect.Value // addressable struct
}

func (o object) ptr() any { return o.v.Addr().Interface() }

func (k kind) objects(p *plan.Plan) []object {
	s := reflect.ValueOf(p).Elem().Field(k.field)
	out := make([]object, s.Len())
	for i := range out {
		v := s.Index(i)
		out[i] = object{name: v.Field(k.nameIdx).String(), hash: v.Field(k.hashIdx).String(), v: v}
	}
	return out
}

// namelessHash hashes an object's JSON with its name and hash cleared: two
// objects with equal nameless hashes differ by name only.
func namelessHash(v reflect.Value) string {
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	for i := range c.NumField() {
		f := c.Type().Field(i)
		if f.Type.Kind() == reflect.String && (jsonName(f) == "name" || jsonName(f) == "hash") {
			c.Field(i).SetString("")
		}
	}
	b, err := json.Marshal(c.Interface())
	if err != nil {
		// Plan types are plain data; this cannot happen. Returning the error text
		// keeps the object unmatched rather than matching everything.
		return "error:" + err.Error()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// objectFields compares two objects of the same kind field by field. The name is
// the key the objects were matched on and the hash is derived, so neither is a
// field change.
func objectFields(a, b reflect.Value) []FieldChange {
	var w walker
	w.structFields("", a, b, true)
	return w.out
}

// wholeObject lists every present field of one object as added or removed.
func wholeObject(action Action, v reflect.Value) []FieldChange {
	var w walker
	if action == Add {
		w.structFields("", reflect.Value{}, v, true)
	} else {
		w.structFields("", v, reflect.Value{}, true)
	}
	if w.out == nil {
		return []FieldChange{}
	}
	return w.out
}

type walker struct {
	out []FieldChange
}

func (w *walker) emit(path string, action Action, a, b reflect.Value) {
	fc := FieldChange{Path: path, Action: action}
	if a.IsValid() {
		fc.Old = a.Interface()
	}
	if b.IsValid() {
		fc.New = b.Interface()
	}
	w.out = append(w.out, fc)
}

// structFields compares the fields of two structs of one type; either may be
// invalid (absent), in which case every present field of the other is an add or
// a remove. top skips the object's own name and hash.
func (w *walker) structFields(path string, a, b reflect.Value, top bool) {
	t := typeOf(a, b)
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, omitEmpty, skip := jsonField(f)
		if skip || (top && (name == "name" || name == "hash")) {
			continue
		}
		var fa, fb reflect.Value
		if a.IsValid() {
			fa = a.Field(i)
		}
		if b.IsValid() {
			fb = b.Field(i)
		}
		if f.Anonymous && name == "" {
			// An embedded struct's fields are encoded inline, so they are compared
			// inline too.
			w.value(path, deref(fa), deref(fb), false)
			continue
		}
		w.value(joinPath(path, name), fa, fb, omitEmpty)
	}
}

// value compares one value. Absent means what it means in the JSON encoding: a
// nil pointer, slice, map or interface, or an empty value of an omitempty field.
func (w *walker) value(path string, a, b reflect.Value, omitEmpty bool) {
	aAbsent, bAbsent := absent(a, omitEmpty), absent(b, omitEmpty)
	if aAbsent && bAbsent {
		return
	}
	t := typeOf(a, b)
	// Named lists are compared element by element even when one side is absent,
	// so a first step added to an empty workflow is "steps[x]: add".
	if t.Kind() == reflect.Slice && namedElem(t.Elem()) >= 0 {
		if w.namedList(path, a, b) {
			return
		}
	}
	switch {
	case aAbsent:
		w.emit(path, Add, reflect.Value{}, b)
		return
	case bAbsent:
		w.emit(path, Remove, a, reflect.Value{})
		return
	}
	a, b = deref(a), deref(b)
	if a.Type() != b.Type() {
		// Only interfaces can hold different types; the plan has none today.
		w.emit(path, Change, a, b)
		return
	}
	switch a.Kind() {
	case reflect.Struct:
		w.structFields(path, a, b, false)
	case reflect.Map:
		w.mapEntries(path, a, b)
	default:
		// Scalars, and lists without names, are compared whole.
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			w.emit(path, Change, a, b)
		}
	}
}

// namedList compares two lists whose elements have names, matching elements by
// name: a change of order is one Reorder, an edited element is its fields'
// changes. It returns false, having done nothing, when names are missing or
// repeated (a plan the compiler would refuse); the caller then compares the
// lists as plain values.
func (w *walker) namedList(path string, a, b reflect.Value) bool {
	nameIdx := namedElem(typeOf(a, b).Elem())
	oldNames, ok1 := elementNames(a, nameIdx)
	newNames, ok2 := elementNames(b, nameIdx)
	if !ok1 || !ok2 {
		return false
	}
	oldAt := make(map[string]int, len(oldNames))
	for i, n := range oldNames {
		oldAt[n] = i
	}
	newAt := make(map[string]int, len(newNames))
	for i, n := range newNames {
		newAt[n] = i
	}
	// Order matters for steps (they run in order): report it when the elements
	// both sides have are in a different relative order. An insertion alone is
	// not a reorder.
	var oldCommon, newCommon []string
	for _, n := range oldNames {
		if _, ok := newAt[n]; ok {
			oldCommon = append(oldCommon, n)
		}
	}
	for _, n := range newNames {
		if _, ok := oldAt[n]; ok {
			newCommon = append(newCommon, n)
		}
	}
	if !slices.Equal(oldCommon, newCommon) {
		w.out = append(w.out, FieldChange{Path: path, Action: Reorder, Old: oldNames, New: newNames})
	}
	for j, n := range newNames {
		ep := path + "[" + pathKey(n) + "]"
		if i, ok := oldAt[n]; ok {
			w.value(ep, a.Index(i), b.Index(j), false)
		} else {
			w.emit(ep, Add, reflect.Value{}, b.Index(j))
		}
	}
	for i, n := range oldNames {
		if _, ok := newAt[n]; !ok {
			w.emit(path+"["+pathKey(n)+"]", Remove, a.Index(i), reflect.Value{})
		}
	}
	return true
}

func (w *walker) mapEntries(path string, a, b reflect.Value) {
	keys := map[string]reflect.Value{}
	for _, k := range a.MapKeys() {
		keys[fmt.Sprint(k.Interface())] = k
	}
	for _, k := range b.MapKeys() {
		keys[fmt.Sprint(k.Interface())] = k
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, ks := range sorted {
		k := keys[ks]
		w.value(joinPath(path, pathKey(ks)), a.MapIndex(k), b.MapIndex(k), false)
	}
}

// elementNames returns the names of a list's elements, and false if one is
// empty or repeated. An absent list has no names.
func elementNames(s reflect.Value, nameIdx int) ([]string, bool) {
	if !s.IsValid() || s.IsNil() {
		return nil, true
	}
	names := make([]string, s.Len())
	seen := make(map[string]bool, len(names))
	for i := range names {
		e := deref(s.Index(i))
		if !e.IsValid() {
			return nil, false
		}
		n := e.Field(nameIdx).String()
		if n == "" || seen[n] {
			return nil, false
		}
		seen[n] = true
		names[i] = n
	}
	return names, true
}

// namedElem returns the index of the string field named "name" when t (or what
// it points to) is a struct that has one, else -1.
func namedElem(t reflect.Type) int {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return -1
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type.Kind() == reflect.String && jsonName(f) == "name" {
			return i
		}
	}
	return -1
}

func absent(v reflect.Value, omitEmpty bool) bool {
	if !v.IsValid() {
		return true
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
		if v.IsNil() {
			return true
		}
	}
	return omitEmpty && isEmpty(v)
}

// isEmpty is encoding/json's notion of an empty value for omitempty.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// typeOf is the type of whichever of a and b is present.
func typeOf(a, b reflect.Value) reflect.Type {
	if a.IsValid() {
		return a.Type()
	}
	return b.Type()
}

func deref(v reflect.Value) reflect.Value {
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// jsonField returns a struct field's JSON name, whether it is omitempty, and
// whether encoding/json skips it. An embedded struct without a tag has name "".
func jsonField(f reflect.StructField) (name string, omitEmpty, skip bool) {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false, true
	}
	name, opts, _ := strings.Cut(tag, ",")
	for _, o := range strings.Split(opts, ",") {
		if o == "omitempty" {
			omitEmpty = true
		}
	}
	if name == "" && !f.Anonymous {
		name = f.Name
	}
	return name, omitEmpty, false
}

func jsonName(f reflect.StructField) string {
	n, _, _ := jsonField(f)
	return n
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// pathKey writes a name as it appears in a path: bare when it is an identifier
// (every name the compiler accepts), quoted otherwise so the path stays
// unambiguous.
func pathKey(s string) string {
	for i, r := range s {
		if r != '_' && r != '-' && !unicode.IsLetter(r) && !(i > 0 && unicode.IsDigit(r)) {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}
