package engine

import (
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// The compiler refuses a trigger attribute that plan.TriggerUses says its
// event does not use; the runtime must read exactly those. For each state
// trigger, changing an attribute changes the trigger's filter if and only if
// TriggerUses lists it (topic is read from stored events, which no state
// trigger has).
func TestTriggerUsesMatchesWhatTheRuntimeReads(t *testing.T) {
	m := &plan.Model{Name: "lead", Fields: []plan.Field{
		{Name: "score", Type: plan.TypeInt}, {Name: "score2", Type: plan.TypeInt},
		{Name: "birthday", Type: plan.TypeTimestamp},
	}}
	base := map[string]plan.Trigger{
		"metric_threshold":     {Field: "score", Threshold: 3},
		"engagement_threshold": {Threshold: 5, Window: "14d"},
		"inactivity":           {InactiveFor: "30d"},
		"date_field":           {Field: "birthday"},
		"purchase_cycle":       {Field: "birthday"},
		"segment_entry":        {Segment: "s"},
	}
	if len(base) != len(plan.StateTriggers) {
		t.Fatalf("the test covers %d state triggers, plan.StateTriggers has %d", len(base), len(plan.StateTriggers))
	}
	change := map[string]func(*plan.Trigger, int){
		"topic":        func(tr *plan.Trigger, i int) { tr.Topic = []string{"a", "b"}[i] },
		"threshold":    func(tr *plan.Trigger, i int) { tr.Threshold = []float64{7, 9}[i] },
		"window":       func(tr *plan.Trigger, i int) { tr.Window = []string{"7d", "21d"}[i] },
		"inactive_for": func(tr *plan.Trigger, i int) { tr.InactiveFor = []string{"10d", "40d"}[i] },
		"field":        func(tr *plan.Trigger, i int) { tr.Field = []string{"score", "score2"}[i] },
	}
	for ev, b := range base {
		if !plan.StateTriggers[ev] {
			t.Fatalf("%s is not in plan.StateTriggers", ev)
		}
		uses := plan.TriggerUses(ev)
		for attr, set := range change {
			var filters [2]string
			for i := range filters {
				tr := b
				tr.Event = ev
				set(&tr, i)
				f, err := triggerFilter(&plan.Workflow{Name: "w", Model: "lead", Trigger: tr}, m)
				if err != nil {
					t.Fatalf("%s with %s #%d: %v", ev, attr, i, err)
				}
				filters[i] = f
			}
			if read := filters[0] != filters[1]; read != uses[attr] {
				t.Errorf("%s: the runtime reads %s: %v; plan.TriggerUses says %v (filters %q and %q)", ev, attr, read, uses[attr], filters[0], filters[1])
			}
		}
	}
}
