package store_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store"
)

// A campaign finishes once nothing of it is pending: 'sent' when a message
// went out, even beside failed ones; 'failed' when every message failed
// (finish-campaigns looks for failed messages first, then for a sent one);
// still 'sending' while a message is pending.
func TestFinishCampaignsByWhatTheirMessagesDid(t *testing.T) {
	st, ctx := migrated(t), t.Context()
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	var rev int64
	if err := st.DB.Get(&rev, `INSERT INTO campaignctl.revisions (plan_hash, plan, applied_at) VALUES ('h', '{}', $1) RETURNING id`, now); err != nil {
		t.Fatal(err)
	}
	// Each campaign's messages by contact key (0, 1, …), as people enqueues them.
	cases := map[string]struct {
		statuses []string
		want     string
	}{
		"all_sent":   {[]string{"sent", "sent", "sent"}, store.StatusSent},
		"mixed":      {[]string{"failed", "sent", "failed"}, store.StatusSent},
		"all_failed": {[]string{"failed", "failed"}, store.StatusFailed},
		"cancelled":  {[]string{"cancelled", "failed"}, store.StatusFailed},
		"pending":    {[]string{"failed", "pending"}, store.StatusSending},
	}
	for name, c := range cases {
		if err := st.UpsertCampaign(ctx, name, "h", rev, nil, now); err != nil {
			t.Fatal(err)
		}
		if n, err := st.EnqueueBatch(ctx, name, "", "marketing", now, now, people(len(c.statuses))); err != nil || n != int64(len(c.statuses)) {
			t.Fatalf("enqueue %s: %d, %v", name, n, err)
		}
		if err := st.MarkMaterialized(ctx, name, int64(len(c.statuses)), now); err != nil {
			t.Fatal(err)
		}
		for i, status := range c.statuses {
			st.DB.MustExec(`UPDATE campaignctl.outbox SET status = $1 WHERE campaign = $2 AND contact_key = $3`, status, name, strconv.Itoa(i))
		}
	}
	if err := st.FinishCampaigns(ctx, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := st.Campaigns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(cases) {
		t.Fatalf("%d campaigns, want %d", len(got), len(cases))
	}
	for _, c := range got {
		if want := cases[c.Name].want; c.Status != want {
			t.Errorf("campaign %s (messages %v): %s, want %s", c.Name, cases[c.Name].statuses, c.Status, want)
		}
	}
}
