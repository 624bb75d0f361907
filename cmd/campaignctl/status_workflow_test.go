package main

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// workflowPlans returns the plan applied first and the plan applied second.
// Both declare review_request (triggered by nps_response events of topic q1:
// wait a day, branch on the score, then either ask for a review with an A/B
// test, assign an owner round robin, notify the owner, wait three days and
// exit, or tag the customer a detractor and clear its vip flag) and
// score_watch (a state trigger); the first also old_flow, which the second
// removes.
func workflowPlans() (first, second *plan.Plan) {
	base := func() *plan.Plan {
		return &plan.Plan{
			Models: []plan.Model{{Name: "customer", Table: "crm_customer", Key: "id", Email: "email", Fields: []plan.Field{
				{Name: "score", Type: plan.TypeInt}, {Name: "owner", Type: plan.TypeString},
				{Name: "tag", Type: plan.TypeString}, {Name: "vip", Type: plan.TypeBool}}}},
			Senders:   []plan.Sender{{Name: "sales", From: "sales@example.com"}},
			Templates: []plan.Template{{Name: "hello", Subject: "Hello", Text: "Hi", Class: plan.ClassMarketing}, {Name: "tips", Subject: "Tips", Text: "Tips", Class: plan.ClassMarketing}},
			Workflows: []plan.Workflow{
				{Name: "review_request", Type: "nps_followup", Model: "customer", Class: plan.ClassMarketing, Sender: "sales",
					Trigger:  plan.Trigger{Event: "nps_response", Topic: "q1", Filter: `int(event.score) >= 7`},
					Reenroll: &plan.Reenroll{Allowed: true, After: "30d"},
					Steps: []plan.Step{
						{Name: "wait_1d", Kind: plan.StepWait, Duration: "1d"},
						{Name: "check", Kind: plan.StepBranch, Condition: `int(event.score) >= 9`, Then: "ask_review", Else: "tag_detractor"},
						{Name: "ask_review", Kind: plan.StepSend, Template: "hello", ABTest: &plan.ABTest{
							Variants: []plan.Variant{{Name: "a"}, {Name: "b", Subject: "Hey"}}, TestPercent: 50,
							Metric: "open_rate", DecideAfter: "1d", Inconclusive: "send_first"}},
						{Name: "assign", Kind: plan.StepAssignOwner, Field: "customer.owner", Owners: []string{"sam@acme.example", "kim"}},
						{Name: "notify", Kind: plan.StepNotifyOwner, Template: "tips"},
						{Name: "wait_3d", Kind: plan.StepWait, Duration: "3d"},
						{Name: "done", Kind: plan.StepExit},
						{Name: "tag_detractor", Kind: plan.StepSetProperty, Field: "customer.tag", Value: "detractor"},
						{Name: "untag_vip", Kind: plan.StepClearProperty, Field: "customer.vip"},
					}},
				{Name: "score_watch", Type: "metric_alert", Model: "customer", Class: plan.ClassMarketing, Sender: "sales",
					Trigger: plan.Trigger{Event: "metric_threshold", Field: "score", Threshold: 80},
					Steps:   []plan.Step{{Name: "hi", Kind: plan.StepSend, Template: "hello"}}},
			},
		}
	}
	first = base()
	first.Workflows = append(first.Workflows, plan.Workflow{Name: "old_flow", Type: "nps_followup", Model: "customer", Class: plan.ClassMarketing,
		Trigger: plan.Trigger{Event: "form_submit"}, Steps: []plan.Step{{Name: "hello", Kind: plan.StepSend, Template: "hello"}}})
	first.Finalize()
	second = base()
	second.Finalize()
	return first, second
}

// workflowRun is one workflow enrollment and what it did: the rows the
// engine would have left.
type workflowRun struct {
	object, key        string
	occurrence         int
	state, exit        string
	stepIndex          int
	nextStep, hold     string
	enrolledAt, wakeAt string
	exitedAt, trigger  string // trigger: the stored trigger_event JSON, "" for none
	history            []workflowLine
}

// workflowLine is one history line; a sent or notified line also writes its
// message (status "sent" unless msgStatus says otherwise; notified lines go to
// the owner named by to).
type workflowLine struct {
	at, step, action, variant, detail string
	msgStatus, msgID, to              string
}

