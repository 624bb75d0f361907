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
-- 250, two MX hosts) until the first commits, suppression included (a report
-- without a contact model records no event, so claims no external id).
SELECT pg_advisory_xact_lock(hashtextextended($1, 7));

-- name: inbound-record-event
-- One event, unless an event of that model with that external_id exists: the
-- id is claimed in event_external_ids (migrations/022_event_external_ids.sql)
-- as the events API claims its ids, in the same statement, so a report and a
-- posted event with the same id are stored once too.
WITH claimed AS (
    INSERT INTO campaignctl.event_external_ids (model, external_id, occurred_at)
    VALUES ($2, $7, $1)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
INSERT INTO campaignctl.events (occurred_at, model, contact_key, type, campaign, step, external_id, properties)
SELECT $1, $2, $3, $4, $5, $6, $7, $8::jsonb
WHERE EXISTS (SELECT 1 FROM claimed);
