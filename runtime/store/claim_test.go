package store_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// kindsOf is the kinds of cs, in their order.
func kindsOf(cs []store.Claimed) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Kind)
	}
	return out
}

func ids(cs []store.Claimed) []int64 {
	var out []int64
	for _, c := range cs {
		out = append(out, c.ID)
	}
	slices.Sort(out)
	return out
}

// The claim is the only way a message gets to the relay, and the lease and
// its fencing token (worker, claim_seq) the only thing between a slow replica
// and a duplicate send: a claimed row is nobody else's until its lease runs
// out (on the database's clock, whatever the engine's clock says), renewing
// keeps it, a row taken over after the lease (or given back and claimed
// again, by the same worker too) carries a new token, and the old owner's
// outcome is then refused.
func TestClaimLeaseAndFencing(t *testing.T) {
	st, ctx := migrated(t), t.Context()
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	batch := []store.Recipient{{Key: "1", Email: "a@example.com"}, {Key: "2", Email: "b@example.com"}, {Key: "3", Email: "c@example.com"}}
	if n, err := st.EnqueueBatch(ctx, "c", "", "marketing", now, now, batch); err != nil || n != 3 {
		t.Fatalf("enqueue: %d, %v", n, err)
	}
	if err := st.Suppress(ctx, "C@example.com ", "unsubscribed", "", now); err != nil {
		t.Fatal(err)
	}

	const lease = 400 * time.Millisecond
	a, err := st.ClaimDue(ctx, now, "A", lease, 10)
	if err != nil || len(a) != 3 {
		t.Fatalf("A claims %d rows (%v); want all 3", len(a), err)
	}
	for _, c := range a {
		if c.Attempts != 1 {
			t.Fatalf("first claim of %d: attempts %d, want 1", c.ID, c.Attempts)
		}
		if c.Suppressed() != (c.EmailNorm == "c@example.com") {
			t.Fatalf("row %d (%s): suppressed as %q at claim time", c.ID, c.EmailNorm, c.SuppressedAs)
		}
	}
	// Not due yet on the engine's clock: nothing, whoever asks.
	if got, _ := st.ClaimDue(ctx, now.Add(-time.Hour), "B", lease, 10); len(got) != 0 {
		t.Fatalf("B claimed %d rows not due yet", len(got))
	}
	// Leased: B gets nothing, even with an engine clock days ahead (the lease
	// is on the database's clock).
	if got, _ := st.ClaimDue(ctx, now.Add(72*time.Hour), "B", lease, 10); len(got) != 0 {
		t.Fatalf("B claimed %d rows under A's lease", len(got))
	}
	// A renews one row, for long enough that it outlives the others' lease
	// whatever the machine's load (the renewal at lease/2 it replaced failed
	// when the test binary stalled for more than 200 ms on a loaded machine).
	keep := a[0].ID
	if n, err := st.RenewLeases(ctx, "A", []int64{keep}, 50*lease); err != nil || n != 1 {
		t.Fatalf("A renews 1 row: %d, %v", n, err)
	}
	time.Sleep(lease + 100*time.Millisecond)
	b, err := st.ClaimDue(ctx, now, "B", lease, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := ids(a)
	want = slices.DeleteFunc(want, func(id int64) bool { return id == keep })
	if !slices.Equal(ids(b), want) {
		t.Fatalf("after A's lease ran out B took %v; want %v (A renewed %d)", ids(b), want, keep)
	}
	for _, c := range b {
		if c.Attempts != 2 {
			t.Fatalf("row %d taken over: attempts %d, want 2 (the take-over is an attempt)", c.ID, c.Attempts)
		}
	}
	// A, late, records every row it claimed: only the renewed one is still
	// its own.
	var outs []store.Outcome
	for _, c := range a {
		outs = append(outs, store.Outcome{ID: c.ID, ClaimSeq: c.ClaimSeq, Status: store.OutboxSent, At: now, MessageID: "m"})
	}
	recorded, err := st.RecordOutcomes(ctx, "A", outs)
	if err != nil {
		t.Fatal(err)
	}
	if len(recorded) != 1 || !recorded[keep] {
		t.Fatalf("A's late outcomes recorded for %v; want only %d, the row it renewed", recorded, keep)
	}
	// A cannot renew what B holds now.
	if n, _ := st.RenewLeases(ctx, "A", ids(b), lease); n != 0 {
		t.Fatalf("A renewed %d of B's rows", n)
	}
	// B's outcomes (one a release) are its own.
	outs = outs[:0]
	for i, c := range b {
		outs = append(outs, store.Outcome{ID: c.ID, ClaimSeq: c.ClaimSeq, Status: store.OutboxPending, At: now, Release: i == 0})
	}
	recorded, err = st.RecordOutcomes(ctx, "B", outs)
	if err != nil || len(recorded) != len(b) {
		t.Fatalf("B recorded %v (%v); want all %d", recorded, err, len(b))
	}
	// A released row is claimable at once and the release did not count as
	// an attempt; the renewed row is sent and never claimed again.
	c, err := st.ClaimDue(ctx, now.Add(time.Hour), "C", lease, 10)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(ids(c), keep) {
		t.Fatalf("the row recorded sent (%d) was claimed again", keep)
	}
	for _, r := range c {
		if r.ID == b[0].ID && r.Attempts != 2 {
			t.Fatalf("released row %d: attempts %d on its next claim, want 2 (the release is not an attempt)", r.ID, r.Attempts)
		}
	}

	// C gives a row back and claims it again: the same worker and the same
	// attempts, yet a new token. C's release, written again (as database/sql
	// reruns a write whose connection broke after its commit), leaves the new
	// claim alone, and reads back as recorded: not a claim lost.
	back := []store.Outcome{{ID: c[0].ID, ClaimSeq: c[0].ClaimSeq, Status: store.OutboxPending, At: now, Release: true}}
	if recorded, err := st.RecordOutcomes(ctx, "C", back); err != nil || !recorded[c[0].ID] {
		t.Fatalf("C's release: recorded %v, %v", recorded, err)
	}
	again, err := st.ClaimDue(ctx, now.Add(time.Hour), "C", lease, 10)
	if err != nil || !slices.Contains(ids(again), c[0].ID) {
		t.Fatalf("C claims %v again (%v); want %d among them", ids(again), err, c[0].ID)
	}
	for _, r := range again {
		if r.ID == c[0].ID && (r.Attempts != c[0].Attempts || r.ClaimSeq <= c[0].ClaimSeq) {
			t.Fatalf("row %d claimed again after a release: attempts %d, claim_seq %d; want attempts %d and a claim_seq past %d",
				r.ID, r.Attempts, r.ClaimSeq, c[0].Attempts, c[0].ClaimSeq)
		}
	}
	if recorded, err := st.RecordOutcomes(ctx, "C", back); err != nil || len(recorded) != 0 {
		t.Fatalf("C's release written again after C claimed the row again: recorded %v, %v; want none (the new claim is not the old one's)", recorded, err)
	}
	var claimedBy string
	if err := st.DB.Get(&claimedBy, `SELECT coalesce(claimed_by, '') FROM campaignctl.outbox WHERE id = $1`, c[0].ID); err != nil || claimedBy != "C" {
		t.Fatalf("row %d claimed by %q (%v) after the old release was written again; want C's new claim", c[0].ID, claimedBy, err)
	}
	if before, err := st.RecordedOutcomes(ctx, "C", back); err != nil || !before[c[0].ID] {
		t.Fatalf("C's release read back after C claimed the row again: %v, %v; want it recorded", before, err)
	}
}

// Messages that sequences and workflows enqueue refresh the outbox's planner
// statistics once there are enough of them: with none, the ledger write
// scanned every pending row per batch (TestTwoDaemonsAtOnceSendEachMessageOnce:
// 22 ms per batch of 23 outcomes).
func TestStepMessagesRefreshOutboxStatistics(t *testing.T) {
	st := migrated(t)
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	reltuples := func() float64 { t.Helper(); return outboxReltuples(t, st) }
	enqueue := func(from, n int) { t.Helper(); enqueueStepsAndRefresh(t, st, now, from, n) }
	before := reltuples()
	enqueue(0, 600)
	if got := reltuples(); got != before {
		t.Fatalf("statistics refreshed after 600 rows (reltuples %v -> %v); want them left to autovacuum below 1,000", before, got)
	}
	enqueue(600, 600)
	if got := reltuples(); got != 1200 {
		t.Fatalf("reltuples %v after 1,200 step messages, want 1200", got)
	}
	// A tenth of what the statistics know of is needed next time.
	enqueue(1200, 100)
	if got := reltuples(); got != 1200 {
		t.Fatalf("statistics refreshed again after 100 more rows (reltuples %v)", got)
	}
}

// The refresh counts against the pending rows the statistics know of, not
// all rows: an outbox of 20,000 sent messages, analyzed, then 1,500 step
// messages (under a tenth of its rows) had statistics that said nothing was
// pending, and each ledger write scanned all 1,500 through the pending index.
func TestStepMessagesRefreshStatisticsOfAMostlySentOutbox(t *testing.T) {
	st := migrated(t)
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	st.DB.MustExec(`INSERT INTO campaignctl.outbox (campaign, contact_key, email, email_normalized, due_at, created_at, status, sent_at)
		SELECT 'old', i::text, 'a' || i || '@example.com', 'a' || i || '@example.com', $1, $1, 'sent', $1 FROM generate_series(1, 20000) i`, now)
	st.DB.MustExec(`ANALYZE campaignctl.outbox`)
	enqueueStepsAndRefresh(t, st, now, 0, 1500)
	if n := outboxReltuples(t, st); n != 21500 {
		t.Fatalf("reltuples %v after 1,500 step messages on 20,000 sent ones, want 21500 (refreshed)", n)
	}
}

// A campaign's audience refreshes the statistics while it is materialized,
// not only at the end: sending starts with the first batch, and with the
// statistics of an empty outbox each ledger write of the send benchmark read
// every row enqueued so far (5 to 37 ms a batch of 32 while 100,000 rows were
// enqueued). At 1,000 rows, then each time the count has grown 4×; at the end
// when it doubled since.
func TestMaterializingRefreshesOutboxStatisticsAsItGrows(t *testing.T) {
	st := migrated(t)
	ctx := t.Context()
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	g := st.NewOutboxGrowth()
	next := 0
	add := func(n int) {
		t.Helper()
		batch := make([]store.Recipient, n)
		for i := range batch {
			batch[i] = store.Recipient{Key: strconv.Itoa(next + i), Email: fmt.Sprintf("m%d@example.com", next+i)}
		}
		next += n
		added, err := st.EnqueueBatch(ctx, "big", "", "marketing", now, now, batch)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Add(ctx, added); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		add       int
		reltuples float64
	}{
		{500, -1}, {500, 1000}, // refreshed at 1,000
		{2500, 1000}, {500, 4000}, // then at 4× that
		{3000, 4000},
	} {
		add(step.add)
		if got := outboxReltuples(t, st); got != step.reltuples {
			t.Fatalf("after %d rows: reltuples %v, want %v", next, got, step.reltuples)
		}
	}
	// The refreshes sample at the store's own statistics target (10): a
	// histogram of 11 bounds for a column of distinct values, not the
	// server's 101.
	var bounds int
	if err := st.DB.Get(&bounds, `SELECT coalesce(array_length(histogram_bounds::text::text[], 1), 0) FROM pg_stats
		WHERE schemaname = 'campaignctl' AND tablename = 'outbox' AND attname = 'id'`); err != nil || bounds != 11 {
		t.Fatalf("the refresh left a histogram of %d bounds for outbox.id (%v), want 11 (statistics target 10)", bounds, err)
	}
	// 7,000 rows is under twice the 4,000 of the last refresh: none at the end.
	if err := g.Done(ctx, int64(next)); err != nil {
		t.Fatal(err)
	}
	if got := outboxReltuples(t, st); got != 4000 {
		t.Fatalf("Done at 7,000 rows refreshed (reltuples %v); want 4000 (under twice the last refresh)", got)
	}
	add(1000)
	if err := g.Done(ctx, int64(next)); err != nil {
		t.Fatal(err)
	}
	if got := outboxReltuples(t, st); got != 8000 {
		t.Fatalf("Done at 8,000 rows: reltuples %v, want 8000 (twice the last refresh)", got)
	}
	// A re-run after a crash adds nothing, but the audience is large and the
	// first run may have died before its refresh.
	st.DB.MustExec(`INSERT INTO campaignctl.outbox (campaign, contact_key, email, email_normalized, due_at, created_at)
		SELECT 'big', 'x' || i, 'x' || i || '@example.com', 'x' || i || '@example.com', $1, $1 FROM generate_series(1, 500) i`, now)
	again := st.NewOutboxGrowth()
	if err := again.Add(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := again.Done(ctx, 8000); err != nil {
		t.Fatal(err)
	}
	if got := outboxReltuples(t, st); got != 8500 {
		t.Fatalf("a re-run that added nothing to an audience of 8,000: reltuples %v, want 8500 (refreshed)", got)
	}
}

// enqueueStepsAndRefresh commits n step messages of sequence nurture
// (contacts from, from+1, …) as an advancing transaction does, then calls
// RefreshOutboxStats as the engine does after such a pass.
func enqueueStepsAndRefresh(t *testing.T, st *store.Store, now time.Time, from, n int) {
	t.Helper()
	ctx := t.Context()
	adv, err := st.BeginAdvance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]store.StepMessage, n)
	for i := range msgs {
		k := from + i
		msgs[i] = store.StepMessage{Step: "s1", ContactKey: strconv.Itoa(k), Email: fmt.Sprintf("c%d@example.com", k), EnrollmentID: int64(k)}
	}
	if err := adv.Apply(ctx, "sequence", "nurture", now, msgs, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := adv.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := st.RefreshOutboxStats(ctx); err != nil {
		t.Fatal(err)
	}
}

// outboxReltuples is the row count the outbox's statistics hold (-1 before
// its first analyze).
func outboxReltuples(t *testing.T, st *store.Store) float64 {
	t.Helper()
	return storetest.Reltuples(t, st.DB, "campaignctl.outbox")
}

// A campaign's first materialization inserts without ON CONFLICT; a duplicate
// address (here in a later batch, and one inside a batch) falls back to the
// insert that skips it, for that batch and the rest, and nothing is lost or
// doubled. A campaign that already has rows starts on the skipping insert.
func TestCampaignEnqueuerSkipsDuplicatesAfterTheFastStart(t *testing.T) {
	st := migrated(t)
	ctx := t.Context()
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	recipients := func(from, to int, addr func(int) string) []store.Recipient {
		var rs []store.Recipient
		for i := from; i < to; i++ {
			rs = append(rs, store.Recipient{Key: fmt.Sprint(i), Email: addr(i)})
		}
		return rs
	}
	own := func(i int) string { return fmt.Sprintf("c%d@example.com", i) }
	q, err := st.NewCampaignEnqueuer(ctx, "launch", "marketing")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		batch []store.Recipient
		want  int64
	}{
		{recipients(0, 10, own), 10},
		// Contact 15 has contact 3's address, in another case: skipped.
		{recipients(10, 20, func(i int) string {
			if i == 15 {
				return " C3@Example.com"
			}
			return own(i)
		}), 9},
		// Two contacts of one batch share an address.
		{append(recipients(20, 25, own), store.Recipient{Key: "25", Email: own(24)}), 5},
		{recipients(30, 40, own), 10},
	}
	for i, s := range steps {
		n, err := q.Enqueue(ctx, now, now, s.batch)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if n != s.want {
			t.Fatalf("batch %d: %d rows new, want %d", i, n, s.want)
		}
	}
	var rows, addrs int
	st.DB.Get(&rows, `SELECT count(*) FROM campaignctl.outbox WHERE campaign = 'launch'`)
	st.DB.Get(&addrs, `SELECT count(DISTINCT email_normalized) FROM campaignctl.outbox WHERE campaign = 'launch'`)
	if rows != 34 || addrs != 34 {
		t.Fatalf("%d rows for %d addresses, want 34 and 34", rows, addrs)
	}

	// Materialized again (a re-run after a crash): the campaign has rows, so
	// the first batch already skips them.
	again, err := st.NewCampaignEnqueuer(ctx, "launch", "marketing")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := again.Enqueue(ctx, now, now, recipients(36, 42, own)); err != nil || n != 2 {
		t.Fatalf("re-run: %d rows new (%v), want 2 (contacts 40 and 41 only)", n, err)
	}
}

