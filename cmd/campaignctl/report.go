package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// report answers "how did it do?": Odoo's smart-button numbers (Sent,
// Received, Opened, Clicked, Replied, Bounced, Ignored) per object, per step
// and per A/B variant, the goals reached, and each A/B test's verdict. It
// reads the outbox, the events, the enrollments and ab_decisions with the
// set-based queries of report_queries.sql; the views (text with a funnel,
// markdown, csv, json) are in report_view.go and render the same reportDoc.
// docs/report.md defines every number and the json schema.

// reportFormatVersion is the format_version of `report --format json`. Fields
// may be added without a bump; a field removed or given another meaning bumps
// it.
const reportFormatVersion = 1

type reportDoc struct {
	FormatVersion int                 `json:"format_version"`
	Revision      *statusRevision     `json:"revision"`
	NotMeasured   []reportNotMeasured `json:"not_measured"`
	Objects       []reportObject      `json:"objects"`
}

// reportNotMeasured names a number of Odoo's smart buttons campaignctl does not
// measure, and why, so a reader never mistakes an absent figure for a zero.
type reportNotMeasured struct {
	Metric string `json:"metric"`
	Reason string `json:"reason"`
}

// notMeasured is said by every report: the plan language has no model for
// opportunities, quotations or invoices, so there is nothing to attribute.
var notMeasured = []reportNotMeasured{
	{"leads", "the plan declares no CRM opportunity model to count leads created"},
	{"quotations", "the plan declares no quotation model"},
	{"invoiced", "the plan declares no invoice model"},
	{"revenue", "the plan declares no invoice model to sum revenue from"},
}

type reportObject struct {
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	Model string `json:"model"`
	// Campaign is set for kind campaign: its status, health and audience.
	Campaign *reportCampaign `json:"campaign,omitempty"`
	// Enrolled is set for the kinds that enroll contacts.
	Enrolled *int64 `json:"enrolled,omitempty"`
	// GoalsBeforeFirstSend: enrollments that reached the goal before any of
	// the object's messages went out to them (counted in Totals.Goals, in no
	// step's).
	GoalsBeforeFirstSend int64           `json:"goals_before_first_send"`
	Totals               reportNumbers   `json:"totals"`
	Steps                []reportStep    `json:"steps"`
	ABTests              []reportABTest  `json:"ab_tests"`
	index                map[string]int  // step name → index in Steps
	variants             map[string]bool // "step\x00variant" seen
}

type reportCampaign struct {
	Status   string `json:"status"`
	Health   string `json:"health"`
	Audience *int64 `json:"audience"`
}

type reportStep struct {
	// Name is "" for a campaign's one send.
	Name string `json:"name"`
	// InPlan is false for a step the applied plan no longer declares, or a
	// recurring autoresponder's issue (named by its date, never declared).
	InPlan   bool            `json:"in_plan"`
	Numbers  reportNumbers   `json:"numbers"`
	Variants []reportVariant `json:"variants"`
}

type reportVariant struct {
	// Name is "" for messages of a tested step without a variant (the
	// remainder waiting for the decision, or cancelled by a stop verdict).
	Name    string        `json:"name"`
	Numbers reportNumbers `json:"numbers"`
}

// reportNumbers are the smart buttons. Each rate's percent has Odoo's
// denominator: received and bounced over sent; opened, clicked, replied,
// ignored, machine_opened and complained over received; goals over received
// for a step or variant and over enrolled for an object's totals.
type reportNumbers struct {
	Sent          int64         `json:"sent"`
	Received      reportRate    `json:"received"`
	Opened        reportRate    `json:"opened"`
	Clicked       reportRate    `json:"clicked"`
	Replied       reportRate    `json:"replied"`
	Bounced       reportRate    `json:"bounced"`
	Ignored       reportRate    `json:"ignored"`
	MachineOpened reportRate    `json:"machine_opened"`
	Complained    reportRate    `json:"complained"`
	Goals         *reportRate   `json:"goals"` // null for campaigns, which have no goal
	NotSent       reportNotSent `json:"not_sent"`
}

