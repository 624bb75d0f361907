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

-- name: suppressed-among
-- Which of these suppression keys are on the list: the hashes of forgotten
-- addresses, computed by the daemon (the key never reaches the database).
-- reason = 'erased' keeps the lookup in the partial index suppressions_erased.
SELECT email_normalized FROM campaignctl.suppressions WHERE reason = 'erased' AND email_normalized = ANY($1::text[]);

-- name: erasure-key-ids
-- The key ids forgotten addresses were hashed with; a daemon whose key has
-- another id could not recognise them, so it refuses to start.
SELECT DISTINCT split_part(email_normalized, ':', 2) FROM campaignctl.suppressions WHERE reason = 'erased';

-- name: contact-rows
-- Everything the runner holds about one person, as JSON per table, for
-- `contact export` (and, with the same predicates, what forget erases). The
-- person is the normalized address $1, and the contact keys: $2/$3/$4 are
-- (kind, object, contact_key) triples of the objects of each key's model, $5/$6
-- (model, contact_key) pairs.
WITH objkeys AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[]) AS t(kind, object, contact_key)
), modelkeys AS (
    SELECT * FROM unnest($5::text[], $6::text[]) AS t(model, contact_key)
), enrolled AS (
    -- The person's enrollments by address (enrollments_address_object: the
    -- "<> ''" is its predicate, and an empty $1 finds nothing) and by key
    -- (the unique key (kind, object, contact_key, occurrence)).
    SELECT a.id FROM campaignctl.enrollments a WHERE a.email_normalized = $1 AND a.email_normalized <> ''
    UNION
    SELECT k.id FROM campaignctl.enrollments k JOIN objkeys t
      ON k.kind = t.kind AND k.object = t.object AND k.contact_key = t.contact_key
)
SELECT 'events' AS source, coalesce(jsonb_agg(to_jsonb(e) ORDER BY e.occurred_at, e.id), '[]')::text AS rows
FROM campaignctl.events e WHERE (e.model, e.contact_key) IN (SELECT model, contact_key FROM modelkeys)
UNION ALL
SELECT 'contact_properties', coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.model, p.field), '[]')::text
FROM campaignctl.contact_properties p WHERE (p.model, p.contact_key) IN (SELECT model, contact_key FROM modelkeys)
UNION ALL
SELECT 'outbox', coalesce(jsonb_agg(to_jsonb(o) ORDER BY o.id), '[]')::text
FROM campaignctl.outbox o
WHERE o.id IN (
    -- By address: the two arms of the class test are the predicates of the
    -- two indexes that lead with it (outbox_address_object for every class
    -- but internal, outbox_internal_address for internal mail), so Postgres
    -- reads both instead of the outbox (migrations/016_outbox_address_first.sql).
    SELECT a.id FROM campaignctl.outbox a
    WHERE a.email_normalized = $1 AND (a.class <> 'internal' OR a.class = 'internal')
    UNION
    -- By key: outbox_contact_key.
    SELECT k.id FROM campaignctl.outbox k JOIN objkeys t
      ON k.contact_key = t.contact_key AND k.kind = t.kind AND k.campaign = t.object)
UNION ALL
SELECT 'enrollments', coalesce(jsonb_agg(to_jsonb(n) ORDER BY n.id), '[]')::text
FROM campaignctl.enrollments n
WHERE n.id IN (SELECT id FROM enrolled)
UNION ALL
SELECT 'enrollment_steps', coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.enrollment_id, s.at), '[]')::text
FROM campaignctl.enrollment_steps s
WHERE s.enrollment_id IN (SELECT id FROM enrolled)
UNION ALL
SELECT 'enrollment_exclusions', coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.kind, x.object), '[]')::text
FROM campaignctl.enrollment_exclusions x WHERE (x.kind, x.object, x.contact_key) IN (SELECT kind, object, contact_key FROM objkeys)
UNION ALL
SELECT 'enrollment_audit', coalesce(jsonb_agg(to_jsonb(a) ORDER BY a.id), '[]')::text
FROM campaignctl.enrollment_audit a WHERE (a.kind, a.object, a.contact_key) IN (SELECT kind, object, contact_key FROM objkeys)
UNION ALL
SELECT 'consent_ledger', coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.recorded_at, c.id), '[]')::text
FROM campaignctl.consent_ledger c WHERE c.email_normalized = $1
UNION ALL
SELECT 'suppressions', coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.created_at), '[]')::text
FROM campaignctl.suppressions s WHERE s.email_normalized = $1;

-- name: contact-object-keys
-- The (kind, object, contact_key) of the runner's rows that carry the address,
-- so a person no longer in the CRM is found by the keys the runner kept.
-- The class test lets both address indexes answer (see contact-rows).
SELECT DISTINCT kind, campaign AS object, contact_key FROM campaignctl.outbox
WHERE email_normalized = $1 AND (class <> 'internal' OR class = 'internal')
UNION
SELECT DISTINCT kind, object, contact_key FROM campaignctl.enrollments WHERE email_normalized = $1 AND email_normalized <> '';

-- Erasure: the statements `contact forget` runs in one transaction, with the
-- parameters of contact-rows ($1 address; $2/$3/$4 object triples; $5/$6
-- model pairs), each counting what it removed for the audit row.