// A claim after a cursor takes what follows it in due order and nothing
// behind it; a claim from the start takes what fell behind (a lease run out, a
// row enqueued due earlier), which is how the claimer finds those.
func TestClaimAfterCursor(t *testing.T) {
	st, ctx := migrated(t), t.Context()
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	if n, err := st.EnqueueBatch(ctx, "c", "", "marketing", now, now, recipients(10)); err != nil || n != 10 {
		t.Fatalf("enqueue: %d, %v", n, err)
	}
	var all []int64
	if err := st.DB.Select(&all, `SELECT id FROM campaignctl.outbox ORDER BY id`); err != nil {
		t.Fatal(err)
	}

	const short = 300 * time.Millisecond
	a, err := st.ClaimDueAfter(ctx, now, "A", short, store.Limit(4), store.ClaimCursor{})
	if err != nil || !slices.Equal(ids(a), all[:4]) {
		t.Fatalf("first claim: %v (%v); want %v", ids(a), err, all[:4])
	}
	cursor := store.ClaimCursor{}.After(a)
	if cursor.Bulk.ID != all[3] || !cursor.Bulk.DueAt.Equal(now) || cursor.OneToOne.ID != 0 {
		t.Fatalf("cursor after the first claim: %+v; want row %d due %s", cursor, all[3], now)
	}
	b, err := st.ClaimDueAfter(ctx, now, "B", time.Minute, store.Limit(4), cursor)
	if err != nil || !slices.Equal(ids(b), all[4:8]) {
		t.Fatalf("claim after the cursor: %v (%v); want %v", ids(b), err, all[4:8])
	}
	cursor = cursor.After(b)

	// A's lease runs out: its rows are claimable again, behind the cursor. A
	// row enqueued due an hour earlier is behind it too.
	time.Sleep(short + 100*time.Millisecond)
	if n, err := st.EnqueueBatch(ctx, "early", "", "marketing", now.Add(-time.Hour), now, []store.Recipient{{Key: "e", Email: "early@example.com"}}); err != nil || n != 1 {
		t.Fatalf("enqueue early: %d, %v", n, err)
	}
	c, err := st.ClaimDueAfter(ctx, now, "B", time.Minute, store.Limit(8), cursor)
	if err != nil || !slices.Equal(ids(c), all[8:]) {
		t.Fatalf("claim after the cursor: %v (%v); want only %v, the rows after it", ids(c), err, all[8:])
	}
	d, err := st.ClaimDue(ctx, now, "B", time.Minute, 8)
	if err != nil || len(d) != 5 {
		t.Fatalf("claim from the start: %d rows (%v); want A's 4 and the early row", len(d), err)
	}
	if got := ids(d)[:4]; !slices.Equal(got, all[:4]) {
		t.Fatalf("claim from the start: %v; want A's rows %v and the early one", ids(d), all[:4])
	}
	// In due order: the early row first.
	if d[0].Campaign != "early" {
		t.Fatalf("claim from the start came back as %v; want the early row first, in due order", d)
	}
	if !d[0].DueAt.Equal(now.Add(-time.Hour)) {
		t.Fatalf("the early row's DueAt is %s", d[0].DueAt)
	}
}

