package engine

import (
	"context"
	"errors"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store"
)

// RunOptions control the daemon loop.
type RunOptions struct {
	// Interval between reconcile passes, and between claims when nothing is due.
	Interval time.Duration
	// ExitWhenIdle stops the loop once every object of the applied plan is
	// finished and nothing is left to send now or later. An object paused in
	// the plan is not finished: its work waits for a revision that unpauses
	// it, so the loop goes on, and says so once per revision (a warning per
	// paused object with what it holds) when everything else is done.
	ExitWhenIdle bool
}

// Run reconciles and sends until ctx is done (or, with ExitWhenIdle, until all
// work is finished). Reconcile runs on its own every Interval, beside the send
// pipeline, never behind it: a campaign removed or edited while a backlog is
// being sent takes effect within one Interval. A failing pass is logged and
// retried: the daemon outlives a database restart.
func (e *Engine) Run(ctx context.Context, opts RunOptions) error {
	e.defaults()
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		// Errors inside a continuous pass are logged and retried by the pass.
		_ = e.newPass(false, opts.Interval).run(runCtx)
	}()

	advanceDone := make(chan struct{})
	go func() {
		defer close(advanceDone)
		e.advanceLoop(runCtx, opts.Interval)
	}()

	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	// A failure that persists (a plan this daemon cannot run, a database that
	// is down) is logged when it starts or changes, not on every tick.
	loggedLoad, loggedReconcile := "", ""
	// The revision under which the wait for paused objects was logged.
	var loggedPaused int64
	for {
		if err := e.Reconcile(runCtx); err != nil && runCtx.Err() == nil {
			if err.Error() != loggedReconcile {
				e.Log.Error("reconcile failed; retrying", "err", err)
				loggedReconcile = err.Error()
			}
		} else if err == nil {
			loggedReconcile = ""
		}
		// Every replica, leader or not, picks up a new revision here, so its
		// workers compose with it and drop campaigns that left the plan.
		if _, err := e.load(runCtx); err != nil && runCtx.Err() == nil && !errors.Is(err, store.ErrNoRevision) {
			if err.Error() != loggedLoad {
				e.Log.Error("cannot load the applied plan; nothing is sent until it loads", "err", err)
				loggedLoad = err.Error()
			}
		} else {
			loggedLoad = ""
		}
		if opts.ExitWhenIdle && runCtx.Err() == nil && e.drained.Load() {
			if done, l, err := e.doneExceptPaused(runCtx); err == nil && done {
				if len(l.pausedRefs) == 0 {
					cancel()
				} else if l.revision != loggedPaused {
					e.logPausedWait(runCtx, l)
					loggedPaused = l.revision
				}
			}
		}
		select {
		case <-runCtx.Done():
			<-sendDone
			<-advanceDone
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return nil
		case <-tick.C:
		case <-e.wakeReconcile:
		}
	}
}

// Idle reports whether the applied plan is fully carried out: the leader
// enrolled under it, every campaign in it is in the store with the plan's hash
// and finished, every campaign not in it is removed, no enrollment is active
// and no outbox row is pending or in flight. A replica that starts before the
// leader reconciled a new revision is therefore never idle, and neither is a
// plan with a paused object: its work waits for a revision that unpauses it,
// even when it enrolled nobody yet (its segment or trigger is not read while
// paused, so nobody knows whom it will enroll).
func (e *Engine) Idle(ctx context.Context) (bool, error) {
	done, l, err := e.doneExceptPaused(ctx)
	if err != nil || !done {
		return false, err
	}
	return len(l.pausedRefs) == 0, nil
}

// doneExceptPaused is Idle leaving the paused objects out: true when all
// that is left is theirs. It returns the plan it judged.
func (e *Engine) doneExceptPaused(ctx context.Context) (bool, *loaded, error) {
	l, err := e.load(ctx)
	if err != nil {
		return false, nil, err
	}
	// enrolled_at is never cleared: once seen (or written, by this leader),
	// the revision needs no more queries.
	if e.enrolledRev.Load() != l.revision {
		if enrolled, err := e.Store.RevisionEnrolled(ctx, l.revision); err != nil || !enrolled {
			return false, l, err
		}
		e.enrolledRev.Store(l.revision)
	}
	left, err := e.Store.PendingWork(ctx, l.pausedRefs)
	if err != nil || left {
		return false, l, err
	}
	actual, err := e.Store.Campaigns(ctx)
	if err != nil {
		return false, l, err
	}
	byName := make(map[string]store.Campaign, len(actual))
	for _, a := range actual {
		byName[a.Name] = a
	}
	for _, c := range l.plan.Campaigns {
		if c.Paused {
			delete(byName, c.Name)
			continue
		}
		a, ok := byName[c.Name]
		if !ok || a.Hash != c.Hash || (a.Status != store.StatusSent && a.Status != store.StatusFailed) {
			return false, l, nil
		}
		delete(byName, c.Name)
	}
	for _, a := range byName {
		if a.Status != store.StatusRemoved {
			return false, l, nil
		}
	}
	return true, l, nil
}

// logPausedWait says why --exit-when-idle does not exit although all other
// work is done: one warning per paused object of l, with the enrollments and
// messages it holds. Counts and object names only, never a contact.
func (e *Engine) logPausedWait(ctx context.Context, l *loaded) {
	const msg = "not exiting when idle: an object paused in the plan waits for a revision that unpauses it; apply one, or stop the daemon (nothing is lost)"
	held, err := e.Store.PausedWork(ctx, l.pausedRefs)
	if err != nil {
		e.Log.Warn(msg, "paused_objects", len(l.pausedRefs), "err", err)
		return
	}
	for _, p := range held {
		e.Log.Warn(msg, "kind", p.Kind, "object", p.Name, "enrollments", p.Enrollments, "messages", p.Messages)
	}
}

// advanceLoop advances due enrollments on every replica, every interval or as
// soon as contacts are enrolled or an A/B test is decided. Replicas share the
// work through SKIP LOCKED; each batch commits its moves with its messages.
func (e *Engine) advanceLoop(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		// The plan the Run loop loaded last: a revision that cannot load is
		// reported there, once, not here again.
		if l := e.loadedNow(); l != nil {
			if _, err := e.advanceAll(ctx, l); err != nil && ctx.Err() == nil {
				e.logOnce("advance", "advancing enrollments failed; retrying", err)
			} else if err == nil {
				e.logOnce("advance", "", nil)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-e.wakeAdvance:
		}
	}
}

// EventsArrived tells the engine that events were stored (by the events API),
// so the triggers that read them are looked at now rather than at the next
// reconcile interval.
func (e *Engine) EventsArrived() {
	e.wakeChans()
	poke(e.wakeReconcile)
}
