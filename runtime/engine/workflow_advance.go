package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
	"github.com/campaignctl/campaignctl/runtime/flow"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// mapRecord is a contact read for a workflow condition: its fields as loaded
// (Go values from the driver, or text written by a workflow step), each
// converted to its CEL type. A missing field reads as its type's zero value
// and has() is false, as in segment filters.
type mapRecord struct {
	m      *plan.Model
	fields map[string]any
}

func newMapRecord(m *plan.Model, fields map[string]any) *mapRecord {
	return &mapRecord{m: m, fields: fields}
}

// Field implements celmodel.Record.
func (r *mapRecord) Field(i int) ref.Val {
	f := r.m.Fields[i]
	v, ok := r.fields[f.Name]
	if !ok {
		return celmodel.ZeroValue(f.Type)
	}
	out, err := celValue(f.Type, v)
	if err != nil {
		return types.NewErr("%s.%s: %v", r.m.Name, f.Name, err)
	}
	return out
}

// IsSet implements celmodel.Record.
func (r *mapRecord) IsSet(i int) bool {
	_, ok := r.fields[r.m.Fields[i].Name]
	return ok
}

// celValue converts a loaded field value to t's CEL value.
func celValue(t plan.FieldType, v any) (ref.Val, error) {
	s, isText := v.(string)
	switch t {
	case plan.TypeString:
		if isText {
			return types.String(s), nil
		}
		return types.String(fmt.Sprint(v)), nil
	case plan.TypeInt:
		switch x := v.(type) {
		case int64:
			return types.Int(x), nil
		case float64:
			return types.Int(int64(x)), nil
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		return types.Int(n), err
	case plan.TypeFloat:
		switch x := v.(type) {
		case float64:
			return types.Double(x), nil
		case int64:
			return types.Double(float64(x)), nil
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		return types.Double(f), err
	case plan.TypeBool:
		if b, ok := v.(bool); ok {
			return types.Bool(b), nil
		}
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil && (s == "t" || s == "f") {
			b, err = s == "t", nil
		}
		return types.Bool(b), err
	case plan.TypeTimestamp:
		if tm, ok := v.(time.Time); ok {
			return types.Timestamp{Time: tm.UTC()}, nil
		}
		tm, err := parseTime(s)
		return types.Timestamp{Time: tm}, err
	case plan.TypeStringList:
		var a pq.StringArray
		if err := a.Scan([]byte(s)); err != nil {
			return nil, err
		}
		return types.NewStringList(types.DefaultTypeAdapter, []string(a)), nil
	}
	return nil, fmt.Errorf("unknown field type %q", t)
}

// parseTime reads a timestamp as an event or a property carries it: RFC 3339,
// a date (midnight UTC), or Postgres' text form.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02", "2006-01-02 15:04:05.999999999Z07", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (want RFC 3339, e.g. 2026-12-03T10:00:00Z, or a date 2026-12-03)", s)
}

// advanceWorkflowGroup decides and applies one workflow's share of a batch;
// it returns how many messages it enqueued.
func (e *Engine) advanceWorkflowGroup(ctx context.Context, adv *store.Advancer, l *loaded, w *workflow, group []store.Enrollment, now time.Time) (int, error) {
	kind, object := flow.KindWorkflow, w.p.Name
	wf := w.compiled
	keys := make([]string, 0, len(group))
	ids := make([]int64, len(group))
	for i, r := range group {
		ids[i] = r.ID
		keys = append(keys, r.ContactKey)
	}
	contacts, err := e.readContacts(ctx, w.model, keys, adv, l.written[w.model.Name])
	if err != nil {
		return 0, fmt.Errorf("workflow %s: %w", object, err)
	}
	var engSteps []string
	for _, st := range wf.Steps {
		if st.Engagement != nil {
			engSteps = append(engSteps, st.Engagement.Step)
		}
	}
	engagement := map[int64]map[string]flow.Engagement{}
	if len(engSteps) > 0 {
		es, err := adv.Engagement(ctx, kind, object, w.model.Name, ids, keys, engSteps)
		if err != nil {
			return 0, err
		}
		engagement = engagementByEnrollment(es)
	}
	decided := l.decisions(w.asSeries())
	// The segments the goal and the conditions read, for the whole batch.
	members, err := e.readMemberships(ctx, l, w.segments, keys, now)
	if err != nil {
		return 0, fmt.Errorf("workflow %s: %w", object, err)
	}
	// A marketing send to a suppressed address is skipped, saying so, not
	// enqueued to be cancelled at its claim; the workflow goes on (its other
	// actions still apply).
	var suppressed map[string]string
	if w.sendsMarketing(l.plan) {
		if suppressed, err = e.suppressionsOf(ctx, group); err != nil {
			return 0, fmt.Errorf("workflow %s: %w", object, err)
		}
	}

	var msgs []store.StepMessage
	var hist []store.StepRecord
	var props []store.PropertyWrite
	assigns := map[string][]int{} // step → indexes into props awaiting an owner
	moves := make([]store.Move, 0, len(group))
	for _, r := range group {
		c := contacts[r.ContactKey]
		if c == nil {
			// Gone from the CRM: nothing can be decided or sent for it.
			hist = append(hist, store.StepRecord{EnrollmentID: r.ID, Step: r.NextStep, Action: string(flow.ActExit), Detail: "the contact is no longer in " + w.model.Table, At: now})
			moves = append(moves, store.Move{ID: r.ID, Next: r.StepIndex, NextStep: r.NextStep, Exit: flow.ExitCompleted})
			continue
		}
		event, err := w.enrollmentEvent(r)
		if err != nil {
			return 0, err
		}
		f := flow.WorkflowFacts{Now: now, Conds: map[string]bool{}, CondErrs: map[string]string{}, Times: w.relativeTimes(c, event),
			Steps: engagement[r.ID], AB: decided}
		ev := w.event(event)
		segVars := members.vars(r.ContactKey)
		if w.goal != nil {
			ok, err := evalBoolWith(w.goal, w.model, c, ev, now, segVars)
			if err != nil {
				e.logOnce("workflow goal "+object, "workflow goal could not be evaluated; taken as not reached", fmt.Errorf("workflow %s: goal: %w", object, err))
			}
			f.GoalReached = ok
		}
		for name, p := range w.conds {
			ok, err := evalBoolWith(p, w.model, c, ev, now, segVars)
			if err != nil {
				f.CondErrs[name] = err.Error()
			}
			f.Conds[name] = ok
		}
		at := r.EnrolledAt
		if r.WakeAt.Valid && r.WakeAt.Time.After(at) {
			at = r.WakeAt.Time
		}
		next := wf.Position(r.StepIndex, r.NextStep)
		d := wf.Advance(flow.WorkflowState{ContactKey: r.ContactKey, Next: next, At: at}, f)
		for _, a := range d.Actions {
			detail := a.Reason
			step, _ := wf.Index(a.Step)
			switch a.Kind {
			case flow.ActSend:
				class := w.sendClass(l.plan, a.Step)
				if why := suppressed[normAddress(r.Email)]; why != "" && class == plan.ClassMarketing {
					a.Kind, detail = flow.ActSkip, "the address is suppressed ("+why+"): not sent"
					break
				}
				msgs = append(msgs, store.StepMessage{Step: a.Step, Variant: a.Variant, ContactKey: r.ContactKey, Email: r.Email,
					Occurrence: r.Occurrence, EnrollmentID: r.ID, Class: class})
			case flow.ActNotify:
				owner := ownerAddress(c, w.ownerField)
				if owner == "" {
					a.Kind, detail = flow.ActSkip, fmt.Sprintf("no owner to notify: %s.%s is not an email address", w.p.Model, w.ownerField)
					break
				}
				msgs = append(msgs, store.StepMessage{Step: a.Step, ContactKey: r.ContactKey, Email: owner,
					Occurrence: r.Occurrence, EnrollmentID: r.ID, Class: plan.ClassInternal})
				detail += " to " + owner
			case flow.ActSet:
				v, field := wf.Steps[step].Value, fieldName(wf.Steps[step].Field, w.p.Model)
				if err := w.badValues[a.Step]; err != nil {
					// Written, it would read as NULL in segments and
					// consent: the CRM's value stands instead.
					a.Kind, detail = flow.ActSkip, fmt.Sprintf("%s = %s not written: %v; fix the step's value in workflow %s", wf.Steps[step].Field, v, err, object)
					e.logOnce("workflow set_property "+object+" "+a.Step, "set_property value does not fit its field; not written",
						fmt.Errorf("workflow %s: step %s: %s: %w", object, a.Step, wf.Steps[step].Field, err))
					break
				}
				props = append(props, store.PropertyWrite{Model: w.model.Name, ContactKey: r.ContactKey, Field: field, Value: &v, Step: a.Step, EnrollmentID: r.ID})
			case flow.ActClear:
				props = append(props, store.PropertyWrite{Model: w.model.Name, ContactKey: r.ContactKey, Field: fieldName(wf.Steps[step].Field, w.p.Model), Step: a.Step, EnrollmentID: r.ID})
			case flow.ActAssign:
				assigns[a.Step] = append(assigns[a.Step], len(props))
				props = append(props, store.PropertyWrite{Model: w.model.Name, ContactKey: r.ContactKey, Field: fieldName(wf.Steps[step].Field, w.p.Model), Step: a.Step, EnrollmentID: r.ID})
			}
			hist = append(hist, store.StepRecord{EnrollmentID: r.ID, Step: a.Step, Action: string(a.Kind), Variant: a.Variant, Detail: detail, At: now})
		}
		moves = append(moves, store.Move{ID: r.ID, Next: d.Next, NextStep: wf.NextName(d.Next), Wake: d.WakeAt, Hold: d.Hold, Exit: d.Exit,
			WaitStep: d.WaitStep, WaitFrom: d.WaitFrom, WaitRelativeTo: d.WaitRelativeTo, WaitReached: d.WaitReached})
	}
	// Round robin: each assigning step takes its turns in one statement.
	for stepName, idx := range assigns {
		i, _ := wf.Index(stepName)
		owners := wf.Steps[i].Owners
		start, err := adv.TakeOwnerTurns(ctx, kind, object, stepName, len(idx))
		if err != nil {
			return 0, err
		}
		for j, pi := range idx {
			v := owners[int((start+int64(j))%int64(len(owners)))]
			props[pi].Value = &v
		}
	}
	if len(props) > 0 {
		// The history line of an assignment names the owner it got.
		owner := map[int64]string{}
		for _, p := range props {
			if p.Value != nil {
				owner[p.EnrollmentID] = *p.Value
			}
		}
		for i := range hist {
			if hist[i].Action == string(flow.ActAssign) {
				hist[i].Detail = strings.Replace(hist[i].Detail, "round robin", "round robin: "+owner[hist[i].EnrollmentID], 1)
			}
		}
		if err := adv.WriteProperties(ctx, kind, object, now, props); err != nil {
			return 0, err
		}
	}
	if err := adv.Apply(ctx, kind, object, now, msgs, hist, moves); err != nil {
		return 0, err
	}
	if e.Metrics != nil && len(msgs) > 0 {
		e.Metrics.CountEnqueued(kind, object, msgs)
	}
	return len(msgs), nil
}

func fieldName(ref, model string) string { return strings.TrimPrefix(ref, model+".") }

// checkPropertyValue reports whether text, a value a step would write to
// field of model m, is of the field's form: the one segments, consent
// conditions and templates read as a value (plan.PropertyValue). The
// compiler refuses any other value; a plan it did not check (edited by hand)
// may still hold one, and its error says which form the type wants, without
// quoting the text.
func checkPropertyValue(m *plan.Model, field, text string) error {
	f, ok := modelField(m, field)
	if !ok {
		return fmt.Errorf("%s is not a field of model %s", field, m.Name)
	}
	_, err := plan.PropertyValue(f.Type, text)
	return err
}

// enrollmentEvent is the event variable of enrollment r's conditions and
// waits: the trigger event the enrollment keeps (a copy, so an event removed
// by retention still reads), or, for a state trigger, which has no stored
// event, one whose at is when the contact enrolled.
func (w *workflow) enrollmentEvent(r store.Enrollment) (map[string]any, error) {
	event := map[string]any{"type": w.p.Trigger.Event, "at": r.EnrolledAt.UTC(), "key": r.ContactKey}
	if len(r.TriggerEvent) > 0 {
		if err := json.Unmarshal(r.TriggerEvent, &event); err != nil {
			return nil, fmt.Errorf("workflow %s: enrollment %d: its trigger event: %w", w.p.Name, r.ID, err)
		}
		if s, ok := event["at"].(string); ok {
			if at, err := parseTime(s); err == nil {
				event["at"] = at
			}
		}
	}
	return event, nil
}

// relativeTimes reads the times the workflow's waits are relative to, for
// contact c (nil: gone from the CRM, no field set) and event: the facts'
// Times.
func (w *workflow) relativeTimes(c *wfContact, event map[string]any) map[string]time.Time {
	out := map[string]time.Time{}
	for _, st := range w.compiled.Steps {
		if st.RelativeTo == "" {
			continue
		}
		if t, ok := relativeTime(st.RelativeTo, w.p.Model, c, event); ok {
			out[st.RelativeTo] = t
		}
	}
	return out
}

// relativeTime reads a wait's relative_to: event.<name> or a contact field.
func relativeTime(ref, model string, c *wfContact, event map[string]any) (time.Time, bool) {
	var v any
	if name, ok := strings.CutPrefix(ref, eventVar+"."); ok {
		v = event[name]
	} else if c != nil {
		v = c.fields[fieldName(ref, model)]
	}
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), true
	case string:
		t, err := parseTime(x)
		return t, err == nil
	}
	return time.Time{}, false
}

