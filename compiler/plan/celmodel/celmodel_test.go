package celmodel

import (
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

var testModel = plan.Model{Name: "lead", Table: "crm_lead", Key: "id", Email: "email", Fields: []plan.Field{
	{Name: "stage", Column: "stage", Type: plan.TypeString, Nullable: true},
	{Name: "score", Column: "score", Type: plan.TypeInt},
	{Name: "tags", Column: "tags", Type: plan.TypeStringList, Nullable: true},
}}

type rec struct {
	vals []ref.Val
	set  []bool
}

func (r *rec) Field(i int) ref.Val { return r.vals[i] }
func (r *rec) IsSet(i int) bool    { return r.set[i] }

func TestEnvTypesAndEvaluates(t *testing.T) {
	env, err := Env(&testModel, []string{"other"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		expr   string
		set    bool
		want   bool
		errSub string
	}{
		{expr: `has(lead.stage) && lead.stage == "New"`, set: true, want: true},
		{expr: `has(lead.stage)`, set: false, want: false},
		{expr: `lead.score > 3 && "vip" in lead.tags && segment.other`, set: true, want: true},
		{expr: `lead.nope == 1`, errSub: "undefined field 'nope'"},
		{expr: `lead.stage == 1`, errSub: "no matching overload"},
		{expr: `stage == "x"`, errSub: "undeclared reference"},
	}
	for _, c := range cases {
		ast, iss := env.Compile(c.expr)
		if c.errSub != "" {
			if iss.Err() == nil || !strings.Contains(iss.Err().Error(), c.errSub) {
				t.Errorf("%s: got error %v, want one containing %q", c.expr, iss.Err(), c.errSub)
			}
			continue
		}
		if iss.Err() != nil {
			t.Fatalf("%s: %v", c.expr, iss.Err())
		}
		if ast.OutputType() != cel.BoolType {
			t.Fatalf("%s: output type %v", c.expr, ast.OutputType())
		}
		prg, err := env.Program(ast)
		if err != nil {
			t.Fatal(err)
		}
		r := &rec{
			vals: []ref.Val{types.String("New"), types.Int(5), types.NewStringList(types.DefaultTypeAdapter, []string{"vip"})},
			set:  []bool{c.set, true, true},
		}
		if !c.set {
			r.vals[0] = types.String("")
		}
		out, _, err := prg.Eval(map[string]any{"lead": NewObject(&testModel, r), "segment.other": true, "now": types.Timestamp{}})
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		if out != types.Bool(c.want) {
			t.Errorf("%s = %v, want %v", c.expr, out, c.want)
		}
	}
}

func TestReservedModelName(t *testing.T) {
	for _, n := range []string{"now", "segment", "timestamp", "int"} {
		if _, err := Env(&plan.Model{Name: n}, nil); err == nil {
			t.Errorf("model %q accepted", n)
		}
	}
}
