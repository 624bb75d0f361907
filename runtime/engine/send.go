package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/mailer"
	"github.com/campaignctl/campaignctl/runtime/metrics"
	"github.com/campaignctl/campaignctl/runtime/policy"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// The send path: outbox → claim → compose → SMTP → ledger.
//
//	claimer ──waited, oneToOne, jobs──► Concurrency workers ──outcomes──► ledger ──► one UPDATE per batch
//	   ▲                                                             │
//	   └──────────── held (claimed, not yet recorded) ◄──────────────┘   renewer: extends their leases
//
// The claimer keeps at most prefetch rows waiting in each lane (claim-due's
// three lanes: waited for confirmations and autoresponders, oneToOne for the
// other kinds but a campaign, jobs for campaigns), so a
// claim is sized to what is actually in flight and a plan change reaches the
// rows not yet handed to the relay: every worker composes with the latest
// loaded revision, and drops rows whose campaign left the plan. Workers take
// a waited job first, then a one-to-one job (three groups in four:
// bulkShareEvery), so mail a person waits for (a confirmation, an
// autoresponder) does not queue behind a sequence's or a campaign's backlog,
// nor a workflow's step behind a campaign's; while the other queues are full
// the claimer still asks for the waited and one-to-one lanes (claim). A row is recorded
// "sent" only after the relay accepted it. The in-flight window (handed to
// the relay, outcome not yet committed) holds at most LedgerBatch messages
// per replica (the window tokens). A message takes its token just before its envelope goes to the
// relay, not when its batch is formed, and its outcome goes to the ledger as
// soon as the relay answers it, not when its batch ends; it then waits at most
// LedgerDelay plus one ledger write. A kill -9 sends what is inside the window
// again once the lease runs out.

// result is an outcome on its way to the ledger; windowed when it holds a
// window token, given back once it is committed.
type result struct {
	store.Outcome
	windowed bool
}

// job is one claimed row with the contacts of its claim batch.
type job struct {
	row      store.Claimed
	contacts batchContacts
	// claimedAt is when the claim that took the row ran (this machine's
	// clock): its suppression check is as old as that (recheckSuppression).
	claimedAt time.Time
}

// suppressionRecheckAfter is how long a claimed row may wait for its batch
// before its address is looked up on the suppression list again: past it, an
// unsubscribe, bounce or complaint recorded since the claim still stops the
// message. A backlog behind a fast relay sends its rows well within it (no
// extra query); behind a slow or throttled relay a row can wait minutes.
const suppressionRecheckAfter = time.Second

// sendPass is one run of the pipeline. untilIdle stops it once a claim finds
// nothing due (SendDue); otherwise it polls every interval until ctx is done.
type sendPass struct {
	e         *Engine
	untilIdle bool
	interval  time.Duration

	held heldSet
	// waited, oneToOne and jobs are the claimed rows waiting for a worker:
	// mail someone waits for (a confirmation, an autoresponder's message),
	// which workers take first, the one-to-one lane's other kinds (every
	// kind but a campaign), then campaigns'.
	waited, oneToOne, jobs chan job
	// taken is poked when a worker took a job and a queue has room for a
	// claim (tookJob): the claimer waits on it.
	taken chan struct{}
	// oneToOneDry: the last claim that asked the one-to-one lane found fewer
	// rows than it asked for, so room in its queue alone is no reason to
	// claim (the claimer asks it every claimFromStartEvery, and when woken).
	oneToOneDry atomic.Bool
	// waitedMore: the last claim that asked the waited lane got all it asked
	// for, so more may wait there; otherwise, while the other queues are
	// full, the claimer asks it when woken and every claimFromStartEvery.
	waitedMore atomic.Bool
	outs       chan result
	// window holds one token per message handed to the relay whose outcome is
	// not yet committed: at most LedgerBatch, so a kill -9 can send at most
	// LedgerBatch messages of this replica twice, even while the database is
	// restarting and the ledger retries.
	window chan struct{}
	sent   atomic.Int64
	// fellBehind says the ledger recorded a row due again (given back,
	// retried, held): the next claim starts from the beginning.
	fellBehind atomic.Bool
	// perMessage is the relay's recent time per message, in nanoseconds
	// (groupLimit).
	perMessage atomic.Int64
}

// SendDue claims and sends due outbox rows until a claim finds none, then waits
// for every outcome to be recorded. It returns how many messages the relay
// accepted.
func (e *Engine) SendDue(ctx context.Context) (int, error) {
	e.defaults()
	if _, err := e.load(ctx); err != nil {
		if errors.Is(err, store.ErrNoRevision) {
			return 0, nil
		}
		return 0, err
	}
	p := e.newPass(true, 0)
	err := p.run(ctx)
	return int(p.sent.Load()), err
}

func (e *Engine) newPass(untilIdle bool, interval time.Duration) *sendPass {
	prefetch := min(max(e.Concurrency*64, 64), max(e.BatchSize, e.Concurrency))
	return &sendPass{
		e: e, untilIdle: untilIdle, interval: interval,
		held:     heldSet{ids: map[int64]time.Time{}, again: map[int64]int{}},
		jobs:     make(chan job, prefetch),
		oneToOne: make(chan job, prefetch),
		waited:   make(chan job, prefetch),
		taken:    make(chan struct{}, 1),
		outs:     make(chan result, 2*e.LedgerBatch),
		window:   make(chan struct{}, e.LedgerBatch),
	}
}

// ledgerGrace is how long, after the shutdown grace, the ledger still has to
// write what it holds: outcomes already known and rows given back untried.
// Without it a grace shorter than a ledger write (a starved machine, a slow
// database) left those rows claimed until their lease ran out.
const ledgerGrace = 5 * time.Second

// run drives the pass. When ctx is cancelled, claiming stops at once, rows not
// yet handed to the relay are released, and messages in the relay's hands get
// ShutdownGrace to finish; what the ledger then holds gets ledgerGrace more
// to be recorded.
func (p *sendPass) run(ctx context.Context) error {
	e := p.e
	// sendCtx outlives ctx by the grace period: a message the relay is taking is
	// finished and recorded rather than cut off and sent again later.
	// ledgerCtx outlives sendCtx by ledgerGrace.
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	ledgerCtx, cancelLedger := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelLedger()
	// claimCtx bounds a claim under way at the signal: half of ledgerGrace
	// after the grace, so the ledger still has the other half to give its
	// rows back.
	claimCtx, cancelClaim := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelClaim()
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(e.ShutdownGrace, cancelSend)
		c := time.AfterFunc(e.ShutdownGrace+ledgerGrace/2, cancelClaim)
		l := time.AfterFunc(e.ShutdownGrace+ledgerGrace, cancelLedger)
		context.AfterFunc(ledgerCtx, func() { t.Stop(); c.Stop(); l.Stop() })
	})
	defer stopGrace()

	renewDone := make(chan struct{})
	renewStop := make(chan struct{})
	go func() { defer close(renewDone); p.renew(renewStop) }()

	ledgerDone := make(chan struct{})
	go func() { defer close(ledgerDone); p.ledger(ledgerCtx) }()

	var workers sync.WaitGroup
	for range e.Concurrency {
		workers.Add(1)
		go func() { defer workers.Done(); p.work(ctx, sendCtx) }()
	}
	claimErr := p.claim(ctx, claimCtx)
	close(p.waited)
	close(p.oneToOne)
	close(p.jobs)
	workers.Wait()
	close(p.outs)
	<-ledgerDone
	close(renewStop)
	<-renewDone
	if ids := p.held.list(); len(ids) > 0 {
		e.Log.Error("outcomes could not be recorded; those rows are retried when their lease runs out", "rows", len(ids), "lease", e.Lease)
	}
	if claimErr != nil && ctx.Err() == nil {
		return claimErr
	}
	return nil
}

