//go:build linux

package main

// BenchmarkAudienceRSS holds `campaignctl audience` to the segment issue's memory
// target: the peak RSS of the command differs by less than 50 MB between 100k and
// 1M leads, on the pushdown path and on the in-process path. It runs the real
// binary as a subprocess, because only a fresh process has a peak RSS of its own
// (the test binary's high-water mark carries everything that ran before), and
// reads the peak from wait4's rusage.
//
// The file is Linux-only: ru_maxrss is in KiB on Linux, in bytes on macOS, and
// absent on Windows.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

const (
	// envRSSLeads sets the size of the large table; the small one is a tenth.
	envRSSLeads     = "CAMPAIGNCTL_BENCH_LEADS"
	defaultRSSLeads = 1_000_000
	// rssBudgetMB is the bound on the peak-RSS difference.
	rssBudgetMB = 50
	// rssSample is the --sample of every measured run.
	rssSample = 10
	// rssRunTimeout bounds one audience run, so a hung query fails the benchmark
	// instead of eating the go test deadline.
	rssRunTimeout = 5 * time.Minute
)

// rssTables are the two sizes: the table names are fixed (the metrics are named
// after them) even when CAMPAIGNCTL_BENCH_LEADS changes the row counts.
var rssTables = []struct {
	label, model, table string
}{
	{"100k", "lead_100k", "crm_lead_100k"},
	{"1m", "lead_1m", "crm_lead_1m"},
}

// rssLeadDDL has the columns of campaigns/crm.hcl's lead model plus a tags list,
// which the in-process segment needs (exists_one() over a list has no SQL form).
const rssLeadDDL = `
CREATE TABLE crm_lead_1m (
	id               bigint PRIMARY KEY,
	email_from       text,
	name             text,
	stage            text,
	lost_reason      text,
	active           boolean,
	blacklisted      boolean NOT NULL,
	created_at       timestamptz,
	owner            text,
	time_zone        text,
	customer_tier    text,
	expected_revenue double precision,
	tags             text[]
)`

// rssLeadGenSQL fills crm_lead_1m with $1 leads. Every column draws on its own
// bits of two 63-bit hashes of the row number (h, g), so the columns are
// independent of each other and the result is the same on every run. Each nullable column gets
// NULLs; stage and lost_reason also get the empty string, which CEL and SQL treat
// differently from NULL. Emails are unique but for NULLs, empty strings and ~1%
// that repeat the previous lead's address in another letter case. created_at
// spreads over 2022-01-01 .. 2024-12-31 (94,694,400 seconds).
const rssLeadGenSQL = `
INSERT INTO crm_lead_1m
SELECT i,
	CASE WHEN h % 31 = 0 THEN NULL
		WHEN h % 31 = 1 THEN ''
		WHEN h % 97 = 2 THEN 'Lead' || (i - 1) || '@Example.com'
		ELSE 'lead' || i || '@example.com' END,
	CASE WHEN (h >> 4) % 9 = 0 THEN NULL ELSE 'Lead ' || ((h >> 4) % 50000) END,
	(ARRAY['New', 'Qualified', 'Proposition', 'Won', 'Lost', '', NULL])[1 + (h >> 8) % 7],
	(ARRAY['Not enough stock', 'Too expensive', 'No reply', '', NULL])[1 + (h >> 12) % 5],
	CASE (h >> 16) % 8 WHEN 0 THEN NULL WHEN 1 THEN false ELSE true END,
	(h >> 20) % 25 = 0,
	CASE WHEN (h >> 24) % 40 = 0 THEN NULL
		ELSE timestamptz '2022-01-01 00:00:00+00' + ((h >> 28) % 94694400) * interval '1 second' END,
	(ARRAY['alice', 'bob', 'carol', NULL])[1 + g % 4],
	(ARRAY['Europe/Brussels', 'America/New_York', 'Asia/Tokyo', 'UTC', NULL])[1 + (g >> 2) % 5],
	(ARRAY['gold', 'silver', 'bronze', NULL])[1 + (g >> 5) % 4],
	CASE WHEN (g >> 7) % 10 = 0 THEN NULL ELSE ((g >> 11) % 100000)::double precision / 100 END,
	CASE (g >> 28) % 8
		WHEN 0 THEN NULL
		WHEN 1 THEN '{}'::text[]
		WHEN 2 THEN '{vip}'::text[]
		WHEN 3 THEN '{VIP,newsletter}'::text[]
		WHEN 4 THEN '{newsletter,NULL}'::text[]
		WHEN 5 THEN '{Vip}'::text[]
		ELSE '{newsletter}'::text[] END
FROM (SELECT i, hashint8extended(i, 7) & 9223372036854775807 AS h,
		hashint8extended(i, 11) & 9223372036854775807 AS g
	FROM generate_series(1::bigint, $1::bigint) AS i) AS s`

