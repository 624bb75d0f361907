package ir

import (
	"strings"
	"testing"
)

// fakeStep is a step whose members are strings at increasing offsets, in the
// order given; it records what the resolver reads and reports.
type fakeStep struct {
	members []string
	read    []string
	errs    []string
}

func (f *fakeStep) Assign() string { return " = " }

func (f *fakeStep) Has(m string) bool {
	for _, n := range f.members {
		if n == m {
			return true
		}
	}
	return false
}

func (f *fakeStep) NameRange(m string) Range {
	for i, n := range f.members {
		if n == m {
			return Range{Filename: "f", Start: Pos{Byte: 10 * i}}
		}
	}
	return Range{}
}

func (f *fakeStep) Str(m string, _ bool) *String {
	if !f.Has(m) {
		return nil
	}
	f.read = append(f.read, m)
	return &String{Value: m}
}
func (f *fakeStep) Bool(m string) *Bool          { f.read = append(f.read, m); return &Bool{Value: true} }
func (f *fakeStep) StrList(m string) *StringList { f.read = append(f.read, m); return &StringList{} }
func (f *fakeStep) ScalarText(m string) *String  { return f.Str(m, false) }
func (f *fakeStep) Engagement() *Engagement {
	f.read = append(f.read, "engagement")
	return &Engagement{}
}
func (f *fakeStep) ABTest() *ABTest                  { return nil }
func (f *fakeStep) Error(_ Range, _, summary string) { f.errs = append(f.errs, summary) }

func TestReadStep(t *testing.T) {
	cases := []struct {
		members  []string
		kind     string
		errs     string
		notRead  string
		template string
	}{
		{members: []string{"send", "next"}, kind: "send", template: "send"},
		// The first marker written wins; the second is reported and its value
		// is not read, so no second error about it follows.
		{members: []string{"send", "wait"}, kind: "send", errs: "s has both send and wait", notRead: "wait", template: "send"},
		{members: []string{"engagement", "if"}, kind: "branch", errs: "s tests both a condition (if) and an engagement", notRead: "if"},
		{members: []string{"next"}, errs: "s does nothing"},
		{members: []string{"set_property", "field"}, kind: "set_property", errs: "s: field does not apply: set_property names the property already"},
		{members: []string{"exit"}, kind: "exit"},
	}
	for _, c := range cases {
		f := &fakeStep{members: c.members}
		st := &Step{}
		ReadStep(f, st, "s")
		name := strings.Join(c.members, "+")
		if got := strings.Join(f.errs, "; "); got != c.errs {
			t.Errorf("%s: errors %q, want %q", name, got, c.errs)
		}
		if (st.Kind == nil) != (c.kind == "") || st.Kind != nil && st.Kind.Value != c.kind {
			t.Errorf("%s: kind %v, want %q", name, st.Kind, c.kind)
		}
		if c.notRead != "" && strings.Contains(" "+strings.Join(f.read, " ")+" ", " "+c.notRead+" ") {
			t.Errorf("%s: read %v, which includes the second marker %s", name, f.read, c.notRead)
		}
		if c.template != "" && (st.Template == nil || st.Template.Value != c.template) {
			t.Errorf("%s: template %v, want %q", name, st.Template, c.template)
		}
	}
}
