package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/abtest"
	"github.com/campaignctl/campaignctl/runtime/store"
)

var updateReportGolden = flag.Bool("update-report", false, "rewrite testdata/report/*.golden from the report's output")

func TestReportHealth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status string
		m      map[string]int64
		want   string
	}{
		{"sending", map[string]int64{"sent": 5, "pending": 5}, "Progressing"},
		{"scheduled", map[string]int64{}, "Progressing"},
		{"sending", map[string]int64{"sent": 5, "failed": 1, "pending": 5}, "Degraded"},
		{"sent", map[string]int64{"sent": 5, "failed": 1}, "Degraded"},
		{"failed", map[string]int64{"failed": 5}, "Degraded"},
		{"sent", map[string]int64{"sent": 5, "cancelled": 2}, "Healthy"},
		{"removed", map[string]int64{"sent": 5, "cancelled": 2}, "Healthy"},
	} {
		if got := health(tc.status, tc.m); got != tc.want {
			t.Errorf("health(%s, %v) = %s, want %s", tc.status, tc.m, got, tc.want)
		}
	}
}

// reportT0 is when the scripted population's first message went out.
var reportT0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// reportNow is the instant the golden outputs are rendered at: after the
// campaign's A/B test started, before it decides.
var reportNow = reportT0.Add(36 * time.Hour)

// reportPlan declares what the scripted population was sent by: a campaign
// with an A/B test not decided yet, a sequence whose first step's test is
// decided, a workflow (a send and an owner notification) and a recurring
// autoresponder.
func reportPlan() *plan.Plan {
	ab := func(metric string) *plan.ABTest {
		return &plan.ABTest{Variants: []plan.Variant{{Name: "a"}, {Name: "b", Subject: "Hey"}}, TestPercent: 20,
			Metric: metric, DecideAfter: "2d", Inconclusive: "send_first"}
	}
	p := &plan.Plan{
		Models:    []plan.Model{{Name: "lead", Table: "crm_lead", Key: "id", Email: "email_from"}},
		Segments:  []plan.Segment{{Name: "lost", Model: "lead", Filter: `lead.stage == "Lost"`}},
		Senders:   []plan.Sender{{Name: "sales", From: "sales@example.com"}},
		Templates: []plan.Template{{Name: "hello", Subject: "Hello", Text: "Hi", Class: plan.ClassMarketing}},
		Campaigns: []plan.Campaign{{Name: "launch", Segment: "lost", Template: "hello", Sender: "sales", Class: plan.ClassMarketing, ABTest: ab("click_rate")}},
		Sequences: []plan.Sequence{{Name: "nurture", Model: "lead", Segment: "lost", Sender: "sales", Goal: `lead.stage == "Won"`,
			Steps: []plan.SequenceStep{
				{Name: "welcome", Offset: "0s", Template: "hello", ABTest: ab("open_rate")},
				{Name: "week1", Offset: "7d", Template: "hello"},
			}}},
		Workflows: []plan.Workflow{{Name: "router", Type: "lead_nurturing", Model: "lead", Class: plan.ClassMarketing,
			Trigger: plan.Trigger{Event: "form_submit"},
			Steps: []plan.Step{
				{Name: "hello", Kind: plan.StepSend, Template: "hello"},
				{Name: "tell_owner", Kind: plan.StepNotifyOwner, Template: "hello"},
			}}},
		Autoresponders: []plan.Autoresponder{{Name: "monthly", Model: "lead", Segment: "lost", Sender: "sales", Mode: "multiple",
			Template: "hello", Recurrence: &plan.Recurrence{Unit: "month", Every: 1, DayOfMonth: 1}}},
	}
	p.Finalize()
	return p
}

