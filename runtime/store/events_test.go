package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// migrated returns a store on a fresh, migrated database: a copy of a
// template migrated once per test binary (Migrate then has nothing to apply,
// and makes sure of the event partitions around today).
func migrated(t testing.TB) *store.Store {
	t.Helper()
	db, _ := storetest.OpenFromTemplate(t, "migrated", migratedTemplate)
	st := &store.Store{DB: db}
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// migratedTemplate runs the migrations on the template database that
// storetest.OpenFromTemplate copies for each test.
func migratedTemplate(ctx context.Context, db *sqlx.DB) error {
	_, err := (&store.Store{DB: db}).Migrate(ctx)
	return err
}

// openStore returns a store on a fresh database that has not been migrated.
func openStore(t testing.TB) *store.Store {
	t.Helper()
	db, _ := storetest.Open(t)
	return &store.Store{DB: db}
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ev(occurred, ext string) store.Event {
	return store.Event{OccurredAt: at(occurred), Model: "lead", ContactKey: "42", Type: "page_view", Topic: "makeup", ExternalID: ext}
}

// partitionOf returns, by external_id, the partition each stored row sits in.
func partitionOf(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	var rows []struct {
		Ext  string `db:"external_id"`
		Part string `db:"part"`
	}
	if err := st.DB.Select(&rows, `SELECT coalesce(external_id, '') AS external_id, tableoid::regclass::text AS part FROM campaignctl.events`); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.Ext] = r.Part
	}
	return out
}

