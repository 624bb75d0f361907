package mailer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtptest"
)

// batchMsgs makes n messages whose Done calls checkBatch counts.
func batchMsgs(prefix string, n int) []*Message {
	msgs := make([]*Message, n)
	for i := range msgs {
		m := testMessage(fmt.Sprintf("%s%d@example.com", prefix, i), i)
		rec := &doneRecord{}
		m.Done = rec.done
		doneRecords.Store(m, rec)
		msgs[i] = m
	}
	return msgs
}

// doneRecord is what a message's Done was called with.
type doneRecord struct {
	mu    sync.Mutex
	calls int
	err   error
}

func (d *doneRecord) done(err error) {
	d.mu.Lock()
	d.calls++
	d.err = err
	d.mu.Unlock()
}

// doneRecords maps the messages batchMsgs made to their doneRecord.
var doneRecords sync.Map

// checkBatch verifies the one rule that must never break: a message is
// reported delivered exactly when the relay took it, and a message reported
// failed without MaybeDelivered was not taken.
func checkBatch(t *testing.T, r *smtptest.Relay, msgs []*Message, errs []error) {
	t.Helper()
	if len(errs) != len(msgs) {
		t.Fatalf("%d errors for %d messages", len(errs), len(msgs))
	}
	got := r.Deliveries()
	for i, m := range msgs {
		// Done was told exactly once, and what errs says.
		if v, ok := doneRecords.Load(m); ok {
			rec := v.(*doneRecord)
			rec.mu.Lock()
			calls, derr := rec.calls, rec.err
			rec.mu.Unlock()
			if calls != 1 || derr != errs[i] {
				t.Errorf("message %d: Done called %d times, last with %v; want once, with %v", i, calls, derr, errs[i])
			}
		}
		n := got[strings.ToLower(m.To)]
		var se *SendError
		switch {
		case errs[i] == nil:
			if n != 1 {
				t.Errorf("message %d reported delivered, relay has it %d times", i, n)
			}
		case errors.As(errs[i], &se) && se.MaybeDelivered():
			if n > 1 {
				t.Errorf("message %d delivered %d times", i, n)
			}
		default:
			if n != 0 {
				t.Errorf("message %d reported not delivered (%v), relay has it %d times", i, errs[i], n)
			}
			if Classify(errs[i]) == Delivered {
				t.Errorf("message %d: error %v classified delivered", i, errs[i])
			}
		}
	}
}

func rcptIs(to string) func(string) bool {
	return func(rcpt string) bool { return strings.EqualFold(rcpt, to) }
}

func replyFor(to string, rep *smtptest.Reply) func(from, rcpt string) *smtptest.Reply {
	return func(_, rcpt string) *smtptest.Reply {
		if strings.EqualFold(rcpt, to) {
			return rep
		}
		return nil
	}
}

func TestSendBatchAllDelivered(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		t.Run(fmt.Sprint("pipelining=", pipelining), func(t *testing.T) {
			b := setupRelay(t)
			b.relay.SetPipelining(pipelining)
			for round := range 3 {
				msgs := batchMsgs(fmt.Sprintf("r%d-", round), 4)
				errs := b.client.SendBatch(context.Background(), msgs)
				for i, err := range errs {
					if err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
				}
				checkBatch(t, b.relay, msgs, errs)
			}
			got := b.relay.Messages()
			if len(got) != 12 {
				t.Fatalf("relay has %d messages, want 12", len(got))
			}
			for i, d := range got {
				want := fmt.Sprintf("r%d-%d@example.com", i/4, i%4)
				if d.To[0] != want || !strings.Contains(string(d.Data), fmt.Sprintf("Subject: Message %d", i%4)) {
					t.Errorf("delivery %d to %v, want %s with its own body", i, d.To, want)
				}
			}
			if c := b.relay.Connections(); c != 1 {
				t.Errorf("%d connections, want 1", c)
			}
		})
	}
}