// The point of the cursor: with the entries of 20,000 sent rows still in
// outbox_claimable (no VACUUM since), a claim from the start steps over all
// of them, and a claim after the cursor does not (buffers read, from the
// plan).
func TestClaimAfterCursorSkipsTheSentRowsEntries(t *testing.T) {
	st, ctx := migrated(t), t.Context()
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	const sent, pending = 20000, 5000
	batch := recipients(sent + pending)
	for i := 0; i < len(batch); i += 5000 {
		if _, err := st.EnqueueBatch(ctx, "c", "", "marketing", now, now, batch[i:min(i+5000, len(batch))]); err != nil {
			t.Fatal(err)
		}
	}
	st.DB.MustExec(`ALTER TABLE campaignctl.outbox SET (autovacuum_enabled = false)`)
	st.DB.MustExec(`UPDATE campaignctl.outbox SET status = 'sent', sent_at = $1
		WHERE id IN (SELECT id FROM campaignctl.outbox ORDER BY id LIMIT $2)`, now, sent)
	st.DB.MustExec(`ANALYZE campaignctl.outbox`)
	var last int64
	if err := st.DB.Get(&last, `SELECT id FROM campaignctl.outbox ORDER BY id LIMIT 1 OFFSET $1`, sent-1); err != nil {
		t.Fatal(err)
	}
	buffers := func(afterDue, afterID any) int {
		t.Helper()
		tx := st.DB.MustBegin()
		defer tx.Rollback()
		// The worker, lease and limit as literals; now and the cursor as $1-$3.
		q := strings.NewReplacer("$11", "256", "$10", "256", "$9", "256", "$7", "NULL", "$8", "NULL",
			"$2", "'probe'", "$3", "'1 minute'", "$4", "256", "$5", "$2", "$6", "$3").Replace(store.QueryForTest("claim-due"))
		var plan []string
		if err := tx.Select(&plan, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) "+q, now, afterDue, afterID); err != nil {
			t.Fatal(err)
		}
		return indexScanBuffers(t, plan, "outbox_claimable") // the campaigns' lane
	}
	full, after := buffers(nil, nil), buffers(now, last)
	if after*5 > full {
		t.Fatalf("a claim after the cursor read %d buffers of outbox_claimable, one from the start %d: the cursor does not skip the sent rows' entries", after, full)
	}
	t.Logf("claim of 256 behind 20,000 sent rows: %d buffers from the start, %d after the cursor", full, after)
}

