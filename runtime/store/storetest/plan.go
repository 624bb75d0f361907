package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// PlanConn is one connection of db's pool, for PREPARE (a session's
// statement) and plan_cache_mode; it is reset and returned at cleanup.
func PlanConn(t testing.TB, db *sqlx.DB) *sqlx.Conn {
	t.Helper()
	conn, err := db.Connx(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.ExecContext(context.Background(), "RESET plan_cache_mode")
		conn.Close()
	})
	return conn
}

// ExplainPrepared prepares query on conn and returns the plan Postgres makes
// for it with args under plan_cache_mode mode (force_custom_plan or
// force_generic_plan), as the daemon's prepared statements and the CLI's
// parameterized queries run it. A nil arg is NULL.
func ExplainPrepared(ctx context.Context, conn *sqlx.Conn, query string, args []any, mode string) (string, error) {
	if _, err := conn.ExecContext(ctx, "PREPARE plan_probe AS "+strings.TrimSuffix(strings.TrimSpace(query), ";")); err != nil {
		return "", err
	}
	defer conn.ExecContext(ctx, "DEALLOCATE plan_probe")
	if _, err := conn.ExecContext(ctx, "SET plan_cache_mode = "+mode); err != nil {
		return "", err
	}
	// EXECUTE inside EXPLAIN takes no bind parameters: the values go in as
	// literals, typed by the prepared statement's parameters.
	params := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case nil:
			params[i] = "NULL"
		case time.Time:
			params[i] = "'" + v.Format(time.RFC3339Nano) + "'"
		default:
			params[i] = "'" + strings.ReplaceAll(fmt.Sprint(v), "'", "''") + "'"
		}
	}
	stmt := "EXPLAIN (COSTS OFF) EXECUTE plan_probe"
	if len(params) > 0 {
		stmt += "(" + strings.Join(params, ", ") + ")"
	}
	var plan []string
	if err := conn.SelectContext(ctx, &plan, stmt); err != nil {
		return "", err
	}
	return strings.Join(plan, "\n"), nil
}
