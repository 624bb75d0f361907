package engine_test

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/mailer"
	"github.com/campaignctl/campaignctl/runtime/metrics"
)

// A sender's daily quota and rate per minute hold across two replicas: no
// minute of the engine's clock sees more than the rate, no UTC day more than
// the quota, the rest waits (it is never dropped), and every contact gets its
// message exactly once in the end.
func TestDailyQuotaAndRateHoldAcrossReplicas(t *testing.T) {
	t.Parallel()
	const contacts, quota, rate = 240, 50, 20 // 120 active contacts
	b := setup(t, contacts)
	p := testPlan("Hello", campaign("launch", ""))
	p.Policies = []plan.Policy{{Name: "default", DailyQuota: quota, RatePerMinute: rate}}
	p.Finalize()
	b.apply(t, p)
	signer, _ := links.NewSigner([]byte("test-secret-0123456789"))
	m2 := &mailer.SMTP{Addr: b.eng.Mailer.(*mailer.SMTP).Addr}
	t.Cleanup(func() { m2.Close() })
	eng2 := &engine.Engine{Store: b.st, Mailer: m2, Clock: b.clock, Links: signer, Metrics: metrics.New(prometheus.NewRegistry()),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), PublicURL: "http://mail.test", BatchSize: 7, Worker: "r2"}
	both := func() {
		t.Helper()
		if err := b.eng.Reconcile(b.ctx); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, e := range []*engine.Engine{b.eng, eng2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.SendDue(b.ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	// Day one, minute by minute: the rate, then the quota. What the rate
	// holds is spread over up to rateSpreadMinutes (10) minutes ahead, and a
	// message is held for the day only once it comes due again after the
	// quota is spent: 13 minutes see every spread message come due.
	for minute := 0; minute < 13; minute++ {
		both()
		both()
		b.clock.Advance(time.Minute)
	}
	sentBy := func(until time.Time) int {
		var n int
		if err := b.st.DB.Get(&n, `SELECT count(*) FROM campaignctl.outbox WHERE status = 'sent' AND sent_at < $1`, until); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := sentBy(b.clock.Now()); n != quota {
		t.Errorf("after 13 minutes of day one: %d sent, want the quota %d (20 + 20 + 10)", n, quota)
	}
	var heldUntil time.Time
	if err := b.st.DB.Get(&heldUntil, `SELECT min(due_at) FROM campaignctl.outbox WHERE status = 'pending'`); err != nil {
		t.Fatal(err)
	}
	if next := t0.Truncate(24 * time.Hour).Add(24 * time.Hour); !heldUntil.Equal(next) {
		t.Errorf("the rest is due at %s, want the next UTC day %s", heldUntil, next)
	}
	// Day two: the same again, then day three finishes.
	for _, day := range []int{1, 2} {
		b.clock.Set(t0.Truncate(24 * time.Hour).Add(time.Duration(day) * 24 * time.Hour))
		for minute := 0; minute < 4; minute++ {
			both()
			both()
			b.clock.Advance(time.Minute)
		}
	}
	var perMinute []struct {
		Minute time.Time `db:"minute"`
		N      int       `db:"n"`
	}
	if err := b.st.DB.Select(&perMinute, `SELECT date_trunc('minute', sent_at) AS minute, count(*) AS n FROM campaignctl.outbox
		WHERE status = 'sent' GROUP BY 1 ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	perDay := map[time.Time]int{}
	for _, m := range perMinute {
		if m.N > rate {
			t.Errorf("minute %s: %d sent, more than the rate %d", m.Minute, m.N, rate)
		}
		perDay[m.Minute.UTC().Truncate(24*time.Hour)] += m.N
	}
	total := 0
	for d, n := range perDay {
		if n > quota {
			t.Errorf("day %s: %d sent, more than the quota %d", d.Format("2006-01-02"), n, quota)
		}
		total += n
	}
	if total != contacts/2 || b.smtp.Count() != contacts/2 {
		t.Errorf("sent %d (relay: %d), want every one of the %d active contacts once", total, b.smtp.Count(), contacts/2)
	}
	// The per-sender count of delivered mail, the denominator of bounce and
	// complaint rates, adds up over the replicas.
	bySender := testutil.ToFloat64(b.eng.Metrics.SentBySender.WithLabelValues("s")) + testutil.ToFloat64(eng2.Metrics.SentBySender.WithLabelValues("s"))
	if int(bySender) != contacts/2 {
		t.Errorf("campaignctl_sender_messages_sent_total{sender=\"s\"} = %v over both replicas, want %d", bySender, contacts/2)
	}
}

// A backlog behind a spent rate is held once, not once a minute: the
// messages a minute cannot take are given the minutes to come, at most the
// rate to each, so each message is claimed and held once and then sent in
// its minute. Holding them all until the next minute made every minute claim
// and hold the whole backlog again (a 100,000-message campaign at 300 a
// minute rewrote 100,000 outbox rows a minute for five and a half hours).
func TestRateLimitedBacklogIsHeldOnceNotEveryMinute(t *testing.T) {
	t.Parallel()
	const contacts, rate = 200, 10 // 100 active contacts: ten minutes of sending
	b := setup(t, contacts)
	p := testPlan("Hello", campaign("launch", ""))
	p.Policies = []plan.Policy{{Name: "default", RatePerMinute: rate}}
	p.Finalize()
	b.apply(t, p)
	start := b.clock.Now()
	for minute := 0; minute < 12 && b.smtp.Count() < contacts/2; minute++ {
		if err := b.eng.Reconcile(b.ctx); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := b.eng.SendDue(b.ctx); err != nil {
				t.Fatal(err)
			}
		}
		b.clock.Advance(time.Minute)
	}
	if n := b.smtp.Count(); n != contacts/2 {
		t.Fatalf("%d sent within 12 minutes at %d a minute, want all %d", n, rate, contacts/2)
	}
	var perMinute []int
	if err := b.st.DB.Select(&perMinute, `SELECT count(*) FROM campaignctl.outbox WHERE status = 'sent'
		GROUP BY date_trunc('minute', sent_at) ORDER BY date_trunc('minute', sent_at)`); err != nil {
		t.Fatal(err)
	}
	for i, n := range perMinute {
		if n > rate {
			t.Errorf("minute %d: %d sent, more than the rate %d", i, n, rate)
		}
	}
	if len(perMinute) != contacts/2/rate {
		t.Errorf("sent over %d minutes %v, want %d: a minute with room went unused", len(perMinute), perMinute, contacts/2/rate)
	}
	// 90 messages wait at the start; each is held once.
	held := testutil.ToFloat64(b.eng.Metrics.Held.WithLabelValues("campaign", "launch", "rate_per_minute"))
	if want := float64(contacts/2 - rate); held != want {
		t.Errorf("%v holds for a backlog of %v: the backlog was held again each minute", held, want)
	}
	var lastDue time.Time
	if err := b.st.DB.Get(&lastDue, `SELECT max(sent_at) FROM campaignctl.outbox`); err != nil {
		t.Fatal(err)
	}
	if lastDue.Sub(start) > 10*time.Minute {
		t.Errorf("the last message went at %s, %s after the first; want within the 10 minutes the rate allows", lastDue, lastDue.Sub(start))
	}
}