func partitions(t *testing.T, st *store.Store) []string {
	t.Helper()
	var names []string
	if err := st.DB.Select(&names, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'campaignctl.events'::regclass ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	return names
}

func count(t *testing.T, st *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := st.DB.Get(&n, query, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMigrateCreatesEventPartitionsAroundToday(t *testing.T) {
	st := migrated(t)
	now := time.Now().UTC()
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	want := []string{"events_default"}
	for i := -1; i <= 3; i++ {
		want = append(want, store.EventPartitionName(first.AddDate(0, i, 0)))
	}
	sort.Strings(want)
	if got := partitions(t, st); !slices.Equal(got, want) {
		t.Fatalf("partitions after Migrate = %v, want %v", got, want)
	}
	// A second run is a no-op, and an event of today lands in today's partition.
	if applied, err := st.Migrate(context.Background()); err != nil || len(applied) != 0 {
		t.Fatalf("second Migrate = %v, %v; want nothing applied", applied, err)
	}
	if got := partitions(t, st); !slices.Equal(got, want) {
		t.Fatalf("partitions after second Migrate = %v, want %v", got, want)
	}
	if _, err := st.InsertEvents(context.Background(), []store.Event{ev(now.Format(time.RFC3339Nano), "today")}); err != nil {
		t.Fatal(err)
	}
	if got, want := partitionOf(t, st)["today"], "campaignctl."+store.EventPartitionName(now); got != want {
		t.Errorf("today's event is in %s, want %s", got, want)
	}
}

func TestEventsLandInTheirMonthPartition(t *testing.T) {
	st := migrated(t)
	ctx := context.Background()
	// Dates in another zone: partitions are UTC months whatever the input zone.
	created, err := st.EnsureEventPartitions(ctx, at("2025-01-15T10:00:00+09:00"), at("2025-03-02T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"events_p202501", "events_p202502", "events_p202503"}; !slices.Equal(created, want) {
		t.Fatalf("created = %v, want %v", created, want)
	}
	again, err := st.EnsureEventPartitions(ctx, at("2025-01-01T00:00:00Z"), at("2025-03-31T23:59:59Z"))
	if err != nil || len(again) != 0 {
		t.Fatalf("second EnsureEventPartitions = %v, %v; want nothing created", again, err)
	}

	events := []store.Event{
		ev("2025-01-31T23:59:59.999999Z", "last-of-jan"),
		ev("2025-02-01T00:00:00Z", "first-of-feb"),
		ev("2025-02-01T00:30:00+01:00", "jan-in-paris"), // 2025-01-31T23:30Z
		ev("2025-03-31T23:00:00-05:00", "april-utc"),    // 2025-04-01T04:00Z: no partition
		ev("1999-12-31T23:59:59Z", "last-millennium"),
	}
	n, err := st.InsertEvents(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(events)) {
		t.Fatalf("inserted %d, want %d", n, len(events))
	}
	want := map[string]string{
		"last-of-jan":     "campaignctl.events_p202501",
		"first-of-feb":    "campaignctl.events_p202502",
		"jan-in-paris":    "campaignctl.events_p202501",
		"april-utc":       "campaignctl.events_default",
		"last-millennium": "campaignctl.events_default",
	}
	got := partitionOf(t, st)
	for ext, part := range want {
		if got[ext] != part {
			t.Errorf("event %s is in %q, want %q", ext, got[ext], part)
		}
	}
}

func TestEnsureEventPartitionsMovesRowsOutOfDefault(t *testing.T) {
	st := migrated(t)
	ctx := context.Background()
	events := []store.Event{
		ev("2091-05-01T00:00:00Z", "may-1"),
		ev("2091-05-17T12:00:00Z", "may-17"),
		ev("2091-05-31T23:59:59Z", "may-31"),
		ev("2091-06-01T00:00:00Z", "june-1"),
	}
	if _, err := st.InsertEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID  int64  `db:"id"`
		Ext string `db:"external_id"`
	}
	var before []row
	if err := st.DB.Select(&before, `SELECT id, external_id FROM campaignctl.events ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	for ext, part := range partitionOf(t, st) {
		if part != "campaignctl.events_default" {
			t.Fatalf("before: %s is in %s, want the default partition", ext, part)
		}
	}

	created, err := st.EnsureEventPartitions(ctx, at("2091-05-10T00:00:00Z"), at("2091-05-10T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(created, []string{"events_p209105"}) {
		t.Fatalf("created = %v, want [events_p209105]", created)
	}
	got := partitionOf(t, st)
	for _, ext := range []string{"may-1", "may-17", "may-31"} {
		if got[ext] != "campaignctl.events_p209105" {
			t.Errorf("%s is in %s after the move, want campaignctl.events_p209105", ext, got[ext])
		}
	}
	if got["june-1"] != "campaignctl.events_default" {
		t.Errorf("june-1 is in %s, want it left in the default partition", got["june-1"])
	}
	var after []row
	if err := st.DB.Select(&after, `SELECT id, external_id FROM campaignctl.events ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, after) {
		t.Errorf("rows changed in the move:\nbefore %v\nafter  %v", before, after)
	}

	// The moved partition is a full member: it has the parent's indexes, the
	// unique key still refuses a re-sent event, and new rows of May go there.
	if n := count(t, st, `SELECT count(*) FROM pg_indexes WHERE schemaname = 'campaignctl' AND tablename = 'events_p209105'`); n != 5 {
		t.Errorf("moved partition has %d indexes, want 5 (primary key and four)", n)
	}
	n, err := st.InsertEvents(ctx, []store.Event{ev("2091-05-17T12:00:00Z", "may-17"), ev("2091-05-18T12:00:00Z", "may-18")})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("re-sending may-17 with a new may-18 inserted %d rows, want 1", n)
	}
	if got := partitionOf(t, st)["may-18"]; got != "campaignctl.events_p209105" {
		t.Errorf("may-18 is in %s, want campaignctl.events_p209105", got)
	}
	// New ids keep coming from the parent's identity after the move.
	if n := count(t, st, `SELECT count(DISTINCT id) FROM campaignctl.events`); n != 5 {
		t.Errorf("%d distinct ids for 5 rows", n)
	}
}

func TestInsertEventsIsIdempotentWithExternalID(t *testing.T) {
	st := migrated(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	mk := func(ext string, offset time.Duration, model string) store.Event {
		e := ev(now.Add(offset).Format(time.RFC3339), ext)
		e.Model = model
		return e
	}
	batch := []store.Event{
		mk("a", 0, "lead"),
		mk("b", -time.Hour, "lead"),
		mk("", -2*time.Hour, "lead"),
		mk("a", 0, "lead"), // a duplicate inside the same batch
	}
	n, err := st.InsertEvents(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("first insert stored %d rows, want 3 (the in-batch duplicate skipped)", n)
	}
	n, err = st.InsertEvents(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	// Only the event without an external id is stored again: NULL never conflicts.
	if n != 1 {
		t.Fatalf("re-insert stored %d rows, want 1 (the one without external_id)", n)
	}
	// The same id at another instant is the same event (a retry with another
	// clock); for another model, it is another event.
	n, err = st.InsertEvents(ctx, []store.Event{mk("a", time.Second, "lead"), mk("a", 0, "customer")})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("same external_id at another time / for another model stored %d, want 1 (the other model's)", n)
	}
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events`); got != 5 {
		t.Errorf("%d rows in total, want 5", got)
	}
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events WHERE external_id IS NULL`); got != 2 {
		t.Errorf("%d rows with NULL external_id, want 2 (empty is stored as NULL)", got)
	}
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events WHERE external_id = ''`); got != 0 {
		t.Errorf("%d rows with external_id '', want none", got)
	}
}

func TestInsertEventsStoresEveryField(t *testing.T) {
	st := migrated(t)
	ctx := context.Background()
	when := time.Now().UTC().Truncate(time.Microsecond)
	in := store.Event{
		OccurredAt: when, Model: "customer", ContactKey: "C-7", Type: "click", Campaign: "restock_nurture",
		Step: "week1", Topic: "skincare", URL: "https://shop.example/p?a=1&b=\t2", ExternalID: "x\\y\nz",
		Properties: json.RawMessage(`{"amount": 12.5, "tags": ["a", "b"], "quote": "it's \"ok\""}`),
	}
	plain := store.Event{OccurredAt: when, Model: "lead", ContactKey: "1", Type: "open"}
	if _, err := st.InsertEvents(ctx, []store.Event{in, plain}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		OccurredAt time.Time `db:"occurred_at"`
		Received   time.Time `db:"received_at"`
		Model      string    `db:"model"`
		Key        string    `db:"contact_key"`
		Type       string    `db:"type"`
		Campaign   string    `db:"campaign"`
		Step       string    `db:"step"`
		Topic      string    `db:"topic"`
		URL        string    `db:"url"`
		Ext        *string   `db:"external_id"`
		Props      string    `db:"properties"`
	}
	q := `SELECT occurred_at, received_at, model, contact_key, type, campaign, step, topic, url, external_id, properties::text AS properties FROM campaignctl.events WHERE model = $1`
	if err := st.DB.Get(&got, q, "customer"); err != nil {
		t.Fatal(err)
	}
	if !got.OccurredAt.Equal(when) || got.Model != in.Model || got.Key != in.ContactKey || got.Type != in.Type ||
		got.Campaign != in.Campaign || got.Step != in.Step || got.Topic != in.Topic || got.URL != in.URL ||
		got.Ext == nil || *got.Ext != in.ExternalID {
		t.Errorf("stored row %+v does not match the event %+v", got, in)
	}
	var props map[string]any
	if err := json.Unmarshal([]byte(got.Props), &props); err != nil || props["amount"] != 12.5 || props["quote"] != `it's "ok"` {
		t.Errorf("properties stored as %s (%v)", got.Props, err)
	}
	if time.Since(got.Received) > time.Minute || got.Received.IsZero() {
		t.Errorf("received_at = %v, want about now", got.Received)
	}
	if err := st.DB.Get(&got, q, "lead"); err != nil {
		t.Fatal(err)
	}
	if got.Props != "{}" || got.Ext != nil || got.Campaign != "" {
		t.Errorf("defaults: properties %s, external_id %v, campaign %q; want {}, NULL, ''", got.Props, got.Ext, got.Campaign)
	}
}

func TestInsertEventsRejectsInvalidEvents(t *testing.T) {
	st := migrated(t)
	ctx := context.Background()
	now := time.Now().UTC().Format(time.RFC3339)
	good := ev(now, "good")
	for _, tc := range []struct {
		name   string
		mutate func(*store.Event)
		want   string
	}{
		{"zero time", func(e *store.Event) { e.OccurredAt = time.Time{} }, "occurred_at is not set"},
		{"empty model", func(e *store.Event) { e.Model = "" }, "model is empty"},
		{"empty key", func(e *store.Event) { e.ContactKey = "" }, "contact_key is empty"},
		{"type with capitals", func(e *store.Event) { e.Type = "PageView" }, "events_type_check"},
		{"type too long", func(e *store.Event) { e.Type = "a" + strings.Repeat("b", 64) }, "events_type_check"},
		{"properties array", func(e *store.Event) { e.Properties = json.RawMessage(`[1, 2]`) }, "not a JSON object"},
		{"properties broken", func(e *store.Event) { e.Properties = json.RawMessage(`{"a":`) }, "not a JSON object"},
		{"NUL in topic", func(e *store.Event) { e.Topic = "make\x00up" }, "without NUL"},
		{"invalid UTF-8", func(e *store.Event) { e.Step = "\xff" }, "not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := ev(now, "bad")
			tc.mutate(&bad)
			n, err := st.InsertEvents(ctx, []store.Event{good, bad})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("InsertEvents = %d, %v; want an error containing %q", n, err, tc.want)
			}
			// The batch is atomic: the good event of it is not stored either.
			if got := count(t, st, `SELECT count(*) FROM campaignctl.events`); got != 0 {
				t.Errorf("%d rows stored after a rejected batch, want 0", got)
			}
		})
	}
}

