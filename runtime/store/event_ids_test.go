package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store"
)

// storedAt lists the occurred_at of every stored event of model lead with
// external id ext, oldest first.
func storedAt(t *testing.T, st *store.Store, ext string) []time.Time {
	t.Helper()
	var out []time.Time
	if err := st.DB.Select(&out, `SELECT occurred_at FROM campaignctl.events WHERE model = 'lead' AND external_id = $1 ORDER BY occurred_at`, ext); err != nil {
		t.Fatal(err)
	}
	return out
}

// oneStored fails unless exactly one event with external id ext is stored,
// at want.
func oneStored(t *testing.T, st *store.Store, ext string, want time.Time) {
	t.Helper()
	got := storedAt(t, st, ext)
	if len(got) != 1 || !got[0].Equal(want) {
		t.Errorf("events with external id %q stored at %v; want one, at %s (the first one sent)", ext, got, want.Format(time.RFC3339))
	}
}

// An external id names one event of the source system: a retry with another
// occurred_at (a client clock, a corrected time) is that event again, so it
// is stored once, the first one winning, whatever partitions the two fall in.
func TestInsertEventsStoresAnExternalIDOnceWhateverItsTime(t *testing.T) {
	ctx := context.Background()

	t.Run("one batch", func(t *testing.T) {
		st := migrated(t)
		n, err := st.InsertEvents(ctx, []store.Event{
			ev("2026-11-20T10:00:00Z", "web-1"),
			ev("2026-11-20T10:00:05Z", "web-1"), // same month
			ev("2026-10-31T23:59:59Z", "web-1"), // the month before, earlier: still the second copy
			ev("2026-11-20T10:00:00Z", "web-2"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("stored %d of the batch, want 2 (web-1 once, web-2)", n)
		}
		oneStored(t, st, "web-1", at("2026-11-20T10:00:00Z"))
		oneStored(t, st, "web-2", at("2026-11-20T10:00:00Z"))
	})

	t.Run("two batches", func(t *testing.T) {
		st := migrated(t)
		if n, err := st.InsertEvents(ctx, []store.Event{ev("2026-11-20T10:00:00Z", "web-1")}); err != nil || n != 1 {
			t.Fatalf("first batch stored %d, %v; want 1", n, err)
		}
		n, err := st.InsertEvents(ctx, []store.Event{ev("2026-11-20T10:00:01Z", "web-1"), ev("2026-11-20T10:00:01Z", "web-3")})
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("the retry's batch stored %d, want 1 (web-3 only)", n)
		}
		oneStored(t, st, "web-1", at("2026-11-20T10:00:00Z"))
	})

	t.Run("two months", func(t *testing.T) {
		st := migrated(t)
		if _, err := st.EnsureEventPartitions(ctx, at("2026-01-01T00:00:00Z"), at("2026-03-01T00:00:00Z")); err != nil {
			t.Fatal(err)
		}
		if n, err := st.InsertEvents(ctx, []store.Event{ev("2026-03-02T00:00:00Z", "crm-9")}); err != nil || n != 1 {
			t.Fatalf("first batch stored %d, %v; want 1", n, err)
		}
		// An earlier month, and one with no partition (the default partition).
		for _, retry := range []string{"2026-01-15T00:00:00Z", "2019-06-01T00:00:00Z"} {
			if n, err := st.InsertEvents(ctx, []store.Event{ev(retry, "crm-9")}); err != nil || n != 0 {
				t.Errorf("the retry at %s stored %d, %v; want 0", retry, n, err)
			}
		}
		oneStored(t, st, "crm-9", at("2026-03-02T00:00:00Z"))
		// The id is per model: another model's crm-9 is another event.
		other := ev("2026-01-15T00:00:00Z", "crm-9")
		other.Model = "customer"
		if n, err := st.InsertEvents(ctx, []store.Event{other}); err != nil || n != 1 {
			t.Errorf("model customer's crm-9 stored %d, %v; want 1", n, err)
		}
	})

	t.Run("an import's batches in one transaction", func(t *testing.T) {
		st := migrated(t)
		tx := st.DB.MustBegin()
		defer tx.Rollback()
		var total int64
		for _, e := range []store.Event{ev("2026-11-20T10:00:00Z", "imp-1"), ev("2026-11-21T10:00:00Z", "imp-1")} {
			n, err := store.InsertEventsTx(ctx, tx, []store.Event{e})
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if total != 1 {
			t.Errorf("the import stored %d, want 1", total)
		}
		oneStored(t, st, "imp-1", at("2026-11-20T10:00:00Z"))
	})
}

// Clients retrying at once (a timeout, several web servers): each sends the
// same external id with its own occurred_at, and exactly one is stored.
func TestInsertEventsConcurrentRetriesStoreOne(t *testing.T) {
	st := migrated(t)
	ctx := context.Background()
	base := at("2026-11-20T10:00:00Z")
	if _, err := st.EnsureEventPartitions(ctx, base.AddDate(0, -1, 0), base.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	const posts = 20
	for round := range 5 {
		ext := fmt.Sprintf("race-%d", round)
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			stored int64
			errs   []error
		)
		start := make(chan struct{})
		for i := range posts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Times spread over three months, so the copies would sit in
				// different partitions; each batch also holds an event of its own.
				e := ev(base.Add(time.Duration(i-posts/2)*36*time.Hour).Format(time.RFC3339), ext)
				own := ev(base.Format(time.RFC3339), fmt.Sprintf("%s-own-%d", ext, i))
				<-start
				n, err := st.InsertEvents(ctx, []store.Event{own, e})
				mu.Lock()
				defer mu.Unlock()
				stored += n
				if err != nil {
					errs = append(errs, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("round %d: %d posts failed, first: %v", round, len(errs), errs[0])
		}
		if got := storedAt(t, st, ext); len(got) != 1 {
			t.Errorf("round %d: %q stored %d times (at %v), want once", round, ext, len(got), got)
		}
		if stored != posts+1 {
			t.Errorf("round %d: the posts report %d stored, want %d (each its own event, and the shared one once)", round, stored, posts+1)
		}
	}
}

// The guard of an external id lives as long as the event it guards: when
// retention drops a month, the ids of its events go with it, and the rest stay.
func TestDropExpiredEventsPrunesExternalIDs(t *testing.T) {
	st := migrated(t)
	ctx := context.Background()
	if _, err := st.EnsureEventPartitions(ctx, at("2024-01-01T00:00:00Z"), at("2024-04-01T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.InsertEvents(ctx, []store.Event{
		ev("2024-01-10T00:00:00Z", "jan"),
		ev("2024-02-10T00:00:00Z", "feb"),
		ev("2023-07-10T00:00:00Z", "old-default"), // no partition: the default one
		ev("2024-04-10T00:00:00Z", "apr"),
		ev("2024-04-11T00:00:00Z", "jan"), // a retry of jan: not stored
	}); err != nil {
		t.Fatal(err)
	}
	ids := func() int {
		return count(t, st, `SELECT count(*) FROM campaignctl.event_external_ids`)
	}
	if n := ids(); n != 4 {
		t.Fatalf("%d external ids recorded, want 4", n)
	}
	dropped, err := st.DropExpiredEvents(ctx, at("2024-03-05T00:00:00Z"), at("2025-01-01T00:00:00Z"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := monthsOf(dropped); len(got) != 3 {
		t.Fatalf("dropped %v, want 2023-07, 2024-01, 2024-02", got)
	}
	var left []string
	if err := st.DB.Select(&left, `SELECT external_id FROM campaignctl.event_external_ids ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] != "apr" {
		t.Errorf("external ids left after the drop: %v, want [apr] (those of the dropped months pruned)", left)
	}
	// apr is still guarded.
	if n, err := st.InsertEvents(ctx, []store.Event{ev("2024-04-12T00:00:00Z", "apr")}); err != nil || n != 0 {
		t.Errorf("a retry of apr after the drop stored %d, %v; want 0", n, err)
	}
}

// Forgetting a contact erases the external ids of its events with them;
// other contacts' ids stay guarded, and the events count in the audit is the
// events'.
func TestForgetContactPrunesExternalIDs(t *testing.T) {
	st := migrated(t)
	ctx := context.Background()
	other := ev("2026-11-20T10:00:00Z", "theirs")
	other.ContactKey = "43"
	if _, err := st.InsertEvents(ctx, []store.Event{ev("2026-11-20T10:00:00Z", "mine"), ev("2026-11-20T11:00:00Z", ""), other}); err != nil {
		t.Fatal(err)
	}
	var err error
	if st.Erasure, err = store.NewErasure([]byte("erasure-key-0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	f, err := st.ForgetContact(ctx, store.ContactRef{Models: []store.ModelKey{{Model: "lead", Key: "42"}}}, "dpo", "test", at("2026-12-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Counts["events"] != 2 {
		t.Errorf("the audit counts %d events erased, want 2", f.Counts["events"])
	}
	var left []string
	if err := st.DB.Select(&left, `SELECT external_id FROM campaignctl.event_external_ids ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] != "theirs" {
		t.Errorf("external ids left after forgetting lead 42: %v, want [theirs]", left)
	}
}

// Migration 022 records the ids of the events stored before it, the first
// stored of each id where a retry was stored too, so those retries' next
// copies are refused.
func TestMigration022RecordsStoredExternalIDs(t *testing.T) {
	st := migrated(t)
	ctx := context.Background()
	// The database as migration 021 left it, with a retry stored twice.
	st.DB.MustExec(`DROP TABLE campaignctl.event_external_ids`)
	st.DB.MustExec(`DELETE FROM campaignctl.schema_migrations WHERE version = 22`)
	st.DB.MustExec(`INSERT INTO campaignctl.events (occurred_at, received_at, model, contact_key, type, external_id) VALUES
		('2026-11-20T10:00:05Z', '2026-11-20T10:00:06Z', 'lead', '42', 'purchase', 'order-1'),
		('2026-11-20T10:00:00Z', '2026-11-20T10:00:09Z', 'lead', '42', 'purchase', 'order-1'),
		('2026-11-21T10:00:00Z', '2026-11-21T10:00:00Z', 'lead', '43', 'purchase', NULL)`)
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var rec []struct {
		Ext string    `db:"external_id"`
		At  time.Time `db:"occurred_at"`
	}
	if err := st.DB.Select(&rec, `SELECT external_id, occurred_at FROM campaignctl.event_external_ids`); err != nil {
		t.Fatal(err)
	}
	if len(rec) != 1 || rec[0].Ext != "order-1" || !rec[0].At.Equal(at("2026-11-20T10:00:05Z")) {
		t.Errorf("recorded %+v, want order-1 at 10:00:05 (the first stored)", rec)
	}
	if n, err := st.InsertEvents(ctx, []store.Event{ev("2026-11-20T10:00:07Z", "order-1")}); err != nil || n != 0 {
		t.Errorf("another retry of order-1 stored %d, %v; want 0", n, err)
	}
}
