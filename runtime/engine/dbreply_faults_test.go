package engine_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/mailer/smtptest"
	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// Faults between a replica and its database at the moment a statement of
// the send path commits: the reply of a claim or a ledger write lost with its
// connection, or held back by the network while the daemon is told to stop.
// A wire-protocol proxy sits between the replica and Postgres and recognises
// the statement (by its text when it is prepared and by its statement name
// when it is executed).

// pgProxy forwards Postgres connections. For a prepared statement whose text
// match accepts, it calls onReply, on the server's side, once an execution
// that returned rows has committed (its ReadyForQuery came) and before any
// of its reply is forwarded: the ids in the rows' first column. What onReply
// returns says what becomes of the reply; while onReply runs, it is held.
// onExecute, when set, is called before an execution of such a statement
// reaches the server: while it runs, the statement is held.
type pgProxy struct {
	addr      string
	upstream  string
	match     func(query []byte) bool
	onReply   func(ids []int64) proxyAction
	onExecute func()
	wg        sync.WaitGroup
}

type proxyAction int

const (
	forward proxyAction = iota
	// drop closes the client's connection (a FIN): lib/pq reports it bad
	// and database/sql runs the statement again on a fresh one.
	drop
	// reset aborts it (an RST): lib/pq returns the error to the caller.
	reset
)

// isClaim matches claim-due; isOutcomes matches record-outcomes.
func isClaim(q []byte) bool {
	return bytes.Contains(q, []byte("SKIP LOCKED")) && bytes.Contains(q, []byte("suppressed_as"))
}

func isOutcomes(q []byte) bool {
	return bytes.Contains(q, []byte("hard_bounce")) && bytes.Contains(q, []byte("SELECT id FROM done"))
}

// proxiedStore opens a store on rb's database through a new pgProxy.
func proxiedStore(t *testing.T, rb *relayBundle, match func([]byte) bool, onReply func(ids []int64) proxyAction) *store.Store {
	t.Helper()
	return openProxied(t, rb, &pgProxy{match: match, onReply: onReply})
}

// openProxied opens a store on rb's database through p.
func openProxied(t *testing.T, rb *relayBundle, p *pgProxy) *store.Store {
	t.Helper()
	var dbName string
	if err := rb.st.DB.Get(&dbName, `SELECT current_database()`); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(storetest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr, p.upstream = ln.Addr().String(), u.Host
	p.wg.Add(1)
	go p.serve(ln)
	u.Host, u.Path = p.addr, "/"+dbName
	st, err := store.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.DB.Close()
		ln.Close()
		p.wg.Wait()
	})
	return st
}

func (p *pgProxy) serve(ln net.Listener) {
	defer p.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		conns.Add(1)
		go func() { defer conns.Done(); p.relay(c) }()
	}
}

func (p *pgProxy) relay(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer server.Close()
	var bound atomic.Bool // the last Bind executes a matching statement
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer server.Close()
		p.fromClient(client, server, &bound)
	}()
	p.fromServer(server, client, &bound)
	client.Close()
	<-done
}

// fromClient forwards the client's messages, noting which prepared
// statements match and whether the statement now bound is one.
func (p *pgProxy) fromClient(client, server net.Conn, bound *atomic.Bool) {
	// The startup (or cancel) message has no type byte.
	var n [4]byte
	if _, err := io.ReadFull(client, n[:]); err != nil {
		return
	}
	first := make([]byte, binary.BigEndian.Uint32(n[:]))
	copy(first, n[:])
	if _, err := io.ReadFull(client, first[4:]); err != nil {
		return
	}
	if _, err := server.Write(first); err != nil {
		return
	}
	matching := map[string]bool{}
	for {
		typ, msg, err := readMsg(client)
		if err != nil {
			return
		}
		payload := msg[5:]
		switch typ {
		case 'P': // Parse: statement name, query
			name, rest, _ := bytes.Cut(payload, []byte{0})
			query, _, _ := bytes.Cut(rest, []byte{0})
			matching[string(name)] = p.match(query)
		case 'B': // Bind: portal name, statement name
			_, rest, _ := bytes.Cut(payload, []byte{0})
			name, _, _ := bytes.Cut(rest, []byte{0})
			bound.Store(matching[string(name)])
			if matching[string(name)] && p.onExecute != nil {
				p.onExecute()
			}
		}
		if _, err := server.Write(msg); err != nil {
			return
		}
	}
}

