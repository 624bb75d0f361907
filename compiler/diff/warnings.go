package diff

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// sendingKinds are the kinds that send mail on their own. The runner keys what it
// has sent by their names (outbox: campaign, step, contact), which is why
// removing or renaming one, or editing what it sends, deserves a warning.
var sendingKinds = map[string]bool{
	"campaign":      true,
	"workflow":      true,
	"sequence":      true,
	"autoresponder": true,
}

// Warning codes that need no database.
const (
	WarnMailClassChanged     = "mail_class_changed"
	WarnSendingObjectRemoved = "sending_object_removed"
	WarnSendingObjectRenamed = "sending_object_renamed"
	WarnSentStepEdited       = "sent_step_edited"
	WarnSentTemplateEdited   = "sent_template_edited"
	WarnWorkflowWaitEdited   = "workflow_wait_edited"
)

// warnings derives, from the changes alone, the risky consequences a reviewer
// must confirm. They are conservative: without a database the diff cannot know
// whether anything was sent yet, so it says what would happen if it was.
func warnings(d *Diff) []Warning {
	var out []Warning
	var uses map[string][]templateUse // built on first need
	// A template renamed with its content unchanged is the same message: the
	// references that follow the rename are not edits of what is sent.
	renamedTemplates := map[string]string{}
	for _, c := range d.Changes {
		if c.Kind == "template" && c.Action == Rename {
			renamedTemplates[c.OldName] = c.Name
		}
	}
	for _, c := range d.Changes {
		switch c.Action {
		case Remove:
			if sendingKinds[c.Kind] {
				out = append(out, Warning{
					Code: WarnSendingObjectRemoved, Kind: c.Kind, Name: c.Name,
					Message: removedMessage(c),
				})
			}
		case Rename:
			if sendingKinds[c.Kind] {
				out = append(out, Warning{
					Code: WarnSendingObjectRenamed, Kind: c.Kind, Name: c.Name,
					Message: fmt.Sprintf("%s %q is renamed to %q: the runner records sends by name, so it starts over as a new %s and may mail contacts who already received %q",
						c.Kind, c.OldName, c.Name, c.Kind, c.OldName),
				})
			}
		case Change:
			for _, f := range c.Fields {
				if f.Path == "class" && f.Action == Change {
					out = append(out, Warning{
						Code: WarnMailClassChanged, Kind: c.Kind, Name: c.Name,
						Message: classMessage(c, f),
					})
				}
				if c.Kind == "workflow" && f.Action == Change && strings.HasPrefix(f.Path, "steps[") && lastSegment(f.Path) == "duration" {
					out = append(out, Warning{
						Code: WarnWorkflowWaitEdited, Kind: c.Kind, Name: c.Name,
						Message: waitMessage(c, f),
					})
				}
				if c.Kind == "workflow" && strings.HasPrefix(f.Path, "steps[") && lastSegment(f.Path) == "relative_to" && !stepAdded(c, f.Path) {
					out = append(out, Warning{
						Code: WarnWorkflowWaitEdited, Kind: c.Kind, Name: c.Name,
						Message: relativeToMessage(c, f),
					})
				}
				if sendingKinds[c.Kind] && f.Action == Change && lastSegment(f.Path) == "template" &&
					renamedTemplates[fmt.Sprint(f.Old)] != fmt.Sprint(f.New) {
					out = append(out, Warning{
						Code: WarnSentStepEdited, Kind: c.Kind, Name: c.Name,
						Message: stepMessage(c, f),
					})
				}
			}
			if c.Kind == "template" {
				if uses == nil {
					uses = templateUses(d.new)
				}
				if u := uses[c.Name]; len(u) > 0 {
					out = append(out, Warning{
						Code: WarnSentTemplateEdited, Kind: c.Kind, Name: c.Name,
						Message: fmt.Sprintf("template %q changes (%s) and is sent by %s: already-sent messages will not be re-sent; only contacts not yet mailed get the new version",
							c.Name, changedTopFields(c.Fields), describeUses(u)),
					})
				}
			}
		}
	}
	return out
}

func removedMessage(c ObjectChange) string {
	if c.Kind == "campaign" {
		return fmt.Sprintf("campaign %q is removed: its pending sends are cancelled; messages already sent stay sent", c.Name)
	}
	return fmt.Sprintf("%s %q is removed: contacts enrolled in it leave it and its remaining steps are never sent to them", c.Kind, c.Name)
}

func classMessage(c ObjectChange, f FieldChange) string {
	from, to := fmt.Sprint(f.Old), fmt.Sprint(f.New)
	var why string
	switch {
	case from == plan.ClassMarketing:
		why = "it will no longer follow marketing consent rules and may reach contacts who unsubscribed from marketing mail"
	case to == plan.ClassMarketing:
		why = "marketing consent rules now apply: contacts who unsubscribed from marketing mail will not receive it"
	default:
		why = "the consent and policy rules of the new class apply"
	}
	return fmt.Sprintf("%s %q changes mail class from %s to %s: %s", c.Kind, c.Name, from, to, why)
}

func stepMessage(c ObjectChange, f FieldChange) string {
	return fmt.Sprintf("%s now sends template %v instead of %v: already-sent messages will not be re-sent",
		objectAt(c.Kind, c.Name, f.Path), quoteValue(f.New), quoteValue(f.Old))
}

