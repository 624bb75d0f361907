package store

// Contact events: storing them in bulk, idempotently, and keeping the monthly
// partitions of campaignctl.events (migrations/002_events.sql) ahead of the data.
// The SQL is in queries.sql, with why each statement is shaped so; the partition
// DDL there is a template filled in per month (DDL takes no bind parameters).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Event is one thing a contact did, as stored in campaignctl.events. Strings that
// are empty are stored empty; an empty ExternalID is stored as NULL (so it is
// never a duplicate), and empty Properties as {}.
type Event struct {
	OccurredAt time.Time
	Model      string
	ContactKey string
	Type       string
	Campaign   string
	Step       string
	Topic      string
	URL        string
	ExternalID string
	Properties json.RawMessage
}

// ErrNoEventsTable means the database has not been migrated to a version with the
// events table.
var ErrNoEventsTable = errors.New("the events table campaignctl.events does not exist: run `campaignctl migrate --db URL` first")

// maxEventPartitionMonths bounds one EnsureEventPartitions call (100 years): a
// mistyped year must not make thousands of tables.
const maxEventPartitionMonths = 1200

// EventPartitionName returns the name (without schema) of the partition holding
// events of t's month in UTC, e.g. "events_p202611".
func EventPartitionName(t time.Time) string {
	u := t.UTC()
	return fmt.Sprintf("events_p%04d%02d", u.Year(), int(u.Month()))
}

// monthStart is the first instant of t's month in UTC: partitions are UTC months
// whatever the session's or the caller's time zone.
func monthStart(t time.Time) time.Time {
	u := t.UTC()
	return time.Date(u.Year(), u.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// InsertEvents stores events in one transaction and returns how many rows were
// new. An event whose (model, external_id) is already stored, at whatever
// occurred_at, is skipped, and so is every copy of an id in the batch after its
// first (migrations/022_event_external_ids.sql): an external id names one event,
// so a client may re-send a batch safely, with the same times or not. Either the
// whole batch is stored or none of it.
func (s *Store) InsertEvents(ctx context.Context, events []Event) (inserted int64, err error) {
	if len(events) == 0 {
		return 0, nil
	}
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("storing events: %w", err)
	}
	defer tx.Rollback()
	n, err := InsertEventsTx(ctx, tx, events)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("storing events: committing: %w", err)
	}
	if n > 0 {
		s.noteEventsStored(events)
	}
	return n, nil
}

// InsertEventsTx is InsertEvents inside the caller's transaction, for callers that
// store several batches atomically. It returns how many rows were new.
// After an error the transaction is aborted and must be rolled back.
func InsertEventsTx(ctx context.Context, tx *sqlx.Tx, events []Event) (inserted int64, err error) {
	if len(events) == 0 {
		return 0, nil
	}
	if err := StageEventsTx(ctx, tx, events); err != nil {
		return 0, err
	}
	return InsertStagedEventsTx(ctx, tx)
}

