package check

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/schemas"
)

func rng(start, end int) ir.Range {
	return ir.Range{Filename: "f.hcl", Start: ir.Pos{Line: 1, Column: start + 1, Byte: start}, End: ir.Pos{Line: 1, Column: end + 1, Byte: end}}
}

// What reaches the schema: written values as written (zeros included), absent
// ones left out so defaults apply, unreadable ones left out.
func TestSchemaInput(t *testing.T) {
	bad := &ir.String{Range: rng(50, 60), Invalid: true}
	r := &ir.Autoresponder{
		Name:              ir.Name{Value: "a", Range: rng(0, 1)},
		Model:             &ir.String{Value: "lead", Range: rng(2, 8)},
		Segment:           bad,
		Mode:              &ir.String{Value: "single", Range: rng(10, 18)},
		MaxFollowUps:      &ir.Int{Value: 0, Range: rng(20, 21)},
		ExcludeResponders: &ir.Bool{Value: false, Range: rng(22, 27)},
		FollowUps: []*ir.FollowUp{
			{Name: ir.Name{Value: "f", Range: rng(30, 31)}, DeclRange: rng(29, 40), Offset: &ir.String{Value: "", Range: rng(32, 34)}},
		},
	}
	objs := lower(&ir.Config{Autoresponders: []*ir.Autoresponder{r}})
	tree, err := schemaInput(objs[0])
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(tree)
	want := `{"exclude_responders":false,"follow_ups":[{"name":"f","offset":""}],"max_follow_ups":0,"mode":"single","model":"lead","name":"a"}`
	if string(got) != want {
		t.Errorf("schema input\n got %s\nwant %s", got, want)
	}
}

func TestLocate(t *testing.T) {
	w := &ir.Workflow{
		Name:      ir.Name{Value: "w", Range: rng(9, 10)},
		DeclRange: rng(0, 10),
		Steps: []*ir.Step{{
			Name:      ir.Name{Value: "s", Range: rng(21, 22)},
			DeclRange: rng(15, 22),
			Kind:      &ir.String{Value: plan.StepWait, Range: rng(25, 29)},
			Duration:  &ir.String{Value: "1x", Range: rng(32, 36)},
		}},
	}
	o := lower(&ir.Config{Workflows: []*ir.Workflow{w}})[0]
	for _, tc := range []struct {
		path  []string
		want  ir.Range
		exact bool
	}{
		{[]string{"steps", "0", "duration"}, rng(32, 36), true},
		{[]string{"steps", "0", "template"}, rng(15, 22), false}, // absent: the step
		{[]string{"trigger", "event"}, rng(0, 10), false},        // absent block: the workflow
		{[]string{"name"}, rng(9, 10), true},
		{nil, rng(0, 10), false},
	} {
		got, exact := o.idx.locate(tc.path, o.decl)
		if got != tc.want || exact != tc.exact {
			t.Errorf("locate(%q) = %v %v, want %v %v", tc.path, got, exact, tc.want, tc.exact)
		}
	}
}

func TestSchemaDiagsDeduplicates(t *testing.T) {
	s := &ir.Sender{
		Name:      ir.Name{Value: "s", Range: rng(7, 8)},
		DeclRange: rng(0, 8),
		From:      &ir.String{Value: "nope", Range: rng(10, 16)},
		ReplyTo:   &ir.String{Range: rng(20, 30), Invalid: true},
	}
	objs := lower(&ir.Config{Senders: []*ir.Sender{s}})
	res := []schemaResult{{errs: nil}}
	res[0].errs = append(res[0].errs,
		fieldErr("bad address", "from"),   // the checker said it already, inside the value
		fieldErr("bad reply", "reply_to"), // the front end could not read it
		fieldErr("bad name", "name"),      // kept, at the name
		// Something missing from the sender while reply_to could not be read:
		// most likely reply_to, whose own error says enough.
		fieldErr("needs a reply_to"),
	)
	checker := diag.Diagnostics{diag.Errorf(rng(11, 15), "from is not an address")}
	ds := schemaDiags(objs, res, checker)
	if len(ds) != 1 || ds[0].Summary != `sender "s": bad name` || *ds[0].Subject != rng(7, 8) {
		t.Errorf("schemaDiags = %+v", ds)
	}
}

