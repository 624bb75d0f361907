//go:build linux

package main

// TestKillNineThreeReplicasAndPostgresRestart holds the daemon to the README's
// "once per contact" guarantee under faults: three replicas of the real binary
// share one database and one relay while the test kills them with SIGKILL at
// random moments (restarting each under the same worker name) and restarts
// Postgres itself, once as a crash (immediate) and once cleanly (fast). Then the
// survivors get SIGTERM (they must exit promptly and leave nothing claimed), and
// one `serve --exit-when-idle` sends whatever is left.
//
// What must hold at the end: every contact received the message (nothing lost),
// the outbox holds exactly one 'sent' row per contact and nothing else, and the
// duplicates are bounded by the documented in-flight window: a message the relay
// accepted whose outcome was not committed yet when its replica died. A replica
// hands the relay at most --ledger-batch messages whose outcome is not yet
// committed (the engine's window), so each kill may duplicate at most that many.
//
// The test runs its own Postgres cluster (it restarts it, so it must not share
// the suite's cluster) through scripts/pg.sh on a free port, and its own SMTP
// relay (smtpcapture) on loopback. Every wait has a deadline and every process it
// starts is killed in t.Cleanup. Linux only, like rss_bench_test.go: it relies on
// Pdeathsig and on scripts/pg.sh.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtpcapture"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

const (
	killContacts = 3000
	// killNurtured contacts (every third) are also enrolled in a two-step
	// sequence, whose steps go through the same path: killMessages in all.
	killNurtured = killContacts / 3
	// killFlowed contacts (every fifth) post a purchase event that enrolls them
	// in a workflow: one send, a wait, a branch, and a second send to the even
	// ones (every tenth).
	killFlowed      = killContacts / 5
	killFlowedTwice = killContacts / 10
	killMessages    = killContacts + 2*killNurtured + killFlowed + killFlowedTwice
	killReplicas    = 3
	killConcurrency = 8
	killLedgerBatch = 32
	killLease       = 2 * time.Second
	// killRelayDelay slows every RCPT at the relay, like a remote relay's round
	// trip, so the run lasts long enough for the kills to land mid-send (and the
	// in-flight window is really full when they do).
	killRelayDelay = 25 * time.Millisecond

	// killKillFaults kill faults (each kills one replica, sometimes two) and two
	// Postgres restarts (immediate, then fast) happen while the relay's count
	// crosses random thresholds between killFaultFrom and killFaultTo of the
	// contacts, or after killFaultStall without a fault; the fault phase fails
	// at killFaultDeadline.
	killKillFaults    = 8
	killFaultFrom     = 0.03
	killFaultTo       = 0.50
	killFaultStall    = 2 * time.Second
	killFaultDeadline = 45 * time.Second

	killExitDeadline   = 10 * time.Second // a SIGKILLed process is gone
	killTermDeadline   = 15 * time.Second // a SIGTERMed replica exits gracefully
	killSettleDeadline = killLease + 15*time.Second
	killDrainDeadline  = 60 * time.Second
	killCmdDeadline    = 90 * time.Second // plan, migrate, apply, pg.sh

	killSecret = "test-secret-0123456789"
	// envKillSeed replays a run's random schedule (the seed is logged).
	envKillSeed = "CAMPAIGNCTL_KILL_SEED"
	// envKillDebug, when set, logs every daemon's log tail even on success and
	// the outbox and enrollments every 5 s while the drain runs.
	envKillDebug = "CAMPAIGNCTL_KILL_DEBUG"
)

// killServeFlags are the send-path tuning flags; the duplicate bound is derived
// from the same constants.
var killServeFlags = []string{"--lease", killLease.String(), "--ledger-batch", strconv.Itoa(killLedgerBatch)}

