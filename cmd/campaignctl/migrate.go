package main

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/runtime/store"
)

func runMigrate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("migrate", "migrate --db URL", `
Create or upgrade campaignctl's own tables (schema "campaignctl") in Postgres. Safe to
run repeatedly and concurrently; serve also migrates at start.`, `  campaignctl migrate --db postgres://campaignctl@127.0.0.1:5432/crm`, stderr)
	db := dbFlag(fs)
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if !needDB(*db, stderr) {
		return 2
	}
	ctx := context.Background()
	st, err := store.Open(ctx, *db)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl migrate:", err)
		return 1
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl migrate:", err)
		return 1
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
	}
	for _, m := range applied {
		fmt.Fprintln(stdout, "applied", m)
	}
	return 0
}

// openMigrated connects to the database at url and brings campaignctl's tables up
// to date, for the commands that write to them (apply, events import, serve).
func openMigrated(ctx context.Context, url string) (*store.Store, error) {
	st, err := store.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if _, err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// openMigratedRetrying is openMigrated for the daemon: a database that is
// restarting or not up yet (a pod starting beside it) is waited for, with
// backoff, for up to wait, instead of failing the start.
func openMigratedRetrying(ctx context.Context, url string, wait time.Duration, log *slog.Logger) (*store.Store, error) {
	deadline := time.Now().Add(wait)
	delay := 200 * time.Millisecond
	for {
		st, err := openMigrated(ctx, url)
		if err == nil || ctx.Err() != nil || !transient(err) || time.Now().Add(delay).After(deadline) {
			return st, err
		}
		log.Warn("database not ready; retrying", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// transient reports whether a failure to open the database may go away by
// itself: the server is not reachable, restarting or starting up. A connection
// string that does not parse, a wrong password or a missing database does not.
func transient(err error) bool {
	if errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		// 57P0x: admin shutdown, crash shutdown, cannot connect now; 08: connection exceptions.
		c := string(pqErr.Code)
		return strings.HasPrefix(c, "57P") || strings.HasPrefix(c, "08")
	}
	var opErr *net.OpError
	return errors.As(err, &opErr)
}