// ownerAddress is the contact's owner as an address, or "".
func ownerAddress(c *wfContact, field string) string {
	s, _ := c.fields[field].(string)
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "@") {
		return ""
	}
	return s
}

// sendClass is the mail class of a workflow's send step: the workflow's, as
// the compiler resolved it (a promotional type is marketing), whatever its
// template declares; the compiler says so when they differ ("sends template
// ... as marketing mail"). The template's only for a plan without a
// workflow class. (It used to be the template's unless the workflow was
// transactional: a transactional template sent by a marketing workflow went
// out as transactional mail, past the consent, caps and unsubscribes a
// policy lets only transactional mail bypass.)
// sendsMarketing reports whether any send step of the workflow sends
// marketing mail: only then are its contacts' suppressions looked up.
func (w *workflow) sendsMarketing(p *plan.Plan) bool {
	for _, st := range w.p.Steps {
		if st.Kind == plan.StepSend && w.sendClass(p, st.Name) == plan.ClassMarketing {
			return true
		}
	}
	return false
}

func (w *workflow) sendClass(p *plan.Plan, step string) string {
	if w.p.Class != "" {
		return w.p.Class
	}
	for _, st := range w.p.Steps {
		if st.Name == step {
			if t, ok := p.Template(st.Template); ok && t.Class != "" {
				return t.Class
			}
		}
	}
	return plan.ClassMarketing
}

// stepClass is the class of any workflow step's mail: notifications are
// internal.
func (w *workflow) stepClass(p *plan.Plan, st *plan.Step) string {
	if st.Kind == plan.StepNotifyOwner {
		return plan.ClassInternal
	}
	return w.sendClass(p, st.Name)
}

// step returns the plan step by name.
func (w *workflow) step(name string) (*plan.Step, bool) {
	for i := range w.p.Steps {
		if w.p.Steps[i].Name == name {
			return &w.p.Steps[i], true
		}
	}
	return nil, false
}
