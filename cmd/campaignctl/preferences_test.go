package main

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// prefCampaigns: an opt_out default policy, two subscription types, and a
// campaign of each.
const prefCampaigns = `
model "person" {
  table = "pref_person"
  key   = "id"
  email = "email"
  field "name" { type = "string" }

  subscription "news" {}
  subscription "offers" {}
}

segment "everyone" {
  model  = "person"
  filter = "true"
}

sender "shop" {
  from = "Shop <shop@acme.example>"
}

template "news" {
  subject      = "News"
  text         = "Hi {{ .person.name }}. Preferences: {{ .unsubscribe_url }}"
  subscription = "news"
}

template "offer" {
  subject      = "Offer"
  text         = "Hi {{ .person.name }}. Preferences: {{ .unsubscribe_url }}"
  subscription = "offers"
}

template "receipt" {
  subject = "Your receipt"
  text    = "Hi {{ .person.name }}, here is your receipt."
  class   = "transactional"
}

campaign "news1" {
  segment  = "everyone"
  template = "news"
  sender   = "shop"
}

campaign "offers1" {
  segment  = "everyone"
  template = "offer"
  sender   = "shop"
}
`

const prefCampaigns2 = prefCampaigns + `
campaign "news2" {
  segment  = "everyone"
  template = "news"
  sender   = "shop"
}

campaign "offers2" {
  segment  = "everyone"
  template = "offer"
  sender   = "shop"
}

campaign "receipt2" {
  segment  = "everyone"
  template = "receipt"
  sender   = "shop"
  class    = "transactional"
}
`

const prefCRM = `CREATE TABLE pref_person (id bigint PRIMARY KEY, email text, name text);
	INSERT INTO pref_person VALUES (1, 'ann@example.com', 'Ann'), (2, 'bob@example.com', 'Bob'), (3, 'cat@example.com', 'Cat'), (4, 'dan@example.com', 'Dan')`

var unsubLinkRE = regexp.MustCompile(`List-Unsubscribe: <(http://[^>]+/u/[^>]+)>`)

// unsubLink is the https link of List-Unsubscribe of the captured message of
// campaign obj to rcpt.
func (d *liveDaemon) unsubLink(t *testing.T, obj, rcpt string) string {
	t.Helper()
	for _, m := range d.smtp.Messages() {
		data := string(m.Data)
		if strings.EqualFold(m.To[0], rcpt) && header(data, "X-Campaignctl-Campaign") == obj {
			if l := unsubLinkRE.FindStringSubmatch(data); l != nil {
				return l[1]
			}
			t.Fatalf("the %s mail to %s has no List-Unsubscribe link:\n%s", obj, rcpt, data)
		}
	}
	t.Fatalf("no %s mail to %s", obj, rcpt)
	return ""
}

type ledgerRow struct {
	Sub    string `db:"sub"`
	Action string `db:"action"`
	Source string `db:"source"`
}

func (d *liveDaemon) ledger(t *testing.T, email string) []ledgerRow {
	t.Helper()
	var rows []ledgerRow
	if err := d.db.Select(&rows, `SELECT subscription AS sub, action, source FROM campaignctl.consent_ledger WHERE email_normalized = $1 ORDER BY id`, email); err != nil {
		t.Fatal(err)
	}
	return rows
}

// recipients lists who was sent each campaign, from the capture server.
func (d *liveDaemon) recipients() map[string]string {
	got := map[string][]string{}
	for _, m := range d.smtp.Messages() {
		obj := header(string(m.Data), "X-Campaignctl-Campaign")
		got[obj] = append(got[obj], strings.ToLower(m.To[0]))
	}
	out := map[string]string{}
	for k, v := range got {
		sort.Strings(v)
		out[k] = strings.Join(v, " ")
	}
	return out
}

