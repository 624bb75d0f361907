package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// retentionStatus is status's view of the event retention: what the plan
// keeps, which months the leader's next pass will drop (a dry run: nothing is
// changed), and which it already dropped. Absent when the plan keeps events
// forever.
type retentionStatus struct {
	Retention string    `json:"retention"`
	Policy    string    `json:"policy"`
	Cutoff    time.Time `json:"cutoff"`
	// Due are the months entirely before the cutoff still in the events
	// table: the leader drops them on its next pass.
	Due []string `json:"due"`
	// Dropped are the months already dropped, kept as aggregates, and the
	// events they held.
	Dropped       []string `json:"dropped"`
	DroppedEvents int64    `json:"dropped_events"`
}

// readRetentionStatus reads the retention view at now; nil when the plan
// declares no retention.
func readRetentionStatus(ctx context.Context, st *store.Store, p *plan.Plan, now time.Time) (*retentionStatus, error) {
	retention, policy, err := p.EventRetention()
	if err != nil {
		return nil, err
	}
	if retention == 0 {
		return nil, nil
	}
	cutoff := plan.EventRetentionCutoff(now, retention).UTC()
	rs := &retentionStatus{Retention: fmt.Sprintf("%dd", retention/(24*time.Hour)), Policy: policy, Cutoff: cutoff, Due: []string{}, Dropped: []string{}}
	due, err := st.ExpiredEventMonths(ctx, cutoff)
	if err != nil {
		return nil, needsMigrate(err)
	}
	for _, d := range due {
		rs.Due = append(rs.Due, d.Month.Format("2006-01"))
	}
	dropped, err := st.DroppedEventPartitions(ctx)
	if err != nil {
		return nil, needsMigrate(err)
	}
	for _, d := range dropped {
		rs.Dropped = append(rs.Dropped, d.Month.Format("2006-01"))
		rs.DroppedEvents += d.Events
	}
	return rs, nil
}

// retentionLines writes the view for status's text output, e.g.
//
//	event retention 400d (policy default): events before 2025-10-27 are dropped
//	  next pass drops 2 months: 2024-01, 2024-02
//	  dropped so far: 3 months (2023-10 to 2023-12), 1234 events, kept as counts
func retentionLines(r *retentionStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "event retention %s (policy %s): events before %s are dropped by whole months\n", r.Retention, r.Policy, r.Cutoff.Format(time.DateOnly))
	if len(r.Due) == 0 {
		fmt.Fprintln(&b, "  next pass drops nothing")
	} else {
		fmt.Fprintf(&b, "  next pass drops %s: %s\n", plural(len(r.Due), "month"), strings.Join(r.Due, ", "))
	}
	switch n := len(r.Dropped); n {
	case 0:
	case 1:
		fmt.Fprintf(&b, "  dropped so far: 1 month (%s), %d events, kept as counts\n", r.Dropped[0], r.DroppedEvents)
	default:
		fmt.Fprintf(&b, "  dropped so far: %d months (%s to %s), %d events, kept as counts\n", n, r.Dropped[0], r.Dropped[n-1], r.DroppedEvents)
	}
	return b.String()
}
