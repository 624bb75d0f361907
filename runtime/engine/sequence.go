package engine

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/abtest"
	"github.com/campaignctl/campaignctl/runtime/flow"
	"github.com/campaignctl/campaignctl/runtime/mailer"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// This file runs sequences: the leader enrolls the contacts newly matching each
// sequence's segment and decides A/B tests whose time has come; every replica
// advances due enrollments (flow.Sequence.Advance decides, this file gathers
// the facts and applies the decision and its messages in one transaction).

// goalSegment names the hidden segment a sequence's goal is evaluated as: the
// goal is a CEL condition over the contact, like a segment filter, so it takes
// the same pushdown path, for a whole batch in one query.
func goalSegment(kind, name string) string { return "__goal__" + kind + "__" + name }

// withHiddenSegments returns p with the hidden segments of its series' goals
// and do-not-email fields, for the evaluator only.
func withHiddenSegments(p *plan.Plan, ser []*series, more []plan.Segment) *plan.Plan {
	hidden := append(hiddenSegments(ser), more...)
	if len(hidden) == 0 {
		return p
	}
	cp := *p
	cp.Segments = append(append([]plan.Segment(nil), p.Segments...), hidden...)
	return &cp
}

// loadSequences compiles the series (sequences and autoresponders) of l's
// plan and the subject variants of their A/B tests. A series that cannot
// compile keeps its error: its enrollments wait, and the log says why.
func (l *loaded) loadSequences(ser []*series) {
	l.series = map[string]*series{}
	for _, sr := range ser {
		l.series[seriesKey(sr.Kind, sr.Name)] = sr
		if sr.compileErr != nil {
			continue
		}
		for _, st := range sr.Steps {
			l.compileVariants(sr.Kind, sr.Name, st.Name, st.Template, st.ABTest)
		}
	}
}

// loadWorkflows keeps the compiled workflows and the subject variants of
// their send steps' A/B tests.
func (l *loaded) loadWorkflows(ws []*workflow) {
	l.workflows = ws
	for i := range l.plan.Campaigns {
		c := &l.plan.Campaigns[i]
		l.compileVariants(kindCampaign, c.Name, "", c.Template, c.ABTest)
	}
	for _, w := range ws {
		for _, st := range w.p.Steps {
			l.compileVariants(flow.KindWorkflow, w.p.Name, st.Name, st.Template, st.ABTest)
		}
	}
}

// workflow returns the loaded workflow named name.
func (l *loaded) workflow(name string) (*workflow, bool) {
	for _, w := range l.workflows {
		if w.p.Name == name {
			return w, true
		}
	}
	return nil, false
}

// compileVariants compiles the templates of an A/B test's variants: the
// step's template with each variant's template or subject.
func (l *loaded) compileVariants(kind, object, step, template string, ab *plan.ABTest) {
	if ab == nil {
		return
	}
	base, ok := l.plan.Template(template)
	if !ok {
		return
	}
	for _, v := range ab.Variants {
		t := *base
		if v.Template != "" {
			if vt, ok := l.plan.Template(v.Template); ok {
				t = *vt
			}
		}
		if v.Subject != "" {
			t.Subject = v.Subject
		}
		key := variantKey(kind, object, step, v.Name)
		c, err := mailer.Compile(&t)
		if err != nil {
			l.templateErrs[key] = err
			continue
		}
		l.templates[key] = c
		l.variantHashes[key] = t.Hash
		l.variantSubs[key] = t.Subscription
	}
}

// sortedSeries returns l's series in kind and name order.
func (l *loaded) sortedSeries() []*series {
	out := make([]*series, 0, len(l.series))
	for _, s := range l.series {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return seriesKey(out[i].Kind, out[i].Name) < seriesKey(out[j].Kind, out[j].Name) })
	return out
}

func variantKey(kind, object, step, variant string) string {
	return kind + "/" + object + "/" + step + "/" + variant
}

