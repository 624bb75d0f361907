package inbound_test

import (
	"bytes"
	"net/mail"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// What the listener records steers the engine: a sequence's step on
// `replied` goes to the contact who answered through the per-message Reply-To,
// `ignored` to everyone else but the one whose DSN came back: its hard bounce
// suppresses the address, which ends its sequence when its next step comes
// due (it exits unsubscribed; a `bounced` step reaches only an address still
// mailable).
func TestRepliesAndBouncesThroughTheListenerDriveBranches(t *testing.T) {
	if testing.Short() {
		t.Skip("database test")
	}
	b := setup(t)
	p := testPlan()
	p.Campaigns = nil
	tpl := func(name, subject string) plan.Template {
		return plan.Template{Name: name, Subject: subject, Text: "Hi {{ .c.name }} {{ .unsubscribe_url }}", Class: plan.ClassMarketing}
	}
	p.Templates = append(p.Templates, tpl("thanks", "Thanks for answering"), tpl("nudge", "Did you see it?"), tpl("fix", "Check your address"))
	p.Sequences = []plan.Sequence{{Name: "drip", Model: "c", Segment: "all", Sender: "news", Steps: []plan.SequenceStep{
		{Name: "hello", Offset: "0d", Template: "t"},
		{Name: "thanks", Offset: "3d", Template: "thanks", When: &plan.Engagement{Step: "hello", Event: "replied"}},
		{Name: "nudge", Offset: "3d", Template: "nudge", When: &plan.Engagement{Step: "hello", Event: "ignored"}},
		{Name: "fix", Offset: "3d", Template: "fix", When: &plan.Engagement{Step: "hello", Event: "bounced"}},
	}}}
	p.Finalize()
	data, err := plan.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.InsertRevision(b.ctx, store.Revision{PlanHash: p.Hash, Plan: string(data), AppliedAt: b.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	pass := func() {
		t.Helper()
		if err := b.eng.Reconcile(b.ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := b.eng.AdvanceDue(b.ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := b.eng.SendDue(b.ctx); err != nil {
			t.Fatal(err)
		}
	}
	pass()
	first := map[string]sent{}
	for _, d := range b.relay.Messages() {
		h := headerOf(t, d.Data)
		first[d.To[0]] = sent{envFrom: d.From, messageID: strings.Trim(h("Message-Id"), "<>"), replyTo: strings.Trim(h("Reply-To"), "<>")}
	}
	if len(first) != 5 {
		t.Fatalf("step hello reached %d contacts, want 5", len(first))
	}
	b.clock.Advance(time.Hour)
	m1 := first["c1@example.com"]
	if err := b.deliver(t, "c1@example.com", m1.replyTo, "From: c1@example.com\nTo: "+m1.replyTo+"\nSubject: Re: Spring\nMessage-ID: <b1@example.com>\n\nYes!\n"); err != nil {
		t.Fatalf("reply: %v", err)
	}
	m2 := first["c2@example.com"]
	if err := b.deliver(t, "", m2.envFrom, dsn("db2", "c2@example.com", "failed", "5.1.1", "550 5.1.1 <c2@example.com>: User unknown", m2.envFrom, m2.messageID)); err != nil {
		t.Fatalf("DSN: %v", err)
	}
	b.clock.Advance(3 * 24 * time.Hour)
	pass()

	var got []string
	for _, d := range b.relay.Messages()[5:] {
		msg, err := mail.ReadMessage(bytes.NewReader(d.Data))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.To[0]+" "+msg.Header.Get("Subject"))
	}
	sort.Strings(got)
	want := []string{
		"c1@example.com Thanks for answering",
		"c3@example.com Did you see it?",
		"c4@example.com Did you see it?",
		"c5@example.com Did you see it?",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("day 3:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// c2's address is suppressed by the hard bounce: the sequence ends for
	// it when its next step comes due, saying why, and nothing more is
	// enqueued for it (its "fix" step would only be cancelled at the claim).
	var exit struct {
		State  string `db:"state"`
		Reason string `db:"reason"`
		Rows   int    `db:"rows"`
	}
	if err := b.st.DB.Get(&exit, `SELECT state, coalesce(exit_reason, '') AS reason,
    (SELECT count(*) FROM campaignctl.outbox WHERE campaign = 'drip' AND contact_key = '2' AND step <> 'hello') AS rows
FROM campaignctl.enrollments WHERE object = 'drip' AND contact_key = '2'`); err != nil {
		t.Fatal(err)
	}
	if exit.State != "exited" || exit.Reason != "unsubscribed" || exit.Rows != 0 {
		t.Errorf("c2 after its hard bounce: enrollment %s %s, %d later messages enqueued; want exited unsubscribed, none", exit.State, exit.Reason, exit.Rows)
	}
}

// List-Unsubscribe carries the https one-click link and a mailto: to the
// listener; mail to the mailto: unsubscribes the message's address, and an
// altered token is refused.
func TestListUnsubscribeMailto(t *testing.T) {
	if testing.Short() {
		t.Skip("database test")
	}
	b := setup(t)
	b.send(t)
	var mailto string
	for _, d := range b.relay.Messages() {
		if d.To[0] != "c3@example.com" {
			continue
		}
		h := headerOf(t, d.Data)
		lu := h("List-Unsubscribe")
		https, rest, ok := strings.Cut(lu, ">, <mailto:")
		if !ok || !strings.HasPrefix(https, "<http://mail.test/u/") || !strings.HasSuffix(rest, "@bounces.shop.example>") {
			t.Fatalf("List-Unsubscribe %q: want <https link>, <mailto:unsubscribe+…@bounces.shop.example>", lu)
		}
		mailto = strings.TrimSuffix(rest, ">")
	}
	if !strings.HasPrefix(mailto, "unsubscribe+") {
		t.Fatalf("mailto %q", mailto)
	}
	if err := b.deliver(t, "c3@example.com", strings.Replace(mailto, "-", "-0", 1), "Subject: unsubscribe\n\n"); err == nil {
		t.Error("an altered unsubscribe token was accepted")
	}
	if err := b.deliver(t, "c3@example.com", mailto, "From: c3@example.com\nSubject: unsubscribe\n\n"); err != nil {
		t.Fatalf("mail to the mailto: %v", err)
	}
	if got := b.suppressions(t); got["c3@example.com"] != "unsubscribed" || len(got) != 1 {
		t.Errorf("suppressions %v, want only c3 unsubscribed", got)
	}
}