// A claim changes no indexed column, so each claimed row's new version is a
// HOT update as long as it fits on the row's own page; one that does not
// moves to another page and adds an entry to each of the outbox's indexes.
// The claim's version is larger than the row the materialization inserted
// (it adds the worker, the claim and lease times, the first attempt), so the
// free space fillfactor leaves on a page must hold every row's version at
// once: at fillfactor 50 it held 87% of them for the send benchmark's rows.
// Checked by page: every claimed row is still on the page it was inserted
// on, for the shortest rows, narrow ones (the benchmark's) and wide ones.
func TestClaimsOfAMaterializedAudienceStayOnTheirPages(t *testing.T) {
	for _, c := range []struct {
		name       string
		key, email func(i int) string
	}{
		{"shortest", strconv.Itoa, func(i int) string { return fmt.Sprintf("%d@x.io", i) }},
		{"narrow", strconv.Itoa, func(i int) string { return fmt.Sprintf("c%d@example.com", i) }},
		{"wide", func(i int) string { return fmt.Sprintf("contact-%08d-4a1f-9c2e-7d3b5e6f8a90", i) },
			func(i int) string { return fmt.Sprintf("firstname.lastname.%d@subdomain.example-company.com", i) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, ctx := migrated(t), t.Context()
			now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
			storetest.QuietTable(t, st.DB, "campaignctl.outbox")
			const n = 4000
			enq, err := st.NewCampaignEnqueuer(ctx, "spring", "marketing")
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < n; i += 500 {
				batch := make([]store.Recipient, 0, 500)
				for j := i; j < i+500; j++ {
					batch = append(batch, store.Recipient{Key: c.key(j), Email: c.email(j)})
				}
				if _, err := enq.Enqueue(ctx, now, now, batch); err != nil {
					t.Fatal(err)
				}
			}
			pages := func() map[int64]int64 {
				t.Helper()
				var rows []struct {
					ID   int64 `db:"id"`
					Page int64 `db:"page"`
				}
				if err := st.DB.Select(&rows, `SELECT id, (ctid::text::point)[0]::bigint AS page FROM campaignctl.outbox`); err != nil {
					t.Fatal(err)
				}
				out := make(map[int64]int64, len(rows))
				for _, r := range rows {
					out[r.ID] = r.Page
				}
				return out
			}
			before := pages()
			var cursor store.ClaimCursor
			claimed := 0
			for {
				rows, err := st.ClaimDueAfter(ctx, now, "w", time.Minute, store.Limit(250), cursor)
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) == 0 {
					break
				}
				claimed += len(rows)
				cursor = cursor.After(rows)
			}
			if claimed != n {
				t.Fatalf("claimed %d rows, want %d", claimed, n)
			}
			moved := 0
			for id, page := range pages() {
				if before[id] != page {
					moved++
				}
			}
			if moved > 0 {
				t.Errorf("%d of %d claimed rows moved to another page (not HOT: an entry in each index): the outbox's fillfactor leaves too little room for a claim", moved, n)
			}
		})
	}
}

