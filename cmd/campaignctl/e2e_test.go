package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtpcapture"
)

// e2e is one end-to-end setup: a fresh database holding the demo CRM, a real SMTP
// capture server on loopback, and a compiled plan of campaigns/.
type e2e struct {
	db     *sqlx.DB
	url    string
	smtp   *smtpcapture.Server
	addr   string
	plan   string
	mailTo string // the capture server's .eml files; "" when it keeps messages in memory only
}

// setupE2E is a setup with the whole plan of campaigns/. Its capture server
// keeps the messages in memory only: writing the whole plan's ten thousand
// as .eml files costs seconds of system time per test on the test machine,
// and only TestSeedCampaignSendsToExactlyTheMatchingLeads looks at them
// (through setupE2EWritingMail).
func setupE2E(t *testing.T) *e2e {
	t.Helper()
	return setupE2EWith(t, "../../campaigns", false)
}

// setupE2EWritingMail is setupE2E with a capture server that also writes
// every message as an .eml file in e.mailTo, as the demo's does.
func setupE2EWritingMail(t *testing.T) *e2e {
	t.Helper()
	return setupE2EWith(t, "../../campaigns", true)
}

// setupE2EOneCampaign is setupE2E with a plan of one campaign
// (lost_leads_reactivation, 119 messages) and what it needs, for tests of the
// daemon's start and flags: serve --exit-when-idle finishes it in about a
// second, where the examples' workflows keep it busy for months of simulated
// time (tens of seconds). Tests of what the daemon sends use the whole plan.
func setupE2EOneCampaign(t *testing.T) *e2e {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "campaigns")
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"crm.hcl", "policy.hcl", "senders.hcl", "lost_leads_reactivation.hcl"} {
		copyFile(t, filepath.Join("../../campaigns", f), filepath.Join(dir, f))
	}
	tmpl, _ := filepath.Glob("../../campaigns/templates/*")
	for _, f := range tmpl {
		copyFile(t, f, filepath.Join(dir, "templates", filepath.Base(f)))
	}
	return setupE2EWith(t, dir, true)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// setupE2EWith gives the test a fresh database holding the demo CRM, starts a capture
// server (writing .eml files too if writeMail) and compiles the campaigns in dir.
func setupE2EWith(t *testing.T, campaigns string, writeMail bool) *e2e {
	t.Helper()
	db, url := demoCRMDB(t)
	dir := t.TempDir()
	mailTo := ""
	if writeMail {
		mailTo = filepath.Join(dir, "mail")
	}
	srv := smtpcapture.New(mailTo)
	addr, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	planPath := filepath.Join(dir, "plan.json")
	mustRun(t, 0, "plan", "--no-git", "-o", planPath, campaigns)
	return &e2e{db: db, url: url, smtp: srv, addr: addr.String(), plan: planPath, mailTo: mailTo}
}

func mustRun(t *testing.T, want int, args ...string) string {
	t.Helper()
	return env(nil).mustRun(t, want, args...)
}

