package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
	"github.com/campaignctl/campaignctl/runtime/flow"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// This file runs workflows. The leader enrolls contacts from each workflow's
// trigger: stored events (the events API and `events import`) read through a
// cursor, or, for triggers that are a state of the contact rather than
// something it did (a metric over a threshold, inactivity, a date field, a
// segment), a hidden segment entered like a sequence's. Every replica
// advances due enrollments: flow.Workflow.Advance decides, this file reads the
// contact (with the properties workflows wrote laid over the CRM's fields),
// evaluates the conditions and applies the decision in one transaction.

// workflow is a plan workflow as the engine runs it.
type workflow struct {
	p          *plan.Workflow
	compiled   *flow.Workflow
	compileErr error
	model      *plan.Model
	// eventTypes are the stored event types that enroll (nil: the trigger is
	// the hidden segment triggerSegment).
	eventTypes []string
	// filter (trigger), goal and each branch condition, over the contact and
	// the enrolling event.
	filter, goal cel.Program
	conds        map[string]cel.Program
	// segments are the segments of the model the goal and the branch
	// conditions read (segment.<name>): their membership is read for each
	// advanced batch (Evaluator.MatchKeys) and bound with the contact.
	// filterSegments are those the trigger filter reads, read for each batch
	// of events.
	segments, filterSegments []string
	// ownerField is the contact field holding its owner's address, told by
	// notify_owner steps: the field an assign_owner step writes, else "owner".
	ownerField    string
	reenroll      bool
	reenrollAfter time.Duration
	// badValues holds, by step name, why a set_property step's value does
	// not fit its field (checkPropertyValue), judged once per revision: the
	// compiler refuses such a value, so only a revision applied by an older
	// campaignctl has one, and the step is then skipped for every contact.
	badValues map[string]error
}

// stateTriggers are trigger events that describe the contact rather than
// something it did: they enroll through a hidden segment (newly matching
// contacts), not through stored events.
var stateTriggers = plan.StateTriggers

// triggerSegment names the hidden segment of a state trigger.
func triggerSegment(name string) string { return "__trigger__workflow__" + name }

// triggerFilter is the CEL filter of a state trigger's hidden segment, or ""
// when the trigger is made of stored events.
func triggerFilter(w *plan.Workflow, m *plan.Model) (string, error) {
	t := w.Trigger
	if !stateTriggers[t.Event] {
		return "", nil
	}
	field := t.Field
	if field != "" && !strings.HasPrefix(field, w.Model+".") {
		field = w.Model + "." + field
	}
	var parts []string
	switch t.Event {
	case "metric_threshold":
		if field == "" {
			return "", fmt.Errorf("trigger metric_threshold needs trigger.field")
		}
		lit := fmt.Sprintf("%g", t.Threshold)
		if f, ok := modelField(m, strings.TrimPrefix(field, w.Model+".")); ok && f.Type == plan.TypeFloat && !strings.ContainsAny(lit, ".e") {
			lit += ".0"
		} else if ok && f.Type == plan.TypeInt && t.Threshold != math.Trunc(t.Threshold) {
			lit = fmt.Sprintf("%d", int64(math.Ceil(t.Threshold)))
		}
		parts = append(parts, field+" >= "+lit)
	case "engagement_threshold":
		window := 30 * 24 * time.Hour
		if t.Window != "" {
			d, err := plan.ParseDuration(t.Window)
			if err != nil {
				return "", fmt.Errorf("trigger.window: %w", err)
			}
			window = d
		}
		// Visits, clicks and form submissions: what the workflow type's schema
		// calls engagement.
		var terms []string
		for _, typ := range celmodel.ActivityTypes {
			terms = append(terms, fmt.Sprintf("%s.%s(%q, duration(%q))", w.Model, celmodel.FuncEventCount, typ, window.String()))
		}
		parts = append(parts, "("+strings.Join(terms, " + ")+") >= "+fmt.Sprintf("%d", int64(math.Ceil(t.Threshold))))
	case "inactivity":
		d, err := plan.ParseDuration(t.InactiveFor)
		if err != nil {
			return "", fmt.Errorf("trigger.inactive_for: %w", err)
		}
		parts = append(parts, fmt.Sprintf("%s.%s(duration(%q))", w.Model, celmodel.FuncInactiveFor, d.String()))
	case "date_field":
		// The date's anniversary (UTC): a birthday, a signup date. With
		// reenroll allowed (after less than a year) it comes back every year.
		if field == "" {
			return "", fmt.Errorf("trigger date_field needs trigger.field")
		}
		parts = append(parts, "has("+field+")", field+".getMonth() == now.getMonth()", field+".getDayOfMonth() == now.getDayOfMonth()")
	case "purchase_cycle":
		// The waits are timed from the field (relative_to); a contact enrolls
		// once the field is set.
		if field == "" {
			return "", fmt.Errorf("trigger purchase_cycle needs trigger.field")
		}
		parts = append(parts, "has("+field+")")
	case "segment_entry":
		if t.Segment == "" {
			return "", fmt.Errorf("trigger segment_entry needs trigger.segment")
		}
	}
	if t.Segment != "" {
		parts = append(parts, celmodel.SegmentVar(t.Segment))
	}
	if t.Filter != "" {
		if strings.Contains(t.Filter, "event.") {
			return "", fmt.Errorf("trigger.filter %q reads the event, but a %s trigger has no event", t.Filter, t.Event)
		}
		parts = append(parts, "("+t.Filter+")")
	}
	return strings.Join(parts, " && "), nil
}