// fromServer forwards the server's messages, holding a matching statement's
// reply until its ReadyForQuery, when onReply decides.
func (p *pgProxy) fromServer(server, client net.Conn, bound *atomic.Bool) {
	var held []byte
	var ids []int64
	for {
		typ, msg, err := readMsg(server)
		if err != nil {
			return
		}
		if !bound.Load() {
			if _, err := client.Write(msg); err != nil {
				return
			}
			continue
		}
		held = append(held, msg...)
		switch typ {
		case 'D': // DataRow: column count, then the first column (the id)
			// lib/pq asks for a prepared statement's bigint in binary.
			if l := int32(binary.BigEndian.Uint32(msg[7:11])); l == 8 {
				ids = append(ids, int64(binary.BigEndian.Uint64(msg[11:19])))
			} else if id, err := strconv.ParseInt(string(msg[11:11+max(l, 0)]), 10, 64); err == nil {
				ids = append(ids, id)
			}
		case 'Z': // ReadyForQuery: the statement has committed
			bound.Store(false)
			if len(ids) > 0 {
				switch p.onReply(ids) {
				case drop:
					return
				case reset:
					if tc, ok := client.(*net.TCPConn); ok {
						tc.SetLinger(0)
					}
					return
				}
			}
			if _, err := client.Write(held); err != nil {
				return
			}
			held, ids = held[:0], nil
		}
	}
}

func readMsg(r io.Reader) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	msg := make([]byte, 1+n)
	copy(msg, h[:])
	if _, err := io.ReadFull(r, msg[5:]); err != nil {
		return 0, nil, err
	}
	return h[0], msg, nil
}

// The connection dies right after a claim commits: Postgres took the rows
// for this replica, and the replica never learns which. They are not lost and
// not sent twice: nobody has them in hand, so they wait for their lease (on
// the database's clock) to run out and are claimed again, by this replica or
// another, within about one lease plus a claim from the start (250 ms).
func TestClaimWhoseReplyIsLostIsSentOnceAfterItsLease(t *testing.T) {
	t.Parallel()
	// 1,000 messages at 2 connections × 10 ms: the backlog outlasts the
	// lease by seconds, so the replica is still claiming and renewing what it
	// holds when the lost claim's lease runs out, and rows that waited for
	// the backlog would go out well past the bounds below.
	rb := setupRelay(t, 2000) // 1,000 active
	rb.relay.SetDelay(10 * time.Millisecond)
	rb.apply(t, testPlan("Hi", campaign("c", "")))
	var (
		mu      sync.Mutex
		dropped []int64
		at      time.Time
	)
	e := rb.replica(t, "r0", rb.clock)
	e.Store = proxiedStore(t, rb, isClaim, func(ids []int64) proxyAction {
		mu.Lock()
		defer mu.Unlock()
		if dropped != nil {
			return forward
		}
		dropped, at = ids, time.Now()
		return drop
	})
	stop, _ := run(t, e, engine.RunOptions{Interval: 20 * time.Millisecond})
	waitFor(t, "every message to be sent", 30*time.Second, func() bool { return rb.outbox(t)["sent"] == 1000 })
	stop()

	mu.Lock()
	defer mu.Unlock()
	if len(dropped) == 0 {
		t.Fatal("no claim's reply was dropped: the test did not reach the case it is about")
	}
	assertExactlyOnce(t, rb.relay, 1000)
	// The dropped claim's rows were claimed again (a second attempt) and
	// sent once its lease ran out, and not much later.
	var addrs []string
	if err := rb.st.DB.Select(&addrs, `SELECT email_normalized FROM campaignctl.outbox WHERE id = ANY($1) AND attempts = 2 AND status = 'sent'`, int64s(dropped)); err != nil {
		t.Fatal(err)
	}
	if len(addrs) != len(dropped) {
		t.Errorf("%d of the %d rows of the lost claim were sent at their second attempt", len(addrs), len(dropped))
	}
	orphans := map[string]bool{}
	for _, a := range addrs {
		orphans[a] = true
	}
	first, last := time.Duration(1<<62), time.Duration(0)
	for _, m := range rb.relay.Messages() {
		if orphans[strings.ToLower(m.To[0])] {
			after := m.At.Sub(at)
			if after < e.Lease-100*time.Millisecond {
				t.Errorf("a row of the lost claim went out %s after the claim, before its lease (%s) ran out", after.Round(time.Millisecond), e.Lease)
			}
			first, last = min(first, after), max(last, after)
		}
	}
	// The first: a lease and a claim from the start (250 ms). The last: the
	// rows' time at the relay on top, which a loaded machine stretches
	// (3.002 s once in a fresh-clone make test). Renewals that kept the lost
	// rows' lease alive (a renewal of every row the replica owns) sent them
	// only as the backlog drained.
	if bound := e.Lease + time.Second; first > bound {
		t.Errorf("the first row of the lost claim went out %s after the claim; want within %s (the lease and a second)", first.Round(time.Millisecond), bound)
	}
	if bound := e.Lease + 2*time.Second; last > bound {
		t.Errorf("the last row of the lost claim went out %s after the claim; want within %s (the lease and two seconds)", last.Round(time.Millisecond), bound)
	}
	t.Logf("lost claim of %d rows; its rows went out %s to %s after it (lease %s)", len(dropped), first.Round(time.Millisecond), last.Round(time.Millisecond), e.Lease)
}