// reportSeed writes a scripted population with plain SQL: every outcome a
// message can have, and around it engagement events that must and must not
// count. It returns the database.
func reportSeed(t *testing.T) (*sqlx.DB, string) {
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
	p := reportPlan()
	data, err := plan.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := st.InsertRevision(ctx, store.Revision{PlanHash: p.Hash, Plan: string(data), AppliedAt: reportT0.Add(-time.Hour), AppliedBy: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	db.MustExec(`INSERT INTO campaignctl.campaigns (name, hash, revision_id, status, audience, materialized_at, created_at, updated_at)
		VALUES ('launch', 'h', $1, 'sending', 240, $2, $2, $2)`, rev, reportT0)

	s := &reportSeeder{t: t, db: db, rev: rev, rnd: rand.New(rand.NewPCG(12, 2026))}

	// The campaign: 120 test messages split a/b, 30 of the remainder held
	// for the decision (variant ''), with every outcome.
	for i := range 150 {
		key := fmt.Sprintf("c%03d", i)
		variant := []string{"a", "b"}[i%2]
		if i >= 120 {
			s.message(msg{kind: "campaign", object: "launch", key: key, status: "pending"})
			continue
		}
		s.randomMessage(msg{kind: "campaign", object: "launch", variant: variant, key: key, at: reportT0.Add(time.Duration(i) * time.Minute)}, 0)
	}
	// The sequence: 80 enrollments; welcome tested a/b, week1 for those
	// still there; some reach the goal after welcome, after week1, or
	// before any message.
	for i := range 80 {
		key := fmt.Sprintf("n%03d", i)
		exit, exitAt := "", time.Time{}
		welcomeAt := reportT0.Add(time.Duration(i) * time.Minute)
		week1At := welcomeAt.Add(7 * 24 * time.Hour)
		switch {
		case i%11 == 0:
			exit, exitAt = "goal", welcomeAt.Add(-time.Minute) // before any message
		case i%7 == 0:
			exit, exitAt = "goal", welcomeAt.Add(2*24*time.Hour) // after welcome
		case i%5 == 0:
			exit, exitAt = "goal", week1At.Add(time.Hour) // after week1
		case i%13 == 0:
			exit, exitAt = "completed", week1At.Add(time.Hour)
		}
		en := s.enrollment("sequence", "nurture", key, 1, exit, exitAt)
		if exit == "goal" && exitAt.Before(welcomeAt) {
			continue
		}
		s.randomMessage(msg{kind: "sequence", object: "nurture", step: "welcome", variant: []string{"a", "b"}[i%2], key: key, occurrence: 1, enrollment: en, at: welcomeAt}, 1)
		if exit == "goal" && exitAt.Before(week1At) {
			continue
		}
		s.randomMessage(msg{kind: "sequence", object: "nurture", step: "week1", key: key, occurrence: 1, enrollment: en, at: week1At}, 1)
	}
	// The workflow: 20 contacts, each notified to its owner too (internal
	// mail, not a send to the contact); w000 enrolled twice.
	for i := range 20 {
		key := fmt.Sprintf("w%03d", i)
		at := reportT0.Add(time.Duration(i) * time.Hour)
		en := s.enrollment("workflow", "router", key, 1, "", time.Time{})
		s.randomMessage(msg{kind: "workflow", object: "router", step: "hello", key: key, occurrence: 1, enrollment: en, at: at}, 1)
		s.message(msg{kind: "workflow", object: "router", step: "tell_owner", key: key, occurrence: 1, enrollment: en, status: "sent", at: at, class: "internal"})
	}
	// The autoresponder: two monthly issues to 15 contacts.
	for i := range 15 {
		key := fmt.Sprintf("m%03d", i)
		en := s.enrollment("autoresponder", "monthly", key, 1, "", time.Time{})
		for j, issue := range []string{"issue-2026-03-01", "issue-2026-04-01"} {
			s.randomMessage(msg{kind: "autoresponder", object: "monthly", step: issue, key: key, occurrence: 1, enrollment: en,
				at: reportT0.AddDate(0, j, 0).Add(time.Duration(i) * time.Minute)}, 1)
		}
	}

	// Hand-placed edge cases on top.
	s.edgeCases()

	// The sequence's welcome test was decided, with the verdict the engine
	// stores.
	verdict, err := abtest.Decide(p.Sequences[0].Steps[0].ABTest, []abtest.Count{{Variant: "a", Sent: 38, Successes: 20}, {Variant: "b", Sent: 37, Successes: 9}})
	if err != nil {
		t.Fatal(err)
	}
	detail, _ := json.Marshal(verdict)
	db.MustExec(`INSERT INTO campaignctl.ab_decisions (kind, object, step, decided_at, winner, decision, significant, p_value, metric, reason, detail)
		VALUES ('sequence', 'nurture', 'welcome', $1, $2, $3, $4, $5, 'open_rate', $6, $7)`,
		reportT0.Add(50*time.Hour), verdict.Winner, verdict.Decision, verdict.Significant, verdict.PValue, verdict.Reason, string(detail))
	return db, url
}

type reportSeeder struct {
	t   *testing.T
	db  *sqlx.DB
	rev int64
	rnd *rand.Rand
}

type msg struct {
	kind, object, step, variant, key string
	occurrence                       int
	enrollment                       any
	status, lastSMTP, class          string
	at                               time.Time // sent_at for a sent message
}

func (s *reportSeeder) message(m msg) {
	s.t.Helper()
	if m.class == "" {
		m.class = "marketing"
	}
	var sentAt any
	if m.status == "sent" {
		sentAt = m.at
	}
	due := m.at
	if due.IsZero() {
		due = store.HeldForDecision
	}
	s.db.MustExec(`INSERT INTO campaignctl.outbox (kind, campaign, step, variant, contact_key, email, email_normalized, status,
			occurrence, enrollment_id, due_at, created_at, sent_at, last_smtp, class)
		VALUES ($1, $2, $3, $4, $5, $5 || '.' || $9::int || '@example.com', $5 || '.' || $9::int || '@example.com', $6, $9::int, $7, $8, $8, $10, nullif($11, ''), $12)`,
		m.kind, m.object, m.step, m.variant, m.key, m.status, m.enrollment, due, m.occurrence, sentAt, m.lastSMTP, m.class)
}

func (s *reportSeeder) enrollment(kind, object, key string, occurrence int, exit string, exitAt time.Time) int64 {
	s.t.Helper()
	state := "active"
	var exited any
	if exit != "" {
		state, exited = "exited", exitAt
	}
	var id int64
	if err := s.db.Get(&id, `INSERT INTO campaignctl.enrollments (kind, object, contact_key, email, email_normalized, occurrence, state,
			enrolled_at, revision_id, exit_reason, exited_at, updated_at)
		VALUES ($1, $2, $3, $3 || '.' || $4::int || '@example.com', $3 || '.' || $4::int || '@example.com', $4::int, $5, $6, $7, nullif($8, ''), $9, $6)
		RETURNING id`, kind, object, key, occurrence, state, reportT0.Add(-2*time.Hour), s.rev, exit, exited); err != nil {
		s.t.Fatal(err)
	}
	return id
}

// event stores one event; props may be nil.
func (s *reportSeeder) event(model, key, typ, object, step string, at time.Time, props map[string]any) {
	s.t.Helper()
	if props == nil {
		props = map[string]any{}
	}
	js, _ := json.Marshal(props)
	s.db.MustExec(`INSERT INTO campaignctl.events (occurred_at, model, contact_key, type, campaign, step, properties)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, at, model, key, typ, object, step, string(js))
}

// randomMessage gives m an outcome (mostly sent) and, when sent, a random
// mix of events: repeated opens, machine opens, clicks with and without an
// open, replies, bounces after opens, complaints, and noise that must not
// count (before the send, another step, another model, another kind).
func (s *reportSeeder) randomMessage(m msg, occurrence int) {
	r := s.rnd
	switch x := r.IntN(100); {
	case x < 5:
		m.status, m.lastSMTP = "failed", "rcpt 550 5.1.1" // hard bounce, synchronous
	case x < 7:
		m.status, m.lastSMTP = "failed", "data 554 5.7.1" // rejected at DATA: a bounce too
	case x < 9:
		m.status, m.lastSMTP = "failed", "rcpt 451 4.7.1" // given up after retries: not sent
	case x < 10:
		m.status = "failed" // never composed: not sent
	case x < 13:
		m.status = "pending"
	case x < 15:
		m.status = "cancelled"
	default:
		m.status = "sent"
	}
	s.message(m)
	model, p := "lead", map[string]any{}
	at := m.at
	after := func() time.Time { return at.Add(time.Duration(1+r.IntN(3000)) * time.Minute) }
	if r.IntN(4) == 0 {
		// Tracked events carry the kind and occurrence.
		p = map[string]any{"kind": m.kind, "occurrence": occurrence}
	}
	with := func(k string, v any) map[string]any {
		out := map[string]any{k: v}
		for a, b := range p {
			out[a] = b
		}
		return out
	}
	if m.status != "sent" {
		if r.IntN(3) == 0 { // events naming an unsent message never count
			s.event(model, m.key, "open", m.object, m.step, reportT0.Add(time.Hour), p)
		}
		return
	}
	if r.IntN(2) == 0 {
		for range 1 + r.IntN(4) { // one open loaded several times
			s.event(model, m.key, "open", m.object, m.step, after(), p)
		}
	}
	if r.IntN(6) == 0 {
		s.event(model, m.key, "open", m.object, m.step, after(), with("machine", true))
	}
	if r.IntN(5) == 0 {
		s.event(model, m.key, "click", m.object, m.step, after(), p)
	}
	if r.IntN(12) == 0 {
		s.event(model, m.key, "click", m.object, m.step, after(), with("machine", true))
	}
	if r.IntN(8) == 0 {
		s.event(model, m.key, "reply", m.object, m.step, after(), p)
	}
	if r.IntN(15) == 0 {
		s.event(model, m.key, "bounce", m.object, m.step, after(), p)
	}
	if r.IntN(25) == 0 {
		s.event(model, m.key, "complaint", m.object, m.step, after(), p)
	}
	// Noise.
	if r.IntN(6) == 0 {
		s.event(model, m.key, "open", m.object, m.step, at.Add(-time.Minute), nil) // before the send
	}
	if r.IntN(8) == 0 {
		s.event(model, m.key, "click", m.object, "other_step", after(), nil)
	}
	if r.IntN(8) == 0 {
		s.event("customer", m.key, "reply", m.object, m.step, after(), nil) // same key, another model
	}
	if r.IntN(8) == 0 {
		s.event(model, m.key, "open", m.object, m.step, after(), map[string]any{"kind": "nope"}) // another kind's
	}
	if r.IntN(8) == 0 {
		s.event(model, m.key, "page_view", m.object, m.step, after(), nil)
	}
}

// edgeCases places Odoo's edge cases by hand, so each is there whatever the
// random draw.
func (s *reportSeeder) edgeCases() {
	at := reportT0.Add(100 * time.Hour)
	en := func(key string, occ int) int64 { return s.enrollment("workflow", "router", key, occ, "", time.Time{}) }
	send := func(key, variant string, occ int, e int64, sent time.Time) {
		s.message(msg{kind: "workflow", object: "router", step: "hello", variant: variant, key: key, occurrence: occ, enrollment: e, status: "sent", at: sent})
	}
	// A bounced message is not received, even if it was opened first.
	send("edge_bounced", "", 1, en("edge_bounced", 1), at)
	s.event("lead", "edge_bounced", "open", "router", "hello", at.Add(time.Minute), nil)
	s.event("lead", "edge_bounced", "bounce", "router", "hello", at.Add(2*time.Minute), nil)
	// A reply without an open counts as opened; a click without an open too.
	send("edge_reply", "", 1, en("edge_reply", 1), at)
	s.event("lead", "edge_reply", "reply", "router", "hello", at.Add(time.Hour), nil)
	send("edge_click", "", 1, en("edge_click", 1), at)
	s.event("lead", "edge_click", "click", "router", "hello", at.Add(time.Hour), nil)
	// Ten pixel loads are one open; a machine open alone is not an open.
	send("edge_ten", "", 1, en("edge_ten", 1), at)
	for i := range 10 {
		s.event("lead", "edge_ten", "open", "router", "hello", at.Add(time.Duration(i+1)*time.Minute), nil)
	}
	send("edge_machine", "", 1, en("edge_machine", 1), at)
	s.event("lead", "edge_machine", "open", "router", "hello", at.Add(time.Second), map[string]any{"machine": true, "machine_reason": "prefetch"})
	// Re-enrolled: the open after the first send is the first occurrence's,
	// the click after the second send the second's only.
	send("edge_again", "", 1, en("edge_again", 1), at)
	send("edge_again", "", 2, en("edge_again", 2), at.Add(48*time.Hour))
	s.event("lead", "edge_again", "open", "router", "hello", at.Add(time.Hour), nil)
	s.event("lead", "edge_again", "click", "router", "hello", at.Add(49*time.Hour), nil)
	// A tracked open of another occurrence does not count for this one.
	send("edge_occ", "", 1, en("edge_occ", 1), at)
	s.event("lead", "edge_occ", "open", "router", "hello", at.Add(time.Hour), map[string]any{"kind": "workflow", "occurrence": 3})
}

// reportOracle is the hand-written SQL the report must agree with: per
// message, correlated EXISTS over the events (no window functions, no
// lateral, no aggregation before the flags), then the counts and Odoo's
// percentages by grouping sets at the object, step and variant levels.
const reportOracle = `
WITH objects(kind, object, model) AS (VALUES
    ('campaign', 'launch', 'lead'), ('sequence', 'nurture', 'lead'), ('workflow', 'router', 'lead'), ('autoresponder', 'monthly', 'lead')),
msg AS (
    SELECT o.*, ob.model,
           o.status = 'failed' AND o.last_smtp IS NOT NULL AND substring(o.last_smtp from ' (\d)\d\d') = '5' AS sync_bounce
    FROM campaignctl.outbox o JOIN objects ob ON ob.kind = o.kind AND ob.object = o.campaign
    WHERE o.class <> 'internal'
),
ev AS (
    -- events that belong to a sent message: its model, contact, object and
    -- step, at or after its send and before the same step's next send to the
    -- contact; a tracked event's kind and occurrence must match.
    SELECT m.id AS msg_id, e.type, coalesce((e.properties->>'machine')::bool, false) AS machine
    FROM msg m JOIN campaignctl.events e
      ON e.model = m.model AND e.contact_key = m.contact_key AND e.campaign = m.campaign AND e.step = m.step
     AND e.occurred_at >= m.sent_at
     AND NOT EXISTS (SELECT 1 FROM campaignctl.outbox n
                     WHERE n.kind = m.kind AND n.campaign = m.campaign AND n.step = m.step AND n.contact_key = m.contact_key
                       AND n.sent_at > m.sent_at AND n.sent_at <= e.occurred_at)
     AND (NOT e.properties ? 'kind' OR e.properties->>'kind' = m.kind)
     AND (NOT e.properties ? 'occurrence' OR (e.properties->>'occurrence')::int = m.occurrence)
    WHERE m.status = 'sent'
),
f AS (
    SELECT m.kind, m.campaign, m.step, m.variant,
      (m.status = 'sent' OR m.sync_bounce) AS is_sent,
      (m.sync_bounce OR EXISTS (SELECT 1 FROM ev WHERE msg_id = m.id AND type = 'bounce')) AS is_bounced,
      EXISTS (SELECT 1 FROM ev WHERE msg_id = m.id AND ((type IN ('open', 'click') AND NOT machine) OR type = 'reply')) AS is_opened,
      EXISTS (SELECT 1 FROM ev WHERE msg_id = m.id AND type = 'click' AND NOT machine) AS is_clicked,
      EXISTS (SELECT 1 FROM ev WHERE msg_id = m.id AND type = 'reply') AS is_replied,
      EXISTS (SELECT 1 FROM ev WHERE msg_id = m.id AND type = 'complaint') AS is_complained,
      EXISTS (SELECT 1 FROM ev WHERE msg_id = m.id AND type IN ('open', 'click') AND machine) AS is_machine,
      m.status, m.sync_bounce
    FROM msg m
),
g AS (
    SELECT f.*, is_sent AND NOT is_bounced AS is_received FROM f
),
counts AS (
    SELECT kind, campaign, step, variant, GROUPING(step, variant) AS lvl,
      sum(is_sent::int) AS sent,
      sum(is_received::int) AS received,
      sum((is_received AND is_opened)::int) AS opened,
      sum((is_received AND is_clicked)::int) AS clicked,
      sum((is_received AND is_replied)::int) AS replied,
      sum(is_bounced::int) AS bounced,
      sum((is_received AND NOT is_opened)::int) AS ignored,
      sum((is_received AND is_machine AND NOT is_opened)::int) AS machine,
      sum((is_received AND is_complained)::int) AS complained,
      sum((status = 'pending')::int) AS pending,
      sum((status = 'failed' AND NOT sync_bounce)::int) AS failed,
      sum((status = 'cancelled')::int) AS cancelled
    FROM g
    GROUP BY GROUPING SETS ((kind, campaign), (kind, campaign, step), (kind, campaign, step, variant))
)
SELECT kind, campaign, coalesce(step, '') AS step, coalesce(variant, '') AS variant,
  CASE lvl WHEN 3 THEN 'object' WHEN 1 THEN 'step' ELSE 'variant' END AS level,
  sent, received, opened, clicked, replied, bounced, ignored, machine, complained, pending, failed, cancelled,
  100.0 * received / nullif(sent, 0) AS received_pct,
  100.0 * opened / nullif(received, 0) AS opened_pct,
  100.0 * clicked / nullif(received, 0) AS clicked_pct,
  100.0 * replied / nullif(received, 0) AS replied_pct,
  100.0 * bounced / nullif(sent, 0) AS bounced_pct,
  100.0 * ignored / nullif(received, 0) AS ignored_pct,
  100.0 * machine / nullif(received, 0) AS machine_pct,
  100.0 * complained / nullif(received, 0) AS complained_pct
FROM counts`

type oracleRow struct {
	Kind, Campaign, Step, Variant, Level                                               string
	Sent, Received, Opened, Clicked, Replied, Bounced, Ignored, Machine, Complained    int64
	Pending, Failed, Cancelled                                                         int64
	ReceivedPct, OpenedPct, ClickedPct, RepliedPct, BouncedPct, IgnoredPct, MachinePct *float64
	ComplainedPct                                                                      *float64
}

// readReportOracle runs reportOracle.
func readReportOracle(t *testing.T, db *sqlx.DB) []oracleRow {
	t.Helper()
	var want []oracleRow
	rows, err := db.Queryx(reportOracle)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r oracleRow
		if err := rows.Scan(&r.Kind, &r.Campaign, &r.Step, &r.Variant, &r.Level, &r.Sent, &r.Received, &r.Opened, &r.Clicked, &r.Replied,
			&r.Bounced, &r.Ignored, &r.Machine, &r.Complained, &r.Pending, &r.Failed, &r.Cancelled,
			&r.ReceivedPct, &r.OpenedPct, &r.ClickedPct, &r.RepliedPct, &r.BouncedPct, &r.IgnoredPct, &r.MachinePct, &r.ComplainedPct); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return want
}

// reportGoalsOracle: per goal exit, the step and variant of the last message
// sent to the enrollment at or before the exit, by correlated subquery.
const reportGoalsOracle = `
SELECT en.kind, en.object,
  coalesce((SELECT o.step FROM campaignctl.outbox o WHERE o.enrollment_id = en.id AND o.status = 'sent' AND o.class <> 'internal'
            AND o.sent_at <= en.exited_at ORDER BY o.sent_at DESC, o.id DESC LIMIT 1), '') AS step,
  coalesce((SELECT o.variant FROM campaignctl.outbox o WHERE o.enrollment_id = en.id AND o.status = 'sent' AND o.class <> 'internal'
            AND o.sent_at <= en.exited_at ORDER BY o.sent_at DESC, o.id DESC LIMIT 1), '') AS variant,
  count(*) OVER (PARTITION BY en.kind, en.object) AS object_goals,
  (SELECT count(*) FROM campaignctl.enrollments x WHERE x.kind = en.kind AND x.object = en.object) AS enrolled
FROM campaignctl.enrollments en
WHERE en.exit_reason = 'goal'`

// TestReportMatchesHandWrittenSQL checks every count and every percentage of
// every object, step and variant of `report --format json` against
// reportOracle over the scripted population, and the goals against
// reportGoalsOracle.
func TestReportMatchesHandWrittenSQL(t *testing.T) {
	t.Parallel()
	db, url := reportSeed(t)
	code, stdout, stderr := runSub(runReport, "--db", url, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var doc reportDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.FormatVersion != 1 || len(doc.Objects) != 4 {
		t.Fatalf("format_version %d, %d objects; want 1 and 4", doc.FormatVersion, len(doc.Objects))
	}
	if len(doc.NotMeasured) != 4 || doc.NotMeasured[0].Metric != "leads" {
		t.Errorf("not_measured = %+v, want leads, quotations, invoiced, revenue", doc.NotMeasured)
	}

	got := map[string]reportNumbers{}
	for _, o := range doc.Objects {
		got[o.Kind+"/"+o.Name+"/object//"] = o.Totals
		for _, s := range o.Steps {
			got[o.Kind+"/"+o.Name+"/step/"+s.Name+"/"] = s.Numbers
			for _, v := range s.Variants {
				got[o.Kind+"/"+o.Name+"/variant/"+s.Name+"/"+v.Name] = v.Numbers
			}
		}
	}
	want := readReportOracle(t, db)
	checked := 0
	for _, w := range want {
		k := w.Kind + "/" + w.Campaign + "/" + w.Level + "/" + w.Step + "/" + w.Variant
		if w.Level == "object" {
			k = w.Kind + "/" + w.Campaign + "/object//"
		}
		if w.Level == "variant" {
			// The report splits a step by variant only when it carries variants.
			if _, ok := got[k]; !ok && w.Variant == "" {
				continue
			}
		}
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: in the oracle, not in the report", k)
			continue
		}
		checked++
		for _, c := range []struct {
			name      string
			got, want int64
			gotPct    *float64
			wantPct   *float64
		}{
			{"sent", g.Sent, w.Sent, nil, nil},
			{"received", g.Received.Count, w.Received, g.Received.Percent, w.ReceivedPct},
			{"opened", g.Opened.Count, w.Opened, g.Opened.Percent, w.OpenedPct},
			{"clicked", g.Clicked.Count, w.Clicked, g.Clicked.Percent, w.ClickedPct},
			{"replied", g.Replied.Count, w.Replied, g.Replied.Percent, w.RepliedPct},
			{"bounced", g.Bounced.Count, w.Bounced, g.Bounced.Percent, w.BouncedPct},
			{"ignored", g.Ignored.Count, w.Ignored, g.Ignored.Percent, w.IgnoredPct},
			{"machine_opened", g.MachineOpened.Count, w.Machine, g.MachineOpened.Percent, w.MachinePct},
			{"complained", g.Complained.Count, w.Complained, g.Complained.Percent, w.ComplainedPct},
			{"pending", g.NotSent.Pending, w.Pending, nil, nil},
			{"failed", g.NotSent.Failed, w.Failed, nil, nil},
			{"cancelled", g.NotSent.Cancelled, w.Cancelled, nil, nil},
		} {
			if c.got != c.want {
				t.Errorf("%s: %s = %d, the hand-written SQL says %d", k, c.name, c.got, c.want)
			}
			if !samePct(c.gotPct, c.wantPct) {
				t.Errorf("%s: %s%% = %s, the hand-written SQL says %s", k, c.name, fmtPct(c.gotPct), fmtPct(c.wantPct))
			}
		}
	}
	// Every row the report shows has a counterpart (plan steps with no
	// message at all are zero rows the oracle cannot produce).
	if checked < 15 {
		t.Errorf("only %d rows compared; the population is too thin", checked)
	}

	// Goals, attributed to the last message sent before the exit.
	type goalKey struct{ kind, object, step, variant string }
	wantGoals, wantVariantGoals := map[goalKey]int64{}, map[goalKey]int64{}
	wantObject := map[goalKey][2]int64{}
	grows, err := db.Queryx(reportGoalsOracle)
	if err != nil {
		t.Fatal(err)
	}
	for grows.Next() {
		var kind, object, step, variant string
		var objGoals, enrolled int64
		if err := grows.Scan(&kind, &object, &step, &variant, &objGoals, &enrolled); err != nil {
			t.Fatal(err)
		}
		wantGoals[goalKey{kind, object, step, ""}]++
		wantVariantGoals[goalKey{kind, object, step, variant}]++
		wantObject[goalKey{kind, object, "", ""}] = [2]int64{objGoals, enrolled}
	}
	if err := grows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(wantObject) == 0 {
		t.Fatal("the population has no goal exits")
	}
	for _, o := range doc.Objects {
		if o.Kind == "campaign" {
			if o.Totals.Goals != nil || o.Enrolled != nil {
				t.Errorf("campaign %s: goals %v, enrolled %v; want none (a campaign has no goal)", o.Name, o.Totals.Goals, o.Enrolled)
			}
			continue
		}
		w := wantObject[goalKey{o.Kind, o.Name, "", ""}]
		var enrolled int64
		db.Get(&enrolled, `SELECT count(*) FROM campaignctl.enrollments WHERE kind = $1 AND object = $2`, o.Kind, o.Name)
		if o.Enrolled == nil || *o.Enrolled != enrolled || o.Totals.Goals.Count != w[0] || !samePct(o.Totals.Goals.Percent, pctOf(w[0], enrolled)) {
			t.Errorf("%s %s: enrolled %v, goals %+v; want %d enrolled, %d goals", o.Kind, o.Name, o.Enrolled, o.Totals.Goals, enrolled, w[0])
		}
		if o.GoalsBeforeFirstSend != wantGoals[goalKey{o.Kind, o.Name, "", ""}] {
			t.Errorf("%s %s: goals before the first send = %d, want %d", o.Kind, o.Name, o.GoalsBeforeFirstSend, wantGoals[goalKey{o.Kind, o.Name, "", ""}])
		}
		for _, s := range o.Steps {
			wg := wantGoals[goalKey{o.Kind, o.Name, s.Name, ""}]
			if s.Numbers.Goals.Count != wg || !samePct(s.Numbers.Goals.Percent, pctOf(wg, s.Numbers.Received.Count)) {
				t.Errorf("%s %s / %s: goals %d (%s), want %d", o.Kind, o.Name, s.Name, s.Numbers.Goals.Count, fmtPct(s.Numbers.Goals.Percent), wg)
			}
			for _, v := range s.Variants {
				if wv := wantVariantGoals[goalKey{o.Kind, o.Name, s.Name, v.Name}]; v.Numbers.Goals.Count != wv {
					t.Errorf("%s %s / %s / %s: goals %d, want %d", o.Kind, o.Name, s.Name, v.Name, v.Numbers.Goals.Count, wv)
				}
			}
		}
	}

	// The hand-placed edge cases, one message each, read back by step
	// numbers would drown in the random ones: check them alone through NAME.
	if got["sequence/nurture/object//"].Sent == 0 || got["workflow/router/step/hello/"].Sent == 0 {
		t.Fatal("empty report")
	}
}

// TestReportEdgeCases runs the report over the hand-placed messages alone
// and checks Odoo's edge cases by name: a bounced message is not received
// (its open does not count), a reply or a click without an open counts as
// opened, ten pixel loads are one open, a machine open alone is not one, a
// re-enrollment's events go to the right occurrence.
func TestReportEdgeCases(t *testing.T) {
	t.Parallel()
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
	p := reportPlan()
	data, _ := plan.Encode(p)
	rev, err := st.InsertRevision(ctx, store.Revision{PlanHash: p.Hash, Plan: string(data), AppliedAt: reportT0})
	if err != nil {
		t.Fatal(err)
	}
	s := &reportSeeder{t: t, db: db, rev: rev}
	s.edgeCases()
	doc, err := readReport(ctx, st, "router", reportNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Objects) != 1 {
		t.Fatalf("%d objects for NAME router, want 1", len(doc.Objects))
	}
	n := doc.Objects[0].Steps[0].Numbers
	// 8 messages: edge_bounced, edge_reply, edge_click, edge_ten,
	// edge_machine, edge_again ×2, edge_occ.
	// edge_bounced is sent and bounced, not received; edge_reply, edge_click,
	// edge_ten and both occurrences of edge_again are opened (the second by
	// its click); edge_machine and edge_occ are ignored.
	want := map[string]int64{"sent": 8, "received": 7, "bounced": 1, "opened": 5, "clicked": 2,
		"replied": 1, "machine_opened": 1, "ignored": 2}
	got := map[string]int64{"sent": n.Sent, "received": n.Received.Count, "bounced": n.Bounced.Count, "opened": n.Opened.Count,
		"clicked": n.Clicked.Count, "replied": n.Replied.Count, "machine_opened": n.MachineOpened.Count, "ignored": n.Ignored.Count}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %d, want %d", k, got[k], w)
		}
	}
	if p := n.Opened.Percent; p == nil || math.Abs(*p-100*5.0/7) > 1e-9 {
		t.Errorf("opened%% = %s, want 5 of 7 received", fmtPct(p))
	}
	if p := n.Bounced.Percent; p == nil || math.Abs(*p-100*1.0/8) > 1e-9 {
		t.Errorf("bounced%% = %s, want 1 of 8 sent", fmtPct(p))
	}
}

func samePct(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return math.Abs(*a-*b) < 1e-9
}

func fmtPct(p *float64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprintf("%.6f", *p)
}

func pctOf(n, of int64) *float64 {
	if of == 0 {
		return nil
	}
	p := 100 * float64(n) / float64(of)
	return &p
}

// TestReportGolden renders the scripted population in text, markdown and csv
// and compares with testdata/report/*.golden (rewrite them with
// go test ./cmd/campaignctl -run TestReportGolden -update-report, and review
// the diff like code).
func TestReportGolden(t *testing.T) {
	t.Parallel()
	_, url := reportSeed(t)
	ctx := context.Background()
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	doc, err := readReport(ctx, st, "", reportNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"text", "markdown", "csv"} {
		var b bytes.Buffer
		if err := writeReport(&b, doc, format); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "report", "all."+format+".golden")
		if *updateReportGolden {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update-report to create it)", err)
		}
		if got := b.String(); got != string(want) {
			t.Errorf("%s output differs from %s:\n%s", format, path, lineDiff(string(want), got))
		}
	}
}

// lineDiff shows the first lines where want and got differ.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(wl), len(gl)) && shown < 10; i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, w, g)
			shown++
		}
	}
	return b.String()
}

// TestReportUsage checks the usage errors.
func TestReportUsage(t *testing.T) {
	t.Parallel()
	if code, _, stderr := runSub(runReport, "--db", "postgres://nowhere", "--format", "xml"); code != 2 || !strings.Contains(stderr, "want text, json, markdown or csv") {
		t.Errorf("--format xml: exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := runSub(runReport, "--db", "postgres://nowhere", "a", "b"); code != 2 {
		t.Errorf("two names: exit %d, want 2", code)
	}
}
