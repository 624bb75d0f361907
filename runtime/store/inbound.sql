-- Queries of the inbound listener (inbound.go): replies, bounces and complaints
-- that come back to the daemon by SMTP.

-- name: inbound-sent-message
-- The outbox row an address token names: a primary-key read.
SELECT id, kind, campaign, step, variant, contact_key, email, email_normalized,
       occurrence, status, sent_at, coalesce(message_id, '') AS message_id
FROM campaignctl.outbox WHERE id = $1;

-- name: inbound-sent-message-by-row
-- The row a Message-ID of today's form names ("<hash>.<id>@<domain>",
-- mailer.MessageID): a primary-key read, and the row must have sent exactly
-- that Message-ID.
SELECT id, kind, campaign, step, variant, contact_key, email, email_normalized,
       occurrence, status, sent_at, coalesce(message_id, '') AS message_id
FROM campaignctl.outbox WHERE id = $1 AND message_id = $2;

-- name: inbound-sent-message-by-id
-- The row that sent a Message-ID of the form before 2026-12-05, the hash
-- alone (outbox_message_id_legacy, migrations/018_outbox_message_id_legacy.sql:
-- its predicate is repeated here so a generic plan can use it). Such a
-- Message-ID is (object, step, contact) and the same for a re-send, so the
-- latest row that carries it wins.
SELECT id, kind, campaign, step, variant, contact_key, email, email_normalized,
       occurrence, status, sent_at, coalesce(message_id, '') AS message_id
FROM campaignctl.outbox
WHERE message_id = $1 AND message_id IS NOT NULL AND strpos(split_part(message_id, '@', 1), '.') = 0
ORDER BY id DESC LIMIT 1;

-- name: inbound-lock
-- Serialises two deliveries of the same report (a relay retrying after a lost
-- 250, two MX hosts) until the first commits; the unique index on external_id
-- includes occurred_at, so it alone cannot say "already recorded".
SELECT pg_advisory_xact_lock(hashtextextended($1, 7));

-- name: inbound-record-event
-- One event, unless an event of that model with that external_id exists: the
-- lookup is the prefix of events_model_external_id_occurred_at.
INSERT INTO campaignctl.events (occurred_at, model, contact_key, type, campaign, step, external_id, properties)
SELECT $1, $2, $3, $4, $5, $6, $7, $8::jsonb
WHERE NOT EXISTS (SELECT 1 FROM campaignctl.events WHERE model = $2 AND external_id = $7);
