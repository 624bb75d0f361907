package main

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// The manual controls against a real Postgres and the real engine: an
// excluded contact is not enrolled by the daemon, an exclusion ends an
// enrollment and cancels its pending mail, include and reset start new
// occurrences whose messages are new outbox rows, and every action is audited.
func TestEnrollmentsExcludeIncludeReset(t *testing.T) {
	t.Parallel()
	db, url := migratedDB(t)
	ctx := t.Context()
	st := &store.Store{DB: db}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`CREATE TABLE crm_lead (id int PRIMARY KEY, email_from text, stage text)`)
	db.MustExec(`INSERT INTO crm_lead VALUES (1, 'one@example.com', 'Lost'), (2, 'two@example.com', 'Lost'), (3, 'three@example.com', 'Lost')`)
	p := &plan.Plan{
		Models:    []plan.Model{{Name: "lead", Table: "crm_lead", Key: "id", Email: "email_from", Fields: []plan.Field{{Name: "stage", Column: "stage", Type: plan.TypeString}}}},
		Segments:  []plan.Segment{{Name: "lost", Model: "lead", Filter: `lead.stage == "Lost"`}},
		Senders:   []plan.Sender{{Name: "sales", From: "sales@example.com"}},
		Templates: []plan.Template{{Name: "hello", Subject: "Hello", Text: "Hi {{ .unsubscribe_url }}", Class: plan.ClassMarketing}},
		Sequences: []plan.Sequence{{Name: "nurture", Model: "lead", Segment: "lost", Sender: "sales",
			Steps: []plan.SequenceStep{{Name: "intro", Offset: "0s", Template: "hello"}, {Name: "later", Offset: "7d", Template: "hello"}}}},
	}
	p.Finalize()
	data, err := plan.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	if _, err := st.InsertRevision(ctx, store.Revision{PlanHash: p.Hash, Plan: string(data), AppliedAt: t0}); err != nil {
		t.Fatal(err)
	}
	signer, _ := links.NewSigner([]byte("test-secret-0123456789"))
	eng := &engine.Engine{Store: st, Clock: clock.NewFake(t0), Links: signer, PublicURL: "http://mail.test",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), EnrollInterval: time.Nanosecond}
	pass := func() {
		t.Helper()
		if err := eng.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.AdvanceDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ctl := func(wantCode int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		full := append([]string{"enrollments", "--db", url, "--actor", "tester", "--at", t0.Format(time.RFC3339)}, args...)
		if code := run(full, &out, &errb); code != wantCode {
			t.Fatalf("campaignctl %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, wantCode, out.String(), errb.String())
		}
		return out.String() + errb.String()
	}
	state := func() string {
		t.Helper()
		var rows []string
		if err := db.Select(&rows, `SELECT contact_key || '#' || occurrence || ' ' || state || coalesce(' ' || exit_reason, '')
			FROM campaignctl.enrollments ORDER BY contact_key, occurrence`); err != nil {
			t.Fatal(err)
		}
		var mail []string
		if err := db.Select(&mail, `SELECT contact_key || '#' || occurrence || ' ' || step || ' ' || status
			FROM campaignctl.outbox ORDER BY contact_key, occurrence, step`); err != nil {
			t.Fatal(err)
		}
		return strings.Join(rows, ", ") + " | " + strings.Join(mail, ", ")
	}

	// Excluded before the daemon ever looked: never enrolled.
	if out := ctl(0, "exclude", "sequence/nurture", "--contact", "3", "--reason", "asked by phone"); !strings.Contains(out, "excluded from further enrollment") {
		t.Errorf("exclude said: %s", out)
	}
	pass()
	if got, want := state(), "1#1 active, 2#1 active | 1#1 intro pending, 2#1 intro pending"; got != want {
		t.Fatalf("after the first pass:\n got %s\nwant %s", got, want)
	}
	// Excluding an enrolled contact ends it and cancels its pending mail; the
	// daemon does not enroll it again.
	if out := ctl(0, "exclude", "nurture", "--contact", "two@example.com"); !strings.Contains(out, "ended 1 active enrollment(s), cancelled 1 pending message(s), excluded") {
		t.Errorf("exclude said: %s", out)
	}
	pass()
	if got, want := state(), "1#1 active, 2#1 exited manual | 1#1 intro pending, 2#1 intro cancelled"; got != want {
		t.Fatalf("after excluding lead 2:\n got %s\nwant %s", got, want)
	}
	// Include enrolls now; reset restarts as a new occurrence with new mail.
	ctl(0, "include", "sequence/nurture", "--contact", "lead:3")
	ctl(0, "reset", "sequence/nurture", "--contact", "1")
	pass()
	if got, want := state(), "1#1 exited manual, 1#2 active, 2#1 exited manual, 3#1 active | 1#1 intro cancelled, 1#2 intro pending, 2#1 intro cancelled, 3#1 intro pending"; got != want {
		t.Fatalf("after include 3 and reset 1:\n got %s\nwant %s", got, want)
	}
	if out := ctl(1, "include", "sequence/nurture", "--contact", "3"); !strings.Contains(out, "already enrolled") {
		t.Errorf("including an active contact: %s", out)
	}
	audit := ctl(0, "audit", "sequence/nurture")
	var flat []string // each line with its columns' padding collapsed
	for _, line := range strings.Split(audit, "\n") {
		flat = append(flat, strings.Join(strings.Fields(line), " "))
	}
	for _, want := range []string{"tester exclude sequence/nurture 3 asked by phone excluded from further enrollment",
		"tester exclude sequence/nurture 2 ended 1 active enrollment(s), cancelled 1 pending message(s), excluded",
		"tester include sequence/nurture 3 started occurrence 1",
		"tester reset sequence/nurture 1 ended 1 active enrollment(s), cancelled 1 pending message(s), started occurrence 2"} {
		if !strings.Contains(strings.Join(flat, "\n"), want) {
			t.Errorf("audit lacks %q:\n%s", want, audit)
		}
	}
	if n := strings.Count(audit, "\n"); n != 5 {
		t.Errorf("audit has %d lines, want a header and 4 actions (a refused include changes nothing and is not recorded):\n%s", n, audit)
	}
	// Bad input: clear errors, nothing changed.
	ctl(2, "exclude", "sequence/nurture")
	ctl(2, "pause", "sequence/nurture", "--contact", "1")
	if out := ctl(1, "exclude", "sequence/nope", "--contact", "1"); !strings.Contains(out, "it has: sequence/nurture") {
		t.Errorf("unknown object: %s", out)
	}
	if out := ctl(1, "exclude", "nurture", "--contact", "99"); !strings.Contains(out, "no row of crm_lead") {
		t.Errorf("unknown contact: %s", out)
	}
}
