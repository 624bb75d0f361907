package store_test

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// planConn is one connection of st's pool (storetest.PlanConn).
func planConn(t *testing.T, st *store.Store) *sqlx.Conn { return storetest.PlanConn(t, st.DB) }

// explainPrepared is storetest.ExplainPrepared.
var explainPrepared = storetest.ExplainPrepared

// wholeTableReads are the queries that read every row of the outbox or the
// enrollments by design: counts and reports over everything, cached or run
// by hand, each saying so in its comment. Any other query that plans a
// sequential scan of those tables costs their size on every call.
var wholeTableReads = map[string]bool{
	"campaign-counts":         true, // status: every campaign's messages by status
	"series-message-counts":   true, // status: every series' messages
	"enrollment-counts":       true, // status: enrollments per object and state
	"enrollment-step-counts":  true, // status: steps per object
	"enrollments-by-state":    true, // metrics gauge, cached for the store-metrics interval
	"fold-message-engagement": true, // event retention, once per dropped month
	"report-messages":         true, // report: every message of the plan's objects
	"report-goals":            true, // report
	"report-enrolled":         true, // report
	"report-ab-live":          true, // report: every test message
}

// notPlannable are queries that name a table made at run time (a session's
// staging table, a partition by name). DDL, ANALYZE and SET are skipped by
// isDML.
var notPlannable = map[string]bool{
	"insert-staged-events": true, "move-default-rows": true, "count-partition-events": true,
}

// Every named query of the store, the metrics and the commands, planned
// generic (as a prepared statement is after its fifth run, whatever its
// parameters) on 60,000 messages, 30,000 enrollments, 90,000 enrollment
// steps and 30,000 consent entries: none reads the whole outbox or the whole
// enrollments table unless it is a count or a report that does so by design
// (wholeTableReads). Searches by address did, before migrations 016 and 017;
// this catches the next query written without an index under it.
func TestNoQueryReadsAWholeTableUnlessItSaysSo(t *testing.T) {
	st := migrated(t)
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	st.DB.MustExec(`INSERT INTO campaignctl.revisions (plan_hash, plan, applied_at) VALUES ('h', '{}', $1)`, now)
	st.DB.MustExec(`INSERT INTO campaignctl.outbox (kind, campaign, step, contact_key, email, email_normalized, due_at, created_at, class, status, sent_at, message_id)
		SELECT 'campaign', 'c' || (i % 20), '', i::text, 'p' || i || '@example.com', 'p' || i || '@example.com', $1, $1,
		       CASE WHEN i % 100 = 0 THEN 'internal' ELSE 'marketing' END,
		       CASE WHEN i % 20 = 0 THEN 'pending' WHEN i % 33 = 0 THEN 'failed' ELSE 'sent' END,
		       CASE WHEN i % 20 <> 0 THEN $1::timestamptz END, CASE WHEN i % 20 <> 0 THEN md5(i::text) || '@example.com' END
		FROM generate_series(1, 40000) i`, now)
	st.DB.MustExec(`INSERT INTO campaignctl.enrollments (kind, object, contact_key, email, email_normalized, occurrence, state, enrolled_at, revision_id, updated_at, wake_at)
		SELECT 'sequence', 's' || (i % 5), i::text, 'p' || i || '@example.com', 'p' || i || '@example.com', 1,
		       CASE WHEN i % 10 = 0 THEN 'active' ELSE 'exited' END, $1, (SELECT max(id) FROM campaignctl.revisions), $1, $1
		FROM generate_series(1, 30000) i`, now)
	st.DB.MustExec(`INSERT INTO campaignctl.outbox (kind, campaign, step, contact_key, email, email_normalized, due_at, created_at, class, status, sent_at, occurrence, enrollment_id)
		SELECT 'sequence', e.object, 'step' || g, e.contact_key, e.email, e.email_normalized, $1, $1, 'marketing', 'sent', $1, 1, e.id
		FROM campaignctl.enrollments e, generate_series(1, 2) g WHERE e.id % 3 = 0`, now)
	st.DB.MustExec(`INSERT INTO campaignctl.enrollment_steps (enrollment_id, step, action, at)
		SELECT e.id, 'step' || g, 'sent', $1 FROM campaignctl.enrollments e, generate_series(1, 3) g`, now)
	st.DB.MustExec(`INSERT INTO campaignctl.consent_ledger (email_normalized, subscription, action, source, evidence, recorded_at)
		SELECT 'p' || i || '@example.com', CASE WHEN i % 2 = 0 THEN 'news' ELSE '' END, 'grant',
		       CASE WHEN i % 3 = 0 THEN 'link' ELSE 'form' END, jsonb_build_object('outbox_id', i), $1
		FROM generate_series(1, 30000) i`, now)
	st.DB.MustExec(`ANALYZE`)

	planEveryQuery(t, st, func(name string) bool { return wholeTableReads[name] },
		"give it an index, or list it in wholeTableReads if that is its purpose")
}