// handWrittenAudience is the seed filter as SQL written by hand, independent of
// campaignctl's CEL evaluation: the addresses that must receive the mailing.
func handWrittenAudience(t *testing.T, db *sqlx.DB) []string {
	t.Helper()
	var emails []string
	err := db.Select(&emails, `
		SELECT DISTINCT lower(btrim(email_from))
		FROM crm_lead
		WHERE NOT blacklisted
		  AND created_at >= '2024-01-01 00:00:01+00'
		  AND (stage IS NULL OR stage NOT IN ('New', 'Qualified', 'Won'))
		  AND lost_reason = 'Not enough stock'
		  AND btrim(coalesce(email_from, '')) <> ''
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	if len(emails) < 50 {
		t.Fatalf("demo data matches only %d leads; the test would prove little", len(emails))
	}
	return emails
}

func recipients(t *testing.T, srv *smtpcapture.Server, campaign string) []string {
	t.Helper()
	var out []string
	for _, m := range srv.Messages() {
		if !bytes.Contains(m.Data, []byte("X-Campaignctl-Campaign: "+campaign+"\r\n")) {
			continue
		}
		if len(m.To) != 1 {
			t.Fatalf("message to %v: want exactly one recipient", m.To)
		}
		out = append(out, strings.ToLower(m.To[0]))
	}
	sort.Strings(out)
	return out
}

func serveArgs(e *e2e) []string {
	// The clock starts after every send_at of the examples, so all are due, and
	// runs about twelve days a second, so the examples' three-week sequence
	// finishes (and --exit-when-idle exits) within a couple of seconds.
	return []string{"serve", "--db", e.url, "--smtp", e.addr, "--listen", "", "--exit-when-idle", "--interval", "20ms",
		"--clock-start", "2026-12-02T00:00:00Z", "--clock-speed", "1000000"}
}

func TestSeedCampaignSendsToExactlyTheMatchingLeads(t *testing.T) {
	t.Parallel()
	// Under -race it cost 38 core-seconds (test and Postgres) against 17
	// without: 10,213 messages through the whole plan.
	racedElsewhere(t, wholePlanRacedBy)
	e := setupE2EWritingMail(t)
	want := handWrittenAudience(t, e.db)
	e2 := env{"CAMPAIGNCTL_SECRET": "e2e-secret-0123456789"}

	// apply lists what the daemon will run; the examples declare nothing it
	// does not run (the seed policy's transactional bypass of unsubscribes,
	// and, since every reader of a contact's fields sees what workflows
	// write, the fields the examples' workflows write), so it warns about
	// nothing.
	var applyOut, applyErr bytes.Buffer
	if code := e2.run([]string{"apply", "--db", e.url, e.plan}, &applyOut, &applyErr); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, applyErr.String())
	}
	if !strings.Contains(applyOut.String(), "will run workflow cart_rescue (abandoned_cart, 4 steps, trigger cart_abandoned)") {
		t.Fatalf("apply did not list the workflows it will run:\n%s", applyOut.String())
	}
	if strings.Contains(applyErr.String(), "warning:") {
		t.Fatalf("apply warns about what the daemon runs:\n%s", applyErr.String())
	}
	e2.mustRun(t, 0, append(serveArgs(e), "--public-url", "http://mail.test")...)

	got := recipients(t, e.smtp, "lost_leads_reactivation")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("recipient set differs from the hand-written query:\n got %d: %v\nwant %d: %v", len(got), head(got), len(want), head(want))
	}
	files, _ := filepath.Glob(filepath.Join(e.mailTo, "*.eml"))
	if len(files) != len(e.smtp.Messages()) {
		t.Fatalf("%d .eml files for %d messages", len(files), len(e.smtp.Messages()))
	}
	// Every message of every kind carries a working unsubscribe link.
	checkUnsubscribeLinks(t, e.smtp.Messages())

	// The report agrees with the capture server.
	out := e2.mustRun(t, 0, "report", "--db", e.url, "--format", "json")
	if !strings.Contains(out, `"sent": `+strconv.Itoa(len(want))) {
		t.Fatalf("report does not show %d sent:\n%s", len(want), out)
	}
	if strings.Contains(out, `"health": "Degraded"`) || strings.Contains(out, `"health": "Progressing"`) || !strings.Contains(out, `"health": "Healthy"`) {
		t.Fatalf("every campaign finished without failures, report health says otherwise:\n%s", out)
	}

	// Running the daemon again, and re-applying the same plan, sends no
	// message twice: no Message-ID (object, step, contact and occurrence) of
	// the first run comes again, and no campaign mail at all. (State-triggered
	// workflows may enroll new contacts: the second run's accelerated clock
	// starts over, and which birthdays fall on the day of its first enroll
	// pass depends on how fast the machine started it.)
	before := e.smtp.Count()
	sentIDs := map[string]bool{}
	idRE := regexp.MustCompile(`(?m)^Message-ID: (<[^>]+>)`)
	for _, m := range e.smtp.Messages() {
		if id := idRE.FindStringSubmatch(headerOf(m.Data)); id != nil {
			sentIDs[id[1]] = true
		}
	}
	if out := e2.mustRun(t, 0, "apply", "--db", e.url, e.plan); !strings.Contains(out, "already applied") {
		t.Fatalf("re-apply: %s", out)
	}
	e2.mustRun(t, 0, append(serveArgs(e), "--public-url", "http://mail.test")...)
	for _, m := range e.smtp.Messages()[before:] {
		h := headerOf(m.Data)
		id := idRE.FindStringSubmatch(h)
		if id == nil || sentIDs[id[1]] {
			t.Errorf("the second serve sent a message again (%v): %v", id, regexp.MustCompile(`X-Campaignctl-(Kind|Campaign): \S+`).FindAllString(h, -1))
		}
		if !strings.Contains(h, "X-Campaignctl-Kind: ") {
			t.Errorf("the second serve sent campaign mail: %v", regexp.MustCompile(`X-Campaignctl-Campaign: \S+`).FindString(h))
		}
	}
	t.Logf("the second serve sent %d messages, none of them again", e.smtp.Count()-before)
}

func TestTwoDaemonsAtOnceSendEachMessageOnce(t *testing.T) {
	t.Parallel()
	skipInShortMode(t)
	// Under -race it cost 40 core-seconds (test and Postgres) against 14
	// without: three in-process daemons over the whole plan.
	racedElsewhere(t, wholePlanRacedBy)
	e := setupE2E(t)
	want := handWrittenAudience(t, e.db)
	e2 := env{"CAMPAIGNCTL_SECRET": "e2e-secret-0123456789"}
	e2.mustRun(t, 0, "apply", "--db", e.url, e.plan)

	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out, errb bytes.Buffer
			if code := e2.run(append(serveArgs(e), "--concurrency", "8", "--public-url", "http://mail.test"), &out, &errb); code != 0 {
				t.Errorf("serve exit %d: %s", code, errb.String())
			}
		}()
	}
	wg.Wait()
	got := recipients(t, e.smtp, "lost_leads_reactivation")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("three daemons at once: got %d messages, want %d (one per lead)", len(got), len(want))
	}
	var sent int
	if err := e.db.GetContext(context.Background(), &sent, `SELECT count(*) FROM campaignctl.outbox WHERE status = 'sent' AND campaign = 'lost_leads_reactivation'`); err != nil {
		t.Fatal(err)
	}
	if sent != len(want) {
		t.Fatalf("outbox says %d sent, want %d", sent, len(want))
	}
	// Every other object and step too: no address got one message more often
	// than the outbox sent it. A workflow that re-enrolls (the birthday
	// greeting, once a year) sends a step again in a later occurrence: under
	// load the simulated clock passes a year before the daemons are idle, so
	// an address may get a step twice, once per occurrence, and no more.
	delivered := map[string]int{}
	for _, m := range e.smtp.Messages() {
		h := headerOf(m.Data)
		kind := header(h, "X-Campaignctl-Kind")
		if kind == "" {
			kind = "campaign"
		}
		k := kind + "/" + header(h, "X-Campaignctl-Campaign") + "/" + header(h, "X-Campaignctl-Step") + " " + strings.ToLower(m.To[0])
		delivered[k]++
	}
	var rows []struct {
		Kind, Campaign, Step, Email string
		N                           int
	}
	if err := e.db.SelectContext(context.Background(), &rows, `SELECT kind, campaign, step, email_normalized AS email, count(*) AS n
		FROM campaignctl.outbox WHERE status = 'sent' GROUP BY 1, 2, 3, 4`); err != nil {
		t.Fatal(err)
	}
	sentRows := map[string]int{}
	for _, r := range rows {
		sentRows[r.Kind+"/"+r.Campaign+"/"+r.Step+" "+r.Email] = r.N
	}
	for k, n := range delivered {
		if n > sentRows[k] {
			t.Fatalf("%s received %d times; the outbox sent it %d time(s) (once per occurrence)", k, n, sentRows[k])
		}
	}
}

func head(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}