// A claim takes the one-to-one lane (every kind but a campaign) before
// campaigns' rows due earlier, within its limit, and returns them first;
// the cursor keeps a place in each lane.
func TestClaimTakesTheOneToOneLaneFirst(t *testing.T) {
	st, ctx := migrated(t), t.Context()
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	// The campaign's rows are due an hour before the sequence's.
	if n, err := st.EnqueueBatch(ctx, "c", "", "marketing", now.Add(-time.Hour), now, recipients(5)); err != nil || n != 5 {
		t.Fatalf("enqueue: %d, %v", n, err)
	}
	for i := range 3 {
		st.DB.MustExec(`INSERT INTO campaignctl.outbox (kind, campaign, step, contact_key, email, email_normalized, due_at, created_at)
			VALUES ('sequence', 'welcome', 'one', $1, $1 || '@example.com', $1 || '@example.com', $2, $2)`, fmt.Sprintf("s%d", i), now)
	}
	got, err := st.ClaimDue(ctx, now, "A", time.Minute, 4)
	if err != nil {
		t.Fatal(err)
	}
	if kinds, want := kindsOf(got), []string{"sequence", "sequence", "sequence", "campaign"}; !slices.Equal(kinds, want) {
		t.Fatalf("a claim of 4 took %v; want the sequence's 3 first, then the campaign's earliest", kinds)
	}
	cursor := store.ClaimCursor{}.After(got)
	if cursor.OneToOne.ID != got[2].ID || cursor.Bulk.ID != got[3].ID || !cursor.Bulk.DueAt.Equal(now.Add(-time.Hour)) {
		t.Fatalf("cursor after the claim: %+v; want the sequence's last row and the campaign's first", cursor)
	}
	// Limits per lane: no one-to-one row asked for, two campaign rows.
	more, err := st.ClaimDueAfter(ctx, now, "A", time.Minute, store.ClaimLimits{Bulk: 2, Total: 2}, cursor)
	if err != nil || len(more) != 2 || more[0].Kind != "campaign" || more[0].ID <= got[3].ID {
		t.Fatalf("a claim of campaign rows after the cursor: %v (%v); want the next two campaign rows", ids(more), err)
	}
}

