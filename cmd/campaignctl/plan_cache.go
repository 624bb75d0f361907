package main

import (
	"context"
	"errors"
	"sync"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// perRevision is a value derived from the latest applied plan, kept until
// another revision is applied: a call costs one indexed read of the latest
// revision's id, and the plan is read and decoded again only after an apply.
// Without an applied plan the value is T's zero value. The daemon's HTTP
// routes use it for what they need of the plan on every request: the
// declared event properties (POST /v1/events) and the subscription types
// (the preference center).
type perRevision[T any] struct {
	st     *store.Store
	derive func(*plan.Plan) T

	mu  sync.Mutex
	rev int64
	val T
}

func newPerRevision[T any](st *store.Store, derive func(*plan.Plan) T) *perRevision[T] {
	return &perRevision[T]{st: st, derive: derive}
}

func (c *perRevision[T]) get(ctx context.Context) (T, error) {
	var zero T
	id, err := c.st.LatestRevisionID(ctx)
	if errors.Is(err, store.ErrNoRevision) {
		return zero, nil
	}
	if err != nil {
		return zero, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == c.rev {
		return c.val, nil
	}
	rev, p, err := appliedPlan(ctx, c.st)
	if errors.Is(err, store.ErrNoRevision) {
		return zero, nil
	}
	if err != nil {
		return zero, err
	}
	c.rev, c.val = rev.ID, c.derive(p)
	return c.val, nil
}
