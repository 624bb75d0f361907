package store_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// envOrphanURL tells this test binary, run again as a child process, to be
// the process that TestStatementOfAKilledProcessEnds kills.
const envOrphanURL = "CAMPAIGNCTL_TEST_ORPHAN_URL"

// TestStatementOfAKilledProcessEnds: a process killed (kill -9) in the
// middle of a long statement does not leave its backend running the
// statement to the end. A child process opens the store and runs a 60 s
// statement; once Postgres shows it running, the child is killed, and its
// backend must be gone within a few seconds (client_connection_check_interval,
// 2 s), not 60.
func TestStatementOfAKilledProcessEnds(t *testing.T) {
	if url := os.Getenv(envOrphanURL); url != "" {
		st, err := store.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.DB.Exec(`SELECT pg_sleep(60) /* orphan probe */`)
		t.Fatalf("the statement returned (%v); it was meant to be killed", err)
	}
	t.Parallel()
	db, url := storetest.Open(t)
	child := exec.Command(os.Args[0], "-test.run=^TestStatementOfAKilledProcessEnds$", "-test.count=1")
	child.Env = append(os.Environ(), envOrphanURL+"="+url)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	running := func() int {
		var n int
		if err := db.Get(&n, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'active' AND query LIKE '%orphan probe%' AND pid <> pg_backend_pid()`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for running() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the child's statement never showed in pg_stat_activity")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	killed := time.Now()
	for running() > 0 {
		if time.Since(killed) > 15*time.Second {
			var q string
			_ = db.Get(&q, `SELECT string_agg(state || ': ' || left(query, 60), '; ') FROM pg_stat_activity WHERE datname = current_database()`)
			t.Fatalf("the killed process's statement still runs %s after the kill (want it ended within about 2 s): %s", time.Since(killed).Round(time.Millisecond), strings.TrimSpace(q))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the orphaned statement ended %s after the kill", time.Since(killed).Round(time.Millisecond))
}
