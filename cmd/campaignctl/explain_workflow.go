package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// Workflows in explain: the trigger as written, then each enrollment
// (occurrence) with the event that started it, every step it took, its
// messages (sends and owner notifications), where it stands and what comes
// next, and the properties the workflow wrote for the contact. For a contact
// never enrolled, the reason when it can be told from stored facts without
// re-running the trigger: no event of the trigger's type since the workflow
// was applied, no address, not in the trigger's segment, the trigger not read
// yet, or a state trigger, said as such. explain does not evaluate a
// trigger's CEL filter or a state trigger's condition: the engine owns those.

// explainTrigger is a workflow's trigger as written.
type explainTrigger struct {
	Event string `json:"event"`
	// State: a state of the contact (a metric over a threshold, inactivity,
	// a date, a segment) that enrolls contacts entering it, not a stored event.
	State       bool     `json:"state"`
	Topic       string   `json:"topic,omitempty"`
	Filter      string   `json:"filter,omitempty"`
	Segment     string   `json:"segment,omitempty"`
	Field       string   `json:"field,omitempty"`
	Threshold   *float64 `json:"threshold,omitempty"`
	Window      string   `json:"window,omitempty"`
	InactiveFor string   `json:"inactive_for,omitempty"`
	// Reenroll: "not allowed", "allowed", or "allowed after 30d".
	Reenroll string `json:"reenroll"`
}

// explainTriggerEvent is the event that enrolled a contact, as the
// enrollment stored it.
type explainTriggerEvent struct {
	Type     string     `json:"type"`
	At       *time.Time `json:"at,omitempty"`
	Topic    string     `json:"topic,omitempty"`
	Campaign string     `json:"campaign,omitempty"`
	Step     string     `json:"step,omitempty"`
	URL      string     `json:"url,omitempty"`
	ID       string     `json:"id,omitempty"`
	// Properties are what the client sent besides the stored fields.
	Properties map[string]any `json:"properties"`
}

// explainProperty is a contact property whose current value a workflow wrote.
type explainProperty struct {
	Field string    `json:"field"` // model.field
	Value *string   `json:"value"` // null: cleared
	SetAt time.Time `json:"set_at"`
	Step  string    `json:"step"`
	// Occurrence of the enrollment that wrote it; 0 when it is not one of
	// the contact's enrollments read here.
	Occurrence int `json:"occurrence,omitempty"`
}

// stateTriggers are the trigger events that are a state of the contact, not
// stored events (the engine's list, runtime/engine/workflow.go).
var stateTriggers = map[string]bool{
	"metric_threshold": true, "engagement_threshold": true, "inactivity": true,
	"date_field": true, "purchase_cycle": true, "segment_entry": true,
}

// storedEventFields are the keys of a trigger event that are the event's own
// columns; any other key is one of its properties (runtime/engine eventMap).
var storedEventFields = []string{"type", "at", "key", "topic", "campaign", "step", "url", "id"}

func planWorkflow(p *plan.Plan, name string) (*plan.Workflow, bool) {
	for i := range p.Workflows {
		if p.Workflows[i].Name == name {
			return &p.Workflows[i], true
		}
	}
	return nil, false
}

func triggerOf(w *plan.Workflow) *explainTrigger {
	t := w.Trigger
	et := &explainTrigger{Event: t.Event, State: stateTriggers[t.Event], Topic: t.Topic, Filter: t.Filter, Segment: t.Segment,
		Field: t.Field, Window: t.Window, InactiveFor: t.InactiveFor, Reenroll: "not allowed"}
	if t.Threshold != 0 {
		v := t.Threshold
		et.Threshold = &v
	}
	if r := w.Reenroll; r != nil && r.Allowed {
		et.Reenroll = "allowed"
		if r.After != "" {
			et.Reenroll += " after " + r.After
		}
	}
	return et
}

