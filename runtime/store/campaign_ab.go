package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// HeldForDecision is the due time of a campaign message waiting for its A/B
// test's decision: the remainder of the audience is in the outbox from the
// start (so removing the campaign cancels it like any pending mail) but is
// never claimed until the decision gives it a variant and a real due time.
var HeldForDecision = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// EnqueueVariants is EnqueueBatch for a campaign with an A/B test: each
// recipient with its variant ("" for the remainder) and due time.
func (s *Store) EnqueueVariants(ctx context.Context, campaign, class string, now time.Time, batch []Recipient, variants []string, dues []time.Time) (int64, error) {
	if class == "" {
		class = "marketing"
	}
	keys, emails := make([]string, len(batch)), make([]string, len(batch))
	for i, r := range batch {
		keys[i], emails[i] = r.Key, r.Email
	}
	res, err := s.DB.ExecContext(ctx, `
INSERT INTO campaignctl.outbox (kind, campaign, step, variant, contact_key, email, email_normalized, due_at, created_at, class)
SELECT 'campaign', $1, '', v, k, btrim(e), lower(btrim(e)), d, $2, $3
FROM unnest($4::text[], $5::text[], $6::text[], $7::timestamptz[]) AS t(k, e, v, d)
WHERE btrim(coalesce(e, '')) <> ''
ON CONFLICT DO NOTHING`, campaign, now, class, pq.Array(keys), pq.Array(emails), pq.Array(variants), pq.Array(dues))
	if err != nil {
		return 0, fmt.Errorf("enqueueing %d messages of %s: %w", len(batch), campaign, err)
	}
	return res.RowsAffected()
}

// CampaignTestStart returns when a campaign's A/B test started (its first test
// message sent) and whether it has a test group at all.
func (s *Store) CampaignTestStart(ctx context.Context, campaign string) (started time.Time, ok, hasTestGroup bool, err error) {
	var t sql.NullTime
	err = s.DB.QueryRowContext(ctx, `SELECT min(sent_at) FILTER (WHERE status = 'sent'), count(*) > 0
FROM campaignctl.outbox WHERE kind = 'campaign' AND campaign = $1 AND variant <> '' AND due_at < $2`, campaign, HeldForDecision).Scan(&t, &hasTestGroup)
	if err != nil {
		return time.Time{}, false, false, fmt.Errorf("campaign %s: A/B test start: %w", campaign, err)
	}
	return t.Time, t.Valid, hasTestGroup, nil
}

// HeldKey is a held message's row and contact.
type HeldKey struct {
	ID         int64  `db:"id"`
	ContactKey string `db:"contact_key"`
}

// HeldForCampaign pages through a campaign's messages held for its decision.
func (s *Store) HeldForCampaign(ctx context.Context, campaign string, afterID int64, limit int) ([]HeldKey, error) {
	var out []HeldKey
	err := s.DB.SelectContext(ctx, &out, `SELECT id, contact_key FROM campaignctl.outbox
WHERE kind = 'campaign' AND campaign = $1 AND status = 'pending' AND due_at = $2 AND id > $3 ORDER BY id LIMIT $4`,
		campaign, HeldForDecision, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: reading messages held for the A/B decision: %w", campaign, err)
	}
	return out, nil
}

// ReleaseHeld gives held messages their variant and makes them due at now;
// an empty variant with cancel set cancels them instead (the test's policy
// is stop).
func (s *Store) ReleaseHeld(ctx context.Context, ids []int64, variants []string, now time.Time, cancel bool, reason string) error {
	var err error
	if cancel {
		_, err = s.DB.ExecContext(ctx, `UPDATE campaignctl.outbox SET status = 'cancelled', last_error = $3
WHERE id = ANY($1::bigint[]) AND status = 'pending' AND due_at = $2`, pq.Array(ids), HeldForDecision, reason)
	} else {
		_, err = s.DB.ExecContext(ctx, `UPDATE campaignctl.outbox o SET variant = t.v, due_at = $3
FROM unnest($1::bigint[], $2::text[]) AS t(id, v)
WHERE o.id = t.id AND o.status = 'pending' AND o.due_at = $4`, pq.Array(ids), pq.Array(variants), now, HeldForDecision)
	}
	if err != nil {
		return fmt.Errorf("releasing %d messages held for an A/B decision: %w", len(ids), err)
	}
	return nil
}
