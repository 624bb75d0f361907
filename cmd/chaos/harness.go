package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtptest"
)

// Config sizes a run. Full is `make chaos`; Short is what `make test` runs.
type Config struct {
	Contacts    int
	Replicas    int
	Kills       int           // kill -9 faults (each kills one replica, sometimes two)
	Outage      time.Duration // the relay is stopped this long, once
	RelayDelay  time.Duration // added to every RCPT, like a remote relay's round trip
	ClockSpeed  float64       // simulated seconds per real second
	Concurrency int
	LedgerBatch int
	Lease       time.Duration
	// Interval is the replicas' --interval (the daemon's default is 1 s).
	Interval time.Duration
	// FaultDeadline bounds the fault phase, DrainDeadline the last replica's
	// run to idle.
	FaultDeadline, DrainDeadline time.Duration
	Seed                         uint64
	Planted                      Planted

	Bin      string // the campaignctl binary
	PGScript string // scripts/pg.sh
	Work     string // a directory for the plan and the daemons' logs
	Log      func(format string, args ...any)
}

// Full is the run of `make chaos`: 100,000 contacts, about 170,000 messages.
func Full() Config {
	return Config{Contacts: 100_000, Replicas: 3, Kills: 20, Outage: time.Minute, RelayDelay: 2 * time.Millisecond,
		ClockSpeed: 600, Concurrency: 8, LedgerBatch: 32, Lease: 3 * time.Second, Interval: 20 * time.Millisecond,
		FaultDeadline: 20 * time.Minute, DrainDeadline: 10 * time.Minute,
		Planted: Planted{Hard: 1009, Soft: 311, R421: 3701, Drop: 4099, Stall: 20011}}
}

// Short is the version `make test` runs: the same faults, in seconds. Its
// lease is 4 s: the window's bound assumes no replica stalls for a third of
// the lease, and with 2 s (a 667 ms renewal) a fresh-clone `make test`, which
// keeps two cores at a load of 8-13, counted 17 duplicates outside it. Its
// replicas pass every 100 ms, a tenth of the daemon's default: with 20 ms
// their idle passes cost 29 s of Postgres CPU in a 41 s run, 17 s with 100 ms,
// and the run took as long (the relay and the faults pace it).
func Short() Config {
	return Config{Contacts: 3000, Replicas: 3, Kills: 8, Outage: 2 * time.Second, RelayDelay: 25 * time.Millisecond,
		ClockSpeed: 3600, Concurrency: 8, LedgerBatch: 32, Lease: 4 * time.Second, Interval: 100 * time.Millisecond,
		FaultDeadline: 90 * time.Second, DrainDeadline: 90 * time.Second,
		Planted: Planted{Hard: 101, Soft: 31, R421: 37, Drop: 41, Stall: 409}}
}

// Result is a run's figures and verdict.
type Result struct {
	verdict
	Kills, PGRestarts, Outages, Hangups, UnexpectedExits int
	MaxFailover                                          time.Duration // leadership moving after its holder was killed
	ReadyzDown, ReadyzBack                               bool          // /readyz said 503 while Postgres was stopped, 200 after
	Problems                                             []string      // recovery failures (not delivery counts)
	Faults                                               string        // the relay's planted answers, counted
	Elapsed                                              time.Duration
	MetricsScraped                                       int // replicas whose /metrics were searched for contact data
	Enrollments                                          []string
}

// Failed lists why the run failed; none means it passed.
func (r Result) Failed() []string { return append(r.failures(), r.Problems...) }

// Print writes the result table.
func (r Result) Print(w io.Writer) {
	fmt.Fprintf(w, "faults: %d kill -9, %d Postgres restarts (immediate, and a stop with /readyz checked), %d relay outages, %d relay hang-ups, %d unexpected exits\n",
		r.Kills, r.PGRestarts, r.Outages, r.Hangups, r.UnexpectedExits)
	fmt.Fprintf(w, "relay answers planted: %s\n", r.Faults)
	fmt.Fprintf(w, "leadership moved within %s of its holder's kill (worst); /readyz 503 while Postgres was down: %v, 200 after: %v\n",
		r.MaxFailover.Round(time.Millisecond), r.ReadyzDown, r.ReadyzBack)
	fmt.Fprintf(w, "enrollments at the end: %s\n", strings.Join(r.Enrollments, ", "))
	fmt.Fprintf(w, "contact data and the secret searched for in every daemon's log and in %d replicas' /metrics\n", r.MetricsScraped)
	r.verdict.print(w)
	for _, p := range r.Problems {
		fmt.Fprintf(w, "FAIL: %s\n", p)
	}
	fmt.Fprintf(w, "took %s\n", r.Elapsed.Round(time.Second))
}