// workflowEnrollment is one enrollment row as explain reads it.
type workflowEnrollment struct {
	ID           int64          `db:"id"`
	ContactKey   string         `db:"contact_key"`
	Occurrence   int            `db:"occurrence"`
	State        string         `db:"state"`
	StepIndex    int            `db:"step_index"`
	NextStep     string         `db:"next_step"`
	WakeAt       sql.NullTime   `db:"wake_at"`
	Hold         sql.NullString `db:"hold"`
	EnrolledAt   time.Time      `db:"enrolled_at"`
	ExitReason   sql.NullString `db:"exit_reason"`
	ExitedAt     sql.NullTime   `db:"exited_at"`
	TriggerEvent []byte         `db:"trigger_event"`
}

type workflowProperty struct {
	Field        string         `db:"field"`
	Value        sql.NullString `db:"value"`
	SetAt        time.Time      `db:"set_at"`
	Step         string         `db:"step"`
	EnrollmentID sql.NullInt64  `db:"enrollment_id"`
}

func (x *explainer) explainWorkflow(ctx context.Context, c contactRecord, w *plan.Workflow, o *explainObject) error {
	o.Trigger = triggerOf(w)
	if w.Trigger.Segment != "" {
		if _, ok := x.plan.Segment(w.Trigger.Segment); ok {
			seg, err := x.explainSegment(ctx, c, w.Trigger.Segment)
			if err != nil {
				return fmt.Errorf("workflow %s: %w", w.Name, err)
			}
			o.Segment = seg
		}
	}
	db := x.st.DB
	addr := c.normalizedEmail()
	var ens []workflowEnrollment
	if err := db.SelectContext(ctx, &ens, workflowQuery("workflow-contact-enrollments"), w.Name, c.key, addr); err != nil {
		return needsMigrate(fmt.Errorf("workflow %s: reading the enrollments of %s: %w", w.Name, c, err))
	}
	ids := make([]int64, len(ens))
	for i, e := range ens {
		ids[i] = e.ID
	}
	var hist []store.EnrollmentStep
	if len(ids) > 0 {
		if err := db.SelectContext(ctx, &hist, workflowQuery("workflow-enrollment-history"), pq.Array(ids)); err != nil {
			return needsMigrate(fmt.Errorf("workflow %s: reading the history of %s: %w", w.Name, c, err))
		}
	}
	steps := []string{}
	kinds := map[string]string{}
	for _, s := range w.Steps {
		steps = append(steps, s.Name)
		kinds[s.Name] = s.Kind
	}
	for _, h := range hist {
		if h.Step != "" && !slices.Contains(steps, h.Step) {
			steps = append(steps, h.Step) // a step a later revision renamed or dropped
		}
	}
	msgs, err := x.st.ObjectContactMessages(ctx, "workflow", w.Name, steps, c.key, addr)
	if err != nil {
		return needsMigrate(err)
	}
	// A notification is keyed by the contact but addressed to its owner: the
	// address arm of the query would also find notifications about other
	// contacts whose owner has this contact's address. Those are not this
	// contact's.
	msgs = slices.DeleteFunc(msgs, func(m store.Message) bool {
		return m.ContactKey != c.key && !(m.EnrollmentID.Valid && slices.Contains(ids, m.EnrollmentID.Int64))
	})
	message := func(m store.Message) explainMessage {
		em := explainMessageOf(m)
		if kinds[m.Step] == plan.StepNotifyOwner {
			em.To = m.EmailNormalized
		}
		return em
	}

	occurrence := map[int64]int{}
	for _, e := range ens {
		occurrence[e.ID] = e.Occurrence
		ee := explainEnrollment{ContactKey: e.ContactKey, Occurrence: e.Occurrence, State: e.State,
			EnrolledAt: e.EnrolledAt.UTC(), ExitReason: e.ExitReason.String, History: []explainStep{}, Messages: []explainMessage{}}
		if e.ExitedAt.Valid {
			t := e.ExitedAt.Time.UTC()
			ee.ExitedAt = &t
		}
		var latest time.Time
		for _, h := range hist {
			if h.EnrollmentID == e.ID {
				ee.History = append(ee.History, explainStep{At: h.At.UTC(), Step: h.Step, Action: h.Action, Variant: h.Variant, Detail: h.Detail})
				if h.At.After(latest) {
					latest = h.At
				}
			}
		}
		if e.State == "active" {
			n := &explainNext{Index: e.StepIndex, Step: e.NextStep, WaitingForABDecision: e.Hold.String}
			if n.Step == "" && e.StepIndex >= 0 && e.StepIndex < len(w.Steps) {
				n.Step = w.Steps[e.StepIndex].Name
			}
			if e.WakeAt.Valid {
				t := e.WakeAt.Time.UTC()
				n.WakeAt = &t
			}
			// A wait ends an advance: the latest lines say whether it is in one.
			for _, h := range ee.History {
				if h.At.Equal(latest.UTC()) && h.Action == "waited" {
					n.InWait = h.Step
				}
			}
			ee.Next = n
		}
		if len(e.TriggerEvent) > 0 {
			te, err := triggerEventOf(e.TriggerEvent)
			if err != nil {
				return fmt.Errorf("workflow %s: enrollment %d: its trigger event: %w", w.Name, e.ID, err)
			}
			ee.TriggerEvent = te
		}
		for _, m := range msgs {
			if m.EnrollmentID.Valid && m.EnrollmentID.Int64 == e.ID {
				ee.Messages = append(ee.Messages, message(m))
			}
		}
		o.Enrollments = append(o.Enrollments, ee)
	}
	for _, m := range msgs {
		if !m.EnrollmentID.Valid || !slices.Contains(ids, m.EnrollmentID.Int64) {
			o.Messages = append(o.Messages, message(m))
		}
	}

	var props []workflowProperty
	if err := db.SelectContext(ctx, &props, workflowQuery("workflow-contact-properties"), c.model.Name, c.key, w.Name); err != nil {
		return needsMigrate(fmt.Errorf("workflow %s: reading the properties it wrote for %s: %w", w.Name, c, err))
	}
	for _, p := range props {
		ep := explainProperty{Field: c.model.Name + "." + p.Field, SetAt: p.SetAt.UTC(), Step: p.Step}
		if p.Value.Valid {
			v := p.Value.String
			ep.Value = &v
		}
		if p.EnrollmentID.Valid {
			ep.Occurrence = occurrence[p.EnrollmentID.Int64]
		}
		o.Properties = append(o.Properties, ep)
	}

	splitKey := c.key
	if len(ens) > 0 && !slices.ContainsFunc(ens, func(e workflowEnrollment) bool { return e.ContactKey == c.key }) {
		splitKey = ens[0].ContactKey
	}
	var sends []plan.SequenceStep
	for _, s := range w.Steps {
		if s.Kind == plan.StepSend {
			sends = append(sends, plan.SequenceStep{Name: s.Name, Template: s.Template, ABTest: s.ABTest})
		}
	}
	if o.ABTests, err = x.abTests(ctx, "workflow", w.Name, sends, splitKey, len(ens) > 0); err != nil {
		return err
	}

	if len(ens) == 0 {
		why, err := x.whyNotInWorkflow(ctx, c, w, o.Segment)
		if err != nil {
			return err
		}
		o.NotEnrolled = why
	}
	return nil
}