// rssModelHCL is campaigns/crm.hcl's lead model over TABLE, named MODEL, with
// nullable set where the generated table has NULLs.
const rssModelHCL = `
model "MODEL" {
  table          = "TABLE"
  key            = "id"
  email          = "email_from"
  default_filter = "MODEL.active"
  time_zone      = "time_zone"

  field "name" {
    type     = "string"
    nullable = true
  }
  field "stage" {
    type     = "string"
    nullable = true
  }
  field "lost_reason" {
    type     = "string"
    nullable = true
  }
  field "active" {
    type     = "bool"
    nullable = true
  }
  field "blacklisted" { type = "bool" }
  field "created_at" {
    type     = "timestamp"
    nullable = true
  }
  field "owner" {
    type     = "string"
    nullable = true
  }
  field "time_zone" {
    type     = "string"
    nullable = true
  }
  field "customer_tier" {
    type     = "string"
    nullable = true
  }
  field "expected_revenue" {
    type     = "float"
    nullable = true
  }
  field "tags" {
    type     = "list(string)"
    nullable = true
  }
}

# The seed's filter (campaigns/lost_leads_reactivation.hcl): pushed down.
segment "lost_MODEL" {
  model            = "MODEL"
  include_archived = true
  filter           = <<-CEL
    !MODEL.blacklisted
    && MODEL.created_at >= timestamp("2024-01-01T00:00:01Z")
    && !(MODEL.stage in ["New", "Qualified", "Won"])
    && MODEL.lost_reason == "Not enough stock"
  CEL
}

# exists_one() over a list has no SQL form, so this segment runs in-process. It
# matches few rows; forced in-process (--path in-process) it still reads them all.
segment "vip_MODEL" {
  model  = "MODEL"
  filter = <<-CEL
    MODEL.tags.exists_one(t, t.lowerAscii() == "vip")
    && MODEL.expected_revenue >= 990.0
    && MODEL.customer_tier == "gold"
  CEL
}
`

// rssSeedCountSQL and rssVIPCountSQL are the two segments written by hand in SQL,
// NULL rules included (a NULL stage is not in the list; a NULL active is not
// active; a NULL tags list has no element), for the table in %s.
const (
	rssSeedCountSQL = `SELECT count(*) FROM %s WHERE NOT blacklisted
		AND created_at >= '2024-01-01 00:00:01+00'
		AND (stage IS NULL OR stage NOT IN ('New', 'Qualified', 'Won'))
		AND lost_reason = 'Not enough stock'`
	rssVIPCountSQL = `SELECT count(*) FROM %s WHERE active IS TRUE
		AND (SELECT count(*) FROM unnest(tags) AS t(tag) WHERE lower(tag) = 'vip') = 1
		AND expected_revenue >= 990
		AND customer_tier = 'gold'`
)

// rssFixture is what every sub-benchmark shares: the binary, the database and the
// campaigns directory.
type rssFixture struct {
	bin      string
	dbURL    string
	db       *sqlx.DB
	dir      string
	rows     map[string]int // table label → rows
	runCount int            // audience runs so far, for the log
}

