package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

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
		if err == nil || ctx.Err() != nil || time.Now().Add(delay).After(deadline) {
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
