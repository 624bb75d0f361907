//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtpcapture"
)

// ledgerBatchDefault is serve's --ledger-batch default as `serve -h` prints
// it: the in-flight window the README promises, at most this many messages of
// a replica at the relay without a committed outcome, so a kill -9 sends at
// most this many twice.
func ledgerBatchDefault(t *testing.T, bin string) int {
	t.Helper()
	out, _ := exec.Command(bin, "serve", "-h").CombinedOutput() // -h exits non-zero
	m := regexp.MustCompile(`(?m)^\s+-ledger-batch int\n[^\n]*\(default (\d+)\)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("serve -h does not show --ledger-batch with its default:\n%s", out)
	}
	n, err := strconv.Atoi(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestKillNineSendsAtMostTheDefaultWindowTwice kills a daemon running with the
// default in-flight window while its window is full, and counts what a second
// daemon then sends again. The relay answers at once and every outcome takes
// the ledger 4 ms a row (a trigger), so the workers fill the window and wait
// on it: at the kill, up to the window (256) messages are at the relay with
// no outcome committed. Every contact must get the campaign, none more than
// twice, and the copies must number at least one (the kill landed on a full
// window) and at most the window. The fault harness (TestChaosShort, make chaos) kills replicas
// with a window of 32; this is the default's own test.
func TestKillNineSendsAtMostTheDefaultWindowTwice(t *testing.T) {
	t.Parallel()
	skipInShortMode(t)
	ownProcess(t)
	const contacts = 1200
	bin := buildKillBinary(t)
	window := ledgerBatchDefault(t, bin)
	db, url := setupSendCampaign(t, bin, t.TempDir(), contacts)
	ctx := context.Background()
	slow := []string{
		`CREATE FUNCTION public.slow_outcome() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.004); RETURN NEW; END $$`,
		`CREATE TRIGGER slow_outcome BEFORE UPDATE ON campaignctl.outbox FOR EACH ROW
		   WHEN (NEW.status = 'sent' AND OLD.status <> 'sent') EXECUTE FUNCTION public.slow_outcome()`,
	}
	for _, q := range slow {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	relay := smtpcapture.New("")
	addr, err := relay.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	env := append(os.Environ(), "CAMPAIGNCTL_SECRET="+sendSecret)
	args := []string{"serve", "--db", url, "--smtp", addr.String(), "--listen", "",
		"--concurrency", "8", "--lease", "3s", "--interval", "100ms", "--public-url", "http://mail.test"}

	first := startProcess(t, 10*time.Second, env, bin, args...)
	// Kill once the window has been full for a while: 500 messages at the
	// relay, with outcomes recorded at about 250 a second.
	deadline := time.Now().Add(60 * time.Second)
	for relay.Count() < 500 {
		if time.Now().After(deadline) {
			t.Fatalf("the relay has %d messages after 60 s, want 500 before the kill\n%s", relay.Count(), tail(first.output(), 4000))
		}
		select {
		case <-first.done:
			t.Fatalf("serve exited before the kill: %v\n%s", first.err, tail(first.output(), 4000))
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done
	atKill := relay.Count()
	// The outcomes of what the killed daemon had left are what the second
	// daemon must not send again; let its last statement end first (the
	// session is ended within client_connection_check_interval).
	waitNoSessionRunning(t, db, "campaignctl.outbox")
	if _, err := db.ExecContext(ctx, `DROP TRIGGER slow_outcome ON campaignctl.outbox`); err != nil {
		t.Fatal(err)
	}
	var recorded int
	if err := db.GetContext(ctx, &recorded, `SELECT count(*) FROM campaignctl.outbox WHERE status = 'sent'`); err != nil {
		t.Fatal(err)
	}
	t.Logf("at the kill: %d messages at the relay, %d outcomes recorded; %d unrecorded (window %d)", atKill, recorded, atKill-recorded, window)

	second := startProcess(t, 10*time.Second, env, bin, append(args, "--exit-when-idle")...)
	select {
	case <-second.done:
		if second.err != nil {
			t.Fatalf("the second serve: %v\n%s", second.err, tail(second.output(), 4000))
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("the second serve did not finish within 2 minutes; the relay has %d messages\n%s", relay.Count(), tail(second.output(), 4000))
	}

	per := map[string]int{}
	// A message sent again after the kill carries the Message-ID of the
	// first copy (README: the in-flight window), so receivers and
	// campaignctl's own bounce and reply matching see one message.
	ids := map[string]map[string]bool{}
	for _, m := range relay.Messages() {
		to := strings.ToLower(m.To[0])
		per[to]++
		if ids[to] == nil {
			ids[to] = map[string]bool{}
		}
		ids[to][messageID(m.Data)] = true
	}
	for to, set := range ids {
		if len(set) != 1 {
			t.Errorf("%s got copies with %d different Message-IDs: %v", to, len(set), set)
		}
		if set[""] {
			t.Errorf("%s got a message without a Message-ID", to)
		}
	}
	copies, twice := 0, 0
	for i := 1; i <= contacts; i++ {
		n := per["c"+strconv.Itoa(i)+"@example.com"]
		switch {
		case n == 0:
			t.Errorf("c%d@example.com never got the campaign", i)
		case n > 2:
			t.Errorf("c%d@example.com got it %d times: one kill can send a message twice at most", i, n)
		case n == 2:
			twice++
		}
		copies += max(n-1, 0)
	}
	if len(per) != contacts {
		t.Errorf("the relay got mail for %d addresses, want %d", len(per), contacts)
	}
	var sent int
	if err := db.GetContext(ctx, &sent, `SELECT count(*) FROM campaignctl.outbox WHERE status = 'sent'`); err != nil {
		t.Fatal(err)
	}
	if sent != contacts {
		t.Errorf("the outbox says %d sent, want %d", sent, contacts)
	}
	t.Logf("%d copies (%d addresses twice), window %d", copies, twice, window)
	if copies > window {
		t.Errorf("one kill -9 sent %d messages twice; the default window promises at most %d", copies, window)
	}
	if copies == 0 {
		t.Errorf("no message was sent twice: the kill did not land on a full window (%d at the relay, %d recorded), so the test proved nothing", atKill, recorded)
	}
}

// waitNoSessionRunning waits until no other session runs a statement that
// names table: a killed daemon's backend ends its statement, or is ended
// within client_connection_check_interval.
func waitNoSessionRunning(t *testing.T, db *sqlx.DB, table string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := db.GetContext(context.Background(), &n, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%' || $1 || '%'`, table); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still run a statement on %s 30 s after the kill", n, table)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// messageID is the Message-ID header of a message, "" without one.
func messageID(data []byte) string {
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && strings.EqualFold(string(k), "Message-ID") {
			return strings.TrimSpace(string(v))
		}
	}
	return ""
}
