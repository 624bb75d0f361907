package check

import (
	"strings"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// assemble builds the plan from checked objects. Objects stay in source order;
// plan.Finalize sorts them.
func assemble(objs []*object) *plan.Plan {
	p := &plan.Plan{}
	defaults := map[string]string{}
	folded := false
	for _, o := range objs {
		switch v := o.value.(type) {
		case *plan.Model:
			if d, ok := o.idx.extra["default_filter"].(string); ok {
				defaults[v.Name] = d
				if !setDefaultFilter(v, d) {
					folded = true
				}
			}
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
	if folded {
		foldDefaults(p, defaults)
	}
	return p
}

// foldDefaults conjoins each model's default filter into the filters of its
// segments that do not lift it, for as long as plan.Model has no DefaultFilter
// field to carry it (see setDefaultFilter). A "//" comment runs to the end of its
// line, so when one may be present each operand gets lines of its own.
func foldDefaults(p *plan.Plan, defaults map[string]string) {
	for i := range p.Segments {
		s := &p.Segments[i]
		d := defaults[s.Model]
		if d == "" || s.IncludeArchived {
			continue
		}
		if strings.Contains(d, "//") || strings.Contains(s.Filter, "//") {
			s.Filter = "(\n" + d + "\n) && (\n" + s.Filter + "\n)"
		} else {
			s.Filter = "(" + d + ") && (" + s.Filter + ")"
		}
	}
}
