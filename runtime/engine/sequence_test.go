package engine_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/abtest"
	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/mailer"
	"github.com/campaignctl/campaignctl/runtime/mailer/smtptest"
	"github.com/campaignctl/campaignctl/runtime/metrics"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// The seed's restock nurture (campaigns/restock_nurture.hcl), run through its
// three weeks on a real Postgres and a real SMTP relay with a hand-moved clock.
// The expected recipients of every step are computed here, independently of
// the engine, from the scripted population and the injected events, and
// compared as sets of (address, subject). Replicas and a restart are mixed in.

const (
	subjUrgent   = "Limited items are back in stock"
	subjPersonal = "Your items are back"
	subjIgnored  = "Stock is running low"
	subjClicked  = "You still have time"
	subjWeek3    = "20 percent off"
)

func nurturePlan() *plan.Plan {
	tpl := func(name, subject string) plan.Template {
		return plan.Template{Name: name, Subject: subject, Text: "Hello {{ .lead.name }} {{ .unsubscribe_url }}", Class: plan.ClassMarketing}
	}
	p := &plan.Plan{
		Models: []plan.Model{{Name: "lead", Table: "leads", Key: "id", Email: "email", Fields: []plan.Field{
			{Name: "name", Column: "name", Type: plan.TypeString},
			{Name: "stage", Column: "stage", Type: plan.TypeString},
			{Name: "lost_reason", Column: "lost_reason", Type: plan.TypeString},
		}}},
		Segments: []plan.Segment{{Name: "restock_waitlist", Model: "lead", Filter: `lead.lost_reason == "Not enough stock"`}},
		Senders:  []plan.Sender{{Name: "warehouse", From: "Warehouse <stock@shop.example>"}},
		Templates: []plan.Template{
			tpl("restock_week1", subjUrgent), tpl("restock_week2_ignored", subjIgnored),
			tpl("restock_week2_clicked", subjClicked), tpl("restock_week3", subjWeek3),
		},
		Sequences: []plan.Sequence{{
			Name: "restock_nurture", Model: "lead", Segment: "restock_waitlist", Sender: "warehouse",
			Goal: `lead.stage == "Won"`,
			Steps: []plan.SequenceStep{
				{Name: "week1", Offset: "0d", Template: "restock_week1", ABTest: &plan.ABTest{
					TestPercent: 20, Metric: "open_rate", DecideAfter: "4h", Inconclusive: "send_first",
					Variants: []plan.Variant{{Name: "urgent", Subject: subjUrgent}, {Name: "personal", Subject: subjPersonal}},
				}},
				{Name: "week2_ignored", Offset: "7d", Template: "restock_week2_ignored", When: &plan.Engagement{Step: "week1", Event: "ignored"}},
				{Name: "week2_clicked", Offset: "7d", Template: "restock_week2_clicked", When: &plan.Engagement{Step: "week1", Event: "clicked"}},
				{Name: "week3", Offset: "14d", Template: "restock_week3"},
			},
		}},
	}
	p.Finalize()
	return p
}

// lead is one scripted contact.
type lead struct {
	id    int
	email string
	match bool
}

type nurtureBundle struct {
	*bundle
	relay *smtptest.Relay
	addr  string
	leads []lead
}

func setupNurture(t *testing.T, n int) *nurtureBundle {
	t.Helper()
	db := migratedDB(t)
	st := &store.Store{DB: db}
	st.SetMaxConns(16)
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`CREATE TABLE leads (id int PRIMARY KEY, email text, name text, stage text NOT NULL DEFAULT 'New', lost_reason text)`)
	nb := &nurtureBundle{}
	var ids []int
	var emails, reasons []string
	for i := 1; i <= n; i++ {
		l := lead{id: i, email: fmt.Sprintf("lead%d@example.com", i), match: i%5 != 0}
		if i%50 == 7 && i > 1 {
			// The same person twice: same address, other case and spaces.
			l.email = fmt.Sprintf(" LEAD%d@Example.com ", i-1)
		}
		reason := "Not enough stock"
		if !l.match {
			reason = "Price"
		}
		nb.leads = append(nb.leads, l)
		ids, emails, reasons = append(ids, i), append(emails, l.email), append(reasons, reason)
	}
	for i := range ids {
		db.MustExec(`INSERT INTO leads (id, email, name, lost_reason) VALUES ($1, $2, $3, $4)`, ids[i], emails[i], fmt.Sprintf("Lead %d", ids[i]), reasons[i])
	}
	r := smtptest.New()
	addr, err := r.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	nb.relay, nb.addr = r, addr
	nb.bundle = &bundle{st: st, clock: clock.NewFake(t0), reg: prometheus.NewRegistry(), ctx: t.Context()}
	nb.eng = nb.replica(t, "r0")
	return nb
}

