package store

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/lib/pq"
)

// clientCheckSQL makes the backend of each of the daemon's sessions check,
// every 2 s while it runs a statement, that the daemon is still there
// (client_connection_check_interval, Postgres 14 and later), and end the
// statement when it is not. Without it a daemon killed in the middle of a
// long statement (kill -9, the OOM killer, a lost VM) left its backend
// running the statement to the end: in the fault harness, four enrollment
// inserts of killed leaders ran on for minutes, each on a quarter of a core,
// beside the new leader doing the same work and waiting on their row locks.
const clientCheckSQL = "SET client_connection_check_interval = 2000"

// sessionConnector opens Postgres sessions through lib/pq and sets them up
// with clientCheckSQL. A server that does not know the setting (before 14)
// gets sessions without it.
type sessionConnector struct{ driver.Connector }

func (c sessionConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		return conn, nil
	}
	if _, err := ex.ExecContext(ctx, clientCheckSQL, nil); err != nil {
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code == "42704" { // undefined_object: no such setting
			return conn, nil
		}
		conn.Close()
		return nil, err
	}
	return conn, nil
}