// BenchmarkAudienceRSS reports, per path, the peak RSS of `campaignctl audience`
// over 100k and 1M leads and their difference, and fails when the difference
// reaches rssBudgetMB.
func BenchmarkAudienceRSS(b *testing.B) {
	fx := setupRSSFixture(b)
	cases := []struct {
		name    string
		segment string // prefix; the model name completes it
		force   segment.Path
		count   string
	}{
		{"pushdown", "lost_", "", rssSeedCountSQL},
		{"in-process", "vip_", segment.InProcess, rssVIPCountSQL},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			want := segment.Pushdown
			if c.force != "" {
				want = c.force
			}
			peak := map[string]float64{}
			for b.Loop() {
				for _, tb := range rssTables {
					seg := c.segment + tb.model
					res, kib := fx.run(b, seg, c.force)
					if res.Path != want {
						b.Fatalf("audience %s ran on %q, want %q", seg, res.Path, want)
					}
					// The hand-written count is not part of the command's cost.
					b.StopTimer()
					fx.checkCount(b, res, fmt.Sprintf(c.count, tb.table), fx.rows[tb.label])
					b.StartTimer()
					peak[tb.label] = math.Max(peak[tb.label], float64(kib)/1024)
				}
			}
			small, large := peak["100k"], peak["1m"]
			delta := large - small
			b.ReportMetric(small, "rss-100k-MB")
			b.ReportMetric(large, "rss-1m-MB")
			b.ReportMetric(delta, "rss-delta-MB")
			if math.Abs(delta) >= rssBudgetMB {
				b.Fatalf("peak RSS on the %s path: %.1f MB at %d leads, %.1f MB at %d leads: differs by %.1f MB, the budget is < %v MB",
					c.name, small, fx.rows["100k"], large, fx.rows["1m"], delta, rssBudgetMB)
			}
		})
	}
}

// setupRSSFixture builds the binary, creates and fills the database (dropped by
// storetest when the benchmark ends), writes the campaigns directory and checks
// that each segment takes the path it is meant to measure.
func setupRSSFixture(b *testing.B) *rssFixture {
	b.Helper()
	large, err := rssLeads()
	if err != nil {
		b.Fatal(err)
	}
	db, dbURL := storetest.Open(b)
	dir := b.TempDir()
	fx := &rssFixture{
		bin:   buildCampaignctl(b, dir),
		dbURL: dbURL,
		db:    db,
		dir:   filepath.Join(dir, "campaigns"),
		rows:  map[string]int{"100k": large / 10, "1m": large},
	}
	fx.fillTables(b)
	fx.writeCampaigns(b)
	fx.checkPaths(b)
	return fx
}

// rssLeads reads CAMPAIGNCTL_BENCH_LEADS.
func rssLeads() (int, error) {
	s := os.Getenv(envRSSLeads)
	if s == "" {
		return defaultRSSLeads, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 10 {
		return 0, fmt.Errorf("%s=%q: want a whole number of leads of at least 10 (the small table holds a tenth)", envRSSLeads, s)
	}
	return n, nil
}

// buildCampaignctl builds this package into dir once: a measured run must be a
// process of its own, and `go run` would measure the go command instead.
func buildCampaignctl(b *testing.B, dir string) string {
	b.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		b.Fatalf("the go command is not on PATH (%v); add its bin directory (e.g. /usr/local/go/bin) to PATH", err)
	}
	bin := filepath.Join(dir, "campaignctl")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build -o %s .: %v\n%s", bin, err, out)
	}
	return bin
}

func (fx *rssFixture) fillTables(b *testing.B) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	// The small table is the first tenth of the large one: the generator's values
	// depend on the row number only through a hash, so any prefix has the same
	// mix, and copying is cheaper than generating again.
	steps := []struct {
		what string
		sql  string
		args []any
	}{
		{"create crm_lead_1m", rssLeadDDL, nil},
		{"generate crm_lead_1m", rssLeadGenSQL, []any{fx.rows["1m"]}},
		{"create crm_lead_100k", `CREATE TABLE crm_lead_100k (LIKE crm_lead_1m INCLUDING ALL)`, nil},
		{"fill crm_lead_100k", `INSERT INTO crm_lead_100k SELECT * FROM crm_lead_1m WHERE id <= $1`, []any{fx.rows["100k"]}},
		// VACUUM refuses to run in a transaction block, which a multi-statement
		// query would be: one statement per table.
		{"vacuum crm_lead_1m", `VACUUM ANALYZE crm_lead_1m`, nil},
		{"vacuum crm_lead_100k", `VACUUM ANALYZE crm_lead_100k`, nil},
	}
	for _, s := range steps {
		if _, err := fx.db.ExecContext(ctx, s.sql, s.args...); err != nil {
			b.Fatalf("%s: %v", s.what, err)
		}
	}
	for label, n := range fx.rows {
		var got int
		table := "crm_lead_" + label
		if err := fx.db.GetContext(ctx, &got, "SELECT count(*) FROM "+table); err != nil {
			b.Fatal(err)
		}
		if got != n {
			b.Fatalf("%s holds %d rows after generation, want %d", table, got, n)
		}
	}
	b.Logf("generated %d + %d leads in %s", fx.rows["1m"], fx.rows["100k"], time.Since(start).Round(time.Millisecond))
}