// claim feeds jobs until ctx is done or, for a pass until idle, nothing is due.
func (p *sendPass) claim(ctx, claimCtx context.Context) error {
	e := p.e
	// While a backlog drains, each claim starts after the last row claimed in
	// each lane instead of stepping again over the index entries of
	// everything sent (claim-due). One from the start finds what fell behind:
	// every claimFromStartEvery (another replica's rows), after this pass
	// recorded a row due again, and after a lane's claim came back short.
	var cursor store.ClaimCursor
	var fromStartAt, claimedAt time.Time
	// tick wakes a claimer waiting for room in a full campaigns' queue, to
	// ask for the waited and one-to-one lanes anyway.
	tick := time.NewTicker(claimFromStartEvery)
	defer tick.Stop()
	// woken: rows of the waited or one-to-one lane were queued since the
	// last claim.
	woken := false
	p.oneToOneDry.Store(true)
	for ctx.Err() == nil {
		// Claim only when a lane has room for at least half of its queue, so
		// rows do not sit claimed in memory while the relay is slow. With
		// the campaigns' queue full, the waited and one-to-one lanes alone
		// are asked: as their queue empties while they have a backlog,
		// otherwise at most every claimFromStartEvery, and at once when such
		// rows were queued.
		lim := p.limits()
		recent := !woken && time.Since(claimedAt) < claimFromStartEvery
		oneReady := lim.OneToOne > 0 && !(p.oneToOneDry.Load() && recent)
		waitedReady := lim.Waited > 0 && !(!p.waitedMore.Load() && recent)
		if lim.Bulk == 0 && !oneReady && !waitedReady {
			woken = p.waitForRoom(ctx, tick)
			continue
		}
		woken = false
		l, err := e.load(ctx)
		if err != nil {
			if p.untilIdle {
				if errors.Is(err, store.ErrNoRevision) {
					return nil
				}
				return err
			}
			// Nothing applied yet is no error, nor is a read cut short by shutdown.
			if !errors.Is(err, store.ErrNoRevision) && ctx.Err() == nil {
				p.logOnce("cannot load the applied plan; sending paused", err)
			}
			p.sleep(ctx)
			continue
		}
		if e.relay.paused() {
			// A pass until idle does not wait out a relay outage; the next pass
			// tries again. A daemon's pass claims nothing until the pause ends:
			// the rows stay free for replicas that can reach the relay (one that
			// limits connections per client may take theirs and refuse ours).
			if p.untilIdle {
				return nil
			}
			if e.relay.wait(ctx) != nil {
				return nil
			}
			continue
		}
		claimedAt = time.Now()
		// The claim must not be cut off by a shutdown: Postgres may commit it
		// while the client sees only "context canceled", which would leave the
		// rows claimed by a replica that no longer works on them. It runs
		// until claimCtx ends (the shutdown grace plus half of ledgerGrace),
		// so its rows, once claimed, are given back through the ledger; cut
		// off by the relay's grace alone, a claim that a starved
		// machine slowed past a short grace left its rows claimed until their
		// lease ran out (TestShutdownWritesTheLedgerAfterTheRelayGrace, once
		// in a loaded run). A claim that a hung database keeps waiting is
		// still cut off then, so the exit keeps its bound: what it may have
		// claimed waits for its lease to run out.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		stopClaim := context.AfterFunc(claimCtx, cancel)
		if p.fellBehind.Swap(false) || claimedAt.Sub(fromStartAt) >= claimFromStartEvery {
			cursor, fromStartAt = store.ClaimCursor{}, claimedAt
		}
		rows, err := e.Store.ClaimDueAfter(cctx, e.Clock.Now(), e.Worker, e.Lease, lim, cursor)
		stopClaim()
		cancel()
		p.held.add(rows, claimedAt.Add(e.Lease))
		n := countLanes(rows)
		cursor = nextCursor(cursor, lim, rows, n)
		if lim.OneToOne > 0 {
			p.oneToOneDry.Store(n[store.LaneOneToOne] < lim.OneToOne)
		}
		if lim.Waited > 0 {
			p.waitedMore.Store(n[store.LaneWaited] >= lim.Waited)
		}
		if err != nil {
			if p.untilIdle || ctx.Err() != nil {
				return err
			}
			p.logOnce("claiming due messages failed; retrying", err)
			p.sleep(ctx)
			continue
		}
		p.e.logOnce("send", "", nil)
		if len(rows) == 0 {
			if lim.Waited == 0 || lim.OneToOne == 0 || lim.Bulk == 0 {
				// A lane was not asked (its queue is full): nothing due
				// is not known yet.
				woken = p.waitForRoom(ctx, tick)
				continue
			}
			if p.untilIdle {
				return nil
			}
			if p.held.len() == 0 && !e.drained.Swap(true) {
				poke(e.wakeReconcile)
			}
			p.sleep(ctx)
			continue
		}
		e.drained.Store(false)

		p.gauge()
		contacts := loadBatchContacts(ctx, e.Store, l.plan, l.written, rows)
		contacts.caps = decideCaps(ctx, e.Store, l, e.Worker, contacts, rows, e.Clock.Now())
		contacts.budget = e.reserveBudgets(ctx, l, contacts, rows, e.Clock.Now())
		contacts.ledger, contacts.ledgerErr = loadConsentLedger(ctx, e.Store, l, rows)
		if contacts.caps != nil && contacts.caps.err != nil {
			p.logOnce("cannot count recent marketing mail; this batch's messages under a frequency cap are held a minute", contacts.caps.err)
		}
		// The waited lane's rows come first, then the one-to-one lane's
		// (ClaimDueAfter's order).
		for i, r := range rows {
			select {
			case p.queue(r.Lane()) <- job{row: r, contacts: contacts, claimedAt: claimedAt}:
			case <-ctx.Done():
				for _, r := range rows[i:] {
					p.outs <- result{Outcome: release(r)}
				}
				return nil
			}
		}
	}
	return nil
}

// tookJob wakes the claimer if a queue now has room for a claim: the
// campaigns' queue at half empty, the waited and one-to-one lanes' too while
// they have a backlog. Waking it for every job taken switched goroutines on the
// daemon's processor once a message for nothing.
func (p *sendPass) tookJob() {
	if p.room(p.jobs) > 0 || !p.oneToOneDry.Load() && p.room(p.oneToOne) > 0 || p.waitedMore.Load() && p.room(p.waited) > 0 {
		poke(p.taken)
	}
}

// waitForRoom waits for a worker to take a job, for tick, or for word that
// rows of the waited or one-to-one lane were queued; it reports the last.
func (p *sendPass) waitForRoom(ctx context.Context, tick *time.Ticker) (woken bool) {
	select {
	case <-ctx.Done():
	case <-p.taken:
	case <-tick.C:
	case <-p.e.wakeOneToOne:
		return true
	}
	return false
}

