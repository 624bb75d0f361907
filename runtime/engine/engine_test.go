package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/httpapi"
	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/mailer"
	"github.com/campaignctl/campaignctl/runtime/mailer/smtpcapture"
	"github.com/campaignctl/campaignctl/runtime/metrics"
	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// bundle is one engine wired to a fresh database and a real SMTP capture server.
type bundle struct {
	st    *store.Store
	eng   *engine.Engine
	smtp  *smtpcapture.Server
	clock *clock.Fake
	reg   *prometheus.Registry
	ctx   context.Context
}

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func setup(t testing.TB, contacts int) *bundle {
	t.Helper()
	db := migratedDB(t)
	ctx := context.Background()
	db.MustExec(`CREATE TABLE contacts (id int PRIMARY KEY, email text, name text, active bool NOT NULL)`)
	db.MustExec(`INSERT INTO contacts SELECT i, 'c' || i || '@example.com', 'Contact ' || i, i % 2 = 0 FROM generate_series(1, $1) i`, contacts)
	st := &store.Store{DB: db}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv := smtpcapture.New("")
	addr, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	signer, _ := links.NewSigner([]byte("test-secret-0123456789"))
	reg := prometheus.NewRegistry()
	clk := clock.NewFake(t0)
	m := &mailer.SMTP{Addr: addr.String()}
	t.Cleanup(func() { m.Close() })
	eng := &engine.Engine{
		Store: st, Mailer: m, Clock: clk, Links: signer, Metrics: metrics.New(reg),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), PublicURL: "http://mail.test", BatchSize: 7,
	}
	return &bundle{st: st, eng: eng, smtp: srv, clock: clk, reg: reg, ctx: ctx}
}

// migratedDB is a fresh database holding the migrated schema: a copy of a
// template migrated once per test binary (the setups still call Migrate,
// which finds nothing to apply).
func migratedDB(t testing.TB) *sqlx.DB {
	t.Helper()
	db, _ := storetest.OpenFromTemplate(t, "migrated", func(ctx context.Context, db *sqlx.DB) error {
		_, err := (&store.Store{DB: db}).Migrate(ctx)
		return err
	})
	return db
}

func testPlan(subject string, campaigns ...plan.Campaign) *plan.Plan {
	p := &plan.Plan{
		Models: []plan.Model{{Name: "c", Table: "contacts", Key: "id", Email: "email", Fields: []plan.Field{
			{Name: "name", Column: "name", Type: plan.TypeString},
			{Name: "active", Column: "active", Type: plan.TypeBool},
		}}},
		Segments:  []plan.Segment{{Name: "active", Model: "c", Filter: "c.active"}},
		Senders:   []plan.Sender{{Name: "s", From: "Shop <news@shop.example>"}},
		Templates: []plan.Template{{Name: "t", Subject: subject, Text: "Hi {{ .c.name }} {{ .unsubscribe_url }}", Class: plan.ClassMarketing}},
		Campaigns: campaigns,
	}
	p.Finalize()
	return p
}

func campaign(name, sendAt string) plan.Campaign {
	return plan.Campaign{Name: name, Segment: "active", Template: "t", Sender: "s", SendAt: sendAt, Class: plan.ClassMarketing}
}

