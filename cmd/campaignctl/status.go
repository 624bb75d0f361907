package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// status is the Argo CD style view of a deployment: one line per object of the
// applied revision (and per object the store still holds that the plan no longer
// declares) with its sync state, its health and a short message, then per
// sequence what happened at each step. It only reads, through the store's
// counting queries.

// statusFormatVersion is the format_version of `status --format json`.
// Fields may be added without a bump; a field removed or given another meaning
// bumps it, so scripts can refuse a document they would misread.
const statusFormatVersion = 1

// statusDoc is what `campaignctl status --format json` prints:
//
//	{
//	  "format_version": 1,
//	  "revision": {                     // null when nothing is applied yet
//	    "id": 2, "plan_hash": "…", "source_commit": "…" (omitted if none),
//	    "applied_at": "RFC 3339, UTC", "applied_by": "…" (omitted if unknown)
//	  },
//	  "objects": [                      // by kind (campaign, sequence, workflow,
//	    {                               // autoresponder), then name
//	      "kind": "campaign" | "sequence" | "workflow" | "autoresponder",
//	      "name": "…",
//	      "sync": "Synced" | "Removed",   // Removed: in the store, not in the revision
//	      "health": "Healthy" | "Progressing" | "Degraded" | "Missing" | "NotRun" | "Suspended" | "Unknown",
//	      "message": "…",                 // the text view's MESSAGE
//	      "campaign": {                   // kind campaign only
//	        "status": "scheduled" | "sending" | "sent" | "failed" | "removed" | "",
//	                                      // "": the daemon has not picked it up yet
//	        "send_at": "RFC 3339" (omitted if none), "audience": n (omitted until known),
//	        "messages": {"sent": n, "pending": n, "failed": n, "cancelled": n}
//	      },
//	      "enrollments": {                // sequences, workflows, single-mode autoresponders,
//	                                      // and removed objects that had enrollments
//	        "enrolled": n, "active": n,
//	        "held": n,                    // active, waiting for an A/B decision
//	        "exited": {"completed": n, "goal": n, "responded": n, "removed": n,
//	                   "unsubscribed": n, "manual": n, "loop": n},
//	        "messages": {"sent": n, "pending": n, "failed": n, "cancelled": n},
//	                                      // a workflow's include its owner notifications
//	        "steps": [{
//	          "index": 0,                 // position in the plan; -1: a step the plan no longer declares
//	          "name": "…",
//	          "sent": n, "skipped": n,    // enrollments that sent / skipped this step
//	                                      // (workflow notify_owner: owners notified / not)
//	          "held": n,                  // enrollments ever held here for the A/B decision
//	          "waiting": n,               // active enrollments whose next step this is
//	                                      // (workflow wait step: those in the wait)
//	          "waiting_for_ab_decision": n, // of those, held for the decision now
//	          "goal_exits": n,            // enrollments that reached the goal before this step
//	          // workflow steps only:
//	          "kind": "wait" | "send" | "branch" | "set_property" | "clear_property" |
//	                  "notify_owner" | "assign_owner" | "exit",  // "" for index -1
//	          "actions": {"sent": n, "notified": n, "skipped": n, "held": n, "waited": n,
//	                      "branched": n, "set": n, "cleared": n, "assigned": n, "exited": n},
//	                                      // history lines at the step by action
//	          "branches": {"ask_review": n, "end": n},  // branch steps: how many went to each
//	                                      // step ("end": past the last), then and else always present
//	          "exits": {"goal": n, "completed": n, "loop": n}, // exits at the step by reason
//	          "ab_test": true,            // the step splits an A/B test
//	          "ab_decision": {            // omitted until decided
//	            "winner": "…" ("" when none), "decision": "winner" | "inconclusive: …",
//	            "significant": bool, "p_value": number or null, "metric": "…",
//	            "reason": "…", "decided_at": "RFC 3339, UTC"
//	          }
//	        }],
//	        "waiting_past_last_step": n   // active, every step done, about to complete
//	      }
//	    }
//	  ]
//	}
//
// Every count is present, zero included, so a consumer never has to tell an
// absent key from a zero.
type statusDoc struct {
	FormatVersion int             `json:"format_version"`
	Revision      *statusRevision `json:"revision"`
	Objects       []statusObject  `json:"objects"`
	// EventRetention: only when the plan declares one (status_retention.go).
	EventRetention *retentionStatus `json:"event_retention,omitempty"`
	// DoubleOptIn: only when the plan has double opt-in subscription types
	// (status_doubleoptin.go).
	DoubleOptIn []doubleOptInStatus `json:"double_opt_in,omitempty"`
}

