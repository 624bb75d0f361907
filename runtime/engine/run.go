package engine

import (
	"context"
	"time"
)

// RunOptions control the daemon loop.
type RunOptions struct {
	// Interval between passes when there is nothing to do.
	Interval time.Duration
	// ExitWhenIdle stops the loop once nothing is left to send now or later.
	ExitWhenIdle bool
}

// Run reconciles and sends in a loop until ctx is done (or, with ExitWhenIdle,
// until all work is finished). A failing pass is logged and retried on the next
// tick: the daemon outlives a database restart.
func (e *Engine) Run(ctx context.Context, opts RunOptions) error {
	e.defaults()
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	for {
		if err := e.Reconcile(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			e.Log.Error("reconcile failed; retrying", "err", err)
		}
		n, err := e.SendDue(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			e.Log.Error("send pass failed; retrying", "err", err)
		}
		if n > 0 {
			continue
		}
		if opts.ExitWhenIdle {
			// A pass that sent something loops straight back to Reconcile, which
			// marks finished campaigns sent; so an idle pass sees them finished.
			left, err := e.Store.PendingWork(ctx)
			if err == nil && left == 0 {
				if _, rerr := e.Store.LatestRevision(ctx); rerr == nil {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(opts.Interval):
		}
	}
}