func TestRestoreAndPrune(t *testing.T) {
	tree := map[string]any{"a": map[string]any{}, "l": []any{map[string]any{}}}
	restore(tree, []string{"a", "b"}, false)
	restore(tree, []string{"l", "0", "c"}, json.Number("0"))
	restore(tree, []string{"missing", "x"}, "")
	restore(tree, []string{"l", "7", "c"}, "")
	want := map[string]any{"a": map[string]any{"b": false}, "l": []any{map[string]any{"c": json.Number("0")}}}
	if !reflect.DeepEqual(tree, want) {
		t.Errorf("restore: %v", tree)
	}
	idx := newIndex()
	idx.ranges["a"+sep+"b"] = rng(0, 1)
	prune(tree, "", idx)
	want = map[string]any{"a": map[string]any{"b": false}, "l": []any{map[string]any{}}}
	if !reflect.DeepEqual(tree, want) {
		t.Errorf("prune: %v", tree)
	}
}

func fieldErr(msg string, path ...string) schemas.FieldError {
	return schemas.FieldError{Path: path, Message: msg}
}

// A list of named blocks maps to the first name written twice, since the
// schema's error about a list is most often "distinct names", else to its
// owner; each element maps to its declaration; an empty list stays absent.
func TestBlockListIndex(t *testing.T) {
	step := func(name string, at int) *ir.Step {
		return &ir.Step{Name: ir.Name{Value: name, Range: rng(at, at+1)}, DeclRange: rng(at-1, at+1)}
	}
	w := &ir.Workflow{
		Name:      ir.Name{Value: "w", Range: rng(1, 2)},
		DeclRange: rng(0, 2),
		Steps:     []*ir.Step{step("a", 10), step("b", 20), step("a", 30), step("b", 40)},
	}
	m := &ir.Model{
		Name:      ir.Name{Value: "m", Range: rng(51, 52)},
		DeclRange: rng(50, 52),
		Fields: []*ir.Field{
			{Name: ir.Name{Value: "x", Range: rng(60, 61)}, DeclRange: rng(59, 61)},
			{Name: ir.Name{Value: "y", Range: rng(70, 71)}, DeclRange: rng(69, 71)},
		},
	}
	empty := &ir.Sequence{Name: ir.Name{Value: "s", Range: rng(81, 82)}, DeclRange: rng(80, 82)}
	objs := lower(&ir.Config{Models: []*ir.Model{m}, Workflows: []*ir.Workflow{w}, Sequences: []*ir.Sequence{empty}})
	model, workflow, sequence := objs[0], objs[1], objs[2]

	if got := workflow.idx.ranges["steps"]; got != rng(30, 31) {
		t.Errorf("steps maps to %v, want the second \"a\" at %v", got, rng(30, 31))
	}
	if got := workflow.idx.ranges[at("steps", 3)]; got != rng(39, 41) {
		t.Errorf("steps[3] maps to %v, want its declaration %v", got, rng(39, 41))
	}
	if got := workflow.idx.ranges[join(at("steps", 1), "name")]; got != rng(20, 21) {
		t.Errorf("steps[1].name maps to %v, want %v", got, rng(20, 21))
	}
	if got := len(workflow.value.(*plan.Workflow).Steps); got != 4 {
		t.Errorf("lowered %d steps, want 4", got)
	}
	if got := model.idx.ranges["fields"]; got != rng(50, 52) {
		t.Errorf("fields maps to %v, want the model's declaration %v", got, rng(50, 52))
	}
	if got := model.value.(*plan.Model).Fields; len(got) != 2 || got[1].Name != "y" {
		t.Errorf("lowered fields %+v, want x and y", got)
	}
	if _, ok := sequence.idx.ranges["steps"]; ok {
		t.Error("an empty step list is indexed; it should stay absent")
	}
	if got := sequence.value.(*plan.Sequence).Steps; got != nil {
		t.Errorf("an empty step list lowers to %#v, want nil", got)
	}
}
