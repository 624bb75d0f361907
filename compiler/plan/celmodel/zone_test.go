package celmodel

import (
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/cel"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

func TestTimestampInAZone(t *testing.T) {
	env, err := Env(&plan.Model{Name: "lead", Table: "t", Key: "id", Fields: []plan.Field{{Name: "id", Column: "id", Type: plan.TypeInt}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		expr string
		want time.Time
		err  string
	}{
		// Brussels is UTC+1 in winter, UTC+2 in summer.
		{`timestamp("2024-01-01T00:00:01", "Europe/Brussels")`, time.Date(2023, 12, 31, 23, 0, 1, 0, time.UTC), ""},
		{`timestamp("2024-07-01 09:30:00", "Europe/Brussels")`, time.Date(2024, 7, 1, 7, 30, 0, 0, time.UTC), ""},
		{`timestamp("2024-07-01", "America/New_York")`, time.Date(2024, 7, 1, 4, 0, 0, 0, time.UTC), ""},
		{`timestamp("2024-01-01T00:00:01Z")`, time.Date(2024, 1, 1, 0, 0, 1, 0, time.UTC), ""}, // the standard form still works
		{`timestamp("2024-01-01T00:00:01", "Europe/Bruxelles")`, time.Time{}, `"Europe/Bruxelles" is not an IANA time zone`},
		{`timestamp("2024-01-01T00:00:01+01:00", "Europe/Brussels")`, time.Time{}, "already has an offset"},
		{`timestamp("01/02/2024", "Europe/Brussels")`, time.Time{}, "want a wall-clock time"},
	} {
		ast, iss := env.Compile(tc.expr)
		if iss.Err() != nil {
			t.Fatalf("%s: %v", tc.expr, iss.Err())
		}
		if ast.OutputType() != cel.TimestampType {
			t.Fatalf("%s: type %v", tc.expr, ast.OutputType())
		}
		prg, err := env.Program(ast)
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := prg.Eval(map[string]any{})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error with %q", tc.expr, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if got := out.Value().(time.Time); !got.Equal(tc.want) {
			t.Errorf("%s = %s, want %s", tc.expr, got.UTC(), tc.want)
		}
	}
}
