package mailer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtptest"
)

// limitCalls records OnConnLimit's calls.
type limitCalls struct {
	mu    sync.Mutex
	calls []limitCall
}

type limitCall struct {
	limit, most int
	cause       error
}

func (l *limitCalls) record(limit, most int, cause error) {
	l.mu.Lock()
	l.calls = append(l.calls, limitCall{limit, most, cause})
	l.mu.Unlock()
}

func (l *limitCalls) last() (limitCall, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.calls) == 0 {
		return limitCall{}, 0
	}
	return l.calls[len(l.calls)-1], len(l.calls)
}

// limitedRelay is a relay that takes limit connections at once and a client
// of maxConns connections that probes for more every probe, recording
// OnConnLimit's calls; ctx bounds the test's sends.
func limitedRelay(t *testing.T, limit, maxConns int, probe time.Duration) (*relayBundle, *limitCalls, context.Context) {
	t.Helper()
	b := setupRelay(t)
	b.relay.SetConnectionLimit(limit)
	calls := &limitCalls{}
	b.client.MaxConns, b.client.ConnProbeInterval, b.client.OnConnLimit = maxConns, probe, calls.record
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return b, calls, ctx
}

// sendFrom runs workers senders of each messages (batches of batch, or
// Send when batch is 1) and returns the first error.
func sendFrom(ctx context.Context, c *SMTP, workers, each, batch int) error {
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < each; i += batch {
				msgs := make([]*Message, 0, batch)
				for j := i; j < min(i+batch, each); j++ {
					msgs = append(msgs, testMessage(fmt.Sprintf("w%d-%d@example.com", w, j), j))
				}
				if batch == 1 {
					errs <- c.Send(ctx, msgs[0])
					continue
				}
				for _, err := range c.SendBatch(ctx, msgs) {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// A relay that takes two connections at once and refuses a third with 421
// at the greeting (Postfix's smtpd_client_connection_count_limit) is full,
// not down: eight senders share its two connections, none fails, and the
// pool tries no more connections until the probe interval has passed.
// Before, each refused connection failed its messages as an outage.
func TestSMTPRelayConnectionLimitIsSharedNotAnOutage(t *testing.T) {
	for _, batch := range []int{1, 5} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			b, calls, ctx := limitedRelay(t, 2, 8, time.Hour)
			if err := sendFrom(ctx, b.client, 8, 25, batch); err != nil {
				t.Fatalf("a send failed behind a relay with a connection limit: %v", err)
			}
			if got := b.relay.Count(); got != 200 {
				t.Fatalf("relay accepted %d messages, want 200", got)
			}
			most, refused := b.relay.Sessions()
			if most > 2 {
				t.Errorf("%d sessions at once, the relay's limit is 2", most)
			}
			// The first burst dials all eight; after it, nothing until the probe.
			if refused == 0 || refused > 6 {
				t.Errorf("the relay refused %d connections, want 1 to 6 (the first burst only)", refused)
			}
			if limit, most := b.client.ConnLimit(); limit != 2 || most != 8 {
				t.Errorf("ConnLimit() = %d, %d; want 2, 8", limit, most)
			}
			last, n := calls.last()
			if n == 0 || last.limit != 2 || last.most != 8 {
				t.Fatalf("OnConnLimit's last call %+v (of %d), want limit 2 of 8", last, n)
			}
			var refusal limitCall
			calls.mu.Lock()
			for _, c := range calls.calls {
				if c.cause != nil {
					refusal = c
				}
			}
			calls.mu.Unlock()
			var se *SendError
			if !errors.As(refusal.cause, &se) || se.Stage != StageGreeting || se.Code != 421 || se.Enhanced != "4.7.0" {
				t.Errorf("OnConnLimit's cause %v, want the 421 4.7.0 at the greeting", refusal.cause)
			}
		})
	}
}

// Once the relay takes more connections again, probes raise the limit one
// connection at a time back to MaxConns.
func TestSMTPProbesForMoreConnectionsAfterARefusal(t *testing.T) {
	b, calls, ctx := limitedRelay(t, 2, 6, 50*time.Millisecond)
	if err := sendFrom(ctx, b.client, 6, 20, 4); err != nil {
		t.Fatal(err)
	}
	if limit, _ := b.client.ConnLimit(); limit != 2 {
		t.Fatalf("limit %d behind a relay that takes 2", limit)
	}
	time.Sleep(120 * time.Millisecond) // a probe is due: refused again
	if err := sendFrom(ctx, b.client, 6, 8, 4); err != nil {
		t.Fatal(err)
	}
	if limit, _ := b.client.ConnLimit(); limit != 2 {
		t.Fatalf("limit %d after a refused probe, want 2", limit)
	}
	_, refusedBefore := b.relay.Sessions()
	b.relay.SetConnectionLimit(0)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := sendFrom(ctx, b.client, 6, 8, 4); err != nil {
			t.Fatal(err)
		}
		if limit, _ := b.client.ConnLimit(); limit == 6 {
			break
		}
		if time.Now().After(deadline) {
			limit, _ := b.client.ConnLimit()
			t.Fatalf("limit still %d 10 s after the relay lifted its own", limit)
		}
		time.Sleep(60 * time.Millisecond)
	}
	last, _ := calls.last()
	if last.limit != 6 || last.most != 6 || last.cause != nil {
		t.Errorf("OnConnLimit's last call %+v, want 6 of 6 without a cause", last)
	}
	if most, refused := b.relay.Sessions(); most < 6 || refused != refusedBefore {
		t.Errorf("at most %d sessions at once (want 6), %d refused after the limit was lifted", most, refused-refusedBefore)
	}
}