type statusRevision struct {
	ID           int64     `json:"id"`
	PlanHash     string    `json:"plan_hash"`
	SourceCommit string    `json:"source_commit,omitempty"`
	AppliedAt    time.Time `json:"applied_at"`
	AppliedBy    string    `json:"applied_by,omitempty"`
}

// Sync states and health values, Argo CD's words.
const (
	syncSynced  = "Synced"
	syncRemoved = "Removed"

	healthHealthy     = "Healthy"
	healthProgressing = "Progressing"
	healthDegraded    = "Degraded"
	healthMissing     = "Missing"
	healthNotRun      = "NotRun"
	healthUnknown     = "Unknown"
	// healthSuspended: paused = true in the applied plan; the daemon holds
	// the object, its enrollments and its messages until it is unpaused.
	healthSuspended = "Suspended"
)

type statusObject struct {
	Kind        string            `json:"kind"`
	Name        string            `json:"name"`
	Sync        string            `json:"sync"`
	Health      string            `json:"health"`
	Message     string            `json:"message"`
	Campaign    *campaignStatus   `json:"campaign,omitempty"`
	Enrollments *enrollmentStatus `json:"enrollments,omitempty"`
}

type campaignStatus struct {
	Status   string           `json:"status"`
	SendAt   *time.Time       `json:"send_at,omitempty"`
	Audience *int64           `json:"audience,omitempty"`
	Messages map[string]int64 `json:"messages"`
}

type enrollmentStatus struct {
	Enrolled            int64            `json:"enrolled"`
	Active              int64            `json:"active"`
	Held                int64            `json:"held"`
	Exited              map[string]int64 `json:"exited"`
	Messages            map[string]int64 `json:"messages"`
	Steps               []stepStatus     `json:"steps"`
	WaitingPastLastStep int64            `json:"waiting_past_last_step"`

	// heldOn is Held by the step whose decision is awaited, in step order, for
	// the message.
	heldOn []stepCount
}

type stepCount struct {
	step string
	n    int64
}

type stepStatus struct {
	Index                int               `json:"index"`
	Name                 string            `json:"name"`
	Sent                 int64             `json:"sent"`
	Skipped              int64             `json:"skipped"`
	Held                 int64             `json:"held"`
	Waiting              int64             `json:"waiting"`
	WaitingForABDecision int64             `json:"waiting_for_ab_decision"`
	GoalExits            int64             `json:"goal_exits"`
	ABTest               bool              `json:"ab_test"`
	ABDecision           *abDecisionStatus `json:"ab_decision,omitempty"`

	// Workflow steps only (see status_workflow.go).
	Kind     string           `json:"kind,omitempty"`
	Actions  map[string]int64 `json:"actions,omitempty"`
	Branches map[string]int64 `json:"branches,omitempty"`
	Exits    map[string]int64 `json:"exits,omitempty"`
}

type abDecisionStatus struct {
	Winner      string    `json:"winner"`
	Decision    string    `json:"decision"`
	Significant bool      `json:"significant"`
	PValue      *float64  `json:"p_value"`
	Metric      string    `json:"metric"`
	Reason      string    `json:"reason"`
	DecidedAt   time.Time `json:"decided_at"`
}

// Kinds, in the order status lists them.
var statusKinds = []string{"campaign", "sequence", "workflow", "autoresponder"}

// Enrollment exit reasons (the enrollments table's CHECK), in the order the
// message lists them.
var exitReasons = []string{"completed", "goal", "responded", "removed", "unsubscribed", "manual", "loop"}

// Outbox statuses every "messages" object holds.
var outboxStatuses = []string{store.OutboxSent, store.OutboxPending, store.OutboxFailed, store.OutboxCancelled}

// nothingApplied is what status says before the first apply.
const nothingApplied = "nothing applied yet: run campaignctl apply"

