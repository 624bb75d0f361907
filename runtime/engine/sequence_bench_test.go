package engine_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/mailer"
	enginemetrics "github.com/campaignctl/campaignctl/runtime/metrics"
	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// BenchmarkSequenceEnrollAndAdvance measures the sequence runner's bulk path:
// N contacts enrolled into a 3-step sequence (offsets 0d, 7d, 14d; no A/B
// test, no goal, no when) and advanced through it on a fake clock, against a
// hand-written set-based baseline (INSERT … SELECT / UPDATE … FROM the
// enrollments) doing the same writes on a fresh database with the same schema
// and contacts, in the same run. Nothing is sent: the outbox rows are the
// product measured.
//
// The targets are the engine at ≥ 0.5× the baseline's rate and peak
// RSS growing by < 50 MB from 100k to 1M enrolled; the figures are reported,
// not asserted. The benchmark fails only when the engine and the baseline do
// not leave the same rows.
//
// CAMPAIGNCTL_SEQ_BENCH_N sets N (default 100000); CAMPAIGNCTL_SEQ_BENCH_BATCH
// the engine's batch sizes, comma-separated (default "1000,500"). Peak RSS is
// the process's (VmHWM), reset per sub-benchmark where Linux allows it; run one
// N per process to compare them.
func BenchmarkSequenceEnrollAndAdvance(b *testing.B) {
	n := envInt(b, "CAMPAIGNCTL_SEQ_BENCH_N", 100000)
	batches := []int{1000, 500}
	if s := strings.TrimSpace(os.Getenv("CAMPAIGNCTL_SEQ_BENCH_BATCH")); s != "" {
		batches = nil
		for _, f := range strings.Split(s, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || v < 1 {
				b.Fatalf("CAMPAIGNCTL_SEQ_BENCH_BATCH=%q: want positive integers, comma-separated", s)
			}
			batches = append(batches, v)
		}
	}
	for _, bs := range batches {
		b.Run(fmt.Sprintf("n=%d/batch=%d", n, bs), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runSequenceBench(b, n, bs)
			}
		})
	}
}

// seqBenchPlan is one model, an everyone segment (pushdown), a sender, three
// templates and a 3-step sequence: the pure advance path.
func seqBenchPlan() *plan.Plan {
	tpl := func(name string) plan.Template {
		return plan.Template{Name: name, Subject: "Step " + name, Text: "Hi {{ .c.name }} {{ .unsubscribe_url }}", Class: plan.ClassMarketing}
	}
	p := &plan.Plan{
		Models: []plan.Model{{Name: "c", Table: "contacts", Key: "id", Email: "email", Fields: []plan.Field{
			{Name: "name", Column: "name", Type: plan.TypeString},
		}}},
		Segments:  []plan.Segment{{Name: "everyone", Model: "c", Filter: "true"}},
		Senders:   []plan.Sender{{Name: "s", From: "Shop <news@shop.example>"}},
		Templates: []plan.Template{tpl("welcome"), tpl("week1"), tpl("week2")},
		Sequences: []plan.Sequence{{
			Name: seqBenchObject, Model: "c", Segment: "everyone", Sender: "s",
			Steps: []plan.SequenceStep{
				{Name: "welcome", Offset: "0d", Template: "welcome"},
				{Name: "week1", Offset: "7d", Template: "week1"},
				{Name: "week2", Offset: "14d", Template: "week2"},
			},
		}},
	}
	p.Finalize()
	return p
}

const seqBenchObject = "onboarding"

// seqBenchSteps is the sequence as the baseline writes it: step name and offset.
var seqBenchSteps = []struct {
	name   string
	offset time.Duration
}{{"welcome", 0}, {"week1", 7 * 24 * time.Hour}, {"week2", 14 * 24 * time.Hour}}

// unsentMailer satisfies engine.Mailer; the benchmark never sends.
type unsentMailer struct{}

func (unsentMailer) Send(context.Context, *mailer.Message) error {
	return errors.New("BenchmarkSequenceEnrollAndAdvance sends no mail")
}