// limits is what the claimer may claim now: in each lane, the room left in
// its queue if it holds at least half of the queue, otherwise nothing. Each
// lane is claimed by its own room, so neither waits for the other's backlog
// to drain (the workers share the sends: bulkShareEvery).
func (p *sendPass) limits() store.ClaimLimits {
	waited, one, bulk := p.room(p.waited), p.room(p.oneToOne), p.room(p.jobs)
	return store.ClaimLimits{Waited: waited, OneToOne: one, Bulk: bulk, Total: waited + one + bulk}
}

// room is the room left in q if it is at least half of a queue, else 0.
func (p *sendPass) room(q chan job) int {
	if r := cap(q) - len(q); r >= max(cap(q)/2, 1) {
		return r
	}
	return 0
}

// nextCursor is where the claim after this one starts in each lane: after
// the rows claimed there, or from the lane's start when its claim came back
// short (or failed: rows is then empty), since that lane was drained after
// the cursor and what fell behind it can be claimed now. A lane not asked
// keeps its place. n is how many of rows each lane gave (countLanes; the
// waited lane has no cursor).
func nextCursor(c store.ClaimCursor, lim store.ClaimLimits, rows []store.Claimed, n [store.Lanes]int) store.ClaimCursor {
	next := c.After(rows)
	waited, one, bulk := n[store.LaneWaited], n[store.LaneOneToOne], n[store.LaneBulk]
	if oneAsked := min(lim.OneToOne, lim.Total-waited); lim.OneToOne > 0 && one < oneAsked {
		next.OneToOne = store.LanePosition{}
	}
	if bulkAsked := min(lim.Bulk, lim.Total-waited-one); lim.Bulk > 0 && bulk < bulkAsked {
		next.Bulk = store.LanePosition{}
	}
	return next
}

// countLanes counts the rows each lane gave.
func countLanes(rows []store.Claimed) (n [store.Lanes]int) {
	for _, r := range rows {
		n[r.Lane()]++
	}
	return n
}

// queue is the queue of the lane's claimed rows.
func (p *sendPass) queue(l store.Lane) chan job {
	switch l {
	case store.LaneWaited:
		return p.waited
	case store.LaneOneToOne:
		return p.oneToOne
	}
	return p.jobs
}

// holdThroughPause is the longest relay pause a worker waits out holding
// the rows it has: past it (an outage's backoff has grown) they go back for
// other replicas. The first pauses of an outage and a throttling relay's
// (0.5 s each) are waited out, as rows given back and claimed again at
// every pause would double the queue's writes.
const holdThroughPause = time.Second

// claimFromStartEvery bounds how long a row that became claimable behind the
// claimer's cursor (given back, its lease run out, enqueued due earlier than
// the backlog) waits while a backlog drains.
const claimFromStartEvery = 250 * time.Millisecond

// logOnce logs err unless it is the error the claimer logged last: a plan
// that cannot load, or a database that is down, is one line per change, not
// four a second.
func (p *sendPass) logOnce(msg string, err error) {
	p.e.logOnce("send", msg, err)
}

// sleep waits for the next poll: interval, at most 250 ms (an empty claim is
// one index probe), or until reconcile enqueues rows.
func (p *sendPass) sleep(ctx context.Context) {
	d := min(p.interval, 250*time.Millisecond)
	if d <= 0 {
		d = 250 * time.Millisecond
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-p.e.wakeSend:
	case <-t.C:
	}
}

// maxBatch is the most jobs a worker takes at once (without waiting for more)
// and hands to a BatchMailer on one connection. Each message of a batch costs
// one round trip to the relay, and the first message of a batch one more
// (its envelope cannot ride on the previous body): 16 sent the benchmark's
// 100,000 messages 4% faster than 4 (0.799× against 0.767× smtp-source, three
// pairs). groupLimit lowers it for a slow relay.
const maxBatch = 16

// groupLimit is how many jobs a worker takes for one batch now: as many as
// the relay takes in Lease/6 at the pace it has kept (1 until a message has
// been timed: the relay's pace is unknown), between 1 and maxBatch. A claim's lease is checked once,
// before its batch, for Lease/3 to spare, so a batch that outlasted that
// could hand the relay a row another replica has taken over, if the
// renewals failed meanwhile; behind a relay that takes 3 s a message, a
// batch is one message.
func (p *sendPass) groupLimit() int {
	per := time.Duration(p.perMessage.Load())
	if per <= 0 {
		return 1
	}
	return int(max(1, min(int64(maxBatch), int64(p.e.Lease/6/per))))
}

// timed records how long a batch took per message (a moving average; two
// workers timing at once may overwrite each other's update, which an
// estimate can afford).
func (p *sendPass) timed(per time.Duration) {
	old := time.Duration(p.perMessage.Load())
	if old > 0 {
		per = (3*old + per) / 4
	}
	p.perMessage.Store(int64(max(per, 1)))
}

// work sends jobs. Once ctx is done, jobs not yet started are released untried.
// A worker takes the first job waiting, then up to groupLimit()-1 more that are
// already queued, and sends them together when the Mailer is a BatchMailer.
func (p *sendPass) work(ctx, sendCtx context.Context) {
	jobs := make([]job, 0, maxBatch)
	group := make([]job, 0, maxBatch)
	queues := jobQueues{waited: p.waited, oneToOne: p.oneToOne, bulk: p.jobs}
	for {
		queues.startGroup()
		j, ok := queues.take(true)
		if !ok {
			return
		}
		p.tookJob()
		jobs = append(jobs[:0], j)
		for limit := p.groupLimit(); len(jobs) < limit; {
			j, ok := queues.take(false)
			if !ok {
				break
			}
			p.tookJob()
			jobs = append(jobs, j)
		}
		group = group[:0]
		for _, j := range jobs {
			if ctx.Err() != nil {
				p.outs <- result{Outcome: release(j.row)}
				continue
			}
			// Rows are not held through a long relay pause: they go back
			// untried, due as they were, for this replica's next claim once
			// the pause ends or for another replica's now (its relay may
			// work). A short one (a throttling relay's, or an outage's first)
			// is waited out: giving back and claiming again at every pause
			// would write the whole queue twice each time. A pass until idle
			// gives back at once.
			switch d := p.e.relay.pausedFor(); {
			case d > holdThroughPause || d > 0 && p.untilIdle:
				p.outs <- result{Outcome: p.e.deferred(j.row)}
				continue
			case d > 0:
				if len(group) > 0 {
					// Do not hold a group's claims through a relay pause.
					p.sendGroup(ctx, sendCtx, group)
					group = group[:0]
				}
				if err := p.e.relay.wait(ctx); err != nil {
					p.outs <- result{Outcome: release(j.row)}
					continue
				}
			}
			group = append(group, j)
		}
		if len(group) > 0 && p.e.relay.pausedFor() > holdThroughPause {
			for _, j := range group {
				p.outs <- result{Outcome: p.e.deferred(j.row)}
			}
			group = group[:0]
		}
		if len(group) > 0 {
			p.sendGroup(ctx, sendCtx, group)
		}
	}
}

// jobQueues is a worker's view of the pass's three queues; a queue is nil
// once it is closed and drained. groups counts the groups the worker started.
type jobQueues struct {
	waited, oneToOne, bulk chan job
	groups                 int
}