func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("status", "status --db URL [--format text|json] [NAME]", `
Show what is applied and how it is going, Argo CD style: one line per object of
the latest applied revision, and per object the store still holds that the plan
no longer declares, with

  SYNC     Synced (in the applied revision) or Removed (only in the store)
  HEALTH   campaign: Progressing while scheduled or sending, Healthy once sent
           (failed messages are counted in the message), Degraded when every
           message failed, Missing until the daemon picks it up;
           sequence: Progressing while any contact is enrolled and active,
           Healthy once all exited, Degraded when any of its messages failed;
           a workflow (its owner notifications count as its messages) and an
           autoresponder are shown like a sequence; a recurring
           (multiple-mode) one has a line per issue sent (issue-YYYY-MM-DD)
           any object paused in the plan (paused = true) is Suspended
  MESSAGE  the counts behind the health: a campaign's messages ("not mailable":
           contacts of its audience with no, an invalid, a suppressed or a
           shared address), a sequence's or workflow's enrollments by state and
           exit reason

then, per sequence, one line per step: SENT, SKIPPED and HELD (for an A/B
decision) count the enrollments that did so at the step; WAITING the active
enrollments whose next step it is; EXITED-HERE those that reached the goal
before it. A/B decisions are shown under their step.

Per workflow, one line per step with its KIND: SENT, SKIPPED and HELD as for a
sequence where the kind can do so (a notify_owner step's SENT counts the
owners notified, SKIPPED those it could not: no owner address; a wait is
SKIPPED when its relative_to field is unset), "-" where it cannot; WAITING the
active enrollments in a wait step (or a branch waiting to test engagement with
a message), or before any other step; EXITED-HERE the
enrollments that exited at the step (goal, an exit step, a loop); DONE what
else the step did: waited N, branched N (and how many went to each step),
set N, cleared N, assigned N, and exits other than the goal by reason.

When the plan declares an event_retention, the lines under the revision say
how long events are kept, which months the leader's next pass will drop (a
dry run: status changes nothing) and which months were dropped already, kept
as counts; --at computes that dry run at another instant.

NAME shows only the object(s) of that name, of any kind; an unknown NAME is an
error that lists the known ones. Exit status: 0 ok (also when nothing is
applied yet), 1 error, 2 usage.`, `  campaignctl status --db "$CAMPAIGNCTL_DB"
  campaignctl status --db "$CAMPAIGNCTL_DB" restock_nurture
  campaignctl status --db "$CAMPAIGNCTL_DB" --format json | jq '.objects[] | select(.health != "Healthy")'`, stderr)
	db := dbFlag(fs)
	format := textOrJSONFlag(fs)
	atFlag := fs.String("at", "", "the instant the event retention's dry run and the double opt-in link expiries are computed at, `RFC3339` (default now; a daemon on a simulated clock: its time)")
	names, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	if len(names) > 1 {
		fmt.Fprintf(stderr, "campaignctl status: want at most one NAME, got %d: %s\n", len(names), strings.Join(names, " "))
		return 2
	}
	if !checkTextOrJSON(fs, *format, stderr) {
		return 2
	}
	at, ok := atTime("status", *atFlag, stderr)
	if !ok {
		return 2
	}
	if !needDB(*db, stderr) {
		return 2
	}
	ctx := context.Background()
	st, err := store.Open(ctx, *db)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl status:", err)
		return 1
	}
	defer st.Close()

	in, err := readStatus(ctx, st)
	if errors.Is(err, store.ErrNoRevision) {
		if *format == "json" {
			fmt.Fprintln(stderr, "campaignctl status:", nothingApplied)
			return boolExit(writeJSON(stdout, statusDoc{FormatVersion: statusFormatVersion, Objects: []statusObject{}}) == nil)
		}
		fmt.Fprintln(stdout, nothingApplied)
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl status:", err)
		return 1
	}
	doc := buildStatus(in)
	if doc.EventRetention, err = readRetentionStatus(ctx, st, in.plan, at); err != nil {
		fmt.Fprintln(stderr, "campaignctl status:", err)
		return 1
	}
	if doc.DoubleOptIn, err = readDoubleOptInStatus(ctx, st, in.plan, at); err != nil {
		fmt.Fprintln(stderr, "campaignctl status:", err)
		return 1
	}
	if len(names) == 1 {
		if doc.Objects, err = filterStatus(doc.Objects, names[0], in.rev.ID); err != nil {
			fmt.Fprintln(stderr, "campaignctl status:", err)
			return 1
		}
	}
	if *format == "json" {
		return boolExit(writeJSON(stdout, doc) == nil)
	}
	return boolExit(writeStatusText(stdout, doc) == nil)
}

// statusInput is everything status reads, so that building the view is a pure
// function of it.
type statusInput struct {
	rev  store.Revision
	plan *plan.Plan

	campaigns      []store.Campaign
	campaignCounts []store.StatusCount
	enrollments    []store.EnrollmentCount
	steps          []store.StepCount
	waiting        []store.WaitingCount
	held           []store.HeldCount
	// sequenceCounts are the outbox rows of sequences and autoresponders by
	// kind, object and status
	// (StatusCount.Campaign holds the sequence's name, as the outbox does).
	sequenceCounts []store.KindStatusCount
	decisions      []store.ABDecision
	workflows      workflowCounts
}

