package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtpcapture"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// doiCampaigns: under an opt_in policy whose model-wide consent no contact
// has, the blog subscription type asks for confirmation; the blog_welcome
// workflow is triggered by the confirmation (any blog_subscription event),
// so its mail can go only to a contact who confirmed. "flash" confirms
// within 3 seconds, to see a real link expire.
const doiCampaigns = `
model "lead" {
  table   = "doi_lead"
  key     = "id"
  email   = "email"
  consent = "lead.marketing_ok"
  field "name" { type = "string" }
  field "marketing_ok" { type = "bool" }

  subscription "blog" {
    double_opt_in    = true
    confirm_template = "blog_confirm"
    confirm_sender   = "news"
    wording_version  = "blog-2026-11"
  }
  subscription "flash" {
    double_opt_in    = true
    confirm_template = "flash_confirm"
    confirm_sender   = "news"
    confirm_within   = "3s"
    wording_version  = "flash-v1"
  }
}

sender "news" {
  from = "Acme News <news@acme.example>"
}

policy "default" {
  consent = "opt_in"
}

template "blog_confirm" {
  class   = "transactional"
  subject = "Please confirm your blog subscription"
  text    = "Hello {{ .lead.name }}, confirm here: {{ .confirm_url }}"
}

template "flash_confirm" {
  class   = "transactional"
  subject = "Please confirm your flash sale alerts"
  text    = "Hello {{ .lead.name }}, confirm here: {{ .confirm_url }}"
}

template "blog_hello" {
  subject      = "Welcome to the Acme blog"
  text         = "Hello {{ .lead.name }}. Unsubscribe: {{ .unsubscribe_url }}"
  subscription = "blog"
}

workflow "blog_welcome" {
  type   = "blog_welcome"
  model  = "lead"
  sender = "news"
  trigger {
    event = "blog_subscription"
  }
  step "hello" {
    send = "blog_hello"
  }
}
`

// liveDaemon is the built campaignctl serving a campaigns tree over real
// Postgres, SMTP capture and HTTP on loopback, on the real clock.
type liveDaemon struct {
	db       *sqlx.DB
	url      string
	base     string
	smtp     *smtpcapture.Server
	proc     *process
	src      string
	planPath string
}

const liveEventsToken = "doi-events-token-0123456789"
const liveSecret = "doi-link-secret-0123456789"

func startLiveDaemon(t *testing.T, crmSQL, campaigns string) *liveDaemon {
	t.Helper()
	db, dbURL := storetest.Open(t)
	db.MustExec(crmSQL)
	dir := t.TempDir()
	d := &liveDaemon{db: db, url: dbURL, src: filepath.Join(dir, "campaigns"), planPath: filepath.Join(dir, "plan.json")}
	if err := os.MkdirAll(d.src, 0o755); err != nil {
		t.Fatal(err)
	}
	d.smtp = smtpcapture.New(filepath.Join(dir, "mail"))
	addr, err := d.smtp.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.smtp.Close() })
	d.apply(t, campaigns)
	bin := buildKillBinary(t)
	port := freePort(t)
	d.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	env := []string{"CAMPAIGNCTL_SECRET=" + liveSecret, "CAMPAIGNCTL_EVENTS_TOKEN=" + liveEventsToken}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CAMPAIGNCTL_") || strings.HasPrefix(kv, "CAMPAIGNCTL_TEST_") || strings.HasPrefix(kv, "CAMPAIGNCTL_REQUIRE") {
			env = append(env, kv)
		}
	}
	d.proc = startProcess(t, 20*time.Second, env, bin, "serve", "--db", dbURL, "--smtp", addr.String(),
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--interval", "50ms", "--public-url", d.base)
	// The public routes answer 503 while the daemon starts; /u/ with a bad
	// token answers 400 once they are up.
	d.waitFor(t, "the daemon's public routes", func() bool {
		res, err := http.Get(d.base + "/u/not-a-token")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusBadRequest
	})
	return d
}

