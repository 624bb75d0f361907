package compiler_test

import (
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
	"github.com/campaignctl/campaignctl/schemas"
)

const examplesDir = "../campaigns"

// compileExamples compiles campaigns/, which must give a plan and no
// diagnostic at all: the examples are what people copy.
func compileExamples(t *testing.T) *plan.Plan {
	t.Helper()
	fsys := os.DirFS(examplesDir)
	p, ds := compiler.Compile(fsys, compiler.Options{})
	if len(ds) > 0 {
		var b strings.Builder
		_ = diag.WriteText(&b, ds, diag.ReadSources(fsys, ds))
		t.Fatalf("campaigns/ must compile without diagnostics:\n%s", b.String())
	}
	if p == nil {
		t.Fatal("no plan")
	}
	return p
}

func TestExamplesCompileClean(t *testing.T) {
	p := compileExamples(t)
	b, err := plan.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Decode(b); err != nil {
		t.Fatalf("the examples' plan does not decode: %v", err)
	}
	checkFiltersCompile(t, p)
	checkWorkflowCEL(t, p)
}

// One workflow of each of the 15 types, as the schemas list them.
func TestExamplesCoverEveryWorkflowType(t *testing.T) {
	p := compileExamples(t)
	types := schemas.WorkflowTypes()
	if len(types) != 15 {
		t.Fatalf("the schemas list %d workflow types, want 15: %v", len(types), types)
	}
	have := map[string][]string{}
	for _, w := range p.Workflows {
		have[w.Type] = append(have[w.Type], w.Name)
	}
	for _, typ := range types {
		if len(have[typ]) == 0 {
			t.Errorf("no example workflow of type %s", typ)
		}
	}
}

// The seed's nurture sequence, as written in the brief.
func TestExamplesRestockNurture(t *testing.T) {
	p := compileExamples(t)
	var seq *plan.Sequence
	for i := range p.Sequences {
		if p.Sequences[i].Name == "restock_nurture" {
			seq = &p.Sequences[i]
		}
	}
	if seq == nil {
		t.Fatal("no sequence restock_nurture")
	}
	if seq.Goal == "" {
		t.Error("week 3 goes to every lead not converted: the sequence needs a goal")
	}
	subject := func(tmpl string) string {
		tt, ok := p.Template(tmpl)
		if !ok {
			t.Fatalf("template %s not in plan", tmpl)
		}
		return tt.Subject
	}
	type want struct {
		offset, subject, when string
	}
	wants := []want{
		{"0d", "Limited items are back in stock! Act now!", ""},
		{"7d", "Stock is running low, did you get yours?", "week1 ignored"},
		{"7d", "You still have time to get yours", "week1 clicked"},
		{"14d", "20% off, last chance before they're gone!", ""},
	}
	if len(seq.Steps) != len(wants) {
		t.Fatalf("%d steps, want %d", len(seq.Steps), len(wants))
	}
	for i, w := range wants {
		s := seq.Steps[i]
		when := ""
		if s.When != nil {
			when = s.When.Step + " " + s.When.Event
		}
		if s.Offset != w.offset || subject(s.Template) != w.subject || when != w.when {
			t.Errorf("step %d: offset %s, subject %q, when %q; want %s, %q, %q", i, s.Offset, subject(s.Template), when, w.offset, w.subject, w.when)
		}
	}
	ab := seq.Steps[0].ABTest
	if ab == nil || len(ab.Variants) < 2 || ab.Variants[0].Subject == "" || ab.Variants[1].Subject == "" {
		t.Errorf("week 1 needs an A/B test on its subject, got %+v", ab)
	}
}

func TestExamplesTrialAutoresponder(t *testing.T) {
	p := compileExamples(t)
	var ar *plan.Autoresponder
	for i := range p.Autoresponders {
		if p.Autoresponders[i].Name == "trial_welcome" {
			ar = &p.Autoresponders[i]
		}
	}
	if ar == nil {
		t.Fatal("no autoresponder trial_welcome")
	}
	var offsets []string
	for _, f := range ar.FollowUps {
		offsets = append(offsets, f.Offset)
	}
	if ar.Mode != "single" || strings.Join(offsets, ",") != "0d,3d,10d" || !ar.ExcludeResponders || ar.DoNotEmail == "" {
		t.Errorf("trial autoresponder: mode %s, offsets %v, exclude_responders %v, do_not_email %q", ar.Mode, offsets, ar.ExcludeResponders, ar.DoNotEmail)
	}
}

func TestExamplesLostLeadsTwins(t *testing.T) {
	p := compileExamples(t)
	for name, reason := range map[string]string{
		"lost_not_enough_stock": "Not enough stock",
		"lost_too_expensive":    "Too expensive",
	} {
		s, ok := p.Segment(name)
		if !ok {
			t.Errorf("no segment %s", name)
			continue
		}
		if !s.IncludeArchived || !strings.Contains(s.Filter, `lead.lost_reason == "`+reason+`"`) {
			t.Errorf("segment %s: include_archived %v, filter %q", name, s.IncludeArchived, s.Filter)
		}
	}
	if _, ok := p.Campaign("price_drop_reactivation"); !ok {
		t.Error("no campaign price_drop_reactivation")
	}
	found := false
	for _, pol := range p.Policies {
		found = found || pol.Name == "default"
	}
	if !found {
		t.Error("no policy default")
	}
}

// checkWorkflowCEL compiles every workflow condition of the plan the way the
// runtime will: the model's environment plus event as a map.
func checkWorkflowCEL(t *testing.T, p *plan.Plan) {
	t.Helper()
	for _, w := range p.Workflows {
		m, ok := p.Model(w.Model)
		if !ok {
			t.Errorf("workflow %s: model %s not in plan", w.Name, w.Model)
			continue
		}
		var segs []string
		for _, s := range p.Segments {
			if s.Model == w.Model {
				segs = append(segs, s.Name)
			}
		}
		sort.Strings(segs)
		env, err := celmodel.Env(m, segs)
		if err != nil {
			t.Fatal(err)
		}
		env, err = env.Extend(cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)))
		if err != nil {
			t.Fatal(err)
		}
		exprs := []string{w.Trigger.Filter, w.Goal}
		for _, s := range w.Steps {
			exprs = append(exprs, s.Condition)
		}
		for _, e := range exprs {
			if e == "" {
				continue
			}
			a, iss := env.Compile(e)
			if iss.Err() != nil {
				t.Errorf("workflow %s: %q does not compile: %v", w.Name, e, iss.Err())
				continue
			}
			if a.OutputType() != cel.BoolType {
				t.Errorf("workflow %s: %q is %s, not bool", w.Name, e, a.OutputType())
			}
		}
	}
}