// readStatus reads the latest revision and every count status shows. It returns
// store.ErrNoRevision when nothing was applied, including on a database that
// was never migrated. The reads are separate statements, not one snapshot: a
// daemon running meanwhile can make two counts disagree by what it did between
// them, which a status view can live with.
func readStatus(ctx context.Context, st *store.Store) (statusInput, error) {
	var in statusInput
	rev, err := st.LatestRevision(ctx)
	if undefinedTable(err) {
		return in, store.ErrNoRevision
	}
	if err != nil {
		return in, err
	}
	p, err := plan.Decode([]byte(rev.Plan))
	if err != nil {
		return in, fmt.Errorf("revision %d: %w", rev.ID, err)
	}
	in.rev, in.plan = rev, p
	if in.campaigns, err = st.Campaigns(ctx); err != nil {
		return in, needsMigrate(err)
	}
	if in.campaignCounts, err = st.CampaignCounts(ctx); err != nil {
		return in, needsMigrate(err)
	}
	if in.enrollments, in.steps, in.waiting, err = st.EngineCounts(ctx); err != nil {
		return in, needsMigrate(err)
	}
	if in.held, err = st.HeldByStep(ctx); err != nil {
		return in, needsMigrate(err)
	}
	if in.sequenceCounts, err = st.SeriesMessageCounts(ctx); err != nil {
		return in, needsMigrate(err)
	}
	if in.decisions, err = st.ABDecisions(ctx); err != nil {
		return in, needsMigrate(err)
	}
	if in.workflows, err = readWorkflowCounts(ctx, st.DB); err != nil {
		return in, needsMigrate(err)
	}
	return in, nil
}

// undefinedTable reports whether err is Postgres' undefined_table: the schema
// was never created, or a table is newer than the schema.
func undefinedTable(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "42P01"
}

// needsMigrate says what to do when a table or column status reads is missing:
// the schema is older than this campaignctl.
func needsMigrate(err error) error {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && (pqErr.Code == "42P01" || pqErr.Code == "42703") {
		return fmt.Errorf("%w (the database's schema is older than this campaignctl: run campaignctl migrate)", err)
	}
	return err
}

type objectKey struct{ kind, name string }