// recipients is n contacts keyed 0 … n-1, at p0@example.com … .
func recipients(n int) []store.Recipient {
	out := make([]store.Recipient, n)
	for i := range out {
		out[i] = store.Recipient{Key: strconv.Itoa(i), Email: fmt.Sprintf("p%d@example.com", i)}
	}
	return out
}

// A claimed row carries each of its columns in its own field (the claim's
// rows are scanned column by column, in claim-due's RETURNING order).
func TestClaimReadsEveryColumn(t *testing.T) {
	st, ctx := migrated(t), t.Context()
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	first, due := now.Add(-48*time.Hour), now.Add(-time.Minute)
	var id int64
	if err := st.DB.GetContext(ctx, &id, `INSERT INTO campaignctl.outbox
		(kind, campaign, step, variant, occurrence, class, contact_key, email, email_normalized, attempts, claim_seq, first_attempt_at, due_at, created_at)
		VALUES ('sequence', 'welcome', 'two', 'B', 3, 'transactional', 'k-7', 'Ann@Example.com', 'ann@example.com', 2, 5, $1, $2, $2)
		RETURNING id`, first, due); err != nil {
		t.Fatal(err)
	}
	if err := st.Suppress(ctx, "ann@example.com", "complaint", "", now); err != nil {
		t.Fatal(err)
	}
	got, err := st.ClaimDue(ctx, now, "A", time.Minute, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("claimed %d rows (%v); want 1", len(got), err)
	}
	c := got[0]
	want := store.Claimed{
		ID: id, Kind: "sequence", Campaign: "welcome", Step: "two", Variant: "B", Occurrence: 3,
		Class: "transactional", EmailNorm: "ann@example.com", ContactKey: "k-7", Email: "Ann@Example.com",
		Attempts: 3, ClaimSeq: 6, SuppressedAs: "complaint",
	}
	if !c.FirstAttemptAt.Equal(first) || !c.DueAt.Equal(due) {
		t.Fatalf("first attempt %v, due %v; want %v, %v", c.FirstAttemptAt, c.DueAt, first, due)
	}
	c.FirstAttemptAt, c.DueAt = time.Time{}, time.Time{}
	if c != want {
		t.Fatalf("claimed\n %+v\nwant\n %+v", c, want)
	}
}

