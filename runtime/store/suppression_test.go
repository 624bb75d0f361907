package store_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// SuppressionReasons checks a waiting batch's addresses against the
// suppression list in one query: by address (unsubscribed, bounced, ...) and
// by the hash of each address (forgotten people), with a forgotten address
// reported as erased even when its address is on the list too.
func TestSuppressionReasonsReadsTheListOnce(t *testing.T) {
	db, url := storetest.OpenFromTemplate(t, "migrated", migratedTemplate)
	st, ctx := &store.Store{DB: db}, t.Context()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	erasure, err := store.NewErasure([]byte("erasure-key-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	for addr, reason := range map[string]string{"unsub@example.com": "unsubscribed", "bounced@example.com": "hard_bounce", "both@example.com": "complaint"} {
		if err := st.Suppress(ctx, addr, reason, "spring", now); err != nil {
			t.Fatal(err)
		}
	}
	for _, addr := range []string{"gone@example.com", "both@example.com"} {
		st.DB.MustExec(`INSERT INTO campaignctl.suppressions (email_normalized, reason, created_at) VALUES ($1, 'erased', $2)`, erasure.Hash(addr), now)
	}
	addrs := []string{"unsub@example.com", "bounced@example.com", "both@example.com", "gone@example.com", "reader@example.com"}

	for _, tc := range []struct {
		erasure *store.Erasure
		want    map[string]string
	}{
		{erasure, map[string]string{"unsub@example.com": "unsubscribed", "bounced@example.com": "hard_bounce", "both@example.com": "erased", "gone@example.com": "erased"}},
		// Without the key, forgotten addresses cannot be recognised (the
		// daemon does not start then: CheckErasureKey).
		{nil, map[string]string{"unsub@example.com": "unsubscribed", "bounced@example.com": "hard_bounce", "both@example.com": "complaint"}},
	} {
		counted, queries := countingStore(t, url)
		counted.Erasure = tc.erasure
		got, err := counted.SuppressionReasons(ctx, addrs)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("with key %v: SuppressionReasons = %v, want %v", tc.erasure != nil, got, tc.want)
		}
		if n := queries.Load(); n != 1 {
			t.Errorf("with key %v: SuppressionReasons ran %d queries, want 1", tc.erasure != nil, n)
		}
	}
}

// countingStore is a store on the database at url whose connections count
// the statements they run.
func countingStore(t *testing.T, url string) (*store.Store, *atomic.Int64) {
	t.Helper()
	connector, err := pq.NewConnector(url)
	if err != nil {
		t.Fatal(err)
	}
	n := new(atomic.Int64)
	db := sqlx.NewDb(sql.OpenDB(countingConnector{connector, n}), "postgres")
	t.Cleanup(func() { db.Close() })
	return &store.Store{DB: db}, n
}

type countingConnector struct {
	driver.Connector
	n *atomic.Int64
}

func (c countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return countingConn{conn, c.n}, nil
}

// countingConn counts the statements run on it: the queries and execs
// database/sql runs directly (lib/pq's connections run both so).
type countingConn struct {
	driver.Conn
	n *atomic.Int64
}

func (c countingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.n.Add(1)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
}

func (c countingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.n.Add(1)
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.n.Add(1) // a prepared statement counts once, when it is prepared
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}
