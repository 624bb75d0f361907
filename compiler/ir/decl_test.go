package ir

import (
	"reflect"
	"strings"
	"testing"
)

// TestDeclarationsParse parses the declarations of every kind, every nested
// block and a workflow step, so a malformed lang tag fails here rather than
// as a panic of the first compile.
func TestDeclarationsParse(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(st reflect.Type) {
		if seen[st] {
			return
		}
		seen[st] = true
		ms, err := parseMembers(st)
		if err != nil {
			t.Error(err)
			return
		}
		if len(ms) == 0 {
			t.Errorf("%v declares no members", st)
		}
		for _, m := range ms {
			if m.IsBlock() && !m.Custom {
				walk(m.Elem())
			}
		}
	}
	for _, k := range Kinds {
		walk(k.Type)
	}
	walk(reflect.TypeFor[stepSyntax]())
	// Every block struct of the IR is reached but those read by hand (a
	// policy's bypass, a workflow's steps).
	if len(seen) < 20 {
		t.Errorf("reached %d structs, want every kind and block", len(seen))
	}
}

// TestStepMembersCoverMarkers checks that every step marker is a declared
// step member, so both front ends' schemas accept it.
func TestStepMembersCoverMarkers(t *testing.T) {
	names := map[string]bool{}
	for _, m := range StepMembers() {
		names[m.Name] = true
	}
	for _, m := range StepMarkers {
		if !names[m.Name] {
			t.Errorf("step marker %q is not a declared step member", m.Name)
		}
	}
}

func TestMalformedDeclarations(t *testing.T) {
	type block struct{ X *String }
	type named struct {
		DeclRange Range
		Y         *String `lang:"y"`
	}
	cases := []struct {
		name string
		typ  reflect.Type
		want string
	}{
		{"unknown option", reflect.TypeFor[struct {
			A *String `lang:"a,bogus"`
		}](), `unknown lang option "bogus"`},
		{"repeated name", reflect.TypeFor[struct {
			A *String `lang:"a"`
			B *String `lang:"a"`
		}](), "repeated member name"},
		{"unsupported type", reflect.TypeFor[struct {
			A string `lang:"a"`
		}](), "a member must be"},
		{"cel on a bool", reflect.TypeFor[struct {
			A *Bool `lang:"a,cel"`
		}](), "cel and file apply to strings only"},
		{"block without DeclRange", reflect.TypeFor[struct {
			A *block `lang:"a"`
		}](), "has no DeclRange"},
		{"named block without Name", reflect.TypeFor[struct {
			A []*named `lang:"a"`
		}](), "has no Name"},
	}
	for _, c := range cases {
		_, err := parseMembers(c.typ)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one containing %q", c.name, err, c.want)
		}
	}
	type good struct {
		Name      Name
		DeclRange Range
	}
	ms, err := parseMembers(reflect.TypeFor[struct {
		F       *String `lang:"f,cel"`
		B       []*good `lang:"b"`
		Skipped *String
	}]())
	if err != nil || len(ms) != 2 || !ms[0].CEL || !ms[0].File || ms[1].Form != FormBlocks || ms[1].Elem() != reflect.TypeFor[good]() {
		t.Errorf("members = %+v, %v", ms, err)
	}
}
