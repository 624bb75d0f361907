package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// TestOpenKeepsItsConnections: the daemon's concurrent users of the database (the
// claimer, the ledger, the renewer, reconcile, the HTTP handlers) must reuse pooled
// connections, not fork a Postgres backend per statement. With database/sql's
// default of two idle connections, eight concurrent users closed and reopened a
// connection after nearly every statement.
func TestOpenKeepsItsConnections(t *testing.T) {
	_, dbURL := storetest.Open(t)
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	const users, rounds = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				if _, err := st.DB.ExecContext(ctx, `SELECT pg_sleep(0.002)`); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := st.DB.Stats()
	if s.MaxIdleClosed != 0 {
		t.Errorf("%d connections closed for want of an idle slot (%d opened for %d statements): the pool churns backends", s.MaxIdleClosed, s.OpenConnections+int(s.MaxIdleClosed), users*rounds)
	}
	if s.OpenConnections > store.DefaultMaxConns {
		t.Errorf("%d connections open, above the pool's limit %d", s.OpenConnections, store.DefaultMaxConns)
	}

	// The limit holds: a pool of two never opens a third.
	st.SetMaxConns(2)
	for range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = st.DB.ExecContext(ctx, `SELECT pg_sleep(0.005)`)
		}()
	}
	wg.Wait()
	if n := st.DB.Stats().MaxOpenConnections; n != 2 {
		t.Errorf("MaxOpenConnections = %d after SetMaxConns(2)", n)
	}
}