func modelField(m *plan.Model, name string) (plan.Field, bool) {
	for _, f := range m.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return plan.Field{}, false
}

// workflowsOf compiles the plan's workflows, sorted by name.
func workflowsOf(p *plan.Plan) []*workflow {
	out := make([]*workflow, 0, len(p.Workflows))
	for i := range p.Workflows {
		out = append(out, compileWorkflow(p, &p.Workflows[i]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].p.Name < out[j].p.Name })
	return out
}

func compileWorkflow(p *plan.Plan, pw *plan.Workflow) *workflow {
	w := &workflow{p: pw, conds: map[string]cel.Program{}, ownerField: "owner"}
	fail := func(err error) *workflow {
		w.compileErr = fmt.Errorf("workflow %s: %w", pw.Name, err)
		return w
	}
	var err error
	if w.compiled, err = flow.CompileWorkflow(pw); err != nil {
		w.compileErr = err
		return w
	}
	m, ok := p.Model(pw.Model)
	if !ok {
		return fail(fmt.Errorf("model %s is not in the plan", pw.Model))
	}
	w.model = m
	for _, st := range pw.Steps {
		if st.Kind != plan.StepSetProperty {
			continue
		}
		if err := checkPropertyValue(m, fieldName(st.Field, pw.Model), st.Value); err != nil {
			if w.badValues == nil {
				w.badValues = map[string]error{}
			}
			w.badValues[st.Name] = err
		}
	}
	if !stateTriggers[pw.Trigger.Event] {
		w.eventTypes = []string{pw.Trigger.Event}
	}
	if pw.Reenroll != nil && pw.Reenroll.Allowed {
		w.reenroll = true
		if pw.Reenroll.After != "" {
			if w.reenrollAfter, err = plan.ParseDuration(pw.Reenroll.After); err != nil {
				return fail(fmt.Errorf("reenroll.after: %w", err))
			}
		}
	}
	// The compiler's environment: event typed by the trigger's declared
	// properties, or an untyped map without them; the trigger filter, the
	// goal and the branch conditions may also read the model's segments.
	var modelSegments []string
	for _, sg := range p.Segments {
		if sg.Model == m.Name {
			modelSegments = append(modelSegments, sg.Name)
		}
	}
	condEnv, err := celmodel.WorkflowEnv(m, modelSegments, pw.Trigger.Properties)
	if err != nil {
		return fail(fmt.Errorf("declaring model %s to CEL: %w", m.Name, err))
	}
	// prog compiles a condition, and adds the segments it reads to *segs.
	prog := func(what, expr string, segs *[]string) (cel.Program, error) {
		ast, iss := condEnv.Compile(expr)
		if iss.Err() != nil {
			return nil, fmt.Errorf("%s %q: %v (workflow conditions may read the contact's fields, the model's segments, event.* and now)", what, expr, iss.Err())
		}
		// Engagement functions compile (the environment is a segment
		// filter's) but need the events table, which only a segment's
		// evaluation reads: refused here rather than read false at run time.
		if calls, err := celmodel.EngagementCalls(ast.NativeRep(), m.Name); err != nil || len(calls) > 0 {
			return nil, fmt.Errorf("%s %q calls an engagement function (opened, clicked, event_count, inactive_for), which workflow conditions do not evaluate per contact: declare a segment with that filter and test segment.<name> instead", what, expr)
		}
		*segs = append(*segs, celmodel.SegmentRefs(ast.NativeRep())...)
		return condEnv.Program(ast)
	}
	if pw.Trigger.Filter != "" && w.eventTypes != nil {
		if w.filter, err = prog("trigger.filter", pw.Trigger.Filter, &w.filterSegments); err != nil {
			return fail(err)
		}
	}
	if pw.Goal != "" {
		if w.goal, err = prog("goal", pw.Goal, &w.segments); err != nil {
			return fail(err)
		}
	}
	for _, st := range pw.Steps {
		switch {
		case st.Kind == plan.StepBranch && st.Condition != "":
			c, err := prog("step "+st.Name+": if", st.Condition, &w.segments)
			if err != nil {
				return fail(err)
			}
			w.conds[st.Name] = c
		case st.Kind == plan.StepAssignOwner && st.Field != "":
			w.ownerField = strings.TrimPrefix(st.Field, pw.Model+".")
		}
		switch st.Kind {
		case plan.StepSetProperty, plan.StepClearProperty, plan.StepAssignOwner:
			if _, ok := modelField(m, strings.TrimPrefix(st.Field, pw.Model+".")); !ok {
				return fail(fmt.Errorf("step %s: field %q is not a field of model %s", st.Name, st.Field, m.Name))
			}
		}
		if st.RelativeTo != "" && !strings.HasPrefix(st.RelativeTo, eventVar+".") {
			f, ok := modelField(m, strings.TrimPrefix(st.RelativeTo, pw.Model+"."))
			if !ok || f.Type != plan.TypeTimestamp {
				return fail(fmt.Errorf("step %s: relative_to %s is not a timestamp field of model %s or an event.* field", st.Name, st.RelativeTo, m.Name))
			}
		}
	}
	if _, err := triggerFilter(pw, m); err != nil {
		return fail(err)
	}
	slices.Sort(w.segments)
	w.segments = slices.Compact(w.segments)
	return w
}

