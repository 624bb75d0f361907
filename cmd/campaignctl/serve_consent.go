package main

import (
	"context"
	"errors"
	"sync"

	"github.com/campaignctl/campaignctl/runtime/store"
)

// planSubscriptions lists the applied plan's subscription types for the
// preference center, decoding the plan once per revision (a page view costs
// one indexed read of the latest revision's id).
type planSubscriptions struct {
	st *store.Store

	mu    sync.Mutex
	rev   int64
	types []string
}

func (p *planSubscriptions) list(ctx context.Context) ([]string, error) {
	id, err := p.st.LatestRevisionID(ctx)
	if errors.Is(err, store.ErrNoRevision) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if id == p.rev && p.types != nil {
		return p.types, nil
	}
	_, pl, err := appliedPlan(ctx, p.st)
	if err != nil {
		return nil, err
	}
	p.rev, p.types = id, subscriptionTypes(pl)
	if p.types == nil {
		p.types = []string{}
	}
	return p.types, nil
}