// bulkShareEvery: a worker's every bulkShareEvery-th group starts with the
// campaigns' jobs, when any wait, and fills with them first; the group
// halfway between starts with the one-to-one lane's (take). The other groups
// take the waited lane's first, then the one-to-one lane's. So a backlog larger
// than the relay can take (a sequence's step due for everyone at once) still
// leaves campaigns a quarter of the sends instead of none, and the campaigns'
// queue keeps emptying, so their lane is claimed again and a campaign row a
// killed replica held is taken over once its lease runs out, not once that
// backlog has gone.
const bulkShareEvery = 4

// startGroup tells take that the next job starts a group.
func (q *jobQueues) startGroup() { q.groups++ }

// take returns the next job: a waited job, then a one-to-one job, before a
// campaign's, except in every bulkShareEvery-th group, which starts with the
// campaigns', and in the group halfway between two of those, which starts
// with the one-to-one lane's. So a backlog of waited mail (a confirmation for
// each of a list imported at once) leaves sequences and workflows their
// share, as a one-to-one backlog leaves campaigns theirs. With block false,
// only one already waiting. ok is false when there is none: all queues are
// closed and drained, or nothing waits and block is false.
func (q *jobQueues) take(block bool) (j job, ok bool) {
	order := [3]*chan job{&q.waited, &q.oneToOne, &q.bulk}
	switch q.groups % bulkShareEvery {
	case 0:
		order = [3]*chan job{&q.bulk, &q.waited, &q.oneToOne}
	case bulkShareEvery / 2:
		order = [3]*chan job{&q.oneToOne, &q.waited, &q.bulk}
	}
look:
	for q.waited != nil || q.oneToOne != nil || q.bulk != nil {
		for _, c := range order {
			if *c == nil {
				continue
			}
			select {
			case j, ok = <-*c:
				if ok {
					return j, true
				}
				*c = nil
				continue look // look again at what is left, in order
			default:
			}
		}
		if !block {
			return job{}, false
		}
		// A receive from a nil queue blocks: only the open ones are waited on.
		select {
		case j, ok = <-q.waited:
			if ok {
				return j, true
			}
			q.waited = nil
		case j, ok = <-q.oneToOne:
			if ok {
				return j, true
			}
			q.oneToOne = nil
		case j, ok = <-q.bulk:
			if ok {
				return j, true
			}
			q.bulk = nil
		}
	}
	return job{}, false
}

