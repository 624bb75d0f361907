package check

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
)

// This file checks the properties a trigger declares for its event, and
// builds the typed event a workflow's conditions read (celmodel.WorkflowEnv).

// eventDecl is what one trigger declares about its event, once checked.
type eventDecl struct {
	event string // the trigger's event type: cart_abandoned
	props []plan.EventProperty
}

func (d *eventDecl) names() []string {
	out := make([]string, 0, len(celmodel.BuiltinEventFields)+len(d.props))
	for _, p := range d.props {
		out = append(out, p.Name)
	}
	for _, f := range celmodel.BuiltinEventFields {
		out = append(out, f.Name)
	}
	return out
}

func (d *eventDecl) has(name string) bool {
	for _, n := range d.names() {
		if n == name {
			return true
		}
	}
	return false
}

// declaredProperty remembers the first declaration of a property of one
// model's event type, which every other trigger must agree with.
type declaredProperty struct {
	typ   string
	owner string
	rng   ir.Range
}

var eventPropertyTypes = map[string]bool{
	string(plan.TypeString): true, string(plan.TypeInt): true, string(plan.TypeFloat): true,
	string(plan.TypeBool): true, string(plan.TypeTimestamp): true, string(plan.TypeStringList): true,
}

// eventProperties checks a trigger's property declarations and returns the
// typed event its workflow's conditions read, or nil when it declares none
// (event is then the untyped map) or a declaration is broken (reported; the
// conditions are then checked against the untyped map, so they raise no
// second error).
func (c *checker) eventProperties(owner, model string, t *ir.Trigger) *eventDecl {
	if t == nil || len(t.Properties) == 0 || !usable(t.Event) {
		return nil
	}
	d := &eventDecl{event: t.Event.Value}
	if plan.StateTriggers[d.event] {
		c.errorf(t.Properties[0].DeclRange, "the trigger of %s declares event properties, but a %s trigger reads no stored event", owner, d.event).Detail =
			"A state trigger (metric_threshold, engagement_threshold, inactivity, date_field, purchase_cycle, segment_entry) enrolls contacts whose fields match, so there is no event whose properties its conditions could read. Remove the property blocks."
		return nil
	}
	ok := true
	seen := map[string]bool{}
	for _, p := range t.Properties {
		name := p.Name.Value
		if !nameRE.MatchString(name) || seen[name] || !usable(p.Type) || !eventPropertyTypes[p.Type.Value] {
			ok = false // the schema reports it
			continue
		}
		seen[name] = true
		if celmodel.IsBuiltinEventField(name) {
			c.errorf(p.Name.Range, "property %q of the trigger of %s: every event has a built-in field %q", name, owner, name).Detail =
				fmt.Sprintf("The built-in fields of an event are %s; event.%s reads the built-in one. Name the property otherwise, and send it under that name in the event's \"properties\".",
					list(builtinNames()), name)
			ok = false
			continue
		}
		key := model + "/" + d.event + "/" + name
		if first, dup := c.eventProps[key]; dup && first.typ != p.Type.Value {
			c.errorf(p.Type.Content(), "property %q of event %q is declared %s here and %s by %s", name, d.event, p.Type.Value, first.typ, first.owner).Detail =
				fmt.Sprintf("Every trigger on %s events of model %s reads the same events, which the events API checks against one type per property: declare it %s here too (the first declaration is at %s).",
					d.event, model, first.typ, first.rng)
			ok = false
			continue
		} else if !dup {
			c.eventProps[key] = declaredProperty{typ: p.Type.Value, owner: owner, rng: p.Type.Content()}
		}
		d.props = append(d.props, plan.EventProperty{Name: name, Type: plan.FieldType(p.Type.Value)})
	}
	if !ok {
		return nil
	}
	return d
}

func builtinNames() []string {
	out := make([]string, len(celmodel.BuiltinEventFields))
	for i, f := range celmodel.BuiltinEventFields {
		out[i] = f.Name
	}
	return out
}

// typedEventEnv returns the environment of the conditions of a workflow whose
// trigger declares d, or nil.
func (me *modelEnv) typedEventEnv(c *checker, d *eventDecl) *cel.Env {
	if me.withSegments == nil {
		return nil
	}
	key := fmt.Sprint(d.props)
	if env, ok := me.typedEvents[key]; ok {
		return env
	}
	pm := &plan.Model{Name: me.model.Name.Value, Fields: me.fields}
	env, err := celmodel.WorkflowEnv(pm, me.segments, d.props)
	if err != nil {
		c.errorf(me.model.DeclRange, "model %q cannot be declared to CEL with the event %q: %v", pm.Name, d.event, err)
		env = nil
	}
	if me.typedEvents == nil {
		me.typedEvents = map[string]*cel.Env{}
	}
	me.typedEvents[key] = env
	return env
}