// fault is one planned fault: what, once the relay has at messages.
type fault struct {
	what string // kill, immediate, stop, outage, hangup
	at   int
}

// schedule spreads the faults over the first half of the run by the relay's
// progress, so they land mid-send whatever the machine's speed.
func schedule(rng *rand.Rand, kills, expected int) []fault {
	extra := []string{"immediate", "outage", "stop", "hangup"}
	n := kills + len(extra)
	out := make([]fault, n)
	for i := range out {
		frac := 0.03 + 0.47*(float64(i)+rng.Float64())/float64(n)
		out[i] = fault{what: "kill", at: int(frac * float64(expected))}
	}
	for j, what := range extra {
		out[(j+1)*n/(len(extra)+1)].what = what
	}
	return out
}

// expectedMessages counts the messages due in the scenario.
func expectedMessages(contacts int) int {
	n := 0
	for id := 1; id <= contacts; id++ {
		for _, m := range messages {
			if m.due(id) {
				n++
			}
		}
	}
	return n
}

// Run runs the scenario under faults and judges it. An error means the
// harness could not run it (no Postgres, a command failed); a run that ran and
// found faults returns them in Result.Failed.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	started := time.Now()
	defer func() { res.Elapsed = time.Since(started) }()
	logf := cfg.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6368616f73))
	expected := expectedMessages(cfg.Contacts)

	pg, err := startCluster(cfg.PGScript)
	if pg != nil {
		defer func() {
			if cerr := pg.close(); cerr != nil && err == nil {
				err = fmt.Errorf("stopping Postgres: %w", cerr)
			}
		}()
	}
	if err != nil {
		return res, err
	}
	dbURL, err := pg.createDatabase("campaignctl_chaos")
	if err != nil {
		return res, err
	}
	db, err := sqlx.Open("postgres", dbURL)
	if err != nil {
		return res, err
	}
	defer db.Close()
	// One connection: the leak check below counts every other one.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE contacts (id int PRIMARY KEY, email text, name text)`); err != nil {
		return res, err
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO contacts
		SELECT i, 'c' || i || '@example.com', 'Contact ' || i FROM generate_series(1, $1::int) AS i`, cfg.Contacts); err != nil {
		return res, err
	}

	// The relay: a real SMTP server on loopback that counts what it accepts
	// per recipient and message, and fails chosen recipients on purpose.
	t := newTally()
	var tmu sync.Mutex
	relay := smtptest.New()
	relay.DiscardData(true)
	relay.OnDeliver(func(d smtptest.Delivered) {
		tmu.Lock()
		defer tmu.Unlock()
		m, ok := messageOf(subjectOf(d.Data))
		id := 0
		if len(d.To) == 1 {
			id = idOf(d.To[0])
		}
		i := slices.IndexFunc(messages, func(x message) bool { return x.subject == m.subject })
		if !ok || id == 0 || id > cfg.Contacts || !m.due(id) {
			t.strangers++
			return
		}
		t.delivered[key{id, i}]++
	})
	fl := newFaults(cfg.Planted)
	fl.install(relay, func() { time.Sleep(cfg.RelayDelay) })
	relayAddr, err := relay.Start("127.0.0.1:0")
	if err != nil {
		return res, err
	}
	defer relay.Close()
	delivered := func() int { return relay.Count() }

	dir := filepath.Join(cfg.Work, "campaigns")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	if err := os.WriteFile(filepath.Join(dir, "chaos.hcl"), []byte(campaigns), 0o644); err != nil {
		return res, err
	}
	planPath := filepath.Join(cfg.Work, "plan.json")
	for _, args := range [][]string{
		{"plan", dir, "--no-git", "-o", planPath},
		{"migrate", "--db", dbURL},
		{"apply", "--db", dbURL, planPath},
	} {
		if err := runCmd(ctx, cfg.Bin, args...); err != nil {
			return res, err
		}
	}
	// The workflow's triggers, stored after the apply, before any daemon runs.
	if _, err := db.ExecContext(ctx, `INSERT INTO campaignctl.events (occurred_at, model, contact_key, type)
		SELECT now(), 'c', i::text, 'purchase' FROM generate_series(5, $1::int, 5) AS i`, cfg.Contacts); err != nil {
		return res, err
	}
	logf("set up %d contacts, %d messages due, in %s", cfg.Contacts, expected, time.Since(started).Round(time.Millisecond))

	// Every replica reads the same accelerated clock, whenever it (re)starts.
	origin := time.Now().UTC().Format(time.RFC3339Nano)
	serveArgs := func(worker, listen string) []string {
		return []string{"serve", "--db", dbURL, "--smtp", relayAddr, "--listen", listen,
			"--interval", cfg.Interval.String(), "--concurrency", strconv.Itoa(cfg.Concurrency), "--worker", worker,
			"--public-url", "http://mail.test", "--lease", cfg.Lease.String(),
			"--ledger-batch", strconv.Itoa(cfg.LedgerBatch), "--enroll-interval", "1s",
			"--smtp-timeout", "2s", "--smtp-data-timeout", "2s", "--shutdown-grace", "5s",
			"--clock-start", "2026-12-01T08:00:00Z", "--clock-speed", strconv.FormatFloat(cfg.ClockSpeed, 'f', -1, 64),
			"--clock-origin", origin}
	}
	logs := filepath.Join(cfg.Work, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return res, err
	}
	const secret = "chaos-secret-0123456789"
	env := []string{"CAMPAIGNCTL_SECRET=" + secret}
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.kill()
		}
		if err != nil || len(res.Failed()) > 0 {
			for _, p := range procs {
				logf("last lines of %s's log (%s):\n%s", p.name, p.logPath, tailFile(p.logPath, 20))
			}
			logf("last lines of the Postgres log:\n%s", tailFile(pg.serverLog(), 15))
		}
	}()
	for i := 1; i <= cfg.Replicas; i++ {
		port, err := freePort()
		if err != nil {
			return res, err
		}
		name := "r" + strconv.Itoa(i)
		listen := "127.0.0.1:" + strconv.Itoa(port)
		p := &proc{name: name, bin: cfg.Bin, args: serveArgs(name, listen), env: env, listen: listen,
			logPath: filepath.Join(logs, name+".log")}
		procs = append(procs, p)
		if err := p.start(); err != nil {
			return res, err
		}
	}

	// Fault phase.
	faults := schedule(rng, cfg.Kills, expected)
	faultStart := time.Now()
	deadline := faultStart.Add(cfg.FaultDeadline)
	lastFault := faultStart
	stallAfter := 3 * time.Second
	for i := 0; i < len(faults); {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		f := faults[i]
		got := delivered()
		if got >= expected {
			res.Problems = append(res.Problems, fmt.Sprintf("all %d messages went out after %d of %d faults: slow the relay (RelayDelay) so the faults land mid-send", expected, i, len(faults)))
			break
		}
		if time.Now().After(deadline) {
			res.Problems = append(res.Problems, fmt.Sprintf("after %s the relay has %d of %d messages and %d of %d faults happened: too little progress under faults",
				cfg.FaultDeadline, got, expected, i, len(faults)))
			break
		}
		for _, p := range procs {
			if p.exited() {
				res.UnexpectedExits++
				logf("replica %s exited by itself (%v); restarting it. Its log ends:\n%s", p.name, p.exitErr(), tailFile(p.logPath, 4))
				if err := p.start(); err != nil {
					return res, err
				}
			}
		}
		if got < f.at && time.Since(lastFault) < stallAfter {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		at := time.Since(faultStart).Round(time.Millisecond)
		switch f.what {
		case "immediate":
			if _, err := pg.pgsh("restart", "immediate"); err != nil {
				return res, fmt.Errorf("pg.sh restart immediate: %w", err)
			}
			res.PGRestarts++
			logf("fault %d at %s, relay %d: Postgres crashed and restarted (immediate)", i+1, at, got)
		case "stop":
			if _, err := pg.pgsh("stop"); err != nil {
				return res, fmt.Errorf("pg.sh stop: %w", err)
			}
			res.ReadyzDown = waitReadyz(procs, http.StatusServiceUnavailable, 10*time.Second)
			if !res.ReadyzDown {
				res.Problems = append(res.Problems, "/readyz did not answer 503 on every replica while Postgres was stopped")
			}
			if _, err := pg.pgsh("start"); err != nil {
				return res, fmt.Errorf("pg.sh start: %w", err)
			}
			res.ReadyzBack = waitReadyz(procs, http.StatusOK, 30*time.Second)
			if !res.ReadyzBack {
				res.Problems = append(res.Problems, "/readyz did not answer 200 on every replica within 30 s of Postgres coming back")
			}
			res.PGRestarts++
			logf("fault %d at %s, relay %d: Postgres stopped (fast) and started; /readyz down %v, back %v", i+1, at, got, res.ReadyzDown, res.ReadyzBack)
		case "outage":
			relay.Down()
			time.Sleep(cfg.Outage)
			if err := relay.Up(); err != nil {
				return res, fmt.Errorf("relay up: %w", err)
			}
			res.Outages++
			logf("fault %d at %s, relay %d: relay stopped for %s", i+1, at, got, cfg.Outage)
		case "hangup":
			relay.CloseConnections()
			res.Hangups++
			logf("fault %d at %s, relay %d: relay dropped every connection", i+1, at, got)
		default:
			leader := leaders(procs)
			victims := []*proc{procs[rng.IntN(len(procs))]}
			if len(leader) == 1 && rng.IntN(2) == 0 {
				victims[0] = leader[0] // half the kills aim at the leader
			}
			if rng.IntN(4) == 0 {
				victims = append(victims, procs[(slices.Index(procs, victims[0])+1+rng.IntN(len(procs)-1))%len(procs)])
			}
			killed := time.Now()
			var names []string
			hitLeader := false
			for _, p := range victims {
				p.kill()
				res.Kills++
				names = append(names, p.name)
				hitLeader = hitLeader || slices.Contains(leader, p)
			}
			if hitLeader && len(victims) < len(procs) {
				// Leadership moves to a survivor (or the restarted victim).
				if d, ok := waitLeader(procs, victims, killed, 15*time.Second); ok {
					res.MaxFailover = max(res.MaxFailover, d)
				} else {
					res.Problems = append(res.Problems, fmt.Sprintf("no replica took the lead within 15 s of the leader's kill (fault %d)", i+1))
				}
			}
			time.Sleep(100*time.Millisecond + time.Duration(rng.Int64N(int64(200*time.Millisecond))))
			for _, p := range victims {
				if err := p.start(); err != nil {
					return res, err
				}
			}
			logf("fault %d at %s, relay %d: kill -9 %s (leader hit: %v), restarted", i+1, at, got, strings.Join(names, " "), hitLeader)
		}
		lastFault = time.Now()
		i++
	}
	res.Faults = fl.summary()
	logf("fault phase: %s, relay at %d of %d messages", time.Since(faultStart).Round(time.Millisecond), delivered(), expected)

	// Settle: the claims of killed incarnations expire and are taken over.
	settleStart := time.Now()
	settled := false
	for time.Since(settleStart) < cfg.Lease+15*time.Second {
		n, err := orphanedClaims(ctx, db, procs, cfg.Lease)
		if err != nil {
			return res, err
		}
		if n == 0 {
			settled = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !settled {
		res.Problems = append(res.Problems, fmt.Sprintf("rows still claimed by killed replicas %s after the last fault: a lease of %s should have let the survivors take them over",
			time.Since(lastFault).Round(time.Millisecond), cfg.Lease))
	}

	// No contact data in what a replica exports to Prometheus.
	for _, p := range procs {
		if p.listen == "" || p.exited() {
			continue
		}
		resp, err := http.Get("http://" + p.listen + "/metrics")
		if err != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("scraping %s's /metrics: %v", p.name, err))
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := addressRE.Find(body); m != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("%s's /metrics holds a contact's address (%s)", p.name, m))
		} else if m := nameRE.Find(body); m != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("%s's /metrics holds a contact's name (%s)", p.name, m))
		}
		res.MetricsScraped++
	}

	// Graceful stop: every replica exits 0 on SIGTERM and leaves nothing
	// claimed. (A replica restarted a moment ago is let finish starting: a
	// process that has not installed its handler yet dies of SIGTERM.)
	for _, p := range procs {
		if !waitHealthy(p, 30*time.Second) {
			res.Problems = append(res.Problems, fmt.Sprintf("replica %s never answered /healthz", p.name))
		}
	}
	for _, p := range procs {
		p.signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		if err := p.wait(20 * time.Second); err != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("replica %s after SIGTERM: %v", p.name, err))
		}
	}
	var claimed int
	if err := db.GetContext(ctx, &claimed, `SELECT count(*) FROM campaignctl.outbox WHERE status = 'pending' AND claimed_by IS NOT NULL`); err != nil {
		return res, err
	}
	if claimed != 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d outbox rows still claimed after every replica exited on SIGTERM", claimed))
	}
	logf("after SIGTERM: relay %d of %d", delivered(), expected)

	// Drain: one replica sends whatever is left and exits when idle.
	drain := &proc{name: "drain", bin: cfg.Bin, args: append(serveArgs("drain", ""), "--exit-when-idle"), env: env,
		logPath: filepath.Join(logs, "drain.log")}
	procs = append(procs, drain)
	drainStart := time.Now()
	if err := drain.start(); err != nil {
		return res, err
	}
	if err := drain.wait(cfg.DrainDeadline); err != nil {
		res.Problems = append(res.Problems, fmt.Sprintf("drain (serve --exit-when-idle): %v", err))
	}
	logf("drain: %s, relay %d of %d", time.Since(drainStart).Round(time.Millisecond), delivered(), expected)

	// Nothing left connected once every daemon exited (a backend may take a
	// moment to notice its client left).
	var conns int
	for wait := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if err := db.GetContext(ctx, &conns, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
			return res, err
		}
		if conns == 0 || time.Since(wait) > 5*time.Second {
			break
		}
	}
	if conns > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d database connections still open after every daemon exited", conns))
	}
	if err := db.SelectContext(ctx, &res.Enrollments, `SELECT state || coalesce(' ' || exit_reason, '') || ': ' || count(*)
		FROM campaignctl.enrollments GROUP BY state, exit_reason ORDER BY 1`); err != nil {
		return res, err
	}
	for _, e := range res.Enrollments {
		if strings.HasPrefix(e, "active") {
			res.Problems = append(res.Problems, "enrollments still active after the drain: "+e)
		}
	}

	// No contact data and no secret in what the daemons logged, faults and
	// all: addresses, names, the link secret.
	for _, p := range procs {
		if line, what := leak(p.logPath, secret); what != "" {
			res.Problems = append(res.Problems, fmt.Sprintf("%s's log holds %s: %s", p.name, what, line))
		}
	}

	if err := readLedger(ctx, db, t, cfg.Contacts); err != nil {
		return res, err
	}
	tmu.Lock()
	defer tmu.Unlock()
	// Each kill exposes its victim's in-flight window; each Postgres restart
	// every replica's at once.
	bound := (res.Kills + res.PGRestarts*cfg.Replicas) * cfg.LedgerBatch
	res.verdict = judge(cfg.Contacts, cfg.Planted.hard, t, bound)
	return res, nil
}

// readLedger streams the outbox and the suppression list into the tally.
func readLedger(ctx context.Context, db *sqlx.DB, t *tally, contacts int) error {
	rows, err := db.QueryContext(ctx, `SELECT kind, campaign, step, email_normalized, status, coalesce(last_error, '') FROM campaignctl.outbox`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var kind, object, step, addr, status, reason string
		if err := rows.Scan(&kind, &object, &step, &addr, &status, &reason); err != nil {
			return err
		}
		m, ok := ledgerMessage(kind, object, step)
		id := idOf(addr)
		if !ok || id == 0 || id > contacts {
			t.strangers++
			continue
		}
		t.ledger[key{id, slices.IndexFunc(messages, func(x message) bool { return x.subject == m.subject })}] = row{status, reason}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	srows, err := db.QueryContext(ctx, `SELECT email_normalized, reason FROM campaignctl.suppressions`)
	if err != nil {
		return err
	}
	defer srows.Close()
	for srows.Next() {
		var addr, reason string
		if err := srows.Scan(&addr, &reason); err != nil {
			return err
		}
		t.suppressed[idOf(addr)] = reason
	}
	return srows.Err()
}

// orphanedClaims counts pending rows still claimed by a killed incarnation
// of a replica and not taken over yet. A claim's lease ends (database clock)
// a lease after it was made or last renewed, so the claims of the current
// incarnation end at least a lease after it started, and those of an earlier
// one before that. (claimed_at cannot tell: it is on the accelerated clock.)
func orphanedClaims(ctx context.Context, db *sqlx.DB, procs []*proc, lease time.Duration) (int, error) {
	var n int
	for _, p := range procs {
		var c int
		err := db.GetContext(ctx, &c, `SELECT count(*) FROM campaignctl.outbox
			WHERE status = 'pending' AND claimed_by = $1 AND lease_until < $2`, p.name, p.startedAt().Add(lease))
		if err != nil {
			return 0, fmt.Errorf("counting orphaned claims: %w", err)
		}
		n += c
	}
	return n, nil
}

// waitHealthy waits until a replica's /healthz answers (it has started and
// handles SIGTERM), up to limit.
func waitHealthy(p *proc, limit time.Duration) bool {
	if p.listen == "" {
		return true
	}
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := client.Get("http://" + p.listen + "/healthz")
		if err == nil {
			resp.Body.Close()
			return true
		}
	}
	return false
}

// leaders returns the replicas whose /metrics say they lead now.
func leaders(procs []*proc) []*proc {
	var out []*proc
	client := &http.Client{Timeout: time.Second}
	for _, p := range procs {
		if p.listen == "" || p.exited() {
			continue
		}
		resp, err := client.Get("http://" + p.listen + "/metrics")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if sc.Text() == "campaignctl_leader 1" {
				out = append(out, p)
			}
		}
		resp.Body.Close()
	}
	return out
}

// waitLeader waits until a replica other than the killed incarnations leads,
// and returns how long after the kill that was.
func waitLeader(procs, victims []*proc, killed time.Time, limit time.Duration) (time.Duration, bool) {
	for time.Since(killed) < limit {
		for _, p := range leaders(procs) {
			if !slices.Contains(victims, p) || p.startedAt().After(killed) {
				return time.Since(killed), true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, false
}

// waitReadyz waits until every live replica's /readyz answers want.
func waitReadyz(procs []*proc, want int, limit time.Duration) bool {
	client := &http.Client{Timeout: 3 * time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		all := true
		for _, p := range procs {
			if p.listen == "" || p.exited() {
				continue
			}
			resp, err := client.Get("http://" + p.listen + "/readyz")
			if err != nil {
				all = false
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				all = false
			}
		}
		if all {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

var (
	addressRE = regexp.MustCompile(`c[0-9]+@example\.com`)
	nameRE    = regexp.MustCompile(`Contact [0-9]+`)
)

// leak returns the first line of a log that holds a contact's address or name
// or the secret, with what it holds; "" when there is none.
func leak(path, secret string) (line, what string) {
	f, err := os.Open(path)
	if err != nil {
		return "", ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.Contains(l, secret):
			return strings.ReplaceAll(l, secret, "<secret>"), "the link secret"
		case addressRE.MatchString(l):
			return l, "a contact's address"
		case nameRE.MatchString(l):
			return l, "a contact's name"
		}
	}
	return "", ""
}

// subjectOf returns a message's Subject header.
func subjectOf(data []byte) string {
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	for _, l := range bytes.Split(head, []byte("\r\n")) {
		if v, ok := bytes.CutPrefix(l, []byte("Subject: ")); ok {
			return string(v)
		}
	}
	return ""
}

// runCmd runs a campaignctl command to completion; an error carries its
// output.
func runCmd(ctx context.Context, bin string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("campaignctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
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
