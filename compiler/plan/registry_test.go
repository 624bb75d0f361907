package plan

import (
	"reflect"
	"strings"
	"testing"
)

// TestKindsCoverThePlan fails when a kind of Kinds has no list in Plan of its
// type under its plural, or when Plan holds a list of objects that Kinds does
// not declare, in the same order.
func TestKindsCoverThePlan(t *testing.T) {
	var lists []reflect.StructField
	pt := reflect.TypeFor[Plan]()
	for i := range pt.NumField() {
		f := pt.Field(i)
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
			lists = append(lists, f)
		}
	}
	if len(lists) != len(Kinds) {
		t.Fatalf("Plan has %d lists of objects, Kinds declares %d kinds", len(lists), len(Kinds))
	}
	for i, k := range Kinds {
		f := lists[i]
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != k.Plural || f.Type.Elem() != k.Type {
			t.Errorf("kind %d is %s (%s, %v); Plan's list %d is %s (%s, %v)", i, k.Name, k.Plural, k.Type, i, f.Name, name, f.Type.Elem())
		}
		if _, ok := k.Type.FieldByName("Hash"); !ok {
			t.Errorf("%v has no Hash field", k.Type)
		}
	}
}

// TestAddAndCount checks that Add files each object under its own kind.
func TestAddAndCount(t *testing.T) {
	p := &Plan{}
	for _, obj := range []any{&Model{Name: "m"}, &Campaign{Name: "c"}, &Campaign{Name: "d"}, &Autoresponder{Name: "a"}} {
		if !p.Add(obj) {
			t.Fatalf("Add(%T) = false", obj)
		}
	}
	if p.Add(&Step{}) {
		t.Error("Add(*Step) = true: a step is no kind of object")
	}
	want := map[string]int{"model": 1, "campaign": 2, "autoresponder": 1}
	for _, k := range Kinds {
		if got := k.Count(p); got != want[k.Name] {
			t.Errorf("%s: %d objects, want %d", k.Name, got, want[k.Name])
		}
	}
	if p.Campaigns[1].Name != "d" {
		t.Errorf("campaigns = %+v, want c then d", p.Campaigns)
	}
}