// buildStatus turns what readStatus read into the objects status shows.
func buildStatus(in statusInput) statusDoc {
	doc := statusDoc{
		FormatVersion: statusFormatVersion,
		Revision: &statusRevision{ID: in.rev.ID, PlanHash: in.rev.PlanHash, SourceCommit: in.rev.SourceCommit,
			AppliedAt: in.rev.AppliedAt.UTC(), AppliedBy: in.rev.AppliedBy},
		Objects: []statusObject{},
	}
	p := in.plan

	// Campaigns: the plan's, then those only the store knows.
	rows := map[string]*store.Campaign{}
	for i := range in.campaigns {
		rows[in.campaigns[i].Name] = &in.campaigns[i]
	}
	msgs := countsByObject(in.campaignCounts)
	inPlan := map[objectKey]bool{}
	for _, c := range p.Campaigns {
		inPlan[objectKey{"campaign", c.Name}] = true
		doc.Objects = append(doc.Objects, campaignObject(c.Name, rows[c.Name], msgs[c.Name], true))
	}
	storeCampaigns := map[string]bool{}
	for name := range rows {
		storeCampaigns[name] = true
	}
	for name := range msgs {
		storeCampaigns[name] = true
	}
	for name := range storeCampaigns {
		if !inPlan[objectKey{"campaign", name}] {
			doc.Objects = append(doc.Objects, campaignObject(name, rows[name], msgs[name], false))
		}
	}

	// Enrollment-based objects: the plan's sequences, workflows and
	// autoresponders (recurring ones not run), then any object with
	// enrollments or messages that the plan no longer declares.
	engine := newEngineIndex(in)
	engine.addWorkflowMessages(in.workflows.messages)
	workflows := newWorkflowIndex(in.workflows)
	for i := range p.Sequences {
		s := &p.Sequences[i]
		inPlan[objectKey{"sequence", s.Name}] = true
		doc.Objects = append(doc.Objects, enrollmentObject(objectKey{"sequence", s.Name}, s.Steps, engine, true))
	}
	for i := range p.Workflows {
		w := &p.Workflows[i]
		inPlan[objectKey{"workflow", w.Name}] = true
		doc.Objects = append(doc.Objects, workflowObject(w.Name, w.Steps, engine, workflows, true))
	}
	for _, a := range p.Autoresponders {
		if a.Mode != "single" {
			// A recurring autoresponder's steps are its issues
			// (issue-YYYY-MM-DD), one line each as its history names them;
			// its enrollments wait for the next issue, not at a step index.
			k := objectKey{"autoresponder", a.Name}
			inPlan[k] = true
			o := enrollmentObject(k, nil, engine, true)
			o.Enrollments.WaitingPastLastStep = 0
			o.Health, o.Message = enrollmentHealth(o.Enrollments, true)
			doc.Objects = append(doc.Objects, o)
			continue
		}
		// A single-mode autoresponder runs like a sequence of its follow-ups.
		steps := make([]plan.SequenceStep, 0, len(a.FollowUps))
		for _, f := range a.FollowUps {
			steps = append(steps, plan.SequenceStep{Name: f.Name, Offset: f.Offset, Template: f.Template})
		}
		inPlan[objectKey{"autoresponder", a.Name}] = true
		doc.Objects = append(doc.Objects, enrollmentObject(objectKey{"autoresponder", a.Name}, steps, engine, true))
	}
	for k := range engine.objects {
		switch {
		case inPlan[k]:
		case k.kind == "workflow":
			doc.Objects = append(doc.Objects, workflowObject(k.name, nil, engine, workflows, false))
		default:
			doc.Objects = append(doc.Objects, enrollmentObject(k, nil, engine, false))
		}
	}

	markPaused(doc.Objects, p)

	slices.SortFunc(doc.Objects, func(a, b statusObject) int {
		if c := slices.Index(statusKinds, a.Kind) - slices.Index(statusKinds, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return doc
}

func countsByObject(counts []store.StatusCount) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for _, c := range counts {
		if out[c.Campaign] == nil {
			out[c.Campaign] = map[string]int64{}
		}
		out[c.Campaign][c.Status] += c.N
	}
	return out
}

// messageCounts returns m with every outbox status present.
func messageCounts(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(outboxStatuses))
	for _, s := range outboxStatuses {
		out[s] = 0
	}
	for s, n := range m {
		out[s] += n
	}
	return out
}

func campaignObject(name string, row *store.Campaign, m map[string]int64, inPlan bool) statusObject {
	cs := &campaignStatus{Messages: messageCounts(m)}
	if row != nil {
		cs.Status = row.Status
		if row.SendAt.Valid {
			t := row.SendAt.Time.UTC()
			cs.SendAt = &t
		}
		if row.Audience.Valid {
			a := row.Audience.Int64
			cs.Audience = &a
		}
	}
	o := statusObject{Kind: "campaign", Name: name, Sync: syncSynced, Campaign: cs}
	if !inPlan {
		o.Sync = syncRemoved
	}
	o.Health, o.Message = campaignHealth(cs, inPlan)
	return o
}

// campaignHealth follows the campaign's status, which the daemon keeps: a
// finished campaign with some messages failed is Healthy, the failures counted
// in the message, because it did go out; only one where every message failed is
// Degraded. "n of m sent" counts messages (outbox rows), m growing while the
// audience is still being enqueued.
func campaignHealth(c *campaignStatus, inPlan bool) (health, message string) {
	m := c.Messages
	sent, failed := m[store.OutboxSent], m[store.OutboxFailed]
	var total int64
	for _, n := range m {
		total += n
	}
	progress := fmt.Sprintf("%d of %d sent", sent, total)
	if failed > 0 {
		progress += fmt.Sprintf(", %d failed", failed)
	}
	if n := m[store.OutboxCancelled]; n > 0 {
		progress += fmt.Sprintf(", %d cancelled", n)
	}
	// The audience counts matching contacts, the outbox messages: a contact
	// without an address, with an invalid or suppressed one, or sharing one with
	// another contact gets none. Said, so "of 302" next to an audience of 303
	// does not read as a lost message.
	if c.Audience != nil && *c.Audience > total {
		progress += fmt.Sprintf("; %d of %d contacts not mailable", *c.Audience-total, *c.Audience)
	}
	allFailed := failed > 0 && sent == 0 && m[store.OutboxPending] == 0
	switch {
	case !inPlan:
		if total == 0 {
			return healthHealthy, "removed from the plan before sending"
		}
		if allFailed {
			return healthDegraded, fmt.Sprintf("removed from the plan: all %d messages failed", failed)
		}
		return healthHealthy, "removed from the plan: " + progress
	case c.Status == "":
		return healthMissing, "not picked up by the daemon yet: is campaignctl serve running?"
	case c.Status == store.StatusScheduled:
		if c.SendAt == nil {
			return healthProgressing, "scheduled"
		}
		return healthProgressing, "scheduled for " + c.SendAt.Format(time.RFC3339)
	case c.Status == store.StatusSending:
		return healthProgressing, progress
	case c.Status == store.StatusFailed, c.Status == store.StatusSent && allFailed:
		return healthDegraded, fmt.Sprintf("all %d messages failed", failed)
	case c.Status == store.StatusSent:
		return healthHealthy, progress
	case c.Status == store.StatusRemoved:
		// Declared again after an earlier revision removed it.
		return healthMissing, "removed by an earlier revision; the daemon has not picked up this one yet"
	}
	return healthUnknown, "unknown status " + strconv.Quote(c.Status)
}

// engineIndex holds the engine's counts by object.
type engineIndex struct {
	objects  map[objectKey]bool
	states   map[objectKey][]store.EnrollmentCount
	actions  map[objectKey]map[string]map[string]int64 // step → action → n
	waiting  map[objectKey]map[int]int64
	held     map[objectKey]map[string]int64
	messages map[objectKey]map[string]int64
	ab       map[objectKey]map[string]*store.ABDecision
}

func newEngineIndex(in statusInput) *engineIndex {
	e := &engineIndex{
		objects:  map[objectKey]bool{},
		states:   map[objectKey][]store.EnrollmentCount{},
		actions:  map[objectKey]map[string]map[string]int64{},
		waiting:  map[objectKey]map[int]int64{},
		held:     map[objectKey]map[string]int64{},
		messages: map[objectKey]map[string]int64{},
		ab:       map[objectKey]map[string]*store.ABDecision{},
	}
	for _, c := range in.enrollments {
		k := objectKey{c.Kind, c.Object}
		e.objects[k] = true
		e.states[k] = append(e.states[k], c)
	}
	for _, c := range in.steps {
		k := objectKey{c.Kind, c.Object}
		if e.actions[k] == nil {
			e.actions[k] = map[string]map[string]int64{}
		}
		if e.actions[k][c.Step] == nil {
			e.actions[k][c.Step] = map[string]int64{}
		}
		e.actions[k][c.Step][c.Action] += c.N
	}
	for _, c := range in.waiting {
		k := objectKey{c.Kind, c.Object}
		if e.waiting[k] == nil {
			e.waiting[k] = map[int]int64{}
		}
		e.waiting[k][c.StepIndex] += c.N
	}
	for _, c := range in.held {
		k := objectKey{c.Kind, c.Object}
		if e.held[k] == nil {
			e.held[k] = map[string]int64{}
		}
		e.held[k][c.Step] += c.N
	}
	byKind := map[string][]store.StatusCount{}
	for _, c := range in.sequenceCounts {
		byKind[c.Kind] = append(byKind[c.Kind], c.StatusCount)
	}
	for kind, counts := range byKind {
		for name, m := range countsByObject(counts) {
			k := objectKey{kind, name}
			e.objects[k] = true
			e.messages[k] = m
		}
	}
	for i := range in.decisions {
		d := &in.decisions[i]
		k := objectKey{d.Kind, d.Object}
		if e.ab[k] == nil {
			e.ab[k] = map[string]*store.ABDecision{}
		}
		e.ab[k][d.Step] = d
	}
	return e
}

// enrollmentObject summarises an object the engine enrolls contacts in. steps
// is the plan's step order; an object the plan no longer declares has none, and
// its steps are those its history names, by name.
func enrollmentObject(k objectKey, steps []plan.SequenceStep, e *engineIndex, inPlan bool) statusObject {
	es := enrollmentTotals(k, e)
	actions := e.actions[k]
	row := func(index int, name string) stepStatus {
		a := actions[name]
		s := stepStatus{Index: index, Name: name, Sent: a["sent"], Skipped: a["skipped"], Held: a["held"],
			GoalExits: a["exited"], WaitingForABDecision: e.held[k][name]}
		if d := e.ab[k][name]; d != nil {
			s.ABTest = true
			s.ABDecision = abDecisionOf(d)
		}
		return s
	}
	declared := map[string]bool{}
	for i, st := range steps {
		declared[st.Name] = true
		s := row(i, st.Name)
		s.Waiting = e.waiting[k][i]
		s.ABTest = s.ABTest || st.ABTest != nil
		es.Steps = append(es.Steps, s)
	}
	for i, n := range e.waiting[k] {
		if i >= len(steps) && inPlan {
			es.WaitingPastLastStep += n
		}
	}
	// Steps the history names that the plan does not (renamed or dropped in a
	// later revision, or every step of a removed object). The step an
	// enrollment completes at is recorded as "", which names no step.
	var extra []string
	for name := range actions {
		if name != "" && !declared[name] {
			extra = append(extra, name)
		}
	}
	for name := range e.held[k] {
		if !declared[name] && actions[name] == nil {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range slices.Compact(extra) {
		es.Steps = append(es.Steps, row(-1, name))
	}
	for _, s := range es.Steps {
		if s.WaitingForABDecision > 0 {
			es.heldOn = append(es.heldOn, stepCount{s.Name, s.WaitingForABDecision})
		}
	}

	o := statusObject{Kind: k.kind, Name: k.name, Sync: syncSynced, Enrollments: es}
	if !inPlan {
		o.Sync = syncRemoved
	}
	o.Health, o.Message = enrollmentHealth(es, inPlan)
	return o
}

// enrollmentTotals counts an object's enrollments by state and exit reason,
// and its messages by status, every key present.
func enrollmentTotals(k objectKey, e *engineIndex) *enrollmentStatus {
	es := &enrollmentStatus{Exited: map[string]int64{}, Messages: messageCounts(e.messages[k]), Steps: []stepStatus{}}
	for _, r := range exitReasons {
		es.Exited[r] = 0
	}
	for _, c := range e.states[k] {
		es.Enrolled += c.N
		if c.State == "active" {
			es.Active += c.N
			if c.Held {
				es.Held += c.N
			}
			continue
		}
		es.Exited[c.ExitReason] += c.N
	}
	return es
}

func abDecisionOf(d *store.ABDecision) *abDecisionStatus {
	out := &abDecisionStatus{Winner: d.Winner, Decision: d.Decision, Significant: d.Significant,
		Metric: d.Metric, Reason: d.Reason, DecidedAt: d.DecidedAt.UTC()}
	if !math.IsNaN(d.PValue) && !math.IsInf(d.PValue, 0) {
		p := d.PValue
		out.PValue = &p
	}
	return out
}

// enrollmentHealth: Degraded as soon as one of the object's messages failed
// (unlike a campaign, a sequence never finishes, so a failure cannot wait for
// the end to be noticed), Progressing while any enrollment is active, Healthy
// once all exited.
func enrollmentHealth(es *enrollmentStatus, inPlan bool) (health, message string) {
	var msg string
	if es.Enrolled == 0 {
		msg = "no contacts enrolled yet"
	} else {
		var parts []string
		if es.Active > 0 {
			active := fmt.Sprintf("%d active", es.Active)
			var held []string
			for i, h := range es.heldOn {
				if i == 0 {
					held = append(held, fmt.Sprintf("%d waiting for the A/B decision on %s", h.n, h.step))
				} else {
					held = append(held, fmt.Sprintf("%d on %s", h.n, h.step))
				}
			}
			if len(held) > 0 {
				active += " (" + strings.Join(held, ", ") + ")"
			}
			parts = append(parts, active)
		}
		reasons := append([]string(nil), exitReasons...)
		for r := range es.Exited {
			if !slices.Contains(reasons, r) {
				reasons = append(reasons, r)
			}
		}
		slices.Sort(reasons[len(exitReasons):])
		for _, r := range reasons {
			if n := es.Exited[r]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, r))
			}
		}
		msg = fmt.Sprintf("%d enrolled: %s", es.Enrolled, strings.Join(parts, ", "))
	}
	failed := es.Messages[store.OutboxFailed]
	if failed > 0 {
		msg += "; " + plural(int(failed), "message") + " failed"
	}
	if !inPlan {
		msg = "removed from the plan: " + msg
	}
	switch {
	case failed > 0:
		return healthDegraded, msg
	case es.Active > 0:
		return healthProgressing, msg
	}
	return healthHealthy, msg
}