// seqBenchDB opens a fresh database with the schema and n contacts.
func seqBenchDB(b *testing.B, ctx context.Context, n int) (*store.Store, *sqlx.DB) {
	b.Helper()
	db, _ := storetest.Open(b)
	st := &store.Store{DB: db}
	st.SetMaxConns(16)
	if _, err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	db.MustExec(`CREATE TABLE contacts (id int PRIMARY KEY, email text, name text)`)
	db.MustExec(`INSERT INTO contacts SELECT i, 'c' || i || '@example.com', 'Contact ' || i FROM generate_series(1, $1) i`, n)
	db.MustExec(`VACUUM ANALYZE contacts`)
	return st, db
}

// phases are the timed parts of one run: enrolling, then the three advances.
type phases [4]time.Duration

func (p phases) total() time.Duration { return p[0] + p[1] + p[2] + p[3] }

func runSequenceBench(b *testing.B, n, batch int) {
	ctx := context.Background()
	p := seqBenchPlan()
	data, err := plan.Encode(p)
	if err != nil {
		b.Fatal(err)
	}

	// The engine.
	b.StopTimer()
	st, db := seqBenchDB(b, ctx, n)
	clk := clock.NewFake(t0)
	if _, err := st.InsertRevision(ctx, store.Revision{PlanHash: p.Hash, Plan: string(data), AppliedAt: clk.Now()}); err != nil {
		b.Fatal(err)
	}
	signer, _ := links.NewSigner([]byte("test-secret-0123456789"))
	eng := &engine.Engine{
		Store: st, Mailer: unsentMailer{}, Clock: clk, Links: signer, Metrics: enginemetrics.New(prometheus.NewRegistry()),
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		PublicURL: "http://mail.test", Worker: "bench", BatchSize: batch,
	}
	runtime.GC()
	resetPeakRSS()
	rssBefore, _ := procStatusKB("VmHWM")
	sampler := startHeapSampler()
	var pg *pgSampler
	if os.Getenv("CAMPAIGNCTL_SEQ_BENCH_PGSAMPLE") == "1" {
		pg = startPGSampler(ctx, db)
	}
	var ep phases
	b.StartTimer()
	start := time.Now()
	pg.phase("enroll")
	if err := eng.Reconcile(ctx); err != nil {
		b.Fatal(err)
	}
	ep[0] = time.Since(start)
	for i, s := range seqBenchSteps {
		clk.Set(t0.Add(s.offset))
		pg.phase("advance " + s.name)
		start = time.Now()
		k, err := eng.AdvanceDue(ctx)
		ep[i+1] = time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if k != n {
			b.Fatalf("advance %d (%s) advanced %d enrollments, want %d", i+1, s.name, k, n)
		}
	}
	b.StopTimer()
	heapPeak := sampler.stop()
	pgReport := pg.stop()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rssPeak, _ := procStatusKB("VmHWM")
	engRows := seqBenchRows(b, ctx, db)

	// The baseline, on a fresh database.
	bst, bdb := seqBenchDB(b, ctx, n)
	rev, err := bst.InsertRevision(ctx, store.Revision{PlanHash: p.Hash, Plan: string(data), AppliedAt: t0})
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	bp := seqBaseline(b, ctx, bdb, rev)
	b.StopTimer()
	baseRows := seqBenchRows(b, ctx, bdb)

	want := seqRows{enrollments: n, outbox: 3 * n, steps: 4 * n}
	if engRows.counts() != want.counts() {
		b.Errorf("engine wrote %s, want %s", engRows.counts(), want.counts())
	}
	if engRows != baseRows {
		b.Fatalf("engine and baseline wrote different rows:\n engine   %+v\n baseline %+v", engRows, baseRows)
	}

	engRate := float64(n) / ep.total().Seconds()
	baseRate := float64(n) / bp.total().Seconds()
	b.ReportMetric(engRate, "engine_contacts/s")
	b.ReportMetric(baseRate, "baseline_contacts/s")
	b.ReportMetric(engRate/baseRate, "ratio")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap_inuse_after_MB")
	b.ReportMetric(float64(heapPeak)/(1<<20), "heap_peak_MB")
	if rssPeak > 0 {
		b.ReportMetric(float64(rssPeak)/1024, "peak_rss_MB")
	}
	sec := func(d time.Duration) string { return fmt.Sprintf("%8.2fs", d.Seconds()) }
	b.Logf("N=%d batch=%d (engine: %d transactions per advance)", n, batch, (n+batch-1)/batch)
	b.Logf("%-10s %9s %9s %9s %9s %9s %14s", "", "enroll", "adv 0d", "adv 7d", "adv 14d", "total", "contacts/s")
	b.Logf("%-10s %9s %9s %9s %9s %9s %14.0f", "engine", sec(ep[0]), sec(ep[1]), sec(ep[2]), sec(ep[3]), sec(ep.total()), engRate)
	b.Logf("%-10s %9s %9s %9s %9s %9s %14.0f", "baseline", sec(bp[0]), sec(bp[1]), sec(bp[2]), sec(bp[3]), sec(bp.total()), baseRate)
	b.Logf("ratio engine/baseline %.3f; Go heap in use after %.1f MB, sampled peak %.1f MB; process peak RSS %.1f MB (%.1f MB before the engine run)",
		engRate/baseRate, float64(ms.HeapInuse)/(1<<20), float64(heapPeak)/(1<<20), float64(rssPeak)/1024, float64(rssBefore)/1024)
	b.Logf("rows (both): enrollments %d, outbox %d, enrollment_steps %d", engRows.enrollments, engRows.outbox, engRows.steps)
	// Benchmark logs are cut at 10 lines: the sampler's report goes to stderr.
	for _, l := range pgReport {
		fmt.Fprintln(os.Stderr, l)
	}
}