// triggerEventOf reads a stored trigger event: its own fields, and the rest
// as its properties.
func triggerEventOf(raw []byte) (*explainTriggerEvent, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	text := func(k string) string {
		if v, ok := m[k]; ok && v != nil {
			if s, ok := v.(string); ok {
				return s
			}
			return fmt.Sprint(v)
		}
		return ""
	}
	te := &explainTriggerEvent{Type: text("type"), Topic: text("topic"), Campaign: text("campaign"), Step: text("step"),
		URL: text("url"), ID: text("id"), Properties: map[string]any{}}
	if s := text("at"); s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			t = t.UTC()
			te.At = &t
		}
	}
	for k, v := range m {
		if !slices.Contains(storedEventFields, k) {
			te.Properties[k] = v
		}
	}
	return te, nil
}

// whyNotInWorkflow says why a contact was never enrolled, from what is stored:
// it does not re-run the trigger.
func (x *explainer) whyNotInWorkflow(ctx context.Context, c contactRecord, w *plan.Workflow, seg *explainSegment) (string, error) {
	t := w.Trigger
	db := x.st.DB
	if stateTriggers[t.Event] {
		why := "the trigger is " + t.Event + ", a state of the contact rather than an event: the daemon's leader enrolls contacts as they enter it"
		if t.Event == "segment_entry" && seg != nil && !seg.Member {
			return "not in segment " + seg.Name + " now (the trigger is segment_entry: contacts are enrolled as they enter it)", nil
		}
		if c.normalizedEmail() == "" {
			return c.String() + " has no address, and contacts without one are not enrolled", nil
		}
		return why + " (" + stateTriggerText(w) + "); explain does not evaluate that condition", nil
	}
	what := t.Event + " event"
	if t.Topic != "" {
		what += fmt.Sprintf(" with topic %q", t.Topic)
	}
	var applied sql.NullTime
	if err := db.GetContext(ctx, &applied, workflowQuery("workflow-first-applied"), w.Name); err != nil {
		return "", needsMigrate(fmt.Errorf("workflow %s: when it was applied: %w", w.Name, err))
	}
	since := time.Time{}
	if applied.Valid {
		since = applied.Time
	}
	var ev struct {
		Since    int64        `db:"since"`
		Before   int64        `db:"before"`
		LatestID int64        `db:"latest_id"`
		LatestAt sql.NullTime `db:"latest_at"`
	}
	if err := db.GetContext(ctx, &ev, workflowQuery("workflow-trigger-events"), c.model.Name, c.key, t.Event, t.Topic, since); err != nil {
		return "", needsMigrate(fmt.Errorf("workflow %s: reading the %ss of %s: %w", w.Name, what, c, err))
	}
	appliedAt := ""
	if applied.Valid {
		appliedAt = " at " + applied.Time.UTC().Format(time.RFC3339)
	}
	if ev.Since == 0 {
		why := fmt.Sprintf("no %s for %s has arrived since the workflow was applied%s", what, c, appliedAt)
		if ev.Before > 0 {
			why += fmt.Sprintf(" (%s arrived before: a workflow is triggered by events that arrive after it is applied)", plural(int(ev.Before), "earlier one"))
		}
		return why, nil
	}
	got := fmt.Sprintf("%s since the workflow was applied%s, the latest at %s", plural(int(ev.Since), what), appliedAt,
		ev.LatestAt.Time.UTC().Format(time.RFC3339))
	var read struct {
		Started bool `db:"started"`
		Read    bool `db:"read"`
	}
	if err := db.GetContext(ctx, &read, workflowQuery("workflow-trigger-read"), w.Name, ev.LatestID); err != nil {
		return "", needsMigrate(fmt.Errorf("workflow %s: reading its trigger cursor: %w", w.Name, err))
	}
	switch {
	case !read.Started:
		return got + "; the daemon has not run the workflow's trigger yet: is campaignctl serve running?", nil
	case !read.Read:
		return got + "; the trigger has not read the latest yet (it reads new events on every pass): is campaignctl serve running?", nil
	case c.normalizedEmail() == "":
		return got + "; " + c.String() + " has no address, and contacts without one are not enrolled", nil
	case seg != nil && !seg.Member:
		return got + "; not in segment " + seg.Name + " (trigger.segment) now, nor, likely, when the trigger read them", nil
	case t.Filter != "":
		return got + "; the trigger read them and enrolled no one: its filter " + t.Filter + " did not hold for them (explain does not evaluate it)", nil
	}
	return got + "; the trigger read them and enrolled no one: the contact was not in " + c.model.Table + " when they were read, or the events arrived while it was enrolled", nil
}

