package store_test

import (
	"context"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// BenchmarkDropExpiredEventMonth: one month of 200,000 events (half of them
// opens and clicks of a campaign's 50,000 sent messages) folded, counted,
// detached and dropped, in one transaction that blocks event inserts
// throughout (the partitioning lock). The setup is not timed.
func BenchmarkDropExpiredEventMonth(b *testing.B) {
	st := migrated(b)
	ctx := context.Background()
	month := at("2025-01-01T00:00:00Z")
	objects := []plan.ObjectModel{{Kind: "campaign", Name: "launch", Model: "lead"}}
	st.DB.MustExec(`INSERT INTO campaignctl.outbox (kind, campaign, step, contact_key, email, email_normalized, status, due_at, created_at, sent_at, class)
		SELECT 'campaign', 'launch', '', i::text, i || '@example.com', i || '@example.com', 'sent', $1, $1, $1, 'marketing'
		FROM generate_series(1, 50000) i`, month)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if _, err := st.EnsureEventPartitions(ctx, month, month); err != nil {
			b.Fatal(err)
		}
		st.DB.MustExec(`INSERT INTO campaignctl.events (occurred_at, model, contact_key, type, campaign, properties)
			SELECT $1::timestamptz + (i % 2000) * interval '20 minutes', 'lead', (i % 60000)::text,
			       (ARRAY['open', 'click', 'page_view', 'form_submit'])[1 + i % 4], CASE WHEN i % 4 < 2 THEN 'launch' ELSE '' END, '{}'
			FROM generate_series(1, 200000) i`, month)
		st.DB.MustExec(`ANALYZE campaignctl.events`)
		b.StartTimer()
		dropped, err := st.DropExpiredEvents(ctx, month.AddDate(0, 1, 0), month.AddDate(0, 2, 0), objects, nil)
		if err != nil || len(dropped) != 1 || dropped[0].Events != 200000 {
			b.Fatalf("dropped %+v, %v", dropped, err)
		}
	}
}