var workflowT0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// seedWorkflows migrates a fresh database, makes the CRM table, applies the
// two plans (the first at workflowT0, the second a day later) and writes the
// enrollments, history lines, messages, properties, events and trigger
// cursor of a known state:
//
//	customer 1  ann: occurrence 1 went the whole review path (variant b,
//	            owner sam notified) and completed at the exit step;
//	            occurrence 2 waits in wait_1d
//	c2          held for the A/B decision on ask_review
//	c3          reached the goal at check
//	c4          detractor: tagged, vip cleared, completed past the last step
//	c5          waits in wait_1d
//	c6          variant b (its message failed), owner "kim" not an
//	            address (notify skipped), waits in wait_3d
//	o1          old_flow, exited when the workflow was removed
//	customer 7  never enrolled: its only nps_response arrived before the apply
//	customer 8  never enrolled: an nps_response the trigger has read
func seedWorkflows(t *testing.T) (string, *plan.Plan) {
	t.Helper()
	db, url := migratedDB(t)
	ctx := context.Background()
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`CREATE TABLE crm_customer (id bigint PRIMARY KEY, email text, score int, owner text, tag text, vip bool);
		INSERT INTO crm_customer VALUES
			(1, 'ann@example.com', 95, NULL, NULL, true),
			(7, 'gus@example.com', 40, NULL, NULL, false),
			(8, 'hana@example.com', 60, NULL, NULL, false);`)
	first, second := workflowPlans()
	var revs []int64
	for i, p := range []*plan.Plan{first, second} {
		data, err := plan.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		id, err := st.InsertRevision(ctx, store.Revision{PlanHash: p.Hash, Plan: string(data), AppliedAt: workflowT0.Add(time.Duration(i) * 24 * time.Hour), AppliedBy: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, id)
	}
	// The revisions were stored when applied (stored_at is the database's
	// clock, which the trigger compares with the events' received_at).
	db.MustExec(`UPDATE campaignctl.revisions SET stored_at = applied_at`)
	event := func(key string, score int, comment, at string) string {
		return `{"type": "nps_response", "at": "` + at + `", "key": "` + key + `", "topic": "q1", "campaign": "", "step": "", "url": "", "score": ` + strconv.Itoa(score) + `, "comment": "` + comment + `"}`
	}
	waited := func(at, until string) workflowLine {
		return workflowLine{at: at, step: "wait_1d", action: "waited", detail: "until " + until}
	}
	runs := []workflowRun{
		{object: "review_request", key: "1", occurrence: 1, state: "exited", exit: "completed", stepIndex: 9,
			enrolledAt: "2026-03-01T10:00:00Z", exitedAt: "2026-03-05T10:00:05Z", trigger: event("1", 10, "great", "2026-03-01T09:59:00Z"),
			history: []workflowLine{
				waited("2026-03-01T10:00:00Z", "2026-03-02T10:00:00Z"),
				{at: "2026-03-02T10:00:00Z", step: "check", action: "branched", detail: "int(event.score) >= 9 is true → ask_review"},
				{at: "2026-03-02T10:00:00Z", step: "ask_review", action: "sent", variant: "b", detail: "A/B test group: variant b", msgID: "<r1@example.com>"},
				{at: "2026-03-02T10:00:00Z", step: "assign", action: "assigned", detail: "customer.owner: round robin: sam@acme.example"},
				{at: "2026-03-02T10:00:05Z", step: "notify", action: "notified", detail: "owner notified with tips to sam@acme.example", msgID: "<n1@example.com>", to: "sam@acme.example"},
				{at: "2026-03-02T10:00:05Z", step: "wait_3d", action: "waited", detail: "until 2026-03-05T10:00:05Z"},
				{at: "2026-03-05T10:00:05Z", step: "done", action: "exited", detail: "exit step done"},
			}},
		{object: "review_request", key: "1", occurrence: 2, state: "active", stepIndex: 1, nextStep: "check",
			enrolledAt: "2026-04-05T10:00:00Z", wakeAt: "2026-04-06T10:00:00Z", trigger: event("1", 9, "ok", "2026-04-05T09:58:00Z"),
			history: []workflowLine{waited("2026-04-05T10:00:00Z", "2026-04-06T10:00:00Z")}},
		{object: "review_request", key: "c2", occurrence: 1, state: "active", stepIndex: 2, nextStep: "ask_review", hold: "ask_review",
			enrolledAt: "2026-03-01T10:00:00Z", trigger: event("c2", 9, "", "2026-03-01T09:59:00Z"),
			history: []workflowLine{
				waited("2026-03-01T10:00:00Z", "2026-03-02T10:00:00Z"),
				{at: "2026-03-02T10:00:00Z", step: "check", action: "branched", detail: "int(event.score) >= 9 is true → ask_review"},
				{at: "2026-03-02T10:00:00Z", step: "ask_review", action: "held", detail: "waiting for the A/B decision on ask_review"},
			}},
		{object: "review_request", key: "c3", occurrence: 1, state: "exited", exit: "goal", stepIndex: 1, nextStep: "check",
			enrolledAt: "2026-03-01T10:00:00Z", exitedAt: "2026-03-02T10:00:00Z", trigger: event("c3", 9, "", "2026-03-01T09:59:00Z"),
			history: []workflowLine{
				waited("2026-03-01T10:00:00Z", "2026-03-02T10:00:00Z"),
				{at: "2026-03-02T10:00:00Z", step: "check", action: "exited", detail: "goal reached"},
			}},
		{object: "review_request", key: "c4", occurrence: 1, state: "exited", exit: "completed", stepIndex: 9,
			enrolledAt: "2026-03-01T10:00:00Z", exitedAt: "2026-03-02T10:00:05Z", trigger: event("c4", 7, "meh", "2026-03-01T09:59:00Z"),
			history: []workflowLine{
				waited("2026-03-01T10:00:00Z", "2026-03-02T10:00:00Z"),
				{at: "2026-03-02T10:00:00Z", step: "check", action: "branched", detail: "int(event.score) >= 9 is false → tag_detractor"},
				{at: "2026-03-02T10:00:00Z", step: "tag_detractor", action: "set", detail: "customer.tag = detractor"},
				{at: "2026-03-02T10:00:05Z", step: "untag_vip", action: "cleared", detail: "customer.vip cleared"},
				{at: "2026-03-02T10:00:05Z", step: "", action: "exited", detail: "no steps left"},
			}},
		{object: "review_request", key: "c5", occurrence: 1, state: "active", stepIndex: 1, nextStep: "check",
			enrolledAt: "2026-03-10T10:00:00Z", wakeAt: "2026-03-11T10:00:00Z", trigger: event("c5", 8, "", "2026-03-10T09:59:00Z"),
			history: []workflowLine{waited("2026-03-10T10:00:00Z", "2026-03-11T10:00:00Z")}},
		{object: "review_request", key: "c6", occurrence: 1, state: "active", stepIndex: 6, nextStep: "done",
			enrolledAt: "2026-03-01T10:00:00Z", wakeAt: "2026-03-05T10:00:05Z", trigger: event("c6", 10, "", "2026-03-01T09:59:00Z"),
			history: []workflowLine{
				waited("2026-03-01T10:00:00Z", "2026-03-02T10:00:00Z"),
				{at: "2026-03-02T10:00:00Z", step: "check", action: "branched", detail: "int(event.score) >= 9 is true → ask_review"},
				{at: "2026-03-02T10:00:00Z", step: "ask_review", action: "sent", variant: "b", detail: "A/B test group: variant b", msgStatus: "failed"},
				{at: "2026-03-02T10:00:00Z", step: "assign", action: "assigned", detail: "customer.owner: round robin: kim"},
				{at: "2026-03-02T10:00:05Z", step: "notify", action: "skipped", detail: "no owner to notify: customer.owner is not an email address"},
				{at: "2026-03-02T10:00:05Z", step: "wait_3d", action: "waited", detail: "until 2026-03-05T10:00:05Z"},
			}},
		{object: "old_flow", key: "o1", occurrence: 1, state: "exited", exit: "removed", stepIndex: 1,
			enrolledAt: "2026-03-01T10:00:00Z", exitedAt: "2026-03-02T09:00:00Z",
			history: []workflowLine{{at: "2026-03-01T10:00:00Z", step: "hello", action: "sent"}}},
	}
	ids := map[string]int64{}
	for _, r := range runs {
		ids[r.object+"/"+r.key+"/"+strconv.Itoa(r.occurrence)] = insertWorkflowRun(t, db, r, revs[1])
	}
	// What the property steps wrote (the last write of each field).
	db.MustExec(`INSERT INTO campaignctl.contact_properties (model, contact_key, field, value, set_at, kind, object, step, enrollment_id)
		VALUES ('customer', '1', 'owner', 'sam@acme.example', '2026-03-02T10:00:00Z', 'workflow', 'review_request', 'assign', $1),
		       ('customer', 'c4', 'tag', 'detractor', '2026-03-02T10:00:00Z', 'workflow', 'review_request', 'tag_detractor', $2),
		       ('customer', 'c4', 'vip', NULL, '2026-03-02T10:00:05Z', 'workflow', 'review_request', 'untag_vip', $2),
		       ('customer', '1', 'tag', 'promoter', '2026-03-03T10:00:00Z', 'workflow', 'other_flow', 'tag', NULL)`,
		ids["review_request/1/1"], ids["review_request/c4/1"])
	// Events: customer 7's only nps_response arrived before the workflow
	// was applied; customer 8's after, and the trigger's cursor has passed it.
	db.MustExec(`INSERT INTO campaignctl.events (occurred_at, received_at, model, contact_key, type, topic, properties) VALUES
		('2026-02-20T10:00:00Z', '2026-02-20T10:00:01Z', 'customer', '7', 'nps_response', 'q1', '{"score": 10}'),
		('2026-03-03T10:00:00Z', '2026-03-03T10:00:01Z', 'customer', '7', 'nps_response', 'q2', '{"score": 10}'),
		('2026-03-04T10:00:00Z', '2026-03-04T10:00:01Z', 'customer', '8', 'nps_response', 'q1', '{"score": 3}')`)
	db.MustExec(`INSERT INTO campaignctl.trigger_cursors (kind, object, last_id) SELECT 'workflow', 'review_request', max(id) FROM campaignctl.events`)
	return url, second
}

