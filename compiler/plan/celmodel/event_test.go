package celmodel

import (
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/common/types"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

var cartProps = []plan.EventProperty{
	{Name: "value", Type: plan.TypeFloat},
	{Name: "items", Type: plan.TypeInt},
	{Name: "skus", Type: plan.TypeStringList},
	{Name: "date", Type: plan.TypeTimestamp},
}

func TestWorkflowEnvTypesTheEvent(t *testing.T) {
	env, err := WorkflowEnv(&testModel, nil, cartProps)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ expr, errSub string }{
		{expr: `event.value >= "thirty"`, errSub: "no matching overload for '_>=_' applied to '(double, string)'"},
		{expr: `event.vlue >= 20.0`, errSub: "undefined field 'vlue'"},
		{expr: `event.items > 2.5`, errSub: "applied to '(int, double)'"}, // CEL does not mix int and double
		{expr: `event.at < now && event.topic == "x" && "a" in event.skus && event.date > event.at`},
	} {
		_, iss := env.Compile(c.expr)
		switch {
		case c.errSub == "" && iss.Err() != nil:
			t.Errorf("%s: %v", c.expr, iss.Err())
		case c.errSub != "" && (iss.Err() == nil || !strings.Contains(iss.Err().Error(), c.errSub)):
			t.Errorf("%s: got %v, want an error containing %q", c.expr, iss.Err(), c.errSub)
		}
	}
	if _, err := WorkflowEnv(&testModel, nil, []plan.EventProperty{{Name: "at", Type: plan.TypeString}}); err == nil {
		t.Error("a property named like a built-in field was accepted")
	}
}

func TestEventValueBindsDeclaredTypes(t *testing.T) {
	env, err := WorkflowEnv(&testModel, nil, cartProps)
	if err != nil {
		t.Fatal(err)
	}
	eval := func(expr string, m map[string]any) (bool, error) {
		t.Helper()
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			t.Fatalf("%s: %v", expr, iss.Err())
		}
		prg, err := env.Program(ast)
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := prg.Eval(map[string]any{EventVar: EventValue(cartProps, m), "now": types.Timestamp{Time: time.Now()}})
		if err != nil {
			return false, err
		}
		return out == types.True, nil
	}
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		expr string
		m    map[string]any
		want bool
	}{
		{`event.value >= 20.0`, map[string]any{"value": 25.0}, true},
		{`event.value >= 20.0`, map[string]any{"value": 5.0}, false},
		{`has(event.value)`, map[string]any{}, false},
		{`has(event.value)`, map[string]any{"value": nil}, false},
		{`event.items == 3`, map[string]any{"items": 3.0}, true},
		{`"b" in event.skus`, map[string]any{"skus": []any{"a", "b"}}, true},
		{`event.at == timestamp("2026-11-20T10:00:00Z")`, map[string]any{"at": at}, true},
		{`event.at == timestamp("2026-11-20T10:00:00Z")`, map[string]any{"at": "2026-11-20T10:00:00Z"}, true},
		{`event.date > event.at`, map[string]any{"at": at, "date": "2026-12-01T00:00:00Z"}, true},
	} {
		got, err := eval(c.expr, c.m)
		if err != nil || got != c.want {
			t.Errorf("%s over %v = %v, %v; want %v", c.expr, c.m, got, err, c.want)
		}
	}
	if _, err := eval(`event.value > 1.0`, map[string]any{"value": "thirty"}); err == nil || !strings.Contains(err.Error(), "event.value is declared float") {
		t.Errorf("a wrongly typed stored value: got %v, want an error naming event.value", err)
	}
}