// recheckSuppression looks the addresses of the jobs that waited longer than
// suppressionRecheckAfter since their claim up on the suppression list again,
// in one query, and sets what it finds as their SuppressedAs, so compose
// cancels them as it would have at the claim. When the lookup fails, those
// jobs are given back untried rather than sent unchecked (as a claim whose
// check fails takes nothing).
func (p *sendPass) recheckSuppression(ctx context.Context, group []job) []job {
	cutoff := time.Now().Add(-suppressionRecheckAfter)
	var stale []string
	for _, j := range group {
		if j.claimedAt.Before(cutoff) {
			stale = append(stale, j.row.EmailNorm)
		}
	}
	if len(stale) == 0 {
		return group
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	reasons, err := p.e.Store.SuppressionReasons(qctx, stale)
	cancel()
	kept := group[:0]
	for _, j := range group {
		if j.claimedAt.Before(cutoff) {
			if err != nil {
				p.outs <- result{Outcome: release(j.row)}
				continue
			}
			if why, ok := reasons[j.row.EmailNorm]; ok {
				j.row.SuppressedAs = why
			}
		}
		kept = append(kept, j)
	}
	if err != nil {
		p.logOnce("checking waiting messages against the suppression list failed; giving them back", err)
	}
	return kept
}

// reserve takes a window token for one message, at most once (reserved
// records it): the message's mailer.Message.Reserve, and the token the
// lock-step path takes before Send. With wait it blocks until a token is
// free or ctx (the worker's: the daemon is stopping) is done. Once ctx is
// done it takes none: the rest of a batch is given back untried, not started
// during the shutdown grace. A worker waits only while nothing of its own is
// in flight, and every token is given back by a ledger write that does not
// depend on any worker, so workers cannot starve each other.
func (p *sendPass) reserve(ctx context.Context, reserved *bool, wait bool) bool {
	if *reserved {
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	if !wait {
		select {
		case p.window <- struct{}{}:
			*reserved = true
		default:
		}
		return *reserved
	}
	select {
	case p.window <- struct{}{}:
		*reserved = true
	case <-ctx.Done():
	}
	return *reserved
}

// sendGroup composes and sends jobs, and hands each outcome to the ledger as
// soon as it is known. A message takes its window token just before its
// envelope goes to the relay (mailer.Message.Reserve), so the window counts
// the messages on their way to the relay and not yet recorded, not those
// still waiting in a batch. ctx is the worker's: once it is done, a message
// still waiting for a token is given back untried.
func (p *sendPass) sendGroup(ctx, sendCtx context.Context, group []job) {
	e := p.e
	// The lease must hold for the whole exchange, or another replica could be
	// sending the same message: give it back instead (the write is fenced, so
	// a row already taken over is left alone). Checked here, just before the
	// group is composed and sent.
	// The same check bounds each message's hand-off (mailer.Message's
	// HandOff, asked before its envelope and before its final dot): the
	// relay gets nothing of a row whose lease, as renewals have kept it, has
	// less than Lease/3 left. A relay that turns slow in the middle of a
	// batch (its pace is what sized the batch) while renewals fail cannot
	// stretch the batch past the lease; the rest is given back untried.
	valid := make([]job, 0, len(group))
	for _, j := range group {
		if !p.held.valid(j.row.ID, e.Lease/3) {
			e.Log.Warn("claim may have expired before sending (lease renewal late); giving the row back", "outbox_id", j.row.ID, "lease", e.Lease)
			p.outs <- result{Outcome: release(j.row)}
			continue
		}
		valid = append(valid, j)
	}
	group = p.recheckSuppression(ctx, valid)
	if len(group) == 0 {
		return
	}
	emit := func(out store.Outcome, delivered, windowed bool) {
		if delivered {
			p.sent.Add(1)
			if e.Metrics != nil {
				e.Metrics.Unrecorded.Inc()
			}
		}
		p.outs <- result{Outcome: out, windowed: windowed}
	}
	bm, batching := e.Mailer.(BatchMailer)
	if !batching {
		// A Mailer that knows nothing of Reserve: the token is taken here,
		// with nothing of this worker in flight, before Send.
		for _, j := range group {
			reserved := false
			if !p.reserve(ctx, &reserved, true) {
				p.outs <- result{Outcome: release(j.row)}
				continue
			}
			out, delivered := p.process(sendCtx, j)
			emit(out, delivered, true)
		}
		return
	}
	preps := make([]prepared, 0, len(group))
	msgs := make([]*mailer.Message, 0, len(group))
	for _, j := range group {
		pr := e.prepare(j)
		if pr.msg == nil {
			emit(pr.out, false, false)
			continue
		}
		preps = append(preps, pr)
		msgs = append(msgs, pr.msg)
	}
	if len(msgs) == 0 {
		return
	}
	// Each message's hooks: its lease, its window token, and its outcome
	// handed to the ledger the moment the relay answers it.
	state := make([]struct{ reserved, emitted bool }, len(preps))
	for i := range preps {
		pr, st := &preps[i], &state[i]
		pr.msg.HandOff = p.handOff(pr)
		pr.msg.Reserve = func(wait bool) bool { return p.reserve(ctx, &st.reserved, wait) }
		pr.msg.Done = func(err error) {
			if !st.emitted {
				st.emitted = true
				out, delivered := e.finish(*pr, err)
				emit(out, delivered, st.reserved)
			}
		}
	}
	start := time.Now()
	errs := bm.SendBatch(sendCtx, msgs)
	per, handed := p.paced(time.Since(start), len(msgs), errs)
	if e.Metrics != nil {
		for range handed {
			e.Metrics.SendSeconds.Observe(per.Seconds())
		}
	}
	for i := range preps {
		if !state[i].emitted {
			// A BatchMailer that does not call Done.
			var err error = errNoResult
			if i < len(errs) {
				err = errs[i]
			}
			preps[i].msg.Done(err)
		}
	}
}

// batchPace is each message's share of a batch's time, and how many of the
// batch's n messages were handed to the relay. A message whose HandOff was
// refused took none of that time unless it was the one abandoned with its
// DATA open, so the time is shared by the messages handed over, or counted
// as one message's when none was: the pace behind a relay that slowed in the
// middle of a batch is never read as faster than it was. (Dividing by all n
// did: after a batch whose second half was refused, the next batch was about
// twice the size the relay's pace allows, and was abandoned in turn.)
func batchPace(elapsed time.Duration, n int, errs []error) (per time.Duration, handed int) {
	for i := range n {
		if i < len(errs) && mailer.NotStarted(errs[i]) {
			continue
		}
		handed++
	}
	return elapsed / time.Duration(max(handed, 1)), handed
}

// paced records a sent batch's pace (batchPace) and returns it with how
// many messages were handed over. A batch of which none was handed over says
// only that the relay may be slower than thought: it can slow the estimate
// down, never speed it up.
func (p *sendPass) paced(elapsed time.Duration, n int, errs []error) (per time.Duration, handed int) {
	per, handed = batchPace(elapsed, n, errs)
	if handed > 0 || per > time.Duration(p.perMessage.Load()) {
		p.timed(per)
	}
	return per, handed
}

// errNoResult stands for a SendBatch that returned fewer errors than messages:
// those messages are treated as never sent.
var errNoResult = errors.New("the mailer returned no result for this message")

// ledger writes outcomes in batches: when LedgerBatch are waiting or the oldest
// has waited LedgerDelay. A failed write is retried (the database may be
// restarting) for as long as the claims can still be valid, and not past
// ledgerCtx.
func (p *sendPass) ledger(ledgerCtx context.Context) {
	e := p.e
	batch := make([]result, 0, e.LedgerBatch)
	// Half the window per write: one half is being recorded while the other
	// fills, so the window rarely blocks a worker.
	flushAt := max(e.LedgerBatch/2, 1)
	var timer <-chan time.Time
	flush := func() {
		if len(batch) > 0 {
			p.record(ledgerCtx, batch)
			batch = batch[:0]
		}
		timer = nil
	}
	for {
		select {
		case o, ok := <-p.outs:
			if !ok {
				flush()
				return
			}
			batch = append(batch, o)
			if len(batch) >= flushAt {
				flush()
			} else if timer == nil {
				timer = time.After(e.LedgerDelay)
			}
		case <-timer:
			flush()
		}
	}
}

// record writes one batch, retrying with backoff until it succeeds, the claims'
// lease has surely run out, or ledgerCtx (the shutdown grace and ledgerGrace)
// is over.
func (p *sendPass) record(ledgerCtx context.Context, results []result) {
	e := p.e
	batch := make([]store.Outcome, len(results))
	for i, r := range results {
		batch[i] = r.Outcome
	}
	defer p.forget(results)
	deadline := time.Now().Add(e.Lease)
	wait := 50 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(ledgerCtx, 10*time.Second)
		done, err := e.Store.RecordOutcomes(ctx, e.Worker, batch)
		if err == nil && len(done) < len(batch) {
			// An earlier run of this write may have committed and lost its
			// reply with its connection: this is the ledger's retry after
			// the error, or database/sql's rerun on a fresh connection when
			// the driver reports the old one bad (lib/pq does on a
			// connection closed mid-reply). Its rows are no longer this
			// claim's to write (the fencing token is unique per claim, so a
			// row given back and claimed again since is left alone), and
			// were not taken over.
			done = p.recordedBefore(ctx, batch, done)
		}
		cancel()
		if err == nil {
			p.recorded(batch, done)
			return
		}
		if time.Now().Add(wait).After(deadline) || ledgerCtx.Err() != nil {
			accepted := 0
			for _, o := range batch {
				if o.Status == store.OutboxSent {
					accepted++
				}
			}
			// The gauge of unrecorded messages drops as forget frees them; the
			// counter keeps what was given up, for the alert.
			e.Log.Error("cannot record outcomes; their rows are retried when their lease runs out, and those the relay accepted may be sent twice",
				"rows", len(batch), "accepted_by_relay", accepted, "err", err)
			if e.Metrics != nil {
				e.Metrics.GivenUp.Add(float64(len(batch)))
			}
			return
		}
		e.Log.Warn("recording outcomes failed; retrying", "rows", len(batch), "err", err, "retry_in", wait)
		select {
		case <-ledgerCtx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// recordedBefore adds to done those outcomes of batch that their rows
// already hold from an earlier attempt of this write. When it cannot tell,
// done stays as it is: a row not recorded counts as a claim lost.
func (p *sendPass) recordedBefore(ctx context.Context, batch []store.Outcome, done map[int64]bool) map[int64]bool {
	var rest []store.Outcome
	for _, o := range batch {
		if !done[o.ID] {
			rest = append(rest, o)
		}
	}
	before, err := p.e.Store.RecordedOutcomes(ctx, p.e.Worker, rest)
	if err != nil {
		p.e.Log.Warn("cannot tell whether an earlier ledger write committed; its rows count as lost claims", "rows", len(rest), "err", err)
		return done
	}
	for id := range before {
		done[id] = true
	}
	return done
}

func (p *sendPass) recorded(batch []store.Outcome, done map[int64]bool) {
	e := p.e
	for _, o := range batch {
		if o.Status == store.OutboxPending && done[o.ID] {
			// Given back, retried or held: due again, perhaps behind the
			// claimer's cursor.
			p.fellBehind.Store(true)
		}
		if !done[o.ID] {
			// Another replica took the row over after our lease ran out: what we did
			// is not recorded, and if we sent it, it was sent twice.
			e.Log.Warn("outcome not recorded: the claim was taken over by another replica", "outbox_id", o.ID, "campaign", o.Campaign, "status", o.Status)
			if e.Metrics != nil {
				e.Metrics.LostClaims.Inc()
			}
		}
	}
}

// forget drops recorded (or given up) rows from the held set and frees their
// window tokens.
func (p *sendPass) forget(results []result) {
	e := p.e
	for _, r := range results {
		p.held.remove(r.ID)
		if r.Status == store.OutboxSent && e.Metrics != nil {
			e.Metrics.Unrecorded.Dec()
		}
		if r.windowed {
			<-p.window
		}
	}
	p.gauge()
	if p.held.len() == 0 {
		// The claimer may be waiting out its poll with nothing to claim: it is
		// the next claim, made with nothing held, that marks the outbox
		// drained and wakes reconcile (which finishes campaigns, and lets
		// --exit-when-idle exit), now rather than up to 250 ms later.
		poke(p.e.wakeSend)
	}
}

// renew extends the leases of held rows every Lease/3 until stop is closed.
func (p *sendPass) renew(stop <-chan struct{}) {
	e := p.e
	tick := time.NewTicker(max(e.Lease/3, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		ids := p.held.list()
		if len(ids) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(e.Lease/3, time.Second))
		start := time.Now()
		if _, err := e.Store.RenewLeases(ctx, e.Worker, ids, e.Lease); err != nil {
			e.Log.Warn("renewing leases failed", "rows", len(ids), "err", err)
		} else {
			p.held.renewed(ids, start.Add(e.Lease))
		}
		cancel()
	}
}

func (p *sendPass) gauge() {
	if p.e.Metrics != nil {
		p.e.Metrics.Claimed.Set(float64(p.held.len()))
	}
}

// heldSet is the rows this pass claimed and has not recorded yet, with when
// each claim's lease surely still holds by this process's clock: the time the
// claim or its last successful renewal was sent, plus Lease. A worker never
// hands the relay a row whose lease may have run out (the renewer starved, the
// database unreachable), since another replica may already have it.
type heldSet struct {
	mu  sync.Mutex
	ids map[int64]time.Time
	// again counts, per row, the claims of it added while an earlier claim's
	// outcome was not yet let go: the ledger's write of that outcome
	// committed (or its lease ran out) before the ledger knew. remove then
	// leaves the newer claim in place.
	again map[int64]int
}

func (h *heldSet) add(rows []store.Claimed, validUntil time.Time) {
	h.mu.Lock()
	for _, r := range rows {
		if _, ok := h.ids[r.ID]; ok {
			h.again[r.ID]++
		}
		h.ids[r.ID] = validUntil
	}
	h.mu.Unlock()
}

// renewed extends the validity of ids that are still held.
func (h *heldSet) renewed(ids []int64, validUntil time.Time) {
	h.mu.Lock()
	for _, id := range ids {
		if _, ok := h.ids[id]; ok {
			h.ids[id] = validUntil
		}
	}
	h.mu.Unlock()
}

// valid reports whether id's lease, as this replica knows it, holds for at
// least margin more.
func (h *heldSet) valid(id int64, margin time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	until, ok := h.ids[id]
	return ok && time.Now().Add(margin).Before(until)
}

// handOff is a message's mailer.Message.HandOff: whether its row's lease,
// as renewals keep it, still holds for Lease/3, the margin of the check
// before its group.
func (p *sendPass) handOff(pr *prepared) func() bool {
	return func() bool { return p.held.valid(pr.row.ID, p.e.Lease/3) && p.e.composedUnder(pr) }
}

// remove lets go of the oldest claim of id: the row itself, unless it was
// claimed again since.
func (h *heldSet) remove(id int64) {
	h.mu.Lock()
	if n := h.again[id]; n > 0 {
		if n == 1 {
			delete(h.again, id)
		} else {
			h.again[id] = n - 1
		}
	} else {
		delete(h.ids, id)
	}
	h.mu.Unlock()
}

func (h *heldSet) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ids)
}

func (h *heldSet) list() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]int64, 0, len(h.ids))
	for id := range h.ids {
		out = append(out, id)
	}
	return out
}

