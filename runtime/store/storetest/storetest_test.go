package storetest

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
)

var identRE = regexp.MustCompile(`^t_[a-z0-9_]+_[0-9a-f]{12}$`)

func TestDatabaseName(t *testing.T) {
	long := strings.Repeat("VeryLongSubtestName/", 10)
	for _, name := range []string{
		"TestSimple",
		"TestParent/sub case#01",
		long,
		"Test/Ünïcödé/日本語",
		"///",
		"",
	} {
		t.Run(fmt.Sprintf("%.20q", name), func(t *testing.T) {
			got, err := databaseName(name)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) > maxIdentifierLen {
				t.Errorf("databaseName(%q) = %q, %d bytes > %d", name, got, len(got), maxIdentifierLen)
			}
			if !identRE.MatchString(got) {
				t.Errorf("databaseName(%q) = %q, want match of %s", name, got, identRE)
			}
			if strings.Contains(got, "__") {
				t.Errorf("databaseName(%q) = %q has a doubled underscore", name, got)
			}
			again, err := databaseName(name)
			if err != nil {
				t.Fatal(err)
			}
			if again == got {
				t.Errorf("two calls for %q both gave %q, want distinct names", name, got)
			}
		})
	}

	got, err := databaseName(long + "/TheDistinctiveEnd")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "t_verylongsubtestname_") || !strings.Contains(got, "thedistinctiveend_") {
		t.Errorf("shortened name %q lost its start or its end", got)
	}

	got, err = databaseName("TestParent/Sub_Case")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "t_testparent_sub_case_") {
		t.Errorf("databaseName keeps no readable prefix: %q", got)
	}
}

func TestWithDatabase(t *testing.T) {
	got, err := withDatabase("postgres://postgres:secret@127.0.0.1:55432/postgres?sslmode=disable", "t_x_0123")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != "/t_x_0123" || u.Query().Get("sslmode") != "disable" || u.Host != "127.0.0.1:55432" {
		t.Errorf("withDatabase = %q: want same host and query, path /t_x_0123", got)
	}
	if _, err := withDatabase("host=127.0.0.1 dbname=postgres", "t_x"); err == nil || !strings.Contains(err.Error(), "pg.sh start") {
		t.Errorf("keyword/value DSN: err = %v, want an error that says how to get a URL", err)
	}
}

// outcomeTB records Skip and Fatal instead of acting on the real test, so the
// missing-cluster paths can be checked while a cluster is configured.
type outcomeTB struct {
	testing.TB
	mu      sync.Mutex
	skipped string
	fatal   string
}

func (o *outcomeTB) Skipf(format string, args ...any) {
	o.mu.Lock()
	o.skipped = fmt.Sprintf(format, args...)
	o.mu.Unlock()
	runtime.Goexit()
}

func (o *outcomeTB) Fatalf(format string, args ...any) {
	o.mu.Lock()
	o.fatal = fmt.Sprintf(format, args...)
	o.mu.Unlock()
	runtime.Goexit()
}

// run calls f on its own goroutine, as the testing package does, so Goexit in
// Skipf/Fatalf ends only f.
func (o *outcomeTB) run(f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(o)
	}()
	<-done
}

func TestAdminURLWithoutCluster(t *testing.T) {
	t.Run("skips outside make test", func(t *testing.T) {
		t.Setenv(EnvAdminURL, "")
		t.Setenv(EnvRequireDB, "")
		o := &outcomeTB{TB: t}
		o.run(func(tb testing.TB) { NewDatabase(tb) })
		if o.fatal != "" {
			t.Fatalf("failed instead of skipping: %s", o.fatal)
		}
		if !strings.Contains(o.skipped, "make test") || !strings.Contains(o.skipped, "scripts/pg.sh start") {
			t.Errorf("skip message %q does not say how to run the test", o.skipped)
		}
	})
	t.Run("fails when a database is required", func(t *testing.T) {
		t.Setenv(EnvAdminURL, "")
		t.Setenv(EnvRequireDB, "1")
		o := &outcomeTB{TB: t}
		o.run(func(tb testing.TB) { Open(tb) })
		if o.skipped != "" {
			t.Fatalf("skipped although %s=1: %s", EnvRequireDB, o.skipped)
		}
		if !strings.Contains(o.fatal, "make test") {
			t.Errorf("fatal message %q does not point at make test", o.fatal)
		}
	})
	t.Run("returns the configured URL", func(t *testing.T) {
		const want = "postgres://postgres@127.0.0.1:1/postgres"
		t.Setenv(EnvAdminURL, want)
		if got := AdminURL(t); got != want {
			t.Errorf("AdminURL = %q, want %q", got, want)
		}
	})
}

