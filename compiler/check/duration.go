package check

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

const durationHelp = `A duration is a number and a unit, or several: "90m", "36h", "3d", "2w", "1h30m". Units: ms, s, m, h, d (24 hours), w (7 days).`

// duration checks a duration attribute and returns its value. Only a wait
// relative to a date may be negative ("-1d": the day before the event).
func (c *checker) duration(owner, attr string, s *ir.String, negative bool) (time.Duration, bool) {
	if !usable(s) {
		return 0, false
	}
	d, err := plan.ParseDuration(s.Value)
	if err != nil {
		c.errorf(s.Content(), "%s: %s: %v", owner, attr, err).Detail = durationHelp
		return 0, false
	}
	if d < 0 && !negative {
		c.errorf(s.Content(), "%s: %s %q cannot be negative", owner, attr, s.Value).Detail =
			"Only a wait relative to a date may be negative (wait = \"-1d\" with relative_to = \"event.date\": the day before the event)."
		return 0, false
	}
	return d, true
}

// fieldRef checks a reference to a contact field written as in CEL,
// "lead.owner", or, when allowEvent, to a field of the enrolling event,
// "event.date". types, if any, are the field types allowed. It returns the
// field (zero for an event field) and whether the reference is usable.
func (c *checker) fieldRef(owner, attr string, s *ir.String, me *modelEnv, allowEvent bool, types ...plan.FieldType) (plan.Field, bool) {
	if !usable(s) || me == nil {
		return plan.Field{}, false
	}
	model := me.model.Name.Value
	root, field, dotted := strings.Cut(s.Value, ".")
	switch {
	case allowEvent && root == eventVar && dotted && field != "":
		return plan.Field{}, true
	case !dotted:
		d := c.errorf(s.Content(), "%s: %s %q must name the model too, as %q", owner, attr, s.Value, model+"."+s.Value)
		d.Detail = fmt.Sprintf("Fields are written as in CEL conditions: %s.<field>.", model)
		if allowEvent {
			d.Detail = fmt.Sprintf("Fields are written as in CEL conditions: %s.<field> for the contact's, event.<field> for the event's.", model)
		}
		return plan.Field{}, false
	case root != model:
		hint := ""
		if allowEvent {
			hint = " or event"
		}
		c.errorf(s.Content(), "%s: %s %q is not a field of model %s%s", owner, attr, s.Value, model, hint).Detail =
			fmt.Sprintf("The contacts here are %s records; write %s.<field>.", model, model)
		return plan.Field{}, false
	}
	if me.skip[field] {
		return plan.Field{}, false
	}
	var f plan.Field
	found := false
	for _, x := range me.fields {
		if x.Name == field {
			f, found = x, true
		}
	}
	if !found {
		c.errorf(s.Content(), "%s: %s: model %s has no field %q%s", owner, attr, model, field, didYouMean(field, me.fieldNames())).Detail =
			fmt.Sprintf("Fields of %s: %s.", model, list(me.fieldNames()))
		return plan.Field{}, false
	}
	if len(types) > 0 && !slices.Contains(types, f.Type) {
		names := make([]string, len(types))
		for i, t := range types {
			names[i] = string(t)
		}
		c.errorf(s.Content(), "%s: %s %s is %s field; it must be %s", owner, attr, s.Value, article(string(f.Type)), orList(names))
		return f, false
	}
	return f, true
}

// orList formats "a", "a or b", "a, b or c".
func orList(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// article prefixes a type name with "a" or "an".
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an " + word
	}
	return "a " + word
}
