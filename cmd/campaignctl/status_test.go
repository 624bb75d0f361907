package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// statusPlans returns the plan applied first (a campaign and a sequence that
// the second removes) and the plan applied second: one campaign, one sequence
// of two A/B-tested steps, one workflow.
func statusPlans() (first, second *plan.Plan) {
	base := func() *plan.Plan {
		return &plan.Plan{
			Models:    []plan.Model{{Name: "lead", Table: "crm_lead", Key: "id", Email: "email_from"}},
			Segments:  []plan.Segment{{Name: "lost", Model: "lead", Filter: `lead.stage == "Lost"`}},
			Senders:   []plan.Sender{{Name: "sales", From: "sales@example.com"}},
			Templates: []plan.Template{{Name: "hello", Subject: "Hello", Text: "Hi", Class: plan.ClassMarketing}, {Name: "tips", Subject: "Tips", Text: "Tips", Class: plan.ClassMarketing}},
		}
	}
	ab := func() *plan.ABTest {
		return &plan.ABTest{Variants: []plan.Variant{{Name: "a"}, {Name: "b", Subject: "Hey"}}, TestPercent: 20,
			Metric: "open_rate", DecideAfter: "1d", Inconclusive: "send_first"}
	}
	first = base()
	first.Campaigns = []plan.Campaign{{Name: "spring_sale", Segment: "lost", Template: "hello", Sender: "sales", Class: plan.ClassMarketing}}
	first.Sequences = []plan.Sequence{{Name: "old_drip", Model: "lead", Segment: "lost", Sender: "sales",
		Steps: []plan.SequenceStep{{Name: "intro", Offset: "0s", Template: "hello"}}}}
	first.Finalize()

	second = base()
	second.Campaigns = []plan.Campaign{{Name: "launch", Segment: "lost", Template: "hello", Sender: "sales", Class: plan.ClassMarketing}}
	second.Sequences = []plan.Sequence{{Name: "nurture", Model: "lead", Segment: "lost", Sender: "sales", Goal: `lead.stage == "Won"`,
		Steps: []plan.SequenceStep{
			{Name: "welcome", Offset: "0s", Template: "hello", ABTest: ab()},
			{Name: "week1", Offset: "7d", Template: "tips", ABTest: ab()},
		}}}
	second.Workflows = []plan.Workflow{{Name: "lead_router", Type: "lead_nurturing", Model: "lead", Class: plan.ClassMarketing,
		Trigger: plan.Trigger{Event: "form_submit"}}}
	second.Finalize()
	return first, second
}

// statusEnrollment is one enrollment of the known state and what it did, step
// by step: the rows the engine would have left.
type statusEnrollment struct {
	object, key, state string
	stepIndex          int
	hold, exit         string
	actions            [][2]string // step, action
	// outbox is the status of the message of each "sent" action, by step
	// (sent unless listed).
	outbox map[string]string
}

