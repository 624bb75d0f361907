package segment

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Source is how Postgres finds a segment's contacts when it evaluates the
// whole filter: the FROM item (the quoted table, followed by a LEFT JOIN per
// field workflows write that the filter reads, whose relations have only
// campaignctl_-prefixed columns, so the model's columns stay unqualified),
// the quoted key and email columns and the WHERE clause with its arguments
// (placeholders from $1). Callers build set-based
// statements on it (an INSERT … SELECT with an anti join), so an audience
// never has to leave the database.
type Source struct {
	Table, Key, Email string
	Where             string
	Args              []any
}

// PushdownSource returns segment's Source at time now, and false when the
// segment is evaluated in process (stream it with Each instead).
func (e *Evaluator) PushdownSource(segment string, now time.Time) (Source, bool, error) {
	c, err := e.lookup(segment)
	if err != nil {
		return Source{}, false, err
	}
	r := e.route(c, evalTime(now))
	if r.path != Pushdown {
		return Source{}, false, nil
	}
	return Source{Table: c.from(nil), Key: c.mi.key, Email: c.mi.email, Where: r.where, Args: r.args}, true, nil
}

// MatchKeys returns which of keys (the model's key as text) are in segment at
// time now: one query for the whole list, on either path (the in-process path
// reads only those rows).
func (e *Evaluator) MatchKeys(ctx context.Context, db *sqlx.DB, segment string, now time.Time, keys []string) (map[string]bool, error) {
	out := make(map[string]bool, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	c, err := e.lookup(segment)
	if err != nil {
		return nil, err
	}
	// The array as its text literal: the in-process scan hands arguments to the
	// driver directly, without database/sql's Valuer conversion.
	keyList, err := pq.Array(keys).Value()
	if err != nil {
		return nil, err
	}
	now = evalTime(now)
	r := e.route(c, now)
	keyIn := func(n int) string { return c.mi.key + "::text = ANY($" + strconv.Itoa(n) + "::text[])" }
	if r.path == Pushdown {
		q := "SELECT " + c.mi.key + "::text FROM " + c.from(nil) + " WHERE (" + r.where + ") AND " + keyIn(len(r.args)+1)
		rows, err := db.QueryContext(ctx, q, append(append([]any(nil), r.args...), keyList)...)
		if err == nil {
			defer rows.Close()
			for rows.Next() {
				var k string
				if err := rows.Scan(&k); err != nil {
					return nil, c.hint(fmt.Errorf("segment %q: %w", segment, err))
				}
				out[k] = true
			}
			return out, c.hint(rows.Err())
		}
		if !retryInProcess(err) {
			return nil, c.hint(fmt.Errorf("segment %q: matching %d contacts in Postgres: %w", segment, len(keys), err))
		}
		r = route{path: InProcess}
	}
	// In process: the prefilter (if any) and the key list narrow the rows read.
	where := keyIn(len(r.args) + 1)
	if r.where != "" {
		where = "(" + r.where + ") AND " + where
	}
	r.where, r.args = where, append(append([]any(nil), r.args...), keyList)
	err = e.scan(ctx, db, c, now, r, nil, false, func(s *scanRow) (bool, error) {
		out[string(s.key)] = true
		return true, nil
	})
	return out, c.hint(err)
}
