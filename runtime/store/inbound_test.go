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
// message by Message-ID. Today's Message-IDs carry their row's id
// (mailer.MessageID): a primary-key read, which must also match the whole
// Message-ID. Those sent before (the hash alone) are found through
// outbox_message_id_legacy (migration 018), the latest row that carried one;
// a row recorded sent with today's form adds nothing to that index, so the
// ledger writes one index entry fewer per message.
func TestSentMessageByMessageIDReadsTheRowOrTheLegacyIndex(t *testing.T) {
	st, ctx := migrated(t), t.Context()
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	const n = 3000
	if got, err := st.EnqueueBatch(ctx, "c", "", "marketing", now, now, people(n)); err != nil || got != n {
		t.Fatalf("enqueue: %d, %v", got, err)
	}
	var first int64
	if err := st.DB.Get(&first, `SELECT min(id) FROM campaignctl.outbox`); err != nil {
		t.Fatal(err)
	}
	// The first half was sent before migration 018, each with its own
	// Message-ID but the last two of that half, which carry the same one (a
	// re-send of one message after its lease was lost); the second half with
	// today's form.
	st.DB.MustExec(`UPDATE campaignctl.outbox SET status = 'sent', sent_at = $1,
		message_id = CASE WHEN id >= $2 + 1500 THEN md5(id::text) || '.' || id || '@example.com'
		                  WHEN id >= $2 + 1498 THEN 'again@example.com'
		                  ELSE md5(id::text) || '@example.com' END`, now, first)
	st.DB.MustExec(`VACUUM ANALYZE campaignctl.outbox`)

	find := func(msgID string) (int64, bool) {
		t.Helper()
		m, ok, err := st.SentMessageByMessageID(ctx, msgID)
		if err != nil {
			t.Fatalf("SentMessageByMessageID(%s): %v", msgID, err)
		}
		return m.ID, ok
	}
	if id, ok := find("again@example.com"); !ok || id != first+1499 {
		t.Errorf("again@example.com = row %d (%v); want the latest row that carried it, %d", id, ok, first+1499)
	}
	var legacy, today string
	if err := st.DB.Get(&legacy, `SELECT message_id FROM campaignctl.outbox WHERE id = $1`, first); err != nil {
		t.Fatal(err)
	}
	if err := st.DB.Get(&today, `SELECT message_id FROM campaignctl.outbox WHERE id = $1`, first+2000); err != nil {
		t.Fatal(err)
	}
	if id, ok := find(legacy); !ok || id != first {
		t.Errorf("%s = row %d (%v), want %d", legacy, id, ok, first)
	}
	if id, ok := find(today); !ok || id != first+2000 {
		t.Errorf("%s = row %d (%v), want %d", today, id, ok, first+2000)
	}
	// A row's id with another hash, or another row's id: nothing.
	hash, _, _ := strings.Cut(today, ".")
	for _, forged := range []string{
		strings.Repeat("0", 32) + fmt.Sprintf(".%d@example.com", first+2000),
		hash + fmt.Sprintf(".%d@example.com", first+2001),
		"unknown@example.com", "x.@example.com", "x.-5@example.com", "no-at-sign",
	} {
		if id, ok := find(forged); ok {
			t.Errorf("%s matched row %d", forged, id)
		}
	}

	// The legacy index holds the 1,500 Message-IDs of the old form and none of
	// the 1,500 of today's (VACUUM counted its entries).
	if entries := storetest.Reltuples(t, st.DB, "campaignctl.outbox_message_id_legacy"); entries != 1500 {
		t.Errorf("outbox_message_id_legacy holds %v entries, want the 1,500 Message-IDs of the old form", entries)
	}
	var method string
	if err := st.DB.Get(&method, `SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam
		WHERE c.oid = 'campaignctl.outbox_message_id_legacy'::regclass`); err != nil || method != "hash" {
		t.Errorf("outbox_message_id_legacy is a %q index (%v), want hash", method, err)
	}
	conn := planConn(t, st)
	for _, c := range []struct {
		query string
		args  []any
		index string
	}{
		{"inbound-sent-message-by-id", []any{"again@example.com"}, "outbox_message_id_legacy"},
		{"inbound-sent-message-by-row", []any{first + 2000, today}, "outbox_pkey"},
	} {
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			text, err := explainPrepared(ctx, conn, store.InboundQueryForTest(c.query), c.args, mode)
			if err != nil {
				t.Fatalf("%s (%s): %v", c.query, mode, err)
			}
			if !strings.Contains(text, c.index) || strings.Contains(text, "Seq Scan") {
				t.Errorf("%s (%s) does not read %s:\n%s", c.query, mode, c.index, text)
			}
		}
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
