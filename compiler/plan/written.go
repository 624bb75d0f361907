package plan

import "strings"

// FieldsWorkflowsWrite returns, by model, the fields (without the model's
// prefix) that p's workflows write with set_property, clear_property or
// assign_owner, or nil when none does. The runtime keeps those writes in its
// own table and lays them over the CRM's row wherever a contact's fields are
// read (templates, workflow conditions, segment filters); a field no workflow
// writes is read from the CRM alone, at no extra cost.
func (p *Plan) FieldsWorkflowsWrite() map[string]map[string]bool {
	var out map[string]map[string]bool
	for _, w := range p.Workflows {
		for _, st := range w.Steps {
			switch st.Kind {
			case StepSetProperty, StepClearProperty, StepAssignOwner:
				if st.Field == "" {
					continue
				}
				if out == nil {
					out = map[string]map[string]bool{}
				}
				if out[w.Model] == nil {
					out[w.Model] = map[string]bool{}
				}
				out[w.Model][strings.TrimPrefix(st.Field, w.Model+".")] = true
			}
		}
	}
	return out
}