func (b *bundle) apply(t testing.TB, p *plan.Plan) {
	t.Helper()
	data, err := plan.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.InsertRevision(b.ctx, store.Revision{PlanHash: p.Hash, Plan: string(data), AppliedAt: b.clock.Now()}); err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) pass(t *testing.T) int {
	t.Helper()
	if err := b.eng.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	n, err := b.eng.SendDue(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.eng.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestScheduledCampaignWaitsForItsTime(t *testing.T) {
	t.Parallel()
	b := setup(t, 20)
	b.apply(t, testPlan("Hello", campaign("later", t0.Add(2*time.Hour).Format(time.RFC3339))))
	if n := b.pass(t); n != 0 {
		t.Fatalf("sent %d before send_at", n)
	}
	b.clock.Advance(2 * time.Hour)
	if n := b.pass(t); n != 10 {
		t.Fatalf("sent %d at send_at, want the 10 active contacts", n)
	}
	if got := testutil.ToFloat64(b.eng.Metrics.Messages.WithLabelValues("campaign", "later", "", "", "sent")); got != 10 {
		t.Fatalf("metric says %v sent", got)
	}
}

func TestChangedTemplateDoesNotResend(t *testing.T) {
	t.Parallel()
	b := setup(t, 20)
	b.apply(t, testPlan("First", campaign("c", "")))
	if n := b.pass(t); n != 10 {
		t.Fatalf("first pass sent %d", n)
	}
	b.apply(t, testPlan("Second subject", campaign("c", "")))
	if n := b.pass(t); n != 0 {
		t.Fatalf("changed template re-sent %d messages", n)
	}
	cs, _ := b.st.Campaigns(b.ctx)
	if len(cs) != 1 || cs[0].Status != store.StatusSent {
		t.Fatalf("campaigns: %+v", cs)
	}
}

// A campaign removed and added again (here with another subject) is
// materialized again: the outbox's unique key is then all that keeps the
// contacts it already mailed from a second copy, while contacts who joined the
// segment meanwhile do get it.
func TestReaddedCampaignMailsOnlyWhoItHasNot(t *testing.T) {
	t.Parallel()
	b := setup(t, 20)
	b.apply(t, testPlan("First", campaign("c", "")))
	if n := b.pass(t); n != 10 {
		t.Fatalf("first pass sent %d, want 10", n)
	}
	b.apply(t, testPlan("First"))
	if n := b.pass(t); n != 0 {
		t.Fatalf("removing the campaign sent %d", n)
	}
	b.st.DB.MustExec(`INSERT INTO contacts VALUES (101, 'new1@example.com', 'New 1', true), (102, 'C2@Example.com', 'Same address as 2', true)`)
	b.apply(t, testPlan("Second subject", campaign("c", "")))
	if n := b.pass(t); n != 1 {
		t.Fatalf("the re-added campaign sent %d messages; want 1 (the one new address: the other is contact 2's again)", n)
	}
	var n int
	b.st.DB.Get(&n, `SELECT count(*) FROM campaignctl.outbox WHERE campaign = 'c' AND status = 'sent'`)
	if n != 11 {
		t.Fatalf("%d sent rows, want 11", n)
	}
}

// Sending starts with the first batch of a campaign's audience, so the
// outbox's planner statistics are refreshed while the audience is being
// materialized (store.OutboxGrowth), not once at the end: with those of an
// empty outbox, every ledger write scanned all the rows enqueued so far, and
// the send benchmark ran at a third of its rate until the end of the
// materialization.
func TestMaterializingRefreshesStatisticsBeforeTheEnd(t *testing.T) {
	t.Parallel()
	b := setup(t, 10000) // active: 5,000
	b.eng.BatchSize = 500
	b.apply(t, testPlan("Hi", campaign("c", "")))
	if err := b.eng.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	var analyzed int
	if err := b.st.DB.Get(&analyzed, `SELECT analyze_count FROM pg_stat_user_tables WHERE relid = 'campaignctl.outbox'::regclass`); err != nil {
		t.Fatal(err)
	}
	// At 1,000 and 4,000 rows; 5,000 is under twice 4,000, so none at the end.
	if analyzed != 2 {
		t.Fatalf("the outbox was analyzed %d times while 5,000 rows were materialized; want 2 (at 1,000 and 4,000 rows)", analyzed)
	}
}

func TestRemovedCampaignStopsPendingSends(t *testing.T) {
	t.Parallel()
	b := setup(t, 20)
	b.apply(t, testPlan("Hi", campaign("c", "")))
	// Materialize without sending, then remove the campaign from the plan.
	if err := b.eng.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.apply(t, testPlan("Hi"))
	if n := b.pass(t); n != 0 {
		t.Fatalf("removed campaign still sent %d", n)
	}
	counts, _ := b.st.CampaignCounts(b.ctx)
	if len(counts) != 1 || counts[0].Status != "cancelled" || counts[0].N != 10 {
		t.Fatalf("outbox: %+v", counts)
	}
}

func TestTemporaryFailureRetriesAndHardBounceSuppresses(t *testing.T) {
	t.Parallel()
	b := setup(t, 6) // active: 2, 4, 6
	b.smtp.RejectRecipient(func(rcpt string) *smtp.SMTPError {
		switch rcpt {
		case "c2@example.com":
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		case "c4@example.com":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	})
	b.apply(t, testPlan("Hi", campaign("c", "")))
	if n := b.pass(t); n != 1 {
		t.Fatalf("sent %d, want 1 (c6)", n)
	}
	if sup, _ := b.st.IsSuppressed(b.ctx, "C4@example.com "); !sup {
		t.Fatal("hard bounce did not suppress the address")
	}
	// The 4xx recipient recovers; it is retried only after its backoff.
	b.smtp.RejectRecipient(nil)
	if n := b.pass(t); n != 0 {
		t.Fatalf("retried before backoff: %d", n)
	}
	b.clock.Advance(10 * time.Minute)
	if n := b.pass(t); n != 1 {
		t.Fatalf("retry after backoff sent %d, want 1", n)
	}
	if got := testutil.ToFloat64(b.eng.Metrics.Messages.WithLabelValues("campaign", "c", "", "", "retry")); got != 1 {
		t.Fatalf("retry metric %v", got)
	}
}

func TestUnsubscribeLinkSuppressesLaterCampaigns(t *testing.T) {
	t.Parallel()
	b := setup(t, 4) // active: 2, 4
	b.apply(t, testPlan("Hi", campaign("first", "")))
	b.pass(t)
	var link string
	for _, m := range b.smtp.Messages() {
		if m.To[0] == "c2@example.com" {
			_, rest, _ := strings.Cut(string(m.Data), "List-Unsubscribe: <")
			link, _, _ = strings.Cut(rest, ">")
		}
	}
	if !strings.HasPrefix(link, "http://mail.test/u/") {
		t.Fatalf("no List-Unsubscribe link: %q", link)
	}
	srv := &httpapi.Server{Gatherer: b.reg, DB: b.st.DB, Suppressor: b.st, Links: b.eng.Links, Clock: b.clock, Log: b.eng.Log}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	u, _ := url.Parse(link)
	// RFC 8058 one-click: a POST with List-Unsubscribe=One-Click.
	resp, err := http.Post(ts.URL+u.Path, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("unsubscribe: %s", resp.Status)
	}
	// A tampered token is refused.
	resp, _ = http.Post(ts.URL+u.Path+"x", "", nil)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("tampered token: %s", resp.Status)
	}

	before := b.smtp.Count()
	b.apply(t, testPlan("Hi", campaign("first", ""), campaign("second", "")))
	b.pass(t)
	var to []string
	for _, m := range b.smtp.Messages()[before:] {
		to = append(to, m.To[0])
	}
	if fmt.Sprint(to) != "[c4@example.com]" {
		t.Fatalf("second campaign went to %v, want only c4", to)
	}

	// Metrics are served and carry no contact data.
	mr, _ := http.Get(ts.URL + "/metrics")
	body, _ := io.ReadAll(mr.Body)
	mr.Body.Close()
	if !bytes.Contains(body, []byte(`campaignctl_messages_total{kind="campaign",object="second",status="sent",step="",variant=""} 1`)) {
		t.Fatalf("metrics:\n%s", body)
	}
	if bytes.Contains(body, []byte("@example.com")) {
		t.Fatal("contact data in metrics")
	}
}

// TestReconcileKeepsEventPartitionsAheadOfTheClock: as the clock moves into a new
// month, the leader creates the events partitions up to three months ahead, so
// events never pile up in the default partition of a long-running daemon.
// Partitions are UTC months whatever the clock's zone: at 09:00 UTC on the 1st it
// is still the previous month in -10:00.
func TestReconcileKeepsEventPartitionsAheadOfTheClock(t *testing.T) {
	t.Parallel()
	for _, zone := range []*time.Location{time.UTC, time.FixedZone("+14", 14*3600), time.FixedZone("-10", -10*3600)} {
		t.Run(zone.String(), func(t *testing.T) {
			b := setup(t, 4)
			b.clock.Set(t0.In(zone))
			b.apply(t, testPlan("Hello"))
			partition := func(at time.Time) bool {
				var ok bool
				name := "campaignctl." + store.EventPartitionName(at)
				if err := b.st.DB.Get(&ok, `SELECT to_regclass($1) IS NOT NULL`, name); err != nil {
					t.Fatal(err)
				}
				return ok
			}
			later := t0.AddDate(0, 14, 0)
			if partition(later.AddDate(0, 3, 0)) {
				t.Fatalf("partition for %s exists before the clock gets near it", later.AddDate(0, 3, 0).Format("2006-01"))
			}
			b.clock.Advance(later.Sub(t0))
			if err := b.eng.Reconcile(b.ctx); err != nil {
				t.Fatal(err)
			}
			for _, m := range []int{-1, 0, 1, 2, 3} {
				if at := later.AddDate(0, m, 0); !partition(at) {
					t.Errorf("no events partition for %s after reconciling at %s", at.Format("2006-01"), later.Format("2006-01-02"))
				}
			}
		})
	}
}

// TestMessagesCarryTheContactsFieldsReadAtSendTime: a batch's contacts are read
// when it is claimed (one query per model), so a name fixed in the CRM after
// materialization is used, and a contact deleted since fails its own message only.
func TestMessagesCarryTheContactsFieldsReadAtSendTime(t *testing.T) {
	t.Parallel()
	b := setup(t, 6) // active: 2, 4, 6
	b.apply(t, testPlan("Hi", campaign("c", "")))
	if err := b.eng.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.st.DB.MustExec(`UPDATE contacts SET name = 'Zoë Renamed' WHERE id = 2`)
	b.st.DB.MustExec(`UPDATE contacts SET name = NULL WHERE id = 6`)
	b.st.DB.MustExec(`DELETE FROM contacts WHERE id = 4`)
	n, err := b.eng.SendDue(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("sent %d, want 2 (c2 and c6; c4 is gone)", n)
	}
	byRcpt := map[string]string{}
	for _, m := range b.smtp.Messages() {
		byRcpt[m.To[0]] = string(m.Data)
	}
	for rcpt, want := range map[string][]string{
		"c2@example.com": {"Hi Zo", "Renamed", "To: =?utf-8?q?Zo=C3=AB_Renamed?= <c2@example.com>"},
		"c6@example.com": {"To: <c6@example.com>\r\n"}, // NULL name: the bare address
	} {
		data, ok := byRcpt[rcpt]
		if !ok {
			t.Errorf("no message to %s; got %d messages", rcpt, len(byRcpt))
			continue
		}
		for _, w := range want {
			if !strings.Contains(data, w) {
				t.Errorf("message to %s lacks %q:\n%s", rcpt, w, data)
			}
		}
	}
	var lastError string
	if err := b.st.DB.Get(&lastError, `SELECT last_error FROM campaignctl.outbox WHERE contact_key = '4' AND status = 'failed'`); err != nil {
		t.Fatalf("the deleted contact's message is not failed: %v", err)
	}
	if want := "loading contact 4 from contacts: sql: no rows in result set"; lastError != want {
		t.Errorf("last_error = %q, want %q", lastError, want)
	}
}

// BenchmarkSendDue measures the send path (claim, read the contacts, render, SMTP
// to a capture server on loopback, record) for one campaign of 1,000 messages.
func BenchmarkSendDue(bm *testing.B) {
	const contacts = 2000 // half of them active
	b := setup(bm, contacts)
	b.eng.BatchSize = 500
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		bm.StopTimer()
		b.apply(bm, testPlan("Hi", campaign(fmt.Sprintf("c%d", i), "")))
		if err := b.eng.Reconcile(b.ctx); err != nil {
			bm.Fatal(err)
		}
		bm.StartTimer()
		n, err := b.eng.SendDue(b.ctx)
		if err != nil || n != contacts/2 {
			bm.Fatalf("sent %d, %v; want %d", n, err, contacts/2)
		}
	}
	bm.ReportMetric(float64(contacts/2*bm.N)/bm.Elapsed().Seconds(), "messages/s")
}

// A model needs no fields: a key and an address are enough for a template
// that reads nothing of the contact. Its contacts were read with
// "SELECT key::text, FROM ...", a syntax error the daemon retried for days.
func TestModelWithoutFieldsSends(t *testing.T) {
	b := setup(t, 0)
	b.st.DB.MustExec(`CREATE TABLE bare (id int PRIMARY KEY, email text NOT NULL)`)
	b.st.DB.MustExec(`INSERT INTO bare VALUES (1, 'one@example.com'), (2, 'two@example.com')`)
	p := &plan.Plan{
		Models:    []plan.Model{{Name: "bare", Table: "bare", Key: "id", Email: "email"}},
		Segments:  []plan.Segment{{Name: "all", Model: "bare", Filter: "true"}},
		Senders:   []plan.Sender{{Name: "s", From: "Shop <news@shop.example>"}},
		Templates: []plan.Template{{Name: "t", Subject: "Hi", Text: "Hello {{ .unsubscribe_url }}", Class: plan.ClassMarketing}},
		Campaigns: []plan.Campaign{{Name: "bare", Segment: "all", Template: "t", Sender: "s", Class: plan.ClassMarketing}},
	}
	p.Finalize()
	b.apply(t, p)
	if n := b.pass(t); n != 2 {
		var errs []string
		_ = b.st.DB.Select(&errs, `SELECT coalesce(last_error, '') FROM campaignctl.outbox`)
		t.Fatalf("sent %d of 2 to a model without fields; outbox errors %q", n, errs)
	}
}
