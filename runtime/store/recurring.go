package store

import (
	"context"
	"fmt"

	"github.com/lib/pq"
)

// Replied reads which of the enrollments ids of (kind, object) — whose
// contacts, of model, are keys — replied to one of the enrollment's messages,
// whatever its step: a recurring autoresponder's steps are its issues, so
// Engagement, which asks about named steps, does not fit.
func (a *Advancer) Replied(ctx context.Context, kind, object, model string, ids []int64, keys []string) (map[int64]bool, error) {
	var rows []int64
	if err := a.tx.SelectContext(ctx, &rows, q("enrollments-replied"), kind, object, model, pq.Array(ids), pq.Array(keys)); err != nil {
		return nil, fmt.Errorf("%s %s: reading replies: %w", kind, object, err)
	}
	out := make(map[int64]bool, len(rows))
	for _, id := range rows {
		out[id] = true
	}
	return out, nil
}
