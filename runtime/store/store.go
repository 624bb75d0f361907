package store

import (
	"bufio"
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

//go:embed queries.sql
var queriesSQL string

var queries = mustParseQueries(queriesSQL)

// insert-outbox-first is insert-outbox-batch without its ON CONFLICT clause,
// for a campaign that has no outbox row yet (CampaignEnqueuer): speculative
// insertion checks both unique keys before and after each row, which made the
// insert about 35% dearer (2.0 s against 1.3 s for 100,000 rows in batches of
// 500). A duplicate (two contacts with one address, a second materializer)
// fails the statement with a unique violation, and the batch goes through
// insert-outbox-batch. Derived, so the two never differ in what they enqueue
// (the columns, the suppression filter).
func init() {
	batch := strings.TrimSuffix(queries["insert-outbox-batch"], ";")
	first, ok := strings.CutSuffix(strings.TrimSpace(batch), "ON CONFLICT DO NOTHING")
	if !ok {
		panic("store: insert-outbox-batch no longer ends with ON CONFLICT DO NOTHING; insert-outbox-first is derived from it")
	}
	queries["insert-outbox-first"] = strings.TrimSpace(first) + ";"
}

// migrationLockID is the advisory lock key that serialises concurrent migrations
// (two daemons starting at once).
const migrationLockID = 0x63616d7067 // "campg"

// Store is the runner's state in Postgres.
type Store struct {
	DB *sqlx.DB

	// prepared holds the send path's statements (query name → *sqlx.Stmt),
	// prepared on first use: they run hundreds of times a second, and a long
	// statement's parse and plan cost as much as a batch's work.
	prepared sync.Map

	// Erasure hashes addresses to recognise forgotten people on the
	// suppression list (erasure.go); nil: no key, and the daemon refuses to
	// start while forgotten addresses exist (CheckErasureKey).
	Erasure *Erasure

	// outboxAdded counts the outbox rows this process's advancing
	// transactions enqueued since it last refreshed the outbox's statistics
	// (RefreshOutboxStats).
	outboxAdded atomic.Int64

	// eventsAdded counts the events InsertEvents stored, per month, for the
	// background refresh of their partitions' statistics (RefreshEventStats).
	eventsAdded eventGrowth

	// Log, if set, gets what fails in the store's background work (the
	// refresh of the event partitions' statistics); nil discards it.
	Log *slog.Logger
}

// prepare returns the prepared statement of the named query. Only queries
// whose generic plan is as good as a custom one belong here: reading contacts
// by key = ANY($1) was prepared once and measured slower (a generic plan that
// does not know the array's size). database/sql
// prepares it again on each pooled connection that needs it, including new
// ones after a database restart.
func (s *Store) prepare(ctx context.Context, name string) (*sqlx.Stmt, error) {
	return s.prepareText(ctx, name, q(name))
}

// getPrepared runs the named query, prepared, and scans its one row into dest:
// for the reads every pass makes (a few hundred microseconds of planning
// each, for a lookup that runs in tens).
func (s *Store) getPrepared(ctx context.Context, dest any, name string, args ...any) error {
	st, err := s.prepare(ctx, name)
	if err != nil {
		return err
	}
	return st.GetContext(ctx, dest, args...)
}

// selectPrepared runs the named query, prepared, and scans its rows into dest
// (see getPrepared).
func (s *Store) selectPrepared(ctx context.Context, dest any, name string, args ...any) error {
	st, err := s.prepare(ctx, name)
	if err != nil {
		return err
	}
	return st.SelectContext(ctx, dest, args...)
}

// execPrepared runs the named statement, prepared (see getPrepared).
func (s *Store) execPrepared(ctx context.Context, name string, args ...any) (sql.Result, error) {
	st, err := s.prepare(ctx, name)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (s *Store) prepareText(ctx context.Context, key, query string) (*sqlx.Stmt, error) {
	if st, ok := s.prepared.Load(key); ok {
		return st.(*sqlx.Stmt), nil
	}
	st, err := s.DB.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.prepared.LoadOrStore(key, st); loaded {
		st.Close()
		return prev.(*sqlx.Stmt), nil
	}
	return st, nil
}

// Open connects to url and checks the connection. Each session ends a
// statement whose caller has gone (sessionConnector).
func Open(ctx context.Context, url string) (*Store, error) {
	connector, err := pq.NewConnector(url)
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", Redact(url), RedactError(err, url))
	}
	db := sqlx.NewDb(sql.OpenDB(sessionConnector{connector}), "postgres")
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to database %s: %w (is Postgres running? `make pg-start` starts a local one)", Redact(url), RedactError(err, url))
	}
	st := &Store{DB: db}
	st.SetMaxConns(DefaultMaxConns)
	return st, nil
}

// DefaultMaxConns is the connection pool's size unless the daemon's --db-max-conns
// says otherwise: the send path's claimer, ledger and lease renewer, reconcile's
// materialization (a reading and a writing connection), the leader's heartbeat and
// the HTTP handlers each hold one at times.
const DefaultMaxConns = 16

// SetMaxConns sizes the pool: at most n connections, all of them kept while idle.
// database/sql keeps only two idle connections by default, so a daemon with more
// than two concurrent users of the database closed a connection after nearly every
// statement and opened (forked) a new Postgres backend, and prepared its statements
// again, for the next one. Idle connections are closed after five minutes, so a
// quiet daemon does not hold backends it no longer needs.
func (s *Store) SetMaxConns(n int) {
	if n < 1 {
		n = 1
	}
	s.DB.SetMaxOpenConns(n)
	s.DB.SetMaxIdleConns(n)
	s.DB.SetConnMaxIdleTime(5 * time.Minute)
}

