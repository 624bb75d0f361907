package inbound_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/internal/testlog"
	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/inbound"
	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/mailer"
	"github.com/campaignctl/campaignctl/runtime/mailer/smtptest"
	"github.com/campaignctl/campaignctl/runtime/metrics"
	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

const secret = "inbound-test-secret-0123456789"

// bundle: a fresh database, an engine that sends through the real SMTP client
// to a local relay, and the inbound listener on loopback (at most 4
// connections, a 5 s timeout; opts change the listener before it starts).
type bundle struct {
	st      *store.Store
	eng     *engine.Engine
	relay   *smtptest.Relay
	clock   *clock.Fake
	m       *metrics.Metrics
	inbound string // listener host:port
	log     *testlog.Buffer
	ctx     context.Context
}

func setup(t *testing.T, opts ...func(*inbound.Server)) *bundle {
	t.Helper()
	db, _ := storetest.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	db.MustExec(`CREATE TABLE contacts (id int PRIMARY KEY, email text, name text)`)
	db.MustExec(`INSERT INTO contacts SELECT i, 'c' || i || '@example.com', 'Contact ' || i FROM generate_series(1, 5) i`)
	st := &store.Store{DB: db}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	relay := smtptest.New()
	raddr, err := relay.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	signer, _ := links.NewSigner([]byte(secret))
	tokens, err := inbound.NewTokens([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	addrs := &inbound.Addresses{Tokens: tokens, BounceDomain: "bounces.shop.example", ReplyDomain: "replies.shop.example"}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	clk := clock.NewFake(t0)
	sm := &mailer.SMTP{Addr: raddr}
	t.Cleanup(func() { sm.Close() })
	logBuf := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logBuf, nil))
	eng := &engine.Engine{
		Store: st, Mailer: sm, Clock: clk, Links: signer, Metrics: m, Log: log,
		PublicURL: "http://mail.test", Inbound: addrs,
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &inbound.Server{Store: st, Addresses: addrs, Domains: []string{"shop.example"}, Objects: eng.ObjectOf,
		Clock: clk, Log: log, Metrics: m, MaxConns: 4, Timeout: 5 * time.Second}
	for _, o := range opts {
		o(srv)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &bundle{st: st, eng: eng, relay: relay, clock: clk, m: m, inbound: l.Addr().String(), log: logBuf, ctx: ctx}
}

func testPlan() *plan.Plan {
	p := &plan.Plan{
		Models: []plan.Model{{Name: "c", Table: "contacts", Key: "id", Email: "email", Fields: []plan.Field{
			{Name: "name", Column: "name", Type: plan.TypeString},
		}}},
		Segments:  []plan.Segment{{Name: "all", Model: "c", Filter: "true"}},
		Senders:   []plan.Sender{{Name: "news", From: "Shop <news@shop.example>"}},
		Templates: []plan.Template{{Name: "t", Subject: "Spring", Text: "Hi {{ .c.name }} {{ .unsubscribe_url }}", Class: plan.ClassMarketing}},
		Campaigns: []plan.Campaign{{Name: "spring", Segment: "all", Template: "t", Sender: "news", Class: plan.ClassMarketing}},
	}
	p.Finalize()
	return p
}

// sent is one message the relay received, by recipient.
type sent struct {
	envFrom, messageID, replyTo string
}

// sentBundle is setup with opts, then the test plan's messages sent (send),
// and the clock an hour on: where most tests of what comes back start.
func sentBundle(t *testing.T, opts ...func(*inbound.Server)) (*bundle, map[string]sent) {
	t.Helper()
	b := setup(t, opts...)
	msgs := b.send(t)
	b.clock.Advance(time.Hour)
	return b, msgs
}

func (b *bundle) send(t *testing.T) map[string]sent {
	t.Helper()
	p := testPlan()
	data, err := plan.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.InsertRevision(b.ctx, store.Revision{PlanHash: p.Hash, Plan: string(data), AppliedAt: b.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := b.eng.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := b.eng.SendDue(b.ctx); err != nil || n != 5 {
		t.Fatalf("sent %d (%v), want 5", n, err)
	}
	out := map[string]sent{}
	for _, d := range b.relay.Messages() {
		h := headerOf(t, d.Data)
		out[d.To[0]] = sent{envFrom: d.From, messageID: strings.Trim(h("Message-Id"), "<>"), replyTo: strings.Trim(h("Reply-To"), "<>")}
	}
	return out
}

func headerOf(t *testing.T, raw []byte) func(string) string {
	msg, err := mailParse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// deliver hands one message to the listener with a real SMTP client and
// returns the error of RCPT or DATA, if any.
func (b *bundle) deliver(t *testing.T, from, rcpt, body string) error {
	t.Helper()
	c, err := smtp.Dial(b.inbound)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, strings.ReplaceAll(body, "\n", "\r\n")); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func dsn(id, rcpt, action, status, diag, origReturnPath, origMsgID string) string {
	return fmt.Sprintf(`From: MAILER-DAEMON@mx.example.com
To: %s
Subject: Undelivered Mail Returned to Sender
Message-ID: <%s@mx.example.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BND"

--BND
Content-Type: text/plain

The mail system could not deliver your message.

--BND
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com
Arrival-Date: Tue, 1 Dec 2026 09:00:05 +0000

Final-Recipient: rfc822; %s
Original-Recipient: rfc822;%s
Action: %s
Status: %s
Diagnostic-Code: smtp; %s

--BND
Content-Type: text/rfc822-headers

Return-Path: <%s>
From: Shop <news@shop.example>
Message-ID: <%s>
Subject: Spring

--BND--
`, origReturnPath, id, rcpt, rcpt, action, status, diag, origReturnPath, origMsgID)
}

func arf(id, origReturnPath, origMsgID string) string {
	return fmt.Sprintf(`From: feedback@fbl.example.net
To: fbl@bounces.shop.example
Subject: FW: Spring
Message-ID: <%s@fbl.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="ARF"

--ARF
Content-Type: text/plain

This is an email abuse report.

--ARF
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeFBL/1.0
Version: 1
Original-Rcpt-To: <c4@example.com>

--ARF
Content-Type: message/rfc822

Return-Path: <%s>
From: Shop <news@shop.example>
To: c4@example.com
Message-ID: <%s>
Subject: Spring

Hi
--ARF--
`, id, origReturnPath, origMsgID)
}

type eventRow struct {
	Type, ContactKey, Campaign, Step, Model string
	Props                                   string
}

func (b *bundle) events(t *testing.T) []eventRow {
	t.Helper()
	var rows []struct {
		Type       string `db:"type"`
		ContactKey string `db:"contact_key"`
		Campaign   string `db:"campaign"`
		Step       string `db:"step"`
		Model      string `db:"model"`
		Props      string `db:"props"`
		AfterSend  bool   `db:"after_send"`
	}
	// The oracle: what the engine's enrollment-engagement query needs, an event
	// of the object and step no earlier than the message's sent_at.
	if err := b.st.DB.Select(&rows, `
SELECT e.type, e.contact_key, e.campaign, e.step, e.model,
       (e.properties - 'outbox_id' - 'diagnostic' - 'matched_by')::text AS props,
       e.occurred_at >= o.sent_at AS after_send
FROM campaignctl.events e
JOIN campaignctl.outbox o ON o.id = (e.properties->>'outbox_id')::bigint
ORDER BY e.contact_key, e.type`); err != nil {
		t.Fatal(err)
	}
	var out []eventRow
	for _, r := range rows {
		if !r.AfterSend {
			t.Errorf("event %s of contact %s is before its message was sent", r.Type, r.ContactKey)
		}
		out = append(out, eventRow{r.Type, r.ContactKey, r.Campaign, r.Step, r.Model, r.Props})
	}
	return out
}

func (b *bundle) suppressions(t *testing.T) map[string]string {
	t.Helper()
	var rows []struct {
		Email  string `db:"email_normalized"`
		Reason string `db:"reason"`
	}
	if err := b.st.DB.Select(&rows, `SELECT email_normalized, reason FROM campaignctl.suppressions`); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.Email] = r.Reason
	}
	return out
}

func TestInboundRepliesBouncesComplaints(t *testing.T) {
	if testing.Short() {
		t.Skip("database test")
	}
	b := setup(t)
	msgs := b.send(t)
	for rcpt, m := range msgs {
		if !strings.HasPrefix(m.envFrom, "bounce+") || !strings.HasSuffix(m.envFrom, "@bounces.shop.example") {
			t.Fatalf("%s: envelope sender %q is not a VERP address", rcpt, m.envFrom)
		}
		if !strings.HasPrefix(m.replyTo, "reply+") {
			t.Fatalf("%s: Reply-To %q is not a per-message address", rcpt, m.replyTo)
		}
	}
	b.clock.Advance(time.Hour)

	// c1 replies to the per-message Reply-To.
	if err := b.deliver(t, "c1@example.com", msgs["c1@example.com"].replyTo, "From: c1@example.com\nTo: "+msgs["c1@example.com"].replyTo+"\nSubject: Re: Spring\nMessage-ID: <r1@example.com>\n\nYes please!\n"); err != nil {
		t.Fatalf("reply: %v", err)
	}
	// c5 replies to the From address; matched by In-Reply-To.
	if err := b.deliver(t, "c5@example.com", "news@shop.example", "From: c5@example.com\nTo: news@shop.example\nSubject: Re: Spring\nMessage-ID: <r5@example.com>\nIn-Reply-To: <"+msgs["c5@example.com"].messageID+">\nReferences: <"+msgs["c5@example.com"].messageID+">\n\nTell me more\n"); err != nil {
		t.Fatalf("reply by In-Reply-To: %v", err)
	}
	// c2: a hard bounce (5.1.1), delivered twice.
	m2 := msgs["c2@example.com"]
	hard := dsn("d2", "c2@example.com", "failed", "5.1.1", "550 5.1.1 <c2@example.com>: Recipient address rejected: User unknown", m2.envFrom, m2.messageID)
	for i := 0; i < 2; i++ {
		if err := b.deliver(t, "", m2.envFrom, hard); err != nil {
			t.Fatalf("hard DSN %d: %v", i+1, err)
		}
	}
	// c3: a soft bounce (4.2.2 mailbox full).
	m3 := msgs["c3@example.com"]
	if err := b.deliver(t, "", m3.envFrom, dsn("d3", "c3@example.com", "failed", "4.2.2", "452 4.2.2 Mailbox full", m3.envFrom, m3.messageID)); err != nil {
		t.Fatalf("soft DSN: %v", err)
	}
	// c4: an ARF complaint to the feedback-loop address (no token); found
	// through the quoted original's Return-Path.
	m4 := msgs["c4@example.com"]
	if err := b.deliver(t, "feedback@fbl.example.net", "fbl@bounces.shop.example", arf("a4", m4.envFrom, m4.messageID)); err != nil {
		t.Fatalf("complaint: %v", err)
	}
	// A forged token: refused at RCPT, logged, nothing recorded.
	forged := strings.Replace(m3.envFrom, "-", "-0", 1)
	err := b.deliver(t, "", forged, dsn("d9", "c3@example.com", "failed", "5.1.1", "550 5.1.1 unknown", forged, ""))
	var se *smtp.SMTPError
	noMailbox := smtp.EnhancedCode{5, 1, 1}
	if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != noMailbox {
		t.Fatalf("forged token: got %v, want 550 5.1.1 at RCPT", err)
	}
	// A token for another purpose: a bounce token used as a reply address.
	replyForged := strings.Replace(strings.Split(m3.envFrom, "@")[0], "bounce+", "reply+", 1) + "@replies.shop.example"
	if err := b.deliver(t, "c3@example.com", replyForged, "Subject: hi\n\nhi\n"); !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != noMailbox {
		t.Fatalf("bounce token as a reply address: got %v, want 550 5.1.1", err)
	}
	// A retired token: signed under a secret no longer configured.
	retired, err := inbound.NewTokens([]byte("retired-secret-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.deliver(t, "", retired.LocalPart(inbound.PurposeBounce, 3)+"@bounces.shop.example", "Subject: hi\n\nhi\n"); !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != noMailbox {
		t.Fatalf("retired token: got %v, want 550 5.1.1", err)
	}
	// Another domain: not an open relay.
	if err := b.deliver(t, "x@example.com", "someone@elsewhere.example", "Subject: hi\n\nhi\n"); !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
		t.Fatalf("foreign domain: got %v, want 550 5.7.1", err)
	}
	// Malformed reports and an automatic answer: taken, logged, nothing recorded.
	malformed := []string{
		"From: x@mx.example.com\nMessage-ID: <m1@x>\nContent-Type: multipart/report; report-type=delivery-status\n\nno boundary\n",
		"From: x@mx.example.com\nMessage-ID: <m2@x>\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nonly text\n--B--\n",
		"From: x@mx.example.com\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"B\"\n\n--B\nContent-Type: message/feedback-report\n\n\x00\x01garbage\n--B",
		"this is not a message at all",
	}
	for i, body := range malformed {
		if err := b.deliver(t, "", m3.envFrom, body); err != nil {
			t.Fatalf("malformed %d: %v", i+1, err)
		}
	}
	if err := b.deliver(t, "c1@example.com", m2.envFrom, "From: c1@example.com\nAuto-Submitted: auto-replied\nSubject: Out of office\n\nAway\n"); err != nil {
		t.Fatalf("auto reply: %v", err)
	}

	want := []eventRow{
		{"reply", "1", "spring", "", "c", `{}`},
		{"bounce", "2", "spring", "", "c", `{"hard": true, "action": "failed", "status": "5.1.1", "verdict": "hard_bounce"}`},
		{"bounce", "3", "spring", "", "c", `{"hard": false, "action": "failed", "status": "4.2.2", "verdict": "retry"}`},
		{"complaint", "4", "spring", "", "c", `{"feedback_type": "abuse"}`},
		{"reply", "5", "spring", "", "c", `{}`},
	}
	got := b.events(t)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events:\n got %v\nwant %v", got, want)
	}
	if s, want := b.suppressions(t), map[string]string{"c2@example.com": "hard_bounce", "c4@example.com": "complaint"}; fmt.Sprint(s) != fmt.Sprint(want) {
		t.Errorf("suppressions %v, want %v", s, want)
	}
	for _, c := range []struct {
		c    prometheus.Collector
		want float64
	}{
		{b.m.Bounces.WithLabelValues("news", "hard"), 1},
		{b.m.Bounces.WithLabelValues("news", "soft"), 1},
		{b.m.Complaints.WithLabelValues("news"), 1},
		{b.m.Inbound.WithLabelValues("duplicate"), 1},
		{b.m.Inbound.WithLabelValues("forged"), 3},
		{b.m.Inbound.WithLabelValues("malformed"), 4},
		{b.m.Inbound.WithLabelValues("auto_reply"), 1},
	} {
		if got := testutil.ToFloat64(c.c); got != c.want {
			desc := make(chan *prometheus.Desc, 1)
			c.c.Describe(desc)
			t.Errorf("%v = %v, want %v", <-desc, got, c.want)
		}
	}
	logs := b.log.String()
	for _, want := range []string{"forged, altered or retired token", "message not understood", "already recorded"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// When the database cannot record a message, the listener answers 451 after
// the data, so the sender keeps the message and tries again (a 5xx would lose
// a bounce; a 250 would drop it): the retry, once the database works, records
// it. (README: the inbound listener.)
func TestInboundDatabaseFailureAnswers451(t *testing.T) {
	if testing.Short() {
		t.Skip("database test")
	}
	b, msgs := sentBundle(t)
	b.st.DB.MustExec(`CREATE FUNCTION fail_suppressions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'suppressions cannot be written in this test';
END $$`)
	b.st.DB.MustExec(`CREATE TRIGGER fail_suppressions BEFORE INSERT OR UPDATE ON campaignctl.suppressions FOR EACH ROW EXECUTE FUNCTION fail_suppressions()`)
	m2 := msgs["c2@example.com"]
	hard := dsn("d2", "c2@example.com", "failed", "5.1.1", "550 5.1.1 <c2@example.com>: Recipient address rejected: User unknown", m2.envFrom, m2.messageID)
	err := b.deliver(t, "", m2.envFrom, hard)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 {
		t.Fatalf("a bounce the database could not record: got %v, want 451 after the data", err)
	}
	if got := testutil.ToFloat64(b.m.Inbound.WithLabelValues("error")); got != 1 {
		t.Errorf("campaignctl_inbound_messages_total{result=\"error\"} = %v, want 1", got)
	}
	if len(b.suppressions(t)) != 0 {
		t.Fatalf("suppressions %v while the database refused them", b.suppressions(t))
	}
	// The sender tries again once the database works.
	b.st.DB.MustExec(`DROP TRIGGER fail_suppressions ON campaignctl.suppressions`)
	if err := b.deliver(t, "", m2.envFrom, hard); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if s := b.suppressions(t); s["c2@example.com"] != "hard_bounce" {
		t.Errorf("after the retry, suppressions %v; want c2 hard_bounce", s)
	}
	if ev := b.events(t); len(ev) != 1 || ev[0].Type != "bounce" {
		t.Errorf("after the retry, events %v; want one bounce", ev)
	}
}

// A Postgres restart while the listener runs (storetest.Outage). A report
// arriving meanwhile is answered 451, so the sending MTA keeps it; its retry
// once the database is back is recorded, once. (cmd/chaos restarts a private
// cluster with the whole daemon.)
func TestInboundPostgresRestartAnswers451ThenRecordsTheRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("database test")
	}
	b, msgs := sentBundle(t)
	back := storetest.Outage(t, b.st.DB)

	m2 := msgs["c2@example.com"]
	hard := dsn("d2", "c2@example.com", "failed", "5.1.1", "550 5.1.1 user unknown", m2.envFrom, m2.messageID)
	for i := 0; i < 2; i++ {
		err := b.deliver(t, "", m2.envFrom, hard)
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 451 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) {
			t.Fatalf("a bounce while Postgres is down (attempt %d): got %v, want 451 4.3.0", i+1, err)
		}
	}
	if got := testutil.ToFloat64(b.m.Inbound.WithLabelValues("error")); got != 2 {
		t.Errorf(`campaignctl_inbound_messages_total{result="error"} = %v, want 2`, got)
	}
	if !strings.Contains(b.log.String(), "could not record a message; the sender will retry") {
		t.Errorf("the failure is not logged:\n%s", b.log.String())
	}

	back()
	if err := b.deliver(t, "", m2.envFrom, hard); err != nil {
		t.Fatalf("the retry once Postgres is back: %v", err)
	}
	if err := b.deliver(t, "", m2.envFrom, hard); err != nil {
		t.Fatalf("a second retry (the MTA did not see the 250): %v", err)
	}
	if ev := b.events(t); len(ev) != 1 || ev[0].Type != "bounce" || ev[0].ContactKey != "2" {
		t.Errorf("events %v, want one bounce of contact 2", ev)
	}
	if s := b.suppressions(t); s["c2@example.com"] != "hard_bounce" || len(s) != 1 {
		t.Errorf("suppressions %v, want c2 hard_bounce", s)
	}
}

// One report delivered on several connections at once (two MX hosts, a relay
// retrying while its first try still runs): every delivery is answered 250,
// and each report records one event and one suppression.
func TestInboundSameReportOnConnectionsAtOnceRecordsOne(t *testing.T) {
	if testing.Short() {
		t.Skip("database test")
	}
	b, msgs := sentBundle(t)
	const copies = 3
	for rcpt, m := range msgs {
		hard := dsn("d-"+rcpt, rcpt, "failed", "5.1.1", "550 5.1.1 user unknown", m.envFrom, m.messageID)
		errs := make(chan error, copies)
		start := make(chan struct{})
		for range copies {
			go func() {
				<-start
				errs <- b.deliver(t, "", m.envFrom, hard)
			}()
		}
		close(start)
		for range copies {
			if err := <-errs; err != nil {
				t.Errorf("a copy of the bounce of %s: %v, want 250", rcpt, err)
			}
		}
	}
	perContact := map[string]int{}
	for _, e := range b.events(t) {
		if e.Type != "bounce" {
			t.Errorf("event %+v, want only bounces", e)
		}
		perContact[e.ContactKey]++
	}
	if len(perContact) != len(msgs) {
		t.Errorf("bounces of %d contacts %v, want %d", len(perContact), perContact, len(msgs))
	}
	for k, n := range perContact {
		if n != 1 {
			t.Errorf("contact %s has %d bounce events, want 1", k, n)
		}
	}
	if s := b.suppressions(t); len(s) != len(msgs) {
		t.Errorf("%d suppressions %v, want %d", len(s), s, len(msgs))
	}
	if got, want := testutil.ToFloat64(b.m.Inbound.WithLabelValues("duplicate")), float64(len(msgs)*(copies-1)); got != want {
		t.Errorf(`campaignctl_inbound_messages_total{result="duplicate"} = %v, want %v`, got, want)
	}
}