// Mail someone waits for (a double opt-in confirmation, an autoresponder's
// message) is claimed before the one-to-one lane's other kinds, even due
// later, and moves no lane's cursor: that lane is scanned from its start.
func TestClaimTakesTheWaitedLaneFirst(t *testing.T) {
	st, ctx := migrated(t), t.Context()
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	insert := func(kind, key string, due time.Time) {
		st.DB.MustExec(`INSERT INTO campaignctl.outbox (kind, campaign, step, contact_key, email, email_normalized, due_at, created_at)
			VALUES ($1, 'obj', 'one', $2, $2 || '@example.com', $2 || '@example.com', $3, $3)`, kind, key, due)
	}
	for i := range 3 {
		insert("sequence", fmt.Sprintf("s%d", i), now.Add(-time.Hour))
	}
	insert("autoresponder", "a0", now.Add(-time.Minute))
	insert("subscription", "c0", now)
	got, err := st.ClaimDue(ctx, now, "A", time.Minute, 3)
	if err != nil {
		t.Fatal(err)
	}
	if kinds, want := kindsOf(got), []string{"autoresponder", "subscription", "sequence"}; !slices.Equal(kinds, want) {
		t.Fatalf("a claim of 3 took %v; want the autoresponder's and the confirmation first, then the sequence's earliest", kinds)
	}
	cursor := store.ClaimCursor{}.After(got)
	if cursor.OneToOne.ID != got[2].ID || cursor.Bulk.ID != 0 {
		t.Fatalf("cursor after the claim: %+v; want the one-to-one lane after the sequence's row, nothing else moved", cursor)
	}
	// The waited lane alone, its queue the only one with room.
	insert("subscription", "c1", now)
	more, err := st.ClaimDueAfter(ctx, now, "A", time.Minute, store.ClaimLimits{Waited: 5, Total: 5}, cursor)
	if err != nil || len(more) != 1 || more[0].Kind != "subscription" || more[0].ContactKey != "c1" {
		t.Fatalf("a claim of the waited lane alone: %v (%v); want the new confirmation only", more, err)
	}
}

