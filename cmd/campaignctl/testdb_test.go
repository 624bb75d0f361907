package main

import (
	"context"
	"os"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// migratedDB is a fresh database holding campaignctl's migrated schema: a
// copy of a template migrated once per test binary. Tests that go on to
// call Migrate find nothing left to apply.
func migratedDB(t *testing.T) (*sqlx.DB, string) {
	t.Helper()
	return storetest.OpenFromTemplate(t, "migrated", func(ctx context.Context, db *sqlx.DB) error {
		_, err := (&store.Store{DB: db}).Migrate(ctx)
		return err
	})
}

// demoCRMDB is a fresh database holding the demo CRM (testdata/crm/crm.sql,
// 1.1 MB of SQL) and nothing of campaignctl's: a copy of a template loaded
// once per test binary.
func demoCRMDB(t *testing.T) (*sqlx.DB, string) {
	t.Helper()
	return storetest.OpenFromTemplate(t, "demo crm", func(ctx context.Context, db *sqlx.DB) error {
		crm, err := os.ReadFile("../../testdata/crm/crm.sql")
		if err != nil {
			return err
		}
		_, err = db.ExecContext(ctx, string(crm))
		return err
	})
}
