package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// DefaultRetentionInterval is how often (real time) the leader looks for
// expired event months besides when the cutoff's month changes or a revision
// is applied: often enough to catch an old event imported late, rarely
// enough that the catalog query costs nothing.
const DefaultRetentionInterval = time.Hour

// applyEventRetention drops the events of the months entirely before now
// minus the plan's event retention (plan.EventRetention: the longest of the
// policies'), keeping their aggregates (store.DropExpiredEvents). Only the
// leader calls it, from Reconcile. It runs when the cutoff enters a new month,
// when a new revision is applied, and every RetentionInterval; without a
// retention in the plan it does nothing (events are kept forever).
func (e *Engine) applyEventRetention(ctx context.Context, l *loaded, now time.Time) error {
	retention, policy, err := l.plan.EventRetention()
	if err != nil {
		return fmt.Errorf("event retention: %w; no events are dropped until the plan is fixed", err)
	}
	if retention == 0 {
		return nil
	}
	cutoff := plan.EventRetentionCutoff(now, retention)
	cu := cutoff.UTC()
	month := time.Date(cu.Year(), cu.Month(), 1, 0, 0, 0, 0, time.UTC)
	interval := e.RetentionInterval
	if interval <= 0 {
		interval = DefaultRetentionInterval
	}
	e.mu.Lock()
	due := !e.retentionMonth.Equal(month) || e.retentionRev != l.revision || time.Since(e.lastRetention) >= interval
	e.mu.Unlock()
	if !due {
		return nil
	}
	_, err = e.Store.DropExpiredEvents(ctx, cutoff, now, l.plan.ObjectModels(), func(d store.DroppedPartition) {
		e.Log.Info("event partition dropped by the event retention; its counts are kept",
			"partition", d.Partition, "month", d.Month.Format("2006-01"), "events", d.Events,
			"retention", days(retention), "policy", policy, "cutoff", cutoff.UTC().Format(time.RFC3339))
		if e.Metrics != nil {
			e.Metrics.EventPartitionsDropped.Inc()
			e.Metrics.EventsDropped.Add(float64(d.Events))
		}
	})
	if err != nil {
		return fmt.Errorf("event retention: %w", err)
	}
	e.mu.Lock()
	e.retentionMonth, e.retentionRev, e.lastRetention = month, l.revision, time.Now()
	e.mu.Unlock()
	return nil
}

func days(d time.Duration) string {
	return fmt.Sprintf("%dd", d/(24*time.Hour))
}