// seqBaseline is the hand-written set-based equivalent of the engine's work:
// one INSERT … SELECT to enroll, then per step, in one transaction, the
// messages, the history and the move, each one statement over the due
// enrollments.
func seqBaseline(b *testing.B, ctx context.Context, db *sqlx.DB, rev int64) phases {
	b.Helper()
	var p phases
	start := time.Now()
	db.MustExecContext(ctx, `INSERT INTO campaignctl.enrollments (kind, object, contact_key, email, email_normalized, occurrence,
    state, step_index, wake_at, enrolled_at, revision_id, updated_at)
SELECT 'sequence', $1, c.id::text, btrim(c.email), lower(btrim(c.email)), 1, 'active', 0, $2, $2, $3, $2
FROM contacts c WHERE btrim(coalesce(c.email, '')) <> ''
ON CONFLICT DO NOTHING`, seqBenchObject, t0, rev)
	p[0] = time.Since(start)

	// $1 object, $2 step index, $3 now: the enrollments due at this step.
	const due = `
FROM campaignctl.enrollments en
WHERE en.state = 'active' AND en.wake_at <= $3 AND en.kind = 'sequence' AND en.object = $1 AND en.step_index = $2`
	for i, s := range seqBenchSteps {
		now := t0.Add(s.offset)
		start := time.Now()
		tx := db.MustBeginTx(ctx, nil)
		tx.MustExecContext(ctx, `INSERT INTO campaignctl.outbox (kind, campaign, step, contact_key, email, email_normalized,
    occurrence, enrollment_id, due_at, created_at)
SELECT 'sequence', en.object, $4, en.contact_key, en.email, en.email_normalized, en.occurrence, en.id, $3, $3`+due+`
ON CONFLICT DO NOTHING`, seqBenchObject, i, now, s.name)
		if i == len(seqBenchSteps)-1 {
			tx.MustExecContext(ctx, `INSERT INTO campaignctl.enrollment_steps (enrollment_id, step, action, at, detail)
SELECT en.id, a.step, a.action, $3, a.detail
FROM campaignctl.enrollments en
CROSS JOIN (VALUES ($4::text, 'sent', ''), ('', 'exited', 'no steps left')) AS a(step, action, detail)
WHERE en.state = 'active' AND en.wake_at <= $3 AND en.kind = 'sequence' AND en.object = $1 AND en.step_index = $2`,
				seqBenchObject, i, now, s.name)
			tx.MustExecContext(ctx, `UPDATE campaignctl.enrollments en
SET step_index = $2 + 1, wake_at = NULL, hold = NULL, state = 'exited', exit_reason = 'completed', exited_at = $3, updated_at = $3
WHERE en.state = 'active' AND en.wake_at <= $3 AND en.kind = 'sequence' AND en.object = $1 AND en.step_index = $2`,
				seqBenchObject, i, now)
		} else {
			tx.MustExecContext(ctx, `INSERT INTO campaignctl.enrollment_steps (enrollment_id, step, action, at)
SELECT en.id, $4, 'sent', $3`+due, seqBenchObject, i, now, s.name)
			tx.MustExecContext(ctx, `UPDATE campaignctl.enrollments en
SET step_index = $2 + 1, wake_at = en.enrolled_at + $4 * interval '1 microsecond', updated_at = $3
WHERE en.state = 'active' AND en.wake_at <= $3 AND en.kind = 'sequence' AND en.object = $1 AND en.step_index = $2`,
				seqBenchObject, i, now, seqBenchSteps[i+1].offset.Microseconds())
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		p[i+1] = time.Since(start)
	}
	return p
}

// seqRows is what a run left: row counts and order-independent checksums of
// the rows' contents (ids aside: each row is tied to its enrollment by the
// contact's key).
type seqRows struct {
	enrollments, outbox, steps       int
	enrollSum, outboxSum, stepsSum   string
	enrollStates, outboxByStep, hist string
}

func (r seqRows) counts() string {
	return fmt.Sprintf("enrollments %d, outbox %d, enrollment_steps %d", r.enrollments, r.outbox, r.steps)
}

func seqBenchRows(b *testing.B, ctx context.Context, db *sqlx.DB) seqRows {
	b.Helper()
	var r seqRows
	one := func(dst any, query string) {
		if err := db.GetContext(ctx, dst, query); err != nil {
			b.Fatalf("%s: %v", query, err)
		}
	}
	db.MustExecContext(ctx, `SET TIME ZONE 'UTC'`)
	one(&r.enrollments, `SELECT count(*) FROM campaignctl.enrollments`)
	one(&r.outbox, `SELECT count(*) FROM campaignctl.outbox`)
	one(&r.steps, `SELECT count(*) FROM campaignctl.enrollment_steps`)
	one(&r.enrollSum, `SELECT coalesce(sum(hashtextextended(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s',
    kind, object, contact_key, email, email_normalized, occurrence, state, step_index, extract(epoch FROM wake_at), hold,
    extract(epoch FROM enrolled_at), revision_id, exit_reason, extract(epoch FROM exited_at), extract(epoch FROM updated_at)), 0)), 0)::text
FROM campaignctl.enrollments`)
	one(&r.outboxSum, `SELECT coalesce(sum(hashtextextended(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s',
    o.kind, o.campaign, o.step, o.variant, o.contact_key, o.email, o.email_normalized, o.occurrence, o.status,
    extract(epoch FROM o.due_at), extract(epoch FROM o.created_at), en.contact_key), 0)), 0)::text
FROM campaignctl.outbox o LEFT JOIN campaignctl.enrollments en ON en.id = o.enrollment_id`)
	one(&r.stepsSum, `SELECT coalesce(sum(hashtextextended(format('%s|%s|%s|%s|%s|%s',
    en.contact_key, s.step, s.action, extract(epoch FROM s.at), s.variant, s.detail), 0)), 0)::text
FROM campaignctl.enrollment_steps s LEFT JOIN campaignctl.enrollments en ON en.id = s.enrollment_id`)
	one(&r.enrollStates, `SELECT coalesce(string_agg(x, '; ' ORDER BY x), '') FROM (
    SELECT format('%s %s step %s: %s', state, exit_reason, step_index, count(*)) AS x
    FROM campaignctl.enrollments GROUP BY state, exit_reason, step_index) t`)
	one(&r.outboxByStep, `SELECT coalesce(string_agg(x, '; ' ORDER BY x), '') FROM (
    SELECT format('%s %s: %s', step, status, count(*)) AS x FROM campaignctl.outbox GROUP BY step, status) t`)
	one(&r.hist, `SELECT coalesce(string_agg(x, '; ' ORDER BY x), '') FROM (
    SELECT format('%s %s: %s', step, action, count(*)) AS x FROM campaignctl.enrollment_steps GROUP BY step, action) t`)
	return r
}

// pgSampler is a poor man's profiler of the engine's database side, on with
// CAMPAIGNCTL_SEQ_BENCH_PGSAMPLE=1: every 10 ms it reads what the engine's
// sessions are doing (pg_stat_activity) and counts, per phase, the statement
// running (or, idle in a transaction, the last one: the engine's own time and
// the round trip), so the report (on stderr) says where the time goes.
type pgSampler struct {
	db     *sqlx.DB
	done   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	cur    string
	order  []string
	counts map[string]map[string]int
	totals map[string]int
}

func startPGSampler(ctx context.Context, db *sqlx.DB) *pgSampler {
	p := &pgSampler{db: db, done: make(chan struct{}), counts: map[string]map[string]int{}, totals: map[string]int{}}
	conn, err := db.Connx(ctx)
	if err != nil {
		return nil
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer conn.Close()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
			}
			var rows []struct {
				State string `db:"state"`
				Wait  string `db:"wait"`
				Query string `db:"query"`
			}
			if err := conn.SelectContext(ctx, &rows, `SELECT coalesce(state, '') AS state,
    coalesce(wait_event_type || ':' || wait_event, '') AS wait,
    left(btrim(regexp_replace(regexp_replace(query, '--[^\n]*', '', 'g'), '\s+', ' ', 'g')), 60) AS query
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`); err != nil {
				continue
			}
			p.mu.Lock()
			ph := p.cur
			for _, r := range rows {
				var k string
				switch r.State {
				case "active":
					k = "running  " + r.Query
					if r.Wait != "" {
						k += "  [" + r.Wait + "]"
					}
				case "idle in transaction":
					k = "idle tx  after " + r.Query
				default:
					continue
				}
				p.counts[ph][k]++
				p.totals[ph]++
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *pgSampler) phase(name string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur = name
	p.order = append(p.order, name)
	p.counts[name] = map[string]int{}
}

func (p *pgSampler) stop() []string {
	if p == nil {
		return nil
	}
	close(p.done)
	p.wg.Wait()
	var out []string
	for _, ph := range p.order {
		out = append(out, fmt.Sprintf("database side, %s (%d busy samples):", ph, p.totals[ph]))
		type kv struct {
			k string
			n int
		}
		var kvs []kv
		for k, n := range p.counts[ph] {
			kvs = append(kvs, kv{k, n})
		}
		sort.Slice(kvs, func(i, j int) bool { return kvs[i].n > kvs[j].n })
		for i, x := range kvs {
			if i == 8 {
				break
			}
			out = append(out, fmt.Sprintf("  %5.1f%%  %s", 100*float64(x.n)/float64(p.totals[ph]), x.k))
		}
	}
	return out
}

func envInt(b *testing.B, name string, def int) int {
	s := strings.TrimSpace(os.Getenv(name))
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}

// procStatusKB reads one "kB" field of /proc/self/status (VmHWM: peak RSS,
// what getrusage reports as ru_maxrss); false where there is no procfs.
func procStatusKB(field string) (int64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		return v, err == nil
	}
	return 0, false
}

// resetPeakRSS resets the process's peak RSS to its current RSS (Linux ≥ 4.0),
// so each sub-benchmark's peak is its own; elsewhere it does nothing.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// heapSampler records the peak of the Go heap in use (HeapInuse: objects and
// the unused part of in-use spans) every few milliseconds.
type heapSampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{done: make(chan struct{})}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	read := func() {
		metrics.Read(samples)
		var v uint64
		for _, s := range samples {
			if s.Value.Kind() == metrics.KindUint64 {
				v += s.Value.Uint64()
			}
		}
		h.peak = max(h.peak, v)
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			read()
			select {
			case <-h.done:
				read()
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) stop() uint64 {
	close(h.done)
	h.wg.Wait()
	return h.peak
}