func insertWorkflowRun(t *testing.T, db *sqlx.DB, r workflowRun, rev int64) int64 {
	t.Helper()
	at := func(s string) any {
		if s == "" {
			return nil
		}
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	var trigger any
	if r.trigger != "" {
		trigger = r.trigger
	}
	email := r.key + "@example.com"
	if r.key == "1" {
		email = "ann@example.com"
	}
	var id int64
	if err := db.Get(&id, `INSERT INTO campaignctl.enrollments (kind, object, contact_key, email, email_normalized, occurrence, state,
			step_index, next_step, wake_at, hold, enrolled_at, revision_id, trigger_event, exit_reason, exited_at, updated_at)
		VALUES ('workflow', $1, $2, $3, $3, $4, $5, $6, $7, $8, nullif($9, ''), $10, $11, $12::jsonb, nullif($13, ''), $14, $10)
		RETURNING id`, r.object, r.key, email, r.occurrence, r.state, r.stepIndex, r.nextStep, at(r.wakeAt), r.hold,
		at(r.enrolledAt), rev, trigger, r.exit, at(r.exitedAt)); err != nil {
		t.Fatal(err)
	}
	for _, h := range r.history {
		// One statement per line, in order: as one advance's INSERT, the
		// lines of an instant are stored in the order they were taken.
		db.MustExec(`INSERT INTO campaignctl.enrollment_steps (enrollment_id, step, action, at, variant, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
			id, h.step, h.action, at(h.at), h.variant, h.detail)
		if h.action != "sent" && h.action != "notified" {
			continue
		}
		status, to, class := h.msgStatus, email, "marketing"
		if status == "" {
			status = "sent"
		}
		if h.to != "" {
			to, class = h.to, "internal"
		}
		db.MustExec(`INSERT INTO campaignctl.outbox (kind, campaign, step, variant, contact_key, email, email_normalized, status, class,
				occurrence, enrollment_id, due_at, created_at, sent_at, attempts, message_id, last_smtp)
			VALUES ('workflow', $1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10, $10, CASE WHEN $6 = 'sent' THEN $10::timestamptz END, 1,
				nullif($11, ''), CASE WHEN $6 = 'sent' THEN '250 2.0.0 OK' ELSE '550 5.1.1 no such user' END)`,
			r.object, h.step, h.variant, r.key, to, status, class, r.occurrence, id, at(h.at), h.msgID)
	}
	return id
}

// TestStatusWorkflows: workflows are run, so status shows them like
// sequences — health from their enrollments and messages (an owner
// notification counts) — with one line per step saying what its kind did
// there, and a removed workflow's steps from its history.
func TestStatusWorkflows(t *testing.T) {
	t.Parallel()
	url, p := seedWorkflows(t)
	code, stdout, stderr := runSub(runStatus, "--db", url)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	want := `revision 2 (plan ` + short(p.Hash) + `) applied 2026-03-02T09:00:00Z by alice

KIND      NAME            SYNC     HEALTH    MESSAGE
workflow  old_flow        Removed  Healthy   removed from the plan: 1 enrolled: 1 removed
workflow  review_request  Synced   Degraded  7 enrolled: 4 active (1 waiting for the A/B decision on ask_review), 2 completed, 1 goal; 1 message failed
workflow  score_watch     Synced   Healthy   no contacts enrolled yet

workflow old_flow:
  STEP   KIND  SENT  SKIPPED  HELD  WAITING  EXITED-HERE  DONE
  hello  -     1     0        0     -        0

workflow review_request:
  STEP           KIND            SENT  SKIPPED  HELD  WAITING  EXITED-HERE  DONE
  wait_1d        wait            -     0        -     2        0            waited 7
  check          branch          -     -        -     0        1            branched 4 (3 → ask_review, 1 → tag_detractor)
  ask_review     send            2     0        1     1        0
      A/B decision: not taken yet, 1 waiting for it
  assign         assign_owner    -     -        -     0        0            assigned 2
  notify         notify_owner    1     1        -     0        0
  wait_3d        wait            -     0        -     1        0            waited 2
  done           exit            -     -        -     0        1            exits: 1 completed
  tag_detractor  set_property    -     -        -     0        0            set 1
  untag_vip      clear_property  -     -        -     0        0            cleared 1

workflow score_watch:
  STEP  KIND  SENT  SKIPPED  HELD  WAITING  EXITED-HERE  DONE
  hi    send  0     0        0     0        0
`
	assertLines(t, stdout, want)

	code, stdout, stderr = runSub(runStatus, "--db", url, "--format", "json", "review_request")
	if code != 0 {
		t.Fatalf("--format json: exit %d, stderr:\n%s", code, stderr)
	}
	var doc struct {
		Objects []struct {
			Kind, Name, Sync, Health string
			Enrollments              *struct {
				Enrolled, Active, Held int64
				Exited                 map[string]int64 `json:"exited"`
				Messages               map[string]int64 `json:"messages"`
				Steps                  []struct {
					Index                        int
					Name, Kind                   string
					Sent, Skipped, Held, Waiting int64
					WaitingForABDecision         int64            `json:"waiting_for_ab_decision"`
					GoalExits                    int64            `json:"goal_exits"`
					ABTest                       bool             `json:"ab_test"`
					Actions                      map[string]int64 `json:"actions"`
					Branches                     map[string]int64 `json:"branches"`
					Exits                        map[string]int64 `json:"exits"`
				} `json:"steps"`
			} `json:"enrollments"`
		} `json:"objects"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if len(doc.Objects) != 1 || doc.Objects[0].Kind != "workflow" || doc.Objects[0].Health != "Degraded" || doc.Objects[0].Enrollments == nil {
		t.Fatalf("objects: %+v", doc.Objects)
	}
	e := doc.Objects[0].Enrollments
	if e.Enrolled != 7 || e.Active != 4 || e.Held != 1 || e.Exited["completed"] != 2 || e.Exited["goal"] != 1 || e.Exited["loop"] != 0 ||
		e.Messages["sent"] != 2 || e.Messages["failed"] != 1 || e.Messages["pending"] != 0 {
		t.Errorf("enrollments: %+v", e)
	}
	if len(e.Steps) != 9 {
		t.Fatalf("%d steps, want 9: %+v", len(e.Steps), e.Steps)
	}
	byName := map[string]int{}
	for i, s := range e.Steps {
		byName[s.Name] = i
		if s.Index != i || s.Actions == nil || s.Exits == nil {
			t.Errorf("step %d: %+v", i, s)
		}
		for _, a := range workflowActions {
			if _, ok := s.Actions[a]; !ok {
				t.Errorf("step %s: actions has no %q: %v", s.Name, a, s.Actions)
			}
		}
	}
	check := e.Steps[byName["check"]]
	if check.Kind != "branch" || check.Actions["branched"] != 4 || check.GoalExits != 1 || check.Exits["goal"] != 1 ||
		len(check.Branches) != 2 || check.Branches["ask_review"] != 3 || check.Branches["tag_detractor"] != 1 {
		t.Errorf("check: %+v", check)
	}
	ask := e.Steps[byName["ask_review"]]
	if ask.Kind != "send" || ask.Sent != 2 || ask.Held != 1 || ask.Waiting != 1 || ask.WaitingForABDecision != 1 || !ask.ABTest {
		t.Errorf("ask_review: %+v", ask)
	}
	if n := e.Steps[byName["notify"]]; n.Sent != 1 || n.Skipped != 1 || n.Actions["notified"] != 1 {
		t.Errorf("notify: %+v", n)
	}
	if w := e.Steps[byName["wait_1d"]]; w.Waiting != 2 || w.Actions["waited"] != 7 {
		t.Errorf("wait_1d: %+v", w)
	}
	if w := e.Steps[byName["wait_3d"]]; w.Waiting != 1 || w.Actions["waited"] != 2 {
		t.Errorf("wait_3d: %+v", w)
	}
	if d := e.Steps[byName["done"]]; d.Exits["completed"] != 1 || d.GoalExits != 0 {
		t.Errorf("done: %+v", d)
	}
	for name, action := range map[string]string{"assign": "assigned", "tag_detractor": "set", "untag_vip": "cleared"} {
		if s := e.Steps[byName[name]]; s.Actions[action] == 0 {
			t.Errorf("%s: no %s: %+v", name, action, s)
		}
	}
}
