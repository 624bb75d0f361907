package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
)

// explainConsent is one consent rule of the contact's model, read for the
// contact: the model's own (Subscription "") or a subscription type's.
type explainConsent struct {
	Subscription string `json:"subscription,omitempty"`
	Rule         string `json:"rule"`
	Holds        bool   `json:"holds"`
	Error        string `json:"error,omitempty"`
}

// consentOf evaluates the model's consent rules for the contact, as the send
// path does; nil when the model declares none.
func consentOf(c contactRecord, now time.Time) []explainConsent {
	m := c.model
	var out []explainConsent
	add := func(sub, rule string) {
		if rule == "" {
			return
		}
		ec := explainConsent{Subscription: sub, Rule: rule}
		holds, err := evalContact(m, c.values, rule, now)
		if err != nil {
			ec.Error = err.Error()
		}
		ec.Holds = holds
		out = append(out, ec)
	}
	add("", m.Consent)
	for _, s := range m.Subscriptions {
		add(s.Name, m.ConsentFor(s.Name))
	}
	return out
}

// optInPolicies names the plan's opt_in policies.
func optInPolicies(p *plan.Plan) []string {
	var out []string
	for _, pol := range p.Policies {
		if pol.Consent == plan.ConsentOptIn {
			out = append(out, pol.Name)
		}
	}
	return out
}

func evalContact(m *plan.Model, values map[string]any, expr string, now time.Time) (bool, error) {
	env, err := celmodel.Env(m, nil)
	if err != nil {
		return false, err
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return false, iss.Err()
	}
	prg, err := env.Program(ast)
	if err != nil {
		return false, err
	}
	out, _, err := prg.Eval(map[string]any{
		m.Name:          celmodel.NewObject(m, valuesRecord{m: m, values: values}),
		celmodel.NowVar: types.Timestamp{Time: now.UTC()},
	})
	if err != nil {
		return false, fmt.Errorf("evaluating %s: %w", expr, err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("%s gave %v, not a bool", expr, out.Value())
	}
	return b, nil
}

// valuesRecord reads a contact as explain loaded it (nil for NULL).
type valuesRecord struct {
	m      *plan.Model
	values map[string]any
}

func (r valuesRecord) Field(i int) ref.Val {
	f := r.m.Fields[i]
	v := r.values[f.Name]
	if v == nil {
		return celmodel.ZeroValue(f.Type)
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
}

func (r valuesRecord) IsSet(i int) bool { return r.values[r.m.Fields[i].Name] != nil }

// consentText is the contact's consent lines of explain's text view.
func consentText(cs []explainConsent, optIn []string) []string {
	var lines []string
	regime := "no policy is opt_in, so consent does not decide who gets marketing mail"
	if len(optIn) > 0 {
		regime = "marketing mail under policy " + strings.Join(optIn, ", ") + " (opt_in) goes only where consent holds"
	}
	for _, c := range cs {
		what := "consent"
		if c.Subscription != "" {
			what = "consent to " + c.Subscription
		}
		state := "holds"
		switch {
		case c.Error != "":
			state = "cannot be read (" + c.Error + "): counts as missing"
		case !c.Holds:
			state = "does not hold: missing consent"
		}
		lines = append(lines, fmt.Sprintf("  %s: %s %s", what, c.Rule, state))
	}
	if len(lines) > 0 {
		lines = append(lines, "  ("+regime+")")
	}
	return lines
}
