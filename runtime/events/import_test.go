package events_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/runtime/events"
	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// now anchors every test: the partition window is centred on it. It is the wall
// clock because Migrate makes the partitions around the wall clock's today, and
// the tests count the partitions Import creates besides those.
var now = time.Now().UTC().Truncate(time.Second)

// sevenYearsAgo and fifteenYearsAgo are inside and outside Import's ten-year
// partition window, mid-month so no zone moves them to another month.
var (
	sevenYearsAgo   = time.Date(now.Year()-7, now.Month(), 10, 5, 6, 7, 250_000_000, time.UTC)
	fifteenYearsAgo = time.Date(now.Year()-15, now.Month(), 10, 0, 0, 0, 0, time.UTC)
)

// setup returns a store on a fresh, migrated database.
func setup(t testing.TB) *store.Store {
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

// unmigrated returns a store on a fresh database without campaignctl's tables.
func unmigrated(t testing.TB) *store.Store {
	t.Helper()
	db, _ := storetest.Open(t)
	return &store.Store{DB: db}
}

func count(t testing.TB, st *store.Store, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := st.DB.Get(&n, query, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// line writes one event line; i makes the id and the time unique.
func line(i int, at time.Time) string {
	return fmt.Sprintf(`{"type":"page_view","model":"lead","key":"%d","at":"%s","topic":"makeup","id":"ext-%d","properties":{"n":%d}}`,
		i%100+1, at.Format(time.RFC3339), i, i)
}

// ndjson generates n valid lines, one minute apart going back from now.
func ndjson(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(line(i, now.Add(-time.Duration(i)*time.Minute)))
		b.WriteByte('\n')
	}
	return b.String()
}

func TestImportStoresEveryEventOfTheStream(t *testing.T) {
	st := setup(t)
	ctx := context.Background()
	input := "\xef\xbb\xbf" + ndjson(12) + "\n   \n" + // a BOM, and blank lines are fine
		`{"type":"form_submit","model":"customer","key":7,"at":"` + sevenYearsAgo.In(time.FixedZone("", 3600)).Format(time.RFC3339Nano) +
		`","topic":"ebook","campaign":"c","step":"s","url":"https://x.example/f","properties":{"form":"ebook"}}` + "\r\n" +
		`{"type":"click","model":"lead","key":"1","at":"` + fifteenYearsAgo.Format(time.RFC3339) + `"}` // no final newline
	res, err := events.Import(ctx, st, strings.NewReader(input), "events.ndjson", events.ImportOptions{BatchSize: 5, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if res.Lines != 16 || res.Events != 14 || res.Inserted != 14 || res.Duplicates != 0 {
		t.Fatalf("result %+v, want 16 lines, 14 events, 14 inserted, 0 duplicates", res)
	}
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events`); got != 14 {
		t.Errorf("%d rows stored, want 14", got)
	}
	// The event of seven years ago is within ten years of now: its partition was
	// created for it. Fifteen years ago is not: it waits in the default partition.
	wantPart := store.EventPartitionName(sevenYearsAgo)
	if len(res.Partitions) != 1 || res.Partitions[0] != wantPart {
		t.Errorf("partitions created = %v, want [%s]", res.Partitions, wantPart)
	}
	var part string
	if err := st.DB.Get(&part, `SELECT tableoid::regclass::text FROM campaignctl.events WHERE model = 'customer'`); err != nil {
		t.Fatal(err)
	}
	if part != "campaignctl."+wantPart {
		t.Errorf("event of seven years ago is in %s, want campaignctl.%s", part, wantPart)
	}
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events_default`); got != 1 {
		t.Errorf("%d rows in the default partition, want 1 (fifteen years ago)", got)
	}
	var row struct {
		Key, Type, Topic, Campaign, Step, URL, Props string
		At                                           time.Time
		Ext                                          *string
	}
	if err := st.DB.QueryRow(`SELECT contact_key, type, topic, campaign, step, url, properties->>'form', occurred_at, external_id
		FROM campaignctl.events WHERE model = 'customer'`).Scan(&row.Key, &row.Type, &row.Topic, &row.Campaign, &row.Step, &row.URL, &row.Props, &row.At, &row.Ext); err != nil {
		t.Fatal(err)
	}
	if row.Key != "7" || row.Type != "form_submit" || row.Topic != "ebook" || row.Campaign != "c" || row.Step != "s" ||
		row.URL != "https://x.example/f" || row.Props != "ebook" || row.Ext != nil ||
		!row.At.Equal(sevenYearsAgo) {
		t.Errorf("stored %+v", row)
	}
}

func TestReimportIsANoOp(t *testing.T) {
	st := setup(t)
	ctx := context.Background()
	input := ndjson(23)
	first, err := events.Import(ctx, st, strings.NewReader(input), "a.ndjson", events.ImportOptions{BatchSize: 10, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if first.Inserted != 23 || first.Duplicates != 0 {
		t.Fatalf("first import %+v, want 23 inserted", first)
	}
	// The same file again, then a file overlapping it by 13 events.
	second, err := events.Import(ctx, st, strings.NewReader(input), "a.ndjson", events.ImportOptions{BatchSize: 10, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if second.Events != 23 || second.Inserted != 0 || second.Duplicates != 23 {
		t.Fatalf("re-import %+v, want 23 events, 0 inserted, 23 duplicates", second)
	}
	overlap := strings.Join(strings.SplitAfter(ndjson(33), "\n")[10:], "")
	third, err := events.Import(ctx, st, strings.NewReader(overlap), "b.ndjson", events.ImportOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if third.Events != 23 || third.Inserted != 10 || third.Duplicates != 13 {
		t.Fatalf("overlapping import %+v, want 23 events, 10 inserted, 13 duplicates", third)
	}
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events`); got != 33 {
		t.Errorf("%d rows, want 33", got)
	}
}

func TestBadLineAbortsTheWholeImport(t *testing.T) {
	st := setup(t)
	ctx := context.Background()
	// Lines 1-16 are fine and, with batches of 5, three batches are already in
	// the transaction when line 17 fails.
	lines := strings.Split(strings.TrimSuffix(ndjson(20), "\n"), "\n")
	lines[16] = `{"type":"page_view","model":"lead","key":"42","at":"2026-13-01"}`
	res, err := events.Import(ctx, st, strings.NewReader(strings.Join(lines, "\n")), "events.ndjson", events.ImportOptions{BatchSize: 5, Now: now})
	want := `events.ndjson:17: field "at": "2026-13-01" is not an RFC 3339 time (want e.g. 2026-11-20T10:00:00Z); nothing was imported`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
	var le *events.LineError
	if !errors.As(err, &le) || le.Line != 17 || le.Name != "events.ndjson" {
		t.Errorf("error %v is not a *LineError for line 17", err)
	}
	if res.Lines != 17 || res.Events != 16 || res.Inserted != 0 {
		t.Errorf("result %+v, want 17 lines and 16 events read (stop at the bad line), 0 inserted", res)
	}
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events`); got != 0 {
		t.Errorf("%d rows stored after a failed import, want 0", got)
	}
}

func TestUnknownFieldIsAnError(t *testing.T) {
	st := setup(t)
	input := ndjson(3) + `{"type":"page_view","model":"lead","key":"42","at":"2026-11-20T10:00:00Z","topc":"makeup"}` + "\n"
	_, err := events.Import(context.Background(), st, strings.NewReader(input), "in.ndjson", events.ImportOptions{Now: now})
	if err == nil || !strings.HasPrefix(err.Error(), `in.ndjson:4: field "topc": unknown field; did you mean "topic"?`) || !strings.HasSuffix(err.Error(), "nothing was imported") {
		t.Fatalf("error = %v", err)
	}
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events`); got != 0 {
		t.Errorf("%d rows stored, want 0", got)
	}
}

func TestIntegerAndStringKeysAreTheSameContact(t *testing.T) {
	st := setup(t)
	input := `{"type":"open","model":"lead","key":42,"at":"2026-11-20T09:00:00Z","id":1}
{"type":"open","model":"lead","key":"42","at":"2026-11-20T09:00:00Z","id":"1"}
{"type":"click","model":"lead","key":42,"at":"2026-11-20T09:01:00Z"}
`
	res, err := events.Import(context.Background(), st, strings.NewReader(input), "in", events.ImportOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	// Line 2 is line 1 again: the integer id 1 and the string "1" are one id.
	if res.Inserted != 2 || res.Duplicates != 1 {
		t.Fatalf("result %+v, want 2 inserted, 1 duplicate", res)
	}
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events WHERE contact_key = '42'`); got != 2 {
		t.Errorf("%d rows for contact '42', want 2", got)
	}
}

func TestHugeLine(t *testing.T) {
	st := setup(t)
	ctx := context.Background()
	prefix := `{"type":"page_view","model":"lead","key":"42","at":"2026-11-20T10:00:00Z","properties":{"blob":"`
	fill := func(total int) string { return prefix + strings.Repeat("x", total-len(prefix)-3) + `"}}` }

	// Exactly MaxLineBytes is still fine (with a CRLF after it).
	res, err := events.Import(ctx, st, strings.NewReader(fill(events.MaxLineBytes)+"\r\n"), "in", events.ImportOptions{Now: now})
	if err != nil || res.Inserted != 1 {
		t.Fatalf("line of exactly %d bytes: %+v, %v", events.MaxLineBytes, res, err)
	}
	for _, size := range []int{events.MaxLineBytes + 1, 3 * events.MaxLineBytes} {
		input := ndjson(2) + fill(size) + "\n" + ndjson(1)
		_, err = events.Import(ctx, st, strings.NewReader(input), "big.ndjson", events.ImportOptions{Now: now})
		if err == nil || !strings.HasPrefix(err.Error(), "big.ndjson:3: line is longer than 1048576 bytes") || !strings.HasSuffix(err.Error(), "nothing was imported") {
			t.Fatalf("line of %d bytes: error %v", size, err)
		}
	}
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events`); got != 1 {
		t.Errorf("%d rows, want only the first import's 1", got)
	}
}

func TestImportMovesRowsOfAMonthOutOfTheDefaultPartition(t *testing.T) {
	st := setup(t)
	ctx := context.Background()
	// Seen from fourteen years ahead, seven years ago is more than ten years back:
	// default partition.
	old := `{"type":"open","model":"lead","key":"1","at":"` + sevenYearsAgo.Format(time.RFC3339Nano) + `","id":"old"}` + "\n"
	res, err := events.Import(ctx, st, strings.NewReader(old), "a", events.ImportOptions{Now: now.AddDate(14, 0, 0)})
	if err != nil || len(res.Partitions) != 0 {
		t.Fatalf("first import: %+v, %v; want no partition", res, err)
	}
	// Seen from now it is within the window: the import makes the partition and
	// takes the waiting row along.
	res, err = events.Import(ctx, st, strings.NewReader(strings.ReplaceAll(old, `"old"`, `"new"`)), "b", events.ImportOptions{Now: now})
	if err != nil || len(res.Partitions) != 1 {
		t.Fatalf("second import: %+v, %v; want one partition", res, err)
	}
	part := store.EventPartitionName(sevenYearsAgo)
	if got := count(t, st, `SELECT count(*) FROM campaignctl.`+part); got != 2 || res.Partitions[0] != part {
		t.Errorf("%d rows in %s (created %v), want 2 (one moved, one new)", got, part, res.Partitions)
	}
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events_default`); got != 0 {
		t.Errorf("%d rows left in the default partition", got)
	}
}

func TestImportBeforeMigrateSaysWhatToDo(t *testing.T) {
	st := unmigrated(t)
	_, err := events.Import(context.Background(), st, strings.NewReader(ndjson(1)), "in", events.ImportOptions{Now: now})
	if !errors.Is(err, store.ErrNoEventsTable) || !strings.Contains(err.Error(), "campaignctl migrate") {
		t.Errorf("error = %v, want ErrNoEventsTable", err)
	}
}

// failingReader returns its data, then an error, like a dropped network stream.
type failingReader struct{ r io.Reader }

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errors.New("connection reset")
	}
	return n, err
}

func TestReadErrorAbortsTheImport(t *testing.T) {
	st := setup(t)
	_, err := events.Import(context.Background(), st, failingReader{strings.NewReader(ndjson(7))}, "net", events.ImportOptions{BatchSize: 2, Now: now})
	if err == nil || !strings.Contains(err.Error(), "reading net after line 7: connection reset; nothing was imported") {
		t.Fatalf("error = %v", err)
	}
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events`); got != 0 {
		t.Errorf("%d rows stored, want 0", got)
	}
}

// gatedReader yields first, then waits at the gate (after telling arrived) before
// yielding second: it holds an import between two batches.
type gatedReader struct {
	first, second io.Reader
	arrived       func()
	gate          <-chan struct{}
	passed        bool
}

func (g *gatedReader) Read(p []byte) (int, error) {
	n, err := g.first.Read(p)
	if err != io.EOF {
		return n, err
	}
	if !g.passed {
		g.passed = true
		g.arrived()
		<-g.gate
	}
	return g.second.Read(p)
}

// Two imports that have both staged a batch and then both need a new
// partition: each creates it in a short transaction of its own just before
// storing, so neither waits on the other (they deadlocked, and Postgres
// cancelled one, while partitions were created inside the imports'
// transactions), and both store their events.
func TestConcurrentImportsNeedingPartitions(t *testing.T) {
	st := setup(t)
	ctx := context.Background()
	gate := make(chan struct{})
	var arrived, done sync.WaitGroup
	arrived.Add(2)
	errs := make([]error, 2)
	input := func(i int) (string, string) {
		return line(i, now) + "\n", line(10+i, sevenYearsAgo.AddDate(0, 0, i)) + "\n"
	}
	for i := range 2 {
		done.Add(1)
		go func() {
			defer done.Done()
			first, second := input(i)
			r := &gatedReader{first: strings.NewReader(first), second: strings.NewReader(second), arrived: arrived.Done, gate: gate}
			_, errs[i] = events.Import(ctx, st, r, fmt.Sprintf("in%d", i), events.ImportOptions{BatchSize: 1, Now: now})
		}()
	}
	arrived.Wait() // both transactions hold a staged batch
	close(gate)
	done.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("import %d: %v", i, err)
		}
	}
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events`); got != 4 {
		t.Errorf("%d rows after both imports, want 4", got)
	}
}

// BenchmarkImport measures events stored per second through Import (COPY into a
// staging table, INSERT ... ON CONFLICT), fresh rows each iteration.
func BenchmarkImport(b *testing.B) {
	st := setup(b)
	const n = 20000
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var sb strings.Builder
		for j := 0; j < n; j++ {
			sb.WriteString(line(i*n+j, now.Add(-time.Duration(j)*time.Second)))
			sb.WriteByte('\n')
		}
		b.StartTimer()
		res, err := events.Import(context.Background(), st, strings.NewReader(sb.String()), "bench", events.ImportOptions{Now: now})
		b.StopTimer()
		if err != nil || res.Inserted != n {
			b.Fatalf("%+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}

// An import of at least store.AnalyzeEventsAfter events refreshes the
// statistics of the partitions it wrote to, and of the default partition
// when it wrote there, so the next enrollment passes do not plan on tables
// that look empty (never analyzed: reltuples -1) until autovacuum's round.
func TestBulkImportAnalyzesThePartitionsItWroteTo(t *testing.T) {
	t.Parallel()
	st := setup(t)
	ctx := context.Background()
	var b strings.Builder
	n := int(store.AnalyzeEventsAfter) + 200
	for i := 0; i < n; i++ {
		at := sevenYearsAgo.Add(time.Duration(i) * time.Second)
		if i%10 == 0 {
			at = fifteenYearsAgo.Add(time.Duration(i) * time.Second) // the default partition
		}
		b.WriteString(line(i, at))
		b.WriteByte('\n')
	}
	res, err := events.Import(ctx, st, strings.NewReader(b.String()), "bulk.ndjson", events.ImportOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != int64(n) {
		t.Fatalf("inserted %d, want %d", res.Inserted, n)
	}
	reltuples := func(table string) float64 { return storetest.Reltuples(t, st.DB, "campaignctl."+table) }
	month := store.EventPartitionName(sevenYearsAgo)
	if got, want := reltuples(month), float64(n-n/10); got != want {
		t.Errorf("%s: reltuples %v after the import, want %v (analyzed)", month, got, want)
	}
	if got, want := reltuples("events_default"), float64(n/10); got != want {
		t.Errorf("events_default: reltuples %v after the import, want %v (analyzed)", got, want)
	}
	// A partition the import did not write to is left to autovacuum.
	other := store.EventPartitionName(now)
	if _, err := st.EnsureEventPartitions(ctx, now, now); err != nil {
		t.Fatal(err)
	}
	if got := reltuples(other); got != -1 {
		t.Errorf("%s, not written to: reltuples %v, want -1 (not analyzed by the import)", other, got)
	}
}

// A line whose properties Postgres's jsonb would refuse is named like any
// other bad line, before anything is stored.
func TestImportNamesPropertiesPostgresCannotStore(t *testing.T) {
	st := setup(t)
	input := ndjson(3) + `{"type":"page_view","model":"lead","key":"42","at":"2026-11-20T10:00:00Z","properties":{"q":"\udfff"}}` + "\n"
	_, err := events.Import(context.Background(), st, strings.NewReader(input), "in.ndjson", events.ImportOptions{Now: now})
	if err == nil || !strings.HasPrefix(err.Error(), `in.ndjson:4: field "properties": `) || !strings.HasSuffix(err.Error(), "nothing was imported") {
		t.Fatalf("error = %v, want one naming in.ndjson:4 and properties", err)
	}
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events`); got != 0 {
		t.Errorf("%d rows stored, want 0", got)
	}
}

// A Postgres restart (storetest.Outage) in the middle of a large import: the
// import fails saying nothing was imported, nothing is, and running it again
// once the database is back stores every event once.
func TestImportAcrossAPostgresOutage(t *testing.T) {
	st := setup(t)
	ctx := context.Background()
	const n, batch = 3000, 500
	all := ndjson(n)
	cut := strings.Index(all, fmt.Sprintf(`"id":"ext-%d"`, n/2))
	cut = strings.LastIndex(all[:cut], "\n") + 1
	arrived, gate := make(chan struct{}), make(chan struct{})
	type outcome struct {
		res events.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r := &gatedReader{first: strings.NewReader(all[:cut]), second: strings.NewReader(all[cut:]), arrived: func() { close(arrived) }, gate: gate}
		res, err := events.Import(ctx, st, r, "big.ndjson", events.ImportOptions{BatchSize: batch, Now: now})
		done <- outcome{res, err}
	}()
	<-arrived
	back := storetest.Outage(t, st.DB)
	close(gate)
	var o outcome
	select {
	case o = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the import still runs 30 s after its connection was terminated")
	}
	if o.err == nil || !strings.HasSuffix(o.err.Error(), "nothing was imported") || !strings.Contains(o.err.Error(), "big.ndjson") {
		t.Fatalf("error %v, want one naming big.ndjson and saying nothing was imported", o.err)
	}
	if o.res.Inserted != 0 {
		t.Errorf("result %+v after a failed import, want 0 inserted", o.res)
	}
	back()
	// Outage read the database's name on a second pooled connection while
	// the import held the first; the server ended it, and lib/pq finds out
	// only on its next use. Close it, so the checks below read the database.
	st.DB.SetMaxIdleConns(0)
	st.DB.SetMaxIdleConns(2)
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events`); got != 0 {
		t.Errorf("%d rows stored by the failed import, want 0", got)
	}
	res, err := events.Import(ctx, st, strings.NewReader(all), "big.ndjson", events.ImportOptions{BatchSize: batch, Now: now})
	if err != nil {
		t.Fatalf("the import once the database is back: %v", err)
	}
	if res.Inserted != n {
		t.Errorf("result %+v, want %d inserted", res, n)
	}
	if got := count(t, st, `SELECT count(DISTINCT external_id) FROM campaignctl.events`); got != n {
		t.Errorf("%d distinct ids stored, want %d", got, n)
	}
	t.Logf("error during the outage: %v", o.err)
}

// An import that had to create a month's partition must not keep the events
// table locked until it ends: the daemon's writers (POST /v1/events, opens
// and clicks, inbound reports) and readers (segments, triggers) go on while a
// long import reads its file.
func TestImportNeedingAPartitionDoesNotBlockOtherWriters(t *testing.T) {
	st := setup(t)
	ctx := context.Background()
	// The first part falls in a month with no partition yet (seven years
	// ago); the import then waits, holding its transaction, for the rest.
	first := line(1, sevenYearsAgo) + "\n"
	second := line(2, sevenYearsAgo.Add(time.Minute)) + "\n"
	arrived, gate := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		r := &gatedReader{first: strings.NewReader(first), second: strings.NewReader(second), arrived: func() { close(arrived) }, gate: gate}
		_, err := events.Import(ctx, st, r, "old.ndjson", events.ImportOptions{BatchSize: 1, Now: now})
		done <- err
	}()
	<-arrived
	// Another writer, as the daemon writes: an event of this month.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	n, err := st.InsertEvents(wctx, []store.Event{{OccurredAt: now, Model: "lead", ContactKey: "7", Type: "click", ExternalID: "live-1"}})
	cancel()
	var reads int64
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	rerr := st.DB.GetContext(rctx, &reads, `SELECT count(*) FROM campaignctl.events WHERE contact_key = '7'`)
	rcancel()
	close(gate)
	if ierr := <-done; ierr != nil {
		t.Fatalf("the import: %v", ierr)
	}
	if err != nil || n != 1 {
		t.Errorf("an insert while the import ran: %d stored, %v; want 1 within 5 s", n, err)
	}
	if rerr != nil {
		t.Errorf("a read of the events while the import ran: %v; want an answer within 5 s", rerr)
	}
	if got := count(t, st, `SELECT count(*) FROM campaignctl.events`); got != 3 {
		t.Errorf("%d events stored, want 3", got)
	}
}
