package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store"
)

// Confirmations are queued once per request (a request re-read after a crash
// adds nothing; a later request gets the next occurrence), and a
// confirmation records its grant and its event once, even when two clicks
// arrive together; a link whose outbox row is gone records nothing.
func TestConfirmationQueuedAndRecordedOnce(t *testing.T) {
	ctx := context.Background()
	t0 := at("2026-12-04T10:00:00Z")
	st := migratedAt(t, t0)
	req := []store.ConfirmRequest{{ContactKey: "42", Email: " Ann@Example.com "}}
	n, err := st.QueueConfirmations(ctx, "blog", req, []int64{1}, t0)
	if err != nil || n != 1 {
		t.Fatalf("first request: %d queued, %v", n, err)
	}
	n, err = st.QueueConfirmations(ctx, "blog", req, []int64{2}, t0)
	if err != nil || n != 1 {
		t.Fatalf("second request: %d queued, %v", n, err)
	}
	var rows []struct {
		ID         int64  `db:"id"`
		Occurrence int    `db:"occurrence"`
		Class      string `db:"class"`
		Email      string `db:"email_normalized"`
	}
	if err := st.DB.SelectContext(ctx, &rows, `SELECT id, occurrence, class, email_normalized FROM campaignctl.outbox WHERE kind = 'subscription' AND campaign = 'blog' ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Occurrence != 1 || rows[1].Occurrence != 2 || rows[0].Class != "transactional" || rows[0].Email != "ann@example.com" {
		t.Fatalf("outbox: %+v, want occurrences 1 and 2 of a transactional mail to ann@example.com", rows)
	}
	var seen int
	if err := st.DB.GetContext(ctx, &seen, `SELECT count(*) FROM campaignctl.trigger_seen WHERE kind = 'subscription' AND object = 'blog'`); err != nil || seen != 2 {
		t.Fatalf("%d requests recorded as seen (%v), want 2", seen, err)
	}

	c := store.Confirmation{OutboxID: rows[0].ID, Subscription: "blog", Model: "lead", ContactKey: "42", Email: "ann@example.com",
		WordingVersion: "v1", IP: "192.0.2.7", UserAgent: "UA", At: t0}
	var wg sync.WaitGroup
	fresh := make([]bool, 4)
	errs := make([]error, 4)
	for i := range fresh {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, fresh[i], errs[i] = st.ConfirmSubscription(ctx, c, "blog_subscription")
		}()
	}
	wg.Wait()
	nFresh := 0
	for i := range fresh {
		if errs[i] != nil {
			t.Fatalf("click %d: %v", i, errs[i])
		}
		if fresh[i] {
			nFresh++
		}
	}
	if nFresh != 1 {
		t.Fatalf("%d of 4 simultaneous clicks recorded, want 1", nFresh)
	}
	h, err := st.ConsentHistory(ctx, "ann@example.com")
	if err != nil || len(h) != 1 || h[0].Source != store.ConsentSourceLink || h[0].EvidenceMap()["wording_version"] != "v1" || h[0].EvidenceMap()["ip"] != "192.0.2.7" {
		t.Fatalf("ledger: %+v, %v", h, err)
	}
	var events int
	if err := st.DB.GetContext(ctx, &events, `SELECT count(*) FROM campaignctl.events WHERE type = 'blog_subscription' AND topic = 'blog' AND contact_key = '42'`); err != nil || events != 1 {
		t.Fatalf("%d blog_subscription events (%v), want 1", events, err)
	}
	// A link for another contact's row, or a row that is gone, records nothing.
	other := c
	other.ContactKey = "43"
	if _, _, err := st.ConfirmSubscription(ctx, other, "blog_subscription"); err == nil {
		t.Error("a confirmation naming another contact than its row was accepted")
	}
	gone := c
	gone.OutboxID = 999999
	if _, _, err := st.ConfirmSubscription(ctx, gone, "blog_subscription"); !errors.Is(err, store.ErrNoConfirmation) {
		t.Errorf("a confirmation of a missing row: %v, want ErrNoConfirmation", err)
	}
	if h, _ := st.ConsentHistory(ctx, "ann@example.com"); len(h) != 1 {
		t.Errorf("refused confirmations wrote ledger entries: %+v", h)
	}
}

// A confirmed request lifts an unsubscribe from all marketing mail, and says
// so in the grant's evidence; it lifts nothing stronger (a hard bounce stays).
func TestConfirmationLiftsAnUnsubscribeOnly(t *testing.T) {
	ctx := context.Background()
	t0 := at("2026-12-04T10:00:00Z")
	st := migratedAt(t, t0)
	for _, s := range [][2]string{{"ann@example.com", "unsubscribed"}, {"bob@example.com", "hard_bounce"}} {
		if err := st.Suppress(ctx, s[0], s[1], "", t0); err != nil {
			t.Fatal(err)
		}
	}
	req := []store.ConfirmRequest{{ContactKey: "1", Email: "ann@example.com"}, {ContactKey: "2", Email: "bob@example.com"}}
	if n, err := st.QueueConfirmations(ctx, "blog", req, nil, t0); err != nil || n != 2 {
		t.Fatalf("queued %d, %v", n, err)
	}
	var ids []int64
	if err := st.DB.SelectContext(ctx, &ids, `SELECT id FROM campaignctl.outbox WHERE kind = 'subscription' ORDER BY contact_key`); err != nil || len(ids) != 2 {
		t.Fatalf("outbox ids %v, %v", ids, err)
	}
	for i, who := range []struct{ key, email string }{{"1", "ann@example.com"}, {"2", "bob@example.com"}} {
		c := store.Confirmation{OutboxID: ids[i], Subscription: "blog", Model: "lead", ContactKey: who.key, Email: who.email, WordingVersion: "v1", At: t0}
		if _, fresh, err := st.ConfirmSubscription(ctx, c, "blog_subscription"); err != nil || !fresh {
			t.Fatalf("confirming %s: fresh %v, %v", who.email, fresh, err)
		}
	}
	if sup, err := st.IsSuppressed(ctx, "ann@example.com"); err != nil || sup {
		t.Fatalf("ann@ still suppressed (%v) after confirming; a confirmed request lifts an unsubscribe", err)
	}
	if sup, err := st.IsSuppressed(ctx, "bob@example.com"); err != nil || !sup {
		t.Fatalf("bob@ no longer suppressed (%v) after confirming; a hard bounce must stay", err)
	}
	for email, want := range map[string]any{"ann@example.com": true, "bob@example.com": nil} {
		h, err := st.ConsentHistory(ctx, email)
		if err != nil || len(h) == 0 {
			t.Fatalf("%s: ledger %+v, %v", email, h, err)
		}
		if got := h[len(h)-1].EvidenceMap()["lifted_unsubscribe"]; got != want {
			t.Errorf("%s: lifted_unsubscribe in the grant's evidence is %v; want %v", email, got, want)
		}
	}
}

// migratedAt is a migrated store with the events partition of t0's month.
func migratedAt(t *testing.T, t0 time.Time) *store.Store {
	t.Helper()
	st := openStore(t)
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureEventPartitions(t.Context(), t0, t0); err != nil {
		t.Fatal(err)
	}
	return st
}
