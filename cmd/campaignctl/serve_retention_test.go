package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtpcapture"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

const retentionCampaigns = `
model "person" {
  table = "retention_person"
  key   = "id"
  email = "email"
  field "name" { type = "string" }
}

segment "recent" {
  model  = "person"
  filter = "person.clicked(days(30))"
}

sender "s" {
  from = "News <news@acme.example>"
}

policy "default" {
  event_retention = "60d"
}

template "news" {
  subject = "News"
  text    = "Hi {{ .person.name }}. {{ .unsubscribe_url }}"
}

campaign "news" {
  segment  = "recent"
  template = "news"
  sender   = "s"
}
`

// The daemon, from a plan compiled from HCL: its leader drops the event
// months entirely before the simulated clock minus the policy's 60 days, logs
// each, keeps their counts, and the recent events (which the segment reads)
// are intact, so the campaign still reaches the contact who clicked.
func TestServeDropsExpiredEventMonths(t *testing.T) {
	t.Parallel()
	db, url := storetest.Open(t)
	db.MustExec(`CREATE TABLE retention_person (id bigint PRIMARY KEY, email text, name text);
		INSERT INTO retention_person VALUES (1, 'recent@example.com', 'Recent'), (2, 'old@example.com', 'Old')`)
	dir := t.TempDir()
	src := filepath.Join(dir, "campaigns")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "main.hcl"), []byte(retentionCampaigns), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := smtpcapture.New(filepath.Join(dir, "mail"))
	addr, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	planPath := filepath.Join(dir, "plan.json")
	mustRun(t, 0, "plan", "--no-git", "-o", planPath, src)
	mustRun(t, 0, "migrate", "--db", url)
	mustRun(t, 0, "apply", "--db", url, planPath)
	// One click a month from January to November 2026 by person 2, and one
	// on 2026-11-25 by person 1.
	db.MustExec(`INSERT INTO campaignctl.events (occurred_at, model, contact_key, type, campaign)
		SELECT m + interval '12 hours', 'person', '2', 'click', 'spring'
		FROM generate_series(timestamptz '2026-01-01 00:00:00+00', '2026-11-01 00:00:00+00', interval '1 month') m`)
	db.MustExec(`INSERT INTO campaignctl.events (occurred_at, model, contact_key, type, campaign) VALUES ('2026-11-25 00:00:00+00', 'person', '1', 'click', 'autumn')`)
	e2 := env{"CAMPAIGNCTL_SECRET": "retention-secret-0123456789"}
	start := time.Now()
	code, _, stderr := e2.runCmd("serve", "--db", url, "--smtp", addr.String(), "--listen", "", "--exit-when-idle", "--interval", "20ms",
		"--clock-start", "2026-12-02T00:00:00Z", "--clock-speed", "1000", "--public-url", "http://mail.test")
	if code != 0 {
		t.Fatalf("serve: exit %d\n%s", code, stderr)
	}
	t.Logf("serve ran %v", time.Since(start).Round(time.Millisecond))
	if i := strings.Index(stderr, "event partition dropped"); i >= 0 {
		t.Logf("first drop logged as: %s", strings.SplitN(stderr[max(0, strings.LastIndex(stderr[:i], "\n")+1):], "\n", 2)[0])
	}

	// Simulated now 2026-12-02 (plus the run), 60 days: the cutoff is on
	// 2026-10-03, so January to September go, October and November stay.
	var months []string
	if err := db.Select(&months, `SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM') FROM campaignctl.events ORDER BY occurred_at`); err != nil {
		t.Fatal(err)
	}
	if strings.Join(months, " ") != "2026-10 2026-11 2026-11" {
		t.Errorf("events left in months %v, want 2026-10 and 2026-11 (twice)", months)
	}
	var counted int
	if err := db.Get(&counted, `SELECT sum(events) FROM campaignctl.event_month_counts WHERE type = 'click' AND campaign = 'spring'`); err != nil || counted != 9 {
		t.Errorf("event_month_counts keeps %d clicks (%v), want 9", counted, err)
	}
	if n := strings.Count(stderr, "event partition dropped"); n < 9 {
		t.Errorf("%d log lines for dropped partitions, want at least 9 (one per month):\n%s", n, stderr)
	}
	for _, bad := range []string{"recent@example.com", "old@example.com", "contact_key"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("the daemon's log carries contact data (%q)", bad)
		}
	}
	if got := srv.Messages(); len(got) != 1 || !strings.EqualFold(got[0].To[0], "recent@example.com") {
		var to []string
		for _, m := range got {
			to = append(to, m.To[0])
		}
		t.Errorf("mail went to %v, want recent@example.com only", to)
	}
}