// A relay that refuses every connection is down, not full: the refusal
// reaches the caller at once, however many senders dial together.
func TestSMTPEveryConnectionRefusedIsAnOutage(t *testing.T) {
	b := setupRelay(t)
	b.relay.SetReply(smtptest.StageGreeting, func(_, _ string) *smtptest.Reply {
		return &smtptest.Reply{Code: 421, Enhanced: "4.3.2", Text: "System not accepting network messages"}
	})
	var calls limitCalls
	b.client.MaxConns, b.client.OnConnLimit = 8, calls.record
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = b.client.Send(ctx, testMessage(fmt.Sprintf("u%d@example.com", i), i)) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("senders waited for a relay that refuses every connection")
	}
	for i, err := range errs {
		se := sendErr(t, err)
		if se.Stage != StageGreeting || se.Code != 421 || Classify(err) != RelayUnavailable {
			t.Errorf("sender %d: %v (verdict %v), want the greeting's 421 as an outage", i, err, Classify(err))
		}
	}
	if _, n := calls.last(); n != 0 {
		t.Errorf("OnConnLimit called %d times for a relay that is down", n)
	}
	if limit, most := b.client.ConnLimit(); limit != most {
		t.Errorf("limit %d of %d after an outage; an outage lowers nothing", limit, most)
	}
}

// A limit learned while the relay was full is forgotten when it goes down
// (no connection of ours left open): back up, it gets every connection at
// once, not one more per probe interval.
func TestSMTPOutageForgetsTheConnectionLimit(t *testing.T) {
	b, calls, ctx := limitedRelay(t, 2, 8, time.Hour)
	if err := sendFrom(ctx, b.client, 8, 10, 5); err != nil {
		t.Fatal(err)
	}
	if limit, _ := b.client.ConnLimit(); limit != 2 {
		t.Fatalf("limit %d behind a relay that takes 2", limit)
	}
	b.relay.Down()
	// The pooled connections fail first (each once), then the dial: down.
	var err error
	for i := 0; i < 4; i++ {
		err = b.client.Send(ctx, testMessage("down@example.com", i))
		if se := sendErr(t, err); se.Stage == StageConnect {
			break
		}
	}
	if se := sendErr(t, err); se.Stage != StageConnect || Classify(err) != RelayUnavailable {
		t.Fatalf("with the relay down: %v (verdict %v), want a refused connection", err, Classify(err))
	}
	if limit, most := b.client.ConnLimit(); limit != most {
		t.Fatalf("limit %d of %d while the relay is down; want it forgotten", limit, most)
	}
	if last, _ := calls.last(); last.limit != 8 || last.cause != nil {
		t.Errorf("OnConnLimit's last call %+v, want 8 of 8 without a cause", last)
	}
	b.relay.SetConnectionLimit(0)
	if err := b.relay.Up(); err != nil {
		t.Fatal(err)
	}
	if err := sendFrom(ctx, b.client, 8, 10, 5); err != nil {
		t.Fatal(err)
	}
	if most, _ := b.relay.Sessions(); most < 4 {
		t.Errorf("at most %d sessions at once after the outage, with 8 senders and no limit", most)
	}
}

// A relay that ends each session after 5 messages (421 4.7.0 to the next
// MAIL, as relays capping messages per connection do) loses no message and
// fails none: the rest of a batch goes on a fresh connection. Before, the
// messages after the fifth failed as an outage.
func TestSMTPRelayEndingTheSessionAfterNMessages(t *testing.T) {
	for _, tc := range []struct {
		batch      int
		pipelining bool
	}{{16, true}, {1, true}, {16, false}} {
		t.Run(fmt.Sprintf("batch=%d,pipelining=%v", tc.batch, tc.pipelining), func(t *testing.T) {
			b := setupRelay(t)
			b.relay.SetMessagesPerSession(5)
			b.relay.SetPipelining(tc.pipelining)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := sendFrom(ctx, b.client, 2, 48, tc.batch); err != nil {
				t.Fatalf("a message failed behind a relay that ends sessions after 5: %v", err)
			}
			if got := b.relay.Count(); got != 96 {
				t.Fatalf("relay accepted %d messages, want 96", got)
			}
			for to, n := range b.relay.Deliveries() {
				if n != 1 {
					t.Errorf("%s got %d messages", to, n)
				}
			}
		})
	}
}