// waitMessage says what an edited wait does to the contacts already in it:
// the runner keeps when their wait began and moves its end.
func waitMessage(c ObjectChange, f FieldChange) string {
	return fmt.Sprintf("%s now waits %v instead of %v: contacts already waiting there wait the new duration, counted from when their wait began (those past it go on at once); contacts who reach the step from now on wait the new one",
		objectAt(c.Kind, c.Name, f.Path), fmt.Sprint(f.New), fmt.Sprint(f.Old))
}

// relativeToMessage says what an edited relative_to of a wait does to the
// contacts already in it: the runner times their wait again from the new
// date (or, without one, from when they reached the step), as it times a
// contact who reaches the step under the new plan.
func relativeToMessage(c ObjectChange, f FieldChange) string {
	from := func(v any) string {
		if s := fmt.Sprint(v); v != nil && s != "" {
			return s
		}
		return "when the contact reached the step"
	}
	unset := ""
	if s := fmt.Sprint(f.New); f.New != nil && s != "" {
		unset = ", and so do those for whom " + s + " is not set: the wait is skipped"
	}
	return fmt.Sprintf("%s now counts its wait from %s instead of %s: contacts already waiting there are timed again from the new one, as contacts who reach the step from now on are (those whose new time has passed go on at once%s)",
		objectAt(c.Kind, c.Name, f.Path), from(f.New), from(f.Old), unset)
}

// stepAdded reports whether the step a field path of c leads into
// ("steps[name].…") is new in c: its kind was added with it.
func stepAdded(c ObjectChange, path string) bool {
	i := strings.Index(path, "].")
	if i < 0 {
		return false
	}
	kind := path[:i+2] + "kind"
	for _, f := range c.Fields {
		if f.Path == kind && f.Action == Add {
			return true
		}
	}
	return false
}

// templateUse is one place a plan sends a template from.
type templateUse struct {
	kind, name, path string
}

// templateUses finds, in every sending object, the fields named "template" (a
// campaign's template, a step's, an A/B variant's, a follow-up's) by walking the
// objects, so kinds and fields added later are covered.
func templateUses(p *plan.Plan) map[string][]templateUse {
	out := map[string][]templateUse{}
	for _, k := range planKinds {
		if !sendingKinds[k.name] {
			continue
		}
		for _, o := range k.objects(p) {
			findTemplates(o.v, "", func(path, tpl string) {
				out[tpl] = append(out[tpl], templateUse{kind: k.name, name: o.name, path: path})
			})
		}
	}
	return out
}

func findTemplates(v reflect.Value, path string, found func(path, tpl string)) {
	v = deref(v)
	if !v.IsValid() {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name, _, skip := jsonField(f)
			if skip || !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if name == "template" && fv.Kind() == reflect.String {
				if fv.String() != "" {
					found(joinPath(path, name), fv.String())
				}
				continue
			}
			findTemplates(fv, joinPath(path, name), found)
		}
	case reflect.Slice, reflect.Array:
		nameIdx := namedElem(v.Type().Elem())
		for i := range v.Len() {
			key := fmt.Sprint(i)
			if e := deref(v.Index(i)); nameIdx >= 0 && e.IsValid() {
				key = pathKey(e.Field(nameIdx).String())
			}
			findTemplates(v.Index(i), path+"["+key+"]", found)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			findTemplates(v.MapIndex(k), joinPath(path, fmt.Sprint(k.Interface())), found)
		}
	}
}

func describeUses(uses []templateUse) string {
	parts := make([]string, 0, len(uses))
	seen := map[string]bool{}
	for _, u := range uses {
		s := objectAt(u.kind, u.name, u.path)
		if !seen[s] {
			seen[s] = true
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

// changedTopFields names the top-level fields a change touches: "subject, html".
func changedTopFields(fields []FieldChange) string {
	var names []string
	seen := map[string]bool{}
	for _, f := range fields {
		top := f.Path
		if i := strings.IndexAny(top, ".["); i >= 0 {
			top = top[:i]
		}
		if !seen[top] {
			seen[top] = true
			names = append(names, top)
		}
	}
	return strings.Join(names, ", ")
}

// lastSegment returns the last field name of a path: "steps[a].template" →
// "template".
func lastSegment(path string) string {
	if i := strings.LastIndexAny(path, ".]"); i >= 0 {
		return path[i+1:]
	}
	return path
}

// objectAt names an object and the place in it a path leads to, for
// messages: `workflow "cart" step wait1`.
func objectAt(kind, name, path string) string {
	where := fmt.Sprintf("%s %q", kind, name)
	if at := locate(path); at != "" {
		where += " " + at
	}
	return where
}

// locate describes the named list elements a path goes through, for messages:
// "steps[week2].template" → "step week2", "ab_test.variants[b].template" →
// "variant b", "follow_ups[f1].template" → "follow-up f1".
func locate(path string) string {
	var parts []string
	for {
		i := strings.IndexByte(path, '[')
		if i < 0 {
			break
		}
		j := strings.IndexByte(path[i:], ']')
		if j < 0 {
			break
		}
		list := path[:i]
		if k := strings.LastIndexAny(list, ".]"); k >= 0 {
			list = list[k+1:]
		}
		list = strings.ReplaceAll(strings.TrimSuffix(list, "s"), "_", "-")
		parts = append(parts, list+" "+path[i+1:i+j])
		path = path[i+j+1:]
	}
	return strings.Join(parts, " ")
}
