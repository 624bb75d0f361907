package engine_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/mailer"
	"github.com/campaignctl/campaignctl/runtime/mailer/smtptest"
)

// A relay that takes two connections at once and answers a third with
// Postfix's "421 4.7.0 Error: too many connections" is full, not down. With
// --concurrency 8 the daemon sends over the two connections it has, says once
// that the relay refuses more, and neither pauses sending nor reports the
// relay down. Before, every refused connection paused sending for the
// backoff and logged the relay unavailable: 400 messages took 10.9 s and 22
// pauses at --concurrency 8, against 1.3 s at --concurrency 2.
func TestRelayConnectionLimitIsNotAnOutage(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 800) // 400 active
	rb.eng.RelayBackoff = 0  // the daemon's default, 0.5 s
	rb.eng.Concurrency = 8
	rb.eng.Mailer.(*mailer.SMTP).MaxConns = 8
	rb.relay.SetDelay(2 * time.Millisecond)
	rb.relay.SetConnectionLimit(2)
	rb.apply(t, testPlan("Hi", campaign("c", "")))
	stop, _ := run(t, rb.eng, engine.RunOptions{Interval: 20 * time.Millisecond})
	waitFor(t, "all 400 through two connections", 60*time.Second, func() bool { return rb.relay.Count() >= 400 })
	stop()
	assertExactlyOnce(t, rb.relay, 400)

	assertNeverPaused(t, rb, "a relay at its connection limit")
	logs := rb.logs.String()
	if n := strings.Count(logs, "the SMTP relay refuses more connections"); n < 1 || n > 2 {
		t.Errorf("%d warnings that the relay refuses more connections, want one (two if the first came before the second connection):\n%s", n, logs)
	}
	if !strings.Contains(logs, "421 4.7.0") {
		t.Errorf("the warning does not carry the relay's answer:\n%s", logs)
	}
	m := rb.eng.Metrics
	if got := testutil.ToFloat64(m.SMTPConnLimit); got != 2 {
		t.Errorf("campaignctl_smtp_connections_allowed = %v, want 2", got)
	}
	if most, refused := rb.relay.Sessions(); most > 2 || refused > 6 {
		t.Errorf("%d sessions at once and %d refused; want at most 2 and only the first burst's 6", most, refused)
	}
}

// A relay that ends each session after 20 messages (Exchange's
// MaxMessagesPerConnection; 421 4.7.0 to the 21st MAIL) is not down: the
// rest of the batch goes on a fresh connection. Before, the refused MAIL
// failed the rest of the batch as an outage: 400 messages took 8.9 s and 18
// pauses, against 0.3 s without the cap.
func TestRelayEndingSessionsAfter20MessagesIsNotAnOutage(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 800) // 400 active
	rb.eng.RelayBackoff = 0  // the daemon's default, 0.5 s
	rb.relay.SetMessagesPerSession(20)
	rb.apply(t, testPlan("Hi", campaign("c", "")))
	stop, _ := run(t, rb.eng, engine.RunOptions{Interval: 20 * time.Millisecond})
	waitFor(t, "all 400", 60*time.Second, func() bool { return rb.relay.Count() >= 400 })
	stop()
	assertExactlyOnce(t, rb.relay, 400)
	assertNeverPaused(t, rb, "a relay ending sessions after 20 messages")
	if n := testutil.CollectAndCount(rb.eng.Metrics.SMTPFailures); n != 0 {
		t.Errorf("%d failure series counted, want none: every message went on the next connection", n)
	}
}