func TestEventsWithoutMigrationSayWhatToDo(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	_, err := st.InsertEvents(ctx, []store.Event{ev("2026-01-01T00:00:00Z", "")})
	if !errors.Is(err, store.ErrNoEventsTable) || !strings.Contains(err.Error(), "campaignctl migrate") {
		t.Errorf("InsertEvents before migrating: %v; want ErrNoEventsTable", err)
	}
	_, err = st.EnsureEventPartitions(ctx, at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z"))
	if !errors.Is(err, store.ErrNoEventsTable) {
		t.Errorf("EnsureEventPartitions before migrating: %v; want ErrNoEventsTable", err)
	}
}

func TestEnsureEventPartitionsRefusesBadRanges(t *testing.T) {
	st := migrated(t)
	ctx := context.Background()
	before := partitions(t, st)
	for _, tc := range []struct {
		from, to, want string
	}{
		{"2026-05-01T00:00:00Z", "2026-04-01T00:00:00Z", "is after"},
		{"1900-01-01T00:00:00Z", "2101-01-01T00:00:00Z", "more than the 1200"},
	} {
		if _, err := st.EnsureEventPartitions(ctx, at(tc.from), at(tc.to)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("EnsureEventPartitions(%s, %s) = %v, want an error containing %q", tc.from, tc.to, err, tc.want)
		}
	}
	if after := partitions(t, st); !slices.Equal(before, after) {
		t.Errorf("a refused call changed the partitions: %v → %v", before, after)
	}
}

func TestEnsureEventPartitionsConcurrently(t *testing.T) {
	st := migrated(t)
	ctx := context.Background()
	// Rows of 2040 already wait in the default partition, and more arrive while
	// four callers race to create the same twelve partitions.
	var seed []store.Event
	for m := 1; m <= 12; m++ {
		seed = append(seed, ev(fmt.Sprintf("2040-%02d-10T00:00:00Z", m), fmt.Sprintf("seed-%d", m)))
	}
	if _, err := st.InsertEvents(ctx, seed); err != nil {
		t.Fatal(err)
	}

	const callers = 4
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created []string
		errs    []error
	)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := st.EnsureEventPartitions(ctx, at("2040-01-01T00:00:00Z"), at("2040-12-31T00:00:00Z"))
			mu.Lock()
			defer mu.Unlock()
			created = append(created, c...)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	const extra = 50
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < extra; i++ {
			e := ev(fmt.Sprintf("2040-%02d-20T00:00:00Z", i%12+1), fmt.Sprintf("extra-%d", i))
			if _, err := st.InsertEvents(ctx, []store.Event{e}); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
		}
	}()
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent calls failed: %v", errs)
	}
	sort.Strings(created)
	if len(created) != 12 || len(slices.Compact(slices.Clone(created))) != 12 {
		t.Fatalf("created across callers = %v, want each of the 12 months exactly once", created)
	}
	if n := count(t, st, `SELECT count(*) FROM campaignctl.events`); n != 12+extra {
		t.Errorf("%d rows, want %d", n, 12+extra)
	}
	if n := count(t, st, `SELECT count(*) FROM campaignctl.events_default WHERE occurred_at >= '2040-01-01Z' AND occurred_at < '2041-01-01Z'`); n != 0 {
		t.Errorf("%d rows of 2040 left in the default partition", n)
	}
}