func TestSendBatchFaults(t *testing.T) {
	type want struct {
		nilErr bool
		stage  Stage
		code   int
		maybe  bool
		notSnt bool
	}
	ok := want{nilErr: true}
	notSentW := want{stage: StageMail, notSnt: true}
	cases := []struct {
		name  string
		setup func(r *smtptest.Relay)
		want  []want
	}{
		{"550 on second RCPT", func(r *smtptest.Relay) {
			r.SetReply(smtptest.StageRcpt, replyFor("m1@example.com", &smtptest.Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user"}))
		}, []want{ok, {stage: StageRcpt, code: 550}, ok, ok}},
		{"554 after first final dot", func(r *smtptest.Relay) {
			r.SetReply(smtptest.StageMessage, replyFor("m0@example.com", &smtptest.Reply{Code: 554, Enhanced: "5.6.0", Text: "content"}))
		}, []want{{stage: StageMessage, code: 554}, ok, ok, ok}},
		{"451 after last final dot", func(r *smtptest.Relay) {
			r.SetReply(smtptest.StageMessage, replyFor("m3@example.com", &smtptest.Reply{Code: 451, Text: "later"}))
		}, []want{ok, ok, ok, {stage: StageMessage, code: 451}}},
		{"554 on third DATA", func(r *smtptest.Relay) {
			r.SetReply(smtptest.StageData, replyFor("m2@example.com", &smtptest.Reply{Code: 554, Enhanced: "5.7.1", Text: "no"}))
		}, []want{ok, ok, {stage: StageData, code: 554}, ok}},
		{"drop mid-DATA of second", func(r *smtptest.Relay) {
			r.SetDropMidData(rcptIs("m1@example.com"))
		}, []want{ok, {stage: StageMessage, maybe: true}, notSentW, notSentW}},
		{"drop mid-DATA of last", func(r *smtptest.Relay) {
			r.SetDropMidData(rcptIs("m3@example.com"))
		}, []want{ok, ok, ok, {stage: StageData}}},
		{"421 after second final dot", func(r *smtptest.Relay) {
			r.SetReply(smtptest.StageMessage, replyFor("m1@example.com", &smtptest.Reply{Code: 421, Text: "bye"}))
		}, []want{ok, {stage: StageMessage, code: 421}, notSentW, notSentW}},
		{"421 on third RCPT", func(r *smtptest.Relay) {
			r.SetReply(smtptest.StageRcpt, replyFor("m2@example.com", &smtptest.Reply{Code: 421, Text: "bye"}))
		}, []want{ok, ok, {stage: StageRcpt, code: 421}, notSentW}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := setupRelay(t)
			tc.setup(b.relay)
			msgs := batchMsgs("m", 4)
			errs := b.client.SendBatch(context.Background(), msgs)
			checkBatch(t, b.relay, msgs, errs)
			for i, w := range tc.want {
				if w.nilErr {
					if errs[i] != nil {
						t.Errorf("message %d: %v, want delivered", i, errs[i])
					}
					continue
				}
				se := sendErr(t, errs[i])
				if se.Stage != w.stage || se.Code != w.code || se.MaybeDelivered() != w.maybe || errors.Is(se, ErrNotSent) != w.notSnt {
					t.Errorf("message %d: %v (stage %s code %d maybe %v), want %+v", i, se, se.Stage, se.Code, se.MaybeDelivered(), w)
				}
				if w.notSnt && Classify(se) != RelayUnavailable {
					t.Errorf("message %d: not sent classified %v", i, Classify(se))
				}
			}
			// The client recovers: the next batch goes through.
			b.relay.SetReply(smtptest.StageRcpt, nil)
			b.relay.SetReply(smtptest.StageData, nil)
			b.relay.SetReply(smtptest.StageMessage, nil)
			b.relay.SetDropMidData(nil)
			more := batchMsgs("again", 3)
			for i, err := range b.client.SendBatch(context.Background(), more) {
				if err != nil {
					t.Errorf("after the fault, message %d: %v", i, err)
				}
			}
		})
	}
}

// TestSendBatchRandomFaults throws random faults at random batches over a
// reused client and checks that no message is ever reported delivered that
// the relay did not take, nor the reverse.
func TestSendBatchRandomFaults(t *testing.T) {
	b := setupRelay(t)
	rng := rand.New(rand.NewPCG(1, 2))
	type fault struct {
		stage smtptest.Stage
		rep   *smtptest.Reply
	}
	kinds := []fault{
		{smtptest.StageRcpt, &smtptest.Reply{Code: 550, Enhanced: "5.1.1"}},
		{smtptest.StageRcpt, &smtptest.Reply{Code: 450, Enhanced: "4.2.1"}},
		{smtptest.StageRcpt, &smtptest.Reply{Code: 421}},
		{smtptest.StageData, &smtptest.Reply{Code: 554}},
		{smtptest.StageData, &smtptest.Reply{Code: 421}},
		{smtptest.StageMessage, &smtptest.Reply{Code: 554, Enhanced: "5.6.0"}},
		{smtptest.StageMessage, &smtptest.Reply{Code: 451}},
		{smtptest.StageMessage, &smtptest.Reply{Code: 421}},
		{"drop", nil},
	}
	assigned := map[string]int{} // recipient → index in kinds, or -1
	lookup := func(stage smtptest.Stage) func(_, rcpt string) *smtptest.Reply {
		return func(_, rcpt string) *smtptest.Reply {
			k, ok := assigned[strings.ToLower(rcpt)]
			if ok && k >= 0 && kinds[k].stage == stage {
				return kinds[k].rep
			}
			return nil
		}
	}
	// assigned is written only between batches, while no session runs a rule.
	b.relay.SetReply(smtptest.StageRcpt, lookup(smtptest.StageRcpt))
	b.relay.SetReply(smtptest.StageData, lookup(smtptest.StageData))
	b.relay.SetReply(smtptest.StageMessage, lookup(smtptest.StageMessage))
	b.relay.SetDropMidData(func(rcpt string) bool {
		k, ok := assigned[strings.ToLower(rcpt)]
		return ok && k >= 0 && kinds[k].stage == "drop"
	})
	delivered, failed := 0, 0
	for round := range 300 {
		n := 1 + rng.IntN(5)
		msgs := batchMsgs(fmt.Sprintf("x%d-", round), n)
		for _, m := range msgs {
			k := -1
			if rng.IntN(4) == 0 {
				k = rng.IntN(len(kinds))
			}
			assigned[strings.ToLower(m.To)] = k
		}
		errs := b.client.SendBatch(context.Background(), msgs)
		checkBatch(t, b.relay, msgs, errs)
		for i, err := range errs {
			k := assigned[strings.ToLower(msgs[i].To)]
			if err == nil {
				delivered++
				if k >= 0 {
					t.Fatalf("round %d message %d had fault %v but was reported delivered", round, i, kinds[k])
				}
			} else {
				failed++
			}
		}
	}
	t.Logf("%d delivered, %d failed", delivered, failed)
}

func TestSendBatchRetriesStaleConnection(t *testing.T) {
	b := setupRelay(t)
	if errs := b.client.SendBatch(context.Background(), batchMsgs("a", 2)); errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	b.relay.CloseConnections()
	waitConns(t, b.relay, 0)
	msgs := batchMsgs("b", 3)
	errs := b.client.SendBatch(context.Background(), msgs)
	for i, err := range errs {
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	checkBatch(t, b.relay, msgs, errs)
}

func TestSendBatchComposeError(t *testing.T) {
	b := setupRelay(t)
	msgs := batchMsgs("c", 3)
	msgs[1].From = "bad<address>"
	errs := b.client.SendBatch(context.Background(), msgs)
	if errs[0] != nil || errs[2] != nil {
		t.Fatal(errs)
	}
	if se := sendErr(t, errs[1]); se.Stage != StageCompose {
		t.Fatalf("got %v, want a compose error", se)
	}
	checkBatch(t, b.relay, msgs, errs)
}

// A message its HandOff refuses is not handed to the relay, in a batch or
// alone: before its envelope it is skipped and the batch goes on; once its
// DATA is open, the connection is dropped without the final dot, so the
// relay discards it, and the rest of the batch is given back the same way.
// Either way it is reported not sent (never maybe delivered), as
// ErrHandOffLate.
func TestHandOffRefused(t *testing.T) {
	t.Run("batch", func(t *testing.T) {
		b := setupRelay(t)
		msgs := batchMsgs("h", 4)
		msgs[2].HandOff = func() bool { return false }
		msgs[3].HandOff = func() bool { return true }
		errs := b.client.SendBatch(context.Background(), msgs)
		if errs[0] != nil || errs[1] != nil || errs[3] != nil {
			t.Fatalf("messages before, after and with a HandOff that agrees: %v", errs)
		}
		if !errors.Is(errs[2], ErrHandOffLate) {
			t.Fatalf("refused message: %v, want ErrHandOffLate", errs[2])
		}
		if se := sendErr(t, errs[2]); se.MaybeDelivered() || Classify(errs[2]) == Delivered {
			t.Fatalf("a message never handed over reads as maybe delivered: %v", se)
		}
		checkBatch(t, b.relay, msgs, errs)
	})
	t.Run("after DATA", func(t *testing.T) {
		for _, batch := range []bool{false, true} {
			b := setupRelay(t)
			// The relay takes 300 ms to answer DATA: the deadline passes
			// while the client waits to send the body.
			b.relay.SetReply(smtptest.StageData, func(from, rcpt string) *smtptest.Reply {
				time.Sleep(300 * time.Millisecond)
				return nil
			})
			msgs := batchMsgs(fmt.Sprintf("d%v", batch), 2)
			deadline := time.Now().Add(100 * time.Millisecond)
			asked := 0
			for _, m := range msgs {
				m.HandOff = func() bool { asked++; return time.Now().Before(deadline) }
			}
			var errs []error
			if batch {
				errs = b.client.SendBatch(context.Background(), msgs)
			} else {
				errs = []error{b.client.Send(context.Background(), msgs[0]), b.client.Send(context.Background(), msgs[1])}
			}
			for i, err := range errs {
				if !errors.Is(err, ErrHandOffLate) {
					t.Errorf("batch %v, message %d: %v, want ErrHandOffLate", batch, i, err)
				}
			}
			if asked < 2 {
				t.Errorf("batch %v: HandOff asked %d times, want before the envelope and before the body", batch, asked)
			}
			time.Sleep(100 * time.Millisecond) // the relay would have stored a body by now
			if n := b.relay.Count(); n != 0 {
				t.Errorf("batch %v: the relay took %d messages refused before their body", batch, n)
			}
			checkBatch(t, b.relay, msgs, errs)
		}
	})
}

// Each message's Done is called as soon as the relay has answered its final
// dot, not when the batch ends: the engine hands each outcome to its ledger
// at once, so a message's place in the in-flight window is given back
// sooner. Here the relay holds the batch's last message; the first two are
// already reported while SendBatch still waits for it.
func TestSendBatchReportsEachMessageWhenTheRelayAnswersIt(t *testing.T) {
	b := setupRelay(t)
	msgs := batchMsgs("w", 3)
	b.relay.SetStall(rcptIs(msgs[2].To))
	done := make(chan []error)
	go func() { done <- b.client.SendBatch(context.Background(), msgs) }()
	reported := func(i int) bool {
		v, _ := doneRecords.Load(msgs[i])
		rec := v.(*doneRecord)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.calls == 1 && rec.err == nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for !reported(0) || !reported(1) {
		if time.Now().After(deadline) {
			t.Fatal("the first two messages were not reported while the relay held the third")
		}
		time.Sleep(2 * time.Millisecond)
	}
	select {
	case errs := <-done:
		t.Fatalf("SendBatch returned while the relay held its last message: %v", errs)
	default:
	}
	if reported(2) {
		t.Fatal("the held message was reported before the relay answered it")
	}
	b.relay.SetStall(nil)
	errs := <-done
	for i, err := range errs {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	checkBatch(t, b.relay, msgs, errs)
}

// Reserve is asked before each envelope. Behind another message's body it
// must not wait: when it says no, that body goes alone, and the message is
// asked again, free to wait, once the relay has answered the body (nothing of
// the connection in flight). A message it then refuses is never started.
func TestReserve(t *testing.T) {
	t.Run("not behind a body", func(t *testing.T) {
		b := setupRelay(t)
		msgs := batchMsgs("r", 4)
		var events []string
		for i, m := range msgs {
			inner := m.Done
			m.Done = func(err error) { events = append(events, fmt.Sprintf("done %d", i)); inner(err) }
			m.Reserve = func(wait bool) bool {
				events = append(events, fmt.Sprintf("reserve %d %v", i, wait))
				return i != 2 || wait
			}
		}
		errs := b.client.SendBatch(context.Background(), msgs)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		checkBatch(t, b.relay, msgs, errs)
		want := []string{
			"reserve 0 true",
			"reserve 1 false", "done 0",
			"reserve 2 false", "done 1", // refused behind message 1's body
			"reserve 2 true", // asked again once message 1 is answered
			"reserve 3 false", "done 2",
			"done 3",
		}
		if strings.Join(events, ", ") != strings.Join(want, ", ") {
			t.Fatalf("events:\n  %s\nwant:\n  %s", strings.Join(events, ", "), strings.Join(want, ", "))
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, batch := range []bool{true, false} {
			b := setupRelay(t)
			msgs := batchMsgs(fmt.Sprintf("n%v", batch), 3)
			msgs[1].Reserve = func(bool) bool { return false }
			var errs []error
			if batch {
				errs = b.client.SendBatch(context.Background(), msgs)
			} else {
				for _, m := range msgs {
					errs = append(errs, b.client.Send(context.Background(), m))
				}
			}
			if errs[0] != nil || errs[2] != nil {
				t.Fatalf("batch %v: the messages around the refused one: %v", batch, errs)
			}
			if !errors.Is(errs[1], ErrNotReserved) || !NotStarted(errs[1]) {
				t.Fatalf("batch %v: refused message: %v, want ErrNotReserved", batch, errs[1])
			}
			if se := sendErr(t, errs[1]); se.MaybeDelivered() || Classify(errs[1]) == Delivered {
				t.Fatalf("batch %v: a message never started reads as maybe delivered: %v", batch, se)
			}
			checkBatch(t, b.relay, msgs, errs)
		}
	})
}

// Senders share the pool's connections: what a sender reads of a connection
// after giving it back belongs to the next sender (go test -race caught
// SendBatch and Send reading whether the relay had answered after put).
// Batches and single messages at once over two connections; the single ones
// are refused at RCPT, which leaves their connection pooled and healthy.
func TestConcurrentSendersSharePooledConnections(t *testing.T) {
	b := setupRelay(t)
	b.client.MaxConns = 2
	b.relay.SetReply(smtptest.StageRcpt, func(_, rcpt string) *smtptest.Reply {
		if strings.HasPrefix(rcpt, "one") {
			return &smtptest.Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user"}
		}
		return nil
	})
	const senders, rounds = 6, 15
	var wg sync.WaitGroup
	errc := make(chan error, senders*rounds*3)
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				msgs := batchMsgs(fmt.Sprintf("s%d-%d-", g, r), 2)
				for _, err := range b.client.SendBatch(context.Background(), msgs) {
					if err != nil {
						errc <- err
					}
				}
				err := b.client.Send(context.Background(), testMessage(fmt.Sprintf("one%d-%d@example.com", g, r), r))
				if se, ok := err.(*SendError); !ok || se.Code != 550 {
					errc <- fmt.Errorf("refused recipient: %v, want a 550", err)
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if n, want := b.relay.Count(), senders*rounds*2; n != want {
		t.Fatalf("relay has %d messages, want %d", n, want)
	}
}
