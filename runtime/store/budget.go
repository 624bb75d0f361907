package store

import (
	"context"
	"fmt"
	"time"
)

// ReserveBudget grants up to demand messages to sender within its daily quota
// (per UTC day of now; 0: none) and rate per minute (0: none), shared by every
// replica, and returns how many it granted and whether the day's quota
// (rather than the minute's rate) fell short. Both windows are charged in one
// transaction, so a grant never exceeds either limit whatever the replicas do
// at the same instant.
func (s *Store) ReserveBudget(ctx context.Context, sender string, now time.Time, demand, daily, perMinute int) (granted int, dayFull bool, err error) {
	if demand <= 0 {
		return 0, false, nil
	}
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return 0, false, fmt.Errorf("sender %s: reserving its quota: %w", sender, err)
	}
	defer tx.Rollback()
	granted = demand
	newWindow := false
	take := func(kind string, start time.Time, limit int) error {
		if limit <= 0 {
			return nil
		}
		// The upsert takes the row lock, which serialises replicas: the second
		// waits for the first's commit and then reads what it left. xmax = 0:
		// this statement created the window's row.
		var row struct {
			Used     int  `db:"used"`
			Inserted bool `db:"inserted"`
		}
		if err := tx.GetContext(ctx, &row, `INSERT INTO campaignctl.sender_budget AS b (sender, window_kind, window_start, used)
VALUES ($1, $2, $3, 0)
ON CONFLICT (sender, window_kind, window_start) DO UPDATE SET used = b.used
RETURNING used, xmax = 0 AS inserted`, sender, kind, start); err != nil {
			return err
		}
		used := row.Used
		newWindow = newWindow || row.Inserted
		g := max(0, min(granted, limit-used))
		if _, err := tx.ExecContext(ctx, `UPDATE campaignctl.sender_budget SET used = used + $4
WHERE sender = $1 AND window_kind = $2 AND window_start = $3`, sender, kind, start, g); err != nil {
			return err
		}
		granted = g
		return nil
	}
	day := now.UTC().Truncate(24 * time.Hour)
	minute := now.UTC().Truncate(time.Minute)
	if err := take("day", day, daily); err != nil {
		return 0, false, fmt.Errorf("sender %s: reserving its daily quota: %w", sender, err)
	}
	dayFull = granted < demand
	if daily > 0 && perMinute > 0 {
		// The minute may grant less than the day did: the day gets it back.
		before := granted
		if err := take("minute", minute, perMinute); err != nil {
			return 0, false, fmt.Errorf("sender %s: reserving its rate: %w", sender, err)
		}
		if back := before - granted; back > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE campaignctl.sender_budget SET used = used - $4
WHERE sender = $1 AND window_kind = $2 AND window_start = $3`, sender, "day", day, back); err != nil {
				return 0, false, err
			}
		}
	} else if err := take("minute", minute, perMinute); err != nil {
		return 0, false, fmt.Errorf("sender %s: reserving its rate: %w", sender, err)
	}
	// Windows of earlier days are of no use to anyone: cleared when a window
	// starts (at most once a minute), not on every batch.
	if newWindow {
		if _, err := tx.ExecContext(ctx, `DELETE FROM campaignctl.sender_budget WHERE sender = $1 AND window_start < $2`, sender, day.Add(-24*time.Hour)); err != nil {
			return 0, false, err
		}
	}
	return granted, dayFull, tx.Commit()
}