// TestEventsTableContract pins the names other packages write SQL against.
func TestEventsTableContract(t *testing.T) {
	st := migrated(t)
	var cols []string
	if err := st.DB.Select(&cols, `SELECT column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '-')
		FROM information_schema.columns WHERE table_schema = 'campaignctl' AND table_name = 'events' ORDER BY ordinal_position`); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"id bigint NO -",
		"occurred_at timestamp with time zone NO -",
		"received_at timestamp with time zone NO now()",
		"model text NO -",
		"contact_key text NO -",
		"type text NO -",
		"campaign text NO ''::text",
		"step text NO ''::text",
		"topic text NO ''::text",
		"url text NO ''::text",
		"external_id text YES -",
		"properties jsonb NO '{}'::jsonb",
	}
	if !slices.Equal(cols, want) {
		t.Errorf("columns:\n got %q\nwant %q", cols, want)
	}
	var idx []string
	if err := st.DB.Select(&idx, `SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'campaignctl.events'::regclass ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	wantIdx := []string{
		"CREATE INDEX events_model_contact_occurred_at ON ONLY campaignctl.events USING btree (model, contact_key, occurred_at)",
		"CREATE INDEX events_model_type_occurred_at ON ONLY campaignctl.events USING btree (model, type, occurred_at) INCLUDE (contact_key, campaign, step, topic)",
		"CREATE INDEX events_open_click_people ON ONLY campaignctl.events USING btree (model, type, occurred_at) INCLUDE (contact_key, campaign, step, topic) WHERE ((type = ANY (ARRAY['open'::text, 'click'::text])) AND (COALESCE((properties ->> 'machine'::text), ''::text) <> 'true'::text))",
		"CREATE UNIQUE INDEX events_model_external_id_occurred_at ON ONLY campaignctl.events USING btree (model, external_id, occurred_at)",
		"CREATE UNIQUE INDEX events_pkey ON ONLY campaignctl.events USING btree (id, occurred_at)",
	}
	if !slices.Equal(idx, wantIdx) {
		t.Errorf("indexes:\n got %q\nwant %q", idx, wantIdx)
	}
	var identity string
	if err := st.DB.Get(&identity, `SELECT is_identity || ' ' || coalesce(identity_generation, '') FROM information_schema.columns
		WHERE table_schema = 'campaignctl' AND table_name = 'events' AND column_name = 'id'`); err != nil {
		t.Fatal(err)
	}
	if identity != "YES ALWAYS" {
		t.Errorf("id identity = %q, want GENERATED ALWAYS", identity)
	}
}

// BenchmarkInsertEvents measures the COPY + INSERT ... ON CONFLICT path alone, in
// batches of 5,000 new events.
func BenchmarkInsertEvents(b *testing.B) {
	st := migrated(b)
	const batch = 5000
	now := time.Now().UTC()
	events := make([]store.Event, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range events {
			n := i*batch + j
			events[j] = store.Event{OccurredAt: now.Add(-time.Duration(n) * time.Millisecond), Model: "lead",
				ContactKey: fmt.Sprint(n % 4000), Type: "page_view", Topic: "makeup", ExternalID: fmt.Sprint(n),
				Properties: json.RawMessage(`{"path":"/blog/makeup"}`)}
		}
		n, err := st.InsertEvents(context.Background(), events)
		if err != nil || n != batch {
			b.Fatalf("inserted %d, %v", n, err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestRefreshEventStatsFollowsGrowth: RefreshEventStats analyzes a partition
// once AnalyzeEventsAfter events and a tenth of its known rows were added,
// not before, and counts a month without a partition of its own into the
// default partition.
func TestRefreshEventStatsFollowsGrowth(t *testing.T) {
	t.Parallel()
	st := migrated(t)
	ctx := context.Background()
	month := at("2026-11-01T00:00:00Z")
	if _, err := st.EnsureEventPartitions(ctx, month, month); err != nil {
		t.Fatal(err)
	}
	part := store.EventPartitionName(month)
	if _, err := st.DB.Exec(`ALTER TABLE campaignctl.` + part + ` SET (autovacuum_enabled = false);
		ALTER TABLE campaignctl.events_default SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	insert := func(n int, first time.Time) {
		t.Helper()
		if _, err := st.DB.Exec(`INSERT INTO campaignctl.events (occurred_at, model, contact_key, type)
			SELECT $1::timestamptz + i * interval '1 second', 'lead', i::text, 'page_view' FROM generate_series(1, $2) AS i`, first, n); err != nil {
			t.Fatal(err)
		}
	}
	reltuples := func(table string) float64 { t.Helper(); return storetest.Reltuples(t, st.DB, "campaignctl."+table) }
	refresh := func(added map[string]int64) []string {
		t.Helper()
		got, err := st.RefreshEventStats(ctx, added)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	insert(12000, month)
	if _, err := st.DB.Exec(`ANALYZE campaignctl.` + part); err != nil {
		t.Fatal(err)
	}
	insert(1300, month.Add(24*time.Hour))
	// 1,000 added is AnalyzeEventsAfter but less than a tenth of 12,000.
	if got := refresh(map[string]int64{part: 1000}); len(got) != 0 || reltuples(part) != 12000 {
		t.Errorf("1,000 added to 12,000 known: refreshed %v, reltuples %v; want none, 12000", got, reltuples(part))
	}
	if got := refresh(map[string]int64{part: 1300}); len(got) != 1 || got[0] != part || reltuples(part) != 13300 {
		t.Errorf("1,300 added to 12,000 known: refreshed %v, reltuples %v; want [%s], 13300", got, reltuples(part), part)
	}

	// A month with no partition lands in events_default, never analyzed here.
	old := at("2011-03-01T00:00:00Z")
	oldPart := store.EventPartitionName(old)
	insert(1100, old)
	if got := refresh(map[string]int64{oldPart: 999}); len(got) != 0 || reltuples("events_default") != -1 {
		t.Errorf("999 added to the default partition: refreshed %v, reltuples %v; want none, -1", got, reltuples("events_default"))
	}
	if got := refresh(map[string]int64{oldPart: 1100}); len(got) != 1 || got[0] != oldPart || reltuples("events_default") != 1100 {
		t.Errorf("1,100 added to the default partition: refreshed %v, reltuples %v; want [%s], 1100", got, reltuples("events_default"), oldPart)
	}
}
