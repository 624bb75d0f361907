package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// TestTimelineMergesEventsAndMessages checks lead 1's timeline from
// seedExplain: its events and the messages of every kind, in time order,
// without customer 1's (same key, another model) or a removed object's
// message to another address under the same key.
func TestTimelineMergesEventsAndMessages(t *testing.T) {
	t.Parallel()
	url := seedExplain(t)
	code, stdout, stderr := runSub(runTimeline, "--db", url, "lead:1")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	want := `lead:1 <ann@example.com>: 3 events, 3 messages
  TIME                  WHAT          OBJECT              STEP     DETAIL
  2026-02-15T10:00:00Z  message sent  campaign old_promo
  2026-03-01T09:00:05Z  message sent  sequence nurture    welcome  variant b
  2026-03-01T10:00:00Z  open          nurture             welcome
  2026-03-01T13:00:04Z  message sent  campaign winback
  2026-03-01T14:00:00Z  click         winback                      https://shop.example.com/sale
  2026-03-02T08:00:00Z  page_view                                  topic pricing, https://shop.example.com/pricing
`
	assertLines(t, stdout, want)

	// The latest N, saying that older ones were left out; flags after CONTACT.
	code, stdout, stderr = runSub(runTimeline, "lead:1", "--db", url, "--limit", "3")
	if code != 0 {
		t.Fatalf("--limit 3: exit %d, stderr:\n%s", code, stderr)
	}
	want = `lead:1 <ann@example.com>: the latest 3 entries (2 events, 1 message); older ones left out: raise --limit, or --limit 0 for all
  TIME                  WHAT          OBJECT            STEP  DETAIL
  2026-03-01T13:00:04Z  message sent  campaign winback
  2026-03-01T14:00:00Z  click         winback                 https://shop.example.com/sale
  2026-03-02T08:00:00Z  page_view                             topic pricing, https://shop.example.com/pricing
`
	assertLines(t, stdout, want)

	// A held message: placed when it was queued, saying what it waits for.
	code, stdout, stderr = runSub(runTimeline, "--db", url, "lead:3")
	if code != 0 {
		t.Fatalf("lead:3: exit %d, stderr:\n%s", code, stderr)
	}
	assertLines(t, stdout, `lead:3 <chika@example.com>: 1 event, 2 messages
  TIME                  WHAT             OBJECT            STEP     DETAIL
  2026-03-01T13:00:00Z  message pending  campaign winback           waiting: held by quiet hours until 08:00 local (21:00–08:00 in Asia/Tokyo), due again 2026-03-01T23:00:00Z
  2026-03-02T11:00:05Z  message sent     sequence nurture  welcome  variant a
  2026-03-02T12:00:00Z  open             nurture           welcome
`)
}

func TestTimelineJSONAndAddress(t *testing.T) {
	t.Parallel()
	url := seedExplain(t)
	code, stdout, stderr := runSub(runTimeline, "--db", url, "--format", "json", "ann@example.com")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var doc struct {
		FormatVersion int `json:"format_version"`
		Contacts      []struct {
			Model, Key, Email string
			Truncated         bool `json:"truncated"`
			Entries           []struct {
				At        time.Time  `json:"at"`
				Source    string     `json:"source"`
				Type      string     `json:"type"`
				Kind      string     `json:"kind"`
				Object    string     `json:"object"`
				Step      string     `json:"step"`
				Variant   string     `json:"variant"`
				Status    string     `json:"status"`
				CreatedAt *time.Time `json:"created_at"`
				SentAt    *time.Time `json:"sent_at"`
				Topic     string     `json:"topic"`
				URL       string     `json:"url"`
			} `json:"entries"`
		} `json:"contacts"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if doc.FormatVersion != 1 || len(doc.Contacts) != 2 {
		t.Fatalf("document: %+v", doc)
	}
	cust, lead := doc.Contacts[0], doc.Contacts[1]
	var got []string
	for _, e := range cust.Entries {
		got = append(got, e.At.Format(time.RFC3339)+" "+e.Source+" "+e.Type+e.Kind+" "+e.Object)
	}
	// customer 1: its vip message and open, and old_promo, which the plan no
	// longer declares and which went to its address; not the leads' winback
	// or nurture, nor old_news, which went to another address.
	if cust.Model != "customer" || cust.Key != "1" || cust.Truncated ||
		strings.Join(got, "|") != "2026-02-15T10:00:00Z message campaign old_promo|2026-03-01T13:05:00Z message campaign vip|2026-03-01T15:00:00Z event open vip" {
		t.Errorf("customer:1: %s %s %v %q", cust.Model, cust.Key, cust.Truncated, got)
	}
	if lead.Model != "lead" || len(lead.Entries) != 6 {
		t.Fatalf("lead:1: %+v", lead)
	}
	m := lead.Entries[1]
	if m.Source != "message" || m.Kind != "sequence" || m.Object != "nurture" || m.Step != "welcome" || m.Variant != "b" || m.Status != "sent" ||
		m.CreatedAt == nil || !m.CreatedAt.Equal(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)) || m.SentAt == nil || !m.SentAt.Equal(m.At) {
		t.Errorf("welcome message: %+v", m)
	}
	if e := lead.Entries[5]; e.Source != "event" || e.Type != "page_view" || e.Topic != "pricing" || e.URL != "https://shop.example.com/pricing" {
		t.Errorf("page view: %+v", e)
	}
}

func TestTimelineErrorsAndUsage(t *testing.T) {
	t.Parallel()
	url := seedExplain(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"leed:1"}, `contact "leed:1": unknown model "leed"`},
		{[]string{"lead:99"}, `contact lead:99: no row of crm_lead has id = "99"`},
		{[]string{"nobody"}, `contact "nobody" is neither MODEL:KEY`},
	} {
		code, stdout, stderr := runSub(runTimeline, append([]string{"--db", url}, tc.args...)...)
		if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "campaignctl timeline: "+tc.want) {
			t.Errorf("timeline %q: exit %d, stdout %q, stderr %q", tc.args, code, stdout, stderr)
		}
	}
	for _, args := range [][]string{
		{"--db", url},
		{"--db", url, "lead:1", "lead:2"},
		{"--db", url, "--limit", "-1", "lead:1"},
		{"--db", url, "--format", "csv", "lead:1"},
		{"--db", "", "lead:1"},
	} {
		if code, _, _ := runSub(runTimeline, args...); code != 2 {
			t.Errorf("timeline %q: exit %d, want 2", args, code)
		}
	}
	_, fresh := storetest.Open(t)
	if code, stdout, _ := runSub(runTimeline, "--db", fresh, "lead:1"); code != 0 || stdout != "nothing applied yet: run campaignctl apply\n" {
		t.Errorf("nothing applied: exit %d, stdout %q", code, stdout)
	}
}