const killCampaigns = `
model "c" {
  table = "contacts"
  key   = "id"
  email = "email"
  field "id" { type = "int" }
  field "name" { type = "string" }
}

segment "everyone" {
  model  = "c"
  filter = "true"
}

sender "news" {
  from     = "Acme <news@acme.example>"
  reply_to = "hello@acme.example"
}

template "hello" {
  class   = "marketing"
  subject = "Hello {{ .c.name }}"
  text    = <<-EOT
    Hello {{ .c.name }},

    Unsubscribe: {{ .unsubscribe_url }}
  EOT
  html    = "<p>Hello {{ .c.name }}</p><p><a href=\"{{ .unsubscribe_url }}\">Unsubscribe</a></p>"
}

campaign "kill_test" {
  segment  = "everyone"
  template = "hello"
  sender   = "news"
}

segment "every_third" {
  model  = "c"
  filter = "c.id % 3 == 0"
}

template "nurture_one" {
  subject = "Nurture one"
  text    = "Step one. Unsubscribe: {{ .unsubscribe_url }}"
}

template "nurture_two" {
  subject = "Nurture two"
  text    = "Step two. Unsubscribe: {{ .unsubscribe_url }}"
}

# Enrolled and advanced while the replicas are killed and Postgres restarts:
# each step must reach each contact once, like the campaign.
sequence "kill_nurture" {
  model   = "c"
  segment = "every_third"
  sender  = "news"
  step "one" {
    offset   = "0s"
    template = "nurture_one"
  }
  step "two" {
    offset   = "2s"
    template = "nurture_two"
  }
}

template "flow_one" {
  subject = "Flow one"
  text    = "First. Unsubscribe: {{ .unsubscribe_url }}"
}

template "flow_two" {
  subject = "Flow two"
  text    = "Second. Unsubscribe: {{ .unsubscribe_url }}"
}

# Enrolled by events stored after the apply, advanced through a wait and a
# branch while replicas die: each send must reach each contact once.
workflow "kill_flow" {
  type   = "upsell"
  model  = "c"
  sender = "news"
  trigger {
    event = "purchase"
  }
  step "first" {
    send = "flow_one"
  }
  step "pause" {
    wait = "1s"
  }
  step "even" {
    if   = "c.id % 2 == 0"
    then = "second"
    else = "done"
  }
  step "second" {
    send = "flow_two"
  }
  step "done" {
    exit = true
  }
}
`

func TestKillNineThreeReplicasAndPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test: skipped in -short mode")
	}
	if os.Getenv(storetest.EnvAdminURL) == "" && os.Getenv(storetest.EnvRequireDB) != "1" {
		t.Skipf("kill test: %s is not set and %s is not 1; run `make test`", storetest.EnvAdminURL, storetest.EnvRequireDB)
	}
	started := time.Now()

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(envKillSeed); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer", envKillSeed, s)
		}
		seed = v
	}
	t.Logf("random schedule seed %d (replay with %s=%d)", seed, envKillSeed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6c))

	work := t.TempDir()
	bin := buildKillBinary(t, work)
	t.Logf("built campaignctl in %s", time.Since(started).Round(time.Millisecond))
	pgStart := time.Now()
	pg := startKillCluster(t)
	t.Logf("started Postgres in %s", time.Since(pgStart).Round(time.Millisecond))
	dbURL := pg.createDatabase(t, "campaignctl_kill")
	db, err := sqlx.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE contacts (id int PRIMARY KEY, email text, name text)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO contacts
		SELECT i, 'c' || i || '@example.com', 'Contact ' || i FROM generate_series(1, $1::int) AS i`, killContacts); err != nil {
		t.Fatal(err)
	}

	// The relay: a real SMTP server on loopback, slowed down a little.
	relay := smtpcapture.New("")
	relay.RejectRecipient(func(string) *smtp.SMTPError {
		time.Sleep(killRelayDelay)
		return nil
	})
	relayAddr, err := relay.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })

	dir := filepath.Join(work, "campaigns")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kill.hcl"), []byte(killCampaigns), 0o644); err != nil {
		t.Fatal(err)
	}
	planPath := filepath.Join(work, "plan.json")
	runKillCmd(t, bin, "plan", dir, "--no-git", "-o", planPath)
	runKillCmd(t, bin, "migrate", "--db", dbURL)
	runKillCmd(t, bin, "apply", "--db", dbURL, planPath)
	// The workflow's triggers, stored after the apply, before any daemon runs.
	if _, err := db.ExecContext(ctx, `INSERT INTO campaignctl.events (occurred_at, model, contact_key, type)
		SELECT now(), 'c', i::text, 'purchase' FROM generate_series(5, $1::int, 5) AS i`, killContacts); err != nil {
		t.Fatal(err)
	}
	t.Logf("set up in %s", time.Since(started).Round(time.Millisecond))

	serveArgs := func(worker string) []string {
		args := []string{"serve", "--db", dbURL, "--smtp", relayAddr.String(), "--listen", "",
			"--interval", "20ms", "--concurrency", strconv.Itoa(killConcurrency), "--worker", worker,
			"--public-url", "http://mail.test"}
		return append(args, killServeFlags...)
	}
	logs := filepath.Join(work, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	var procs []*killProc
	t.Cleanup(func() {
		for _, p := range procs {
			p.kill()
		}
		if t.Failed() || os.Getenv(envKillDebug) != "" {
			for _, p := range procs {
				t.Logf("last lines of %s's log (%s):\n%s", p.name, p.logPath, tailFile(p.logPath, 25))
			}
			t.Logf("last lines of the Postgres log:\n%s", tailFile(pg.serverLog(), 15))
		}
	})
	for i := 1; i <= killReplicas; i++ {
		name := "r" + strconv.Itoa(i)
		p := &killProc{name: name, bin: bin, args: serveArgs(name), logPath: filepath.Join(logs, name+".log")}
		procs = append(procs, p)
		p.start(t)
	}

	// Fault phase: the faults are spread over the run by progress (the relay's
	// count crossing random thresholds), so they land mid-send whatever the
	// machine's speed; a stalled run still gets its next fault after
	// killFaultStall.
	faults := killSchedule(rng)
	faultStart := time.Now()
	deadline := faultStart.Add(killFaultDeadline)
	kills, unexpectedExits, pgRestarts := 0, 0, 0
	lastFault := faultStart
	for i := 0; i < len(faults); {
		f := faults[i]
		got := relay.Count()
		if got >= killMessages {
			t.Fatalf("fault phase: all %d messages were sent after %d of %d faults: raise killRelayDelay so the faults land mid-send",
				killMessages, i, len(faults))
		}
		if time.Now().After(deadline) {
			t.Errorf("fault phase: after %s the relay has %d of %d messages and %d of %d faults happened: the daemons make too little progress under faults",
				killFaultDeadline, got, killMessages, i, len(faults))
			break
		}
		for _, p := range procs {
			if p.exited() {
				unexpectedExits++
				t.Logf("replica %s exited by itself (%v) at %s; restarting it. Its log ends:\n%s",
					p.name, p.exitErr(), time.Since(faultStart).Round(time.Millisecond), tailFile(p.logPath, 4))
				p.start(t)
			}
		}
		if got < f.at && time.Since(lastFault) < killFaultStall {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		at := time.Since(faultStart).Round(time.Millisecond)
		switch f.what {
		case "immediate", "fast":
			pg.restart(t, f.what)
			pgRestarts++
			t.Logf("fault %d at %s, relay %d: Postgres restarted (%s)", i+1, at, got, f.what)
		default:
			// Sometimes two replicas die at once.
			victims := []*killProc{procs[rng.IntN(len(procs))]}
			if rng.IntN(4) == 0 {
				victims = append(victims, procs[(slices.Index(procs, victims[0])+1+rng.IntN(len(procs)-1))%len(procs)])
			}
			var names []string
			for _, p := range victims {
				p.kill()
				kills++
				names = append(names, p.name)
			}
			sleepRand(rng, 100*time.Millisecond, 300*time.Millisecond)
			for _, p := range victims {
				p.start(t)
			}
			t.Logf("fault %d at %s, relay %d: kill -9 %s, restarted", i+1, at, got, strings.Join(names, " "))
		}
		lastFault = time.Now()
		i++
	}
	t.Logf("fault phase: %s, %d kill -9s, %d Postgres restarts, %d unexpected exits, relay at %d of %d messages",
		time.Since(faultStart).Round(time.Millisecond), kills, pgRestarts, unexpectedExits, relay.Count(), killMessages)

	// Settle: the claims of killed incarnations expire (the lease) and are taken
	// over, so every row still claimed belongs to a replica that is alive now.
	settleStart := time.Now()
	settled := false
	for time.Since(settleStart) < killSettleDeadline {
		if n := orphanedClaims(t, db, procs); n == 0 {
			settled = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !settled {
		t.Errorf("%s after the last fault, %d rows are still claimed by killed replicas: a lease of %s should have let the survivors take them over",
			time.Since(lastFault).Round(time.Millisecond), orphanedClaims(t, db, procs), killLease)
	}
	counts := outboxCounts(t, db)
	t.Logf("before SIGTERM (settled in %s): relay %d messages, outbox %v", time.Since(settleStart).Round(time.Millisecond), relay.Count(), counts)
	if counts["pending"] == 0 {
		t.Logf("warning: nothing was left to send when the replicas got SIGTERM, so the graceful exit was not tested under load")
	}

	// Graceful stop: SIGTERM every replica; each must exit 0 within the deadline
	// and leave none of its claims behind.
	for _, p := range procs {
		p.signal(syscall.SIGTERM)
	}
	termStart := time.Now()
	for _, p := range procs {
		if err := p.wait(killTermDeadline); err != nil {
			t.Errorf("replica %s after SIGTERM: %v", p.name, err)
		}
	}
	t.Logf("SIGTERM: the replicas exited within %s", time.Since(termStart).Round(time.Millisecond))
	if n := orphanedClaims(t, db, procs); n > 0 {
		t.Errorf("still %d rows claimed by killed replicas after the SIGTERMs", n)
	}
	var sending int
	if err := db.GetContext(ctx, &sending, `SELECT count(*) FROM campaignctl.outbox WHERE status = 'pending' AND claimed_by IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	if sending != 0 {
		var byWorker []string
		_ = db.SelectContext(ctx, &byWorker, `SELECT coalesce(claimed_by, '?') || ': ' || count(*)
			FROM campaignctl.outbox WHERE status = 'pending' AND claimed_by IS NOT NULL GROUP BY claimed_by ORDER BY 1`)
		t.Errorf("after every replica exited on SIGTERM, %d outbox rows are still claimed (by worker: %v): a graceful exit must record or release what it claimed",
			sending, byWorker)
	}
	t.Logf("after SIGTERM: relay %d messages, outbox %v", relay.Count(), outboxCounts(t, db))

	// Drain: one replica sends whatever is left and exits when idle.
	drain := &killProc{name: "drain", bin: bin, logPath: filepath.Join(logs, "drain.log"),
		args: append(serveArgs("drain"), "--exit-when-idle")}
	procs = append(procs, drain)
	drainStart := time.Now()
	drain.start(t)
	if os.Getenv(envKillDebug) != "" {
		go func() {
			for i := 0; i < 12; i++ {
				time.Sleep(5 * time.Second)
				var st []string
				_ = db.SelectContext(ctx, &st, `SELECT 'outbox ' || status || ' due_future=' || (due_at > now()) || ' claimed=' || (claimed_by IS NOT NULL) || ': ' || count(*) FROM campaignctl.outbox GROUP BY 1
					UNION ALL SELECT 'enr ' || state || ' wake_future=' || coalesce((wake_at > now())::text, 'null') || ': ' || count(*) FROM campaignctl.enrollments GROUP BY 1`)
				t.Logf("drain +%ds: relay %d, %v", 5*(i+1), relay.Count(), st)
			}
		}()
	}
	if err := drain.wait(killDrainDeadline); err != nil {
		t.Errorf("drain (serve --exit-when-idle): %v", err)
	}
	t.Logf("drain: %s", time.Since(drainStart).Round(time.Millisecond))

	// The verdict, per (recipient, subject): the campaign's "Hello …" to every
	// contact, the sequence's two steps to every third, the workflow's first send to
	// every fifth and its second to every tenth.
	per := map[string]int{}
	deliveries := 0
	for _, m := range relay.Messages() {
		if len(m.To) != 1 {
			t.Errorf("a message to %v: want exactly one recipient", m.To)
			continue
		}
		subject := "Hello"
		for _, s := range []string{"Nurture one", "Nurture two", "Flow one", "Flow two"} {
			if bytes.Contains(m.Data, []byte("Subject: "+s)) {
				subject = s
			}
		}
		per[strings.ToLower(m.To[0])+"|"+subject]++
		deliveries++
	}
	lost, dups, worst, expected := 0, 0, 0, 0
	for i := 1; i <= killContacts; i++ {
		subjects := []string{"Hello"}
		if i%3 == 0 {
			subjects = append(subjects, "Nurture one", "Nurture two")
		}
		if i%5 == 0 {
			subjects = append(subjects, "Flow one")
		}
		if i%10 == 0 {
			subjects = append(subjects, "Flow two")
		}
		for _, s := range subjects {
			expected++
			n := per[fmt.Sprintf("c%d@example.com|%s", i, s)]
			if n == 0 {
				lost++
			}
			dups += max(n-1, 0)
			worst = max(worst, n)
		}
	}
	strangers := len(per) - (expected - lost)
	// Each kill exposes the victim's window; each Postgres restart exposes
	// every replica's at once (outcomes that cannot be committed while the
	// database is down, and leases that run out meanwhile).
	bound := (kills + pgRestarts*killReplicas) * killLedgerBatch
	counts = outboxCounts(t, db)
	t.Logf("figures: %d contacts, %d messages due, %d deliveries, %d lost, %d duplicates (most of one message: %d), bound %d = (%d kills + %d Postgres restarts × %d replicas) × ledger batch %d, outbox %v, total %s",
		killContacts, expected, deliveries, lost, dups, worst, bound, kills, pgRestarts, killReplicas, killLedgerBatch, counts, time.Since(started).Round(time.Millisecond))
	if expected != killMessages {
		t.Fatalf("the test expects %d messages, its constants say %d", expected, killMessages)
	}
	if lost > 0 {
		t.Errorf("%d of %d messages were never received", lost, expected)
	}
	if strangers > 0 {
		t.Errorf("%d (recipient, subject) pairs are not due to anyone", strangers)
	}
	if counts["sent"] != killMessages || len(counts) != 1 {
		t.Errorf("outbox: %v; want exactly %d 'sent' rows and nothing else", counts, killMessages)
	}
	var enrolled []string
	if err := db.SelectContext(ctx, &enrolled, `SELECT state || ' ' || coalesce(exit_reason, '') || ': ' || count(*) FROM campaignctl.enrollments GROUP BY state, exit_reason`); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("exited completed: %d", killNurtured+killFlowed); len(enrolled) != 1 || enrolled[0] != want {
		t.Errorf("enrollments: %v; want [%s]", enrolled, want)
	}
	if dups > bound {
		t.Errorf("%d duplicates exceed the in-flight window: (%d kills + %d Postgres restarts × %d replicas) × ledger batch %d = %d",
			dups, kills, pgRestarts, killReplicas, killLedgerBatch, bound)
	}
}

