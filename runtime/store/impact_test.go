package store_test

import (
	"context"
	"testing"
)

// What diff --db counts: zero on a database the runner never migrated, the
// real figures on one it did, and an error, never a zero, when the question
// cannot be asked.
func TestImpactCounts(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()

	if n, err := st.PendingInCampaign(ctx, "c"); err != nil || n != 0 {
		t.Fatalf("not migrated: PendingInCampaign = %d, %v; want 0, nil", n, err)
	}
	if m, err := st.ActiveEnrollmentsByStep(ctx, "workflow", "w"); err != nil || len(m) != 0 {
		t.Fatalf("not migrated: ActiveEnrollmentsByStep = %v, %v; want empty, nil", m, err)
	}

	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st.DB.MustExec(`INSERT INTO campaignctl.outbox (campaign, step, contact_key, email, email_normalized, due_at, created_at, status)
		VALUES ('c', '', '1', 'a@x.test', 'a@x.test', now(), now(), 'pending'),
		       ('c', '', '2', 'b@x.test', 'b@x.test', now(), now(), 'sent'),
		       ('d', '', '1', 'a@x.test', 'a@x.test', now(), now(), 'pending')`)
	st.DB.MustExec(`INSERT INTO campaignctl.outbox (kind, campaign, step, contact_key, email, email_normalized, due_at, created_at, status)
		VALUES ('workflow', 'c', 's1', '3', 'c@x.test', 'c@x.test', now(), now(), 'pending')`)
	if n, err := st.PendingInCampaign(ctx, "c"); err != nil || n != 1 {
		t.Fatalf("PendingInCampaign(c) = %d, %v; want 1 (a workflow of the same name is not the campaign)", n, err)
	}

	// A failure other than a missing schema is an error.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if n, err := st.PendingInCampaign(cancelled, "c"); err == nil {
		t.Fatalf("PendingInCampaign on a cancelled context = %d, nil; want an error", n)
	}
	if m, err := st.ActiveEnrollmentsByStep(cancelled, "workflow", "w"); err == nil {
		t.Fatalf("ActiveEnrollmentsByStep on a cancelled context = %v, nil; want an error", m)
	}
}