// Close closes the prepared statements and the connection pool.
func (s *Store) Close() error {
	s.prepared.Range(func(_, st any) bool {
		st.(*sqlx.Stmt).Close()
		return true
	})
	return s.DB.Close()
}

func q(name string) string {
	s, ok := queries[name]
	if !ok {
		panic("store: no query named " + name)
	}
	return s
}

// ParseNamedQueries splits a file of SQL at its "-- name: NAME" lines into
// queries by name; each runs to the next name line, comments included
// (Postgres ignores them). The commands keep their own query files in this
// format too.
func ParseNamedQueries(src string) map[string]string { return mustParseQueries(src) }

func mustParseQueries(src string) map[string]string {
	out := map[string]string{}
	var name string
	var body strings.Builder
	flush := func() {
		if name != "" {
			out[name] = strings.TrimSpace(body.String())
		}
		body.Reset()
	}
	sc := bufio.NewScanner(strings.NewReader(src))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "-- name:"); ok {
			flush()
			name = strings.TrimSpace(rest)
			continue
		}
		body.WriteString(line)
		body.WriteByte('\n')
	}
	flush()
	return out
}

// Migrate applies every embedded migration not yet applied, in order, each in its
// own transaction, under an advisory lock so concurrent starts do not race.
func (s *Store) Migrate(ctx context.Context) (applied []string, err error) {
	conn, err := s.DB.Connx(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockID); err != nil {
		return nil, fmt.Errorf("migrate: taking lock: %w", err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, migrationLockID)

	// CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the
	// schema exists, so a least-privilege role, whose schema an administrator
	// created for it (docs/security.md), only creates it when it is missing.
	var haveSchema bool
	if err := conn.GetContext(ctx, &haveSchema, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'campaignctl')`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if !haveSchema {
		if _, err := conn.ExecContext(ctx, `CREATE SCHEMA campaignctl`); err != nil {
			return nil, fmt.Errorf("migrate: creating schema campaignctl: %w (a role without CREATE on the database needs an administrator to run CREATE SCHEMA campaignctl AUTHORIZATION <role> first; see docs/security.md)", err)
		}
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS campaignctl.schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("migrate: creating schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for _, path := range names {
		name := strings.TrimPrefix(path, "migrations/")
		num, _, ok := strings.Cut(name, "_")
		version, convErr := strconv.Atoi(num)
		if !ok || convErr != nil {
			return applied, fmt.Errorf("migrate: migration file %s must start with a number and '_'", name)
		}
		var exists bool
		if err := conn.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM campaignctl.schema_migrations WHERE version = $1)`, version); err != nil {
			return applied, fmt.Errorf("migrate: %w", err)
		}
		if exists {
			continue
		}
		body, err := migrationFiles.ReadFile(path)
		if err != nil {
			return applied, err
		}
		tx, err := conn.BeginTxx(ctx, nil)
		if err != nil {
			return applied, fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return applied, fmt.Errorf("migrate: applying %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaignctl.schema_migrations (version, name) VALUES ($1, $2)`, version, name); err != nil {
			tx.Rollback()
			return applied, fmt.Errorf("migrate: recording %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return applied, fmt.Errorf("migrate: committing %s: %w", name, err)
		}
		applied = append(applied, name)
	}
	// Months keep coming after the migrations ran, so every Migrate (every daemon
	// start) makes sure the months around today (wall clock) have event partitions.
	if _, err := ensureEventPartitionsAround(ctx, conn, time.Now()); err != nil {
		return applied, fmt.Errorf("migrate: %w", err)
	}
	return applied, nil
}

// Revision is one applied plan.
type Revision struct {
	ID           int64     `db:"id"`
	PlanHash     string    `db:"plan_hash"`
	Plan         string    `db:"plan"`
	SourceCommit string    `db:"source_commit"`
	AppliedAt    time.Time `db:"applied_at"`
	AppliedBy    string    `db:"applied_by"`
}

// ErrNoRevision means no plan has been applied yet.
var ErrNoRevision = errors.New("no plan has been applied yet: run `campaignctl apply plan.json`")

// InsertRevision records an applied plan and returns its id.
func (s *Store) InsertRevision(ctx context.Context, r Revision) (int64, error) {
	var id int64
	err := s.DB.GetContext(ctx, &id, q("insert-revision"), r.PlanHash, r.Plan, r.SourceCommit, r.AppliedAt, r.AppliedBy)
	if err != nil {
		return 0, fmt.Errorf("recording revision: %w", err)
	}
	return id, nil
}

// LatestRevision returns the most recently applied plan, or ErrNoRevision.
func (s *Store) LatestRevision(ctx context.Context) (Revision, error) {
	var r Revision
	err := s.DB.GetContext(ctx, &r, q("latest-revision"))
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNoRevision
	}
	if err != nil {
		return r, fmt.Errorf("reading latest revision: %w", err)
	}
	return r, nil
}

// LatestRevisionID returns the id of the most recently applied plan, or
// ErrNoRevision.
func (s *Store) LatestRevisionID(ctx context.Context) (int64, error) {
	var id int64
	if err := s.getPrepared(ctx, &id, "latest-revision-id"); err != nil {
		return 0, fmt.Errorf("reading latest revision: %w", err)
	}
	if id == 0 {
		return 0, ErrNoRevision
	}
	return id, nil
}

