package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/abtest"
)

// The expectations below assume customer 1 is in ask_review's test group
// with variant b, as seedWorkflows' history says.
func TestExplainWorkflowSplitAssumptions(t *testing.T) {
	t.Parallel()
	_, p := workflowPlans()
	w, _ := planWorkflow(p, "review_request")
	if v, in := abtest.Assign("workflow", "review_request", "ask_review", "1", w.Steps[2].ABTest); v != "b" || !in {
		t.Fatalf("customer 1 gets %q (test group %v) of ask_review, the expectations assume b in the test group", v, in)
	}
}

// TestExplainWorkflow: every occurrence of customer 1 with the event that
// enrolled it, each step in the order taken (an advance's lines share their
// instant), the send and the owner notification, where the active one waits,
// the A/B side, and the property the workflow wrote (not another workflow's).
func TestExplainWorkflow(t *testing.T) {
	t.Parallel()
	url, _ := seedWorkflows(t)
	code, stdout, stderr := runSub(runExplain, "--db", url, "customer:1", "workflow/review_request")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	want := `customer:1 <ann@example.com>
  address: not suppressed

  workflow review_request
    trigger: nps_response event, topic "q1", filter int(event.score) >= 7; re-enrollment allowed after 30d
    enrollment: exited (completed) 2026-03-05T10:00:05Z, enrolled 2026-03-01T10:00:00Z
    enrolled by: nps_response event at 2026-03-01T09:59:00Z, topic "q1", properties comment="great" score=10
    history:
      2026-03-01T10:00:00Z  wait_1d     waited               until 2026-03-02T10:00:00Z
      2026-03-02T10:00:00Z  check       branched             int(event.score) >= 9 is true → ask_review
      2026-03-02T10:00:00Z  ask_review  sent      variant b  A/B test group: variant b
      2026-03-02T10:00:00Z  assign      assigned             customer.owner: round robin: sam@acme.example
      2026-03-02T10:00:05Z  notify      notified             owner notified with tips to sam@acme.example
      2026-03-02T10:00:05Z  wait_3d     waited               until 2026-03-05T10:00:05Z
      2026-03-05T10:00:05Z  done        exited               exit step done
    message ask_review (variant b): sent 2026-03-02T10:00:00Z (due 2026-03-02T10:00:00Z, 1 attempt), message-id <r1@example.com>, smtp 250 2.0.0 OK
    message notify (to owner sam@acme.example): sent 2026-03-02T10:00:05Z (due 2026-03-02T10:00:05Z, 1 attempt), message-id <n1@example.com>, smtp 250 2.0.0 OK
    enrollment (occurrence 2): active since 2026-04-05T10:00:00Z; next: check at 2026-04-06T10:00:00Z, when wait wait_1d ends
    enrolled by: nps_response event at 2026-04-05T09:58:00Z, topic "q1", properties comment="ok" score=9
    history:
      2026-04-05T10:00:00Z  wait_1d  waited    until 2026-04-06T10:00:00Z
    A/B test on ask_review: in the test group: variant b; not decided yet
    property customer.owner = "sam@acme.example" (written by step assign at 2026-03-02T10:00:00Z, occurrence 1)
`
	assertLines(t, stdout, want)

	// Without OBJECT, every workflow of the contact's model is explained.
	code, stdout, stderr = runSub(runExplain, "--db", url, "customer:1")
	if code != 0 {
		t.Fatalf("customer:1: exit %d, stderr:\n%s", code, stderr)
	}
	assertContainsLines(t, stdout, `
  workflow review_request
      2026-03-05T10:00:05Z  done        exited               exit step done
  workflow score_watch
    trigger: metric_threshold (a state of the contact), field score, threshold 80; re-enrollment not allowed
    enrollment: none: the trigger is metric_threshold, a state of the contact rather than an event: the daemon's leader enrolls contacts as they enter it (field score, threshold 80); explain does not evaluate that condition
`)
}

// TestExplainWorkflowNotEnrolled: why a contact never entered an
// event-triggered workflow, told from the stored events and the trigger's
// cursor.
func TestExplainWorkflowNotEnrolled(t *testing.T) {
	t.Parallel()
	url, _ := seedWorkflows(t)
	for contact, want := range map[string]string{
		// Its only q1 response predates the apply; a q2 one does not count.
		"customer:7": `    enrollment: none: no nps_response event with topic "q1" for customer:7 has arrived since the workflow was applied at 2026-03-01T09:00:00Z (1 earlier one arrived before: a workflow is triggered by events that arrive after it is applied)`,
		// Read by the trigger (the cursor passed it), not enrolled: the filter.
		"customer:8": `    enrollment: none: 1 nps_response event with topic "q1" since the workflow was applied at 2026-03-01T09:00:00Z, the latest at 2026-03-04T10:00:00Z; the trigger read them and enrolled no one: its filter int(event.score) >= 7 did not hold for them (explain does not evaluate it)`,
	} {
		code, stdout, stderr := runSub(runExplain, "--db", url, contact, "review_request")
		if code != 0 {
			t.Fatalf("%s: exit %d, stderr:\n%s", contact, code, stderr)
		}
		assertContainsLines(t, stdout, "  workflow review_request\n"+want+"\n    A/B test on ask_review: not enrolled, so in neither group; not decided yet\n")
	}
}

