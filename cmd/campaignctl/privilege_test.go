package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// TestDaemonRunsUnderTheLeastPrivilegeRole runs migrate, apply, serve,
// status and report under exactly the grants docs/security.md documents: a
// role that owns the campaignctl schema and may only read the CRM's tables.
// Every example campaign, sequence and workflow runs against the demo CRM, so
// any statement that needs more (a write to a CRM table, an object created
// outside its schema, a superuser-only call) fails the test.
func TestDaemonRunsUnderTheLeastPrivilegeRole(t *testing.T) {
	t.Parallel()
	skipInShortMode(t)
	racedElsewhere(t, wholePlanRacedBy)
	e := setupE2E(t)
	want := handWrittenAudience(t, e.db)

	role := fmt.Sprintf("campaignctl_runner_%d", time.Now().UnixNano()%1_000_000_000)
	var dbName string
	if err := e.db.Get(&dbName, `SELECT current_database()`); err != nil {
		t.Fatal(err)
	}
	// The grants of docs/security.md, word for word but for the names.
	grants := []string{
		`CREATE ROLE ` + role + ` LOGIN PASSWORD 'runner-password-123'`,
		`REVOKE ALL ON DATABASE ` + pq.QuoteIdentifier(dbName) + ` FROM PUBLIC`,
		`GRANT CONNECT, TEMPORARY ON DATABASE ` + pq.QuoteIdentifier(dbName) + ` TO ` + role,
		`CREATE SCHEMA campaignctl AUTHORIZATION ` + role,
		`GRANT USAGE ON SCHEMA public TO ` + role,
		`GRANT SELECT ON crm_lead, crm_customer TO ` + role,
	}
	for _, q := range grants {
		if _, err := e.db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		_, _ = e.db.Exec(`DROP SCHEMA IF EXISTS campaignctl CASCADE`)
		_, _ = e.db.Exec(`DROP OWNED BY ` + role)
		_, _ = e.db.Exec(`DROP ROLE IF EXISTS ` + role)
	})
	u, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, "runner-password-123")
	runner := u.String()

	e2 := env{"CAMPAIGNCTL_SECRET": "e2e-secret-0123456789"}
	e2.mustRun(t, 0, "migrate", "--db", runner)
	e2.mustRun(t, 0, "apply", "--db", runner, e.plan)
	// Workflow triggers, stored after the apply, through the role too.
	var triggers strings.Builder
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&triggers, `{"type":"cart_abandoned","model":"customer","key":%d,"at":"2026-12-02T00:00:00Z","id":"cart-%d","properties":{"value":%d}}`+"\n", i, i, 10+i)
	}
	events := filepath.Join(t.TempDir(), "triggers.ndjson")
	if err := os.WriteFile(events, []byte(triggers.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e2.mustRun(t, 0, "events", "import", "--db", runner, events)
	r := &e2e{url: runner, addr: e.addr}
	e2.mustRun(t, 0, append(serveArgs(r), "--public-url", "http://mail.test")...)

	got := recipients(t, e.smtp, "lost_leads_reactivation")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("under the least-privilege role the campaign reached %d addresses, want %d", len(got), len(want))
	}
	if n := len(recipients(t, e.smtp, "cart_rescue")); n == 0 {
		t.Fatalf("the event-triggered workflow sent nothing under the role (%d messages in all)", e.smtp.Count())
	}
	e2.mustRun(t, 0, "status", "--db", runner)
	e2.mustRun(t, 0, "report", "--db", runner)

	// The grants are what they claim: the role cannot write the CRM nor
	// create anything outside its schema.
	rdb, err := sqlx.Open("postgres", runner)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	for _, q := range []string{
		`UPDATE crm_lead SET name = name WHERE false`,
		`CREATE TABLE public.runner_was_here (id int)`,
	} {
		if _, err := rdb.Exec(q); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("as the runner, %s: %v; want permission denied", q, err)
		}
	}
	// And the schema the runner works in is its own.
	var owner string
	if err := e.db.Get(&owner, `SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'campaignctl'`); err != nil {
		t.Fatal(err)
	}
	if owner != role {
		t.Fatalf("schema campaignctl is owned by %s, want %s", owner, role)
	}
}