// drainedBacklogReads are the queries, besides wholeTableReads, that may read
// the whole outbox or enrollments table while the statistics describe a
// backlog that has drained since (TestNoQueryReadsAWholeTableOnADrainedBacklogsStatistics).
var drainedBacklogReads = map[string]bool{
	// A count of the backlog, planned on what the statistics say the backlog
	// is: a sequential scan until the next analyze. A metrics scrape, run at
	// most once per --metrics-store-interval.
	"outbox-backlog": true,
	// Counts for the fault tests and `campaignctl status`, not the daemon.
	"held-rows":       true,
	"waiting-by-step": true,
	// Run unprepared, once per revision: its custom plan knows the kind, and
	// reads the contact key's (kind, ...) prefix unless the kind is most of
	// the table.
	"exit-removed-objects": true,
	// Its search for a sent message of a finished campaign, which runs only
	// when the campaign has failed messages, once, as it finishes.
	"finish-campaigns": true,
}

// Every named query planned generic on the statistics of a backlog that has
// drained since they were taken: 60,000 messages and 30,000 enrollments
// analyzed while all pending or active, then all sent, failed or exited, as
// the outbox is in the minute after a campaign's last message and before
// autovacuum analyzes it. An EXISTS over pending rows then planned a
// sequential scan expected to stop at the first row and read every row:
// pending-work, asked by --exit-when-idle before the daemon exits, took
// 34-132 ms on the 100,000 messages the send benchmark leaves.
func TestNoQueryReadsAWholeTableOnADrainedBacklogsStatistics(t *testing.T) {
	st := migrated(t)
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	// The statistics must stay those of the backlog for the test's length.
	storetest.QuietTable(t, st.DB, "campaignctl.outbox")
	storetest.QuietTable(t, st.DB, "campaignctl.enrollments")
	st.DB.MustExec(`INSERT INTO campaignctl.revisions (plan_hash, plan, applied_at) VALUES ('h', '{}', $1)`, now)
	st.DB.MustExec(`INSERT INTO campaignctl.outbox (kind, campaign, step, contact_key, email, email_normalized, due_at, created_at, class)
		SELECT 'campaign', 'c' || (i % 20), '', i::text, 'p' || i || '@example.com', 'p' || i || '@example.com', $1, $1,
		       CASE WHEN i % 100 = 0 THEN 'internal' ELSE 'marketing' END
		FROM generate_series(1, 60000) i`, now)
	st.DB.MustExec(`INSERT INTO campaignctl.enrollments (kind, object, contact_key, email, email_normalized, occurrence, state, enrolled_at, revision_id, updated_at, wake_at)
		SELECT 'sequence', 's' || (i % 5), i::text, 'p' || i || '@example.com', 'p' || i || '@example.com', 1,
		       'active', $1, (SELECT max(id) FROM campaignctl.revisions), $1, $1
		FROM generate_series(1, 30000) i`, now)
	st.DB.MustExec(`ANALYZE campaignctl.outbox, campaignctl.enrollments`)
	st.DB.MustExec(`UPDATE campaignctl.outbox SET status = CASE WHEN id % 33 = 0 THEN 'failed' ELSE 'sent' END,
		sent_at = $1, message_id = md5(id::text) || '.' || id || '@example.com'`, now)
	st.DB.MustExec(`UPDATE campaignctl.enrollments SET state = 'exited', wake_at = NULL`)
	var pending float64
	if err := st.DB.Get(&pending, `SELECT coalesce((SELECT f FROM pg_stats, unnest(most_common_vals::text::text[], most_common_freqs) AS m(v, f)
		WHERE schemaname = 'campaignctl' AND tablename = 'outbox' AND attname = 'status' AND v = 'pending'), 0)`); err != nil {
		t.Fatal(err)
	}
	if pending < 0.99 {
		t.Fatalf("the statistics say %.2f of the outbox is pending; the test needs those of the backlog (1.00)", pending)
	}
	plans := planEveryQuery(t, st, func(name string) bool { return wholeTableReads[name] || drainedBacklogReads[name] },
		"make it read its index whatever the statistics say (see pending-work), or list it in drainedBacklogReads with the reason")

	// What the daemon asks before it exits, or at every start of a
	// materialization, reads the index meant for it.
	for name, index := range map[string]string{
		"pending-work":          "outbox_claimable",
		"campaign-has-messages": "outbox_object_step_contact_key",
	} {
		if !strings.Contains(plans[name], " using "+index+" on outbox") {
			t.Errorf("%s does not read %s on a drained backlog's statistics:\n%s", name, index, plans[name])
		}
	}
}