func int64s(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return "{" + strings.Join(s, ",") + "}"
}

// SIGTERM while a claim is on its way back: Postgres has committed it, and
// its reply is still in the network when the signal comes. The claim is not
// cut off by the signal (a claim cut off there would leave its rows claimed
// by a daemon that is gone, until their lease ran out): its reply is read,
// its rows are given back untried, and a daemon started next sends them at
// once, each message once.
func TestShutdownGivesBackAClaimCommittedAtTheSignal(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 400) // 200 active
	rb.relay.SetDelay(10 * time.Millisecond)
	rb.apply(t, testPlan("Hi", campaign("c", "")))
	held := make(chan []int64, 1)
	release := make(chan struct{})
	var claims atomic.Int32
	e := rb.replica(t, "r0", rb.clock)
	e.Lease = 30 * time.Second // a row left claimed would wait this long
	e.Store = proxiedStore(t, rb, isClaim, func(ids []int64) proxyAction {
		if claims.Add(1) == 2 { // the first claim is sending
			held <- ids
			<-release
		}
		return forward
	})
	stop, done := run(t, e, engine.RunOptions{Interval: 20 * time.Millisecond})
	var ids []int64
	select {
	case ids = <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("no second claim came")
	}
	// The claim has committed; the daemon is told to stop while its reply
	// is held back.
	go stop()
	time.Sleep(300 * time.Millisecond)
	close(release)
	waitDone(t, done, 20*time.Second, "the daemon to stop")

	var claimed, heldClaim int
	if err := rb.st.DB.Get(&claimed, `SELECT count(*) FROM campaignctl.outbox WHERE status = 'pending' AND lease_until > clock_timestamp()`); err != nil {
		t.Fatal(err)
	}
	if err := rb.st.DB.Get(&heldClaim, `SELECT count(*) FROM campaignctl.outbox WHERE id = ANY($1) AND status = 'pending' AND lease_until IS NULL AND attempts = 0`, int64s(ids)); err != nil {
		t.Fatal(err)
	}
	if claimed != 0 || heldClaim != len(ids) {
		t.Errorf("after the shutdown, %d rows are left claimed; %d of the %d rows of the claim under way at the signal were given back untried", claimed, heldClaim, len(ids))
	}
	// A restart sends the rest at once (not after the 30 s lease), each once.
	next := rb.replica(t, "r1", rb.clock)
	_, done = run(t, next, engine.RunOptions{Interval: 20 * time.Millisecond, ExitWhenIdle: true})
	waitDone(t, done, 15*time.Second, "the restarted daemon to send the rest")
	assertExactlyOnce(t, rb.relay, 200)
}

