package store

// Event retention: dropping the monthly partitions of campaignctl.events that
// lie entirely before a cutoff (now - the plan's event_retention), after
// folding what readers still need from their rows into aggregates
// (migrations/013_event_retention.sql). The SQL is in retention.sql.
//
// Safety:
//   - One transaction per month: fold the engagement flags, count the rows,
//     prune the external ids of its events (a guard against re-sends lives
//     no longer than the event it guards), DETACH, DROP, record. A crash or a lock timeout leaves the month whole,
//     to be dropped by a later pass; nothing is counted twice.
//   - The transaction first takes the lock EnsureEventPartitions takes (SHARE
//     ROW EXCLUSIVE on campaignctl.events) and lists the partitions again
//     under it, so it never races a partition being created or another caller
//     dropping the same month: a second pass finds nothing and does nothing.
//   - Never a row-by-row DELETE on the events: rows of an expired month that
//     sit in the default partition are first moved into a partition of their
//     own (createEventPartition, as EnsureEventPartitions does), then dropped
//     with it, so one path folds every dropped row. The default partition only
//     holds rows of months without a partition, which the events API and
//     imports create before inserting, so such moves are rare and small.
//   - Only the daemon's leader calls DropExpiredEvents (engine.Reconcile runs
//     it under the leadership lock); the locking above makes it safe anyway.

import (
	"context"
	_ "embed"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/lib/pq"
)

//go:embed retention.sql
var retentionSQL string

func init() {
	for name, text := range mustParseQueries(retentionSQL) {
		if _, dup := queries[name]; dup {
			panic("store: query " + name + " is in both queries.sql and retention.sql")
		}
		queries[name] = text
	}
}

// DroppedPartition is one month of events dropped, or to be dropped.
type DroppedPartition struct {
	Partition string    `db:"partition"`
	Month     time.Time `db:"month"`
	// Events is how many rows it held (0 in a dry run: counting would read
	// the whole partition).
	Events    int64     `db:"events"`
	Cutoff    time.Time `db:"cutoff"`
	DroppedAt time.Time `db:"dropped_at"`
	// InDefault: the month has no partition yet, its rows sit in the
	// default partition (a dry run says so).
	InDefault bool `db:"-"`
}

var partitionNameRE = regexp.MustCompile(`^events_p([0-9]{4})([0-9]{2})$`)

// partitionMonth reads the month of a partition named by EventPartitionName.
func partitionMonth(name string) (time.Time, bool) {
	m := partitionNameRE.FindStringSubmatch(name)
	if m == nil {
		return time.Time{}, false
	}
	y, _ := strconv.Atoi(m[1])
	mo, _ := strconv.Atoi(m[2])
	if mo < 1 || mo > 12 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), 1, 0, 0, 0, 0, time.UTC), true
}

// ExpiredEventMonths lists the months whose events DropExpiredEvents(cutoff)
// would drop, oldest first, without changing anything: every partition that
// ends at or before cutoff, and every month before cutoff's month with rows in
// the default partition.
func (s *Store) ExpiredEventMonths(ctx context.Context, cutoff time.Time) ([]DroppedPartition, error) {
	return expiredEventMonths(ctx, s.DB, cutoff)
}

func expiredEventMonths(ctx context.Context, db sqlx.QueryerContext, cutoff time.Time) ([]DroppedPartition, error) {
	// A partition [m, m+1 month) is entirely before cutoff when m+1 month <=
	// cutoff, that is when m+1 month <= monthStart(cutoff).
	before := monthStart(cutoff)
	existing, err := eventPartitions(ctx, db)
	if err != nil {
		return nil, err
	}
	byMonth := map[time.Time]DroppedPartition{}
	for name := range existing {
		m, ok := partitionMonth(name)
		if ok && !m.AddDate(0, 1, 0).After(before) {
			byMonth[m] = DroppedPartition{Partition: name, Month: m}
		}
	}
	var months []time.Time
	if err := sqlx.SelectContext(ctx, db, &months, q("default-event-months"), before); err != nil {
		return nil, fmt.Errorf("listing expired months in the default partition: %w", eventsError(err))
	}
	for _, m := range months {
		m = m.UTC()
		if _, ok := byMonth[m]; !ok {
			byMonth[m] = DroppedPartition{Partition: EventPartitionName(m), Month: m, InDefault: true}
		}
	}
	out := make([]DroppedPartition, 0, len(byMonth))
	for _, d := range byMonth {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Month.Before(out[j].Month) })
	return out, nil
}

