package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/lib/pq"
)

// What a plan change would touch in a running installation, for
// `campaignctl diff --db`: the messages a campaign still has waiting, and
// where the contacts of a sequence, workflow or autoresponder wait. A database
// the runner never migrated has nothing waiting and nobody enrolled: both
// answer zero there, and any other failure is an error, never a zero.

// PendingInCampaign counts the messages of campaign name not sent yet.
func (s *Store) PendingInCampaign(ctx context.Context, name string) (int64, error) {
	var n int64
	if err := s.DB.GetContext(ctx, &n, q("pending-in-campaign"), name); err != nil {
		if notMigrated(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("counting the waiting messages of campaign %s: %w", name, err)
	}
	return n, nil
}

// ActiveEnrollmentsByStep counts the active enrollments of an object (kind
// sequence, workflow or autoresponder) by the step they wait for.
func (s *Store) ActiveEnrollmentsByStep(ctx context.Context, kind, object string) (map[string]int64, error) {
	var rows []struct {
		Step string `db:"next_step"`
		N    int64  `db:"n"`
	}
	if err := s.DB.SelectContext(ctx, &rows, q("active-enrollments-by-step"), kind, object); err != nil {
		if notMigrated(err) {
			return map[string]int64{}, nil
		}
		return nil, fmt.Errorf("counting the enrollments of %s %s: %w", kind, object, err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Step] += r.N
	}
	return out, nil
}

// notMigrated reports the errors of a database without the runner's schema or
// one of its tables: undefined_table, invalid_schema_name.
func notMigrated(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && (pqErr.Code == "42P01" || pqErr.Code == "3F000")
}