// A relay that throttles (every 20th MAIL answered 451 4.7.1, as hosted
// relays do past their sending rate) pauses sending each time, which is
// right, but is logged once a minute, not at every pause: the pauses are
// counted in campaignctl_relay_pauses_total. Before, 400 messages logged 13
// errors and 13 resumes.
func TestThrottlingRelayIsLoggedOnceAMinute(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 800) // 400 active
	var n atomic.Int64
	rb.relay.SetReply(smtptest.StageMail, func(_, _ string) *smtptest.Reply {
		if n.Add(1)%20 == 0 {
			return &smtptest.Reply{Code: 451, Enhanced: "4.7.1", Text: "Throttling failure: Maximum sending rate exceeded"}
		}
		return nil
	})
	rb.apply(t, testPlan("Hi", campaign("c", "")))
	stop, _ := run(t, rb.eng, engine.RunOptions{Interval: 20 * time.Millisecond})
	waitFor(t, "all 400", 60*time.Second, func() bool { return rb.relay.Count() >= 400 })
	stop()
	assertExactlyOnce(t, rb.relay, 400)
	pauses := testutil.ToFloat64(rb.eng.Metrics.RelayPauses.WithLabelValues("unavailable"))
	if pauses < 3 {
		t.Fatalf("%v pauses; the relay throttled every 20th message", pauses)
	}
	logs := rb.logs.String()
	if n := strings.Count(logs, "the SMTP relay is unavailable"); n != 1 {
		t.Errorf("%d errors logged for %v pauses within a minute, want 1:\n%s", n, pauses, logs)
	}
	if !strings.Contains(logs, "451 4.7.1") {
		t.Errorf("the error does not carry the relay's answer:\n%s", logs)
	}
	if n := strings.Count(logs, "accepts mail again"); n > 1 {
		t.Errorf("%d resumes logged, want only the logged pause's", n)
	}
	// Its short pauses are waited out with the rows in hand: given back and
	// claimed again at every pause, the queue would be written twice each
	// time (3.4 claims a message in a run of 2,000 that gave them back).
	var claims int
	if err := rb.st.DB.Get(&claims, `SELECT sum(claim_seq) FROM campaignctl.outbox`); err != nil {
		t.Fatal(err)
	}
	if claims > 400+int(pauses)*2+20 {
		t.Errorf("%d claims of rows for 400 messages and %v pauses: the queue was given back at the pauses", claims, pauses)
	}
}

// assertNeverPaused fails when sending paused for the relay, the log or
// campaignctl_relay_up reported it down, or /healthz would.
func assertNeverPaused(t *testing.T, rb *relayBundle, relay string) {
	t.Helper()
	if logs := rb.logs.String(); strings.Contains(logs, "the SMTP relay is unavailable") {
		t.Errorf("%s was reported down:\n%s", relay, logs)
	}
	m := rb.eng.Metrics
	if p := testutil.ToFloat64(m.RelayPauses.WithLabelValues("unavailable")); p != 0 {
		t.Errorf("sending paused %v times behind %s", p, relay)
	}
	if up := testutil.ToFloat64(m.RelayUp); up != 1 {
		t.Errorf("campaignctl_relay_up = %v behind %s, want 1", up, relay)
	}
	if h := rb.eng.RelayHealth(); h.State != "ok" {
		t.Errorf("relay health %+v behind %s, want ok", h, relay)
	}
}

// A replica that cannot reach the relay does not sit on what it claimed:
// the rows it had queued go back untried once its relay's pause is longer
// than a second, and it claims nothing more until the pause ends, so a
// replica that can reach the relay sends them. (Behind a relay that limits connections per client, the
// replica left without one is such a replica.) Before, the rows were held
// through the pause, which grows to 30 s: three replicas sharing a limit of
// 10 connections took 66 s for 1,500 messages, one of them paused 7 times,
// against 1.8-4.1 s now. Here the cut-off replica's pause is a minute; its rows
// must not wait for it.
func TestReplicaCutOffFromTheRelayLeavesItsRowsToTheOthers(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 400) // 200 active
	rb.apply(t, testPlan("Hi", campaign("c", "")))
	dead := smtptest.New()
	deadAddr, err := dead.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead.Down()
	t.Cleanup(func() { dead.Close() })

	cut := rb.replica(t, "cut-off", rb.clock)
	cut.Mailer = &mailer.SMTP{Addr: deadAddr, DialTimeout: time.Second}
	cut.RelayBackoff = 2 * time.Minute // its pause: 1.5-2.5 min
	stopCut, _ := run(t, cut, engine.RunOptions{Interval: 20 * time.Millisecond})
	waitFor(t, "the cut-off replica to find its relay down", 20*time.Second, func() bool {
		return strings.Contains(rb.logs.String(), "the SMTP relay is unavailable")
	})
	stopOK, _ := run(t, rb.eng, engine.RunOptions{Interval: 20 * time.Millisecond})
	waitFor(t, "the other replica to send every message, the cut-off one's claims included", 30*time.Second, func() bool {
		return rb.relay.Count() >= 200
	})
	stopOK()
	stopCut()
	assertExactlyOnce(t, rb.relay, 200)
	if p := testutil.ToFloat64(cut.Metrics.RelayPauses.WithLabelValues("unavailable")); p != 1 {
		t.Errorf("the cut-off replica paused %v times, want once (it claims nothing while paused)", p)
	}
}