// killProc is one daemon process, restartable under the same name; every
// incarnation appends to the same log.
type killProc struct {
	name, bin, logPath string
	args               []string

	mu        sync.Mutex
	cmd       *exec.Cmd
	done      chan struct{} // closed when cmd has exited
	err       error         // cmd.Wait's result, once done
	since     time.Time     // when the current incarnation was started
	incarnate int
}

func (p *killProc) start(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.incarnate++
	fmt.Fprintf(f, "=== %s: incarnation %d starts at %s\n", p.name, p.incarnate, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), "CAMPAIGNCTL_SECRET="+killSecret)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group: a ^C at the terminal reaches the test, whose
	// cleanup kills the daemons, not the daemons directly. Pdeathsig kills the
	// daemon if the test binary dies without cleaning up (a go test timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	since := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.since, p.err = cmd, done, since, nil
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
}

// current returns the running incarnation's command and done channel.
func (p *killProc) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

func (p *killProc) exited() bool {
	_, done := p.current()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

func (p *killProc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *killProc) signal(sig syscall.Signal) {
	cmd, _ := p.current()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(sig)
	}
}

// kill sends SIGKILL and waits for the exit; a no-op when nothing runs.
func (p *killProc) kill() {
	cmd, done := p.current()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(killExitDeadline):
	}
}

