package engine_test

import (
	"bytes"
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/mailer/smtptest"
)

// A policy may let transactional mail go to an address that unsubscribed
// from marketing mail (bypass { transactional = ["unsubscribed"] }): an order
// receipt is not a newsletter. It never lets marketing mail go to a
// suppressed address, never lets any mail go to one that bounced or
// complained, and a policy that declares no bypass keeps every suppressed
// address out of every class. A hard bounce on an unsubscribed address
// replaces the unsubscribe, so the bypass stops there too.
func TestSuppressionBypassByClass(t *testing.T) {
	rb := setupRelay(t, 0)
	b, db := rb.bundle, rb.st.DB
	db.MustExec(`CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL, name text NOT NULL DEFAULT 'P')`)
	people := []string{"ok", "unsub", "black", "bounced", "complained", "manual", "later"}
	for i, p := range people {
		db.MustExec(`INSERT INTO people VALUES ($1, $2)`, i+1, p+"@example.com")
	}
	for _, s := range [][2]string{{"unsub", "unsubscribed"}, {"black", "blacklisted"}, {"bounced", "hard_bounce"}, {"complained", "complaint"}, {"manual", "manual"}, {"later", "unsubscribed"}} {
		if err := b.st.Suppress(b.ctx, s[0]+"@example.com", s[1], "", b.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// later@ unsubscribed; the receipt to it is refused for good: that hard
	// bounce must replace the unsubscribe.
	rb.relay.SetReply(smtptest.StageRcpt, func(_, rcpt string) *smtptest.Reply {
		if strings.HasPrefix(rcpt, "later@") {
			return &smtptest.Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user"}
		}
		return nil
	})
	p := &plan.Plan{
		Models: []plan.Model{{Name: "person", Table: "people", Key: "id", Email: "email",
			Fields: []plan.Field{{Name: "name", Column: "name", Type: plan.TypeString}}}},
		Segments: []plan.Segment{{Name: "everyone", Model: "person", Filter: "true"}},
		Senders:  []plan.Sender{{Name: "s", From: "Shop <news@shop.example>"}},
		Policies: []plan.Policy{
			{Name: "default", Bypass: map[string][]string{plan.ClassTransactional: {"unsubscribed", "blacklisted"}}},
			{Name: "strict"},
		},
		Templates: []plan.Template{
			{Name: "promo", Subject: "Promo", Text: "Hi {{ .unsubscribe_url }}", Class: plan.ClassMarketing},
			{Name: "receipt", Subject: "Receipt", Text: "Your order", Class: plan.ClassTransactional},
			{Name: "notice", Subject: "Notice", Text: "Our terms change", Class: plan.ClassTransactional},
		},
		Campaigns: []plan.Campaign{
			{Name: "promo", Segment: "everyone", Template: "promo", Sender: "s", Class: plan.ClassMarketing},
			{Name: "receipt", Segment: "everyone", Template: "receipt", Sender: "s", Class: plan.ClassTransactional},
			{Name: "notice", Segment: "everyone", Template: "notice", Sender: "s", Class: plan.ClassTransactional, Policy: "strict"},
		},
	}
	p.Finalize()
	b.apply(t, p)
	rb.pass(t)

	got := map[string][]string{}
	for _, m := range rb.relay.Messages() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		subj := msg.Header.Get("Subject")
		got[subj] = append(got[subj], strings.TrimSuffix(m.To[0], "@example.com"))
	}
	for _, s := range got {
		sort.Strings(s)
	}
	want := map[string][]string{
		"Promo":   {"ok"},
		"Receipt": {"black", "ok", "unsub"},
		"Notice":  {"ok"},
	}
	for subj, w := range want {
		if strings.Join(got[subj], ",") != strings.Join(w, ",") {
			t.Errorf("%s went to %v; want %v", subj, got[subj], w)
		}
	}

	// Every transactional message that did not go says why, with the reason.
	var cancelled []struct {
		Campaign string `db:"campaign"`
		Email    string `db:"email"`
		Err      string `db:"last_error"`
	}
	if err := db.Select(&cancelled, `SELECT campaign, email, coalesce(last_error, '') AS last_error FROM campaignctl.outbox
		WHERE status = 'cancelled' ORDER BY campaign, email`); err != nil {
		t.Fatal(err)
	}
	wantCancelled := map[string]string{
		"notice/black":       "address suppressed (blacklisted)",
		"notice/bounced":     "address suppressed (hard_bounce)",
		"notice/complained":  "address suppressed (complaint)",
		"notice/later":       "address suppressed (unsubscribed)",
		"notice/manual":      "address suppressed (manual)",
		"notice/unsub":       "address suppressed (unsubscribed)",
		"receipt/bounced":    "address suppressed (hard_bounce)",
		"receipt/complained": "address suppressed (complaint)",
		"receipt/manual":     "address suppressed (manual)",
	}
	gotCancelled := map[string]string{}
	for _, c := range cancelled {
		gotCancelled[c.Campaign+"/"+strings.TrimSuffix(c.Email, "@example.com")] = c.Err
	}
	for k, w := range wantCancelled {
		if gotCancelled[k] != w {
			t.Errorf("%s: cancelled with %q; want %q", k, gotCancelled[k], w)
		}
	}
	if len(gotCancelled) != len(wantCancelled) {
		t.Errorf("cancelled rows %v; want exactly %v", gotCancelled, wantCancelled)
	}
	// Marketing mail to a suppressed address is not even enqueued.
	var promoRows int
	if err := db.Get(&promoRows, `SELECT count(*) FROM campaignctl.outbox WHERE campaign = 'promo'`); err != nil {
		t.Fatal(err)
	}
	if promoRows != 1 {
		t.Errorf("promo has %d outbox rows; want 1 (suppressed addresses are left out of marketing mail)", promoRows)
	}

	reason := func(who string) string {
		var r string
		if err := db.Get(&r, `SELECT reason FROM campaignctl.suppressions WHERE email_normalized = $1`, who+"@example.com"); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// The receipt to later@ was refused for good: its unsubscribe became a
	// hard bounce, which no policy bypasses.
	if r := reason("later"); r != "hard_bounce" {
		t.Errorf("later@ is suppressed as %q after a 550 5.1.1; want hard_bounce", r)
	}
	// Through Suppress, a complaint replaces an unsubscribe, and an
	// unsubscribe never replaces a stronger reason.
	for _, c := range []struct{ who, add, want string }{{"unsub", "complaint", "complaint"}, {"bounced", "unsubscribed", "hard_bounce"}} {
		if err := b.st.Suppress(b.ctx, c.who+"@example.com", c.add, "receipt", b.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if r := reason(c.who); r != c.want {
			t.Errorf("%s@ is suppressed as %q after %s; want %s", c.who, r, c.add, c.want)
		}
	}
}

// What the preference center shows for a type the ledger says nothing about:
// ticked for a type no object sends under opt_in; for one some object does,
// as the type's consent condition (or the model's) holds for the contact's
// row. The regime is per type: offers, sent only under an opt_out policy,
// stays ticked while news goes opt_in.
func TestPreferenceDefaults(t *testing.T) {
	b := setup(t, 4) // contacts 1..4; even ones are active
	// Campaigns for next year: their policies apply, nothing sends.
	later := t0.AddDate(1, 0, 0).Format(time.RFC3339)
	news, offers := campaign("news", later), campaign("offers", later)
	news.Template, offers.Template, offers.Policy = "t_news", "t_offers", "relaxed"
	p := testPlan("Hi", news, offers)
	p.Templates = append(p.Templates,
		plan.Template{Name: "t_news", Subject: "News", Text: "{{ .unsubscribe_url }}", Class: plan.ClassMarketing, Subscription: "news"},
		plan.Template{Name: "t_offers", Subject: "Offers", Text: "{{ .unsubscribe_url }}", Class: plan.ClassMarketing, Subscription: "offers"})
	p.Models[0].Consent = "c.active"
	p.Models[0].Subscriptions = []plan.Subscription{{Name: "news", Consent: `c.name == "Contact 3"`}, {Name: "offers"}}
	p.Policies = []plan.Policy{{Name: "relaxed", Consent: plan.ConsentOptOut}}
	p.Finalize()
	b.apply(t, p)
	check := func(regime string, want map[string]string) {
		t.Helper()
		for key, w := range want {
			got, err := b.eng.PreferenceDefaults(b.ctx, "c", key)
			if err != nil || fmt.Sprintf("news=%v offers=%v", got["news"], got["offers"]) != w {
				t.Errorf("%s, contact %s: %v (%v); want %s", regime, key, got, err, w)
			}
		}
	}
	check("every policy opt_out", map[string]string{"2": "news=true offers=true", "3": "news=true offers=true"})

	p.Policies = append(p.Policies, plan.Policy{Name: "default", Consent: plan.ConsentOptIn})
	p.Finalize()
	b.apply(t, p)
	check("news under opt_in", map[string]string{
		"2":  "news=false offers=true", // not Contact 3
		"3":  "news=true offers=true",  // Contact 3
		"99": "news=false offers=true", // unknown contact
	})
}

// Before any plan is applied the preference center has no types to show:
// no defaults, and no error that would turn the page into a 503.
func TestPreferenceDefaultsWithoutAPlan(t *testing.T) {
	b := setup(t, 1)
	if got, err := b.eng.PreferenceDefaults(b.ctx, "c", "1"); err != nil || got != nil {
		t.Fatalf("without an applied plan: %v, %v; want nil, nil", got, err)
	}
}