func TestOpenGivesDistinctUsableDatabasesDroppedAtCleanup(t *testing.T) {
	admin := AdminURL(t)
	var names []string
	// leak is a session into the second database that stays open across the
	// sub-test's cleanup, proving the drop uses WITH (FORCE).
	var leak *sqlx.DB
	defer func() {
		if leak != nil {
			_ = leak.Close()
		}
	}()

	t.Run("two databases", func(t *testing.T) {
		db1, url1 := Open(t)
		db2, url2 := Open(t)
		if url1 == url2 {
			t.Fatalf("both databases have URL %s", url1)
		}
		ctx := context.Background()
		var n1, n2 string
		if err := db1.GetContext(ctx, &n1, "SELECT current_database()"); err != nil {
			t.Fatal(err)
		}
		if err := db2.GetContext(ctx, &n2, "SELECT current_database()"); err != nil {
			t.Fatal(err)
		}
		if n1 == n2 {
			t.Fatalf("both connections are in database %s", n1)
		}
		for _, n := range []string{n1, n2} {
			if !identRE.MatchString(n) || len(n) > maxIdentifierLen {
				t.Errorf("database name %q is not a safe identifier of at most %d bytes", n, maxIdentifierLen)
			}
			if !strings.Contains(n, "two_databases") {
				t.Errorf("database name %q does not carry the test name", n)
			}
		}
		names = append(names, n1, n2)

		// Usable, and isolated: a table made in one is absent from the other.
		if _, err := db1.ExecContext(ctx, "CREATE TABLE contact (email text PRIMARY KEY)"); err != nil {
			t.Fatal(err)
		}
		if _, err := db1.ExecContext(ctx, "INSERT INTO contact VALUES ($1), ($2)", "a@example.com", "b@example.com"); err != nil {
			t.Fatal(err)
		}
		var count int
		if err := db1.GetContext(ctx, &count, "SELECT count(*) FROM contact"); err != nil {
			t.Fatal(err)
		}
		if count != 2 {
			t.Errorf("count in first database = %d, want 2", count)
		}
		var exists bool
		if err := db2.GetContext(ctx, &exists, "SELECT to_regclass('public.contact') IS NOT NULL"); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("table created in %s is visible in %s", n1, n2)
		}
		if _, err := db2.ExecContext(ctx, "CREATE TABLE contact (id int)"); err != nil {
			t.Errorf("second database is not usable: %v", err)
		}

		var err error
		if leak, err = sqlx.Open("postgres", url2); err != nil {
			t.Fatal(err)
		}
		leak.SetMaxOpenConns(1)
		if err := leak.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		assertDatabases(t, admin, names, true)
	})

	if len(names) != 2 {
		t.Fatalf("sub-test recorded %d database names, want 2", len(names))
	}
	assertDatabases(t, admin, names, false)
}

// assertDatabases checks in pg_database, over a separate admin connection, that the
// named databases exist (or not).
func assertDatabases(t *testing.T, admin string, names []string, want bool) {
	t.Helper()
	db, err := sqlx.Open("postgres", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, n := range names {
		var exists bool
		if err := db.Get(&exists, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", n); err != nil {
			t.Fatal(err)
		}
		if exists != want {
			t.Errorf("database %s exists = %v, want %v", n, exists, want)
		}
	}
}

func TestOpenFromTemplateCopiesTheSetupOncePerKey(t *testing.T) {
	admin := AdminURL(t)
	ctx := context.Background()
	pool, err := adminPool(admin)
	if err != nil {
		t.Fatal(err)
	}
	// An orphan: a template whose test binary is gone (no session holds its
	// lock). Creating the first template of this binary must drop it.
	orphan := templatePrefix + "orphan_" + strings.ToLower(strings.ReplaceAll(t.Name(), "Test", ""))[:8]
	if _, err := pool.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(orphan)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = pool.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(orphan)) })
	// And a live one, whose lock another session holds: it must stay.
	live := templatePrefix + "live_" + strings.ToLower(strings.ReplaceAll(t.Name(), "Test", ""))[:8]
	if _, err := pool.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(live)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = pool.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(live)) })
	other, err := pool.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(ctx, `SELECT pg_advisory_lock($1, hashtext($2))`, lockClass, live); err != nil {
		t.Fatal(err)
	}

	setups := 0
	setup := func(ctx context.Context, db *sqlx.DB) error {
		setups++
		_, err := db.ExecContext(ctx, `CREATE TABLE migrated (n int); INSERT INTO migrated VALUES (42)`)
		return err
	}
	key := "copies " + t.Name()
	var names []string
	for i := 0; i < 2; i++ {
		t.Run("copy", func(t *testing.T) {
			db, _ := OpenFromTemplate(t, key, setup)
			var n int
			if err := db.GetContext(ctx, &n, `SELECT n FROM migrated`); err != nil || n != 42 {
				t.Fatalf("the copy does not hold the setup's table: %d, %v", n, err)
			}
			// A change to one copy reaches neither the template nor the next copy.
			if _, err := db.ExecContext(ctx, `UPDATE migrated SET n = n + 1`); err != nil {
				t.Fatal(err)
			}
			var name string
			if err := db.GetContext(ctx, &name, `SELECT current_database()`); err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
		})
	}
	if setups != 1 {
		t.Errorf("setup ran %d times for one key, want once", setups)
	}
	if len(names) == 2 && names[0] == names[1] {
		t.Errorf("both tests got database %s", names[0])
	}
	assertDatabases(t, admin, names, false)
	assertDatabases(t, admin, []string{orphan}, false)
	assertDatabases(t, admin, []string{live}, true)

	// A setup that fails fails the test, saying which template.
	o := &outcomeTB{TB: t}
	o.run(func(tb testing.TB) {
		OpenFromTemplate(tb, "broken", func(ctx context.Context, db *sqlx.DB) error {
			return fmt.Errorf("migration 007 is broken")
		})
	})
	if !strings.Contains(o.fatal, `template "broken"`) || !strings.Contains(o.fatal, "migration 007 is broken") {
		t.Errorf("a failing setup reported %q", o.fatal)
	}
}