// reportRate is a count with its percentage; Percent is null when the
// denominator is zero.
type reportRate struct {
	Count   int64    `json:"count"`
	Percent *float64 `json:"percent"`
}

// reportNotSent are the messages that did not reach the relay (yet): not part
// of sent, so not of any rate.
type reportNotSent struct {
	Pending   int64 `json:"pending"`
	Failed    int64 `json:"failed"`
	Cancelled int64 `json:"cancelled"`
}

// reportCounts is one row of report-messages (and goals), additive across
// steps and variants: every count is of distinct messages, each of which has
// one (kind, object, step, variant).
type reportCounts struct {
	Kind          string `db:"kind"`
	Object        string `db:"object"`
	Step          string `db:"step"`
	Variant       string `db:"variant"`
	Sent          int64  `db:"sent"`
	Received      int64  `db:"received"`
	Opened        int64  `db:"opened"`
	Clicked       int64  `db:"clicked"`
	Replied       int64  `db:"replied"`
	Bounced       int64  `db:"bounced"`
	Rejected      int64  `db:"rejected"`
	Ignored       int64  `db:"ignored"`
	MachineOpened int64  `db:"machine_opened"`
	Complained    int64  `db:"complained"`
	Pending       int64  `db:"pending"`
	Failed        int64  `db:"failed"`
	Cancelled     int64  `db:"cancelled"`
	Goals         int64  `db:"goals"`
}

func (c *reportCounts) add(o reportCounts) {
	c.Sent += o.Sent
	c.Received += o.Received
	c.Opened += o.Opened
	c.Clicked += o.Clicked
	c.Replied += o.Replied
	c.Bounced += o.Bounced
	c.Rejected += o.Rejected
	c.Ignored += o.Ignored
	c.MachineOpened += o.MachineOpened
	c.Complained += o.Complained
	c.Pending += o.Pending
	c.Failed += o.Failed
	c.Cancelled += o.Cancelled
	c.Goals += o.Goals
}

// numbers turns counts into the smart buttons; goalBase is the goals'
// denominator, and hasGoal false leaves goals null.
func (c reportCounts) numbers(hasGoal bool, goalBase int64) reportNumbers {
	n := reportNumbers{
		Sent:          c.Sent,
		Received:      rate(c.Received, c.Sent),
		Opened:        rate(c.Opened, c.Received),
		Clicked:       rate(c.Clicked, c.Received),
		Replied:       rate(c.Replied, c.Received),
		Bounced:       rate(c.Bounced, c.Sent),
		Ignored:       rate(c.Ignored, c.Received),
		MachineOpened: rate(c.MachineOpened, c.Received),
		Complained:    rate(c.Complained, c.Received),
		NotSent:       reportNotSent{Pending: c.Pending, Failed: c.Failed, Cancelled: c.Cancelled},
	}
	if hasGoal {
		g := rate(c.Goals, goalBase)
		n.Goals = &g
	}
	return n
}

func rate(n, of int64) reportRate {
	r := reportRate{Count: n}
	if of > 0 {
		p := 100 * float64(n) / float64(of)
		r.Percent = &p
	}
	return r
}

// reportTarget is an object of the applied plan as the report reads it.
type reportTarget struct {
	kind, name, model string
	steps             []string // the plan's order; a campaign's one step is ""
	tests             map[string]*plan.ABTest
	recurring         bool
}