// reconcileSequences is the leader's part: exit the enrollments of removed
// series, enroll newly matching contacts, decide due A/B tests.
func (e *Engine) reconcileSequences(ctx context.Context, l *loaded, now time.Time) error {
	keep := map[string][]string{flow.KindSequence: {}, flow.KindAutoresponder: {}, flow.KindWorkflow: {}}
	for _, s := range l.sortedSeries() {
		keep[s.Kind] = append(keep[s.Kind], s.Name)
	}
	for _, w := range l.workflows {
		keep[flow.KindWorkflow] = append(keep[flow.KindWorkflow], w.p.Name)
	}
	// Objects leave only with a new revision; the UPDATE reads every active
	// enrollment of the kind, so an idle daemon with a million waiting must
	// not run it every pass.
	if l.revision != e.lastExitRev {
		for _, kind := range []string{flow.KindSequence, flow.KindAutoresponder, flow.KindWorkflow} {
			if err := e.Store.ExitRemoved(ctx, kind, keep[kind], now); err != nil {
				return err
			}
		}
		if err := e.shortenWaits(ctx, l, now); err != nil {
			return err
		}
		if err := e.rewaitWorkflows(ctx, l, now); err != nil {
			return err
		}
		e.lastExitRev = l.revision
	}
	// Enrolling reads each segment whole (set-based, in the database): not on
	// every pass, but on a new revision and every EnrollInterval.
	// It counts as done only once every enroll of the pass succeeded: a pass
	// cut short (the database restarting) enrolls again on the next one,
	// not an EnrollInterval later. Enrolling is idempotent.
	enrollNow := l.revision != e.lastEnrollRev || time.Since(e.lastEnroll) >= e.EnrollInterval
	enrollStart := time.Now()
	if n, err := e.Store.ReleaseDecidedHolds(ctx, now); err != nil {
		return err
	} else if n > 0 {
		e.Log.Info("enrollments held for a decided A/B test released", "count", n)
		poke(e.wakeAdvance)
	}
	for _, s := range l.sortedSeries() {
		if s.compileErr != nil {
			e.logOnce(s.Kind+" "+s.Name, "cannot run "+s.Kind, s.compileErr)
			continue
		}
		if enrollNow && !l.isPaused(s.Kind, s.Name) {
			if err := e.enroll(ctx, l, s, now); err != nil {
				return err
			}
		}
		if err := e.decideTests(ctx, l, s, now); err != nil {
			return err
		}
	}
	if err := e.reconcileCampaignTests(ctx, l, now); err != nil {
		return err
	}
	if err := e.reconcileWorkflows(ctx, l, now, enrollNow); err != nil {
		return err
	}
	if err := e.reconcileConfirmations(ctx, l, now); err != nil {
		return err
	}
	if enrollNow {
		if l.revision != e.lastEnrollRev {
			// What a replica's --exit-when-idle waits for: the objects of
			// this revision had their chance to enroll.
			if err := e.Store.MarkRevisionEnrolled(ctx, l.revision, now); err != nil {
				return err
			}
			e.enrolledRev.Store(l.revision)
		}
		e.lastEnroll, e.lastEnrollRev = enrollStart, l.revision
	}
	return nil
}