func outcome(r store.Claimed, status string) store.Outcome {
	return store.Outcome{ID: r.ID, ClaimSeq: r.ClaimSeq, Status: status, Email: r.Email, Campaign: r.Campaign}
}

// release gives a row back untried: pending, due as before, no attempt used.
func release(r store.Claimed) store.Outcome {
	o := outcome(r, store.OutboxPending)
	o.Release = true
	return o
}

// deferred gives a row back untried while the relay is paused, or fails it
// once it is past the give-up age.
func (e *Engine) deferred(r store.Claimed) store.Outcome {
	if e.Clock.Now().Sub(r.FirstAttemptAt) < e.GiveUpAfter {
		return release(r)
	}
	if e.Metrics != nil {
		e.Metrics.Messages.WithLabelValues(r.Kind, r.Campaign, r.Step, r.Variant, metrics.StatusFailed).Inc()
	}
	h := e.RelayHealth()
	o := outcome(r, store.OutboxFailed)
	o.Error = fmt.Sprintf("giving up after %s without a working relay: %s", e.GiveUpAfter, h.Reason)
	return o
}

// prepared is a composed message ready for the relay, or (msg nil) the outcome
// of a row decided without sending it.
type prepared struct {
	row     store.Claimed
	msg     *mailer.Message
	tplHash string
	sender  string // the plan sender's name, for the per-sender metrics
	// senderHash is the content hash of the sender the message was
	// composed with (its From and Reply-To; composedUnder).
	senderHash string
	out        store.Outcome
	// composedWith is the revision the message was composed from
	// (composedUnder).
	composedWith *loaded
}

// process composes and sends one row and decides its outcome. delivered is true
// when the relay accepted the message.
func (p *sendPass) process(ctx context.Context, j job) (out store.Outcome, delivered bool) {
	e := p.e
	pr := e.prepare(j)
	if pr.msg == nil {
		return pr.out, false
	}
	pr.msg.HandOff = p.handOff(&pr)
	start := time.Now()
	err := e.Mailer.Send(ctx, pr.msg)
	took := time.Since(start)
	p.timed(took)
	if e.Metrics != nil {
		e.Metrics.SendSeconds.Observe(took.Seconds())
	}
	return e.finish(pr, err)
}

// prepare composes one row's message, or decides its outcome when it cannot
// or must not be sent.
func (e *Engine) prepare(j job) prepared {
	r := j.row
	done := func(o store.Outcome) prepared { return prepared{row: r, out: o} }
	count := func(status string) {
		if e.Metrics != nil {
			e.Metrics.Messages.WithLabelValues(r.Kind, r.Campaign, r.Step, r.Variant, status).Inc()
		}
	}
	l := e.loadedNow()
	tg, err := l.target(r)
	if err != nil {
		count(metrics.StatusCancelled)
		o := outcome(r, store.OutboxCancelled)
		o.Error = err.Error()
		return done(o)
	}
	// Before anything that could cancel or fail it: a paused object's message
	// waits, whatever else would happen to it.
	if o, held := e.holdPaused(l, tg, r); held {
		return done(o)
	}
	if suppressedFor(tg, r) {
		count(metrics.StatusCancelled)
		o := outcome(r, store.OutboxCancelled)
		o.Error = "address suppressed (" + r.SuppressedAs + ")"
		return done(o)
	}
	if err := l.ruleErrs[rulesKey(tg.kind, tg.name, tg.step)]; err != nil {
		count(metrics.StatusFailed)
		o := outcome(r, store.OutboxFailed)
		o.Error = "send-time policy: " + err.Error()
		return done(o)
	}
	if o, refused := e.withoutConsent(l, tg, j.contacts, r); refused {
		count(metrics.StatusCancelled)
		return done(o)
	}
	if o, held := e.holdByPolicy(tg, j.contacts, r); held {
		return done(o)
	}
	if o, held := e.holdByBudget(tg, j.contacts, r); held {
		return done(o)
	}
	msg, tplHash, err := e.compose(l, j.contacts, tg, r)
	var unavailable *contactsUnavailable
	if errors.As(err, &unavailable) {
		// Retried like a relay outage: due as before, until the give-up age.
		e.Log.Warn("cannot read the contact data; the message is retried", "campaign", r.Campaign, "outbox_id", r.ID, "err", err)
		count(metrics.StatusDeferred)
		if e.Clock.Now().Sub(r.FirstAttemptAt) >= e.GiveUpAfter {
			o := outcome(r, store.OutboxFailed)
			o.Error = fmt.Sprintf("giving up after %s without the contact data: %v", e.GiveUpAfter, err)
			return done(o)
		}
		o := outcome(r, store.OutboxPending)
		o.At, o.Error = e.Clock.Now().Add(unavailableBackoff(r.Attempts)), err.Error()
		return done(o)
	}
	if err != nil {
		count(metrics.StatusFailed)
		e.Log.Error("cannot compose message", "campaign", r.Campaign, "outbox_id", r.ID, "err", err)
		o := outcome(r, store.OutboxFailed)
		o.Error = err.Error()
		return done(o)
	}
	return prepared{row: r, msg: msg, tplHash: tplHash, sender: tg.sender.Name, senderHash: tg.sender.Hash, composedWith: l}
}

