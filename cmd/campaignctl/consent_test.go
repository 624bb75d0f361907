package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtpcapture"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// consentCampaigns is a campaigns tree under an opt_in default policy: every
// kind that sends marketing mail (a campaign, a campaign of a subscription
// type with its own consent, a sequence, an autoresponder, a workflow), and a
// transactional campaign.
const consentCampaigns = `
model "person" {
  table   = "consent_person"
  key     = "id"
  email   = "email"
  consent = "person.marketing_ok"
  field "name" { type = "string" }
  field "marketing_ok" {
    type     = "bool"
    nullable = true
  }
  field "news_ok" { type = "bool" }

  subscription "newsletter" { consent = "person.news_ok" }
}

segment "everyone" {
  model  = "person"
  filter = "true"
}

sender "shop" {
  from = "Shop <shop@acme.example>"
}

policy "default" {
  consent = "opt_in"
}

template "promo" {
  subject = "Promo"
  text    = "Hi {{ .person.name }}. Unsubscribe: {{ .unsubscribe_url }}"
}

template "news" {
  subject      = "News"
  text         = "Hi {{ .person.name }}. Unsubscribe: {{ .unsubscribe_url }}"
  subscription = "newsletter"
}

template "receipt" {
  subject = "Your receipt"
  text    = "Hi {{ .person.name }}, here is your receipt."
  class   = "transactional"
}

campaign "promo" {
  segment  = "everyone"
  template = "promo"
  sender   = "shop"
}

campaign "news" {
  segment  = "everyone"
  template = "news"
  sender   = "shop"
}

campaign "receipt" {
  segment  = "everyone"
  template = "receipt"
  sender   = "shop"
  class    = "transactional"
}

sequence "nurture" {
  model   = "person"
  segment = "everyone"
  sender  = "shop"
  step "one" {
    offset   = "0d"
    template = "promo"
  }
}

autoresponder "follow" {
  model   = "person"
  segment = "everyone"
  sender  = "shop"
  mode    = "single"
  follow_up "first" {
    offset   = "1d"
    template = "promo"
  }
}

workflow "engaged" {
  type   = "engaged_contacts"
  model  = "person"
  sender = "shop"
  trigger {
    event   = "segment_entry"
    segment = "everyone"
  }
  step "invite" {
    send = "promo"
  }
}
`

