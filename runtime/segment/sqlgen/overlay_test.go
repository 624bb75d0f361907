package sqlgen_test

import (
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
	"github.com/campaignctl/campaignctl/runtime/segment/sqlgen"
)

// Overlay refuses a field the model does not declare, naming it; a filter
// over a field it leaves alone renders as before; OverlayJoins joins only the
// written fields it is given.
func TestOverlay(t *testing.T) {
	m := model()
	env, err := celmodel.Env(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := sqlgen.NewTranslator(env, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Overlay(map[string]bool{"stagee": true}); err == nil || !strings.Contains(err.Error(), `"stagee"`) || !strings.Contains(err.Error(), "lead") {
		t.Fatalf("unknown field: %v, want an error naming lead and stagee", err)
	}
	if err := tr.Overlay(map[string]bool{"stage": true, "tags": true}); err != nil {
		t.Fatal(err)
	}
	if !tr.Written("stage") || tr.Written("kind") {
		t.Fatalf("Written: stage %v, kind %v", tr.Written("stage"), tr.Written("kind"))
	}
	if j := tr.OverlayJoins([]string{"kind", "stage"}); strings.Count(j, "LEFT JOIN") != 1 || !strings.Contains(j, "field = 'stage'") {
		t.Errorf("joins for kind, stage: %s", j)
	}
	if tags, _ := tr.ColumnSQL("tags"); !strings.Contains(tags, "THEN NULL::text[] ELSE \"tags\"") {
		t.Errorf("a written list reads as cleared: %s", tags)
	}
	ast, iss := env.Compile(`lead.kind == "person"`)
	if iss.Err() != nil {
		t.Fatal(iss.Err())
	}
	f, err := tr.Translate(ast)
	if err != nil {
		t.Fatal(err)
	}
	if where, _, err := f.Where(now, 1); err != nil || where != `("kind" = $1::text)` {
		t.Errorf("unwritten field: %q, %v", where, err)
	}
	cols, joins, err := sqlgen.OverlayColumns(m, map[string]bool{"score": true})
	if err != nil || len(cols) != 1 || !strings.Contains(cols["score"], "::int8") || !strings.Contains(joins, "field = 'score'") {
		t.Errorf("OverlayColumns: %v %q %v", cols, joins, err)
	}
}
