package check

import "github.com/campaignctl/campaignctl/compiler/plan"

// assemble builds the plan from checked objects. Objects stay in source order;
// plan.Finalize sorts them. Segment filters stay as written: the runtime applies
// each model's default filter itself, unless the segment includes archived
// records.
func assemble(objs []*object) *plan.Plan {
	p := &plan.Plan{}
	for _, o := range objs {
		p.Add(o.value)
	}
	return p
}