-- name: forget-events
-- The external ids of the contact's events (event_external_ids, migration
-- 022) go with them: a guard lives no longer than the event it guards. Both
-- deletes read the same snapshot, so the CTE still sees the events; the
-- count is the events'.
WITH ids AS (
    DELETE FROM campaignctl.event_external_ids x
    USING campaignctl.events e
    WHERE (e.model, e.contact_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
      AND e.external_id IS NOT NULL
      AND x.model = e.model AND x.external_id = e.external_id
)
DELETE FROM campaignctl.events
WHERE (model, contact_key) IN (SELECT * FROM unnest($1::text[], $2::text[]));

-- name: forget-contact-properties
DELETE FROM campaignctl.contact_properties
WHERE (model, contact_key) IN (SELECT * FROM unnest($1::text[], $2::text[]));

-- name: forget-outbox
-- The rows contact-rows exports, found the same way: by the indexes that lead
-- with the address or the key, never a read of the whole outbox.
DELETE FROM campaignctl.outbox
WHERE id IN (
    SELECT a.id FROM campaignctl.outbox a
    WHERE a.email_normalized = $1 AND (a.class <> 'internal' OR a.class = 'internal')
    UNION
    SELECT k.id FROM campaignctl.outbox k
    JOIN unnest($2::text[], $3::text[], $4::text[]) AS t(kind, object, contact_key)
      ON k.contact_key = t.contact_key AND k.kind = t.kind AND k.campaign = t.object);

-- name: forget-enrollments
-- enrollment_steps go with their enrollment (ON DELETE CASCADE).
-- Found as contact-rows finds them: by address or by key, through indexes.
DELETE FROM campaignctl.enrollments
WHERE id IN (
    SELECT a.id FROM campaignctl.enrollments a WHERE a.email_normalized = $1 AND a.email_normalized <> ''
    UNION
    SELECT k.id FROM campaignctl.enrollments k
    JOIN unnest($2::text[], $3::text[], $4::text[]) AS t(kind, object, contact_key)
      ON k.kind = t.kind AND k.object = t.object AND k.contact_key = t.contact_key);

-- name: forget-exclusions
DELETE FROM campaignctl.enrollment_exclusions
WHERE (kind, object, contact_key) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]));

-- name: redact-enrollment-audit
-- The audit of manual actions keeps that an action was taken, not on whom:
-- the key goes, and the free-text reason and detail, which may name the person.
UPDATE campaignctl.enrollment_audit SET contact_key = '(erased)', reason = '', detail = ''
WHERE (kind, object, contact_key) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]));

-- name: forget-consent-ledger
-- Allowed by the ledger's trigger only because the transaction set
-- campaignctl.erasure (SET LOCAL).
DELETE FROM campaignctl.consent_ledger WHERE email_normalized = $1;

-- name: forget-suppression
DELETE FROM campaignctl.suppressions WHERE email_normalized = $1;

-- name: suppress-erased
INSERT INTO campaignctl.suppressions (email_normalized, reason, campaign, created_at)
VALUES ($1, 'erased', '', $2)
ON CONFLICT (email_normalized) DO NOTHING;

-- name: insert-erasure-audit
INSERT INTO campaignctl.erasure_audit (at, actor, reason, counts) VALUES ($1, $2, $3, $4::jsonb) RETURNING id;

-- name: queue-confirmations
-- One confirmation mail per subscription request, as a transactional outbox
-- row due now. occurrence counts the contact's requests for the type, so a
-- second request (the first link expired or was lost) gets a new message;
-- ON CONFLICT skips a request already queued (the leader re-read it after a
-- crash before its cursor moved).
INSERT INTO campaignctl.outbox (kind, campaign, step, contact_key, email, email_normalized, class, occurrence, due_at, created_at)
SELECT 'subscription', $1, 'confirm', t.k, btrim(t.e), lower(btrim(t.e)), 'transactional',
       coalesce((SELECT max(o.occurrence) FROM campaignctl.outbox o
                 WHERE o.kind = 'subscription' AND o.campaign = $1 AND o.step = 'confirm' AND o.contact_key = t.k), 0) + t.n,
       $4, $4
FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(k, e, n)
ON CONFLICT DO NOTHING;

-- name: lock-confirmation
-- The confirmation's outbox row, locked: two clicks of the same link (a
-- double click, two tabs) confirm once, the second waits and then finds the
-- ledger entry of the first.
SELECT email_normalized, contact_key FROM campaignctl.outbox
WHERE id = $1 AND kind = 'subscription' AND campaign = $2 AND step = 'confirm'
FOR UPDATE;

-- name: confirmed-by
-- The ledger entry a confirmation link already wrote, if any.
SELECT id FROM campaignctl.consent_ledger
WHERE email_normalized = $1 AND subscription = $2 AND source = 'link' AND action = 'grant'
  AND evidence->>'outbox_id' = $3::text
LIMIT 1;

-- name: preferences
-- The latest ledger entry per subscription type of one address, and whether
-- it is suppressed: what the preference center shows.
SELECT DISTINCT ON (subscription)
       id, email_normalized, subscription, action, source, evidence::text AS evidence, recorded_at
FROM campaignctl.consent_ledger
WHERE email_normalized = lower(btrim($1))
ORDER BY subscription, recorded_at DESC, id DESC;