// Under an opt_in policy a contact without consent gets no marketing mail
// from any object, and does get transactional mail; a contact with consent
// gets both; consent per subscription type is read apart; the ledger says
// why each message was not sent, and explain names missing consent.
func TestOptInPolicyHoldsBackMarketingMailWithoutConsent(t *testing.T) {
	t.Parallel()
	db, url := storetest.Open(t)
	db.MustExec(`CREATE TABLE consent_person (id bigint PRIMARY KEY, email text, name text, marketing_ok boolean, news_ok boolean NOT NULL);
		INSERT INTO consent_person VALUES
			(1, 'yes@example.com', 'Yes', true, true),
			(2, 'no@example.com', 'No', false, false),
			(3, 'null@example.com', 'Null', NULL, false),
			(4, 'nonews@example.com', 'NoNews', true, false)`)
	dir := t.TempDir()
	src := filepath.Join(dir, "campaigns")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "main.hcl"), []byte(consentCampaigns), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := smtpcapture.New(filepath.Join(dir, "mail"))
	addr, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	planPath := filepath.Join(dir, "plan.json")
	mustRun(t, 0, "plan", "--no-git", "-o", planPath, src)
	mustRun(t, 0, "apply", "--db", url, planPath)
	e2 := env{"CAMPAIGNCTL_SECRET": "consent-secret-0123456789"}
	e2.mustRun(t, 0, "serve", "--db", url, "--smtp", addr.String(), "--listen", "", "--exit-when-idle", "--interval", "20ms",
		"--clock-start", "2026-12-02T00:00:00Z", "--clock-speed", "1000000", "--public-url", "http://mail.test")

	// Who received what, from the capture server (object → recipients).
	got := map[string][]string{}
	for _, m := range srv.Messages() {
		data := string(m.Data)
		obj := header(data, "X-Campaignctl-Campaign")
		got[obj] = append(got[obj], strings.ToLower(m.To[0]))
	}
	want := map[string]string{
		"promo":   "nonews@example.com yes@example.com",
		"news":    "yes@example.com",
		"receipt": "no@example.com nonews@example.com null@example.com yes@example.com",
		"nurture": "nonews@example.com yes@example.com",
		"follow":  "nonews@example.com yes@example.com",
		"engaged": "nonews@example.com yes@example.com",
	}
	for obj, w := range want {
		g := sortedJoin(got[obj])
		if g != w {
			t.Errorf("%s went to %q, want %q", obj, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("mail from %d objects, want %d: %v", len(got), len(want), got)
	}

	// Every marketing message not sent is cancelled with the reason, in the
	// ledger: 5 marketing objects × 2 contacts without consent, and the
	// newsletter to the contact who agreed to marketing but not to it.
	var refused []struct {
		Campaign string `db:"campaign"`
		Email    string `db:"email"`
		Err      string `db:"last_error"`
	}
	if err := db.Select(&refused, `SELECT campaign, email, last_error FROM campaignctl.outbox WHERE status = 'cancelled' ORDER BY campaign, email`); err != nil {
		t.Fatal(err)
	}
	if len(refused) != 11 {
		t.Fatalf("%d cancelled messages, want 11: %+v", len(refused), refused)
	}
	for _, r := range refused {
		if !strings.HasPrefix(r.Err, "no consent: ") || !strings.Contains(r.Err, `(policy "default" is opt_in)`) {
			t.Errorf("%s to %s cancelled with %q, want a no-consent reason", r.Campaign, r.Email, r.Err)
		}
		if r.Campaign == "news" && r.Email == "nonews@example.com" && !strings.Contains(r.Err, "person.news_ok does not hold") {
			t.Errorf("the newsletter to nonews@ was refused for %q, want its own subscription's rule", r.Err)
		}
	}

	// explain names missing consent, for the contact and on its messages.
	out := e2.mustRun(t, 0, "explain", "--db", url, "person:2")
	for _, s := range []string{
		"consent: person.marketing_ok does not hold: missing consent",
		"consent to newsletter: person.news_ok does not hold: missing consent",
		"(marketing mail under policy default (opt_in) goes only where consent holds)",
		"cancelled: no consent: person.marketing_ok does not hold for this contact",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("explain person:2 does not say %q:\n%s", s, out)
		}
	}

	// The consent ledger decides over the CRM's field when it has an entry:
	// an operator's withdrawal stops a contact the CRM says agreed, a grant
	// lets one go the CRM says did not, per subscription type or for all.
	e2.mustRun(t, 0, "consent", "--db", url, "withdraw", "yes@example.com", "--actor", "ops", "--reason", "asked by phone")
	e2.mustRun(t, 0, "consent", "--db", url, "grant", "person:2", "--source", "form", "--actor", "ops", "--reason", "paper form")
	e2.mustRun(t, 0, "consent", "--db", url, "grant", "null@example.com", "--subscription", "newsletter", "--actor", "ops")
	if out := e2.mustRun(t, 1, "consent", "--db", url, "grant", "null@example.com", "--subscription", "newsleter", "--actor", "ops"); out != "" {
		t.Errorf("a refused grant printed %q", out)
	}
	show := e2.mustRun(t, 0, "consent", "--db", url, "show", "person:1")
	for _, s := range []string{"yes@example.com: 1 entries", "withdraw  all marketing  operator  actor=ops reason=asked by phone"} {
		if !strings.Contains(show, s) {
			t.Errorf("consent show person:1 does not say %q:\n%s", s, show)
		}
	}
	more := consentCampaigns + `
campaign "promo2" {
  segment  = "everyone"
  template = "promo"
  sender   = "shop"
}
campaign "news2" {
  segment  = "everyone"
  template = "news"
  sender   = "shop"
}
`
	if err := os.WriteFile(filepath.Join(src, "main.hcl"), []byte(more), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, 0, "plan", "--no-git", "-o", planPath, src)
	mustRun(t, 0, "apply", "--db", url, planPath)
	e2.mustRun(t, 0, "serve", "--db", url, "--smtp", addr.String(), "--listen", "", "--exit-when-idle", "--interval", "20ms",
		"--clock-start", "2026-12-03T00:00:00Z", "--clock-speed", "1000000", "--public-url", "http://mail.test")
	got = map[string][]string{}
	for _, m := range srv.Messages() {
		obj := header(string(m.Data), "X-Campaignctl-Campaign")
		got[obj] = append(got[obj], strings.ToLower(m.To[0]))
	}
	for obj, w := range map[string]string{
		"promo2": "no@example.com nonews@example.com",
		"news2":  "no@example.com null@example.com",
	} {
		if g := sortedJoin(got[obj]); g != w {
			t.Errorf("after the ledger entries, %s went to %q, want %q", obj, g, w)
		}
	}
	var why string
	if err := db.Get(&why, `SELECT last_error FROM campaignctl.outbox WHERE campaign = 'promo2' AND email = 'yes@example.com'`); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(why, "no consent: withdrawn for all marketing mail on ") || !strings.Contains(why, "(operator, ledger entry ") {
		t.Errorf("promo2 to yes@ was refused for %q, want the ledger's withdrawal", why)
	}
}

func header(data, name string) string {
	for _, line := range strings.Split(data, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return v
		}
	}
	return ""
}

func sortedJoin(s []string) string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return strings.Join(out, " ")
}