// seedStatus migrates a fresh database, applies the two plans and writes, with
// plain SQL, the rows of a known state. It returns the database URL and the
// second plan.
func seedStatus(t *testing.T) (string, *plan.Plan) {
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
	first, second := statusPlans()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var revs []int64
	for i, p := range []*plan.Plan{first, second} {
		data, err := plan.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		id, err := st.InsertRevision(ctx, store.Revision{PlanHash: p.Hash, Plan: string(data), AppliedAt: t0.Add(time.Duration(i) * 24 * time.Hour), AppliedBy: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, id)
	}

	// Campaigns: launch is sent (10 in its audience: 8 sent, 1 failed, 1
	// cancelled); spring_sale was removed by the second revision after 3 of
	// its 5 messages went out.
	db.MustExec(`INSERT INTO campaignctl.campaigns (name, hash, revision_id, status, audience, materialized_at, created_at, updated_at)
		VALUES ('launch', 'h1', $1, 'sent', 10, $3, $3, $3), ('spring_sale', 'h0', $2, 'removed', NULL, $3, $3, $3)`, revs[1], revs[0], t0)
	outbox := func(kind, object, step, key, status string, enrollment any) {
		db.MustExec(`INSERT INTO campaignctl.outbox (kind, campaign, step, contact_key, email, email_normalized, status, occurrence, enrollment_id, due_at, created_at)
			VALUES ($1, $2, $3, $4, $4 || '@example.com', $4 || '@example.com', $5, CASE WHEN $1 = 'campaign' THEN 0 ELSE 1 END, $6, $7, $7)`,
			kind, object, step, key, status, enrollment, t0)
	}
	for i, status := range []string{"sent", "sent", "sent", "sent", "sent", "sent", "sent", "sent", "failed", "cancelled"} {
		outbox("campaign", "launch", "", "l"+string(rune('a'+i)), status, nil)
	}
	for i, status := range []string{"sent", "sent", "sent", "cancelled", "cancelled"} {
		outbox("campaign", "spring_sale", "", "s"+string(rune('a'+i)), status, nil)
	}

	sent, skipped, held, exited := "sent", "skipped", "held", "exited"
	enrollments := []statusEnrollment{
		// Enrolled, welcome not taken yet.
		{object: "nurture", key: "e1", state: "active", stepIndex: 0},
		{object: "nurture", key: "e2", state: "active", stepIndex: 0},
		// Got welcome (one held for its A/B decision first), week1 ahead; e5
		// is in week1's remainder and waits for its decision.
		{object: "nurture", key: "e3", state: "active", stepIndex: 1, actions: [][2]string{{"welcome", sent}}},
		{object: "nurture", key: "e4", state: "active", stepIndex: 1, actions: [][2]string{{"welcome", held}, {"welcome", sent}}},
		{object: "nurture", key: "e5", state: "active", stepIndex: 1, hold: "week1", actions: [][2]string{{"welcome", sent}, {"week1", held}}},
		// Completed: two in week1's test group, one whose week1 was skipped.
		{object: "nurture", key: "e6", state: "exited", stepIndex: 2, exit: "completed", actions: [][2]string{{"welcome", sent}, {"week1", sent}, {"", exited}}},
		{object: "nurture", key: "e7", state: "exited", stepIndex: 2, exit: "completed", actions: [][2]string{{"welcome", sent}, {"week1", sent}, {"", exited}},
			outbox: map[string]string{"week1": "failed"}},
		{object: "nurture", key: "e8", state: "exited", stepIndex: 2, exit: "completed", actions: [][2]string{{"welcome", held}, {"welcome", sent}, {"week1", skipped}, {"", exited}}},
		// Reached the goal before week1, and before welcome.
		{object: "nurture", key: "e9", state: "exited", stepIndex: 1, exit: "goal", actions: [][2]string{{"welcome", sent}, {"week1", exited}}},
		{object: "nurture", key: "e10", state: "exited", stepIndex: 0, exit: "goal", actions: [][2]string{{"welcome", exited}}},
		// Every step taken, about to complete; its week1 is still in the outbox.
		{object: "nurture", key: "e11", state: "active", stepIndex: 2, actions: [][2]string{{"welcome", sent}, {"week1", sent}},
			outbox: map[string]string{"week1": "pending"}},
		// The removed sequence's enrollments, exited when it was removed.
		{object: "old_drip", key: "o1", state: "exited", stepIndex: 1, exit: "removed", actions: [][2]string{{"intro", sent}}},
		{object: "old_drip", key: "o2", state: "exited", stepIndex: 1, exit: "removed", actions: [][2]string{{"intro", sent}}},
	}
	for _, e := range enrollments {
		insertStatusEnrollment(t, db, e, revs, t0, outbox)
	}
	db.MustExec(`INSERT INTO campaignctl.ab_decisions (kind, object, step, decided_at, winner, decision, significant, p_value, metric, reason)
		VALUES ('sequence', 'nurture', 'welcome', $1, 'a', 'winner', true, 0.0123, 'open_rate', 'a opened 60% against b''s 20%')`, t0.Add(26*time.Hour))
	return url, second
}

func insertStatusEnrollment(t *testing.T, db *sqlx.DB, e statusEnrollment, revs []int64, t0 time.Time, outbox func(kind, object, step, key, status string, enrollment any)) {
	t.Helper()
	rev := revs[1]
	if e.object == "old_drip" {
		rev = revs[0]
	}
	var id int64
	if err := db.Get(&id, `INSERT INTO campaignctl.enrollments (kind, object, contact_key, email, email_normalized, state, step_index,
			wake_at, hold, enrolled_at, revision_id, exit_reason, exited_at, updated_at)
		VALUES ('sequence', $1, $2, $2 || '@example.com', $2 || '@example.com', $3, $4,
			CASE WHEN $3 = 'active' AND $5 = '' THEN $6::timestamptz END, nullif($5, ''), $6, $7, nullif($8, ''),
			CASE WHEN $3 = 'exited' THEN $6::timestamptz END, $6)
		RETURNING id`, e.object, e.key, e.state, e.stepIndex, e.hold, t0, rev, e.exit); err != nil {
		t.Fatal(err)
	}
	for i, a := range e.actions {
		db.MustExec(`INSERT INTO campaignctl.enrollment_steps (enrollment_id, step, action, at) VALUES ($1, $2, $3, $4)`,
			id, a[0], a[1], t0.Add(time.Duration(i)*time.Minute))
		if a[1] == "sent" {
			status := "sent"
			if s, ok := e.outbox[a[0]]; ok {
				status = s
			}
			outbox("sequence", e.object, a[0], e.key, status, id)
		}
	}
}

// TestStatusShowsHealthAndPerStepCounts checks the text view line by line and
// the JSON document's numbers against the state seedStatus wrote.
func TestStatusShowsHealthAndPerStepCounts(t *testing.T) {
	t.Parallel()
	url, p := seedStatus(t)

	code, stdout, stderr := runSub(runStatus, "--db", url)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	want := `revision 2 (plan ` + short(p.Hash) + `) applied 2026-03-02T09:00:00Z by alice

KIND      NAME         SYNC     HEALTH    MESSAGE
campaign  launch       Synced   Healthy   8 of 10 sent, 1 failed, 1 cancelled
campaign  spring_sale  Removed  Healthy   removed from the plan: 3 of 5 sent, 2 cancelled
sequence  nurture      Synced   Degraded  11 enrolled: 6 active (1 waiting for the A/B decision on week1), 3 completed, 2 goal; 1 message failed
sequence  old_drip     Removed  Healthy   removed from the plan: 2 enrolled: 2 removed
workflow  lead_router  Synced   Healthy   no contacts enrolled yet

sequence nurture:
  STEP          SENT  SKIPPED  HELD  WAITING  EXITED-HERE
  welcome       8     0        2     2        1
      A/B decision: winner a (winner, p=0.0123, open_rate): a opened 60% against b's 20%
  week1         3     1        1     3        1
      A/B decision: not taken yet, 1 waiting for it
  (after last)  -     -        -     1        -

sequence old_drip:
  STEP   SENT  SKIPPED  HELD  WAITING  EXITED-HERE
  intro  2     0        0     -        0
`
	if stdout != want {
		t.Errorf("text output:\n%s\nwant:\n%s", stdout, want)
	}

	// One object by name, flags after the name.
	code, stdout, stderr = runSub(runStatus, "launch", "--db", url)
	if code != 0 {
		t.Fatalf("status launch: exit %d, stderr:\n%s", code, stderr)
	}
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); len(lines) != 4 ||
		lines[3] != "campaign  launch  Synced  Healthy  8 of 10 sent, 1 failed, 1 cancelled" {
		t.Errorf("status launch printed:\n%s", stdout)
	}

	code, stdout, stderr = runSub(runStatus, "--db", url, "--format", "json")
	if code != 0 {
		t.Fatalf("--format json: exit %d, stderr:\n%s", code, stderr)
	}
	var doc struct {
		FormatVersion int `json:"format_version"`
		Revision      struct {
			ID        int64     `json:"id"`
			PlanHash  string    `json:"plan_hash"`
			AppliedAt time.Time `json:"applied_at"`
		} `json:"revision"`
		Objects []struct {
			Kind, Name, Sync, Health, Message string
			Campaign                          *struct {
				Status   string           `json:"status"`
				Audience *int64           `json:"audience"`
				Messages map[string]int64 `json:"messages"`
			} `json:"campaign"`
			Enrollments *struct {
				Enrolled, Active, Held int64
				Exited                 map[string]int64 `json:"exited"`
				Messages               map[string]int64 `json:"messages"`
				WaitingPastLastStep    int64            `json:"waiting_past_last_step"`
				Steps                  []struct {
					Index                        int
					Name                         string
					Sent, Skipped, Held, Waiting int64
					WaitingForABDecision         int64 `json:"waiting_for_ab_decision"`
					GoalExits                    int64 `json:"goal_exits"`
					ABTest                       bool  `json:"ab_test"`
					ABDecision                   *struct {
						Winner, Decision, Metric, Reason string
						PValue                           *float64 `json:"p_value"`
					} `json:"ab_decision"`
				} `json:"steps"`
			} `json:"enrollments"`
		} `json:"objects"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("--format json printed %q: %v", stdout, err)
	}
	if doc.FormatVersion != 1 || doc.Revision.ID != 2 || doc.Revision.PlanHash != p.Hash || !doc.Revision.AppliedAt.Equal(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("format_version %d, revision %+v: want 1, revision 2 of plan %s", doc.FormatVersion, doc.Revision, p.Hash)
	}
	var got []string
	for _, o := range doc.Objects {
		got = append(got, o.Kind+" "+o.Name+" "+o.Sync+" "+o.Health)
	}
	if want := "campaign launch Synced Healthy|campaign spring_sale Removed Healthy|sequence nurture Synced Degraded|" +
		"sequence old_drip Removed Healthy|workflow lead_router Synced Healthy"; strings.Join(got, "|") != want {
		t.Fatalf("objects %q, want %q", strings.Join(got, "|"), want)
	}
	launch := doc.Objects[0].Campaign
	if launch == nil || launch.Status != "sent" || launch.Audience == nil || *launch.Audience != 10 ||
		launch.Messages["sent"] != 8 || launch.Messages["failed"] != 1 || launch.Messages["cancelled"] != 1 || launch.Messages["pending"] != 0 {
		t.Errorf("campaign launch: %+v", launch)
	}
	if doc.Objects[1].Campaign == nil || doc.Objects[1].Campaign.Status != "removed" || doc.Objects[1].Campaign.Audience != nil {
		t.Errorf("campaign spring_sale: %+v", doc.Objects[1].Campaign)
	}
	n := doc.Objects[2].Enrollments
	if n == nil {
		t.Fatal("sequence nurture has no enrollments object")
	}
	if n.Enrolled != 11 || n.Active != 6 || n.Held != 1 || n.WaitingPastLastStep != 1 ||
		n.Exited["completed"] != 3 || n.Exited["goal"] != 2 || n.Exited["removed"] != 0 ||
		n.Messages["sent"] != 9 || n.Messages["failed"] != 1 || n.Messages["pending"] != 1 || n.Messages["cancelled"] != 0 {
		t.Errorf("sequence nurture: %+v", n)
	}
	if len(n.Steps) != 2 {
		t.Fatalf("sequence nurture: %d steps, want 2", len(n.Steps))
	}
	type stepNums struct {
		Index                                            int
		Name                                             string
		Sent, Skipped, Held, Waiting, WaitingForAB, Goal int64
		ABTest                                           bool
	}
	for i, want := range []stepNums{
		{0, "welcome", 8, 0, 2, 2, 0, 1, true},
		{1, "week1", 3, 1, 1, 3, 1, 1, true},
	} {
		s := n.Steps[i]
		if got := (stepNums{s.Index, s.Name, s.Sent, s.Skipped, s.Held, s.Waiting, s.WaitingForABDecision, s.GoalExits, s.ABTest}); got != want {
			t.Errorf("step %d: %+v, want %+v", i, got, want)
		}
	}
	if d := n.Steps[0].ABDecision; d == nil || d.Winner != "a" || d.Decision != "winner" || d.Metric != "open_rate" || d.PValue == nil || *d.PValue != 0.0123 {
		t.Errorf("welcome's A/B decision: %+v", d)
	}
	if n.Steps[1].ABDecision != nil {
		t.Errorf("week1 has an A/B decision although none was taken: %+v", n.Steps[1].ABDecision)
	}
	if o := doc.Objects[3].Enrollments; o == nil || o.Enrolled != 2 || o.Exited["removed"] != 2 || len(o.Steps) != 1 ||
		o.Steps[0].Index != -1 || o.Steps[0].Name != "intro" || o.Steps[0].Sent != 2 {
		t.Errorf("sequence old_drip: %+v", o)
	}
	if w := doc.Objects[4]; w.Campaign != nil || w.Enrollments == nil || w.Enrollments.Enrolled != 0 || w.Message != "no contacts enrolled yet" {
		t.Errorf("workflow lead_router: %+v", w)
	}
}

func TestStatusUnknownNameListsKnownOnes(t *testing.T) {
	t.Parallel()
	url, _ := seedStatus(t)
	code, stdout, stderr := runSub(runStatus, "--db", url, "nurtur")
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q: want 1 and nothing on stdout", code, stdout)
	}
	want := `campaignctl status: no object named "nurtur" in revision 2 or in the store; known: campaign launch, campaign spring_sale, sequence nurture, sequence old_drip, workflow lead_router` + "\n"
	if stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
}

func TestStatusNothingApplied(t *testing.T) {
	t.Parallel()
	_, url := storetest.Open(t)
	// Never migrated, then migrated with no revision: both say to apply.
	for _, migrate := range []bool{false, true} {
		if migrate {
			mustRun(t, 0, "migrate", "--db", url)
		}
		code, stdout, stderr := runSub(runStatus, "--db", url)
		if code != 0 || stdout != "nothing applied yet: run campaignctl apply\n" || stderr != "" {
			t.Errorf("migrated %v: exit %d, stdout %q, stderr %q", migrate, code, stdout, stderr)
		}
		code, stdout, stderr = runSub(runStatus, "--db", url, "--format", "json")
		var doc map[string]any
		if err := json.Unmarshal([]byte(stdout), &doc); code != 0 || err != nil {
			t.Fatalf("migrated %v, --format json: exit %d, %v: %q", migrate, code, err, stdout)
		}
		if doc["format_version"] != 1.0 || doc["revision"] != nil || len(doc["objects"].([]any)) != 0 || !strings.Contains(stderr, "nothing applied yet") {
			t.Errorf("migrated %v, --format json: %v, stderr %q", migrate, doc, stderr)
		}
	}
}

func TestStatusUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--db", "postgres://localhost/x", "a", "b"},
		{"--db", "postgres://localhost/x", "--format", "yaml"},
		{"--db", ""},
		{"--bogus"},
	} {
		if code, _, _ := runSub(runStatus, args...); code != 2 {
			t.Errorf("status %q: exit %d, want 2", args, code)
		}
	}
	if code, _, stderr := runSub(runStatus, "-h"); code != 0 || !strings.Contains(stderr, "Usage: campaignctl status") {
		t.Errorf("status -h: exit %d, stderr %q", code, stderr)
	}
}

func TestStatusCampaignHealth(t *testing.T) {
	t.Parallel()
	sendAt := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	ten := int64(10)
	for _, tc := range []struct {
		status   string
		m        map[string]int64
		inPlan   bool
		health   string
		message  string
		audience *int64
		sendAt   *time.Time
	}{
		{"", nil, true, "Missing", "not picked up by the daemon yet: is campaignctl serve running?", nil, nil},
		{"scheduled", nil, true, "Progressing", "scheduled for 2026-04-01T08:00:00Z", nil, &sendAt},
		{"sending", map[string]int64{"sent": 4, "pending": 6}, true, "Progressing", "4 of 10 sent", &ten, nil},
		{"sending", map[string]int64{"sent": 4, "pending": 2}, true, "Progressing", "4 of 6 sent", nil, nil},
		{"sent", map[string]int64{"sent": 9, "failed": 1}, true, "Healthy", "9 of 10 sent, 1 failed", &ten, nil},
		{"sent", map[string]int64{"sent": 8}, true, "Healthy", "8 of 8 sent; 2 of 10 contacts not mailable", &ten, nil},
		{"failed", map[string]int64{"failed": 10}, true, "Degraded", "all 10 messages failed", &ten, nil},
		{"removed", map[string]int64{"sent": 1}, true, "Missing", "removed by an earlier revision; the daemon has not picked up this one yet", nil, nil},
		{"removed", nil, false, "Healthy", "removed from the plan before sending", nil, nil},
		{"failed", map[string]int64{"failed": 3}, false, "Degraded", "removed from the plan: all 3 messages failed", nil, nil},
	} {
		c := &campaignStatus{Status: tc.status, Messages: messageCounts(tc.m), Audience: tc.audience, SendAt: tc.sendAt}
		if h, m := campaignHealth(c, tc.inPlan); h != tc.health || m != tc.message {
			t.Errorf("campaignHealth(%s %v, in plan %v) = %s %q, want %s %q", tc.status, tc.m, tc.inPlan, h, m, tc.health, tc.message)
		}
	}
}

// A recurring (multiple-mode) autoresponder is shown like the others, with a
// line per issue its history names, not as "not run".
func TestStatusRecurringAutoresponder(t *testing.T) {
	t.Parallel()
	db, url := migratedDB(t)
	ctx := context.Background()
	st := &store.Store{DB: db}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	p := &plan.Plan{
		Models:    []plan.Model{{Name: "lead", Table: "crm_lead", Key: "id", Email: "email_from"}},
		Segments:  []plan.Segment{{Name: "all", Model: "lead", Filter: "true"}},
		Senders:   []plan.Sender{{Name: "news", From: "news@example.com"}},
		Templates: []plan.Template{{Name: "letter", Subject: "News", Text: "Hi", Class: plan.ClassMarketing}},
		Autoresponders: []plan.Autoresponder{{Name: "monthly", Model: "lead", Segment: "all", Sender: "news", Mode: "multiple",
			Start: "2026-01-01", Template: "letter", MaxFollowUps: 24, Recurrence: &plan.Recurrence{Unit: "monthly", Every: 1, DayOfMonth: 1}}},
	}
	p.Finalize()
	data, err := plan.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rev, err := st.InsertRevision(ctx, store.Revision{PlanHash: p.Hash, Plan: string(data), AppliedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	for i, key := range []string{"1", "2", "3"} {
		var id int64
		state := "active"
		if i == 2 {
			state = "exited"
		}
		if err := db.Get(&id, `INSERT INTO campaignctl.enrollments (kind, object, contact_key, occurrence, state, step_index, enrolled_at, revision_id, updated_at, exit_reason)
			VALUES ('autoresponder', 'monthly', $1, 1, $2, 2, $3, $4, $3, CASE WHEN $2 = 'exited' THEN 'responded' END) RETURNING id`, key, state, t0, rev); err != nil {
			t.Fatal(err)
		}
		for _, issue := range []string{"issue-2026-01-01", "issue-2026-02-01"} {
			db.MustExec(`INSERT INTO campaignctl.enrollment_steps (enrollment_id, step, action, at) VALUES ($1, $2, 'sent', $3)`, id, issue, t0)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"status", "--db", url, "--format", "json"}, &out, &errb); code != 0 {
		t.Fatalf("status: exit %d: %s", code, errb.String())
	}
	var doc struct {
		Objects []struct {
			Kind, Name, Health string
			Enrollments        *struct {
				Active int64 `json:"active"`
				Steps  []struct {
					Name string `json:"name"`
					Sent int64  `json:"sent"`
				} `json:"steps"`
			} `json:"enrollments"`
		} `json:"objects"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(doc.Objects) != 1 || doc.Objects[0].Health != "Progressing" || doc.Objects[0].Enrollments == nil {
		t.Fatalf("want one Progressing autoresponder with enrollments, got %s", out.String())
	}
	e := doc.Objects[0].Enrollments
	if e.Active != 2 || len(e.Steps) != 2 || e.Steps[0].Name != "issue-2026-01-01" || e.Steps[0].Sent != 3 || e.Steps[1].Sent != 3 {
		t.Errorf("want 2 active and two issues sent to 3 contacts each, got %s", out.String())
	}
}

// An object paused in the applied plan is Suspended, "paused in the plan",
// whatever it would be otherwise; its counts follow the reason.
func TestStatusPausedIsSuspended(t *testing.T) {
	t.Parallel()
	db, url := migratedDB(t)
	ctx := context.Background()
	st := &store.Store{DB: db}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	p := &plan.Plan{
		Models:    []plan.Model{{Name: "lead", Table: "crm_lead", Key: "id", Email: "email_from"}},
		Segments:  []plan.Segment{{Name: "all", Model: "lead", Filter: "true"}},
		Senders:   []plan.Sender{{Name: "news", From: "news@example.com"}},
		Templates: []plan.Template{{Name: "letter", Subject: "News", Text: "Hi", Class: plan.ClassMarketing}},
		Campaigns: []plan.Campaign{
			{Name: "held", Segment: "all", Template: "letter", Sender: "news", Class: plan.ClassMarketing, Paused: true},
			{Name: "running", Segment: "all", Template: "letter", Sender: "news", Class: plan.ClassMarketing},
		},
		Sequences: []plan.Sequence{{Name: "nurture", Model: "lead", Segment: "all", Sender: "news", Paused: true,
			Steps: []plan.SequenceStep{{Name: "one", Offset: "0d", Template: "letter"}, {Name: "two", Offset: "7d", Template: "letter"}}}},
	}
	p.Finalize()
	data, err := plan.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rev, err := st.InsertRevision(ctx, store.Revision{PlanHash: p.Hash, Plan: string(data), AppliedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	db.MustExec(`INSERT INTO campaignctl.enrollments (kind, object, contact_key, occurrence, state, step_index, enrolled_at, revision_id, updated_at, wake_at)
		VALUES ('sequence', 'nurture', '1', 1, 'active', 1, $1, $2, $1, $1)`, t0, rev)
	var out, errb bytes.Buffer
	if code := run([]string{"status", "--db", url, "--format", "json"}, &out, &errb); code != 0 {
		t.Fatalf("status: exit %d: %s", code, errb.String())
	}
	var doc struct {
		Objects []struct{ Kind, Name, Health, Message string } `json:"objects"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := map[string]string{}
	for _, o := range doc.Objects {
		got[o.Kind+" "+o.Name] = o.Health + " | " + o.Message
	}
	for key, want := range map[string]string{
		"campaign held":    "Suspended | paused in the plan",
		"campaign running": "Missing | ",
		"sequence nurture": "Suspended | paused in the plan; ",
	} {
		if !strings.HasPrefix(got[key], want) {
			t.Errorf("%s: %q, want it to start with %q", key, got[key], want)
		}
	}
	out.Reset()
	if code := run([]string{"status", "--db", url}, &out, &errb); code != 0 {
		t.Fatalf("status: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "Suspended") {
		t.Errorf("the text view does not say Suspended:\n%s", out.String())
	}
}