// DropExpiredEvents drops the events of every month entirely before cutoff,
// one month per transaction, oldest first, folding first what the report and
// the counts keep (see the file comment). objects are the applied plan's
// objects, for attributing events to messages as the report does. dropped is
// called after each month commits. It returns the months dropped; on an error
// those before it stay dropped.
func (s *Store) DropExpiredEvents(ctx context.Context, cutoff, now time.Time, objects []plan.ObjectModel, dropped func(DroppedPartition)) ([]DroppedPartition, error) {
	candidates, err := s.ExpiredEventMonths(ctx, cutoff)
	if err != nil {
		return nil, err
	}
	var out []DroppedPartition
	for _, c := range candidates {
		d, ok, err := s.dropEventMonth(ctx, c.Month, cutoff, now, objects)
		if err != nil {
			return out, err
		}
		if !ok {
			continue
		}
		out = append(out, d)
		if dropped != nil {
			dropped(d)
		}
	}
	return out, nil
}

// dropEventMonth drops month m's events in one transaction; ok is false when
// another caller dropped it first.
func (s *Store) dropEventMonth(ctx context.Context, m, cutoff, now time.Time, objects []plan.ObjectModel) (d DroppedPartition, ok bool, err error) {
	name := EventPartitionName(m)
	fail := func(what string, err error) (DroppedPartition, bool, error) {
		return DroppedPartition{}, false, fmt.Errorf("dropping expired events of %s (partition %s): %s: %w", m.Format("2006-01"), name, what, eventsError(err))
	}
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return fail("beginning", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, q("retention-lock-timeout")); err != nil {
		return fail("setting lock_timeout", err)
	}
	if _, err := tx.ExecContext(ctx, q("lock-events-for-partitioning")); err != nil {
		return fail("locking campaignctl.events", err)
	}
	// Under the lock: what is there now, not what the listing saw.
	existing, err := eventPartitions(ctx, tx)
	if err != nil {
		return DroppedPartition{}, false, err
	}
	if !existing[name] {
		var inDefault bool
		if err := tx.GetContext(ctx, &inDefault, q("default-holds-month"), m, m.AddDate(0, 1, 0)); err != nil {
			return fail("reading the default partition", err)
		}
		if !inDefault {
			return DroppedPartition{}, false, nil // dropped by someone else
		}
		if err := createEventPartition(ctx, tx, m); err != nil {
			return DroppedPartition{}, false, err
		}
	}
	kinds, names, models := make([]string, len(objects)), make([]string, len(objects)), make([]string, len(objects))
	for i, o := range objects {
		kinds[i], names[i], models[i] = o.Kind, o.Name, o.Model
	}
	next := m.AddDate(0, 1, 0)
	if _, err := tx.ExecContext(ctx, q("fold-message-engagement"), pq.Array(kinds), pq.Array(names), pq.Array(models), m, next); err != nil {
		return fail("folding message engagement", err)
	}
	quoted := pq.QuoteIdentifier(name)
	day := m.Format("2006-01-02") // a date literal: no session time zone in between
	var events int64
	if err := tx.GetContext(ctx, &events, fmt.Sprintf(q("count-partition-events"), quoted), day); err != nil {
		return fail("counting events", err)
	}
	if _, err := tx.ExecContext(ctx, q("prune-event-external-ids"), m, next); err != nil {
		return fail("pruning the external ids of its events", err)
	}
	for _, stmt := range []string{q("detach-event-partition"), q("drop-event-partition")} {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(stmt, quoted)); err != nil {
			return fail("dropping", err)
		}
	}
	if _, err := tx.ExecContext(ctx, q("record-dropped-partition"), name, day, events, cutoff, now); err != nil {
		return fail("recording", err)
	}
	if err := tx.Commit(); err != nil {
		return fail("committing", err)
	}
	return DroppedPartition{Partition: name, Month: m, Events: events, Cutoff: cutoff, DroppedAt: now}, true, nil
}

// DroppedEventPartitions lists the months whose events were dropped, oldest
// first.
func (s *Store) DroppedEventPartitions(ctx context.Context) ([]DroppedPartition, error) {
	var out []DroppedPartition
	if err := s.DB.SelectContext(ctx, &out, q("dropped-partitions")); err != nil {
		return nil, fmt.Errorf("listing dropped event partitions: %w", eventsError(err))
	}
	for i := range out {
		out[i].Month = time.Date(out[i].Month.Year(), out[i].Month.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return out, nil
}
