package diff

import (
	"reflect"
	"slices"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

func TestKindsFollowThePlan(t *testing.T) {
	want := []string{"model", "segment", "sender", "template", "policy", "campaign", "workflow", "sequence", "autoresponder"}
	got := Kinds()
	// Kinds added to the plan later come on top; these must all be there, in
	// this order, with the names Finalize hashes them under.
	var known []string
	for _, k := range got {
		if slices.Contains(want, k) {
			known = append(known, k)
		}
	}
	if !slices.Equal(known, want) {
		t.Errorf("Kinds() = %v, want %v among them, in order", got, want)
	}
}

// A stand-in for a plan type with what the real ones do not all have yet: an
// embedded struct, a map of lists, a pointer, a list of named elements with a
// repeated name, a field encoding/json skips.
type ProbeInner struct {
	Extra string `json:"extra,omitempty"`
}

type probeItem struct {
	Name  string `json:"name"`
	Value int    `json:"value"`
}

type probe struct {
	Name string `json:"name"`
	ProbeInner
	Tags     map[string][]string `json:"tags,omitempty"`
	Ptr      *probeItem          `json:"ptr,omitempty"`
	Items    []probeItem         `json:"items"`
	Flag     bool                `json:"flag"`
	Internal string              `json:"-"`
	Hash     string              `json:"hash"`
}

func TestWalkGenericShapes(t *testing.T) {
	a := probe{
		Name: "x", ProbeInner: ProbeInner{Extra: "e1"},
		Tags:  map[string][]string{"k": {"1"}, "gone": {"2"}},
		Items: []probeItem{{"one", 1}, {"two", 2}},
		Hash:  "h1", Internal: "i1",
	}
	b := probe{
		Name: "x", ProbeInner: ProbeInner{Extra: "e2"},
		Tags:  map[string][]string{"k": {"1", "3"}, "new": {"4"}},
		Ptr:   &probeItem{Name: "p", Value: 7},
		Items: []probeItem{{"two", 2}, {"one", 10}},
		Flag:  true,
		Hash:  "h2", Internal: "i2",
	}
	got := objectFields(reflect.ValueOf(a), reflect.ValueOf(b))
	want := []FieldChange{
		{Path: "extra", Action: Change, Old: "e1", New: "e2"},
		{Path: "tags.gone", Action: Remove, Old: []string{"2"}},
		{Path: "tags.k", Action: Change, Old: []string{"1"}, New: []string{"1", "3"}},
		{Path: "tags.new", Action: Add, New: []string{"4"}},
		{Path: "ptr", Action: Add, New: &probeItem{Name: "p", Value: 7}},
		{Path: "items", Action: Reorder, Old: []string{"one", "two"}, New: []string{"two", "one"}},
		{Path: "items[one].value", Action: Change, Old: 1, New: 10},
		{Path: "flag", Action: Change, Old: false, New: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%#v\nwant\n%#v", got, want)
	}

	// Repeated names cannot be matched by name: the list is compared whole.
	a.Items = []probeItem{{"one", 1}, {"one", 2}}
	b = a
	b.Items = []probeItem{{"one", 1}, {"one", 3}}
	got = objectFields(reflect.ValueOf(a), reflect.ValueOf(b))
	if len(got) != 1 || got[0].Path != "items" || got[0].Action != Change {
		t.Errorf("repeated names: %#v", got)
	}
}

func TestInsertionIsNotAReorder(t *testing.T) {
	a := probe{Items: []probeItem{{"one", 1}, {"three", 3}}}
	b := probe{Items: []probeItem{{"one", 1}, {"two", 2}, {"three", 3}}}
	got := objectFields(reflect.ValueOf(a), reflect.ValueOf(b))
	if len(got) != 1 || got[0].Path != "items[two]" || got[0].Action != Add {
		t.Errorf("got %#v", got)
	}
}

func segmentPlan(segs ...plan.Segment) *plan.Plan {
	p := &plan.Plan{Segments: segs}
	p.Finalize()
	return p
}

func TestRenames(t *testing.T) {
	oldP := segmentPlan(
		plan.Segment{Name: "a", Model: "lead", Filter: "true"},
		plan.Segment{Name: "b", Model: "lead", Filter: "true"},
		plan.Segment{Name: "c", Model: "lead", Filter: "false"},
	)
	// a and b have the same content: both renamed, paired in name order; c is
	// renamed with an edit, which is a removal and an addition.
	newP := segmentPlan(
		plan.Segment{Name: "x", Model: "lead", Filter: "true"},
		plan.Segment{Name: "y", Model: "lead", Filter: "true"},
		plan.Segment{Name: "z", Model: "lead", Filter: "false && true"},
	)
	d := Plans(oldP, newP)
	type row struct{ name, action, oldName string }
	var got []row
	for _, c := range d.Changes {
		got = append(got, row{c.Name, string(c.Action), c.OldName})
	}
	want := []row{{"c", "remove", ""}, {"x", "rename", "a"}, {"y", "rename", "b"}, {"z", "add", ""}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if d.Summary != (Summary{Add: 1, Remove: 1, Rename: 2}) {
		t.Errorf("summary %+v", d.Summary)
	}
}

func TestUnfinalizedPlansAreCompared(t *testing.T) {
	// No hashes: the walk itself must tell equal from different.
	oldP := &plan.Plan{Senders: []plan.Sender{{Name: "s", From: "a@x.example"}, {Name: "t", From: "b@x.example"}}}
	newP := &plan.Plan{Senders: []plan.Sender{{Name: "s", From: "a@x.example"}, {Name: "t", From: "c@x.example"}}}
	d := Plans(oldP, newP)
	if len(d.Changes) != 1 || d.Changes[0].Name != "t" || d.Unchanged != 1 {
		t.Errorf("changes %+v, unchanged %d", d.Changes, d.Unchanged)
	}
}

func TestNilSides(t *testing.T) {
	p := segmentPlan(plan.Segment{Name: "a", Model: "lead", Filter: "true"})
	if d := Plans(nil, p); d.Summary.Add != 1 || d.OldPlanHash == "" {
		t.Errorf("nil old side: %+v, old hash %q", d.Summary, d.OldPlanHash)
	}
	if d := Plans(p, nil); d.Summary.Remove != 1 {
		t.Errorf("nil new side: %+v", d.Summary)
	}
	if d := Plans(p, p); d.HasChanges() || d.Unchanged != 1 {
		t.Errorf("same plan: %+v", d.Summary)
	}
}

func TestSplitPathAndLocate(t *testing.T) {
	for _, tt := range []struct{ path, top, key, rest, at string }{
		{"steps[week2].template", "steps", "week2", "template", "step week2"},
		{`steps["a b"].when.event`, "steps", "a b", "when.event", `step "a b"`},
		{"trigger.event", "trigger", "", "event", ""},
		{"steps[w1].ab_test.variants[b].template", "steps", "w1", "ab_test.variants[b].template", "step w1 variant b"},
		{"follow_ups[day10].template", "follow_ups", "day10", "template", "follow-up day10"},
		{"goal", "goal", "", "", ""},
	} {
		top, key, rest := splitPath(tt.path)
		if top != tt.top || key != tt.key || rest != tt.rest {
			t.Errorf("splitPath(%q) = %q, %q, %q", tt.path, top, key, rest)
		}
		if at := locate(tt.path); at != tt.at {
			t.Errorf("locate(%q) = %q, want %q", tt.path, at, tt.at)
		}
	}
}

// A template's uses are named with the place in each object, once each.
func TestDescribeUses(t *testing.T) {
	got := describeUses([]templateUse{
		{"sequence", "onboarding", "steps[w1].template"},
		{"sequence", "onboarding", "steps[w1].ab_test.variants[b].template"},
		{"sequence", "onboarding", "steps[w1].template"},
		{"campaign", "spring", "template"},
	})
	want := `sequence "onboarding" step w1, sequence "onboarding" step w1 variant b, campaign "spring"`
	if got != want {
		t.Errorf("describeUses = %s\nwant %s", got, want)
	}
}