// MarkRevisionEnrolled records that the leader finished an enrollment pass
// under revision id (the first time only).
func (s *Store) MarkRevisionEnrolled(ctx context.Context, id int64, now time.Time) error {
	if _, err := s.DB.ExecContext(ctx, `UPDATE campaignctl.revisions SET enrolled_at = $2 WHERE id = $1 AND enrolled_at IS NULL`, id, now); err != nil {
		return fmt.Errorf("recording the enrollment pass of revision %d: %w", id, err)
	}
	return nil
}

// RevisionEnrolled reports whether the leader finished an enrollment pass
// under revision id.
func (s *Store) RevisionEnrolled(ctx context.Context, id int64) (bool, error) {
	var ok bool
	if err := s.DB.GetContext(ctx, &ok, `SELECT enrolled_at IS NOT NULL FROM campaignctl.revisions WHERE id = $1`, id); err != nil {
		return false, fmt.Errorf("reading the enrollment pass of revision %d: %w", id, err)
	}
	return ok, nil
}

// Campaign is the actual state of one campaign.
type Campaign struct {
	Name           string        `db:"name" json:"name"`
	Hash           string        `db:"hash" json:"hash"`
	RevisionID     int64         `db:"revision_id" json:"revision_id"`
	Status         string        `db:"status" json:"status"`
	SendAt         sql.NullTime  `db:"send_at" json:"-"`
	MaterializedAt sql.NullTime  `db:"materialized_at" json:"-"`
	Audience       sql.NullInt64 `db:"audience" json:"-"`
	CreatedAt      time.Time     `db:"created_at" json:"created_at"`
	UpdatedAt      time.Time     `db:"updated_at" json:"updated_at"`
}

// Campaign statuses.
const (
	StatusScheduled = "scheduled"
	StatusSending   = "sending"
	StatusSent      = "sent"
	StatusFailed    = "failed" // finished, and every message failed
	StatusRemoved   = "removed"
)

// Campaigns lists every campaign the store knows, by name.
func (s *Store) Campaigns(ctx context.Context) ([]Campaign, error) {
	var out []Campaign
	if err := s.DB.SelectContext(ctx, &out, q("list-campaigns")); err != nil {
		return nil, fmt.Errorf("listing campaigns: %w", err)
	}
	return out, nil
}

// UpsertCampaign creates a campaign or records its new hash and revision.
func (s *Store) UpsertCampaign(ctx context.Context, name, hash string, revision int64, sendAt *time.Time, now time.Time) error {
	_, err := s.DB.ExecContext(ctx, q("upsert-campaign"), name, hash, revision, sendAt, now)
	if err != nil {
		return fmt.Errorf("saving campaign %s: %w", name, err)
	}
	return nil
}

// RemoveCampaign marks a campaign removed and cancels its pending sends, atomically.
func (s *Store) RemoveCampaign(ctx context.Context, name string, now time.Time) error {
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, q("remove-campaign"), name, now); err != nil {
		return fmt.Errorf("removing campaign %s: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, q("cancel-pending"), name); err != nil {
		return fmt.Errorf("cancelling sends of %s: %w", name, err)
	}
	return tx.Commit()
}

// Recipient is one contact to enqueue.
type Recipient struct{ Key, Email string }

// EnqueueBatch inserts outbox rows of mail class class for a batch of recipients; rows that already
// exist for the same contact or the same normalized address are skipped. It
// returns how many rows were new.
func (s *Store) EnqueueBatch(ctx context.Context, campaign, step, class string, due, now time.Time, batch []Recipient) (int64, error) {
	n, _, err := s.enqueue(ctx, false, campaign, step, class, due, now, batch)
	return n, err
}

// CampaignEnqueuer enqueues one materialization of a campaign's audience,
// batch by batch, as EnqueueBatch does. While the campaign has no outbox row
// and no batch has met a duplicate, it inserts without ON CONFLICT
// (insert-outbox-first, about a third cheaper); from the first unique
// violation on (two contacts sharing an address, another replica
// materializing at once, a re-run after a crash) it is EnqueueBatch.
type CampaignEnqueuer struct {
	s               *Store
	campaign, class string
	first           bool
}

// NewCampaignEnqueuer starts a materialization of campaign.
func (s *Store) NewCampaignEnqueuer(ctx context.Context, campaign, class string) (*CampaignEnqueuer, error) {
	var exists bool
	if err := s.getPrepared(ctx, &exists, "campaign-has-messages", campaign); err != nil {
		return nil, fmt.Errorf("campaign %s: reading its outbox: %w", campaign, err)
	}
	return &CampaignEnqueuer{s: s, campaign: campaign, class: class, first: !exists}, nil
}

// Enqueue inserts a batch due at due and returns how many rows were new.
func (q *CampaignEnqueuer) Enqueue(ctx context.Context, due, now time.Time, batch []Recipient) (int64, error) {
	n, conflict, err := q.s.enqueue(ctx, q.first, q.campaign, "", q.class, due, now, batch)
	if conflict {
		q.first = false
	}
	return n, err
}

