-- Queries of consent and privacy (issue 15): the consent ledger, and later
-- access and erasure. Kept apart from queries.sql, which the send path owns.

-- name: record-consent
INSERT INTO campaignctl.consent_ledger (email_normalized, subscription, action, source, evidence, recorded_at)
VALUES (lower(btrim($1)), $2, $3, $4, $5::jsonb, $6)
RETURNING id;

-- name: consent-history
-- One address's whole ledger, oldest first: what `consent show` prints.
SELECT id, email_normalized, subscription, action, source, evidence::text AS evidence, recorded_at
FROM campaignctl.consent_ledger
WHERE email_normalized = lower(btrim($1))
ORDER BY recorded_at, id;

-- name: latest-consent
-- The latest entry per (address, subscription) of a claimed batch's addresses,
-- in one query per batch: DISTINCT ON walks consent_ledger_address in order.
SELECT DISTINCT ON (email_normalized, subscription)
       id, email_normalized, subscription, action, source, evidence::text AS evidence, recorded_at
FROM campaignctl.consent_ledger
WHERE email_normalized = ANY($1::text[])
ORDER BY email_normalized, subscription, recorded_at DESC, id DESC;