func (d *liveDaemon) apply(t *testing.T, campaigns string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(d.src, "main.hcl"), []byte(campaigns), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, 0, "plan", "--no-git", "-o", d.planPath, d.src)
	mustRun(t, 0, "apply", "--db", d.url, d.planPath)
}

func (d *liveDaemon) waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 60s for %s\ndaemon log:\n%s", what, tail(d.proc.output(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// postEvents posts a JSON array of events to the daemon's events API.
func (d *liveDaemon) postEvents(t *testing.T, body string) {
	t.Helper()
	req, _ := http.NewRequest("POST", d.base+"/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+liveEventsToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("POST /v1/events: %d %s", res.StatusCode, b)
	}
}

// mailTo returns the decoded captured messages to rcpt whose Subject
// contains subject.
func (d *liveDaemon) mailTo(rcpt, subject string) []string {
	var out []string
	for _, m := range d.smtp.Messages() {
		data := string(decodeQP(m.Data))
		if len(m.To) > 0 && strings.EqualFold(m.To[0], rcpt) && strings.Contains(header(string(m.Data), "Subject"), subject) {
			out = append(out, data)
		}
	}
	return out
}

var confirmLinkRE = regexp.MustCompile(`https?://[^\s"<>]+/confirm/[A-Za-z0-9._~%-]+`)