// The preference center without JavaScript (plain net/http form posts) on
// the daemon's public endpoint, and what the choices do at send time: the
// page opened from a captured mail shows the subscription types with their
// state and the address masked; unticking one records a withdrawal
// (preference_center); RFC 8058 one-click from a message of a type withdraws
// that type only (unsubscribe), without suppressing; "unsubscribe from all"
// suppresses. Then, through the same daemon, mail of the withdrawn type stops
// for those two contacts while the other type and transactional mail still
// reach them, and the withdrawn type still reaches the others.
func TestPreferenceCenterWithoutJavaScript(t *testing.T) {
	ownProcess(t)
	skipInShortMode(t)
	t.Parallel() // a daemon of its own as a process: overlaps the others' waits
	d := startLiveDaemon(t, prefCRM, prefCampaigns)
	d.waitFor(t, "news1 and offers1 to the four contacts", func() bool {
		r := d.recipients()
		all := "ann@example.com bob@example.com cat@example.com dan@example.com"
		return r["news1"] == all && r["offers1"] == all
	})

	// The page, as ann's news mail links to it.
	link := d.unsubLink(t, "news1", "ann@example.com")
	code, body := httpDo(t, "GET", link, nil)
	if code != 200 {
		t.Fatalf("GET %s: %d\n%s", link, code, body)
	}
	for _, s := range []string{`id="sub-news" name="subscription" value="news" checked`, `id="sub-offers" name="subscription" value="offers" checked`, "a***@example.com", `id="unsubscribe-all"`} {
		if !strings.Contains(body, s) {
			t.Errorf("the preference page lacks %q:\n%s", s, body)
		}
	}
	if strings.Contains(body, "ann@example.com") || strings.Contains(body, "Ann") || strings.Contains(body, "<script") {
		t.Errorf("the preference page shows the address or the name, or has a script:\n%s", body)
	}
	// Untick news, keep offers: one withdrawal, from the preference center.
	code, body = httpDo(t, "POST", link, url.Values{"action": {"save"}, "subscription": {"offers"}})
	if code != 200 || !strings.Contains(body, "Your choices are saved.") || strings.Contains(body, `value="news" checked`) || !strings.Contains(body, `value="offers" checked`) {
		t.Fatalf("saving the choices: %d\n%s", code, body)
	}
	if got := d.ledger(t, "ann@example.com"); len(got) != 1 || got[0] != (ledgerRow{"news", "withdraw", "preference_center"}) {
		t.Fatalf("ann's ledger: %+v, want one withdrawal of news from the preference center", got)
	}
	// Saving the same choices again records nothing.
	httpDo(t, "POST", link, url.Values{"action": {"save"}, "subscription": {"offers"}})
	if got := d.ledger(t, "ann@example.com"); len(got) != 1 {
		t.Errorf("saving unchanged choices added entries: %+v", got)
	}
	// A type the plan does not declare is refused.
	if code, _ := httpDo(t, "POST", link, url.Values{"action": {"save"}, "subscription": {"offers", "bogus"}}); code != 400 {
		t.Errorf("a form naming an undeclared type: %d, want 400", code)
	}

	// RFC 8058 one-click from bob's news mail: news only, no suppression.
	code, body = httpDo(t, "POST", d.unsubLink(t, "news1", "bob@example.com"), url.Values{"List-Unsubscribe": {"One-Click"}})
	if code != 200 {
		t.Fatalf("one-click: %d\n%s", code, body)
	}
	if got := d.ledger(t, "bob@example.com"); len(got) != 1 || got[0] != (ledgerRow{"news", "withdraw", "unsubscribe"}) {
		t.Fatalf("bob's ledger after one-click: %+v, want one withdrawal of news (unsubscribe)", got)
	}
	var suppressed int
	if err := d.db.Get(&suppressed, `SELECT count(*) FROM campaignctl.suppressions WHERE email_normalized = 'bob@example.com'`); err != nil || suppressed != 0 {
		t.Fatalf("bob suppressed by a per-type one-click: %d (%v)", suppressed, err)
	}
	// "Unsubscribe from all" from cat's offers mail suppresses.
	if code, _ := httpDo(t, "POST", d.unsubLink(t, "offers1", "cat@example.com"), url.Values{"action": {"all"}}); code != 200 {
		t.Fatalf("unsubscribe from all: %d", code)
	}
	if err := d.db.Get(&suppressed, `SELECT count(*) FROM campaignctl.suppressions WHERE email_normalized = 'cat@example.com' AND reason = 'unsubscribed'`); err != nil || suppressed != 1 {
		t.Fatalf("cat not suppressed after unsubscribe from all: %d (%v)", suppressed, err)
	}
	if code, body := httpDo(t, "GET", d.unsubLink(t, "offers1", "cat@example.com"), nil); code != 200 || !strings.Contains(body, `id="suppressed"`) || strings.Contains(body, `name="subscription"`) {
		t.Errorf("cat's page after unsubscribing from all: %d\n%s", code, body)
	}

	// At send time, through the same daemon: a new revision with a second
	// campaign of each type and a transactional one.
	d.apply(t, prefCampaigns2)
	settled := func() bool {
		var pending int
		if err := d.db.Get(&pending, `SELECT count(*) FROM campaignctl.outbox WHERE campaign IN ('news2', 'offers2', 'receipt2') AND status NOT IN ('sent', 'cancelled', 'failed')`); err != nil {
			t.Fatal(err)
		}
		var total int
		d.db.Get(&total, `SELECT count(*) FROM campaignctl.outbox WHERE campaign IN ('news2', 'offers2', 'receipt2')`)
		// cat, suppressed, is left out of the marketing audiences; the
		// receipt is enqueued for her and cancelled, since no policy here
		// lets transactional mail bypass an unsubscribe.
		return pending == 0 && total == 10
	}
	d.waitFor(t, "news2, offers2 and receipt2 to be decided", settled)
	time.Sleep(200 * time.Millisecond) // the capture server has the last message once the ledger says sent
	got := d.recipients()
	for obj, want := range map[string]string{
		"news2":    "dan@example.com",
		"offers2":  "ann@example.com bob@example.com dan@example.com",
		"receipt2": "ann@example.com bob@example.com dan@example.com",
	} {
		if got[obj] != want {
			t.Errorf("%s went to %q, want %q", obj, got[obj], want)
		}
	}
	var catReceipt string
	if err := d.db.Get(&catReceipt, `SELECT status || ': ' || coalesce(last_error, '') FROM campaignctl.outbox WHERE campaign = 'receipt2' AND email_normalized = 'cat@example.com'`); err != nil || catReceipt != "cancelled: address suppressed (unsubscribed)" {
		t.Errorf("receipt2 to cat, who unsubscribed from all: %q (%v), want cancelled: address suppressed (unsubscribed)", catReceipt, err)
	}
	var why []string
	if err := d.db.Select(&why, `SELECT last_error FROM campaignctl.outbox WHERE campaign = 'news2' AND email_normalized IN ('ann@example.com', 'bob@example.com') ORDER BY email_normalized`); err != nil {
		t.Fatal(err)
	}
	if len(why) != 2 || !strings.HasPrefix(why[0], "no consent: withdrawn for subscription news on ") || !strings.Contains(why[0], "(preference_center, ledger entry ") ||
		!strings.Contains(why[1], "(unsubscribe, ledger entry ") {
		t.Errorf("news2 to ann and bob cancelled for %q, want their withdrawals of news", why)
	}
}