// eventVar is the CEL variable holding the enrolling event.
const eventVar = celmodel.EventVar

// workflowHiddenSegments are the state triggers' hidden segments.
func workflowHiddenSegments(p *plan.Plan) []plan.Segment {
	var out []plan.Segment
	for i := range p.Workflows {
		w := &p.Workflows[i]
		m, ok := p.Model(w.Model)
		if !ok {
			continue
		}
		if f, err := triggerFilter(w, m); err == nil && f != "" {
			out = append(out, plan.Segment{Name: triggerSegment(w.Name), Model: w.Model, Filter: f})
		}
	}
	return out
}

// eventMap is the event as workflow conditions read it: its stored fields and,
// beside them, its properties (a property cannot hide a stored field).
func eventMap(ev store.TriggerEvent) map[string]any {
	m := map[string]any{}
	if len(ev.Properties) > 0 {
		_ = json.Unmarshal(ev.Properties, &m) // a JSON object: the table's CHECK
	}
	// at is a timestamp, so both event.at < now and timestamp(event.at) read.
	m["type"], m["at"], m["key"] = ev.Type, ev.OccurredAt.UTC(), ev.ContactKey
	m["topic"], m["campaign"], m["step"], m["url"] = ev.Topic, ev.Campaign, ev.Step, ev.URL
	if ev.ExternalID.Valid {
		m["id"] = ev.ExternalID.String
	}
	return m
}

