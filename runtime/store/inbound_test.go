package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// A reply or a feedback report without an address token is matched to its
// message by Message-ID: the latest row that carried it, found through
// outbox_message_id (a hash index since migration 015) rather than a scan of
// every message ever sent. The ledger writes that index for every sent row,
// so its kind is chosen for the write; this keeps the lookup on it.
func TestSentMessageByMessageIDUsesTheIndex(t *testing.T) {
	st, ctx := migrated(t), t.Context()
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	const n = 3000
	if got, err := st.EnqueueBatch(ctx, "c", "", "marketing", now, now, people(n)); err != nil || got != n {
		t.Fatalf("enqueue: %d, %v", got, err)
	}
	// Every row sent with its own Message-ID, except the last two, which carry
	// the same one (a re-send of one message after its lease was lost).
	st.DB.MustExec(`UPDATE campaignctl.outbox SET status = 'sent', sent_at = $1,
		message_id = CASE WHEN id >= (SELECT max(id) - 1 FROM campaignctl.outbox) THEN 'again@example.com'
		                  ELSE md5(id::text) || '@example.com' END`, now)
	st.DB.MustExec(`ANALYZE campaignctl.outbox`)

	var last int64
	if err := st.DB.Get(&last, `SELECT max(id) FROM campaignctl.outbox`); err != nil {
		t.Fatal(err)
	}
	m, ok, err := st.SentMessageByMessageID(ctx, "again@example.com")
	if err != nil || !ok || m.ID != last {
		t.Fatalf("SentMessageByMessageID(again@example.com) = row %d, %v, %v; want the latest row %d", m.ID, ok, err, last)
	}
	var first int64
	if err := st.DB.Get(&first, `SELECT min(id) FROM campaignctl.outbox`); err != nil {
		t.Fatal(err)
	}
	var mid string
	if err := st.DB.Get(&mid, `SELECT md5($1::text) || '@example.com'`, first); err != nil {
		t.Fatal(err)
	}
	if m, ok, err := st.SentMessageByMessageID(ctx, mid); err != nil || !ok || m.ID != first {
		t.Fatalf("SentMessageByMessageID(%s) = row %d, %v, %v; want %d", mid, m.ID, ok, err, first)
	}
	if _, ok, err := st.SentMessageByMessageID(ctx, "unknown@example.com"); err != nil || ok {
		t.Fatalf("an unknown Message-ID matched (%v, %v)", ok, err)
	}

	var plan []string
	q := strings.Replace(store.InboundQueryForTest("inbound-sent-message-by-id"), "$1", "'again@example.com'", 1)
	if err := st.DB.Select(&plan, "EXPLAIN (COSTS OFF) "+q); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "outbox_message_id") || strings.Contains(text, "Seq Scan") {
		t.Fatalf("the Message-ID lookup does not use outbox_message_id:\n%s", text)
	}
	var method string
	if err := st.DB.Get(&method, `SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam
		WHERE c.oid = 'campaignctl.outbox_message_id'::regclass`); err != nil {
		t.Fatal(err)
	}
	if method != "hash" {
		t.Fatalf("outbox_message_id is a %s index; migration 015 makes it a hash index", method)
	}
}

// Replies, bounces and complaints are stored one at a time by the inbound
// listener, outside InsertEvents; they count toward the background refresh of
// their partition's statistics all the same (autovacuum is off on the
// partition here, so only the daemon can analyze it).
func TestRecordInboundRefreshesPartitionStatistics(t *testing.T) {
	st, ctx := migrated(t), t.Context()
	month := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	if _, err := st.EnsureEventPartitions(ctx, month, month); err != nil {
		t.Fatal(err)
	}
	reltuples := storetest.QuietTable(t, st.DB, "campaignctl."+store.EventPartitionName(month))
	if r := reltuples(); r != -1 {
		t.Fatalf("a new partition has reltuples %v, want -1 (never analyzed)", r)
	}
	for i := range store.AnalyzeEventsAfter {
		at := month.Add(time.Duration(i) * time.Minute)
		recorded, err := st.RecordInbound(ctx, store.InboundRecord{
			Event: store.Event{OccurredAt: at, Model: "customer", ContactKey: fmt.Sprint(i), Type: "bounce",
				Campaign: "c", ExternalID: fmt.Sprintf("bounce-%d", i)},
			Suppress: "hard_bounce", Email: fmt.Sprintf("p%d@example.com", i), Campaign: "c", Now: at,
		})
		if err != nil || !recorded {
			t.Fatalf("inbound event %d: recorded %v, %v", i, recorded, err)
		}
	}
	storetest.WaitReltuples(t, reltuples, store.AnalyzeEventsAfter, fmt.Sprintf("%d inbound events were stored", store.AnalyzeEventsAfter))
}