func (fx *rssFixture) writeCampaigns(b *testing.B) {
	b.Helper()
	if err := os.MkdirAll(fx.dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for _, tb := range rssTables {
		src := strings.NewReplacer("MODEL", tb.model, "TABLE", tb.table).Replace(rssModelHCL)
		if err := os.WriteFile(filepath.Join(fx.dir, tb.model+".hcl"), []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// checkPaths proves, on the small table, that the benchmark measures what it
// says: the seed segment is pushed down; the vip segment is not (so in-process is
// the path the command itself chooses for it, not only one the flag forces); and
// the forced in-process run reads the whole table (its query has no WHERE).
func (fx *rssFixture) checkPaths(b *testing.B) {
	b.Helper()
	lost, _ := fx.run(b, "lost_lead_100k", "", "--explain")
	if lost.Path != segment.Pushdown {
		b.Fatalf("lost_lead_100k: path %q (%s), want pushdown", lost.Path, lost.Reason)
	}
	vip, _ := fx.run(b, "vip_lead_100k", "", "--explain")
	if vip.Path != segment.InProcess || !strings.Contains(vip.Reason, "exists_one") {
		b.Fatalf("vip_lead_100k: path %q (reason %q), want in-process because of exists_one()", vip.Path, vip.Reason)
	}
	forced, _ := fx.run(b, "vip_lead_100k", segment.InProcess, "--explain")
	if forced.Path != segment.InProcess || strings.Contains(strings.ToUpper(forced.SQL), " WHERE ") {
		b.Fatalf("vip_lead_100k forced in-process: path %q, SQL %q; want in-process over the whole table", forced.Path, forced.SQL)
	}
}

// run runs `campaignctl audience SEG --db URL --from DIR --sample 10 --format
// json` (plus --path and extra) as a subprocess and returns its result and peak
// RSS in KiB; it fails the benchmark unless the command exits 0 and prints a
// result for seg.
func (fx *rssFixture) run(b *testing.B, seg string, force segment.Path, extra ...string) (audienceResult, int64) {
	b.Helper()
	args := []string{"audience", seg, "--db", fx.dbURL, "--from", fx.dir, "--sample", strconv.Itoa(rssSample), "--format", "json"}
	shown := []string{seg} // what tells the runs apart in the log
	if force != "" {
		shown = append(shown, "--path", string(force))
	}
	shown = append(shown, extra...)
	args = append(args, shown[1:]...)
	ctx, cancel := context.WithTimeout(context.Background(), rssRunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, fx.bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("campaignctl %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	fx.runCount++
	var res audienceResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		b.Fatalf("campaignctl %s: output is not the JSON result: %v\n%s", strings.Join(args, " "), err, stdout.String())
	}
	if res.Segment != seg {
		b.Fatalf("campaignctl %s: result is for segment %q", strings.Join(args, " "), res.Segment)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok || ru.Maxrss <= 0 {
		b.Fatalf("campaignctl %s: no peak RSS in the process's rusage (%T)", strings.Join(args, " "), cmd.ProcessState.SysUsage())
	}
	b.Logf("run %d: audience %s: %d contacts on %s, peak RSS %.1f MB, %s",
		fx.runCount, strings.Join(shown, " "), res.Count, res.Path, float64(ru.Maxrss)/1024, time.Since(start).Round(time.Millisecond))
	return res, ru.Maxrss
}

// checkCount holds res to the hand-written count query, and its sample to
// --sample. A count of zero would make the comparison prove nothing, so the
// generator must produce matches.
func (fx *rssFixture) checkCount(b *testing.B, res audienceResult, query string, rows int) {
	b.Helper()
	var want int64
	if err := fx.db.GetContext(context.Background(), &want, query); err != nil {
		b.Fatalf("hand-written count for %s: %v", res.Segment, err)
	}
	if want == 0 {
		b.Fatalf("%s: the hand-written query matches no lead out of %d; change the generator so the count is checked", res.Segment, rows)
	}
	if res.Count != want {
		b.Fatalf("%s: campaignctl counts %d on %s, the hand-written query %d", res.Segment, res.Count, res.Path, want)
	}
	if wantSample := min(want, rssSample); int64(len(res.Sample)) != wantSample {
		b.Fatalf("%s: sample of %d records, want %d", res.Segment, len(res.Sample), wantSample)
	}
}
