package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/runtime/events"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func countRows(t *testing.T, db *sqlx.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Get(&n, query, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEventsImportFileTwiceAndFromStdin(t *testing.T) {
	db, url := storetest.Open(t)
	today := time.Now().UTC().Truncate(time.Second)
	at := func(d time.Duration) string { return today.Add(-d).Format(time.RFC3339) }
	path := writeFile(t, "events.ndjson",
		`{"type":"page_view","model":"lead","key":42,"at":"`+at(time.Hour)+`","topic":"makeup","id":"e1"}
{"type":"click","model":"lead","key":"42","at":"`+at(2*time.Hour)+`","campaign":"restock_nurture","step":"week1","id":"e2"}
{"type":"open","model":"lead","key":"7","at":"`+at(3*time.Hour)+`","campaign":"restock_nurture","step":"week1","id":"e3"}
`)
	// A fresh database: import migrates it first.
	out := mustRun(t, 0, "events", "import", "--db", url, path)
	if want := "imported 3 events (0 duplicates skipped) from " + path + "\n"; out != want {
		t.Errorf("first import printed %q, want %q", out, want)
	}
	// The flag may also come after the file; the second run adds nothing.
	out = mustRun(t, 0, "events", "import", path, "--db", url)
	if want := "imported 0 events (3 duplicates skipped) from " + path + "\n"; out != want {
		t.Errorf("re-import printed %q, want %q", out, want)
	}
	if n := countRows(t, db, `SELECT count(*) FROM campaignctl.events`); n != 3 {
		t.Fatalf("%d rows, want 3", n)
	}

	old := eventsStdin
	t.Cleanup(func() { eventsStdin = old })
	eventsStdin = strings.NewReader(`{"type":"reply","model":"lead","key":42,"at":"` + at(time.Minute) + `","id":"e4"}` + "\n" +
		`{"type":"page_view","model":"lead","key":42,"at":"` + at(time.Hour) + `","topic":"makeup","id":"e1"}` + "\n")
	out = mustRun(t, 0, "events", "import", "--db", url, "--format", "json", "-")
	var res events.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--format json printed %q: %v", out, err)
	}
	if res.Lines != 2 || res.Events != 2 || res.Inserted != 1 || res.Duplicates != 1 || res.Partitions == nil {
		t.Errorf("json result %+v, want 2 lines, 1 inserted, 1 duplicate, partitions []", res)
	}
	if n := countRows(t, db, `SELECT count(*) FROM campaignctl.events WHERE contact_key = '42'`); n != 3 {
		t.Errorf("%d rows for lead 42, want 3", n)
	}
}

func TestEventsImportBadLineFailsWithLineAndNothingStored(t *testing.T) {
	t.Parallel()
	db, url := storetest.Open(t)
	path := writeFile(t, "bad.ndjson", `{"type":"page_view","model":"lead","key":"1","at":"2026-11-20T10:00:00Z"}
{"type":"page_view","model":"lead","key":"2","at":"2026-11-20T10:00:00Z","tpye":"x"}
`)
	code, stdout, stderr := runSub(run, "events", "import", "--db", url, path)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", code, stderr)
	}
	want := "campaignctl events import: " + path + `:2: field "tpye": unknown field; did you mean "type"?`
	if !strings.HasPrefix(stderr, want) || !strings.HasSuffix(stderr, "; nothing was imported\n") || stdout != "" {
		t.Errorf("stderr %q\nwant it to start with %q and end with nothing was imported", stderr, want)
	}
	if n := countRows(t, db, `SELECT count(*) FROM campaignctl.events`); n != 0 {
		t.Errorf("%d rows stored, want 0", n)
	}
}

func TestEventsUsageErrors(t *testing.T) {
	t.Setenv("CAMPAIGNCTL_DB", "")
	for _, tc := range []struct {
		args []string
		code int
		want string // in stdout for code 0, else in stderr
	}{
		{[]string{"events"}, 2, "Commands:"},
		{[]string{"events", "-h"}, 0, "import"},
		{[]string{"events", "export"}, 2, `unknown command "export"`},
		{[]string{"events", "import", "-h"}, 0, ""},
		{[]string{"events", "import", "--db", "postgres://x"}, 2, "name exactly one FILE"},
		{[]string{"events", "import", "a", "b", "--db", "postgres://x"}, 2, "name exactly one FILE"},
		{[]string{"events", "import", "a.ndjson"}, 2, "no database"},
		{[]string{"events", "import", "--db", "postgres://x", "--format", "yaml", "a"}, 2, `--format "yaml"`},
		{[]string{"events", "import", "--db", "postgres://x", "--batch", "0", "a"}, 2, "--batch 0"},
		{[]string{"events", "import", "--db", "postgres://x", filepath.Join(t.TempDir(), "missing.ndjson")}, 1, "no such file"},
	} {
		code, stdout, stderr := runSub(run, tc.args...)
		out := stderr
		if tc.code == 0 {
			out = stdout
		}
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("campaignctl %s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.code, tc.want, stdout, stderr)
		}
	}
	// -h shows the examples, on stderr as every command's help does.
	_, _, stderr := runSub(run, "events", "import", "-h")
	if !strings.Contains(stderr, "Examples:") || !strings.Contains(stderr, "events import --db") {
		t.Errorf("events import -h lacks examples:\n%s", stderr)
	}
}