// The one-to-one lane's claim does not step over the waited lane's pending
// rows: with 5,000 autoresponder messages pending ahead of a sequence's step,
// its index scan reads a few buffers, not one row each (before 028 narrowed
// outbox_claimable_one_to_one, every such claim read all 5,000 rows).
func TestOneToOneClaimDoesNotReadTheWaitedRows(t *testing.T) {
	st := migrated(t)
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	st.DB.MustExec(`INSERT INTO campaignctl.outbox (kind, campaign, step, contact_key, email, email_normalized, due_at, created_at)
		SELECT 'autoresponder', 'auto', 'hi', 'a' || i, 'a' || i || '@example.com', 'a' || i || '@example.com', $1::timestamptz - interval '1 hour', $1
		FROM generate_series(1, 5000) AS i`, now)
	st.DB.MustExec(`INSERT INTO campaignctl.outbox (kind, campaign, step, contact_key, email, email_normalized, due_at, created_at)
		VALUES ('sequence', 'welcome', 'one', 's0', 's0@example.com', 's0@example.com', $1, $1)`, now)
	st.DB.MustExec(`ANALYZE campaignctl.outbox`)
	tx := st.DB.MustBegin()
	defer tx.Rollback()
	// No waited rows asked for ($11 = 0), the one-to-one lane's 256, now as $1.
	q := strings.NewReplacer("$11", "0", "$10", "256", "$9", "256", "$8", "NULL", "$7", "NULL", "$6", "NULL", "$5", "NULL",
		"$4", "256", "$3", "'1 minute'", "$2", "'probe'").Replace(store.QueryForTest("claim-due"))
	var plan []string
	if err := tx.Select(&plan, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) "+q, now); err != nil {
		t.Fatal(err)
	}
	if n := indexScanBuffers(t, plan, "outbox_claimable_one_to_one"); n > 20 {
		t.Fatalf("the one-to-one lane's scan read %d buffers to find one sequence step behind 5,000 autoresponder rows:\n%s", n, strings.Join(plan, "\n"))
	}
}

// indexScanBuffers is the shared buffers the plan's index scan of index hit
// (EXPLAIN (ANALYZE, BUFFERS) lines: the scan's line is followed by its
// conditions, then its buffers).
func indexScanBuffers(t *testing.T, plan []string, index string) int {
	t.Helper()
	for i, line := range plan {
		if !strings.Contains(line, "Index Scan using "+index+" on ") {
			continue
		}
		for _, l := range plan[i+1:] {
			if _, rest, ok := strings.Cut(l, "Buffers: shared hit="); ok {
				n, _ := strconv.Atoi(strings.Fields(rest)[0])
				return n
			}
		}
	}
	t.Fatalf("no index scan of %s in the claim's plan:\n%s", index, strings.Join(plan, "\n"))
	return 0
}
