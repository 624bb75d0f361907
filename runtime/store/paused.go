package store

import (
	"context"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// HeldWhilePaused is the due time of a message held because its object is
// paused: it is claimed once, as it comes due, and then never again while
// the pause lasts (a day before HeldForDecision, so the two never meet).
// release-paused-holds (queries.sql) writes it as a constant.
// ReleasePausedHolds makes it due again once its object is not paused.
var HeldWhilePaused = time.Date(9999, 12, 30, 0, 0, 0, 0, time.UTC)

// ReleasePausedHolds makes the messages held while their object was paused
// due at now, except those of the objects still paused. It is one probe of
// the claim index when nothing is held, so the leader runs it every pass.
func (s *Store) ReleasePausedHolds(ctx context.Context, stillPaused []ObjectRef, now time.Time) (int64, error) {
	kinds, names := objectArrays(stillPaused)
	res, err := s.execPrepared(ctx, "release-paused-holds", now, pq.Array(kinds), pq.Array(names))
	if err != nil {
		return 0, fmt.Errorf("releasing messages held while their object was paused: %w", err)
	}
	return res.RowsAffected()
}