// stateTriggerText describes a state trigger's parameters.
func stateTriggerText(w *plan.Workflow) string {
	t := w.Trigger
	var parts []string
	if t.Field != "" {
		parts = append(parts, "field "+t.Field)
	}
	if t.Threshold != 0 {
		parts = append(parts, "threshold "+strconv.FormatFloat(t.Threshold, 'g', -1, 64))
	}
	if t.Window != "" {
		parts = append(parts, "window "+t.Window)
	}
	if t.InactiveFor != "" {
		parts = append(parts, "inactive for "+t.InactiveFor)
	}
	if t.Segment != "" {
		parts = append(parts, "segment "+t.Segment)
	}
	if t.Filter != "" {
		parts = append(parts, "filter "+t.Filter)
	}
	if len(parts) == 0 {
		return "no parameters"
	}
	return strings.Join(parts, ", ")
}

func writeTriggerText(b *bytes.Buffer, t *explainTrigger) {
	var parts []string
	if t.State {
		parts = append(parts, t.Event+" (a state of the contact)")
	} else {
		parts = append(parts, t.Event+" event")
	}
	if t.Topic != "" {
		parts = append(parts, fmt.Sprintf("topic %q", t.Topic))
	}
	if t.Field != "" {
		parts = append(parts, "field "+t.Field)
	}
	if t.Threshold != nil {
		parts = append(parts, "threshold "+strconv.FormatFloat(*t.Threshold, 'g', -1, 64))
	}
	if t.Window != "" {
		parts = append(parts, "window "+t.Window)
	}
	if t.InactiveFor != "" {
		parts = append(parts, "inactive for "+t.InactiveFor)
	}
	if t.Segment != "" {
		parts = append(parts, "segment "+t.Segment)
	}
	if t.Filter != "" {
		parts = append(parts, "filter "+strings.Join(strings.Fields(t.Filter), " "))
	}
	fmt.Fprintf(b, "    trigger: %s; re-enrollment %s\n", strings.Join(parts, ", "), t.Reenroll)
}