func httpDo(t *testing.T, method, u string, form url.Values) (int, string) {
	t.Helper()
	var res *http.Response
	var err error
	if method == "GET" {
		res, err = http.Get(u)
	} else {
		res, err = http.PostForm(u, form)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// Double opt-in end to end through the daemon: a subscription request sent
// to the events API gets a confirmation mail over SMTP; its link's GET only
// shows a button; the POST records consent (source link, wording version,
// IP, user agent) and enrolls blog_welcome, whose mail then goes under the
// opt_in policy on the strength of that consent alone. An expired link and
// an altered link record nothing and enroll nothing.
func TestDoubleOptInThroughTheDaemon(t *testing.T) {
	ownProcess(t)
	skipInShortMode(t)
	t.Parallel() // a daemon of its own as a process: overlaps the others' waits
	d := startLiveDaemon(t, `CREATE TABLE doi_lead (id bigint PRIMARY KEY, email text, name text, marketing_ok boolean NOT NULL);
		INSERT INTO doi_lead VALUES (1, 'ann@example.com', 'Ann', false), (2, 'bob@example.com', 'Bob', false), (3, 'cat@example.com', 'Cat', false)`,
		doiCampaigns)
	// Ann unsubscribed from all marketing mail long ago (an import of an old
	// list's opt-outs): asking again, she still gets her confirmation mail,
	// and confirming lifts the unsubscribe.
	d.db.MustExec(`INSERT INTO campaignctl.suppressions (email_normalized, reason, campaign, created_at) VALUES ('ann@example.com', 'unsubscribed', 'old_list', now() - interval '1 year')`)
	now := time.Now().UTC().Format(time.RFC3339)
	d.postEvents(t, fmt.Sprintf(`[
		{"type":"subscribe_requested","model":"lead","key":"1","at":%q,"topic":"blog"},
		{"type":"subscribe_requested","model":"lead","key":"2","at":%q,"topic":"flash"},
		{"type":"subscribe_requested","model":"lead","key":"3","at":%q,"topic":"blog"}]`, now, now, now))
	d.waitFor(t, "three confirmation mails", func() bool {
		return len(d.mailTo("ann@example.com", "confirm your blog")) == 1 && len(d.mailTo("bob@example.com", "confirm your flash")) == 1 &&
			len(d.mailTo("cat@example.com", "confirm your blog")) == 1
	})
	link := func(rcpt, subject string) string {
		m := d.mailTo(rcpt, subject)[0]
		l := confirmLinkRE.FindString(m)
		if l == "" || !strings.HasPrefix(l, d.base+"/confirm/") {
			t.Fatalf("no confirmation link to the daemon in the mail to %s:\n%s", rcpt, m)
		}
		return l
	}
	annLink, bobLink, catLink := link("ann@example.com", "blog"), link("bob@example.com", "flash"), link("cat@example.com", "blog")
	ledger := func(email string) []struct {
		Sub, Action, Source, Evidence string
	} {
		var rows []struct {
			Sub, Action, Source, Evidence string
		}
		if err := d.db.Select(&rows, `SELECT subscription AS sub, action, source, evidence::text AS evidence FROM campaignctl.consent_ledger WHERE email_normalized = $1 ORDER BY id`, email); err != nil {
			t.Fatal(err)
		}
		return rows
	}
	enrolled := func(key string) int {
		var n int
		if err := d.db.Get(&n, `SELECT count(*) FROM campaignctl.enrollments WHERE kind = 'workflow' AND object = 'blog_welcome' AND contact_key = $1`, key); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// A GET (what a link scanner does) shows the button and records nothing.
	code, body := httpDo(t, "GET", annLink, nil)
	if code != 200 || !strings.Contains(body, `<form method="post">`) || !strings.Contains(body, "a***@example.com") || strings.Contains(body, "ann@example.com") {
		t.Fatalf("GET of the confirmation link: %d\n%s", code, body)
	}
	time.Sleep(300 * time.Millisecond)
	if rows := ledger("ann@example.com"); len(rows) != 0 || enrolled("1") != 0 {
		t.Fatalf("a GET recorded consent or enrolled: %+v", rows)
	}

	// An altered link: one character of the signed payload changed.
	tok := catLink[strings.LastIndex(catLink, "/")+1:]
	parts := strings.Split(tok, ".")
	p := []byte(parts[1])
	if p[5] == 'A' {
		p[5] = 'B'
	} else {
		p[5] = 'A'
	}
	altered := d.base + "/confirm/" + parts[0] + "." + string(p) + "." + parts[2]
	for _, m := range []string{"GET", "POST"} {
		if code, body := httpDo(t, m, altered, url.Values{}); code != 404 || !strings.Contains(body, "Nothing was recorded") {
			t.Errorf("%s of an altered link: %d, want 404 and a page saying nothing was recorded\n%s", m, code, body)
		}
	}
	// The confirmation token is not an unsubscribe token either.
	if code, _ := httpDo(t, "POST", strings.Replace(catLink, "/confirm/", "/u/", 1), url.Values{"List-Unsubscribe": {"One-Click"}}); code != 400 {
		t.Errorf("a confirmation token replayed to /u/: %d, want 400", code)
	}

	// Bob's flash link expires 3 seconds after its mail was composed.
	time.Sleep(3500 * time.Millisecond)
	if code, body := httpDo(t, "POST", bobLink, url.Values{}); code != 410 || !strings.Contains(body, "expired") {
		t.Errorf("POST of an expired link: %d, want 410 and a page saying it expired\n%s", code, body)
	}

	// Ann confirms (the link is valid 72 hours).
	req, _ := http.NewRequest("POST", annLink, strings.NewReader(""))
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) DOITest/1.0")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), "Subscription confirmed") {
		t.Fatalf("POST of the confirmation link: %d\n%s", res.StatusCode, b)
	}
	rows := ledger("ann@example.com")
	if len(rows) != 1 || rows[0].Sub != "blog" || rows[0].Action != "grant" || rows[0].Source != "link" {
		t.Fatalf("ledger of ann after confirming: %+v, want one grant of blog from a link", rows)
	}
	for _, s := range []string{`"lifted_unsubscribe": true`, `"wording_version": "blog-2026-11"`, `"ip": "127.0.0.1"`, `"user_agent": "Mozilla/5.0 (X11; Linux x86_64) DOITest/1.0"`, `"outbox_id": `} {
		if !strings.Contains(rows[0].Evidence, s) {
			t.Errorf("the grant's evidence lacks %s: %s", s, rows[0].Evidence)
		}
	}
	// The welcome workflow enrolls Ann and its mail goes, under opt_in, on
	// the ledger's grant (her CRM field says no).
	d.waitFor(t, "the blog welcome mail to ann", func() bool { return len(d.mailTo("ann@example.com", "Welcome to the Acme blog")) == 1 })
	if enrolled("1") != 1 {
		t.Errorf("ann is enrolled %d times in blog_welcome, want 1", enrolled("1"))
	}
	// A second click confirms nothing more.
	if code, body := httpDo(t, "POST", annLink, url.Values{}); code != 200 || !strings.Contains(body, "already confirmed") {
		t.Errorf("second POST: %d\n%s", code, body)
	}
	if n := len(ledger("ann@example.com")); n != 1 {
		t.Errorf("%d ledger entries after a second click, want 1", n)
	}

	// Nothing for the expired and the altered links: no consent, no
	// enrollment, no welcome, no blog_subscription event.
	time.Sleep(500 * time.Millisecond)
	for _, c := range []struct{ key, email string }{{"2", "bob@example.com"}, {"3", "cat@example.com"}} {
		if rows := ledger(c.email); len(rows) != 0 {
			t.Errorf("%s: ledger entries %+v, want none", c.email, rows)
		}
		if n := enrolled(c.key); n != 0 {
			t.Errorf("%s enrolled in blog_welcome %d times, want 0", c.email, n)
		}
		if m := d.mailTo(c.email, "Welcome"); len(m) != 0 {
			t.Errorf("%s got the welcome mail", c.email)
		}
	}
	var events int
	if err := d.db.Get(&events, `SELECT count(*) FROM campaignctl.events WHERE type = 'blog_subscription'`); err != nil {
		t.Fatal(err)
	}
	if events != 1 {
		t.Errorf("%d blog_subscription events, want 1 (ann's)", events)
	}
	// explain shows the confirmation mail among the contact's messages, and
	// status still reads the outbox with its new kind.
	ex := mustRun(t, 0, "explain", "--db", d.url, "lead:1")
	if !regexp.MustCompile(`ledger: grant of blog on \S+ \(link, entry \d+\): decides over the rule`).MatchString(ex) ||
		!strings.Contains(ex, `enrolled by: blog_subscription event at `) {
		t.Errorf("explain lead:1 does not show the ledger's grant and the enrolling confirmation:\n%s", ex)
	}
	// status shows each type's funnel: ann confirmed and cat's link still
	// valid (blog), bob's expired unclicked (flash).
	st := mustRun(t, 0, "status", "--db", d.url)
	for _, want := range []string{
		"double opt-in blog (model lead, links valid 72h): 2 requested, 0 queued, 2 sent, 0 not sent\n  of those sent: 1 confirmed, 1 awaiting a click, 0 expired\n",
		"double opt-in flash (model lead, links valid 3s): 1 requested, 0 queued, 1 sent, 0 not sent\n  of those sent: 0 confirmed, 0 awaiting a click, 1 expired\n",
	} {
		if !strings.Contains(st, want) {
			t.Errorf("status lacks\n%s\n---\n%s", want, st)
		}
	}
	var doc statusDoc
	if err := json.Unmarshal([]byte(mustRun(t, 0, "status", "--db", d.url, "--format", "json")), &doc); err != nil || len(doc.DoubleOptIn) != 2 ||
		doc.DoubleOptIn[0].Subscription != "blog" || doc.DoubleOptIn[0].Confirmed != 1 || doc.DoubleOptIn[1].Expired != 1 {
		t.Errorf("status --format json: double_opt_in %+v (%v)", doc.DoubleOptIn, err)
	}
	// consent show prints the confirmation.
	show := mustRun(t, 0, "consent", "--db", d.url, "show", "lead:1")
	if !regexp.MustCompile(`grant\s+blog\s+link\s`).MatchString(show) || !strings.Contains(show, "wording_version=blog-2026-11") {
		t.Errorf("consent show lead:1:\n%s", show)
	}
}