// reconcileWorkflows is the leader's part for workflows: enroll from each
// trigger. Stored-event triggers are read on every pass (the cursor makes an
// idle pass one index probe); state triggers with the sequences' cadence.
func (e *Engine) reconcileWorkflows(ctx context.Context, l *loaded, now time.Time, enrollNow bool) error {
	for _, w := range l.workflows {
		if w.compileErr != nil {
			e.logOnce("workflow "+w.p.Name, "cannot run workflow", w.compileErr)
			continue
		}
		var err error
		if l.isPaused(flow.KindWorkflow, w.p.Name) {
			// Neither the trigger's segment nor its events are read, and the
			// event cursor stays put: the events of the pause enroll on resume.
		} else if w.eventTypes != nil {
			err = e.enrollFromEvents(ctx, l, w, now)
		} else if enrollNow {
			err = e.enrollFromSegment(ctx, l, w, now)
		}
		if err != nil {
			return err
		}
		if err := e.decideTests(ctx, l, w.asSeries(), now); err != nil {
			return err
		}
	}
	return nil
}

// asSeries describes the workflow's send steps as a series, for what is
// shared with sequences (A/B decisions).
func (w *workflow) asSeries() *series {
	s := &series{Kind: flow.KindWorkflow, Name: w.p.Name, Model: w.p.Model, Sender: w.p.Sender, Policy: w.p.Policy}
	for _, st := range w.p.Steps {
		if st.Kind == plan.StepSend {
			s.Steps = append(s.Steps, plan.SequenceStep{Name: st.Name, Template: st.Template, ABTest: st.ABTest})
		}
	}
	return s
}