// enqueue inserts batch with insert-outbox-batch, or first tries
// insert-outbox-first when first is set; conflict says that one met a unique
// key, and the batch then went through insert-outbox-batch.
func (s *Store) enqueue(ctx context.Context, first bool, campaign, step, class string, due, now time.Time, batch []Recipient) (n int64, conflict bool, err error) {
	if class == "" {
		class = "marketing"
	}
	// Forgotten addresses are on the suppression list as hashes the query
	// cannot compute (the key stays out of the database): they are left out
	// here, before the query's own suppression check.
	if s.Erasure != nil && len(batch) > 0 {
		addrs := make([]string, len(batch))
		for i, r := range batch {
			addrs[i] = r.Email
		}
		erased, err := s.erasedAmong(ctx, addrs)
		if err != nil {
			return 0, false, fmt.Errorf("enqueueing %d messages of %s: %w", len(batch), campaign, err)
		}
		if len(erased) > 0 {
			kept := make([]Recipient, 0, len(batch))
			for _, r := range batch {
				if !erased[strings.ToLower(strings.TrimSpace(r.Email))] {
					kept = append(kept, r)
				}
			}
			batch = kept
		}
	}
	keys := make([]string, len(batch))
	emails := make([]string, len(batch))
	for i, r := range batch {
		keys[i], emails[i] = r.Key, r.Email
	}
	args := []any{campaign, step, due, now, pq.Array(keys), pq.Array(emails), class}
	query := "insert-outbox-batch"
	if first {
		query = "insert-outbox-first"
	}
	res, err := s.execPrepared(ctx, query, args...)
	var pe *pq.Error
	if first && errors.As(err, &pe) && pe.Code == "23505" {
		conflict = true
		res, err = s.execPrepared(ctx, "insert-outbox-batch", args...)
	}
	if err != nil {
		return 0, conflict, fmt.Errorf("enqueueing %d messages of %s: %w", len(batch), campaign, err)
	}
	n, err = res.RowsAffected()
	return n, conflict, err
}

// MarkMaterialized records that a campaign's whole audience is in the outbox.
// The outbox's planner statistics are refreshed along the way by an
// OutboxGrowth.
func (s *Store) MarkMaterialized(ctx context.Context, campaign string, audience int64, now time.Time) error {
	_, err := s.DB.ExecContext(ctx, q("mark-materialized"), campaign, now, audience)
	return err
}

// analyzeAfterRows is the number of rows added to the outbox from which its
// planner statistics are refreshed.
const analyzeAfterRows = 1000

// OutboxGrowth refreshes the outbox's planner statistics while a campaign's
// audience is materialized, since sending starts with the first batch. A bulk
// enqueue grows the outbox from nothing to millions of rows before autovacuum
// notices, and with the old statistics the planner claims and records with
// scans of every pending row: each ledger write (record-outcomes) of the
// send benchmark read all the rows enqueued so far through
// outbox_campaign_pending, 5 to 37 ms a batch of 32 while 100,000 rows were
// enqueued, which slowed sending to a third of its rate until the end of the
// materialization; a claim of 250 rows took 30 ms instead of 2 at 40,000
// rows. It refreshes once 1,000 rows are added, then each time the rows added
// have grown 4×, and at the end (Done) when they doubled since the last
// refresh: log(n) ANALYZEs, each of them a sample of bounded cost (about
// 200 ms at 100,000 rows here).
type OutboxGrowth struct {
	s          *Store
	added      int64
	analyzedAt int64 // rows added at the last refresh (at least analyzeAfterRows); -1 for none
}

// NewOutboxGrowth starts counting one materialization.
func (s *Store) NewOutboxGrowth() *OutboxGrowth {
	return &OutboxGrowth{s: s, analyzedAt: -1}
}

// Add counts the rows a batch inserted.
func (g *OutboxGrowth) Add(ctx context.Context, added int64) error {
	g.added += added
	if g.added < max(analyzeAfterRows, 4*g.analyzedAt) {
		return nil
	}
	return g.analyze(ctx)
}

// Done refreshes the statistics at the end of a materialization of matched
// contacts when the rows added doubled since the last refresh, or when there
// was none and the audience is large: a materialization that an earlier crash
// cut short adds few rows now, but those of the earlier run may never have
// been counted.
func (g *OutboxGrowth) Done(ctx context.Context, matched int64) error {
	if (g.analyzedAt < 0 && matched >= analyzeAfterRows) || (g.analyzedAt > 0 && g.added >= 2*g.analyzedAt) {
		return g.analyze(ctx)
	}
	return nil
}

func (g *OutboxGrowth) analyze(ctx context.Context) error {
	g.analyzedAt = g.added
	return g.s.analyzeOutbox(ctx)
}

// refreshStatisticsTarget is the statistics target of the send path's own
// refreshes of the outbox (analyzeOutbox): a sample of 3,000 rows instead of
// default_statistics_target's 30,000 (100 by default). They exist to tell the
// planner the table's size and how many of its rows are pending, of which
// objects, and those need no finer histogram; autovacuum's own ANALYZE comes
// later with the server's target. The sample is most of the cost: on the
// outbox the send benchmark leaves (100,000 sent rows), 142 ms against 716 ms
// at 100 (79-91 against 345-375 ms on a less bloated copy).
const refreshStatisticsTarget = 10