// composedUnder reports whether pr, composed from an earlier revision than
// the one this daemon now runs, still is what that revision would send: its
// object and step are still in the plan, not paused, and its template's
// and its sender's content hashes are the same (an edited From or Reply-To
// counts as much as an edited subject). A message that is not may not be
// handed to the relay: it is given back untried and composed again from the
// new revision (or held, for a paused object). Called from the message's
// HandOff (before its envelope and before its final dot), so the usual case,
// the same revision, costs one atomic load.
func (e *Engine) composedUnder(pr *prepared) bool {
	cur := e.loadedNow()
	if cur == nil || cur == pr.composedWith {
		return true
	}
	tg, err := cur.target(pr.row)
	return err == nil && tg.templateHash == pr.tplHash && tg.sender.Hash == pr.senderHash && !cur.isPaused(tg.kind, tg.name)
}

// finish decides the outcome of a row whose message was handed to the Mailer,
// from the Mailer's error. delivered is true when the relay accepted it.
func (e *Engine) finish(pr prepared, err error) (out store.Outcome, delivered bool) {
	r, msg, tplHash := pr.row, pr.msg, pr.tplHash
	count := func(status string) {
		if e.Metrics != nil {
			e.Metrics.Messages.WithLabelValues(r.Kind, r.Campaign, r.Step, r.Variant, status).Inc()
		}
	}
	if errors.Is(err, mailer.ErrNotReserved) {
		// Never started: the worker stopped while it waited for a place in
		// the window. The row goes back untried.
		return release(r), false
	}
	if errors.Is(err, mailer.ErrHandOffLate) {
		// Not handed to the relay: the row goes back untried, and nothing
		// is said about the relay (sendGroup).
		if !e.composedUnder(&pr) {
			e.Log.Info("the plan changed after this message was composed; giving the row back to compose it from the new revision", "outbox_id", r.ID, "campaign", r.Campaign, "step", r.Step)
		} else {
			e.Log.Warn("claim may expire before the relay takes the message (relay slowed in a batch, lease renewal late); giving the row back", "outbox_id", r.ID, "lease", e.Lease)
		}
		return release(r), false
	}
	now := e.Clock.Now()
	verdict := mailer.Classify(err)
	if verdict == mailer.Delivered {
		e.relay.ok(e)
		count(metrics.StatusSent)
		if e.Metrics != nil && pr.sender != "" {
			e.Metrics.SentBySender.WithLabelValues(pr.sender).Inc()
		}
		o := outcome(r, store.OutboxSent)
		o.At, o.MessageID, o.TemplateHash = now, msg.MessageID, tplHash
		return o, true
	}
	short, text := describe(err, r.Email)
	if e.Metrics != nil {
		e.Metrics.SMTPFailures.WithLabelValues(stageOf(err), codeOf(err), verdict.String()).Inc()
	}
	o := outcome(r, store.OutboxFailed)
	o.Error, o.SMTP = text, short
	tooOld := now.Sub(r.FirstAttemptAt) >= e.GiveUpAfter
	switch verdict {
	case mailer.HardBounce:
		count(metrics.StatusFailed)
		o.Suppress = true
		e.Log.Warn("hard bounce: address suppressed", "campaign", r.Campaign, "outbox_id", r.ID, "smtp", short, "err", text)
	case mailer.MessageRejected:
		count(metrics.StatusFailed)
		e.Log.Warn("message rejected by the relay", "campaign", r.Campaign, "outbox_id", r.ID, "smtp", short, "err", text)
	case mailer.RetryMessage:
		if tooOld {
			count(metrics.StatusFailed)
			o.Error = fmt.Sprintf("giving up after %s of temporary failures: %s", e.GiveUpAfter, text)
			e.Log.Warn("giving up on a message", "campaign", r.Campaign, "outbox_id", r.ID, "smtp", short, "err", text)
			break
		}
		count(metrics.StatusRetry)
		o.Status, o.At = store.OutboxPending, now.Add(backoff(r.Attempts))
		e.Log.Info("temporary failure; retrying later", "campaign", r.Campaign, "outbox_id", r.ID, "smtp", short, "retry_at", o.At, "err", text)
	default: // the relay is down or refuses us: nothing is wrong with the recipient
		e.relay.trip(e, verdict, short, text)
		if tooOld {
			count(metrics.StatusFailed)
			o.Error = fmt.Sprintf("giving up after %s without a working relay: %s", e.GiveUpAfter, text)
			break
		}
		count(metrics.StatusDeferred)
		o = release(r)
		if se := (*mailer.SendError)(nil); errors.As(err, &se) && se.MaybeDelivered() {
			e.Log.Warn("no answer after the message was handed over; it is retried and may arrive twice", "campaign", r.Campaign, "outbox_id", r.ID, "err", text)
		}
	}
	return o, false
}

