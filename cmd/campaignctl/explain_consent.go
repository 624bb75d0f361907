package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
	"github.com/campaignctl/campaignctl/runtime/store"
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

// explainLedger is the latest consent ledger entry of the contact's address
// for one subscription type ("" = all marketing mail).
type explainLedger struct {
	Subscription string    `json:"subscription"`
	Action       string    `json:"action"`
	Source       string    `json:"source"`
	Entry        int64     `json:"entry"`
	At           time.Time `json:"at"`
}

func ledgerOf(latest map[string]store.ConsentEntry) []explainLedger {
	out := make([]explainLedger, 0, len(latest))
	for _, e := range latest {
		out = append(out, explainLedger{Subscription: e.Subscription, Action: e.Action, Source: e.Source, Entry: e.ID, At: e.RecordedAt.UTC()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Subscription < out[j].Subscription })
	return out
}

// ledgerText is the contact's ledger lines of explain's text view: the
// ledger's latest entry decides over the rule (the later of the type's and
// all marketing mail's), and a withdrawal of a type stops it under opt_out
// policies too.
func ledgerText(ls []explainLedger) []string {
	var lines []string
	for _, l := range ls {
		scope := "all marketing mail"
		if l.Subscription != "" {
			scope = l.Subscription
		}
		lines = append(lines, fmt.Sprintf("  ledger: %s of %s on %s (%s, entry %d): decides over the rule", l.Action, scope, l.At.Format(time.RFC3339), l.Source, l.Entry))
	}
	return lines
}