// analyzeOutbox refreshes the outbox's planner statistics (OutboxGrowth,
// RefreshOutboxStats), at refreshStatisticsTarget.
func (s *Store) analyzeOutbox(ctx context.Context) error {
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("refreshing outbox statistics: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("SET LOCAL default_statistics_target = %d", refreshStatisticsTarget)); err != nil {
		return fmt.Errorf("refreshing outbox statistics: %w", err)
	}
	if _, err := tx.ExecContext(ctx, q("analyze-outbox")); err != nil {
		return fmt.Errorf("refreshing outbox statistics: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("refreshing outbox statistics: %w", err)
	}
	return nil
}

// RefreshOutboxStats refreshes the outbox's planner statistics once the
// messages that sequences and workflows enqueued (through Advancer.Apply)
// since the last refresh reach analyzeAfterRows and a tenth of the pending
// rows the statistics know of. Campaigns refresh them when their audience is
// materialized (MarkMaterialized); steps enqueue a batch at a time, so the
// outbox grew from nothing to thousands of pending rows while the planner
// still expected a dozen, and each ledger write (record-outcomes) scanned
// every pending row instead of looking its batch up by id: 22 ms per
// batch of 23 outcomes in the three-daemon test, about 1 ms per message,
// until autovacuum's analyze, a minute or more later. Pending rows, not all
// rows: an outbox of a million sent messages whose statistics say nothing
// is pending needs the refresh as much as an empty one.
func (s *Store) RefreshOutboxStats(ctx context.Context) error {
	added := s.outboxAdded.Load()
	if added < analyzeAfterRows {
		return nil
	}
	var pending float64
	if err := s.DB.GetContext(ctx, &pending, q("outbox-known-pending")); err != nil {
		return fmt.Errorf("reading the outbox's statistics: %w", err)
	}
	if float64(added) < pending/10 || !s.outboxAdded.CompareAndSwap(added, 0) {
		return nil
	}
	return s.analyzeOutbox(ctx)
}

// Claimed is an outbox row a worker holds. (Worker, ClaimSeq) is the claim's
// fencing token: an outcome is recorded only while both still match the row.
type Claimed struct {
	ID int64 `db:"id"`
	// Kind and Campaign identify the object: a campaign, a sequence, …
	Kind     string `db:"kind"`
	Campaign string `db:"campaign"`
	Step     string `db:"step"`
	// Variant is the A/B variant the message carries, if any.
	Variant string `db:"variant"`
	// Occurrence of the enrollment the message belongs to (0: a campaign).
	Occurrence int `db:"occurrence"`
	// Class is the mail class: marketing, transactional or internal.
	Class      string `db:"class"`
	EmailNorm  string `db:"email_normalized"`
	ContactKey string `db:"contact_key"`
	Email      string `db:"email"`
	Attempts   int    `db:"attempts"`
	// ClaimSeq numbers the claims of the row: one more for each, never one
	// less (a release takes its attempt back, not its claim), so it tells
	// this claim from every other of the row, this replica's too.
	ClaimSeq       int64     `db:"claim_seq"`
	FirstAttemptAt time.Time `db:"first_attempt_at"`
	// SuppressedAs is the reason the address is on the suppression list at
	// claim time (unsubscribed, blacklisted, hard_bounce, complaint, manual,
	// or erased for a forgotten person), "" when it is not. Marketing mail to
	// a suppressed address is cancelled; another class goes only when its
	// policy bypasses that reason (BypassesSuppression).
	SuppressedAs string `db:"suppressed_as"`
	// DueAt is when the row was due (the engine's clock): with ID, where a
	// claim cursor stands after it.
	DueAt time.Time `db:"due_at"`
}

// claimRows runs claim-due and reads its rows. Scanned by hand, column by
// column as claim-due's RETURNING lists them, not by sqlx's reflection (1.2-1.3
// µs a row in serve's profile): every message the daemon sends is read here.
func (s *Store) claimRows(ctx context.Context, args ...any) ([]Claimed, error) {
	st, err := s.prepare(ctx, "claim-due")
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Claimed
	for rows.Next() {
		var c Claimed
		if err := rows.Scan(&c.ID, &c.Kind, &c.Campaign, &c.Step, &c.Variant, &c.Occurrence, &c.Class,
			&c.EmailNorm, &c.ContactKey, &c.Email, &c.Attempts, &c.ClaimSeq, &c.FirstAttemptAt, &c.DueAt,
			&c.SuppressedAs); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ClaimCursor is where a claim starts in each lane's due order (claim-due):
// after the row Bulk for campaigns, after the row OneToOne for sequences'
// and workflows' steps. The zero cursor starts both from the beginning. The
// waited lane has none: it is scanned from its start (migration 028).
type ClaimCursor struct {
	Bulk, OneToOne LanePosition
}

// LanePosition is a row's place in a lane's due order; the zero position
// is the lane's beginning.
type LanePosition struct {
	DueAt time.Time
	ID    int64
}

func (p LanePosition) after(r Claimed) LanePosition {
	if p.ID == 0 || r.DueAt.After(p.DueAt) || r.DueAt.Equal(p.DueAt) && r.ID > p.ID {
		return LanePosition{DueAt: r.DueAt, ID: r.ID}
	}
	return p
}

// args are the position as claim-due's (due_at, id) parameters: NULLs for
// the beginning.
func (p LanePosition) args() (due, id any) {
	if p.ID == 0 {
		return nil, nil
	}
	return p.DueAt, p.ID
}

// After returns the cursor past every row of rows and of c, in each row's
// lane. The waited lane has no cursor: its rows move neither.
func (c ClaimCursor) After(rows []Claimed) ClaimCursor {
	for _, r := range rows {
		switch r.Lane() {
		case LaneOneToOne:
			c.OneToOne = c.OneToOne.after(r)
		case LaneBulk:
			c.Bulk = c.Bulk.after(r)
		}
	}
	return c
}

// Lane is which of claim-due's lanes a row is claimed in; lanes are claimed
// in this order.
type Lane int

const (
	// LaneWaited is mail someone is waiting for: a double opt-in
	// confirmation, an autoresponder's message.
	LaneWaited Lane = iota
	// LaneOneToOne is the other mail sent to one person because of where
	// they are in a series: sequences' and workflows' steps.
	LaneOneToOne
	// LaneBulk is campaigns' mail.
	LaneBulk
	// Lanes is the number of lanes.
	Lanes
)

// Lane returns the lane the row is claimed in (claim-due names the same
// kinds).
func (c Claimed) Lane() Lane {
	switch c.Kind {
	case KindSubscription, "autoresponder":
		return LaneWaited
	case "campaign":
		return LaneBulk
	}
	return LaneOneToOne
}

// ClaimLimits bounds a claim: at most Waited rows of mail someone waits for,
// taken first, then at most OneToOne rows of the one-to-one lane's other
// kinds, then at most Bulk campaign rows, and at most Total in all.
type ClaimLimits struct {
	Waited, OneToOne, Bulk, Total int
}

// Limit is at most n rows in all, from any lane.
func Limit(n int) ClaimLimits { return ClaimLimits{Waited: n, OneToOne: n, Bulk: n, Total: n} }

// Suppressed reports whether the address was on the suppression list at
// claim time, for whatever reason.
func (c Claimed) Suppressed() bool { return c.SuppressedAs != "" }

// Suppression reasons the send path tells apart: an unsubscribe from all
// marketing mail, which a confirmed double opt-in lifts and a policy may let
// other classes bypass, and a forgotten person's address (kept as a keyed
// hash), which nothing bypasses.
const (
	SuppressionUnsubscribed = "unsubscribed"
	SuppressionErased       = "erased"
)

// ClaimDue claims up to limit rows due at now (the engine's clock) for worker,
// leased for lease on the database's clock, reclaiming rows whose lease expired.
// Rows come back in lane order (Lane), then due order.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, worker string, lease time.Duration, limit int) ([]Claimed, error) {
	return s.ClaimDueAfter(ctx, now, worker, lease, Limit(limit), ClaimCursor{})
}

// ClaimDueAfter is ClaimDue within lim, for the rows after the cursor in
// each lane's due order only (all of them for the zero cursor). A row that
// becomes claimable behind the cursor is claimed by the next claim from the
// start. The rows come back in lane order (Lane), each lane in due order.
func (s *Store) ClaimDueAfter(ctx context.Context, now time.Time, worker string, lease time.Duration, lim ClaimLimits, after ClaimCursor) ([]Claimed, error) {
	bulkDue, bulkID := after.Bulk.args()
	oneDue, oneID := after.OneToOne.args()
	out, err := s.claimRows(ctx, now, worker, interval(lease), lim.Total,
		bulkDue, bulkID, oneDue, oneID, lim.OneToOne, lim.Bulk, lim.Waited)
	if err != nil {
		return nil, fmt.Errorf("claiming due messages: %w", err)
	}
	slices.SortFunc(out, func(a, b Claimed) int {
		if c := cmp.Compare(a.Lane(), b.Lane()); c != 0 {
			return c
		}
		if c := a.DueAt.Compare(b.DueAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	// The claim's suppression check matches addresses; a forgotten one is on
	// the list as its keyed hash, matched here. Every kind's messages pass
	// through this claim, so none reaches a forgotten person. When the check
	// cannot run the claim fails: its rows wait for their lease to run out
	// and are claimed again, rather than sent unchecked.
	if s.Erasure != nil && len(out) > 0 {
		addrs := make([]string, len(out))
		for i, r := range out {
			addrs[i] = r.EmailNorm
		}
		erased, err := s.erasedAmong(ctx, addrs)
		if err != nil {
			return nil, fmt.Errorf("claiming due messages: %w", err)
		}
		for i := range out {
			if erased[out[i].EmailNorm] {
				out[i].SuppressedAs = SuppressionErased
			}
		}
	}
	return out, nil
}

// SuppressionReasons returns, for those of addrs (normalized addresses) that
// are on the suppression list now, the reason, as the claim reports it in
// Claimed.SuppressedAs (SuppressionErased for a forgotten one). The claim
// checked its rows when it took them; a row that waits for its batch longer
// than that check can be trusted is checked again with this.
func (s *Store) SuppressionReasons(ctx context.Context, addrs []string) (map[string]string, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	byHash, hashes := s.erasureKeys(addrs)
	var rows []struct {
		Key    string `db:"email_normalized"`
		Reason string `db:"reason"`
	}
	keys := append(slices.Clip(addrs), hashes...)
	if err := s.DB.SelectContext(ctx, &rows, q("suppression-reasons"), pq.Array(keys)); err != nil {
		return nil, fmt.Errorf("checking the suppression list: %w", err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		if a, hashed := byHash[r.Key]; hashed {
			if r.Reason == SuppressionErased {
				out[a] = SuppressionErased // over the address's own reason, if any
			}
		} else if out[r.Key] != SuppressionErased {
			out[r.Key] = r.Reason
		}
	}
	return out, nil
}

// RenewLeases extends by lease the claims worker still holds on ids, and returns
// how many it still holds.
func (s *Store) RenewLeases(ctx context.Context, worker string, ids []int64, lease time.Duration) (int64, error) {
	res, err := s.execPrepared(ctx, "renew-leases", worker, pq.Array(ids), interval(lease))
	if err != nil {
		return 0, fmt.Errorf("renewing leases: %w", err)
	}
	return res.RowsAffected()
}

func interval(d time.Duration) string { return fmt.Sprintf("%d milliseconds", d.Milliseconds()) }

// Outbox statuses an outcome can set.
const (
	OutboxPending   = "pending"
	OutboxSent      = "sent"
	OutboxFailed    = "failed"
	OutboxCancelled = "cancelled"
)

// Outcome is the result of one claimed row, recorded by RecordOutcomes.
type Outcome struct {
	ID       int64
	ClaimSeq int64  // the claim's Claimed.ClaimSeq, part of the fencing token
	Status   string // OutboxSent, OutboxFailed, OutboxCancelled or OutboxPending (retry or release)
	// At is when it was sent (sent) or when it is due again (a retry).
	At           time.Time
	MessageID    string
	TemplateHash string
	Error        string
	// SMTP is the deciding reply in short, e.g. "rcpt 550 5.1.1".
	SMTP string
	// Release gives the row back untried: pending, due as before, and the claim
	// does not count as an attempt.
	Release bool
	// Hold puts the row back untried until At (send-time policy: quiet hours,
	// a frequency cap), with Error saying why; the claim does not count as an
	// attempt.
	Hold bool
	// Suppress adds the address to the suppression list as a hard bounce.
	Suppress bool
	Email    string
	Campaign string
}

// RecordOutcomes writes a batch of outcomes in one statement, for worker's
// claims only. It returns the ids that were recorded; an id missing from the
// result had lost its claim (its lease expired and another replica took it).
func (s *Store) RecordOutcomes(ctx context.Context, worker string, outs []Outcome) (map[int64]bool, error) {
	n := len(outs)
	ids, seqs := make([]int64, n), make([]int64, n)
	statuses, msgIDs, hashes, errs, smtps := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats := make([]time.Time, n)
	release, hold := make([]bool, n), make([]bool, n)
	var supEmails, supCampaigns []string
	var supAt []time.Time
	for i, o := range outs {
		ids[i], seqs[i], statuses[i], ats[i] = o.ID, o.ClaimSeq, o.Status, o.At
		msgIDs[i], hashes[i], errs[i], smtps[i], release[i], hold[i] = o.MessageID, o.TemplateHash, o.Error, o.SMTP, o.Release, o.Hold
		if o.Suppress {
			supEmails = append(supEmails, o.Email)
			supCampaigns = append(supCampaigns, o.Campaign)
			supAt = append(supAt, o.At)
		}
	}
	st, err := s.prepare(ctx, "record-outcomes")
	if err != nil {
		return nil, fmt.Errorf("recording %d outcomes: %w", n, err)
	}
	rows, err := st.QueryContext(ctx, worker, pq.Array(ids), pq.Array(seqs), pq.Array(statuses),
		pq.Array(ats), pq.Array(msgIDs), pq.Array(hashes), pq.Array(errs), pq.Array(smtps), pq.Array(release),
		pq.Array(supEmails), pq.Array(supCampaigns), pq.Array(supAt), pq.Array(hold))
	if err != nil {
		return nil, fmt.Errorf("recording %d outcomes: %w", n, err)
	}
	defer rows.Close()
	done := make(map[int64]bool, n)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("recording %d outcomes: %w", n, err)
		}
		done[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recording %d outcomes: %w", n, err)
	}
	return done, nil
}

// RecordedOutcomes returns those of outs that their rows already hold as
// worker's RecordOutcomes left them (outcomes-recorded): after a ledger write
// that failed, the earlier attempt may have committed with its reply lost.
func (s *Store) RecordedOutcomes(ctx context.Context, worker string, outs []Outcome) (map[int64]bool, error) {
	n := len(outs)
	ids, seqs, statuses := make([]int64, n), make([]int64, n), make([]string, n)
	for i, o := range outs {
		ids[i], seqs[i], statuses[i] = o.ID, o.ClaimSeq, o.Status
	}
	var found []int64
	if err := s.DB.SelectContext(ctx, &found, q("outcomes-recorded"), worker, pq.Array(ids), pq.Array(seqs), pq.Array(statuses)); err != nil {
		return nil, fmt.Errorf("reading back %d outcomes: %w", n, err)
	}
	out := make(map[int64]bool, len(found))
	for _, id := range found {
		out[id] = true
	}
	return out, nil
}

// FinishCampaigns marks campaigns with nothing left to send as sent.
func (s *Store) FinishCampaigns(ctx context.Context, now time.Time) error {
	_, err := s.execPrepared(ctx, "finish-campaigns", now)
	return err
}

// StatusCount is the number of outbox rows of a campaign in one status.
type StatusCount struct {
	Campaign string `db:"campaign" json:"campaign"`
	Status   string `db:"status" json:"status"`
	N        int64  `db:"n" json:"count"`
}

// CampaignCounts summarises the outbox by campaign and status.
func (s *Store) CampaignCounts(ctx context.Context) ([]StatusCount, error) {
	var out []StatusCount
	if err := s.DB.SelectContext(ctx, &out, q("campaign-counts")); err != nil {
		return nil, fmt.Errorf("counting messages: %w", err)
	}
	return out, nil
}

// PendingWork reports whether anything is left to do now or later, leaving
// out the work of the paused objects (see PausedWork).
func (s *Store) PendingWork(ctx context.Context, paused []ObjectRef) (bool, error) {
	kinds, names := objectArrays(paused)
	var left bool
	err := s.getPrepared(ctx, &left, "pending-work", pq.Array(kinds), pq.Array(names))
	return left, err
}

// PausedWork is what one paused object holds: work that waits for a revision
// that unpauses it.
type PausedWork struct {
	Kind        string `db:"kind"`
	Name        string `db:"name"`
	Enrollments int64  `db:"enrollments"` // active enrollments
	Messages    int64  `db:"messages"`    // pending messages, held or not yet due
}

// PausedWork lists, for each of the paused objects, its active enrollments
// and pending messages, by kind then name.
func (s *Store) PausedWork(ctx context.Context, paused []ObjectRef) ([]PausedWork, error) {
	if len(paused) == 0 {
		return nil, nil
	}
	kinds, names := objectArrays(paused)
	var out []PausedWork
	if err := s.DB.SelectContext(ctx, &out, q("paused-work"), pq.Array(kinds), pq.Array(names)); err != nil {
		return nil, fmt.Errorf("counting the work of the paused objects: %w", err)
	}
	return out, nil
}

// TryLeader takes the leadership advisory lock on a dedicated connection. The
// returned release function frees it; the lock also dies with the connection, so
// a crashed leader never blocks the others.
func (s *Store) TryLeader(ctx context.Context) (ok bool, release func(), err error) {
	conn, err := s.DB.Connx(ctx)
	if err != nil {
		return false, nil, err
	}
	if err := conn.GetContext(ctx, &ok, `SELECT pg_try_advisory_lock($1)`, leaderLockID); err != nil {
		conn.Close()
		return false, nil, fmt.Errorf("leader election: %w", err)
	}
	if !ok {
		conn.Close()
		return false, func() {}, nil
	}
	return true, func() {
		conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, leaderLockID)
		conn.Close()
	}, nil
}

const leaderLockID = 0x63616d706c // "campl"

// Suppress records that an address must not be mailed again.
func (s *Store) Suppress(ctx context.Context, email, reason, campaign string, now time.Time) error {
	if _, err := s.DB.ExecContext(ctx, q("suppress"), email, reason, campaign, now); err != nil {
		return fmt.Errorf("suppressing address: %w", err)
	}
	return nil
}

// IsSuppressed reports whether an address is suppressed.
func (s *Store) IsSuppressed(ctx context.Context, email string) (bool, error) {
	var ok bool
	err := s.DB.GetContext(ctx, &ok, q("is-suppressed"), email)
	if err != nil || ok {
		return ok, err
	}
	erased, err := s.erasedAmong(ctx, []string{email})
	return erased[strings.ToLower(strings.TrimSpace(email))], err
}

// HeldRows counts outbox rows held under a claim (in flight on some replica,
// or left by one that died, until its lease runs out).
func (s *Store) HeldRows(ctx context.Context) (int64, error) {
	var n int64
	if err := s.DB.GetContext(ctx, &n, q("held-rows")); err != nil {
		return 0, fmt.Errorf("counting claimed rows: %w", err)
	}
	return n, nil
}

// CapCounts is what a frequency cap counts for the addresses of a claim:
// Sent holds, per normalized address, when it was sent marketing mail since
// the window's start, oldest first; InFlight how many marketing messages to it
// other claims hold and have not sent yet, nor found without room.
type CapCounts struct {
	Sent     map[string][]time.Time
	InFlight map[string]int
}

// capLockTimeout bounds DecideCaps's wait for its addresses' locks.
const capLockTimeout = "5s"

// DecideCaps counts what the frequency caps of a claim's capped rows count,
// lets decide pick the rows that have no room (or are not sent now), and
// releases those, in one transaction that holds each address's lock
// (lock-cap-addresses) from the count to the commit. A claimed row counts
// against every other claim's caps from its claim on (claim-due sets
// cap_seq) until it is sent, given back, or released here: the claims of
// every replica, counting the same address at the same instant, take turns,
// and each counts what the ones before it kept. Only the rows without room
// are written, usually none. claim is every row of the claim (none of them
// counts itself), capped those under a cap, since the widest window's
// start, worker this replica.
func (s *Store) DecideCaps(ctx context.Context, worker string, claim, capped []Claimed, since time.Time, decide func(CapCounts) (release []Claimed)) error {
	if len(capped) == 0 {
		return nil
	}
	addresses := make([]string, len(capped))
	for i, r := range capped {
		addresses[i] = r.EmailNorm
	}
	own := make([]int64, len(claim))
	for i, r := range claim {
		own[i] = r.ID
	}
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("frequency caps: %w", err)
	}
	defer tx.Rollback()
	// The locks are held for a count and a commit: a wait longer than this
	// means a holder that stopped (a replica cut off mid-transaction), and
	// the claim holds its capped messages a minute rather than stall.
	if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '`+capLockTimeout+`'`); err != nil {
		return fmt.Errorf("frequency caps: %w", err)
	}
	if _, err := tx.ExecContext(ctx, q("lock-cap-addresses"), pq.Array(addresses)); err != nil {
		return fmt.Errorf("frequency caps: locking %d addresses: %w", len(addresses), err)
	}
	counts := CapCounts{Sent: map[string][]time.Time{}, InFlight: map[string]int{}}
	rows, err := tx.QueryContext(ctx, q("cap-counts"), pq.Array(addresses), since, pq.Array(own))
	if err != nil {
		return fmt.Errorf("frequency caps: counting recent marketing mail: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var addr string
		var sent pq.StringArray
		var inFlight int
		if err := rows.Scan(&addr, &sent, &inFlight); err != nil {
			return fmt.Errorf("frequency caps: counting recent marketing mail: %w", err)
		}
		ts := make([]time.Time, 0, len(sent))
		for _, v := range sent {
			t, err := parsePGTimestamp(v)
			if err != nil {
				return fmt.Errorf("frequency caps: counting recent marketing mail: %w", err)
			}
			ts = append(ts, t)
		}
		counts.Sent[addr], counts.InFlight[addr] = ts, inFlight
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("frequency caps: counting recent marketing mail: %w", err)
	}
	if release := decide(counts); len(release) > 0 {
		ids, seqs := make([]int64, len(release)), make([]int64, len(release))
		for i, r := range release {
			ids[i], seqs[i] = r.ID, r.ClaimSeq
		}
		if _, err := tx.ExecContext(ctx, q("release-caps"), worker, pq.Array(ids), pq.Array(seqs)); err != nil {
			return fmt.Errorf("frequency caps: releasing %d messages: %w", len(release), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("frequency caps: %w", err)
	}
	return nil
}

// parsePGTimestamp reads a timestamptz as Postgres prints it inside an array.
func parsePGTimestamp(v string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999-07", "2006-01-02 15:04:05.999999-07:00", "2006-01-02 15:04:05.999999-07:00:00"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable timestamp %q", v)
}