// The connection dies right after a ledger write commits: the outcomes are
// recorded, and the write runs again (database/sql reruns it on a fresh
// connection when lib/pq reports the old one bad; the ledger retries it
// after an error). That second write finds the rows no longer pending (its
// fencing matches nothing), which is not a claim taken over by another
// replica: nothing is counted in campaignctl_outcomes_lost_claim_total (whose
// alert says messages may have gone twice) and nothing is logged as taken
// over. Every row of the write was counted and logged so before.
func TestLedgerWriteWhoseReplyIsLostIsNotALostClaim(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 40) // 20 active
	rb.apply(t, testPlan("Hi", campaign("c", "")))
	e, dropped := replicaLosingFirstLedgerReply(t, rb, drop)
	stop, _ := run(t, e, engine.RunOptions{Interval: 20 * time.Millisecond})
	waitFor(t, "every message to be recorded sent", 20*time.Second, func() bool { return rb.outbox(t)["sent"] == 20 })
	// The ledger has written every batch it had (the last one after the retry).
	waitFor(t, "the ledger to let every row go", 10*time.Second, func() bool { return testutil.ToFloat64(e.Metrics.Unrecorded) == 0 })
	stop()
	if dropped.Load() == 0 {
		t.Fatal("no ledger write's reply was dropped: the test did not reach the case it is about")
	}
	assertExactlyOnce(t, rb.relay, 20)
	if lost := testutil.ToFloat64(e.Metrics.LostClaims); lost != 0 {
		t.Errorf("%v outcomes counted as lost claims after a ledger write of %d rows whose reply was lost; no other replica ran", lost, dropped.Load())
	}
	if strings.Contains(rb.logs.String(), "taken over by another replica") {
		t.Errorf("the log says a claim was taken over; no other replica ran:\n%s", rb.logs.String())
	}
}

// The same with the connection reset (an RST) after a ledger write of rows
// given back untried (the relay answered 421) commits: lib/pq returns the
// error, and the ledger writes the batch again after its backoff. By then
// the replica may have claimed those rows again (with the same attempts: a
// release takes its attempt back and the new claim adds it; the claim_seq of
// the fencing token is new): the second write must not give back the new
// claim, which its worker is sending, and no message may go out twice.
func TestLedgerRetryAfterALostReplyKeepsTheNewClaim(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 40) // 20 active
	refuseFirstMails(rb, 2)
	rb.apply(t, testPlan("Hi", campaign("c", "")))
	e, dropped := replicaLosingFirstLedgerReply(t, rb, reset)
	sendAllThenStop(t, rb, e, 20)
	if dropped.Load() == 0 {
		t.Fatal("no ledger write's reply was lost: the test did not reach the case it is about")
	}
	assertExactlyOnce(t, rb.relay, 20)
	assertNoLostClaims(t, e)
	if t.Failed() {
		t.Logf("a ledger write of %d rows lost its reply; logs:\n%s", dropped.Load(), rb.logs.String())
	}
}