// triggerEventText is one line for the event that enrolled a contact.
func triggerEventText(e *explainTriggerEvent) string {
	s := e.Type + " event"
	if e.At != nil {
		s += " at " + e.At.Format(time.RFC3339)
	}
	for _, f := range [][2]string{{"topic", e.Topic}, {"campaign", e.Campaign}, {"step", e.Step}, {"url", e.URL}, {"id", e.ID}} {
		if f[1] != "" {
			s += fmt.Sprintf(", %s %q", f[0], f[1])
		}
	}
	if len(e.Properties) > 0 {
		keys := make([]string, 0, len(e.Properties))
		for k := range e.Properties {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var kv []string
		for _, k := range keys {
			v, err := json.Marshal(e.Properties[k])
			if err != nil {
				v = []byte(fmt.Sprint(e.Properties[k]))
			}
			kv = append(kv, k+"="+string(v))
		}
		s += ", properties " + strings.Join(kv, " ")
	}
	return s
}

func writePropertiesText(b *bytes.Buffer, props []explainProperty) {
	for _, p := range props {
		val := "cleared"
		if p.Value != nil {
			val = "= " + strconv.Quote(*p.Value)
		}
		occ := ""
		if p.Occurrence > 0 {
			occ = fmt.Sprintf(", occurrence %d", p.Occurrence)
		}
		fmt.Fprintf(b, "    property %s %s (written by step %s at %s%s)\n", p.Field, val, p.Step, p.SetAt.Format(time.RFC3339), occ)
	}
}
