package storetest

import (
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// Reltuples is what the planner's statistics say of table's row count
// (pg_class.reltuples; -1 for a table never analyzed). table is
// schema-qualified ("campaignctl.outbox").
func Reltuples(t testing.TB, db *sqlx.DB, table string) float64 {
	t.Helper()
	var r float64
	if err := db.Get(&r, `SELECT reltuples FROM pg_class WHERE oid = $1::regclass`, table); err != nil {
		t.Fatal(err)
	}
	return r
}

// QuietTable turns autovacuum off on table, so only the code under test can
// refresh its statistics, and returns a reader of its Reltuples.
func QuietTable(t testing.TB, db *sqlx.DB, table string) func() float64 {
	t.Helper()
	if _, err := db.Exec(`ALTER TABLE ` + table + ` SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	return func() float64 { t.Helper(); return Reltuples(t, db, table) }
}

// AnalyzeWait is how long WaitReltuples waits for a background refresh.
const AnalyzeWait = 30 * time.Second

// WaitReltuples waits up to AnalyzeWait for reltuples to return want (a
// refresh in the background analyzed the table), and fails saying after
// what otherwise.
func WaitReltuples(t testing.TB, reltuples func() float64, want float64, after string) {
	t.Helper()
	deadline := time.Now().Add(AnalyzeWait)
	for reltuples() != want {
		if time.Now().After(deadline) {
			t.Fatalf("reltuples %v %s after %s, want %v: the statistics were not refreshed", reltuples(), AnalyzeWait, after, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
