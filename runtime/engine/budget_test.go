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
	// Day one, minute by minute: the rate, then the quota.
	for minute := 0; minute < 5; minute++ {
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
		t.Errorf("after 5 minutes of day one: %d sent, want the quota %d (20 + 20 + 10)", n, quota)
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
