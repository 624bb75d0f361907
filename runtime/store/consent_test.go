package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/runtime/store"
)

// The consent ledger is append-only: an UPDATE, a DELETE or a TRUNCATE is
// refused by the table itself, whoever sends it; only a transaction that set
// campaignctl.erasure (contact forget) may delete. An unsubscribe writes a
// withdrawal in the same statement as the suppression; other suppressions
// (a hard bounce) do not.
func TestConsentLedgerIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := at("2026-12-01T10:00:00Z")
	id, err := st.RecordConsent(ctx, " Ann@Example.com ", "newsletter", store.ConsentGrant, store.ConsentSourceForm, map[string]any{"ip": "192.0.2.1", "wording": "v3"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Suppress(ctx, "ann@example.com", "unsubscribed", "promo", at("2026-12-02T10:00:00Z")); err != nil {
		t.Fatal(err)
	}
	if err := st.Suppress(ctx, "bob@example.com", "hard_bounce", "promo", at("2026-12-02T10:00:00Z")); err != nil {
		t.Fatal(err)
	}
	h, err := st.ConsentHistory(ctx, "ANN@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].ID != id || h[0].Action != "grant" || h[0].Subscription != "newsletter" || h[0].EvidenceMap()["wording"] != "v3" ||
		h[1].Action != "withdraw" || h[1].Source != "unsubscribe" || h[1].Subscription != "" || h[1].EvidenceMap()["campaign"] != "promo" {
		t.Fatalf("history: %+v", h)
	}
	if b, _ := st.ConsentHistory(ctx, "bob@example.com"); len(b) != 0 {
		t.Fatalf("a hard bounce wrote consent entries: %+v", b)
	}
	latest, err := st.LatestConsent(ctx, []string{"ann@example.com", "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 1 || latest["ann@example.com"][""].Action != "withdraw" || latest["ann@example.com"]["newsletter"].Action != "grant" {
		t.Fatalf("latest: %+v", latest)
	}

	for _, stmt := range []string{
		`UPDATE campaignctl.consent_ledger SET action = 'grant'`,
		`DELETE FROM campaignctl.consent_ledger`,
		`TRUNCATE campaignctl.consent_ledger`,
	} {
		_, err := st.DB.ExecContext(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err %v, want it refused as append-only", stmt, err)
		}
	}
	tx, err := st.DB.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tx.MustExec(`SET LOCAL campaignctl.erasure = 'on'`)
	res, err := tx.ExecContext(ctx, `DELETE FROM campaignctl.consent_ledger WHERE email_normalized = 'ann@example.com'`)
	if err != nil {
		t.Fatalf("erasure refused: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 2 {
		t.Fatalf("erasure deleted %d rows, want 2", n)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	// The setting was local to that transaction.
	if _, err := st.DB.ExecContext(ctx, `DELETE FROM campaignctl.consent_ledger`); err == nil {
		t.Fatal("DELETE allowed after the erasing transaction ended")
	}
}

// BenchmarkClaimErasureCheck: what a claimed batch of 500 pays for matching
// forgotten addresses (500 HMACs and one index lookup of 500 keys) when the
// suppression list holds 100,000 rows, 10,000 of them forgotten.
func BenchmarkClaimErasureCheck(b *testing.B) {
	ctx := context.Background()
	st := openStore(b)
	if _, err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	e, err := store.NewErasure([]byte("bench-erasure-key-0123456789"))
	if err != nil {
		b.Fatal(err)
	}
	st.Erasure = e
	hashes := make([]string, 10_000)
	for i := range hashes {
		hashes[i] = e.Hash(fmt.Sprintf("gone%d@example.com", i))
	}
	st.DB.MustExec(`INSERT INTO campaignctl.suppressions (email_normalized, reason, campaign, created_at)
		SELECT 'user' || g || '@example.com', 'unsubscribed', '', now() FROM generate_series(1, 90000) g`)
	st.DB.MustExec(`INSERT INTO campaignctl.suppressions (email_normalized, reason, campaign, created_at)
		SELECT h, 'erased', '', now() FROM unnest($1::text[]) h`, pq.Array(hashes))
	st.DB.MustExec(`ANALYZE campaignctl.suppressions`)
	addrs := make([]string, 500)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("gone%d@example.com", i*19)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n, err := st.ErasedAmongForTest(ctx, addrs)
		if err != nil {
			b.Fatal(err)
		}
		if n != 500 {
			b.Fatalf("%d of 500 matched", n)
		}
	}
}