// StageEventsTx copies events into the transaction's staging table without
// touching campaignctl.events, so it takes no lock on it: a long import stages
// its batches while the daemon goes on writing and reading events, and stores
// them all with InsertStagedEventsTx at its end. The first staged copy of an
// external id is the one stored. After an error the transaction is aborted and
// must be rolled back.
func StageEventsTx(ctx context.Context, tx *sqlx.Tx, events []Event) error {
	for i, e := range events {
		if err := checkEvent(e); err != nil {
			return fmt.Errorf("storing events: event %d of the batch: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, q("create-event-staging")); err != nil {
		return fmt.Errorf("storing events: creating staging table: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, q("copy-events-in"))
	if err != nil {
		return fmt.Errorf("storing events: starting COPY: %w", err)
	}
	for _, e := range events {
		var ext any // nil is COPY's NULL
		if e.ExternalID != "" {
			ext = e.ExternalID
		}
		props := string(e.Properties)
		if len(bytes.TrimSpace(e.Properties)) == 0 {
			props = "{}"
		}
		if _, err := stmt.ExecContext(ctx, e.OccurredAt, e.Model, e.ContactKey, e.Type, e.Campaign, e.Step, e.Topic, e.URL, ext, props); err != nil {
			stmt.Close()
			return fmt.Errorf("storing events: copying: %w", eventsError(err))
		}
	}
	// An Exec without arguments ends the COPY and reports any error of the rows
	// sent before it; Close alone would swallow it.
	if _, err := stmt.ExecContext(ctx); err != nil {
		stmt.Close()
		return fmt.Errorf("storing events: copying: %w", eventsError(err))
	}
	if err := stmt.Close(); err != nil {
		return fmt.Errorf("storing events: copying: %w", err)
	}
	return nil
}

// InsertStagedEventsTx stores the events StageEventsTx staged in tx, skipping
// stored external ids, empties the staging table and returns how many rows
// were new. Their months' partitions should exist before (EnsureEventPartitions,
// in a transaction of its own); events of other months go to the default
// partition.
func InsertStagedEventsTx(ctx context.Context, tx *sqlx.Tx) (inserted int64, err error) {
	res, err := tx.ExecContext(ctx, q("insert-staged-events"))
	if err != nil {
		return 0, fmt.Errorf("storing events: %w", eventsError(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("storing events: %w", err)
	}
	if _, err := tx.ExecContext(ctx, q("truncate-event-staging")); err != nil {
		return 0, fmt.Errorf("storing events: emptying staging table: %w", err)
	}
	return n, nil
}

// checkEvent refuses what the table would refuse with an unhelpful message, or
// accept wrongly: a zero time (it is a valid timestamptz, year 1), properties that
// are not a JSON object, text Postgres cannot hold. The full rules, with messages
// meant for the people who send events, are events.Validate's; the table's CHECK
// constraints remain the last word.
func checkEvent(e Event) error {
	if e.OccurredAt.IsZero() {
		return errors.New("occurred_at is not set")
	}
	for _, f := range []struct{ name, v string }{
		{"model", e.Model}, {"contact_key", e.ContactKey}, {"type", e.Type},
	} {
		if f.v == "" {
			return fmt.Errorf("%s is empty", f.name)
		}
	}
	for _, f := range []struct{ name, v string }{
		{"model", e.Model}, {"contact_key", e.ContactKey}, {"type", e.Type}, {"campaign", e.Campaign},
		{"step", e.Step}, {"topic", e.Topic}, {"url", e.URL}, {"external_id", e.ExternalID},
	} {
		if !utf8.ValidString(f.v) || strings.IndexByte(f.v, 0) >= 0 {
			return fmt.Errorf("%s %q is not valid UTF-8 text without NUL bytes", f.name, f.v)
		}
	}
	if p := bytes.TrimSpace(e.Properties); len(p) > 0 && (p[0] != '{' || !json.Valid(p)) {
		return fmt.Errorf("properties %.80q are not a JSON object", p)
	}
	return nil
}

// eventsError turns the errors a caller can act on into ones that say what to do.
func eventsError(err error) error {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return err
	}
	switch pqErr.Code {
	case "42P01", "3F000": // undefined_table, invalid_schema_name
		return fmt.Errorf("%w (%w)", ErrNoEventsTable, err)
	case "40P01": // deadlock_detected
		// Two transactions that both wrote events and then both needed a new
		// partition wait on each other; Postgres cancels one of them.
		return fmt.Errorf("another transaction was writing events and creating partitions at the same time, and Postgres cancelled this one to break the deadlock; run it again: %w", err)
	case "23514": // check_violation
		return fmt.Errorf("an event breaks the table's rule %s; check events with events.Validate before storing them: %w", pqErr.Constraint, err)
	}
	return err
}

// EnsureEventPartitions creates the monthly partitions of campaignctl.events that
// cover every month (UTC) from from's to to's, inclusive, and returns the names of
// those it created. It is idempotent and safe to run from several processes at
// once. Rows of a month that sit in the default partition are moved into the new
// partition in the same transaction.
//
// When every partition exists it only reads the catalog; otherwise it blocks
// writers of campaignctl.events until it commits (creating a partition needs it).
func (s *Store) EnsureEventPartitions(ctx context.Context, from, to time.Time) (created []string, err error) {
	months, err := eventMonths(from, to)
	if err != nil {
		return nil, err
	}
	// The common case (every daemon start) is that nothing is missing: answer it
	// without a transaction or a lock.
	existing, err := eventPartitions(ctx, s.DB)
	if err != nil {
		return nil, err
	}
	if len(missingMonths(months, existing)) == 0 {
		return nil, nil
	}
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("creating event partitions: %w", err)
	}
	defer tx.Rollback()
	created, err = ensureEventPartitions(ctx, tx, months)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("creating event partitions: committing: %w", err)
	}
	return created, nil
}

// EnsureEventPartitionsTx is EnsureEventPartitions inside the caller's transaction,
// for an import that must create the partitions of the months it meets and store
// their rows atomically. A partition it creates holds an exclusive lock on
// campaignctl.events until the caller's transaction ends.
func EnsureEventPartitionsTx(ctx context.Context, tx *sqlx.Tx, from, to time.Time) (created []string, err error) {
	months, err := eventMonths(from, to)
	if err != nil {
		return nil, err
	}
	return ensureEventPartitions(ctx, tx, months)
}

// ensureEventPartitionsAround makes sure the month of now, the one before and the
// three after have partitions, on conn (Migrate holds its own connection; taking a
// second one from the pool could wait forever on a pool of one).
func ensureEventPartitionsAround(ctx context.Context, conn *sqlx.Conn, now time.Time) ([]string, error) {
	m := monthStart(now)
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("creating event partitions: %w", err)
	}
	defer tx.Rollback()
	created, err := EnsureEventPartitionsTx(ctx, tx, m.AddDate(0, -1, 0), m.AddDate(0, 3, 0))
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("creating event partitions: committing: %w", err)
	}
	return created, nil
}

// eventMonths lists the month starts from from's month to to's month.
func eventMonths(from, to time.Time) ([]time.Time, error) {
	if from.After(to) {
		return nil, fmt.Errorf("event partitions: from %s is after to %s", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	}
	lo, hi := monthStart(from), monthStart(to)
	if lo.Year() < 1 || hi.Year() > 9999 {
		return nil, fmt.Errorf("event partitions: months %s to %s fall outside the years 1–9999", lo.Format("2006-01"), hi.Format("2006-01"))
	}
	n := (hi.Year()-lo.Year())*12 + int(hi.Month()) - int(lo.Month()) + 1
	if n > maxEventPartitionMonths {
		return nil, fmt.Errorf("event partitions: %s to %s is %d months, more than the %d one call may create; check the dates", lo.Format("2006-01"), hi.Format("2006-01"), n, maxEventPartitionMonths)
	}
	months := make([]time.Time, 0, n)
	for m := lo; !m.After(hi); m = m.AddDate(0, 1, 0) {
		months = append(months, m)
	}
	return months, nil
}

func missingMonths(months []time.Time, existing map[string]bool) []time.Time {
	var out []time.Time
	for _, m := range months {
		if !existing[EventPartitionName(m)] {
			out = append(out, m)
		}
	}
	return out
}

// eventPartitions returns the names of the partitions of campaignctl.events.
func eventPartitions(ctx context.Context, db sqlx.QueryerContext) (map[string]bool, error) {
	var names []string
	if err := sqlx.SelectContext(ctx, db, &names, q("list-event-partitions")); err != nil {
		return nil, fmt.Errorf("listing event partitions: %w", eventsError(err))
	}
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}

func ensureEventPartitions(ctx context.Context, tx *sqlx.Tx, months []time.Time) ([]string, error) {
	existing, err := eventPartitions(ctx, tx)
	if err != nil {
		return nil, err
	}
	if len(missingMonths(months, existing)) == 0 {
		return nil, nil
	}
	if _, err := tx.ExecContext(ctx, q("lock-events-for-partitioning")); err != nil {
		return nil, fmt.Errorf("creating event partitions: locking campaignctl.events: %w", eventsError(err))
	}
	// Under READ COMMITTED this statement sees what another caller committed while
	// we waited for the lock.
	if existing, err = eventPartitions(ctx, tx); err != nil {
		return nil, err
	}
	var created []string
	for _, m := range missingMonths(months, existing) {
		if err := createEventPartition(ctx, tx, m); err != nil {
			return nil, err
		}
		created = append(created, EventPartitionName(m))
	}
	return created, nil
}

// createEventPartition creates the partition of month m, moving its rows out of
// the default partition if there are any.
func createEventPartition(ctx context.Context, tx *sqlx.Tx, m time.Time) error {
	name := pq.QuoteIdentifier(EventPartitionName(m))
	next := m.AddDate(0, 1, 0)
	// Bounds are literals (DDL takes no parameters), written with an explicit UTC
	// offset so the session's TimeZone cannot shift them.
	lo, hi := pq.QuoteLiteral(m.Format("2006-01-02 15:04:05")+"+00"), pq.QuoteLiteral(next.Format("2006-01-02 15:04:05")+"+00")
	var inDefault bool
	if err := tx.GetContext(ctx, &inDefault, q("default-holds-month"), m, next); err != nil {
		return fmt.Errorf("creating event partition %s: %w", name, eventsError(err))
	}
	if !inDefault {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(q("create-event-partition"), name, lo, hi)); err != nil {
			return fmt.Errorf("creating event partition %s: %w", name, eventsError(err))
		}
		return nil
	}
	for _, stmt := range []struct {
		sql  string
		args []any
	}{
		{fmt.Sprintf(q("create-like-events"), name), nil},
		{fmt.Sprintf(q("move-default-rows"), name), []any{m, next}},
		{fmt.Sprintf(q("attach-event-partition"), name, lo, hi), nil},
	} {
		if _, err := tx.ExecContext(ctx, stmt.sql, stmt.args...); err != nil {
			return fmt.Errorf("creating event partition %s from rows of the default partition: %w", name, eventsError(err))
		}
	}
	return nil
}

// AnalyzeEventsAfter is how many events one import stores from which it
// refreshes the planner statistics of the partitions it wrote to
// (AnalyzeEventMonths).
const AnalyzeEventsAfter = 1000

// AnalyzeEventMonths refreshes the planner statistics of the event
// partitions that hold the given months (EventPartitionName of each), and of
// the default partition for a month without a partition of its own. A bulk
// import fills partitions that autovacuum analyzes only at its next round,
// up to a minute later; meanwhile every event-count trigger (a threshold, an
// engagement test) plans its per-contact subqueries on partitions that look
// empty. Measured on the demo's data (4,000 leads, 18,824 events): the
// threshold trigger's enrollment took 1.55 s with its partitions never
// analyzed and 78 ms after ANALYZE; a daemon started right after make
// demo's `events import` ran it in 4.9 s. ANALYZE samples, so its cost per partition is
// bounded whatever the size; only the partitions written to are read.
func (s *Store) AnalyzeEventMonths(ctx context.Context, months map[string]bool) error {
	if len(months) == 0 {
		return nil
	}
	have, err := eventPartitions(ctx, s.DB)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for m := range months {
		names[partitionHolding(have, m)] = true
	}
	return s.analyzeEventPartitions(ctx, names)
}

// partitionHolding is the partition that holds the month whose partition
// name is m: m itself when it exists (have), else the default partition.
func partitionHolding(have map[string]bool, m string) string {
	if have[m] {
		return m
	}
	return "events_default"
}

// analyzeEventPartitions runs one ANALYZE of the named partitions.
func (s *Store) analyzeEventPartitions(ctx context.Context, names map[string]bool) error {
	list := make([]string, 0, len(names))
	for n := range names {
		list = append(list, "campaignctl."+pq.QuoteIdentifier(n))
	}
	sort.Strings(list)
	if _, err := s.DB.ExecContext(ctx, "ANALYZE "+strings.Join(list, ", ")); err != nil {
		return fmt.Errorf("refreshing the statistics of %s: %w", strings.Join(list, ", "), eventsError(err))
	}
	return nil
}

// eventGrowth counts, per month (EventPartitionName), the events InsertEvents
// stored since the month's partition statistics were last refreshed, and
// runs one refresh at a time in the background. Without it a burst of events
// through the API (a backfill, a campaign's traffic) or of opens and clicks
// after a send sat in partitions whose statistics said "empty" until
// autovacuum's next round, up to a minute later, and every event-count
// trigger planned its per-contact subqueries on that (AnalyzeEventMonths
// has the figures). `events import` (InsertEventsTx) refreshes them itself.
type eventGrowth struct {
	mu         sync.Mutex
	added      map[string]int64
	sinceCheck int64 // events counted since the last refresh started
	running    bool
}

// eventStatsTimeout bounds one background refresh.
const eventStatsTimeout = time.Minute

// noteEventsStored counts a stored batch and, once AnalyzeEventsAfter events
// came in since the last check and none is running, starts a refresh. A
// batch's duplicates are counted too: an estimate, which only makes a
// refresh come a little early.
func (s *Store) noteEventsStored(events []Event) {
	g := &s.eventsAdded
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.added == nil {
		g.added = map[string]int64{}
	}
	var month time.Time
	var name string
	for _, e := range events {
		// Batches are mostly of one month: name it once.
		if m := monthStart(e.OccurredAt); !m.Equal(month) {
			month, name = m, EventPartitionName(m)
		}
		g.added[name]++
	}
	g.sinceCheck += int64(len(events))
	if g.running || g.sinceCheck < AnalyzeEventsAfter {
		return
	}
	g.running, g.sinceCheck = true, 0
	go s.refreshEventGrowth(maps.Clone(g.added))
}

// refreshEventGrowth runs one RefreshEventStats and forgets the counts of the
// months it refreshed; on failure the counts stay, and a later batch tries
// again.
func (s *Store) refreshEventGrowth(added map[string]int64) {
	ctx, cancel := context.WithTimeout(context.Background(), eventStatsTimeout)
	defer cancel()
	refreshed, err := s.RefreshEventStats(ctx, added)
	g := &s.eventsAdded
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running = false
	if err != nil {
		if s.Log != nil {
			s.Log.Warn("refreshing the event partitions' statistics failed; autovacuum refreshes them within about a minute", "err", err)
		}
		return
	}
	for _, m := range refreshed {
		if g.added[m] -= added[m]; g.added[m] <= 0 {
			delete(g.added, m)
		}
	}
}

// RefreshEventStats is AnalyzeEventMonths for events that arrive batch by
// batch (InsertEvents: POST /v1/events, opens and clicks): added counts, per month (EventPartitionName), the
// events stored since the month's partition was last refreshed this way. A
// partition is analyzed once AnalyzeEventsAfter events were added to it and
// at least a tenth of the rows its statistics know of (autovacuum's default
// scale factor, without waiting for autovacuum's next round), so a steady
// stream into a large partition is not analyzed on every batch. It returns
// the months whose partition it analyzed; the caller keeps counting the
// others.
func (s *Store) RefreshEventStats(ctx context.Context, added map[string]int64) (refreshed []string, err error) {
	have, err := eventPartitions(ctx, s.DB)
	if err != nil {
		return nil, err
	}
	per := map[string]int64{}
	for m, n := range added {
		per[partitionHolding(have, m)] += n
	}
	var candidates []string
	for p, n := range per {
		if n >= AnalyzeEventsAfter {
			candidates = append(candidates, p)
		}
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	var known []struct {
		Name      string  `db:"relname"`
		RelTuples float64 `db:"reltuples"`
	}
	if err := s.DB.SelectContext(ctx, &known, q("event-partition-tuples"), pq.Array(candidates)); err != nil {
		return nil, fmt.Errorf("reading the statistics of %s: %w", strings.Join(candidates, ", "), eventsError(err))
	}
	names := map[string]bool{}
	for _, k := range known {
		// reltuples is -1 for a partition never analyzed.
		if k.RelTuples < 0 || float64(per[k.Name]) >= k.RelTuples/10 {
			names[k.Name] = true
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	if err := s.analyzeEventPartitions(ctx, names); err != nil {
		return nil, err
	}
	for m := range added {
		if names[partitionHolding(have, m)] {
			refreshed = append(refreshed, m)
		}
	}
	sort.Strings(refreshed)
	return refreshed, nil
}