func (e *Engine) enrollFromSegment(ctx context.Context, l *loaded, w *workflow, now time.Time) error {
	seg := triggerSegment(w.p.Name)
	if w.reenroll {
		return e.reenrollFromSegment(ctx, l, w, seg, now)
	}
	src, ok, err := l.eval.PushdownSource(seg, now)
	if err != nil {
		return fmt.Errorf("workflow %s: %w", w.p.Name, err)
	}
	var n int64
	if ok {
		n, err = e.Store.EnrollFromSource(ctx, flow.KindWorkflow, w.p.Name, store.Source(src), now, now, l.revision)
	} else {
		_, err = l.eval.Each(ctx, e.Store.DB, seg, now, e.BatchSize, func(batch []segment.Match) error {
			rs := make([]store.Recipient, len(batch))
			for i, m := range batch {
				rs[i] = store.Recipient{Key: m.Key, Email: m.Email}
			}
			k, err := e.Store.EnrollBatch(ctx, flow.KindWorkflow, w.p.Name, rs, now, now, l.revision)
			n += k
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("workflow %s: enrolling from its %s trigger: %w", w.p.Name, w.p.Trigger.Event, err)
	}
	if n > 0 {
		e.Log.Info("contacts enrolled", "kind", flow.KindWorkflow, "object", w.p.Name, "trigger", w.p.Trigger.Event, "enrolled", n)
		poke(e.wakeAdvance)
	}
	return nil
}

// reenrollFromSegment enrolls the contacts matching a state trigger under a
// workflow's re-enrollment rule: streamed in batches, each contact judged on
// its earlier enrollments (nextOccurrence).
func (e *Engine) reenrollFromSegment(ctx context.Context, l *loaded, w *workflow, seg string, now time.Time) error {
	kind, name := flow.KindWorkflow, w.p.Name
	if err := e.markLeft(ctx, l, w, seg, now); err != nil {
		return err
	}
	event, err := json.Marshal(map[string]any{"type": w.p.Trigger.Event, "at": now.UTC()})
	if err != nil {
		return err
	}
	var n int64
	_, err = l.eval.Each(ctx, e.Store.DB, seg, now, e.BatchSize, func(batch []segment.Match) error {
		keys := make([]string, len(batch))
		for i, m := range batch {
			keys[i] = m.Key
		}
		prior, err := e.Store.EnrollmentSummaries(ctx, kind, name, keys)
		if err != nil {
			return err
		}
		excluded, err := e.Store.Excluded(ctx, kind, name, keys)
		if err != nil {
			return err
		}
		var out []store.EventEnrollment
		for _, m := range batch {
			if excluded[m.Key] {
				continue
			}
			p, seen := prior[m.Key]
			if seen && !p.Left {
				continue // still in the trigger since its last enrollment: not a new entry
			}
			if occ, ok := nextOccurrence(w, p, now); ok && strings.TrimSpace(m.Email) != "" {
				out = append(out, store.EventEnrollment{ContactKey: m.Key, Email: m.Email, Occurrence: occ, Event: event, At: now, Wake: now})
			}
		}
		k, err := e.Store.EnrollEvents(ctx, kind, name, out, nil, l.revision)
		n += k
		return err
	})
	if err != nil {
		return fmt.Errorf("workflow %s: enrolling from its %s trigger: %w", name, w.p.Trigger.Event, err)
	}
	if n > 0 {
		e.Log.Info("contacts enrolled", "kind", kind, "object", name, "trigger", w.p.Trigger.Event, "enrolled", n)
		poke(e.wakeAdvance)
	}
	return nil
}

// markLeft marks the ended enrollments whose contact is no longer in the
// state trigger, so that entering it again re-enrolls.
func (e *Engine) markLeft(ctx context.Context, l *loaded, w *workflow, seg string, now time.Time) error {
	after := ""
	for {
		ds, err := e.Store.EndedNotLeft(ctx, flow.KindWorkflow, w.p.Name, after, triggerPage)
		if err != nil || len(ds) == 0 {
			return err
		}
		keys := make([]string, len(ds))
		for i, d := range ds {
			keys[i] = d.ContactKey
		}
		in, err := l.eval.MatchKeys(ctx, e.Store.DB, seg, now, keys)
		if err != nil {
			return fmt.Errorf("workflow %s: %w", w.p.Name, err)
		}
		var left []int64
		for _, d := range ds {
			if !in[d.ContactKey] {
				left = append(left, d.ID)
			}
		}
		if len(left) > 0 {
			if err := e.Store.MarkTriggerLeft(ctx, left); err != nil {
				return err
			}
		}
		if len(ds) < triggerPage {
			return nil
		}
		after = ds[len(ds)-1].ContactKey
	}
}

const triggerPage = 500

// enrollFromEvents enrolls the contacts of the events stored since the
// workflow's cursor that pass its trigger (topic, segment, filter) and its
// re-enrollment rule.
func (e *Engine) enrollFromEvents(ctx context.Context, l *loaded, w *workflow, now time.Time) error {
	kind, name := flow.KindWorkflow, w.p.Name
	total, err := e.consumeTriggerEvents(ctx, l, kind, name, w.model.Name, w.eventTypes, w.p.Trigger.Topic,
		func(evs []store.TriggerEvent) (int64, error) { return e.enrollEvents(ctx, l, w, evs, now) })
	if err != nil {
		return err
	}
	if total > 0 {
		e.Log.Info("contacts enrolled", "kind", kind, "object", name, "trigger", w.p.Trigger.Event, "enrolled", total)
		poke(e.wakeAdvance)
	}
	return nil
}

// consumeTriggerEvents hands handle the events of the given model, types and
// topic stored after the object's trigger cursor, a page at a time, and
// moves the cursor past every event whose transaction had settled (an event
// still being written by an open transaction may come with a lower id later,
// so the cursor stops before it). It returns what handle counted.
func (e *Engine) consumeTriggerEvents(ctx context.Context, l *loaded, kind, name, model string, types []string, topic string,
	handle func([]store.TriggerEvent) (int64, error)) (int64, error) {
	cursor, err := e.Store.TriggerCursor(ctx, kind, name, l.revision)
	if err != nil {
		return 0, err
	}
	after, settled, allSettled := cursor, cursor, true
	var total int64
	for {
		evs, err := e.Store.TriggerEvents(ctx, kind, name, model, types, topic, after, triggerPage)
		if err != nil {
			return total, fmt.Errorf("%s %s: %w", kind, name, err)
		}
		if len(evs) == 0 {
			break
		}
		n, err := handle(evs)
		if err != nil {
			return total, err
		}
		total += n
		for _, ev := range evs {
			after = ev.ID
			if allSettled = allSettled && ev.Settled; allSettled {
				settled = ev.ID
			}
		}
		if len(evs) < triggerPage {
			break
		}
	}
	if settled > cursor {
		if err := e.Store.MoveTriggerCursor(ctx, kind, name, settled); err != nil {
			return total, err
		}
	}
	return total, nil
}

func (e *Engine) enrollEvents(ctx context.Context, l *loaded, w *workflow, evs []store.TriggerEvent, now time.Time) (int64, error) {
	kind, name := flow.KindWorkflow, w.p.Name
	keys := make([]string, 0, len(evs))
	seen := map[string]bool{}
	for _, ev := range evs {
		if !seen[ev.ContactKey] {
			seen[ev.ContactKey] = true
			keys = append(keys, ev.ContactKey)
		}
	}
	contacts, err := e.readContacts(ctx, w.model, keys, nil, l.written[w.model.Name])
	if err != nil {
		return 0, fmt.Errorf("workflow %s: %w", name, err)
	}
	var inSegment map[string]bool
	if w.p.Trigger.Segment != "" {
		if inSegment, err = l.eval.MatchKeys(ctx, e.Store.DB, w.p.Trigger.Segment, now, keys); err != nil {
			return 0, fmt.Errorf("workflow %s: trigger.segment %s: %w", name, w.p.Trigger.Segment, err)
		}
	}
	members, err := e.readMemberships(ctx, l, w.filterSegments, keys, now)
	if err != nil {
		return 0, fmt.Errorf("workflow %s: trigger.filter: %w", name, err)
	}
	prior, err := e.Store.EnrollmentSummaries(ctx, kind, name, keys)
	if err != nil {
		return 0, err
	}
	excluded, err := e.Store.Excluded(ctx, kind, name, keys)
	if err != nil {
		return 0, err
	}
	var out []store.EventEnrollment
	decided := make([]int64, 0, len(evs))
	for _, ev := range evs {
		decided = append(decided, ev.ID)
		c, ok := contacts[ev.ContactKey]
		if !ok || c.email == "" {
			continue // not in the CRM (yet), or no address: nothing to enroll
		}
		if (inSegment != nil && !inSegment[ev.ContactKey]) || excluded[ev.ContactKey] {
			continue
		}
		evm := eventMap(ev)
		if w.filter != nil {
			ok, err := evalBoolWith(w.filter, w.model, c, w.event(evm), now, members.vars(ev.ContactKey))
			if err != nil {
				e.logOnce("workflow filter "+name, "workflow trigger filter failed for an event; the event does not enroll", fmt.Errorf("workflow %s: trigger.filter on event %d: %w", name, ev.ID, err))
				continue
			}
			if !ok {
				continue
			}
		}
		occ, ok := nextOccurrence(w, prior[ev.ContactKey], now)
		if !ok {
			continue
		}
		raw, err := json.Marshal(evm)
		if err != nil {
			return 0, fmt.Errorf("workflow %s: event %d: %w", name, ev.ID, err)
		}
		out = append(out, store.EventEnrollment{ContactKey: ev.ContactKey, Email: c.email, Occurrence: occ,
			EventID: ev.ID, Event: raw, At: now, Wake: now})
		prior[ev.ContactKey] = store.EnrollmentSummary{ContactKey: ev.ContactKey, Occurrences: occ, Active: true, LastEnrolled: now}
	}
	return e.Store.EnrollEvents(ctx, kind, name, out, decided, l.revision)
}

// nextOccurrence applies the re-enrollment rule: a contact still enrolled is
// not enrolled again; one that went through the workflow is only when it
// allows re-enrollment, and not before reenroll.after since it last began.
func nextOccurrence(w *workflow, prior store.EnrollmentSummary, now time.Time) (int, bool) {
	switch {
	case prior.Occurrences == 0:
		return 1, true
	case prior.Active, !w.reenroll:
		return 0, false
	case w.reenrollAfter > 0 && now.Before(prior.LastEnrolled.Add(w.reenrollAfter)):
		return 0, false
	}
	return prior.Occurrences + 1, true
}

// wfContact is a contact as workflow conditions read it.
type wfContact struct {
	fields map[string]any // CRM fields by field name, properties laid over
	email  string
}

// readContacts reads the contacts of m with the properties workflows wrote
// laid over their fields (adv: read them in this transaction; nil: outside),
// for the fields in written (plan.FieldsWorkflowsWrite's for m) only: a
// field no workflow of the plan writes any more reads the CRM's column, as
// segments and consent read it.
func (e *Engine) readContacts(ctx context.Context, m *plan.Model, keys []string, adv *store.Advancer, written map[string]bool) (map[string]*wfContact, error) {
	rows, emails, err := loadContactRows(ctx, e.Store, m, keys, true)
	if err != nil {
		return nil, err
	}
	// A model no workflow of the plan writes has nothing to lay over: no
	// query.
	var props map[string]map[string]*string
	if len(written) > 0 {
		if adv != nil {
			props, err = adv.ContactProperties(ctx, m.Name, keys)
		} else {
			props, err = e.Store.ContactProperties(ctx, m.Name, keys)
		}
		if err != nil {
			return nil, err
		}
	}
	out := make(map[string]*wfContact, len(rows))
	for k, fields := range rows {
		out[k] = &wfContact{fields: overlayWrites(m, fields, props[k], written), email: emails[k]}
	}
	return out, nil
}

// event is the value of the event variable of the workflow's conditions:
// the map itself, or the typed event when the trigger declares properties.
func (w *workflow) event(m map[string]any) any {
	return celmodel.EventValue(w.p.Trigger.Properties, m)
}

// evalBool evaluates a workflow condition for a contact and event (see
// workflow.event).
func evalBool(p cel.Program, m *plan.Model, c *wfContact, event any, now time.Time) (bool, error) {
	return evalBoolWith(p, m, c, event, now, nil)
}

// memberships are the segment memberships of a batch of contacts, by
// segment and contact key.
type memberships map[string]map[string]bool

// readMemberships reads, for keys, the membership of each of segs: one query
// per segment (pushed down when the segment can be).
func (e *Engine) readMemberships(ctx context.Context, l *loaded, segs, keys []string, now time.Time) (memberships, error) {
	out := make(memberships, len(segs))
	for _, sg := range segs {
		m, err := l.eval.MatchKeys(ctx, e.Store.DB, sg, now, keys)
		if err != nil {
			return nil, fmt.Errorf("reading segment %s for %d contacts: %w", sg, len(keys), err)
		}
		out[sg] = m
	}
	return out, nil
}

// vars binds one contact's memberships as the CEL variables segment.<name>;
// nil when no segment is read.
func (m memberships) vars(key string) map[string]any {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]any, len(m))
	for sg, in := range m {
		out[celmodel.SegmentVar(sg)] = in[key]
	}
	return out
}

// evalBoolWith is evalBool with more variables bound: the contact's segment
// memberships (segment.<name>) of a goal or a branch condition.
func evalBoolWith(p cel.Program, m *plan.Model, c *wfContact, event any, now time.Time, vars map[string]any) (bool, error) {
	var fields map[string]any
	if c != nil {
		fields = c.fields
	}
	act := map[string]any{
		m.Name:          celmodel.NewObject(m, newMapRecord(m, fields)),
		eventVar:        event,
		celmodel.NowVar: types.Timestamp{Time: now.UTC()},
	}
	for k, v := range vars {
		act[k] = v
	}
	out, _, err := p.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("the condition gave %v, not a bool", out.Value())
	}
	return b, nil
}
