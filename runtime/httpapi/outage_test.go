package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// outageClient is a client that, like a CRM's, sends a request until it is
// answered 200, waiting a little after each 503; any other answer fails the
// test. It counts the 503s, each of which must say when to retry
// (Retry-After).
type outageClient struct {
	c        http.Client
	refusals atomic.Int32
}

func (o *outageClient) untilOK(t *testing.T, newReq func() *http.Request, want503 string) string {
	for attempt := 1; ; attempt++ {
		res, err := o.c.Do(newReq())
		if err != nil {
			t.Errorf("attempt %d: %v (want an answer, never a hang or a reset)", attempt, err)
			return ""
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch res.StatusCode {
		case http.StatusOK:
			return string(body)
		case http.StatusServiceUnavailable:
			o.refusals.Add(1)
			if !strings.Contains(string(body), want503) {
				t.Errorf("503 body %q does not say %q", body, want503)
			}
			if res.Header.Get("Retry-After") == "" {
				t.Errorf("503 without a Retry-After, body %q", body)
				return ""
			}
		default:
			t.Errorf("attempt %d: status %d, body %s; want 200, or 503 while the database is down", attempt, res.StatusCode, body)
			return ""
		}
		if attempt == 200 {
			t.Errorf("still refused after %d attempts: the daemon did not recover", attempt)
			return ""
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A Postgres restart (storetest.Outage) in the middle of several clients'
// streams of POST /v1/events: while the database is down they are answered
// 503 quickly, saying to send again, with a Retry-After; each batch retried until 200 is stored,
// once (the ids), and the daemon recovers without a restart.
func TestPostEventsAcrossAPostgresOutage(t *testing.T) {
	b := setup(t, &Server{EventsToken: testToken})
	const clients, batches, perBatch = 4, 12, 25
	oc := &outageClient{c: http.Client{Timeout: 30 * time.Second}}
	var okBatches atomic.Int32
	var wg sync.WaitGroup
	// Each client's first batch goes before the outage, the rest from the
	// moment it begins: a client that finished every batch before the
	// outage started would never see it (a fresh-clone run under -race
	// once had no request refused at all).
	outage := make(chan struct{})
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range batches {
				if k == 1 {
					<-outage
				}
				var body strings.Builder
				for i := range perBatch {
					fmt.Fprintf(&body, `{"type":"page_view","model":"lead","key":"%d","at":"2026-11-20T10:%02d:00Z","id":"c%d-b%d-e%d"}`+"\n", i, k, c, k, i)
				}
				oc.untilOK(t, func() *http.Request {
					req, _ := http.NewRequest("POST", b.url, strings.NewReader(body.String()))
					req.Header.Set("Authorization", "Bearer "+testToken)
					req.Header.Set("Content-Type", "application/x-ndjson")
					return req
				}, "send the same batch again")
				okBatches.Add(1)
			}
		}()
	}
	for okBatches.Load() < clients && !t.Failed() {
		time.Sleep(5 * time.Millisecond)
	}
	back := storetest.Outage(t, b.st.DB)
	close(outage)
	for deadline := time.Now().Add(10 * time.Second); oc.refusals.Load() < clients && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	during := okBatches.Load()
	time.Sleep(100 * time.Millisecond)
	if after := okBatches.Load(); after != during {
		t.Errorf("%d batches answered 200 while the database was down", after-during)
	}
	back()
	wg.Wait()
	if oc.refusals.Load() == 0 {
		t.Fatal("no request was refused: the outage was not seen")
	}
	var total, distinct int
	if err := b.st.DB.QueryRow(`SELECT count(*), count(DISTINCT external_id) FROM campaignctl.events`).Scan(&total, &distinct); err != nil {
		t.Fatal(err)
	}
	if want := clients * batches * perBatch; total != want || distinct != want {
		t.Errorf("%d rows, %d distinct ids; want %d of each: every event once", total, distinct, want)
	}
	t.Logf("%d requests refused during the outage", oc.refusals.Load())
}

// A burst of one-click unsubscribes across a Postgres restart: each is
// answered 503 with a Retry-After while the database is down, and once
// retried every address is suppressed.
func TestOneClickUnsubscribesAcrossAPostgresOutage(t *testing.T) {
	r := setupTracking(t, TrackerOptions{})
	const readers = 30
	oc := &outageClient{c: http.Client{Timeout: 30 * time.Second}}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range readers {
		c := msgClaims()
		c.Purpose, c.Email = links.PurposeUnsubscribe, fmt.Sprintf("reader%d@example.com", i)
		u := r.url + "/u/" + r.signer.Sign(c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			oc.untilOK(t, func() *http.Request {
				req, _ := http.NewRequest("POST", u, strings.NewReader("List-Unsubscribe=One-Click"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return req
			}, "please retry")
		}()
	}
	back := storetest.Outage(t, r.st.DB)
	close(start)
	for deadline := time.Now().Add(10 * time.Second); oc.refusals.Load() < readers && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	back()
	wg.Wait()
	if oc.refusals.Load() < readers {
		t.Errorf("%d refusals, want at least one per reader while the database was down", oc.refusals.Load())
	}
	var n int
	if err := r.st.DB.Get(&n, `SELECT count(*) FROM campaignctl.suppressions WHERE reason = 'unsubscribed'`); err != nil {
		t.Fatal(err)
	}
	if n != readers {
		t.Errorf("%d addresses suppressed, want %d", n, readers)
	}
}

// The same batch posted by several clients at once (a retry after a timeout,
// two web servers), its events in months that have no partition yet: every
// post is answered 200, the answers' "stored" add up to the batch, and each
// event is stored once.
func TestPostEventsSameBatchAtOnceStoresEachOnce(t *testing.T) {
	b := setup(t, &Server{EventsToken: testToken})
	const posts = 8
	var body strings.Builder
	for i := range 30 {
		fmt.Fprintf(&body, `{"type":"page_view","model":"lead","key":"%d","at":"2018-%02d-15T10:00:00Z","id":"same-%d"}`+"\n", i, i%12+1, i)
	}
	answers := make(chan reply, posts)
	start := make(chan struct{})
	for range posts {
		go func() {
			<-start
			req, _ := http.NewRequest("POST", b.url, strings.NewReader(body.String()))
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("Content-Type", "application/x-ndjson")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				answers <- reply{body: err.Error()}
				return
			}
			data, _ := io.ReadAll(res.Body)
			res.Body.Close()
			answers <- reply{code: res.StatusCode, body: string(data)}
		}()
	}
	close(start)
	var stored int64
	for range posts {
		r := <-answers
		if r.code != http.StatusOK {
			t.Errorf("status %d, body %s; want 200", r.code, r.body)
			continue
		}
		stored += decode[eventsResponse](t, r).Stored
	}
	if stored != 30 {
		t.Errorf("the answers say %d stored in all, want 30", stored)
	}
	if n := b.rows(t); n != 30 {
		t.Errorf("%d rows, want 30", n)
	}
}

// Opens and clicks answered during a Postgres restart (storetest.Outage) of a
// few seconds are written once the database is back: the bounded queue holds
// them meanwhile, and the writer waits the restart out instead of dropping
// the batch in hand after three quick attempts.
func TestTrackerKeepsClicksAcrossAPostgresOutage(t *testing.T) {
	r := setupTracking(t, TrackerOptions{})
	back := storetest.Outage(t, r.st.DB)
	const clicks = 20
	for i := range clicks {
		c := msgClaims()
		c.Purpose, c.URL, c.OutboxID = links.PurposeClick, "https://shop.example.com/p", int64(100+i)
		c.ContactKey = fmt.Sprint(i)
		if res, _ := get(t, r.url+"/c/"+r.signer.Sign(c), "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"); res.StatusCode != http.StatusFound {
			t.Fatalf("click %d during the outage: %d, want 302", i, res.StatusCode)
		}
	}
	time.Sleep(3 * time.Second) // a restart's few seconds
	back()
	deadline := time.Now().Add(15 * time.Second)
	for len(r.events(t)) < clicks && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(r.events(t)); n != clicks || r.dropped() != 0 {
		t.Errorf("%d clicks stored, %v dropped; want %d stored, none dropped", n, r.dropped(), clicks)
	}
}

// A running tracker gives a batch the database keeps refusing up after
// RetryFor, counted as write_failed, and goes on with the next.
func TestTrackerDropsABatchRefusedForRetryFor(t *testing.T) {
	reg := prometheus.NewRegistry()
	ins := &stuckInserter{}
	tr := NewTracker(ins, slog.New(slog.NewTextHandler(io.Discard, nil)), reg, TrackerOptions{RetryFor: 600 * time.Millisecond, FlushEvery: 10 * time.Millisecond})
	clickThrough(t, tr, reg, 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tr.Run(ctx) }()
	defer func() { cancel(); <-done }()
	start := time.Now()
	for testutil.ToFloat64(tr.dropped.WithLabelValues("write_failed")) != 2 {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("write_failed %v after 10 s, want the 2 clicks dropped after about 600 ms", testutil.ToFloat64(tr.dropped.WithLabelValues("write_failed")))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := time.Since(start); took < 600*time.Millisecond {
		t.Errorf("dropped after %s, before RetryFor (600 ms)", took.Round(time.Millisecond))
	}
	if n := ins.calls.Load(); n < 3 {
		t.Errorf("%d attempts, want at least 3", n)
	}
}

// An unsubscribe the database does not answer (a lock held on the
// suppressions, a stalled server) is answered 503 with a Retry-After within
// a bound, never held open until the client gives up; once the database
// answers, the retry is recorded.
func TestOneClickUnsubscribeAgainstAStalledDatabaseAnswers503(t *testing.T) {
	r := setupTrackingWith(t, TrackerOptions{}, io.Discard, func(s *Server) { s.StoreTimeout = time.Second })
	c := msgClaims()
	c.Purpose, c.Email = links.PurposeUnsubscribe, "stalled@example.com"
	u := r.url + "/u/" + r.signer.Sign(c)
	oneClick := func() (*http.Response, error) {
		cl := http.Client{Timeout: 25 * time.Second}
		return cl.Post(u, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	}
	tx, err := r.st.DB.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`LOCK TABLE campaignctl.suppressions IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := oneClick()
	if err != nil {
		t.Fatalf("no answer after %s; want a 503 within the store timeout (1 s)", time.Since(start).Round(time.Second))
	}
	res.Body.Close()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("answered after %s; want about the store timeout (1 s)", took.Round(time.Millisecond))
	}
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("%d, Retry-After %q; want 503 with a Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	tx.Rollback()
	if res, err = oneClick(); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the retry once the lock is gone: %v %v, want 200", res, err)
	}
	res.Body.Close()
	var n int
	if err := r.st.DB.Get(&n, `SELECT count(*) FROM campaignctl.suppressions WHERE reason = 'unsubscribed'`); err != nil || n != 1 {
		t.Errorf("%d suppressions (%v), want 1", n, err)
	}
}

// lostAckInserter stores every batch, and reports the first ones failed as
// a connection lost after the commit would: the write is in, the tracker
// does not know it.
type lostAckInserter struct {
	EventInserter
	lose atomic.Int32 // how many acknowledgements are still to lose
}

func (l *lostAckInserter) InsertEvents(ctx context.Context, ev []store.Event) (int64, error) {
	n, err := l.EventInserter.InsertEvents(ctx, ev)
	if err == nil && l.lose.Add(-1) >= 0 {
		return 0, errors.New("read tcp 127.0.0.1:5432: connection reset by peer")
	}
	return n, err
}

// A click batch whose write committed but whose acknowledgement was lost is
// retried, and each click is stored once: every tracked event carries an id
// of its own, which the retry cannot store twice.
func TestTrackerRetryAfterALostAcknowledgementStoresEachClickOnce(t *testing.T) {
	ins := &lostAckInserter{}
	ins.lose.Store(2)
	r := setupTrackingThrough(t, TrackerOptions{FlushEvery: 20 * time.Millisecond}, io.Discard, nil, func(st EventInserter) EventInserter {
		ins.EventInserter = st
		return ins
	})
	// Contact 0 clicks twice: two clicks, two events (an id is per request,
	// not per link); contacts 1-9 once.
	const clicks = 11
	for i := range clicks {
		c := msgClaims()
		c.Purpose, c.URL, c.OutboxID = links.PurposeClick, "https://shop.example.com/p", int64(100+i)
		c.ContactKey = fmt.Sprint(max(i-1, 0))
		if res, _ := get(t, r.url+"/c/"+r.signer.Sign(c), "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"); res.StatusCode != http.StatusFound {
			t.Fatalf("click %d: %d, want 302", i, res.StatusCode)
		}
		time.Sleep(30 * time.Millisecond) // several batches, so that two acknowledgements are lost
	}
	deadline := time.Now().Add(10 * time.Second)
	for ins.lose.Load() > 0 || len(r.events(t)) < clicks {
		if time.Now().After(deadline) {
			t.Fatalf("%d events stored after 10 s, %d acknowledgements still to lose", len(r.events(t)), ins.lose.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.stop()
	per := map[string]int{}
	for _, e := range r.events(t) {
		per[e.ContactKey]++
	}
	for k, n := range per {
		if want := 1 + btoi(k == "0"); n != want {
			t.Errorf("contact %s: %d clicks stored, want %d", k, n, want)
		}
	}
	if len(per) != clicks-1 {
		t.Errorf("clicks of %d contacts stored, want %d", len(per), clicks-1)
	}
	if r.dropped() != 0 {
		t.Errorf("%v clicks dropped, want none", r.dropped())
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