func TestExplainWorkflowJSON(t *testing.T) {
	t.Parallel()
	url, _ := seedWorkflows(t)
	code, stdout, stderr := runSub(runExplain, "--db", url, "--format", "json", "customer:1", "review_request")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var doc struct {
		Contacts []struct {
			InNothing bool `json:"in_nothing"`
			Objects   []struct {
				Kind, Name string
				Trigger    *struct {
					Event    string `json:"event"`
					State    bool   `json:"state"`
					Topic    string `json:"topic"`
					Filter   string `json:"filter"`
					Reenroll string `json:"reenroll"`
				} `json:"trigger"`
				Enrollments []struct {
					Occurrence int    `json:"occurrence"`
					State      string `json:"state"`
					ExitReason string `json:"exit_reason"`
					Next       *struct {
						Step   string     `json:"step"`
						WakeAt *time.Time `json:"wake_at"`
						InWait string     `json:"in_wait"`
					} `json:"next"`
					History []struct {
						At                            time.Time
						Step, Action, Variant, Detail string
					} `json:"history"`
					Messages []struct {
						Step, Status, To string
						MessageID        string `json:"message_id"`
					} `json:"messages"`
					TriggerEvent *struct {
						Type       string         `json:"type"`
						At         *time.Time     `json:"at"`
						Topic      string         `json:"topic"`
						Properties map[string]any `json:"properties"`
					} `json:"trigger_event"`
				} `json:"enrollments"`
				Properties []struct {
					Field      string    `json:"field"`
					Value      *string   `json:"value"`
					SetAt      time.Time `json:"set_at"`
					Step       string    `json:"step"`
					Occurrence int       `json:"occurrence"`
				} `json:"properties"`
				ABTests []struct {
					Step    string `json:"step"`
					InTest  bool   `json:"in_test"`
					Variant string `json:"variant"`
				} `json:"ab_tests"`
			} `json:"objects"`
		} `json:"contacts"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if len(doc.Contacts) != 1 || doc.Contacts[0].InNothing || len(doc.Contacts[0].Objects) != 1 {
		t.Fatalf("contacts: %+v", doc.Contacts)
	}
	o := doc.Contacts[0].Objects[0]
	if o.Kind != "workflow" || o.Name != "review_request" || o.Trigger == nil || o.Trigger.Event != "nps_response" || o.Trigger.State ||
		o.Trigger.Topic != "q1" || o.Trigger.Filter != "int(event.score) >= 7" || o.Trigger.Reenroll != "allowed after 30d" {
		t.Fatalf("object: %+v, trigger %+v", o, o.Trigger)
	}
	if len(o.Enrollments) != 2 {
		t.Fatalf("%d enrollments, want 2 occurrences", len(o.Enrollments))
	}
	first, second := o.Enrollments[0], o.Enrollments[1]
	var taken []string
	for _, h := range first.History {
		taken = append(taken, h.Step+" "+h.Action)
	}
	if want := "wait_1d waited|check branched|ask_review sent|assign assigned|notify notified|wait_3d waited|done exited"; strings.Join(taken, "|") != want {
		t.Errorf("occurrence 1 history %q, want %q", strings.Join(taken, "|"), want)
	}
	if first.Occurrence != 1 || first.State != "exited" || first.ExitReason != "completed" || first.Next != nil {
		t.Errorf("occurrence 1: %+v", first)
	}
	if h := first.History[1]; h.Detail != "int(event.score) >= 9 is true → ask_review" || !h.At.Equal(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("the branch line: %+v", h)
	}
	if m := first.Messages; len(m) != 2 || m[0].Step != "ask_review" || m[0].To != "" || m[0].MessageID != "<r1@example.com>" ||
		m[1].Step != "notify" || m[1].Status != "sent" || m[1].To != "sam@acme.example" {
		t.Errorf("occurrence 1 messages: %+v", m)
	}
	if e := first.TriggerEvent; e == nil || e.Type != "nps_response" || e.Topic != "q1" || e.At == nil ||
		!e.At.Equal(time.Date(2026, 3, 1, 9, 59, 0, 0, time.UTC)) || e.Properties["score"] != 10.0 || e.Properties["comment"] != "great" ||
		len(e.Properties) != 2 {
		t.Errorf("occurrence 1 trigger event: %+v", e)
	}
	if second.Occurrence != 2 || second.State != "active" || second.Next == nil || second.Next.Step != "check" || second.Next.InWait != "wait_1d" ||
		second.Next.WakeAt == nil || !second.Next.WakeAt.Equal(time.Date(2026, 4, 6, 10, 0, 0, 0, time.UTC)) ||
		len(second.History) != 1 || second.TriggerEvent == nil || second.TriggerEvent.Properties["score"] != 9.0 {
		t.Errorf("occurrence 2: %+v", second)
	}
	if p := o.Properties; len(p) != 1 || p[0].Field != "customer.owner" || p[0].Value == nil || *p[0].Value != "sam@acme.example" ||
		p[0].Step != "assign" || p[0].Occurrence != 1 {
		t.Errorf("properties (another workflow's write left out): %+v", p)
	}
	if a := o.ABTests; len(a) != 1 || a[0].Step != "ask_review" || !a[0].InTest || a[0].Variant != "b" {
		t.Errorf("A/B tests: %+v", a)
	}
}

func TestExplainWorkflowNextText(t *testing.T) {
	t.Parallel()
	wake := time.Date(2026, 3, 8, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		n    explainNext
		want string
	}{
		{explainNext{Index: 1, Step: "check", WakeAt: &wake, InWait: "wait_1d"}, "check at 2026-03-08T09:00:00Z, when wait wait_1d ends"},
		{explainNext{Index: 3, Step: "clicked", WakeAt: &wake, InWait: "clicked"}, "clicked, waiting there until 2026-03-08T09:00:00Z"},
		{explainNext{Index: 2, Step: "ask_review", WaitingForABDecision: "ask_review"}, "ask_review, waiting for the A/B decision on ask_review"},
	} {
		if got := nextText(&tc.n); got != tc.want {
			t.Errorf("nextText(%+v) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
