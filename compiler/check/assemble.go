package check

import "github.com/campaignctl/campaignctl/compiler/plan"

// assemble builds the plan from checked objects. Objects stay in source order;
// plan.Finalize sorts them. Segment filters stay as written: the runtime applies
// each model's default filter itself, unless the segment includes archived
// records.
func assemble(objs []*object) *plan.Plan {
	p := &plan.Plan{}
	for _, o := range objs {
		switch v := o.value.(type) {
		case *plan.Model:
			p.Models = append(p.Models, *v)
		case *plan.Segment:
			p.Segments = append(p.Segments, *v)
		case *plan.Sender:
			p.Senders = append(p.Senders, *v)
		case *plan.Template:
			p.Templates = append(p.Templates, *v)
		case *plan.Policy:
			p.Policies = append(p.Policies, *v)
		case *plan.Campaign:
			p.Campaigns = append(p.Campaigns, *v)
		case *plan.Workflow:
			p.Workflows = append(p.Workflows, *v)
		case *plan.Sequence:
			p.Sequences = append(p.Sequences, *v)
		case *plan.Autoresponder:
			p.Autoresponders = append(p.Autoresponders, *v)
		}
	}
	return p
}
