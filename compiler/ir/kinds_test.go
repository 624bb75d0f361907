package ir

import (
	"reflect"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// TestKindsMatchConfig checks that every kind of plan.Kinds has its list in
// Config, in order, and that Add, Objects, Append and Len go through it.
func TestKindsMatchConfig(t *testing.T) {
	if len(Kinds) != len(plan.Kinds) {
		t.Fatalf("%d IR kinds, %d plan kinds", len(Kinds), len(plan.Kinds))
	}
	a, b := &Config{}, &Config{}
	for i, k := range Kinds {
		if k.Name != plan.Kinds[i].Name {
			t.Errorf("kind %d: %s, plan says %s", i, k.Name, plan.Kinds[i].Name)
		}
		if got, ok := LookupKind(k.Name); !ok || got.Type != k.Type {
			t.Errorf("LookupKind(%q) = %v, %v", k.Name, got.Type, ok)
		}
		for j := 0; j <= i; j++ {
			obj := k.New()
			SetHeader(obj, Name{Value: k.Name}, Range{})
			k.Add(a, obj)
		}
		if got := k.Objects(a); len(got) != i+1 || reflect.TypeOf(got[0]) != reflect.PointerTo(k.Type) {
			t.Errorf("%s: Objects = %d objects of %T, want %d of *%v", k.Name, len(got), got[0], i+1, k.Type)
		}
	}
	if a.Campaigns[0].Name.Value != "campaign" || len(a.Autoresponders) != len(Kinds) {
		t.Errorf("Add filed objects under the wrong lists: %d campaigns, %d autoresponders", len(a.Campaigns), len(a.Autoresponders))
	}
	want := len(Kinds) * (len(Kinds) + 1) / 2
	b.Append(a)
	b.Append(a)
	if a.Len() != want || b.Len() != 2*want {
		t.Errorf("Len = %d and %d, want %d and %d", a.Len(), b.Len(), want, 2*want)
	}
	if _, ok := LookupKind("campaigns"); ok {
		t.Error(`LookupKind("campaigns") found a kind`)
	}
}