// reportTargets lists the plan's objects by kind (status's order), then name.
func reportTargets(p *plan.Plan) []reportTarget {
	var out []reportTarget
	modelOfSegment := func(name string) string {
		if s, ok := p.Segment(name); ok {
			return s.Model
		}
		return ""
	}
	for _, c := range p.Campaigns {
		t := reportTarget{kind: "campaign", name: c.Name, model: modelOfSegment(c.Segment), steps: []string{""}, tests: map[string]*plan.ABTest{}}
		if c.ABTest != nil {
			t.tests[""] = c.ABTest
		}
		out = append(out, t)
	}
	for _, s := range p.Sequences {
		t := reportTarget{kind: "sequence", name: s.Name, model: s.Model, tests: map[string]*plan.ABTest{}}
		for _, st := range s.Steps {
			t.steps = append(t.steps, st.Name)
			if st.ABTest != nil {
				t.tests[st.Name] = st.ABTest
			}
		}
		out = append(out, t)
	}
	for _, w := range p.Workflows {
		t := reportTarget{kind: "workflow", name: w.Name, model: w.Model, tests: map[string]*plan.ABTest{}}
		for _, st := range w.Steps {
			if st.Kind != plan.StepSend {
				continue
			}
			t.steps = append(t.steps, st.Name)
			if st.ABTest != nil {
				t.tests[st.Name] = st.ABTest
			}
		}
		out = append(out, t)
	}
	for _, a := range p.Autoresponders {
		t := reportTarget{kind: "autoresponder", name: a.Name, model: a.Model, tests: map[string]*plan.ABTest{}, recurring: a.Mode != "single"}
		for _, f := range a.FollowUps {
			t.steps = append(t.steps, f.Name)
		}
		out = append(out, t)
	}
	slices.SortStableFunc(out, func(a, b reportTarget) int {
		if c := slices.Index(statusKinds, a.kind) - slices.Index(statusKinds, b.kind); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	return out
}

var reportFormats = []string{"text", "json", "markdown", "csv"}

func runReport(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("report", "report --db URL [--format text|json|markdown|csv] [NAME]", `
Print how each object of the applied plan did, with the numbers of Odoo's
smart buttons, per object, per step and per A/B variant:

  SENT      messages the relay took, or refused for good (5xx): a synchronous
            bounce is sent and bounced
  RECEIVED  sent and not bounced (% of sent)
  OPENED    received and opened, clicked or replied to by a person (% of received)
  CLICKED   received and clicked by a person (% of received)
  REPLIED   received and replied to (% of received)
  BOUNCED   refused by the relay, or bounced later (% of sent)
  IGNORED   received with no open, click or reply (% of received)
  MACHINE   received messages opened or clicked only by a machine (prefetch,
            link scanner): left out of OPENED and CLICKED (% of received)
  GOALS     enrollments that reached the goal, attributed to the last message
            they were sent before it (% of received; an object's: of enrolled)

Each message counts once, whatever the number of its events. Leads,
quotations, invoiced and revenue are not measured: the report says so. Then
each A/B test: per variant the metric with its 95% interval, the test, the
p-value, the decision and when it was taken, or when it will be. The text view
ends each object with a funnel per step. docs/report.md defines every number
and the json schema (format_version 1).

NAME shows only the object(s) of that name, of any kind. Exit status: 0 ok, 1
error, 2 usage.`, `  campaignctl report --db "$CAMPAIGNCTL_DB"
  campaignctl report --db "$CAMPAIGNCTL_DB" restock_nurture
  campaignctl report --db "$CAMPAIGNCTL_DB" --format markdown >> "$GITHUB_STEP_SUMMARY"
  campaignctl report --db "$CAMPAIGNCTL_DB" --format json | jq '.objects[].totals.opened'`, stderr)
	db := dbFlag(fs)
	format := fs.String("format", "text", "output format: text, json, markdown or csv")
	names, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	if len(names) > 1 {
		fmt.Fprintf(stderr, "campaignctl report: want at most one NAME, got %d: %s\n", len(names), strings.Join(names, " "))
		return 2
	}
	if !slices.Contains(reportFormats, *format) {
		fmt.Fprintf(stderr, "campaignctl report: --format %q: want text, json, markdown or csv\n", *format)
		return 2
	}
	if !needDB(*db, stderr) {
		return 2
	}
	name := ""
	if len(names) == 1 {
		name = names[0]
	}
	ctx := context.Background()
	st, err := store.Open(ctx, *db)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl report:", err)
		return 1
	}
	defer st.Close()
	doc, err := readReport(ctx, st, name, time.Now())
	if errors.Is(err, store.ErrNoRevision) {
		fmt.Fprintln(stderr, "campaignctl report:", nothingApplied)
		if *format == "json" {
			return boolExit(writeJSON(stdout, reportDoc{FormatVersion: reportFormatVersion, NotMeasured: notMeasured, Objects: []reportObject{}}) == nil)
		}
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl report:", err)
		return 1
	}
	return boolExit(writeReport(stdout, doc, *format) == nil)
}

// readReport reads the latest revision and every number of its objects (only
// those named name, when it is not ""). now only words the A/B tests not yet
// decided ("decides at"). The reads are separate statements: a daemon running
// meanwhile can make two of them disagree by what it did between them.
func readReport(ctx context.Context, st *store.Store, name string, now time.Time) (reportDoc, error) {
	doc := reportDoc{FormatVersion: reportFormatVersion, NotMeasured: notMeasured, Objects: []reportObject{}}
	rev, err := st.LatestRevision(ctx)
	if undefinedTable(err) {
		return doc, store.ErrNoRevision
	}
	if err != nil {
		return doc, err
	}
	p, err := plan.Decode([]byte(rev.Plan))
	if err != nil {
		return doc, fmt.Errorf("revision %d: %w", rev.ID, err)
	}
	doc.Revision = &statusRevision{ID: rev.ID, PlanHash: rev.PlanHash, SourceCommit: rev.SourceCommit,
		AppliedAt: rev.AppliedAt.UTC(), AppliedBy: rev.AppliedBy}

	targets := reportTargets(p)
	if name != "" {
		var kept []reportTarget
		var known []string
		for _, t := range targets {
			known = append(known, t.kind+" "+t.name)
			if t.name == name {
				kept = append(kept, t)
			}
		}
		if len(kept) == 0 {
			if len(known) == 0 {
				return doc, fmt.Errorf("no object named %q: revision %d declares none", name, rev.ID)
			}
			return doc, fmt.Errorf("no object named %q in revision %d; known: %s", name, rev.ID, strings.Join(known, ", "))
		}
		targets = kept
	}
	if len(targets) == 0 {
		return doc, nil
	}
	in, err := readReportInput(ctx, st.DB, targets)
	if err != nil {
		return doc, needsMigrate(err)
	}
	if in.revenue, err = readPendingRevenue(ctx, st, targets, in.decisions, now); err != nil {
		return doc, needsMigrate(err)
	}
	if in.campaigns, err = st.Campaigns(ctx); err != nil {
		return doc, needsMigrate(err)
	}
	doc.Objects = buildReportObjects(targets, in, now)
	return doc, nil
}

// reportInput is what the queries read, so that building the objects is a
// pure function of it.
type reportInput struct {
	messages  []reportCounts
	goals     []reportCounts
	enrolled  []enrolledCount
	decisions []abDecisionRow
	live      []abLiveRow
	campaigns []store.Campaign
	// revenue: the figures so far of each undecided revenue test, by
	// revenueKey (the engine's own query, store.ABRevenue).
	revenue map[string][]store.VariantRevenue
}

func revenueKey(kind, object, step string) string { return kind + "\x00" + object + "\x00" + step }

// readPendingRevenue reads, for each revenue test not decided yet, each
// variant's revenue so far, as the engine would decide on it now.
func readPendingRevenue(ctx context.Context, st *store.Store, targets []reportTarget, decided []abDecisionRow, now time.Time) (map[string][]store.VariantRevenue, error) {
	out := map[string][]store.VariantRevenue{}
	for _, t := range targets {
		for step, ab := range t.tests {
			if ab == nil || ab.Metric != "revenue" || slices.ContainsFunc(decided, func(d abDecisionRow) bool {
				return d.Kind == t.kind && d.Object == t.name && d.Step == step
			}) {
				continue
			}
			vr, err := st.ABRevenue(ctx, t.kind, t.name, step, t.model, now)
			if err != nil {
				return nil, err
			}
			out[revenueKey(t.kind, t.name, step)] = vr
		}
	}
	return out, nil
}

type enrolledCount struct {
	Kind     string `db:"kind"`
	Object   string `db:"object"`
	Enrolled int64  `db:"enrolled"`
}

func readReportInput(ctx context.Context, db *sqlx.DB, targets []reportTarget) (reportInput, error) {
	var in reportInput
	var kinds, names, models []string
	var tKinds, tNames, tSteps, tModels []string
	for _, t := range targets {
		kinds, names, models = append(kinds, t.kind), append(names, t.name), append(models, t.model)
		for step := range t.tests {
			tKinds, tNames, tSteps, tModels = append(tKinds, t.kind), append(tNames, t.name), append(tSteps, step), append(tModels, t.model)
		}
	}
	if err := db.SelectContext(ctx, &in.messages, reportQuery("report-messages"), pq.Array(kinds), pq.Array(names), pq.Array(models)); err != nil {
		return in, fmt.Errorf("counting messages and engagement: %w", err)
	}
	var goals []struct {
		Kind    string `db:"kind"`
		Object  string `db:"object"`
		Step    string `db:"step"`
		Variant string `db:"variant"`
		Goals   int64  `db:"goals"`
	}
	if err := db.SelectContext(ctx, &goals, reportQuery("report-goals"), pq.Array(kinds), pq.Array(names)); err != nil {
		return in, fmt.Errorf("counting goals reached: %w", err)
	}
	for _, g := range goals {
		in.goals = append(in.goals, reportCounts{Kind: g.Kind, Object: g.Object, Step: g.Step, Variant: g.Variant, Goals: g.Goals})
	}
	if err := db.SelectContext(ctx, &in.enrolled, reportQuery("report-enrolled"), pq.Array(kinds), pq.Array(names)); err != nil {
		return in, fmt.Errorf("counting enrollments: %w", err)
	}
	if err := db.SelectContext(ctx, &in.decisions, reportQuery("report-ab-decisions"), pq.Array(kinds), pq.Array(names)); err != nil {
		return in, fmt.Errorf("reading A/B decisions: %w", err)
	}
	if len(tKinds) > 0 {
		if err := db.SelectContext(ctx, &in.live, reportQuery("report-ab-live"), pq.Array(tKinds), pq.Array(tNames), pq.Array(tSteps), pq.Array(tModels)); err != nil {
			return in, fmt.Errorf("counting the A/B tests: %w", err)
		}
	}
	return in, nil
}

// buildReportObjects assembles one reportObject per target: steps in the
// plan's order, then steps only the outbox names (sorted), variants in the
// test's order, then others.
func buildReportObjects(targets []reportTarget, in reportInput, now time.Time) []reportObject {
	type key struct{ kind, name string }
	byObject := map[key][]reportCounts{}
	for _, r := range in.messages {
		byObject[key{r.Kind, r.Object}] = append(byObject[key{r.Kind, r.Object}], r)
	}
	for _, r := range in.goals {
		byObject[key{r.Kind, r.Object}] = append(byObject[key{r.Kind, r.Object}], r)
	}
	enrolled := map[key]int64{}
	for _, e := range in.enrolled {
		enrolled[key{e.Kind, e.Object}] = e.Enrolled
	}
	campaigns := map[string]*store.Campaign{}
	for i := range in.campaigns {
		campaigns[in.campaigns[i].Name] = &in.campaigns[i]
	}

	out := make([]reportObject, 0, len(targets))
	for _, t := range targets {
		k := key{t.kind, t.name}
		hasGoal := t.kind != "campaign"
		o := reportObject{Kind: t.kind, Name: t.name, Model: t.model, Steps: []reportStep{}, ABTests: []reportABTest{}}

		// Counts per step and per (step, variant).
		steps := map[string]*reportCounts{}
		variants := map[string]map[string]*reportCounts{}
		var total reportCounts
		for _, r := range byObject[k] {
			total.add(r)
			if r.Step == "" && t.kind != "campaign" {
				o.GoalsBeforeFirstSend += r.Goals
				continue
			}
			if steps[r.Step] == nil {
				steps[r.Step], variants[r.Step] = &reportCounts{}, map[string]*reportCounts{}
			}
			steps[r.Step].add(r)
			if variants[r.Step][r.Variant] == nil {
				variants[r.Step][r.Variant] = &reportCounts{}
			}
			variants[r.Step][r.Variant].add(r)
		}
		order := slices.Clone(t.steps)
		var extra []string
		for s := range steps {
			if !slices.Contains(order, s) {
				extra = append(extra, s)
			}
		}
		slices.Sort(extra)
		for i, s := range append(order, extra...) {
			c := steps[s]
			if c == nil {
				c = &reportCounts{}
			}
			rs := reportStep{Name: s, InPlan: i < len(order), Numbers: c.numbers(hasGoal, c.Received), Variants: []reportVariant{}}
			vs := variants[s]
			testOrder := []string{}
			if ab := t.tests[s]; ab != nil {
				for _, v := range ab.Variants {
					testOrder = append(testOrder, v.Name)
				}
			}
			// Variants are shown when the step is tested or its messages
			// carry variants (a test the plan no longer declares).
			if len(testOrder) > 0 || len(vs) > 1 || (len(vs) == 1 && vs[""] == nil) {
				names := slices.Clone(testOrder)
				var rest []string
				for v := range vs {
					if !slices.Contains(names, v) && v != "" {
						rest = append(rest, v)
					}
				}
				slices.Sort(rest)
				names = append(names, rest...)
				if vs[""] != nil {
					names = append(names, "")
				}
				for _, v := range names {
					vc := vs[v]
					if vc == nil {
						vc = &reportCounts{}
					}
					rs.Variants = append(rs.Variants, reportVariant{Name: v, Numbers: vc.numbers(hasGoal, vc.Received)})
				}
			}
			o.Steps = append(o.Steps, rs)
		}
		if hasGoal {
			n := enrolled[k]
			o.Enrolled = &n
		}
		o.Totals = total.numbers(hasGoal, enrolled[k])
		if t.kind == "campaign" {
			rc := &reportCampaign{}
			if c := campaigns[t.name]; c != nil {
				rc.Status = c.Status
				if c.Audience.Valid {
					a := c.Audience.Int64
					rc.Audience = &a
				}
			}
			rc.Health = health(rc.Status, map[string]int64{
				store.OutboxFailed: total.Failed + total.Rejected, store.OutboxPending: total.Pending})
			if campaigns[t.name] == nil {
				rc.Health = healthMissing // the daemon has not picked it up yet
			}
			o.Campaign = rc
		}
		o.ABTests = abTestsOf(t, in, now)
		out = append(out, o)
	}
	return out
}

func boolExit(ok bool) int {
	if ok {
		return 0
	}
	return 1
}

// health summarises a campaign: Degraded as soon as a message failed (the
// failures need a look even while the rest is still going out), Progressing
// while it is scheduled or sending, Healthy once finished without failures.
func health(status string, m map[string]int64) string {
	switch {
	case m["failed"] > 0 || status == store.StatusFailed:
		return "Degraded"
	case status == store.StatusScheduled || status == store.StatusSending:
		return "Progressing"
	}
	return "Healthy"
}