// planEveryQuery plans each named query generic on st and fails on every
// sequential scan of the outbox or the enrollments, unless allowed(name);
// what names what to do about it. It returns the plans by query name.
func planEveryQuery(t *testing.T, st *store.Store, allowed func(name string) bool, what string) map[string]string {
	t.Helper()
	ctx := t.Context()
	all := namedQueries(t)
	names := slices.Sorted(maps.Keys(all))
	conn := planConn(t, st)
	plans := map[string]string{}
	for _, name := range names {
		code := withoutComments(all[name])
		if notPlannable[name] || !isDML(code) {
			continue
		}
		args := make([]any, placeholders(code))
		text, err := explainPrepared(ctx, conn, all[name], args, "force_generic_plan")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		plans[name] = text
		for _, table := range []string{"outbox", "enrollments"} {
			if strings.Contains(text, "Seq Scan on "+table) && !allowed(name) {
				t.Errorf("%s reads the whole %s (a sequential scan in its generic plan); %s:\n%s", name, table, what, text)
			}
		}
	}
	t.Logf("planned %d queries generic", len(plans))
	if len(plans) < 100 {
		t.Fatalf("planned %d queries; the files hold more: the parsing lost some", len(plans))
	}
	return plans
}

// withoutComments is query without its -- comments (the parameters of other
// statements are named in them).
func withoutComments(query string) string {
	var b strings.Builder
	for line := range strings.Lines(query) {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i] + "\n"
		}
		b.WriteString(line)
	}
	return b.String()
}

// isDML says whether code is a statement Postgres can prepare: a query or a
// data change, not DDL, ANALYZE or SET.
func isDML(code string) bool {
	f := strings.Fields(code)
	if len(f) == 0 {
		return false
	}
	switch strings.ToUpper(f[0]) {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "WITH":
		return true
	}
	return false
}

// namedQueries is every named query of the store's files
// (store.AllQueriesForTest), the metrics' and the commands' query files, by
// name.
func namedQueries(t *testing.T) map[string]string {
	t.Helper()
	all := store.AllQueriesForTest()
	for _, f := range []string{"../metrics/store_queries.sql", "../../cmd/campaignctl/report_queries.sql", "../../cmd/campaignctl/workflow_queries.sql"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for name, text := range store.ParseNamedQueries(string(src)) {
			if _, dup := all[name]; dup {
				t.Fatalf("query %s of %s has the name of another", name, filepath.Base(f))
			}
			all[name] = text
		}
	}
	return all
}

var placeholder = regexp.MustCompile(`\$([0-9]+)`)

// placeholders is the highest $n in query.
func placeholders(query string) int {
	n := 0
	for _, m := range placeholder.FindAllStringSubmatch(query, -1) {
		v, _ := strconv.Atoi(m[1])
		n = max(n, v)
	}
	return n
}