func (nb *nurtureBundle) replica(t *testing.T, worker string) *engine.Engine {
	m := &mailer.SMTP{Addr: nb.addr, DataTimeout: 5 * time.Second, CommandTimeout: 5 * time.Second, DialTimeout: time.Second}
	t.Cleanup(func() { m.Close() })
	signer, _ := links.NewSigner([]byte("test-secret-0123456789"))
	return &engine.Engine{
		Store: nb.st, Mailer: m, Clock: nb.clock, Links: signer, Metrics: metrics.New(prometheus.NewRegistry()),
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		PublicURL: "http://mail.test", Worker: worker, BatchSize: 64, Concurrency: 4,
	}
}

// step runs one round on the given engines: the leader's reconcile, then every
// replica advancing and sending at once.
func (nb *nurtureBundle) step(t *testing.T, engines ...*engine.Engine) {
	t.Helper()
	if err := engines[0].Reconcile(nb.ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(engines))
	for _, e := range engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.AdvanceDue(nb.ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	for _, e := range engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.SendDue(nb.ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func (nb *nurtureBundle) event(t *testing.T, id int, typ string, at time.Time) {
	t.Helper()
	nb.st.DB.MustExec(`INSERT INTO campaignctl.events (occurred_at, model, contact_key, type, campaign, step) VALUES ($1, 'lead', $2, $3, 'restock_nurture', 'week1')`,
		at, fmt.Sprint(id), typ)
}

// received returns the relay's messages as "address|subject" → count.
func received(t *testing.T, r *smtptest.Relay) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range r.Messages() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range m.To {
			out[strings.ToLower(to)+"|"+msg.Header.Get("Subject")]++
		}
	}
	return out
}

func TestSeedNurtureRunsExactlyAsWritten(t *testing.T) {
	t.Parallel()
	const n = 1000
	nb := setupNurture(t, n)
	seq := nurturePlan()
	ab := seq.Sequences[0].Steps[0].ABTest
	norm := func(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

	// The audience: matching leads, one per address (the lowest id keeps it),
	// minus those who unsubscribed before the sequence started.
	unsubscribed := map[string]bool{}
	for i := 3; i <= n; i += 37 {
		e := norm(nb.leads[i-1].email)
		unsubscribed[e] = true
		if err := nb.st.Suppress(nb.ctx, e, "unsubscribed", "", t0); err != nil {
			t.Fatal(err)
		}
	}
	var audience []lead
	seenAddr := map[string]bool{}
	for _, l := range nb.leads {
		if !l.match || seenAddr[norm(l.email)] {
			continue
		}
		seenAddr[norm(l.email)] = true
		audience = append(audience, l)
	}
	want := map[string]int{}
	expect := func(l lead, subject string) { want[norm(l.email)+"|"+subject]++ }

	nb.apply(t, seq)

	// Day 0: the test group gets its variants.
	nb.step(t, nb.eng)
	inTest := map[int]string{}
	for _, l := range audience {
		if v, ok := abtest.Assign("sequence", "restock_nurture", "week1", fmt.Sprint(l.id), ab); ok {
			inTest[l.id] = v
			if !unsubscribed[norm(l.email)] {
				expect(l, map[string]string{"urgent": subjUrgent, "personal": subjPersonal}[v])
			}
		}
	}
	if got := len(received(t, nb.relay)); got == 0 {
		t.Fatal("day 0: no test message sent")
	}
	assertReceived(t, "day 0 (test group)", nb.relay, want)

	// The test's opens favour "personal": 60% of its recipients open, 10% of "urgent"'s.
	k := 0
	for id, v := range inTest {
		k++
		if (v == "personal" && k%10 < 6) || (v == "urgent" && k%10 == 0) {
			nb.event(t, id, "open", t0.Add(time.Hour))
		}
	}

	// +5h: the decision (winner personal), then the rest gets the winner.
	nb.clock.Advance(5 * time.Hour)
	nb.step(t, nb.eng)
	var decided []store.ABDecision
	if decided, _ = nb.st.ABDecisions(nb.ctx); len(decided) != 1 || decided[0].Winner != "personal" || !decided[0].Significant {
		t.Fatalf("A/B decisions after 5h: %+v, want personal significant", decided)
	}
	for _, l := range audience {
		if _, ok := inTest[l.id]; !ok && !unsubscribed[norm(l.email)] {
			expect(l, subjPersonal)
		}
	}
	assertReceived(t, "week 1", nb.relay, want)

	// Week 1 engagement: a third click, a third only open, the rest ignore it;
	// a few hard-bounce asynchronously (a bounce is not "ignored").
	clicked, opened, bounced := map[int]bool{}, map[int]bool{}, map[int]bool{}
	for i, l := range audience {
		if unsubscribed[norm(l.email)] {
			continue
		}
		at := t0.Add(6 * time.Hour)
		switch {
		case i%31 == 0:
			bounced[l.id] = true
			nb.event(t, l.id, "bounce", at)
		case i%3 == 0:
			clicked[l.id] = true
			nb.event(t, l.id, "click", at)
		case i%3 == 1:
			opened[l.id] = true
			nb.event(t, l.id, "open", at)
		}
	}
	// Inject the test group's opens into the expectations too.
	var testOpened = map[int]bool{}
	rows, err := nb.st.DB.Query(`SELECT DISTINCT contact_key::int FROM campaignctl.events WHERE type = 'open' AND occurred_at < $1`, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int
		rows.Scan(&id)
		testOpened[id] = true
	}
	rows.Close()

	// A restart: a new engine (no state in memory) takes over for week 2, with
	// two more replicas.
	nb.clock.Advance(7*24*time.Hour - 5*time.Hour)
	r1, r2, r3 := nb.replica(t, "r1"), nb.replica(t, "r2"), nb.replica(t, "r3")
	nb.step(t, r1, r2, r3)
	for _, l := range audience {
		if unsubscribed[norm(l.email)] {
			continue
		}
		switch {
		case clicked[l.id]:
			expect(l, subjClicked)
		case !opened[l.id] && !bounced[l.id] && !testOpened[l.id]:
			expect(l, subjIgnored)
		}
	}
	assertReceived(t, "week 2", nb.relay, want)

	// Some convert during week 2; they get nothing further.
	won := map[int]bool{}
	for i, l := range audience {
		if i%4 == 1 {
			won[l.id] = true
			nb.st.DB.MustExec(`UPDATE leads SET stage = 'Won' WHERE id = $1`, l.id)
		}
	}
	nb.clock.Advance(7 * 24 * time.Hour)
	nb.step(t, r1, r2, r3)
	nb.step(t, r1, r2, r3) // a second pass changes nothing
	for _, l := range audience {
		if !unsubscribed[norm(l.email)] && !won[l.id] {
			expect(l, subjWeek3)
		}
	}
	assertReceived(t, "week 3", nb.relay, want)
	t.Logf("audience %d, test group %d, messages %d, won %d", len(audience), len(inTest), len(want), len(won))

	// Every enrollment ended: completed, goal, or unsubscribed (those who
	// had unsubscribed exit at their first due step, week 1, instead of
	// taking steps whose messages would all be cancelled).
	var states []struct {
		State  string `db:"state"`
		Reason string `db:"reason"`
		N      int    `db:"n"`
	}
	if err := nb.st.DB.Select(&states, `SELECT state, coalesce(exit_reason, '') AS reason, count(*) AS n FROM campaignctl.enrollments GROUP BY 1, 2 ORDER BY 1, 2`); err != nil {
		t.Fatal(err)
	}
	goals, unsubs := 0, 0
	for _, l := range audience {
		switch {
		case unsubscribed[norm(l.email)]:
			unsubs++
		case won[l.id]:
			goals++
		}
	}
	wantStates := fmt.Sprintf("[{exited completed %d} {exited goal %d} {exited unsubscribed %d}]", len(audience)-goals-unsubs, goals, unsubs)
	if got := fmt.Sprint(states); got != wantStates {
		t.Errorf("enrollments: %s, want %s", got, wantStates)
	}
}

// assertReceived compares the relay's (address, subject) pairs with want: the
// same set, each exactly once.
func assertReceived(t *testing.T, when string, r *smtptest.Relay, want map[string]int) {
	t.Helper()
	got := received(t, r)
	var missing, extra, dup []string
	for k := range want {
		if got[k] == 0 {
			missing = append(missing, k)
		}
	}
	for k, n := range got {
		if want[k] == 0 {
			extra = append(extra, k)
		} else if n > 1 {
			dup = append(dup, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	sort.Strings(dup)
	if len(missing)+len(extra)+len(dup) > 0 {
		t.Fatalf("%s: %d expected messages, %d received; missing %d %v; unexpected %d %v; duplicated %d %v",
			when, len(want), len(got), len(missing), head(missing), len(extra), head(extra), len(dup), head(dup))
	}
}

func head(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

// An advance that read the A/B decisions just before the leader recorded one
// holds its enrollments after the leader released the held ones: nothing would
// ever wake them (seen as a daemon that never became idle). The leader's next
// pass releases them.
func TestEnrollmentsHeldForADecidedTestAreReleased(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 200)
	nb.apply(t, nurturePlan())
	nb.step(t, nb.eng) // the test group is sent, the rest is held
	var held int
	if err := nb.st.DB.Get(&held, `SELECT count(*) FROM campaignctl.enrollments WHERE hold = 'week1'`); err != nil || held == 0 {
		t.Fatalf("%d enrollments held for week1 (err %v); want some", held, err)
	}
	// The decision recorded without releasing them: the state the race leaves.
	nb.st.DB.MustExec(`INSERT INTO campaignctl.ab_decisions (kind, object, step, decided_at, winner, decision, significant, metric, reason)
		VALUES ('sequence', 'restock_nurture', 'week1', $1, 'personal', 'winner', true, 'open_rate', 'test')`, t0)
	nb.clock.Advance(time.Minute)
	nb.step(t, nb.eng)
	if err := nb.st.DB.Get(&held, `SELECT count(*) FROM campaignctl.enrollments WHERE hold IS NOT NULL`); err != nil || held != 0 {
		t.Fatalf("%d enrollments still held after the leader's pass (err %v)", held, err)
	}
	var personal int
	if err := nb.st.DB.Get(&personal, `SELECT count(*) FROM campaignctl.outbox WHERE step = 'week1' AND variant = 'personal' AND status = 'sent'`); err != nil || personal == 0 {
		t.Fatalf("no winner sent to the released enrollments (err %v)", err)
	}
}

// A test whose messages are all held (quiet hours) has not started: it is not
// decided on an empty test.
func TestABTestNotDecidedBeforeItsFirstSend(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 200)
	nb.apply(t, nurturePlan())
	if err := nb.eng.Reconcile(nb.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := nb.eng.AdvanceDue(nb.ctx); err != nil { // enqueued, not sent
		t.Fatal(err)
	}
	nb.clock.Advance(5 * time.Hour)
	if err := nb.eng.Reconcile(nb.ctx); err != nil {
		t.Fatal(err)
	}
	if ds, _ := nb.st.ABDecisions(nb.ctx); len(ds) != 0 {
		t.Fatalf("decided before any test message went out: %+v", ds)
	}
}

// A plan change under running enrollments: a step inserted before where they
// stand is not taken (they passed it), the step they wait for moves in the
// list and they still get it, a removed step is not sent and they go on at
// the next one; nothing already sent is sent again.
func TestStepsInsertedAndRemovedMidRun(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 30)
	mk := func(steps ...plan.SequenceStep) *plan.Plan {
		p := nurturePlan()
		p.Sequences[0].Goal = ""
		p.Sequences[0].Steps = steps
		p.Templates = append(p.Templates, plan.Template{Name: "extra", Subject: "Extra", Text: "x {{ .unsubscribe_url }}", Class: plan.ClassMarketing})
		p.Finalize()
		return p
	}
	step := func(name, offset, tpl string) plan.SequenceStep {
		return plan.SequenceStep{Name: name, Offset: offset, Template: tpl}
	}
	nb.apply(t, mk(step("one", "0d", "restock_week1"), step("two", "7d", "restock_week2_ignored"), step("three", "14d", "restock_week3")))
	nb.step(t, nb.eng) // day 0: "one" to everyone; all wait for "two" at index 1
	first := nb.relay.Count()
	if first == 0 {
		t.Fatal("nothing sent on day 0")
	}
	// Day 3: "early" (2d) is inserted before "two", and "two" moves to index 2.
	nb.clock.Advance(3 * 24 * time.Hour)
	nb.apply(t, mk(step("one", "0d", "restock_week1"), step("early", "2d", "extra"), step("two", "7d", "restock_week2_ignored"), step("three", "14d", "restock_week3")))
	nb.step(t, nb.eng)
	if n := nb.relay.Count(); n != first {
		t.Fatalf("after inserting a step the enrollments had passed, %d more messages went out", n-first)
	}
	// Day 8: "two" went out to everyone; then "three" is removed and "four" (20d) added.
	nb.clock.Advance(5 * 24 * time.Hour)
	nb.step(t, nb.eng)
	if n := nb.relay.Count(); n != 2*first {
		t.Fatalf("day 8: %d messages, want %d (one and two to each)", n, 2*first)
	}
	nb.apply(t, mk(step("one", "0d", "restock_week1"), step("early", "2d", "extra"), step("two", "7d", "restock_week2_ignored"), step("four", "20d", "extra")))
	nb.clock.Advance(13 * 24 * time.Hour) // day 21
	nb.step(t, nb.eng)
	nb.step(t, nb.eng)
	got := received(t, nb.relay)
	perSubject := map[string]int{}
	for k, n := range got {
		if n != 1 {
			t.Errorf("%s received %d times", k, n)
		}
		perSubject[k[strings.Index(k, "|")+1:]]++
	}
	want := map[string]int{subjUrgent: first, subjIgnored: first, "Extra": first}
	if fmt.Sprint(perSubject) != fmt.Sprint(want) {
		t.Fatalf("messages per subject %v, want %v (one, two, then four in place of the removed three; never early)", perSubject, want)
	}
}

// A sequence removed from the plan mid-run: its enrollments exit ('removed'),
// its messages not yet handed to the relay are cancelled, and nothing more of
// it is sent; a campaign of the same name is another object and is untouched.
func TestRemovedSequenceExitsAndCancelsMidRun(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 100)
	p := nurturePlan()
	nb.apply(t, p)
	if err := nb.eng.Reconcile(nb.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := nb.eng.AdvanceDue(nb.ctx); err != nil { // the test group's messages enqueued, not sent
		t.Fatal(err)
	}
	var pending int
	if err := nb.st.DB.Get(&pending, `SELECT count(*) FROM campaignctl.outbox WHERE kind = 'sequence' AND status = 'pending'`); err != nil || pending == 0 {
		t.Fatalf("%d sequence messages pending before the removal (err %v); want some", pending, err)
	}
	gone := nurturePlan()
	gone.Sequences = nil
	gone.Campaigns = []plan.Campaign{{Name: "restock_nurture", Segment: "restock_waitlist", Template: "restock_week3", Sender: "warehouse", Class: plan.ClassMarketing}}
	gone.Finalize()
	nb.apply(t, gone)
	nb.clock.Advance(21 * 24 * time.Hour)
	nb.step(t, nb.eng)
	nb.step(t, nb.eng)
	var states []string
	if err := nb.st.DB.Select(&states, `SELECT DISTINCT state || ' ' || coalesce(exit_reason, '') FROM campaignctl.enrollments`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(states) != "[exited removed]" {
		t.Errorf("enrollments after the removal: %v, want all exited removed", states)
	}
	var seq []string
	if err := nb.st.DB.Select(&seq, `SELECT DISTINCT status FROM campaignctl.outbox WHERE kind = 'sequence'`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seq) != "[cancelled]" {
		t.Errorf("sequence messages after the removal: %v, want all cancelled", seq)
	}
	for k := range received(t, nb.relay) {
		if !strings.HasSuffix(k, "|"+subjWeek3) {
			t.Fatalf("%s was sent after its sequence was removed", k)
		}
	}
	if len(received(t, nb.relay)) == 0 {
		t.Fatal("the campaign of the same name sent nothing")
	}
}

// A reconcile pass whose enrolling fails (the CRM table away for a moment)
// enrolls on the next pass, not an EnrollInterval later: the pass counts as
// done only once it succeeded.
func TestFailedEnrollPassIsRetriedOnTheNextPass(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 20)
	nb.eng.EnrollInterval = time.Hour
	nb.apply(t, nurturePlan())
	nb.st.DB.MustExec(`ALTER TABLE leads RENAME TO leads_away`)
	if err := nb.eng.Reconcile(nb.ctx); err == nil {
		t.Fatal("reconcile succeeded without the CRM table; the test proves nothing")
	}
	nb.st.DB.MustExec(`ALTER TABLE leads_away RENAME TO leads`)
	if err := nb.eng.Reconcile(nb.ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := nb.st.DB.Get(&n, `SELECT count(*) FROM campaignctl.enrollments`); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("nobody enrolled on the pass after a failed one: enrolling waits for EnrollInterval (1h) after a pass that did not enroll")
	}
}

// A contact who unsubscribes, or whose address hard-bounces, after week 1
// leaves the sequence when week 2 comes due: no later step is enqueued for
// them (before, every step was enqueued and cancelled at its claim, and the
// enrollment ended "completed"), and the history says why.
func TestSuppressedMidSequenceExitsUnsubscribed(t *testing.T) {
	t.Parallel()
	nb := setupNurture(t, 100)
	nb.apply(t, nurturePlan())
	nb.step(t, nb.eng)
	nb.clock.Advance(5 * time.Hour) // the A/B test decided, the rest of week 1 sent
	nb.step(t, nb.eng)
	var gone []string
	if err := nb.st.DB.Select(&gone, `SELECT email_normalized FROM campaignctl.enrollments WHERE state = 'active' ORDER BY id LIMIT 2`); err != nil || len(gone) != 2 {
		t.Fatalf("active enrollments after week 1: %v (err %v)", gone, err)
	}
	if err := nb.st.Suppress(nb.ctx, gone[0], "unsubscribed", "restock_nurture", nb.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := nb.st.Suppress(nb.ctx, gone[1], "hard_bounce", "restock_nurture", nb.clock.Now()); err != nil {
		t.Fatal(err)
	}
	nb.clock.Advance(7 * 24 * time.Hour)
	nb.step(t, nb.eng)
	nb.clock.Advance(7 * 24 * time.Hour)
	nb.step(t, nb.eng)
	for _, a := range gone {
		var e struct {
			State  string `db:"state"`
			Reason string `db:"reason"`
			Later  int    `db:"later"`
		}
		if err := nb.st.DB.Get(&e, `SELECT state, coalesce(exit_reason, '') AS reason,
    (SELECT count(*) FROM campaignctl.outbox o WHERE o.kind = 'sequence' AND o.email_normalized = n.email_normalized AND o.step <> 'week1') AS later
FROM campaignctl.enrollments n WHERE email_normalized = $1`, a); err != nil {
			t.Fatal(err)
		}
		if e.State != "exited" || e.Reason != "unsubscribed" || e.Later != 0 {
			t.Errorf("%s: enrollment %s %s with %d later steps enqueued; want exited unsubscribed with none", a, e.State, e.Reason, e.Later)
		}
	}
	var why string
	if err := nb.st.DB.Get(&why, `SELECT detail FROM campaignctl.enrollment_steps h JOIN campaignctl.enrollments n ON n.id = h.enrollment_id
WHERE n.email_normalized = $1 AND h.action = 'exited'`, gone[1]); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(why, "hard_bounce") {
		t.Errorf("the exit's history says %q, want the reason (hard_bounce)", why)
	}
	var completed int
	if err := nb.st.DB.Get(&completed, `SELECT count(*) FROM campaignctl.enrollments WHERE exit_reason IN ('completed', 'goal')`); err != nil || completed == 0 {
		t.Errorf("%d other enrollments completed (err %v); want the rest to run to the end", completed, err)
	}
}
