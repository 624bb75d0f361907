package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store"
)

// A campaign's first materialization inserts without ON CONFLICT; a duplicate
// address (here in a later batch, and one inside a batch) falls back to the
// insert that skips it, for that batch and the rest, and nothing is lost or
// doubled. A campaign that already has rows starts on the skipping insert.
func TestCampaignEnqueuerSkipsDuplicatesAfterTheFastStart(t *testing.T) {
	st := migrated(t)
	ctx := t.Context()
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	recipients := func(from, to int, addr func(int) string) []store.Recipient {
		var rs []store.Recipient
		for i := from; i < to; i++ {
			rs = append(rs, store.Recipient{Key: fmt.Sprint(i), Email: addr(i)})
		}
		return rs
	}
	own := func(i int) string { return fmt.Sprintf("c%d@example.com", i) }
	q, err := st.NewCampaignEnqueuer(ctx, "launch", "marketing")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		batch []store.Recipient
		want  int64
	}{
		{recipients(0, 10, own), 10},
		// Contact 15 has contact 3's address, in another case: skipped.
		{recipients(10, 20, func(i int) string {
			if i == 15 {
				return " C3@Example.com"
			}
			return own(i)
		}), 9},
		// Two contacts of one batch share an address.
		{append(recipients(20, 25, own), store.Recipient{Key: "25", Email: own(24)}), 5},
		{recipients(30, 40, own), 10},
	}
	for i, s := range steps {
		n, err := q.Enqueue(ctx, now, now, s.batch)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if n != s.want {
			t.Fatalf("batch %d: %d rows new, want %d", i, n, s.want)
		}
	}
	var rows, addrs int
	st.DB.Get(&rows, `SELECT count(*) FROM campaignctl.outbox WHERE campaign = 'launch'`)
	st.DB.Get(&addrs, `SELECT count(DISTINCT email_normalized) FROM campaignctl.outbox WHERE campaign = 'launch'`)
	if rows != 34 || addrs != 34 {
		t.Fatalf("%d rows for %d addresses, want 34 and 34", rows, addrs)
	}

	// Materialized again (a re-run after a crash): the campaign has rows, so
	// the first batch already skips them.
	again, err := st.NewCampaignEnqueuer(ctx, "launch", "marketing")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := again.Enqueue(ctx, now, now, recipients(36, 42, own)); err != nil || n != 2 {
		t.Fatalf("re-run: %d rows new (%v), want 2 (contacts 40 and 41 only)", n, err)
	}
}