// TestEventsDemoDataImports generates the demo events with testdata/crm/gen.go and
// checks they import cleanly, deterministically and with the profiles the example
// segments need.
func TestEventsDemoDataImports(t *testing.T) {
	t.Parallel()
	db, url := storetest.Open(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to run testdata/crm/gen.go: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Hour)
	gen := func() []byte {
		cmd := exec.Command(goBin, "run", "../../testdata/crm/gen.go", "-events", "-now", now.Format(time.RFC3339))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gen.go -events: %v\n%s", err, stderr.String())
		}
		return out
	}
	data := gen()
	if again := gen(); !bytes.Equal(data, again) {
		t.Fatal("gen.go -events is not deterministic for one -now")
	}
	lines := bytes.Count(data, []byte("\n"))
	if lines < 10000 || lines > 30000 {
		t.Errorf("%d demo events, want between 10k and 30k", lines)
	}
	path := writeFile(t, "demo.ndjson", string(data))
	out := mustRun(t, 0, "events", "import", "--db", url, path)
	if !strings.HasPrefix(out, "imported "+strconv.Itoa(lines)+" events (0 duplicates skipped)") {
		t.Errorf("import printed %q, want all %d events imported", out, lines)
	}

	checks := []struct {
		what  string
		query string
		min   int
	}{
		{"leads with >= 3 makeup views in 14 days", `SELECT count(*) FROM (SELECT contact_key FROM campaignctl.events
			WHERE model = 'lead' AND type = 'page_view' AND topic = 'makeup' AND occurred_at >= $1::timestamptz - interval '14 days'
			GROUP BY contact_key HAVING count(*) >= 3) s`, 300},
		{"leads with exactly 2 makeup views in 14 days", `SELECT count(*) FROM (SELECT contact_key FROM campaignctl.events
			WHERE model = 'lead' AND type = 'page_view' AND topic = 'makeup' AND occurred_at >= $1::timestamptz - interval '14 days'
			GROUP BY contact_key HAVING count(*) = 2) s`, 100},
		{"leads whose last page view, click or form is > 90 days old", `SELECT count(*) FROM (SELECT contact_key FROM campaignctl.events
			WHERE model = 'lead' AND type IN ('page_view', 'click', 'form_submit')
			GROUP BY contact_key HAVING max(occurred_at) < $1::timestamptz - interval '90 days') s`, 400},
		{"leads that clicked restock_nurture week1", `SELECT count(DISTINCT contact_key) FROM campaignctl.events
			WHERE model = 'lead' AND type = 'click' AND campaign = 'restock_nurture' AND step = 'week1' AND occurred_at < $1`, 100},
		{"leads that opened week1 without clicking", `SELECT count(*) FROM (SELECT contact_key FROM campaignctl.events
			WHERE model = 'lead' AND campaign = 'restock_nurture' AND step = 'week1' AND occurred_at < $1
			GROUP BY contact_key HAVING bool_or(type = 'open') AND NOT bool_or(type = 'click')) s`, 100},
		{"leads with a form submit", `SELECT count(DISTINCT contact_key) FROM campaignctl.events WHERE model = 'lead' AND type = 'form_submit' AND occurred_at < $1`, 50},
		{"customers with a purchase", `SELECT count(DISTINCT contact_key) FROM campaignctl.events WHERE model = 'customer' AND type = 'purchase' AND occurred_at < $1`, 500},
	}
	for _, c := range checks {
		if n := countRows(t, db, c.query, now); n < c.min {
			t.Errorf("%s: %d, want at least %d", c.what, n, c.min)
		}
	}
	// Keys are those of crm.sql, and nothing lies in the future of -now.
	if n := countRows(t, db, `SELECT count(*) FROM campaignctl.events WHERE occurred_at > $1
		OR (model = 'lead' AND contact_key::int NOT BETWEEN 1 AND 4000)
		OR (model = 'customer' AND contact_key::int NOT BETWEEN 1 AND 1500)
		OR model NOT IN ('lead', 'customer')`, now); n != 0 {
		t.Errorf("%d events after -now or with keys outside the demo CRM", n)
	}
	if out := mustRun(t, 0, "events", "import", "--db", url, path); !strings.HasPrefix(out, "imported 0 events ("+strconv.Itoa(lines)+" duplicates skipped)") {
		t.Errorf("re-import printed %q, want all duplicates", out)
	}
}
