package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// Outage takes db's database down the way a Postgres restart does, as the
// sessions of that database see it, and returns the function that brings it
// back: the server ends every session (pg_terminate_backend sends the 57P01 a
// fast shutdown sends) and refuses new ones until back is called (or the test
// ends). A real restart of the shared test cluster would fail the tests of the
// other packages running beside the caller.
func Outage(t testing.TB, db *sqlx.DB) (back func()) {
	t.Helper()
	admin, err := sqlx.Open("postgres", AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	var name string
	if err := db.Get(&name, `SELECT current_database()`); err != nil {
		t.Fatal(err)
	}
	allow := func(on bool) error {
		_, err := admin.Exec(fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS %t`, quoteIdent(name), on))
		return err
	}
	if err := allow(false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { allow(true) })
	if _, err := admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		var n int
		if err := admin.Get(&n, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, name); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions of the test database still open 30 s after they were terminated", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return func() {
		t.Helper()
		if err := allow(true); err != nil {
			t.Fatal(err)
		}
	}
}
