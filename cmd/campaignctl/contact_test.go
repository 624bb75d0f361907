package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtpcapture"
	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

const privacyCampaigns = `
model "person" {
  table   = "privacy_person"
  key     = "id"
  email   = "email"
  field "name" { type = "string" }
}

segment "everyone" {
  model  = "person"
  filter = "true"
}

sender "shop" {
  from = "Shop <shop@acme.example>"
}

template "promo" {
  subject = "Promo"
  text    = "Hi {{ .person.name }}. Unsubscribe: {{ .unsubscribe_url }}"
}

campaign "promo" {
  segment  = "everyone"
  template = "promo"
  sender   = "shop"
}

sequence "nurture" {
  model   = "person"
  segment = "everyone"
  sender  = "shop"
  step "one" {
    offset   = "0d"
    template = "promo"
  }
  step "two" {
    offset   = "30d"
    template = "promo"
  }
}
`

// contact export returns every row the runner holds about a person; contact
// forget erases them in one transaction so that a search of every table of
// the runner's schema for the address, the contact key and the name finds
// nothing, the address stays on the suppression list only as a keyed hash,
// an audit row without them records the erasure, and a later import of the
// same address is still never mailed; a daemon without the key refuses to
// start.
func TestContactExportAndForget(t *testing.T) {
	db, url := storetest.Open(t)
	const (
		addr = "zebulon.q@example.com"
		key  = "p-7f3a9c"
		name = "Zebulon Quartermaine"
	)
	db.MustExec(`CREATE TABLE privacy_person (id text PRIMARY KEY, email text, name text)`)
	db.MustExec(`INSERT INTO privacy_person VALUES ($1, $2, $3), ('p-other', 'other@example.com', 'Other Person')`, key, " Zebulon.Q@Example.com", name)
	dir := t.TempDir()
	src := filepath.Join(dir, "campaigns")
	os.MkdirAll(src, 0o755)
	if err := os.WriteFile(filepath.Join(src, "main.hcl"), []byte(privacyCampaigns), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := smtpcapture.New(filepath.Join(dir, "mail"))
	smtpAddr, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	planPath := filepath.Join(dir, "plan.json")
	mustRun(t, 0, "plan", "--no-git", "-o", planPath, src)
	mustRun(t, 0, "apply", "--db", url, planPath)
	t.Setenv("CAMPAIGNCTL_SECRET", "privacy-secret-0123456789")
	serve := func(want int, start string) {
		t.Helper()
		mustRun(t, want, "serve", "--db", url, "--smtp", smtpAddr.String(), "--listen", "", "--exit-when-idle", "--interval", "20ms",
			"--clock-start", start, "--clock-speed", "1000000", "--public-url", "http://mail.test")
	}
	serve(0, "2026-12-02T00:00:00Z")

	// More of what the runner keeps about a person: events (with the name in
	// their properties), a consent entry, a manual exclusion with a reason
	// naming them, a workflow's property, and an unsubscribe.
	events := filepath.Join(dir, "events.ndjson")
	os.WriteFile(events, []byte(fmt.Sprintf(`{"type":"page_view","model":"person","key":%q,"at":"2026-12-01T10:00:00Z","topic":"boots","properties":{"name":%q,"email":%q}}
{"type":"page_view","model":"person","key":"p-other","at":"2026-12-01T10:00:00Z","topic":"boots"}
`, key, name, addr)), 0o644)
	mustRun(t, 0, "events", "import", "--db", url, events)
	mustRun(t, 0, "consent", "--db", url, "grant", addr, "--source", "form", "--actor", "ops", "--reason", "form signed by "+name)
	mustRun(t, 0, "enrollments", "--db", url, "exclude", "sequence/nurture", "--contact", key, "--actor", "ops", "--reason", name+" asked by phone")
	db.MustExec(`INSERT INTO campaignctl.contact_properties (model, contact_key, field, value, set_at, kind, object, step)
		VALUES ('person', $1, 'name', $2, now(), 'workflow', 'w', 's')`, key, name)
	st := &store.Store{DB: db}
	if err := st.Suppress(context.Background(), addr, "unsubscribed", "promo", time.Now()); err != nil {
		t.Fatal(err)
	}

	// export: every table that holds something about the person.
	var doc struct {
		Email  string                       `json:"email"`
		Tables map[string][]json.RawMessage `json:"tables"`
	}
	out := mustRun(t, 0, "contact", "--db", url, "export", "person:"+key)
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, out)
	}
	if doc.Email != addr {
		t.Errorf("export email %q, want %q", doc.Email, addr)
	}
	for table, want := range map[string]int{"events": 1, "outbox": 3, "enrollments": 1, "enrollment_steps": 3, "enrollment_exclusions": 1,
		"enrollment_audit": 1, "consent_ledger": 2, "suppressions": 1, "contact_properties": 1} {
		if got := len(doc.Tables[table]); got != want {
			t.Errorf("export: %s has %d rows, want %d", table, got, want)
		}
	}
	if strings.Contains(out, "other@example.com") || strings.Contains(out, "p-other") {
		t.Errorf("export of one person holds another's data:\n%s", out)
	}

	// forget needs the key; the search before it finds the person (so the
	// search below can fail).
	if n := searchRunnerTables(t, db, false, addr, key, name); n == 0 {
		t.Fatal("the search finds nothing before forget: it proves nothing after")
	}
	mustRun(t, 2, "contact", "--db", url, "forget", addr)
	t.Setenv(store.ErasureKeyEnv, "erasure-key-0123456789abcdef")
	out = mustRun(t, 0, "contact", "--db", url, "forget", addr, "--actor", "dpo", "--reason", "request 2026-118")
	if !strings.Contains(out, "forgotten: ") || !strings.Contains(out, "keyed hash on the suppression list: true") {
		t.Errorf("forget says %q", out)
	}
	if n := searchRunnerTables(t, db, true, addr, key, name); n != 0 {
		t.Errorf("after forget, %d rows of the runner's tables still hold the address, key or name", n)
	}
	e, _ := store.NewErasure([]byte("erasure-key-0123456789abcdef"))
	var reason string
	if err := db.Get(&reason, `SELECT reason FROM campaignctl.suppressions WHERE email_normalized = $1`, e.Hash(addr)); err != nil || reason != "erased" {
		t.Errorf("the address's hash is not on the suppression list: %v %q", err, reason)
	}
	var audit struct {
		Actor  string `db:"actor"`
		Reason string `db:"reason"`
		Counts string `db:"counts"`
	}
	if err := db.Get(&audit, `SELECT actor, reason, counts::text AS counts FROM campaignctl.erasure_audit`); err != nil {
		t.Fatal(err)
	}
	if audit.Actor != "dpo" || audit.Reason != "request 2026-118" || !strings.Contains(audit.Counts, `"outbox": 3`) {
		t.Errorf("audit row %+v", audit)
	}
	// The other person's rows are untouched.
	var others int
	db.Get(&others, `SELECT count(*) FROM campaignctl.outbox WHERE email_normalized = 'other@example.com'`)
	if others != 3 {
		t.Errorf("the other person has %d messages after forget, want 3", others)
	}

	// A daemon without the key refuses to start; with it, a later import of
	// the same address (a new CRM record) gets nothing from a new campaign or
	// the sequence.
	t.Setenv(store.ErasureKeyEnv, "")
	serve(2, "2026-12-03T00:00:00Z")
	t.Setenv(store.ErasureKeyEnv, "erasure-key-0123456789abcdef")
	db.MustExec(`INSERT INTO privacy_person VALUES ('p-new', 'zebulon.q@example.com', $1)`, name)
	more := privacyCampaigns + `
campaign "promo2" {
  segment  = "everyone"
  template = "promo"
  sender   = "shop"
}
`
	os.WriteFile(filepath.Join(src, "main.hcl"), []byte(more), 0o644)
	mustRun(t, 0, "plan", "--no-git", "-o", planPath, src)
	mustRun(t, 0, "apply", "--db", url, planPath)
	before := srv.Count()
	serve(0, "2026-12-03T00:00:00Z")
	for _, m := range srv.Messages()[before:] {
		if strings.EqualFold(m.To[0], addr) {
			t.Errorf("a forgotten address was mailed again: %s", header(string(m.Data), "X-Campaignctl-Campaign"))
		}
	}
	if srv.Count() == before {
		t.Error("the second daemon sent nothing at all: the test proves nothing")
	}
	var promo2 int
	db.Get(&promo2, `SELECT count(*) FROM campaignctl.outbox WHERE campaign = 'promo2' AND email_normalized = $1`, addr)
	if promo2 != 0 {
		t.Errorf("promo2 enqueued %d messages to the forgotten address", promo2)
	}
}

// searchRunnerTables counts the rows of every table of the runner's schema
// whose text holds any needle (case-insensitive): the erased suppression
// (a hash) and the audit row are searched too, and must not match. A
// partitioned table's rows count in the parent and in their partition.
func searchRunnerTables(t *testing.T, db interface {
	Select(dest any, query string, args ...any) error
	Get(dest any, query string, args ...any) error
}, logHits bool, needles ...string) int {
	t.Helper()
	var tables []string
	if err := db.Select(&tables, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'campaignctl' AND table_type = 'BASE TABLE' ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if len(tables) < 15 {
		t.Fatalf("only %d runner tables: %v", len(tables), tables)
	}
	total := 0
	for _, tb := range tables {
		for _, n := range needles {
			var c int
			if err := db.Get(&c, fmt.Sprintf(`SELECT count(*) FROM campaignctl.%q x WHERE x::text ILIKE '%%' || $1 || '%%'`, tb), n); err != nil {
				t.Fatal(err)
			}
			if c > 0 && logHits {
				t.Logf("%s: %d rows hold %q", tb, c, n)
			}
			total += c
		}
	}
	return total
}