// filterStatus keeps the objects named name, or says which names there are.
func filterStatus(objs []statusObject, name string, revision int64) ([]statusObject, error) {
	var out, known []statusObject
	for _, o := range objs {
		if o.Name == name {
			out = append(out, o)
		}
		known = append(known, o)
	}
	if len(out) > 0 {
		return out, nil
	}
	if len(known) == 0 {
		return nil, fmt.Errorf("no object named %q: revision %d declares none and the store holds none", name, revision)
	}
	var names []string
	for _, o := range known {
		names = append(names, o.Kind+" "+o.Name)
	}
	return nil, fmt.Errorf("no object named %q in revision %d or in the store; known: %s", name, revision, strings.Join(names, ", "))
}

// writeStatusText prints the revision, the objects' table and one step table
// per object that has steps.
func writeStatusText(w io.Writer, doc statusDoc) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n", revisionLine(doc.Revision))
	if doc.EventRetention != nil {
		b.WriteString(retentionLines(doc.EventRetention))
	}
	b.WriteString(doubleOptInLines(doc.DoubleOptIn))
	b.WriteString("\n")
	if len(doc.Objects) == 0 {
		fmt.Fprintln(&b, "no objects: the revision declares none and the store holds none")
	} else {
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tNAME\tSYNC\tHEALTH\tMESSAGE")
		for _, o := range doc.Objects {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.Kind, o.Name, o.Sync, o.Health, o.Message)
		}
		tw.Flush()
	}
	for _, o := range doc.Objects {
		if o.Enrollments == nil || len(o.Enrollments.Steps) == 0 && o.Enrollments.WaitingPastLastStep == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s %s:\n", o.Kind, o.Name)
		if o.Kind == "workflow" {
			writeWorkflowStepTable(&b, o.Enrollments, o.Sync == syncSynced)
			continue
		}
		writeStepTable(&b, o.Enrollments, o.Sync == syncSynced)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// revisionLine says which revision is applied, when, by whom and from which
// commit: status's first line, and the status page's.
func revisionLine(r *statusRevision) string {
	line := fmt.Sprintf("revision %d (plan %s) applied %s", r.ID, short(r.PlanHash), r.AppliedAt.Format(time.RFC3339))
	if r.AppliedBy != "" {
		line += " by " + r.AppliedBy
	}
	if r.SourceCommit != "" {
		line += " from commit " + short(r.SourceCommit)
	}
	return line
}

// writeStepTable aligns the step rows with a tabwriter, then slips each step's
// A/B line in under its row: a line without cells inside the tabwriter would end
// the column block and misalign the rows after it. A step the plan does not
// declare is marked as such when the object is in the plan; a removed object's
// steps all are.
func writeStepTable(w io.Writer, es *enrollmentStatus, inPlan bool) {
	var rows bytes.Buffer
	tw := tabwriter.NewWriter(&rows, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  STEP\tSENT\tSKIPPED\tHELD\tWAITING\tEXITED-HERE")
	extra := [][]string{nil}
	for _, s := range es.Steps {
		name, waiting := s.Name, strconv.FormatInt(s.Waiting, 10)
		if s.Index < 0 {
			waiting = "-"
			if inPlan {
				name += " (not in plan)"
			}
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\t%d\n", name, s.Sent, s.Skipped, s.Held, waiting, s.GoalExits)
		extra = append(extra, abLines(s))
	}
	if es.WaitingPastLastStep > 0 {
		fmt.Fprintf(tw, "  (after last)\t-\t-\t-\t%d\t-\n", es.WaitingPastLastStep)
		extra = append(extra, nil)
	}
	tw.Flush()
	lines := strings.Split(strings.TrimSuffix(rows.String(), "\n"), "\n")
	for i, line := range lines {
		fmt.Fprintln(w, strings.TrimRight(line, " "))
		for _, l := range extra[i] {
			fmt.Fprintln(w, "      "+l)
		}
	}
}

func abLines(s stepStatus) []string {
	d := s.ABDecision
	switch {
	case d != nil:
		winner := "no winner"
		if d.Winner != "" {
			winner = "winner " + d.Winner
		}
		p := "p=n/a"
		if d.PValue != nil && *d.PValue >= 0 {
			p = "p=" + strconv.FormatFloat(*d.PValue, 'g', 3, 64)
		}
		return []string{fmt.Sprintf("A/B decision: %s (%s, %s, %s): %s", winner, d.Decision, p, d.Metric, d.Reason)}
	case s.ABTest:
		if s.WaitingForABDecision > 0 {
			return []string{fmt.Sprintf("A/B decision: not taken yet, %d waiting for it", s.WaitingForABDecision)}
		}
		return []string{"A/B decision: not taken yet"}
	}
	return nil
}

// pausedMessage starts the message of a paused object, then its counts.
const pausedMessage = "paused in the plan"

// markPaused shows the objects the applied plan pauses as Suspended (Argo CD's
// word for a resource that is paused on purpose), whatever their health would
// be: the daemon holds them, so neither Progressing nor Missing would be true.
// The counts stay in the message after the reason.
func markPaused(objs []statusObject, p *plan.Plan) {
	paused := map[objectKey]bool{}
	for _, c := range p.Campaigns {
		paused[objectKey{"campaign", c.Name}] = c.Paused
	}
	for _, s := range p.Sequences {
		paused[objectKey{"sequence", s.Name}] = s.Paused
	}
	for _, w := range p.Workflows {
		paused[objectKey{"workflow", w.Name}] = w.Paused
	}
	for _, a := range p.Autoresponders {
		paused[objectKey{"autoresponder", a.Name}] = a.Paused
	}
	for i := range objs {
		o := &objs[i]
		if o.Sync != syncSynced || !paused[objectKey{o.Kind, o.Name}] {
			continue
		}
		o.Health = healthSuspended
		if o.Message == "" {
			o.Message = pausedMessage
		} else {
			o.Message = pausedMessage + "; " + o.Message
		}
	}
}