// The same race with the ledger write run again by database/sql rather than
// by the ledger: a write that gives rows back untried (the relay answered
// 421) commits, its reply is lost with its connection (a FIN), and
// database/sql runs it again on a fresh connection, silently. Before that
// second run reaches Postgres, the replica claims a given-back row again and
// a worker takes it. The second run must not give back the new claim (whose
// worker sends it), or the row is claimed and sent once more: a duplicate
// with a single replica. Nor is any of its rows a lost claim.
func TestLedgerRerunAfterALostReplyKeepsTheNewClaim(t *testing.T) {
	t.Parallel()
	rb := setupRelay(t, 40) // 20 active
	refuseFirstMails(rb, 2)
	rb.apply(t, testPlan("Hi", campaign("c", "")))
	var (
		mu        sync.Mutex
		givenBack []int64 // by the write whose reply was dropped
		reclaimed int     // of those, claimed again before its second run
	)
	rerun := make(chan struct{}, 1)
	e := rb.replica(t, "r0", rb.clock)
	e.Store = openProxied(t, rb, &pgProxy{
		match: isOutcomes,
		onReply: func(ids []int64) proxyAction {
			mu.Lock()
			defer mu.Unlock()
			if givenBack != nil {
				return forward
			}
			// The write has committed: the rows it gave back are pending
			// (and may have been claimed again already).
			var back []int64
			if err := rb.st.DB.Select(&back, `SELECT id FROM campaignctl.outbox WHERE id = ANY($1) AND status = 'pending'`, int64s(ids)); err != nil {
				t.Error(err)
				return forward
			}
			if len(back) == 0 {
				return forward
			}
			givenBack = back
			rerun <- struct{}{}
			return drop
		},
		onExecute: func() {
			select {
			case <-rerun:
			default:
				return
			}
			// database/sql's second run of the dropped write: held until
			// this replica has claimed a row it gave back again.
			mu.Lock()
			ids := int64s(givenBack)
			mu.Unlock()
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				var n int
				if err := rb.st.DB.Get(&n, `SELECT count(*) FROM campaignctl.outbox WHERE id = ANY($1) AND claimed_by IS NOT NULL`, ids); err != nil {
					t.Error(err)
					return
				}
				if n > 0 {
					mu.Lock()
					reclaimed = n
					mu.Unlock()
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		},
	})
	sendAllThenStop(t, rb, e, 20)
	mu.Lock()
	defer mu.Unlock()
	if reclaimed == 0 {
		t.Fatalf("no row given back by the dropped ledger write (%d rows) was claimed again before the write ran again: the test did not reach the case it is about", len(givenBack))
	}
	assertExactlyOnce(t, rb.relay, 20)
	assertNoLostClaims(t, e)
	if t.Failed() {
		t.Logf("a ledger write gave back %d rows and lost its reply; %d were claimed again before its second run; logs:\n%s", len(givenBack), reclaimed, rb.logs.String())
	}
}

// refuseFirstMails makes the relay answer 421 to the first n MAIL commands,
// so the ledger gives n rows back untried.
func refuseFirstMails(rb *relayBundle, n int32) {
	var refused atomic.Int32
	rb.relay.SetReply(smtptest.StageMail, func(from, rcpt string) *smtptest.Reply {
		if refused.Add(1) <= n {
			return &smtptest.Reply{Code: 421, Enhanced: "4.3.2", Text: "try again"}
		}
		return nil
	})
}

// sendAllThenStop runs e until all n messages are recorded sent, gives
// anything still on its way 300 ms, and stops it.
func sendAllThenStop(t *testing.T, rb *relayBundle, e *engine.Engine, n int64) {
	t.Helper()
	stop, _ := run(t, e, engine.RunOptions{Interval: 20 * time.Millisecond})
	waitFor(t, "every message to be recorded sent", 20*time.Second, func() bool { return rb.outbox(t)["sent"] == n })
	time.Sleep(300 * time.Millisecond)
	stop()
}

// assertNoLostClaims fails when e counted an outcome as a claim lost to
// another replica; the tests that call it run one replica.
func assertNoLostClaims(t *testing.T, e *engine.Engine) {
	t.Helper()
	if lost := testutil.ToFloat64(e.Metrics.LostClaims); lost != 0 {
		t.Errorf("%v outcomes counted as lost claims; no other replica ran", lost)
	}
}

// replicaLosingFirstLedgerReply is replica r0 of rb behind a proxy that
// answers the reply of its first ledger write with action (drop or reset)
// and forwards everything else; dropped holds that write's row count once
// it happened.
func replicaLosingFirstLedgerReply(t *testing.T, rb *relayBundle, action proxyAction) (e *engine.Engine, dropped *atomic.Int32) {
	t.Helper()
	dropped = new(atomic.Int32)
	e = rb.replica(t, "r0", rb.clock)
	e.Store = proxiedStore(t, rb, isOutcomes, func(ids []int64) proxyAction {
		if dropped.CompareAndSwap(0, int32(len(ids))) {
			return action
		}
		return forward
	})
	return e, dropped
}
