package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/events"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// eventSchemas gives the event properties the latest applied plan declares,
// for POST /v1/events and `events import`. A request costs one look at the
// latest revision id; the plan is decoded again only when a new one was
// applied.
type eventSchemas struct {
	st *store.Store

	mu     sync.Mutex
	rev    int64
	schema events.Schema
}

func (s *eventSchemas) Schema(ctx context.Context) (events.Schema, error) {
	id, err := s.st.LatestRevisionID(ctx)
	if errors.Is(err, store.ErrNoRevision) {
		return nil, nil // no plan: nothing declared
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == s.rev {
		return s.schema, nil
	}
	rev, err := s.st.LatestRevision(ctx)
	if err != nil {
		return nil, err
	}
	p, err := plan.Decode([]byte(rev.Plan))
	if err != nil {
		return nil, fmt.Errorf("revision %d: %w", rev.ID, err)
	}
	s.rev, s.schema = rev.ID, events.SchemaOf(p)
	return s.schema, nil
}
