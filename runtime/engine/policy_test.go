package engine_test

import (
	"bytes"
	"fmt"
	"maps"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/engine"
)

// Quiet hours hold marketing mail in the contact's own time zone: a contact in
// Asia/Tokyo gets nothing between 21:00 and 08:00 Tokyo time, and gets it at
// 08:00; a contact in Paris, in the afternoon, gets it at once; a
// transactional campaign (which the policy lets bypass quiet hours) is not held.
func TestQuietHoursHoldInTheContactsTimeZone(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	db := b.st.DB
	db.MustExec(`CREATE TABLE people (id int PRIMARY KEY, email text, name text, tz text)`)
	for i := 1; i <= 20; i++ {
		tz := "Asia/Tokyo"
		if i%2 == 0 {
			tz = "Europe/Paris"
		}
		db.MustExec(`INSERT INTO people VALUES ($1, $2, $3, $4)`, i, "p"+strings.Repeat("x", i)+"@example.com", "P", tz)
	}
	p := &plan.Plan{
		Models: []plan.Model{{Name: "person", Table: "people", Key: "id", Email: "email", TimeZone: "tz", Fields: []plan.Field{
			{Name: "name", Column: "name", Type: plan.TypeString},
			{Name: "tz", Column: "tz", Type: plan.TypeString},
		}}},
		Segments: []plan.Segment{{Name: "everyone", Model: "person", Filter: "true"}},
		Senders:  []plan.Sender{{Name: "s", From: "Shop <news@shop.example>"}},
		Policies: []plan.Policy{{Name: "default", QuietHours: &plan.QuietHours{Start: "21:00", End: "08:00"},
			Bypass: map[string][]string{plan.ClassTransactional: {"quiet_hours"}}}},
		Templates: []plan.Template{
			{Name: "promo", Subject: "Promo", Text: "Hi {{ .unsubscribe_url }}", Class: plan.ClassMarketing},
			{Name: "notice", Subject: "Notice", Text: "Your order", Class: plan.ClassTransactional},
		},
		Campaigns: []plan.Campaign{
			{Name: "promo", Segment: "everyone", Template: "promo", Sender: "s", Class: plan.ClassMarketing},
			{Name: "notice", Segment: "everyone", Template: "notice", Sender: "s", Class: plan.ClassTransactional},
		},
	}
	p.Finalize()
	// 17:14 UTC is 02:14 in Tokyo (the next day) and 18:14 in Paris.
	now := time.Date(2026, 12, 1, 17, 14, 0, 0, time.UTC)
	b.clock.Set(now)
	b.apply(t, p)
	b.pass(t)

	subjects := func() map[string]int {
		var data [][]byte
		for _, m := range b.smtp.Messages() {
			data = append(data, m.Data)
		}
		return headerCounts(t, data, "Subject")
	}
	if got := subjects(); got["Promo"] != 10 || got["Notice"] != 20 {
		t.Fatalf("at 02:14 Tokyo: sent %v, want Promo to the 10 Paris contacts only and Notice to all 20", got)
	}
	var held []struct {
		Due string `db:"due"`
		Err string `db:"last_error"`
	}
	if err := db.Select(&held, `SELECT to_char(due_at AT TIME ZONE 'UTC', 'HH24:MI') AS due, last_error FROM campaignctl.outbox WHERE status = 'pending' ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(held) != 10 {
		t.Fatalf("%d rows pending, want the 10 Tokyo promos", len(held))
	}
	for _, h := range held {
		// 08:00 in Tokyo is 23:00 UTC.
		if h.Due != "23:00" || !strings.Contains(h.Err, "quiet hours") || !strings.Contains(h.Err, "Asia/Tokyo") {
			t.Fatalf("held row due %s with %q; want due 23:00 UTC and a reason naming quiet hours in Asia/Tokyo", h.Due, h.Err)
		}
	}
	b.clock.Set(time.Date(2026, 12, 1, 22, 59, 0, 0, time.UTC))
	b.pass(t)
	if got := subjects()["Promo"]; got != 10 {
		t.Fatalf("at 07:59 Tokyo: %d promos sent, want still 10", got)
	}
	b.clock.Set(time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC))
	b.pass(t)
	if got := subjects()["Promo"]; got != 20 {
		t.Fatalf("at 08:00 Tokyo: %d promos sent, want 20", got)
	}
	var attempts int
	if err := db.Get(&attempts, `SELECT max(attempts) FROM campaignctl.outbox`); err != nil {
		t.Fatal(err)
	}
	if attempts != 1 {
		t.Errorf("a held message counted its hold as an attempt: max attempts %d, want 1", attempts)
	}
}

// A frequency cap of 2 a week holds across three campaigns to the same
// people: each gets two of the three at once, the third waits (counted as
// held, with the reason) and goes out once the week has passed.
func TestFrequencyCapHoldsAcrossObjects(t *testing.T) {
	t.Parallel()
	b := setup(t, 20)
	b.eng.BatchSize = 500
	p := testPlan("Hi", campaign("one", ""), campaign("two", ""), campaign("three", ""))
	p.Policies = []plan.Policy{{Name: "default", FrequencyCap: &plan.FrequencyCap{Max: 2, Per: "7d"}}}
	p.Finalize()
	b.apply(t, p)
	b.pass(t)
	perAddress := func() map[string]int {
		out := map[string]int{}
		for _, m := range b.smtp.Messages() {
			out[m.To[0]]++
		}
		return out
	}
	got := perAddress()
	if len(got) != 10 {
		t.Fatalf("%d addresses mailed, want the 10 active contacts", len(got))
	}
	for addr, n := range got {
		if n != 2 {
			t.Fatalf("%s got %d messages in the first week, want 2 (the cap)", addr, n)
		}
	}
	var reasons []string
	if err := b.st.DB.Select(&reasons, `SELECT DISTINCT last_error FROM campaignctl.outbox WHERE status = 'pending'`); err != nil {
		t.Fatal(err)
	}
	if len(reasons) != 1 || !strings.Contains(reasons[0], "frequency") {
		t.Fatalf("held rows' reasons %q, want the frequency cap", reasons)
	}
	b.clock.Advance(3 * 24 * time.Hour)
	b.pass(t)
	if n := len(b.smtp.Messages()); n != 20 {
		t.Fatalf("after 3 days %d messages, want still 20", n)
	}
	b.clock.Advance(4*24*time.Hour + time.Hour)
	b.pass(t)
	for addr, n := range perAddress() {
		if n != 3 {
			t.Fatalf("%s got %d messages after the week, want 3", addr, n)
		}
	}
}

// A frequency cap holds across batches and replicas: three campaigns to the
// same 150 contacts, a cap of one message a week, three replicas with two
// connections each behind a relay slow enough that every replica has
// batches of all three campaigns at the relay at once. Each contact gets
// exactly one message; the other two wait for the week, held.
func TestFrequencyCapHoldsAcrossReplicas(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 300) // 150 active
	rb.relay.SetDelay(5 * time.Millisecond)
	p := testPlan("Hi", campaign("one", ""), campaign("two", ""), campaign("three", ""))
	p.Policies = []plan.Policy{{Name: "default", FrequencyCap: &plan.FrequencyCap{Max: 1, Per: "7d"}}}
	p.Finalize()
	rb.apply(t, p)
	for i := range 3 {
		e := rb.eng
		if i > 0 {
			e = rb.replica(t, fmt.Sprintf("r%d", i), rb.clock)
		}
		e.BatchSize = 16
		run(t, e, engine.RunOptions{Interval: 20 * time.Millisecond})
	}
	waitFor(t, "every row sent or held", 60*time.Second, func() bool {
		o := rb.outbox(t)
		return o["sent"]+o["pending"] == 450 && o["sent"] >= 150 && rb.held(t) == 0
	})
	time.Sleep(200 * time.Millisecond) // anything still composing would reach the relay now
	d := rb.relay.Deliveries()
	over := 0
	for rcpt, n := range d {
		if n > 1 {
			over++
			if over <= 5 {
				t.Errorf("%s received %d messages under a cap of 1 a week", rcpt, n)
			}
		}
	}
	if over > 0 {
		t.Errorf("%d of %d contacts got more than the cap allows", over, len(d))
	}
	if len(d) != 150 {
		t.Errorf("%d contacts mailed, want 150", len(d))
	}
	var reasons []string
	if err := rb.st.DB.Select(&reasons, `SELECT DISTINCT last_error FROM campaignctl.outbox WHERE status = 'pending'`); err != nil {
		t.Fatal(err)
	}
	if len(reasons) != 1 || !strings.Contains(reasons[0], "frequency cap") {
		t.Errorf("held rows' reasons %q, want the frequency cap", reasons)
	}
}

// A claim that cannot count its frequency caps holds its capped messages a
// minute instead of sending them uncounted, says so once in the log and in
// each row, and sends them once the counts can be read again. Here a lock of
// one of its addresses is held elsewhere (a replica cut off mid-count) past
// the claim's lock timeout.
func TestUncountedFrequencyCapHoldsAMinute(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 20) // 10 active
	p := testPlan("Hi", campaign("one", ""))
	p.Policies = []plan.Policy{{Name: "default", FrequencyCap: &plan.FrequencyCap{Max: 1, Per: "7d"}}}
	p.Finalize()
	rb.apply(t, p)
	tx, err := rb.st.DB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`SELECT pg_advisory_xact_lock(hashtextextended('c2@example.com', 13))`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rb.pass(t)
	took := time.Since(start)
	tx.Rollback()
	if n := rb.relay.Count(); n != 0 {
		t.Fatalf("%d messages sent with the cap uncounted, want 0", n)
	}
	if took > 15*time.Second {
		t.Errorf("the pass took %s: the claim waited for the lock instead of giving up after its lock timeout", took.Round(time.Millisecond))
	}
	var reasons []string
	if err := rb.st.DB.Select(&reasons, `SELECT DISTINCT last_error FROM campaignctl.outbox WHERE status = 'pending'`); err != nil {
		t.Fatal(err)
	}
	if len(reasons) != 1 || !strings.Contains(reasons[0], "frequency cap not counted") {
		t.Fatalf("held rows' reasons %q, want the uncounted cap", reasons)
	}
	if !strings.Contains(rb.logs.String(), "cannot count recent marketing mail") {
		t.Errorf("no log line for the uncounted cap:\n%s", rb.logs.String())
	}
	rb.pass(t)
	if n := rb.relay.Count(); n != 0 {
		t.Fatalf("%d messages sent before the minute passed, want 0", n)
	}
	rb.clock.Advance(time.Minute + time.Second)
	rb.pass(t)
	assertExactlyOnce(t, rb.relay, 10)
}

// A sender's daily quota is not spent on messages that do not go out: those
// a frequency cap or quiet hours hold when they are claimed ask for no share
// of it. Claims of 10 to 20 rows, campaign a's first, then b's, then c's.
//   - cap: 20 contacts get a and b (a cap of one a week holds b), 20 others
//     get c; a quota of 40 a day is exactly what a and c need.
//   - quiet hours: a goes to 20 contacts in Tokyo at 02:14 their time, c to
//     20 in Paris at 18:14; a quota of 20 is what c needs.
func TestQuotaIsNotSpentOnMessagesHeldAtTheClaim(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		quota int
		pol   plan.Policy
		want  map[string]int
	}{
		{"cap", 40, plan.Policy{FrequencyCap: &plan.FrequencyCap{Max: 1, Per: "7d"}}, map[string]int{"a": 20, "c": 20}},
		{"quiet hours", 20, plan.Policy{QuietHours: &plan.QuietHours{Start: "21:00", End: "08:00"}}, map[string]int{"c": 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rb := setupRelay(t, 40) // 20 active (Tokyo), 20 not (Paris)
			rb.eng.BatchSize = 20
			rb.st.DB.MustExec(`ALTER TABLE contacts ADD COLUMN tz text`)
			rb.st.DB.MustExec(`UPDATE contacts SET tz = CASE WHEN active THEN 'Asia/Tokyo' ELSE 'Europe/Paris' END`)
			rb.clock.Set(time.Date(2026, 12, 1, 17, 14, 0, 0, time.UTC))
			third := campaign("c", "")
			third.Segment = "inactive"
			p := testPlan("Hi", campaign("a", ""), campaign("b", ""), third)
			p.Models[0].TimeZone = "tz"
			p.Models[0].Fields = append(p.Models[0].Fields, plan.Field{Name: "tz", Column: "tz", Type: plan.TypeString})
			p.Segments = append(p.Segments, plan.Segment{Name: "inactive", Model: "c", Filter: "!c.active"})
			pol := tc.pol
			pol.Name, pol.DailyQuota = "default", tc.quota
			p.Policies = []plan.Policy{pol}
			p.Finalize()
			rb.apply(t, p)
			for range 5 {
				rb.pass(t)
			}
			var data [][]byte
			for _, m := range rb.relay.Messages() {
				data = append(data, m.Data)
			}
			got := headerCounts(t, data, "X-Campaignctl-Campaign")
			if !maps.Equal(got, tc.want) {
				t.Errorf("sent on day one per campaign %v, want %v (quota %d a day)", got, tc.want, tc.quota)
			}
		})
	}
}

// headerCounts counts the messages by the value of one of their headers.
func headerCounts(t *testing.T, messages [][]byte, header string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, data := range messages {
		msg, err := mail.ReadMessage(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		out[msg.Header.Get(header)]++
	}
	return out
}

// A replica killed while it holds claims: its claimed rows go on counting
// against every other claim's cap until their lease runs out, then they are
// claimed again and sent. Campaigns a and b to the same 10 contacts, a cap of
// one a week; a dead replica claims a's rows and never sends them; the live
// one holds b's (a's count as in flight), and sends a's once their lease is
// over: each contact gets one message, a's, and nothing is lost.
func TestFrequencyCapCountsADeadReplicasClaims(t *testing.T) {
	t.Parallel()
	rb := twoCampaignsCappedAtOne(t)
	const lease = 2 * time.Second
	dead, err := rb.st.ClaimDue(rb.ctx, rb.clock.Now(), "dead", lease, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range dead {
		if r.Campaign != "a" {
			t.Fatalf("the dead replica claimed a row of %s, want a's 10 rows", r.Campaign)
		}
	}
	claimed := time.Now()
	rb.pass(t)
	if n := rb.relay.Count(); n != 0 {
		t.Fatalf("%d messages sent while the dead replica's claims held, want 0 (b's must wait for a's)", n)
	}
	time.Sleep(time.Until(claimed.Add(lease + 200*time.Millisecond)))
	rb.pass(t)
	per := map[string]int{}
	for _, m := range rb.relay.Messages() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		per[m.To[0]+" "+msg.Header.Get("X-Campaignctl-Campaign")]++
	}
	if len(per) != 10 {
		t.Errorf("messages %v, want campaign a once to each of the 10 contacts", per)
	}
	for k, n := range per {
		if n != 1 || !strings.HasSuffix(k, " a") {
			t.Errorf("%s: %d messages, want a's once", k, n)
		}
	}
	var reasons []string
	if err := rb.st.DB.Select(&reasons, `SELECT DISTINCT last_error FROM campaignctl.outbox WHERE campaign = 'b' AND status = 'pending'`); err != nil {
		t.Fatal(err)
	}
	if len(reasons) != 1 || !strings.Contains(reasons[0], "frequency") {
		t.Errorf("b's rows: %q, want all held by the frequency cap", reasons)
	}
}

// A message the cap held only because another claim held a message to the
// same address unsent is counted again within a minute, not after the cap's
// hour: the other message may never go (here the other claim's rows are
// cancelled, as a consent check or a removed object would), and then the
// held one has room. Before, it waited the hour.
func TestCapHeldByAnUnsentClaimIsCountedAgainSoon(t *testing.T) {
	t.Parallel()
	rb := twoCampaignsCappedAtOne(t)
	other, err := rb.st.ClaimDue(rb.ctx, rb.clock.Now(), "other", 30*time.Second, 10)
	if err != nil || len(other) != 10 || other[0].Campaign != "a" {
		t.Fatalf("the other claim took %d rows (%v), want a's 10", len(other), err)
	}
	rb.pass(t)
	if n := rb.relay.Count(); n != 0 {
		t.Fatalf("%d messages sent while the other claim held a's, want 0", n)
	}
	var latest time.Time
	if err := rb.st.DB.Get(&latest, `SELECT max(due_at) FROM campaignctl.outbox WHERE campaign = 'b'`); err != nil {
		t.Fatal(err)
	}
	if wait := latest.Sub(rb.clock.Now()); wait > time.Minute+time.Second {
		t.Errorf("b's rows are due again in %s, want within a minute: what filled the cap was not sent", wait.Round(time.Second))
	}
	// The other claim's messages never go.
	rb.st.DB.MustExec(`UPDATE campaignctl.outbox SET status = 'cancelled', claimed_by = NULL, lease_until = NULL, cap_seq = NULL WHERE campaign = 'a'`)
	rb.clock.Advance(time.Minute + time.Second)
	rb.pass(t)
	per := map[string]int{}
	for _, m := range rb.relay.Messages() {
		per[m.To[0]]++
	}
	if len(per) != 10 {
		t.Errorf("%d of 10 contacts got b's message a minute after the cap's count was freed", len(per))
	}
	for to, n := range per {
		if n != 1 {
			t.Errorf("%s: %d messages, want 1", to, n)
		}
	}
}

// twoCampaignsCappedAtOne applies campaigns a and b to the same 10 contacts
// under a cap of one a week and materializes both.
func twoCampaignsCappedAtOne(t *testing.T) *relayBundle {
	t.Helper()
	rb := setupRelay(t, 20) // 10 active
	p := testPlan("Hi", campaign("a", ""), campaign("b", ""))
	p.Policies = []plan.Policy{{Name: "default", FrequencyCap: &plan.FrequencyCap{Max: 1, Per: "7d"}}}
	p.Finalize()
	rb.apply(t, p)
	if err := rb.eng.Reconcile(rb.ctx); err != nil {
		t.Fatal(err)
	}
	return rb
}