// wait waits up to d for the current incarnation to exit with status 0; past d
// it kills it and says so.
func (p *killProc) wait(d time.Duration) error {
	_, done := p.current()
	select {
	case <-done:
		if err := p.exitErr(); err != nil {
			return fmt.Errorf("exited with %v", err)
		}
		return nil
	case <-time.After(d):
		p.kill()
		return fmt.Errorf("did not exit within %s; killed", d)
	}
}

// startedAt returns when the current incarnation started.
func (p *killProc) startedAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.since
}

// orphanedClaims counts pending rows under a claim made before the claimer's
// current incarnation started: claims of a killed process. claimed_at is the
// engine's (real) clock, on this machine.
func orphanedClaims(t *testing.T, db *sqlx.DB, procs []*killProc) int {
	t.Helper()
	var names []string
	var since []time.Time
	for _, p := range procs {
		names = append(names, p.name)
		since = append(since, p.startedAt())
	}
	var n int
	err := db.GetContext(context.Background(), &n, `
		SELECT count(*) FROM campaignctl.outbox o
		JOIN unnest($1::text[], $2::timestamptz[]) AS w(name, since) ON o.claimed_by = w.name
		WHERE o.status = 'pending' AND o.claimed_at < w.since`, pqTextArray(names), pqTimeArray(since))
	if err != nil {
		t.Fatalf("counting orphaned claims: %v", err)
	}
	return n
}