// backoff is the wait before retry n (n ≥ 1) of a temporary failure: doubling
// from one minute, capped at an hour, with ±20% jitter so the retries of one
// greylisting run do not come back in lockstep.
func backoff(attempt int) time.Duration {
	d := min(time.Minute<<min(max(attempt-1, 0), 6), time.Hour)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// unavailableBackoff is the wait before retry n (n ≥ 1) of a message whose
// contact data could not be read (a database restart, a CRM table away for a
// moment): doubling from one second, capped at a minute, ±20% jitter, so a
// blip of a second delays the messages by about a second, not a minute.
func unavailableBackoff(attempt int) time.Duration {
	d := min(time.Second<<min(max(attempt-1, 0), 6), time.Minute)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// describe returns the short SMTP summary ("rcpt 550 5.1.1") and the full text
// of a delivery error, with the recipient's address masked: logs and the
// outbox's last_error say what happened, not to whom.
func describe(err error, email string) (short, text string) {
	text = err.Error()
	if email != "" {
		text = strings.ReplaceAll(text, email, "<recipient>")
		text = strings.ReplaceAll(text, strings.ToLower(email), "<recipient>")
	}
	var se *mailer.SendError
	if errors.As(err, &se) {
		short = string(se.Stage)
		if se.Code != 0 {
			short += fmt.Sprintf(" %d", se.Code)
		}
		if se.Enhanced != "" {
			short += " " + se.Enhanced
		}
		if se.Code == 0 && se.Timeout() {
			short += " timeout"
		}
	}
	return short, text
}

func stageOf(err error) string {
	var se *mailer.SendError
	if errors.As(err, &se) {
		return string(se.Stage)
	}
	return "unknown"
}

func codeOf(err error) string {
	var se *mailer.SendError
	if errors.As(err, &se) && se.Code != 0 {
		return fmt.Sprint(se.Code)
	}
	return "none"
}

func (e *Engine) loadedNow() *loaded {
	return e.current.Load()
}

func (e *Engine) compose(l *loaded, contacts batchContacts, tg target, r store.Claimed) (*mailer.Message, string, error) {
	compiled, ok := l.templates[tg.templateKey]
	if !ok {
		if err := l.templateErrs[tg.templateKey]; err != nil {
			return nil, "", err
		}
		return nil, "", fmt.Errorf("template %s not in plan", tg.templateKey)
	}
	contact, err := contacts.get(tg.model, r.ContactKey)
	if err != nil {
		return nil, "", err
	}
	contact = contacts.withWrites(tg.model, r.ContactKey, contact)
	if _, err := mailer.ValidateAddress(r.Email); err != nil {
		return nil, "", fmt.Errorf("recipient address: %w", err)
	}
	addr := strings.TrimSpace(r.Email)
	unsub := e.unsubscribeURL(tg.name, r.Step, r.Email, tg.subscription)
	data := map[string]any{
		tg.model.Name:     contact,
		"unsubscribe_url": unsub,
		"campaign":        tg.name,
	}
	if tg.kind == store.KindSubscription {
		d := l.doubleOptIns[tg.name]
		confirm := e.confirmURL(d, r)
		if confirm == "" {
			return nil, "", fmt.Errorf("subscription %s: the confirmation link needs the daemon's public URL and signing key (--public-url, CAMPAIGNCTL_SECRET)", tg.name)
		}
		data["confirm_url"] = confirm
	}
	out, err := compiled.Render(data)
	if err != nil {
		return nil, "", err
	}
	if e.tracks(r) {
		if out.HTML, err = e.trackHTML(out.HTML, tg, r); err != nil {
			return nil, "", err
		}
	}
	toName, _ := contact["name"].(string)
	// A campaign's Message-ID hashes its name, step and contact; other kinds
	// add their kind and the occurrence. The row's id follows the hash.
	idObject, idKey := tg.name, r.ContactKey
	if r.Kind != "" && r.Kind != kindCampaign {
		idObject, idKey = r.Kind+"/"+tg.name, fmt.Sprintf("%s/%d", r.ContactKey, r.Occurrence)
	}
	return &mailer.Message{
		From:            tg.sender.From,
		ReplyTo:         e.replyTo(tg, r),
		ReturnPath:      e.returnPath(r),
		To:              addr,
		ToName:          toName,
		Subject:         out.Subject,
		HTML:            out.HTML,
		Text:            out.Text,
		MessageID:       mailer.MessageID(r.ID, idObject, r.Step, idKey, tg.sender.From),
		Date:            e.Clock.Now(),
		ListUnsubscribe: unsub,
		// The mailto: goes with the https link only (internal and
		// transactional mail without one carry neither).
		ListUnsubscribeMailto: e.unsubscribeMailto(r, unsub),
		Headers:               headers(tg, r),
	}, tg.templateHash, nil
}

// suppressedFor reports whether r must be cancelled because its address is
// suppressed. Marketing mail never goes to a suppressed address. Another class
// goes to an unsubscribed or blacklisted one when its policy bypasses that
// reason (bypass { transactional = ["unsubscribed"] }). A double opt-in
// confirmation goes to an address unsubscribed from all marketing mail: the
// person has just asked for it, and confirming is how they come back. Hard
// bounces, complaints, manual suppressions and forgotten people get nothing.
func suppressedFor(tg target, r store.Claimed) bool {
	switch {
	case !r.Suppressed():
		return false
	case r.Class == "" || r.Class == plan.ClassMarketing:
		return true
	case r.Kind == store.KindSubscription && r.SuppressedAs == store.SuppressionUnsubscribed:
		return false
	}
	return !tg.rules.BypassesSuppression(r.SuppressedAs)
}

// holdByPolicy applies the object's send-time policy (quiet hours in the
// contact's time zone) to a row about to be composed. A held row goes back to
// the outbox, due when the policy allows it, with the reason in its
// last_error: the message waits, it is never dropped.
func (e *Engine) holdByPolicy(tg target, contacts batchContacts, r store.Claimed) (store.Outcome, bool) {
	if tg.rules == nil {
		return store.Outcome{}, false
	}
	tz := contactTZ(tg, contacts, r)
	now := e.Clock.Now()
	held, until, reason, kind := tg.rules.Hold(now, tz, -1)
	if _, max := tg.rules.FrequencyWindow(); !held && max > 0 && (r.Class == "" || r.Class == plan.ClassMarketing) {
		// The claim decided (decideCaps) whether the message fits under its
		// cap, counting what every other claim holds; a message it could
		// not decide for (the counts could not be read, or a plan with this
		// cap was loaded after the claim) waits a minute and is claimed again.
		n, decided := -1, false
		if cd := contacts.caps; cd != nil && cd.err == nil {
			n, decided = cd.decision(r.ID)
		}
		if !decided {
			if e.Metrics != nil {
				e.Metrics.Held.WithLabelValues(tg.kind, tg.name, string(policy.KindFrequencyCap)).Inc()
			}
			o := outcome(r, store.OutboxPending)
			o.Hold, o.At, o.Error = true, now.Add(capUncountedRetry), "held: frequency cap not counted yet (the database could not be read, or the plan changed since the claim)"
			return o, true
		}
		held, until, reason, kind = tg.rules.Hold(now, tz, n)
		if held && kind == policy.KindFrequencyCap && contacts.caps.heldByClaims(r.ID) {
			// What filled the window is not sent yet and may never be (a
			// consent check, a quota, a relay failure): count again soon.
			if soon := now.Add(capInFlightRetry); soon.Before(until) {
				until = soon
			}
		}
	}
	if !held {
		return store.Outcome{}, false
	}
	if e.Metrics != nil {
		e.Metrics.Held.WithLabelValues(tg.kind, tg.name, string(kind)).Inc()
	}
	o := outcome(r, store.OutboxPending)
	o.Hold, o.At, o.Error = true, until, "held: "+reason
	return o, true
}

// capUncountedRetry is how long a message under a frequency cap waits when
// its claim could not count the cap; capInFlightRetry, when the cap had no
// room only because of messages other claims held unsent.
const (
	capUncountedRetry = time.Minute
	capInFlightRetry  = time.Minute
)

// contactTZ is the time zone quiet hours are judged in for the row's contact:
// the one a workflow wrote, or the CRM's ("" when the model has none).
func contactTZ(tg target, contacts batchContacts, r store.Claimed) string {
	if tg.model.TimeZone == "" {
		return ""
	}
	c, err := contacts.get(tg.model, r.ContactKey)
	if err != nil {
		return ""
	}
	tz, _ := contacts.withWrites(tg.model, r.ContactKey, c)[tg.model.TimeZone].(string)
	return tz
}

// headers name the object (and the step of a sequence) a message belongs to,
// for the recipient's support team and for tests; never the contact.
func headers(tg target, r store.Claimed) map[string]string {
	h := map[string]string{"X-Campaignctl-Campaign": tg.name}
	if tg.kind != kindCampaign {
		h["X-Campaignctl-Kind"] = tg.kind
		h["X-Campaignctl-Step"] = r.Step
	}
	return h
}