// shortenWaits brings the wake-ups of the enrollments waiting for a step of
// a series in line with the step's offset in l, where it is now earlier:
// the wake-up is written when the enrollment starts waiting, so a shortened
// offset used to reach only the contacts who came to the step afterwards
// (the others waited out the old offset). Recurring autoresponders wait for
// dates, not offsets, and are left out.
func (e *Engine) shortenWaits(ctx context.Context, l *loaded, now time.Time) error {
	for _, s := range l.sortedSeries() {
		if s.compileErr != nil || s.recurring != nil || len(s.compiled.Steps) == 0 {
			continue
		}
		names := make([]string, len(s.compiled.Steps))
		offsets := make([]time.Duration, len(s.compiled.Steps))
		for i, st := range s.compiled.Steps {
			names[i], offsets[i] = st.Name, st.Offset
		}
		err := e.moveWaits(s.Kind, s.Name, fmt.Sprint(names, offsets), "enrollments wake earlier: a step's offset was shortened", func() (int64, error) {
			return e.Store.ShortenWaits(ctx, s.Kind, s.Name, names, offsets, now)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// rewaitWorkflows applies each workflow's waits in l to the enrollments
// already in those waits: an edited duration (Store.RewaitWorkflow) or an
// edited relative_to (retimeWaits) reaches the contacts waiting in it, as a
// sequence's edited offset does.
func (e *Engine) rewaitWorkflows(ctx context.Context, l *loaded, now time.Time) error {
	for _, w := range l.workflows {
		if w.compileErr != nil || w.compiled == nil {
			continue
		}
		var names, rels []string
		var waits []time.Duration
		for _, st := range w.compiled.Steps {
			if st.Kind == plan.StepWait {
				names, waits, rels = append(names, st.Name), append(waits, st.Wait), append(rels, st.RelativeTo)
			}
		}
		if len(names) == 0 {
			continue
		}
		err := e.moveWaits(flow.KindWorkflow, w.p.Name, fmt.Sprint(names, waits, rels), "enrollments wake at a new time: a wait's duration or relative_to was edited", func() (int64, error) {
			if _, err := e.Store.StampWorkflowWaits(ctx, w.p.Name, names, rels); err != nil {
				return 0, err
			}
			retimed, err := e.retimeWaits(ctx, l, w, now)
			if err != nil {
				return retimed, err
			}
			rewaited, err := e.Store.RewaitWorkflow(ctx, w.p.Name, names, waits, now)
			return retimed + rewaited, err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// retimeWaits times again the enrollments stopped at a wait of w that was
// timed from something else than the wait's relative_to in l (one added,
// removed, or naming another field or event property): each is timed as a
// contact reaching the wait now would be (flow.WorkflowStep.Reach, with the
// times the advance reads: the contact's fields with the properties
// workflows wrote laid over them, and the trigger event the enrollment
// keeps), counted from when it reached the wait. It stops again until the
// new end, or goes on at once when that end has passed or the new
// relative_to is not set for it (a new arrival skips the wait then). A page
// of enrollments at a time; rows an advance moved meanwhile are left alone.
func (e *Engine) retimeWaits(ctx context.Context, l *loaded, w *workflow, now time.Time) (int64, error) {
	var total int64
	for _, st := range w.compiled.Steps {
		if st.Kind != plan.StepWait {
			continue
		}
		timedFrom := "the time the wait was reached"
		if st.RelativeTo != "" {
			timedFrom = st.RelativeTo
		}
		readsContact := st.RelativeTo != "" && !strings.HasPrefix(st.RelativeTo, eventVar+".")
		for after := int64(0); ; {
			page, err := e.Store.WaitsTimedOtherwise(ctx, w.p.Name, st.Name, st.RelativeTo, after, e.BatchSize)
			if err != nil {
				return total, err
			}
			if len(page) == 0 {
				break
			}
			after = page[len(page)-1].ID
			var contacts map[string]*wfContact
			if readsContact {
				keys := make([]string, len(page))
				for i, r := range page {
					keys[i] = r.ContactKey
				}
				if contacts, err = e.readContacts(ctx, w.model, keys, nil, l.written[w.model.Name]); err != nil {
					return total, fmt.Errorf("workflow %s: %w", w.p.Name, err)
				}
			}
			rs := make([]store.Retime, 0, len(page))
			hist := make([]store.StepRecord, 0, len(page))
			for _, r := range page {
				event, err := w.enrollmentEvent(r.Enrollment)
				if err != nil {
					// The advance stops at it too, and says so.
					e.logOnce("workflow retime "+w.p.Name, "a waiting enrollment's trigger event cannot be read; its wait is left as it was", err)
					continue
				}
				out := st.Reach(r.ReachedAt, flow.WorkflowFacts{Now: now, Times: w.relativeTimes(contacts[r.ContactKey], event)})
				rt := store.Retime{ID: r.ID, Wake: out.Resume}
				h := store.StepRecord{EnrollmentID: r.ID, Step: st.Name, Action: string(flow.ActWait), At: now}
				switch {
				case out.Waits:
					rt.Wake, rt.Waits, rt.From, rt.Reached = out.Due, true, out.From, r.ReachedAt
					h.Detail = out.Reason + ": the wait is now timed from " + timedFrom
				case out.Skipped:
					h.Action, h.Detail = string(flow.ActSkip), out.Reason
				default:
					h.Detail = "the wait, now timed from " + timedFrom + ", is over"
				}
				rs, hist = append(rs, rt), append(hist, h)
			}
			n, err := e.Store.RetimeWaits(ctx, w.p.Name, st.Name, st.RelativeTo, now, rs, hist)
			total += n
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// moveWaits runs move, which moves the wake-ups of (kind, object)'s
// enrollments, unless this leader already did so for the same step times
// (seen); it logs msg when some moved.
func (e *Engine) moveWaits(kind, object, seen, msg string, move func() (int64, error)) error {
	key := seriesKey(kind, object)
	if e.waitsSeen[key] == seen {
		return nil
	}
	n, err := move()
	if err != nil {
		return err
	}
	if e.waitsSeen == nil {
		e.waitsSeen = map[string]string{}
	}
	e.waitsSeen[key] = seen
	if n > 0 {
		e.Log.Info(msg, "kind", kind, "object", object, "enrollments", n)
		poke(e.wakeAdvance)
	}
	return nil
}

// enroll enrolls the contacts of s's segment not enrolled yet. On the pushdown
// path this is one INSERT … SELECT with an anti join; otherwise the evaluator
// streams the segment in batches.
func (e *Engine) enroll(ctx context.Context, l *loaded, s *series, now time.Time) error {
	if !s.End.IsZero() && !now.Before(s.End) {
		return nil // an autoresponder past its end enrolls nobody new
	}
	// Not before the autoresponder's start: a contact who matches earlier is
	// enrolled as of the start, so its follow-ups count from there.
	at := now
	if s.Start.After(at) {
		at = s.Start
	}
	wake := at
	switch {
	case s.recurring != nil:
		wake = recurringFirstWake(s.recurring, at)
	case len(s.compiled.Steps) > 0:
		wake = at.Add(s.compiled.Steps[0].Offset)
	}
	src, ok, err := l.eval.PushdownSource(s.Segment, now)
	if err != nil {
		return fmt.Errorf("%s %s: %w", s.Kind, s.Name, err)
	}
	var n int64
	if ok {
		n, err = e.Store.EnrollFromSource(ctx, s.Kind, s.Name, store.Source(src), wake, at, l.revision)
	} else {
		_, err = l.eval.Each(ctx, e.Store.DB, s.Segment, now, e.BatchSize, func(batch []segment.Match) error {
			rs := make([]store.Recipient, len(batch))
			for i, m := range batch {
				rs[i] = store.Recipient{Key: m.Key, Email: m.Email}
			}
			k, err := e.Store.EnrollBatch(ctx, s.Kind, s.Name, rs, wake, at, l.revision)
			n += k
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("%s %s: enrolling segment %s: %w", s.Kind, s.Name, s.Segment, err)
	}
	if n > 0 {
		e.Log.Info("contacts enrolled", "kind", s.Kind, "object", s.Name, "segment", s.Segment, "enrolled", n)
		poke(e.wakeAdvance)
	}
	return nil
}

// metricEvents are the event types that count as a success for each A/B
// metric (nil: the goal reached). Opens include clicks: a click proves the
// message was seen even when the pixel was blocked.
var metricEvents = map[string][]string{
	"open_rate":   {"open", "click"},
	"click_rate":  {"click"},
	"reply_rate":  {"reply"},
	"conversions": nil,
}

// metricRevenue is the A/B metric read by ABRevenue: each test contact's
// purchase events' value since its message.
const metricRevenue = "revenue"

// decideRevenue decides a test on revenue: each test contact's purchase
// events' value since its message (store.ABRevenue), as abtest moments. When
// no test contact bought at all, the reason says which events revenue reads,
// so a plan whose orders arrive under another event type is told why its
// test has no winner.
func (e *Engine) decideRevenue(ctx context.Context, t *plan.ABTest, kind, object, step, model string, now time.Time) (abtest.Verdict, error) {
	vr, err := e.Store.ABRevenue(ctx, kind, object, step, model, now)
	if err != nil {
		return abtest.Verdict{}, err
	}
	counts := make([]abtest.Count, 0, len(vr))
	var buyers int64
	for _, r := range vr {
		m := abtest.Moments{N: r.Sent, Mean: r.Mean, Var: r.Var}
		counts = append(counts, abtest.Count{Variant: r.Variant, Sent: r.Sent, Successes: r.Purchasers, RevenueMoments: &m})
		buyers += r.Purchasers
	}
	v, err := abtest.Decide(t, counts)
	if err == nil && buyers == 0 {
		v.Reason = "no test contact has a purchase event with a numeric properties.value since its message (revenue reads those); " + v.Reason
	}
	return v, err
}

// decideTests decides each A/B test of s whose decide_after has passed since
// the test started, and releases the enrollments waiting for it.
func (e *Engine) decideTests(ctx context.Context, l *loaded, s *series, now time.Time) error {
	for _, st := range s.Steps {
		t := st.ABTest
		if t == nil || l.decided(s.Kind, s.Name, st.Name) {
			continue
		}
		after, err := plan.ParseDuration(t.DecideAfter)
		if err != nil || after < 0 {
			e.logOnce("abtest "+s.Name+"/"+st.Name, "cannot decide A/B test", fmt.Errorf("%s %s / step %s: decide_after %q: %v", s.Kind, s.Name, st.Name, t.DecideAfter, err))
			continue
		}
		started, ok, err := e.Store.ABTestStarted(ctx, s.Kind, s.Name, st.Name)
		if err != nil {
			return err
		}
		if !ok || now.Before(started.Add(after)) {
			continue
		}
		d := store.ABDecision{Kind: s.Kind, Object: s.Name, Step: st.Name, DecidedAt: now, Metric: t.Metric}
		var v abtest.Verdict
		events, known := metricEvents[t.Metric]
		switch {
		case t.Metric == metricRevenue:
			v, err = e.decideRevenue(ctx, t, s.Kind, s.Name, st.Name, s.Model, now)
		case !known:
			// A metric this daemon does not know (a plan from a newer
			// compiler): say so and apply the inconclusive policy.
			v, err = abtest.Decide(t, nil)
			v.Reason = "metric " + t.Metric + " is not measured by this version of the daemon; " + v.Reason
		default:
			counts, cerr := e.Store.ABCounts(ctx, s.Kind, s.Name, st.Name, s.Model, events)
			if cerr != nil {
				return cerr
			}
			in := make([]abtest.Count, 0, len(counts))
			for _, c := range counts {
				in = append(in, abtest.Count{Variant: c.Variant, Sent: c.Sent, Successes: c.Successes})
			}
			v, err = abtest.Decide(t, in)
		}
		if err != nil {
			return fmt.Errorf("%s %s / step %s: deciding the A/B test: %w", s.Kind, s.Name, st.Name, err)
		}
		d.Winner, d.Significant, d.PValue, d.Reason, d.Decision = v.Winner, v.Significant, v.PValue, v.Reason, v.Decision
		if err := e.Store.RecordABDecision(ctx, d, v, now); err != nil {
			return err
		}
		e.Log.Info("A/B test decided", "kind", s.Kind, "object", s.Name, "step", st.Name, "decision", v.Decision, "winner", v.Winner, "p_value", v.PValue, "reason", v.Reason)
		poke(e.wakeAdvance)
	}
	return nil
}

// decided reports whether the A/B test of (kind, object, step) is decided, as
// last read by an advance or reconcile pass.
func (l *loaded) decided(kind, object, step string) bool {
	l.abMu.Lock()
	defer l.abMu.Unlock()
	_, ok := l.ab[variantKey(kind, object, step, "")]
	return ok
}

// refreshDecisions reads the decided A/B tests.
func (e *Engine) refreshDecisions(ctx context.Context, l *loaded) error {
	ds, err := e.Store.ABDecisions(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]flow.ABOutcome, len(ds))
	for _, d := range ds {
		o := flow.ABOutcome{Winner: d.Winner}
		switch d.Decision {
		case abtest.DecisionSendAll:
			o.SendAll = true
		case abtest.DecisionStop:
			o.Stop = true
		}
		m[variantKey(d.Kind, d.Object, d.Step, "")] = o
	}
	l.abMu.Lock()
	l.ab = m
	l.abMu.Unlock()
	return nil
}

// AdvanceDue advances every enrollment due now, batch by batch, and returns
// how many it advanced.
func (e *Engine) AdvanceDue(ctx context.Context) (int, error) {
	e.defaults()
	l, err := e.load(ctx)
	if err != nil {
		return 0, err
	}
	return e.advanceAll(ctx, l)
}

// advanceAll advances what is due under the loaded plan l.
func (e *Engine) advanceAll(ctx context.Context, l *loaded) (int, error) {
	total := 0
	for {
		n, cur, err := e.advanceBatch(ctx, l)
		l = cur
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// advanceBatch advances one batch under the latest revision and returns how
// many enrollments it claimed and the plan it judged them by.
func (e *Engine) advanceBatch(ctx context.Context, l *loaded) (int, *loaded, error) {
	// The daemon's advance loop holds the plan its Run loop loaded last, up
	// to one --interval old. A batch is judged by the revision applied before
	// its claim, as the send path's claims are: under an older one, a new
	// object's enrollments were put off for an hour ("not in the plan") and
	// an enrollment at a step a new revision appended exited completed. A
	// newer revision that cannot load leaves l (the Run loop reports it).
	// The time is read first: a revision applied before that time (a pause,
	// an edit) governs the batch. Read after the load, a batch that loaded
	// the old plan just before a pause and then read a clock that had moved
	// on advanced enrollments of the paused object
	// (TestThreeDaemonsAdvanceEachStepOncePausedMidRun, on a loaded machine:
	// five history lines while paused).
	now := e.Clock.Now()
	if cur, err := e.load(ctx); err == nil {
		l = cur
	}
	// Decisions are read per batch: the leader may decide a test and release
	// its held enrollments while this replica works through a long backlog,
	// and a released enrollment judged on stale decisions would be held again.
	if err := e.refreshDecisions(ctx, l); err != nil {
		return 0, l, err
	}
	adv, err := e.Store.BeginAdvance(ctx)
	if err != nil {
		return 0, l, err
	}
	defer adv.Rollback()
	rows, err := adv.Claim(ctx, now, e.BatchSize, l.pausedRefs)
	if err != nil || len(rows) == 0 {
		return 0, l, err
	}
	byObject := map[string][]store.Enrollment{}
	var order []string
	for _, r := range rows {
		k := r.Kind + "/" + r.Object
		if _, ok := byObject[k]; !ok {
			order = append(order, k)
		}
		byObject[k] = append(byObject[k], r)
	}
	sends := 0
	for _, k := range order {
		group := byObject[k]
		n, err := e.advanceGroup(ctx, adv, l, group, now)
		if err != nil {
			return 0, l, err
		}
		sends += n
	}
	if err := adv.Commit(); err != nil {
		return 0, l, fmt.Errorf("advancing enrollments: %w", err)
	}
	if sends > 0 {
		if err := e.Store.RefreshOutboxStats(ctx); err != nil {
			// Stale statistics cost speed, not correctness: say so, go on.
			e.Log.Warn("outbox statistics not refreshed", "err", err)
		}
		e.queuedOneToOne()
	}
	return len(rows), l, nil
}

// advanceGroup decides and applies one object's share of a batch; it returns
// how many messages it enqueued.
func (e *Engine) advanceGroup(ctx context.Context, adv *store.Advancer, l *loaded, group []store.Enrollment, now time.Time) (int, error) {
	kind, object := group[0].Kind, group[0].Object
	if kind == flow.KindWorkflow {
		if w, ok := l.workflow(object); ok && w.compileErr == nil {
			return e.advanceWorkflowGroup(ctx, adv, l, w, group, now)
		}
	}
	sr, inPlan := l.series[seriesKey(kind, object)]
	if !inPlan || sr.compileErr != nil {
		// Not runnable by this replica's revision (the leader exits the
		// enrollments of removed objects): look again later rather than spin.
		moves := make([]store.Move, len(group))
		for i, r := range group {
			moves[i] = store.Move{ID: r.ID, Next: r.StepIndex, NextStep: r.NextStep, Wake: now.Add(time.Hour)}
		}
		return 0, adv.Apply(ctx, kind, object, now, nil, nil, moves)
	}
	if sr.recurring != nil {
		return e.advanceRecurringGroup(ctx, adv, l, sr, group, now)
	}
	ids := make([]int64, len(group))
	keys := make([]string, len(group))
	for i, r := range group {
		ids[i], keys[i] = r.ID, r.ContactKey
	}
	seq := sr.compiled
	goal, dne := map[string]bool{}, map[string]bool{}
	if sr.Goal != "" {
		var err error
		goal, err = l.eval.MatchKeys(ctx, e.Store.DB, goalSegment(kind, object), now, keys)
		if err != nil {
			return 0, fmt.Errorf("%s %s: checking the goal: %w", kind, object, err)
		}
	}
	if sr.DoNotEmail != "" {
		var err error
		dne, err = l.eval.MatchKeys(ctx, e.Store.DB, doNotEmailSegment(kind, object), now, keys)
		if err != nil {
			return 0, fmt.Errorf("%s %s: reading %s: %w", kind, object, sr.DoNotEmail, err)
		}
	}
	// Suppressed addresses exit at their next due step rather than take
	// steps whose messages the claim would cancel (the sequence's mail is
	// marketing: every reason stops it).
	suppressed, err := e.suppressionsOf(ctx, group)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", kind, object, err)
	}
	var whenSteps []string
	for _, st := range seq.Steps {
		switch {
		case seq.ExitOnReply:
			// Responders are excluded on a reply to any of its messages.
			whenSteps = append(whenSteps, st.Name)
		case st.When != nil:
			whenSteps = append(whenSteps, st.When.Step)
		}
	}
	engagement := map[int64]map[string]flow.Engagement{}
	if len(whenSteps) > 0 {
		es, err := adv.Engagement(ctx, kind, object, sr.Model, ids, keys, whenSteps)
		if err != nil {
			return 0, err
		}
		engagement = engagementByEnrollment(es)
	}
	decided := l.decisions(sr)

	var msgs []store.StepMessage
	var hist []store.StepRecord
	moves := make([]store.Move, 0, len(group))
	for _, r := range group {
		replied := false
		for _, en := range engagement[r.ID] {
			_, ok := en.First["reply"]
			replied = replied || ok
		}
		due := time.Duration(0)
		if r.WakeAt.Valid {
			due = r.WakeAt.Time.Sub(r.EnrolledAt)
		}
		next := seq.Position(r.StepIndex, r.NextStep, due)
		d := seq.Advance(flow.State{ContactKey: r.ContactKey, EnrolledAt: r.EnrolledAt, Next: next},
			flow.Facts{Now: now, GoalReached: goal[r.ContactKey], Steps: engagement[r.ID], AB: decided,
				Replied: replied, DoNotEmail: dne[r.ContactKey], Suppressed: suppressed[normAddress(r.Email)]})
		for _, a := range d.Actions {
			if a.Kind == flow.ActSend {
				msgs = append(msgs, store.StepMessage{Step: a.Step, Variant: a.Variant, ContactKey: r.ContactKey, Email: r.Email, Occurrence: r.Occurrence, EnrollmentID: r.ID, Class: seriesClass})
			}
			hist = append(hist, store.StepRecord{EnrollmentID: r.ID, Step: a.Step, Action: string(a.Kind), Variant: a.Variant, Detail: a.Reason, At: now})
		}
		moves = append(moves, store.Move{ID: r.ID, Next: d.Next, NextStep: seq.NextName(d.Next), Wake: d.WakeAt, Hold: d.Hold, Exit: d.Exit})
	}
	if err := adv.Apply(ctx, kind, object, now, msgs, hist, moves); err != nil {
		return 0, err
	}
	if e.Metrics != nil && len(msgs) > 0 {
		e.Metrics.CountEnqueued(kind, object, msgs)
	}
	return len(msgs), nil
}

// decisions returns the decided A/B tests of one series, by step.
func (l *loaded) decisions(sr *series) map[string]flow.ABOutcome {
	out := map[string]flow.ABOutcome{}
	l.abMu.Lock()
	defer l.abMu.Unlock()
	for _, st := range sr.Steps {
		if o, ok := l.ab[variantKey(sr.Kind, sr.Name, st.Name, "")]; ok {
			out[st.Name] = o
		}
	}
	return out
}

// engagementByEnrollment arranges what the contacts of enrollments did with
// earlier steps' messages, by enrollment and step: a message not handed to
// the relay yet is Pending; one sent has its first open, click, reply and
// bounce; one that failed or was cancelled is absent (not sent).
func engagementByEnrollment(es []store.StepEngagement) map[int64]map[string]flow.Engagement {
	out := map[int64]map[string]flow.Engagement{}
	for _, x := range es {
		var en flow.Engagement
		switch {
		case x.Status == store.OutboxPending:
			en = flow.Engagement{Pending: true, EnqueuedAt: x.EnqueuedAt}
		case x.Status == store.OutboxSent && x.SentAt.Valid:
			en = flow.Engagement{Sent: true, SentAt: x.SentAt.Time, EnqueuedAt: x.EnqueuedAt, First: map[string]time.Time{}}
			for typ, at := range map[string]sql.NullTime{"open": x.OpenAt, "click": x.ClickAt, "reply": x.ReplyAt, "bounce": x.BounceAt} {
				if at.Valid {
					en.First[typ] = at.Time
				}
			}
		default:
			continue
		}
		if out[x.EnrollmentID] == nil {
			out[x.EnrollmentID] = map[string]flow.Engagement{}
		}
		out[x.EnrollmentID][x.Step] = en
	}
	return out
}

// suppressionsOf looks the group's addresses up on the suppression list, in
// one query: the reason by normalized address (normAddress).
func (e *Engine) suppressionsOf(ctx context.Context, group []store.Enrollment) (map[string]string, error) {
	addrs := make([]string, 0, len(group))
	for _, r := range group {
		if a := normAddress(r.Email); a != "" {
			addrs = append(addrs, a)
		}
	}
	return e.Store.SuppressionReasons(ctx, addrs)
}

// normAddress is an address as the outbox and the suppression list key it.
func normAddress(a string) string { return strings.ToLower(strings.TrimSpace(a)) }

// seriesClass is the mail class of every sequence and autoresponder step:
// marketing, as the compiler fixes it whatever the template declares (it
// warns when a template says otherwise). It used to be the template's, so a
// transactional template in a sequence went out past the consent, caps and
// unsubscribes its policy lets only transactional mail bypass.
const seriesClass = plan.ClassMarketing