// eventTimestamp checks a wait's relative_to = "event.<name>" against the
// typed event: the name must be at or a declared timestamp property, or the
// wait would find no time for every contact.
func (c *checker) eventTimestamp(owner string, s *ir.String, d *eventDecl, name string) {
	var stamps []string
	typ := ""
	for _, f := range append(append([]plan.EventProperty(nil), celmodel.BuiltinEventFields...), d.props...) {
		if f.Type == plan.TypeTimestamp {
			stamps = append(stamps, f.Name)
		}
		if f.Name == name {
			typ = string(f.Type)
		}
	}
	switch typ {
	case string(plan.TypeTimestamp):
		return
	case "":
		c.errorf(s.Content(), "%s: relative_to %s: event %q has no property %q%s", owner, s.Value, d.event, name, didYouMean(name, stamps)).Detail =
			fmt.Sprintf("A wait relative to the event needs one of its times: %s. Declare the property in the trigger with type timestamp.", list(stamps))
	default:
		c.errorf(s.Content(), "%s: relative_to %s is a %s, not a timestamp", owner, s.Value, typ).Detail =
			fmt.Sprintf("A wait relative to the event needs one of its times: %s.", list(stamps))
	}
}

// stateEventTimestamp refuses a wait relative_to = "event.<name>" under a
// state trigger for any name but at: such a trigger stores no event, and the
// runtime's event holds only at (when the contact enrolled), type and key,
// so the wait would find no time for any contact and always be skipped.
func (c *checker) stateEventTimestamp(owner string, s *ir.String, t *ir.Trigger, name string) {
	if t == nil || !usable(t.Event) || !plan.StateTriggers[t.Event.Value] || name == "at" {
		return
	}
	instead := "a timestamp field of the contact"
	if slices.Contains(triggerFieldTypes[t.Event.Value], plan.TypeTimestamp) && usable(t.Field) {
		instead = fmt.Sprintf("the contact's own field, relative_to = %q", t.Field.Value)
	}
	c.errorf(s.Content(), "%s: relative_to %s is never set: %s trigger has no stored event", owner, s.Value, article(t.Event.Value)).Detail =
		fmt.Sprintf("A state trigger (%s) enrolls the contacts whose fields newly match, so its event has only at, when the contact enrolled, and the wait would be skipped for every contact. Wait relative to %s, or to event.at.",
			list(keys(plan.StateTriggers)), instead)
}

// stateEventFieldNames are the fields of a state trigger's event as the
// runtime builds it for an enrollment without a stored event (runtime/engine's
// advance): the trigger, when the contact enrolled, and its key.
var stateEventFieldNames = []string{"type", "at", "key"}

// stateEventFields refuses event.<name> in a condition of a state-trigger
// workflow for any other name: the untyped event map has no such key, so the
// condition fails for every contact and reads false (a goal never reached, a
// branch always going to else).
func (c *checker) stateEventFields(u celUse, w *walked) {
	for _, id := range w.order {
		ch := w.chains[id]
		if len(ch.parts) < 2 || ch.parts[0] != eventVar || slices.Contains(stateEventFieldNames, ch.parts[1]) {
			continue
		}
		c.errorf(u.expr.Sub(ch.start, ch.end), "%s reads %s, but %s trigger has no stored event: it has only %s", u.owner, strings.Join(ch.parts[:2], "."), article(u.stateTrigger), list(stateEventFieldNames)).Detail =
			"A state trigger (" + list(keys(plan.StateTriggers)) + ") enrolls the contacts whose fields newly match; event.type is the trigger, event.at when the contact enrolled, event.key its key. Any other event field would fail for every contact and the condition read false. Test the contact's fields instead."
	}
}

// unknownEventField reports event.<name> that the typed event lacks.
func (c *checker) unknownEventField(u celUse, rng ir.Range, name string) {
	c.errorf(rng, "%s: event %q has no property %q%s", u.owner, u.event.event, name, didYouMean(name, u.event.names())).Detail =
		fmt.Sprintf("The trigger declares %s; every event also has %s. To read another property of the event's JSON \"properties\", declare it in the trigger: a property %q with its type (string, int, float, bool, timestamp or list(string)).",
			list(propNames(u.event.props)), list(builtinNames()), name)
}

func propNames(ps []plan.EventProperty) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name + " (" + string(p.Type) + ")"
	}
	return out
}