func pqTextArray(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
	}
	return "{" + strings.Join(q, ",") + "}"
}

func pqTimeArray(ts []time.Time) string {
	q := make([]string, len(ts))
	for i, v := range ts {
		q[i] = `"` + v.UTC().Format("2006-01-02 15:04:05.999999Z07:00") + `"`
	}
	return "{" + strings.Join(q, ",") + "}"
}

// outboxCounts returns the outbox's rows by status.
func outboxCounts(t *testing.T, db *sqlx.DB) map[string]int {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT status, count(*) FROM campaignctl.outbox GROUP BY status`)
	if err != nil {
		t.Fatalf("outbox counts: %v", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		out[s] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// killFault is one planned fault: what ("kill", "immediate" or "fast") once the
// relay has at messages.
type killFault struct {
	what string
	at   int
}

// killSchedule spreads killKillFaults kills and the two Postgres restarts
// (immediate near the first third, fast near the second) over the thresholds.
func killSchedule(rng *rand.Rand) []killFault {
	n := killKillFaults + 2
	out := make([]killFault, n)
	for i := range out {
		frac := killFaultFrom + (killFaultTo-killFaultFrom)*(float64(i)+rng.Float64())/float64(n)
		out[i] = killFault{what: "kill", at: int(frac * killMessages)}
	}
	out[n/3].what = "immediate"
	out[2*n/3].what = "fast"
	return out
}

func sleepRand(rng *rand.Rand, lo, hi time.Duration) {
	time.Sleep(lo + time.Duration(rng.Int64N(int64(hi-lo))))
}

// buildKillBinary builds this package into dir: the daemons must be processes of
// their own to be killed.
func buildKillBinary(t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH (%v); add its bin directory (e.g. /usr/local/go/bin) to PATH", err)
	}
	bin := filepath.Join(dir, "campaignctl")
	ctx, cancel := context.WithTimeout(context.Background(), killCmdDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -o %s .: %v\n%s", bin, err, out)
	}
	return bin
}

// runKillCmd runs a campaignctl command to completion and fails the test unless
// it exits 0.
func runKillCmd(t *testing.T, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), killCmdDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("campaignctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// killCluster is the test's private Postgres cluster, run by scripts/pg.sh.
type killCluster struct {
	env   []string
	dir   string
	admin string
}

// startKillCluster starts a fresh cluster on a free port in a fresh directory
// under the system temp dir, opened to the postgres user (t.TempDir's 0700
// parents are not), and stops and removes it when the test ends.
func startKillCluster(t *testing.T) *killCluster {
	t.Helper()
	base, err := os.MkdirTemp("", "campaignctl-kill-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	c := &killCluster{dir: filepath.Join(base, "pg")}
	c.env = append(os.Environ(), "CAMPAIGNCTL_PG_PORT="+strconv.Itoa(port), "CAMPAIGNCTL_PG_DIR="+c.dir)
	t.Cleanup(func() {
		if _, err := c.pgsh("stop"); err != nil {
			t.Errorf("pg.sh stop: %v", err)
		}
		_ = os.RemoveAll(base)
	})
	out, err := c.pgsh("start")
	if err != nil {
		t.Fatalf("pg.sh start: %v", err)
	}
	c.admin = lastLine(out)
	// pg.sh turns synchronous_commit off for speed; an immediate restart would
	// then lose the last commits (marked sent, sent again), which is Postgres
	// losing acknowledged data, not the in-flight window this test bounds. With
	// it on (fsync stays off: the kernel keeps what was written), a crash of the
	// server keeps every acknowledged commit, as a production server does.
	admin, err := sqlx.Open("postgres", c.admin)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, q := range []string{`ALTER SYSTEM SET synchronous_commit = on`, `SELECT pg_reload_conf()`} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return c
}

func (c *killCluster) createDatabase(t *testing.T, name string) string {
	t.Helper()
	admin, err := sqlx.Open("postgres", c.admin)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(c.admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func (c *killCluster) restart(t *testing.T, mode string) {
	t.Helper()
	if _, err := c.pgsh("restart", mode); err != nil {
		t.Fatalf("pg.sh restart %s: %v", mode, err)
	}
}

// serverLog finds the cluster's server.log (pg.sh may have put the cluster
// elsewhere and left a pointer file).
func (c *killCluster) serverLog() string {
	area := c.dir
	if b, err := os.ReadFile(filepath.Join(c.dir, "cluster-path")); err == nil {
		area = lastLine(string(b))
	}
	return filepath.Join(area, "server.log")
}

// pgsh runs scripts/pg.sh on this cluster and returns its stdout (the URL); an
// error carries its stderr.
func (c *killCluster) pgsh(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), killCmdDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{"../../scripts/pg.sh"}, args...)...)
	cmd.Env = c.env
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w\n%s", err, stderr.String())
	}
	return stdout.String(), nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// tailFile returns the last n lines of a file, or why it cannot.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		lines = append(lines, "(read error: "+err.Error()+")")
	}
	return "    " + strings.Join(lines, "\n    ")
}
