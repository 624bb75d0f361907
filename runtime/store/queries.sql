-- name: insert-revision
-- applied_at comes from the caller's clock so tests and the demo control time.
INSERT INTO campaignctl.revisions (plan_hash, plan, source_commit, applied_at, applied_by)
VALUES ($1, $2, $3, $4, $5)
RETURNING id;

-- name: latest-revision
SELECT id, plan_hash, plan, source_commit, applied_at, applied_by
FROM campaignctl.revisions
ORDER BY id DESC
LIMIT 1;

-- name: latest-revision-id
-- Asked before every claim and reconcile: the id alone, so the plan's text is
-- read only when a new revision was applied.
SELECT coalesce(max(id), 0) FROM campaignctl.revisions;

-- name: list-campaigns
SELECT name, hash, revision_id, status, send_at, materialized_at, audience, created_at, updated_at
FROM campaignctl.campaigns
ORDER BY name;

-- name: upsert-campaign
-- A changed campaign keeps its status: what was already sent stays sent, and a
-- campaign removed and then re-added becomes scheduled again.
INSERT INTO campaignctl.campaigns (name, hash, revision_id, status, send_at, created_at, updated_at)
VALUES ($1, $2, $3, 'scheduled', $4, $5, $5)
ON CONFLICT (name) DO UPDATE
SET hash = EXCLUDED.hash,
    revision_id = EXCLUDED.revision_id,
    send_at = EXCLUDED.send_at,
    status = CASE WHEN campaignctl.campaigns.status = 'removed' THEN 'scheduled' ELSE campaignctl.campaigns.status END,
    updated_at = EXCLUDED.updated_at
WHERE campaignctl.campaigns.hash IS DISTINCT FROM EXCLUDED.hash
   OR campaignctl.campaigns.status = 'removed';

-- name: remove-campaign
UPDATE campaignctl.campaigns SET status = 'removed', updated_at = $2 WHERE name = $1 AND status <> 'removed';

-- name: cancel-pending
-- Removing a campaign stops its future sends; what was sent stays recorded.
-- Rows a replica holds under a live lease are left to it: it may already have
-- handed them to the relay, and it drops them itself once it sees the plan.
UPDATE campaignctl.outbox SET status = 'cancelled', last_error = 'campaign removed from plan'
WHERE kind = 'campaign' AND campaign = $1 AND status = 'pending'
  AND (lease_until IS NULL OR lease_until < clock_timestamp());

-- name: insert-outbox-batch
-- Arrays instead of one INSERT per row: one round trip per batch. ON CONFLICT
-- without a target covers both unique keys (contact and normalized address).
-- Suppressed addresses are left out of marketing mail here; other classes are
-- enqueued, and the claim decides with the reason and the policy's bypass (the
-- row is cancelled with the reason when no bypass lets it go).
-- insert-outbox-first (store.go) is this statement without its ON CONFLICT.
INSERT INTO campaignctl.outbox (campaign, step, contact_key, email, email_normalized, due_at, created_at, class)
SELECT $1, $2, k, btrim(e), lower(btrim(e)), $3, $4, $7
FROM unnest($5::text[], $6::text[]) AS t(k, e)
WHERE e IS NOT NULL AND btrim(e) <> ''
  AND ($7::text <> 'marketing'
       OR NOT EXISTS (SELECT 1 FROM campaignctl.suppressions s WHERE s.email_normalized = lower(btrim(t.e))))
ON CONFLICT DO NOTHING;

-- name: campaign-has-messages
-- Asked when a materialization starts, mostly of a campaign that has no row
-- yet. Not EXISTS: the planner drops an ORDER BY and LIMIT inside one, and
-- its generic plan (this statement is prepared) assumes a campaign's rows are
-- spread evenly, so with a few campaigns it plans a sequential scan expected
-- to stop within a few rows, which reads the whole outbox when the campaign
-- has none. A scalar subquery in the order of the contact key reads one
-- index probe either way (TestNoQueryReadsAWholeTableOnADrainedBacklogsStatistics).
SELECT (SELECT id FROM campaignctl.outbox WHERE kind = 'campaign' AND campaign = $1
        ORDER BY kind, campaign, step, contact_key, occurrence LIMIT 1) IS NOT NULL;

-- name: mark-materialized
UPDATE campaignctl.campaigns
SET status = 'sending', materialized_at = $2, audience = $3, updated_at = $2
WHERE name = $1 AND status = 'scheduled';

-- name: claim-due
-- SKIP LOCKED lets several replicas claim disjoint rows without waiting on each
-- other. Due-ness ($1) is on the engine's clock; the lease is on the database's
-- (clock_timestamp()), so a simulated clock can never expire a lease early. A
-- row whose lease ran out (its replica crashed or lost the database) is
-- claimable again. claim_seq grows with every claim and never goes back: with
-- claimed_by it is the fencing token record-outcomes checks, unique per claim
-- (attempts is not: a release or a hold takes its attempt back, 025). attempts
-- grows with every claim too, for backoff and give-up. cap_seq = claim_seq
-- counts the row against the frequency caps of every other claim while this
-- claim holds it (cap-counts), until the claim finds it has no room
-- (release-caps). The row stays 'pending' and no indexed
-- column changes, so the update is HOT. Suppression is looked up here, set
-- based, for the whole batch at once instead of one query per message; the
-- reason comes back, since a policy may let a class of mail other than
-- marketing go to an unsubscribed (or blacklisted) address.
--
-- Three lanes, in this order: mail someone is waiting for (a double opt-in
-- confirmation, an autoresponder's messages; up to $11 rows,
-- outbox_claimable_waited, 028), the one-to-one lane (the other kinds but
-- 'campaign': sequences' and workflows' steps; up to $9 rows,
-- outbox_claimable_one_to_one, 027), then campaigns (up to $10 rows), and $4
-- in all. Mail sent to one person because of what that person did goes
-- before bulk mail that is due, instead of behind a campaign's whole backlog
-- due before it; and a confirmation goes before a sequence's backlog.
--
-- The one-to-one lane and campaigns have the claimer's cursor: ($5, $6) for
-- campaigns, ($7, $8) for the one-to-one lane, the (due_at, id) of the last
-- row it claimed there, NULL for a scan from the start. The waited lane is
-- scanned from its start each time (see 028). A sent row leaves outbox_claimable
-- only when VACUUM removes its entry; until then every claim from the start
-- steps over the entries of everything sent before, in due order: 18-20 ms
-- for an empty claim once 100,000 messages were sent, about 7 ms a claim on
-- average while they were. The claimer starts after its cursor while a
-- backlog drains, and from the start every 250 ms, after its ledger recorded
-- a row due again, and whenever a lane's claim comes back short
-- (store.ClaimCursor, engine's claimer), which finds what fell behind the
-- cursor: a row given back, a lease run out, a row enqueued due earlier.
WITH waited AS (
    SELECT id FROM campaignctl.outbox
    WHERE status = 'pending' AND kind IN ('subscription', 'autoresponder') AND due_at <= $1
      AND (lease_until IS NULL OR lease_until < clock_timestamp())
    ORDER BY due_at, id
    LIMIT least($11::int, $4::int)
    FOR UPDATE SKIP LOCKED
), one_to_one AS (
    SELECT id FROM campaignctl.outbox
    WHERE status = 'pending' AND kind NOT IN ('campaign', 'subscription', 'autoresponder') AND due_at <= $1
      AND (due_at, id) > (coalesce($7::timestamptz, '-infinity'), coalesce($8::bigint, 0))
      AND (lease_until IS NULL OR lease_until < clock_timestamp())
    ORDER BY due_at, id
    LIMIT least($9::int, $4::int - (SELECT count(*) FROM waited))
    FOR UPDATE SKIP LOCKED
), bulk AS (
    SELECT id FROM campaignctl.outbox
    WHERE status = 'pending' AND kind = 'campaign' AND due_at <= $1
      AND (due_at, id) > (coalesce($5::timestamptz, '-infinity'), coalesce($6::bigint, 0))
      AND (lease_until IS NULL OR lease_until < clock_timestamp())
    ORDER BY due_at, id
    LIMIT least($10::int, $4::int - (SELECT count(*) FROM waited) - (SELECT count(*) FROM one_to_one))
    FOR UPDATE SKIP LOCKED
)
-- The ids as an array: joined with the two lanes' union instead, the planner
-- did not know how many rows that holds and hashed the whole outbox (300 ms
-- a claim on 100,000 rows, against an index probe a row).
UPDATE campaignctl.outbox o
SET claimed_at = $1, claimed_by = $2,
    lease_until = clock_timestamp() + $3::interval,
    attempts = o.attempts + 1,
    claim_seq = o.claim_seq + 1,
    cap_seq = o.claim_seq + 1,
    first_attempt_at = coalesce(o.first_attempt_at, $1)
WHERE o.id = ANY (ARRAY(SELECT id FROM waited UNION ALL SELECT id FROM one_to_one UNION ALL SELECT id FROM bulk))
RETURNING o.id, o.kind, o.campaign, o.step, o.variant, o.occurrence, o.class, o.email_normalized, o.contact_key, o.email, o.attempts, o.claim_seq, o.first_attempt_at, o.due_at,
    coalesce((SELECT s.reason FROM campaignctl.suppressions s WHERE s.email_normalized = o.email_normalized), '') AS suppressed_as;

-- name: suppression-reasons
-- The reasons of those of these normalized addresses on the suppression list:
-- a claimed row that waited before its batch is checked again
-- (Store.SuppressionReasons), so an unsubscribe, bounce or complaint recorded
-- after its claim still stops it. $1 holds the addresses and the hashes a
-- forgotten one of them would have (Store.Erasure): one query for both, one
-- probe of the primary key per key.
SELECT email_normalized, reason FROM campaignctl.suppressions WHERE email_normalized = ANY($1::text[]);

-- name: renew-leases
-- The owner extends the lease of what it still holds while it works on it, so a
-- slow relay never lets another replica take over a message in flight. SKIP
-- LOCKED: a row locked now is having its outcome written by the ledger (which
-- needs no renewal); waiting for it instead deadlocked with that write, whose
-- rows are locked in another order (seen on the benchmark).
WITH held AS (
    SELECT id FROM campaignctl.outbox
    WHERE id = ANY($2::bigint[]) AND status = 'pending' AND claimed_by = $1
    FOR UPDATE SKIP LOCKED
)
UPDATE campaignctl.outbox o
SET lease_until = clock_timestamp() + $3::interval
FROM held
WHERE o.id = held.id;

-- name: record-outcomes
-- One statement for a whole batch of outcomes (the ledger write), instead of one
-- UPDATE and commit per message. Only rows this replica still owns under the same
-- claim (claimed_by and claim_seq) change; the ids returned are those, so the
-- caller can tell an outcome that lost its lease. The same write run again
-- (database/sql reruns it when its connection broke after the commit) matches
-- nothing: a row it gave back is claimed by nobody, or by a newer claim, even
-- this replica's own. status 'pending' is a retry
-- (due again at retry_at) or a release (release = true: given back untried, the
-- claim does not count as an attempt). Hard-bounced addresses are suppressed in
-- the same statement, so the outcome and the suppression commit together. A
-- hold (send-time policy) is due again at its time, says why in last_error,
-- and, like a release, is not an attempt: the give-up age starts at the first
-- real attempt.
WITH v AS (
    SELECT * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::timestamptz[], $6::text[],
                         $7::text[], $8::text[], $9::text[], $10::bool[], $14::bool[])
        AS v(id, claim_seq, status, at, message_id, template_hash, error, smtp, release, hold)
), done AS (
    UPDATE campaignctl.outbox o
    SET status = v.status,
        sent_at = CASE WHEN v.status = 'sent' THEN v.at ELSE o.sent_at END,
        message_id = CASE WHEN v.status = 'sent' THEN v.message_id ELSE o.message_id END,
        template_hash = CASE WHEN v.status = 'sent' THEN v.template_hash ELSE o.template_hash END,
        last_error = CASE WHEN v.release AND NOT v.hold THEN o.last_error ELSE nullif(v.error, '') END,
        last_smtp = CASE WHEN v.release OR v.hold THEN o.last_smtp ELSE nullif(v.smtp, '') END,
        due_at = CASE WHEN v.status = 'pending' AND (NOT v.release OR v.hold) THEN v.at ELSE o.due_at END,
        attempts = CASE WHEN v.release OR v.hold THEN o.attempts - 1 ELSE o.attempts END,
        first_attempt_at = CASE WHEN v.hold AND o.attempts = 1 THEN NULL ELSE o.first_attempt_at END,
        claimed_by = CASE WHEN v.status = 'pending' THEN NULL ELSE o.claimed_by END,
        claimed_at = CASE WHEN v.status = 'pending' THEN NULL ELSE o.claimed_at END,
        lease_until = NULL
    FROM v
    WHERE o.id = v.id AND o.status = 'pending' AND o.claimed_by = $1 AND o.claim_seq = v.claim_seq
    RETURNING o.id
), suppressed AS (
    INSERT INTO campaignctl.suppressions AS s (email_normalized, reason, campaign, created_at)
    SELECT DISTINCT ON (lower(btrim(e))) lower(btrim(e)), 'hard_bounce', c, t
    FROM unnest($11::text[], $12::text[], $13::timestamptz[]) AS u(e, c, t)
    ORDER BY lower(btrim(e)), t
    -- A hard bounce replaces an unsubscribe (see suppress).
    ON CONFLICT (email_normalized) DO UPDATE
    SET reason = excluded.reason, campaign = excluded.campaign, created_at = excluded.created_at
    WHERE s.reason = 'unsubscribed'
)
SELECT id FROM done;

-- name: outcomes-recorded
-- Which of these outcomes the rows already hold, as this replica's own
-- record-outcomes leaves them: a ledger write whose reply was lost (the
-- connection died after the commit) is retried, and the retry's fencing then
-- matches nothing. Those rows were not taken over by another replica, and are
-- not counted as lost claims. A sent, failed or cancelled row still names
-- this replica and its claim; a row given back, retried or held is pending,
-- claimed by nobody, with the claim_seq of the claim, or this replica has
-- claimed it again since (claim_seq moved on; claimed_by is NULL once that
-- claim gave it back too): the write gave it back, or its lease ran out
-- before and this replica's new claim is the row's only one. A row another
-- replica holds or sent is a claim lost: a release after a reply that never
-- came may have been delivered.
SELECT o.id FROM campaignctl.outbox o
JOIN unnest($2::bigint[], $3::bigint[], $4::text[]) AS v(id, claim_seq, status) ON o.id = v.id
WHERE CASE WHEN v.status = 'pending'
           THEN o.claim_seq > v.claim_seq AND coalesce(o.claimed_by, $1) = $1
             OR o.status = 'pending' AND o.claimed_by IS NULL AND o.claim_seq = v.claim_seq
           ELSE o.status = v.status AND o.claimed_by = $1 AND o.claim_seq = v.claim_seq END;

-- name: finish-campaigns
-- A campaign is finished once its audience is materialized and nothing is left
-- to try: 'sent' when at least one message went out (or the audience was
-- empty), 'failed' when every message failed, so 100% failures never read "sent".
-- The failed messages are looked for first, in the small outbox_failed: the
-- search for a sent one reads the campaign's rows, and on the statistics of
-- the backlog that just drained (they say nothing was sent) it is planned as
-- a scan of every sent row (10-20 ms on 60,000), which now runs only when the
-- campaign finishes with failed messages, once.
UPDATE campaignctl.campaigns c
SET status = CASE
        WHEN NOT EXISTS (SELECT 1 FROM campaignctl.outbox o WHERE o.kind = 'campaign' AND o.campaign = c.name AND o.status = 'failed')
          OR EXISTS (SELECT 1 FROM campaignctl.outbox o WHERE o.kind = 'campaign' AND o.campaign = c.name AND o.status = 'sent')
        THEN 'sent' ELSE 'failed' END,
    updated_at = $1
WHERE c.status = 'sending'
  AND NOT EXISTS (
    SELECT 1 FROM campaignctl.outbox o
    WHERE o.kind = 'campaign' AND o.campaign = c.name AND o.status = 'pending');

-- name: campaign-counts
SELECT campaign, status, count(*) AS n
FROM campaignctl.outbox
WHERE kind = 'campaign'
GROUP BY campaign, status
ORDER BY campaign, status;

-- name: pending-in-campaign
-- What removing or editing a campaign would cancel or re-render (diff --db).
SELECT count(*) FROM campaignctl.outbox
WHERE kind = 'campaign' AND campaign = $1 AND status = 'pending';

-- name: active-enrollments-by-step
-- Where the contacts of a sequence, workflow or autoresponder wait, for what
-- editing or removing it would touch (diff --db).
SELECT next_step, count(*) AS n FROM campaignctl.enrollments
WHERE kind = $1 AND object = $2 AND state = 'active'
GROUP BY next_step;

-- name: pending-work
-- Anything a daemon could still do now or later: used by --exit-when-idle,
-- on each pass once nothing was due. Each arm stops at the first row;
-- counting them cost 4 ms a call with a few thousand enrollments waiting.
-- The outbox's and the enrollments' arms are scalar subqueries in the order
-- of their partial index, not EXISTS: it is asked right after a backlog
-- drained, when the statistics still say most rows are pending (autovacuum
-- analyzes a minute or so later), and EXISTS then planned a sequential scan
-- expected to stop at the first row, which read every row, all sent:
-- 34-132 ms on the 100,000 messages the send benchmark leaves, against
-- under 1 ms through outbox_claimable (TestNoQueryReadsAWholeTableOnADrainedBacklogsStatistics).
-- The paused objects ($1 kinds, $2 names) are left out: their work waits
-- for a revision that unpauses them, and Run, finding nothing else left,
-- says so with what they hold (paused-work) instead of exiting. Their held
-- messages sit at the end of the due order (HeldWhilePaused), so the outbox
-- arm still stops at the first other row.
SELECT (SELECT id FROM campaignctl.outbox
        WHERE status = 'pending'
          AND (kind, campaign) NOT IN (SELECT * FROM unnest($1::text[], $2::text[]))
        ORDER BY due_at, id LIMIT 1) IS NOT NULL
    OR EXISTS (SELECT 1 FROM campaignctl.campaigns
               WHERE status IN ('scheduled', 'sending')
                 AND ('campaign', name) NOT IN (SELECT * FROM unnest($1::text[], $2::text[])))
    OR (SELECT id FROM campaignctl.enrollments
        WHERE state = 'active'
          AND (kind, object) NOT IN (SELECT * FROM unnest($1::text[], $2::text[]))
        ORDER BY wake_at LIMIT 1) IS NOT NULL;

-- name: paused-work
-- What each paused object ($1 kinds, $2 names) holds: its active enrollments
-- and its pending messages (held, or not yet due). Counts, no contact column:
-- Run logs them when --exit-when-idle waits for these objects alone.
SELECT p.kind, p.name,
       (SELECT count(*) FROM campaignctl.enrollments e
        WHERE e.kind = p.kind AND e.object = p.name AND e.state = 'active') AS enrollments,
       (SELECT count(*) FROM campaignctl.outbox o
        WHERE o.kind = p.kind AND o.campaign = p.name AND o.status = 'pending') AS messages
FROM unnest($1::text[], $2::text[]) AS p(kind, name)
ORDER BY p.kind, p.name;

-- name: suppress
-- The first reason recorded wins, except over an unsubscribe: a policy may
-- let transactional mail go to an unsubscribed address, but never to one that
-- bounced, complained or was blacklisted since, so those replace it. An
-- unsubscribe is also a withdrawal of consent in the consent ledger (every
-- request, as evidence), in the same statement so both or neither commit.
WITH suppressed AS (
    INSERT INTO campaignctl.suppressions AS s (email_normalized, reason, campaign, created_at)
    VALUES (lower(btrim($1)), $2, $3, $4)
    ON CONFLICT (email_normalized) DO UPDATE
    SET reason = excluded.reason, campaign = excluded.campaign, created_at = excluded.created_at
    WHERE s.reason = 'unsubscribed' AND excluded.reason <> 'unsubscribed'
)
INSERT INTO campaignctl.consent_ledger (email_normalized, subscription, action, source, evidence, recorded_at)
SELECT lower(btrim($1)), '', 'withdraw', 'unsubscribe', jsonb_build_object('campaign', $3::text), $4
WHERE $2::text = 'unsubscribed';

-- name: create-event-staging
-- Contact events (events.go) go through this staging table: COPY streams a whole
-- batch into it in one go (far fewer round trips and parse steps than one INSERT
-- per event), and insert-staged-events then applies ON CONFLICT, which COPY
-- cannot. ON COMMIT DROP ties its life to the caller's transaction, so several
-- batches of one import reuse it and a pooled connection never carries it over.
-- ord numbers the rows in the order COPY sent them (the batch's order), so
-- "the first copy of an external id wins" means the first line.
CREATE TEMP TABLE IF NOT EXISTS campaignctl_events_in (
    ord         bigint      GENERATED ALWAYS AS IDENTITY,
    occurred_at timestamptz NOT NULL,
    model       text        NOT NULL,
    contact_key text        NOT NULL,
    type        text        NOT NULL,
    campaign    text        NOT NULL,
    step        text        NOT NULL,
    topic       text        NOT NULL,
    url         text        NOT NULL,
    external_id text,
    properties  jsonb       NOT NULL
) ON COMMIT DROP;

-- name: copy-events-in
-- pg_temp. makes sure the staging table is ours even under an odd search_path.
COPY pg_temp.campaignctl_events_in (occurred_at, model, contact_key, type, campaign, step, topic, url, external_id, properties) FROM STDIN;

-- name: insert-staged-events
-- An external id is one event whatever its occurred_at (migrations/
-- 022_event_external_ids.sql): firsts keeps the batch's first line of each
-- (model, external_id), claimed records the ids no earlier event holds, and
-- only those events are stored, with every event without an id. In one
-- statement, so an id is claimed if and only if its event is stored; a
-- concurrent batch with the same id waits on the primary key until this one
-- commits, then claims nothing. The claims go in (model, external_id) order,
-- so two batches sharing several ids take their locks in the same order and
-- never deadlock. ON CONFLICT DO NOTHING on the events stays for the one
-- conflict left: an event stored before its id was recorded (none once
-- migration 022 ran, which records the ids of every stored event).
WITH firsts AS (
    SELECT DISTINCT ON (model, external_id) *
    FROM pg_temp.campaignctl_events_in
    WHERE external_id IS NOT NULL
    ORDER BY model, external_id, ord
), claimed AS (
    INSERT INTO campaignctl.event_external_ids (model, external_id, occurred_at)
    SELECT model, external_id, occurred_at FROM firsts
    ORDER BY model, external_id
    ON CONFLICT DO NOTHING
    RETURNING model, external_id
)
INSERT INTO campaignctl.events (occurred_at, model, contact_key, type, campaign, step, topic, url, external_id, properties)
SELECT occurred_at, model, contact_key, type, campaign, step, topic, url, external_id, properties
FROM (
    SELECT * FROM pg_temp.campaignctl_events_in WHERE external_id IS NULL
    UNION ALL
    SELECT f.* FROM firsts f JOIN claimed c ON c.model = f.model AND c.external_id = f.external_id
) stored
-- Ids follow the batch's order, as they did before the ids were checked.
ORDER BY ord
ON CONFLICT DO NOTHING;

-- name: truncate-event-staging
-- TRUNCATE rather than DELETE: the next batch of the same transaction starts
-- from an empty file instead of scanning past dead rows.
TRUNCATE pg_temp.campaignctl_events_in;

-- name: list-event-partitions
-- Reads the catalog, not the names alone: a stray table named like a partition
-- but not attached must not count as one.
SELECT c.relname
FROM pg_catalog.pg_inherits i
JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'campaignctl.events'::regclass;

-- name: lock-events-for-partitioning
-- Blocks every insert through campaignctl.events (they take ROW EXCLUSIVE on it)
-- and every other caller of this code (the mode conflicts with itself), while
-- reads go on. Taken before the partitions are listed again, so "the default
-- partition holds no rows of that month" stays true until the partition exists,
-- and two callers never create the same one. ONLY keeps it to one lock instead of
-- one per partition.
LOCK TABLE ONLY campaignctl.events IN SHARE ROW EXCLUSIVE MODE;

-- name: default-holds-month
SELECT EXISTS (SELECT 1 FROM campaignctl.events_default WHERE occurred_at >= $1 AND occurred_at < $2);

-- name: create-event-partition
-- This and the next three are templates that createEventPartition fills in with
-- fmt.Sprintf: the partition's quoted name, then its bounds as quoted literals
-- (DDL takes no bind parameters).
CREATE TABLE campaignctl.%s PARTITION OF campaignctl.events FOR VALUES FROM (%s) TO (%s);

-- name: create-like-events
-- Postgres refuses CREATE TABLE ... PARTITION OF while the default partition
-- holds rows of the new range. So: a plain table shaped like the parent (LIKE
-- copies the NOT NULL and CHECK constraints ATTACH demands), the rows moved into
-- it with their ids (move-default-rows), then attach-event-partition, which builds
-- the indexes and checks the bounds. All in the caller's transaction: readers see
-- the rows in the default partition or in the new one, never in neither.
CREATE TABLE campaignctl.%s (LIKE campaignctl.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS);

-- name: move-default-rows
WITH moved AS (
    DELETE FROM campaignctl.events_default
    WHERE occurred_at >= $1 AND occurred_at < $2
    RETURNING id, occurred_at, received_at, model, contact_key, type, campaign, step, topic, url, external_id, properties
)
INSERT INTO campaignctl.%s (id, occurred_at, received_at, model, contact_key, type, campaign, step, topic, url, external_id, properties)
SELECT id, occurred_at, received_at, model, contact_key, type, campaign, step, topic, url, external_id, properties
FROM moved;

-- name: attach-event-partition
ALTER TABLE campaignctl.events ATTACH PARTITION campaignctl.%s FOR VALUES FROM (%s) TO (%s);

-- name: is-suppressed
SELECT EXISTS (SELECT 1 FROM campaignctl.suppressions WHERE email_normalized = lower(btrim($1)));

-- name: held-rows
-- Rows some replica holds: pending under a claim (released and retried rows have
-- no claimed_by). After every replica exited cleanly this must be zero.
SELECT count(*) FROM campaignctl.outbox WHERE status = 'pending' AND claimed_by IS NOT NULL;

-- name: analyze-outbox
-- Only the columns the send path, reconcile and the counts filter or join on:
-- the planner needs their distributions (how many rows are pending, of which
-- object and step, due when) and the table's size, which every ANALYZE
-- refreshes. The wide text columns (addresses, keys, Message-IDs, errors) are
-- the costly part of a full ANALYZE and tell these queries nothing. Measured
-- on the outbox the send benchmark leaves (100,000 sent rows): 170-200 ms
-- against 575-600 ms for a full ANALYZE; the four of a 100,000-contact
-- materialization while it sends: 300 and 550 ms against 580 and 630 ms.
-- Autovacuum's own analyze still refreshes every column. email_normalized is
-- the one address column in the list: the frequency caps look rows up by
-- address (outbox_address_object), and without its statistics the planner
-- guessed 1 row in 200 per address. The store runs this at a statistics
-- target of its own (store.refreshStatisticsTarget).
ANALYZE campaignctl.outbox (id, kind, campaign, step, variant, occurrence, class, status,
    due_at, lease_until, claimed_by, attempts, sent_at, enrollment_id, email_normalized);

-- name: event-partition-tuples
-- What the statistics know of the size of some event partitions
-- (RefreshEventStats).
SELECT c.relname, c.reltuples
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'campaignctl' AND c.relname = ANY($1::text[]);

-- name: outbox-known-pending
-- The pending rows the outbox's statistics know of: its row count times the
-- frequency of status 'pending' among the most common values (0 when it is
-- not among them; negative before the first analyze, when reltuples is -1).
SELECT c.reltuples::float8 * coalesce((
    SELECT m.f FROM pg_stats st, unnest(st.most_common_vals::text::text[], st.most_common_freqs) AS m(v, f)
    WHERE st.schemaname = 'campaignctl' AND st.tablename = 'outbox' AND st.attname = 'status' AND m.v = 'pending'), 0)
FROM pg_class c WHERE c.oid = 'campaignctl.outbox'::regclass;

-- name: claim-due-enrollments
-- Inside the transaction that applies their decisions: the row locks are the
-- claim, SKIP LOCKED lets replicas advance disjoint enrollments, and the commit
-- that moves an enrollment on is the one that enqueues its message, so a crash
-- leaves either both or neither. Due-ness is on the engine's clock ($1).
-- The objects paused in the plan ($3 kinds, $4 names, pairwise) are left out
-- rather than claimed and pushed back: a paused enrollment keeps its wake_at
-- and step untouched, writes nothing while paused, and is due at once when
-- its object is unpaused. The price is that the index scan steps over a
-- paused object's due rows on each claim.
SELECT id, kind, object, contact_key, email, occurrence, step_index, next_step, enrolled_at, wake_at, revision_id, trigger_event
FROM campaignctl.enrollments
WHERE state = 'active' AND wake_at <= $1
  AND NOT EXISTS (SELECT 1 FROM unnest($3::text[], $4::text[]) AS p(kind, object)
                  WHERE p.kind = enrollments.kind AND p.object = enrollments.object)
ORDER BY wake_at
LIMIT $2
FOR UPDATE SKIP LOCKED;

-- name: lock-object-entry
-- Taken SHARED by each transaction of a segment entry (the set-based INSERT …
-- SELECT, each streamed enroll-batch), in a statement of its own before the
-- insert: under READ COMMITTED the insert's snapshot is then taken after the
-- lock is granted. An operator's exclude, include or reset of a contact of
-- the object takes it EXCLUSIVE (lock-object-manual), so an entry in flight
-- commits before the action reads the enrollments (and the action ends what
-- the entry wrote), and an entry that starts after the action waits for it,
-- then sees its exclusion. One lock per statement, not per row, so a
-- million-contact entry costs one lock; entries of several replicas share
-- it. Its own key space, the two-int4 form under class 1701737586 ("entr"),
-- apart from the one-bigint keys of the other advisory locks and from
-- storetest's class. Every transaction takes it before any per-contact lock
-- (lock-enrollment-contacts) and takes no other object's: no lock cycle. A
-- hash collision between two objects only makes one wait.
SELECT pg_advisory_xact_lock_shared(1701737586, hashtext(concat_ws(E'\x1f', $1::text, $2::text)));

-- name: lock-object-manual
-- lock-object-entry, EXCLUSIVE: an operator's action on a contact of the
-- object (manual.go) waits for the entry statements in flight to commit, and
-- entries starting after it wait for it (they queue behind it).
SELECT pg_advisory_xact_lock(1701737586, hashtext(concat_ws(E'\x1f', $1::text, $2::text)));

-- name: lock-enrollment-contacts
-- Serialises, per (kind, object, contact), an enrollment written from a
-- decision taken earlier (the event trigger read the exclusions, then wrote)
-- with an operator's exclude, include or reset of that contact (manual.go):
-- whichever comes second waits for the first to commit, and its next
-- statement sees what the first wrote. A transaction-level advisory lock,
-- so no row has to exist yet; taken in key order, so two passes over
-- overlapping keys never deadlock. A hash collision only makes one wait.
SELECT count(pg_advisory_xact_lock(hashtextextended(concat_ws(E'\x1f', $1::text, $2::text, k), 11)))
FROM (SELECT DISTINCT k FROM unnest($3::text[]) AS t(k) ORDER BY k) AS keys;

-- name: enroll-batch
-- The in-process path of segment entry (a filter Postgres cannot evaluate):
-- the evaluator streams matches and each batch lands here. ON CONFLICT without
-- a target covers both unique keys: one enrollment per contact and per address.
INSERT INTO campaignctl.enrollments (kind, object, contact_key, email, email_normalized, occurrence,
    state, step_index, wake_at, enrolled_at, revision_id, updated_at)
SELECT $1, $2, k, btrim(coalesce(e, '')), lower(btrim(coalesce(e, ''))), 1, 'active', 0, $3, $4, $5, $4
FROM unnest($6::text[], $7::text[]) AS t(k, e)
WHERE btrim(coalesce(e, '')) <> ''
  AND NOT EXISTS (SELECT 1 FROM campaignctl.enrollment_exclusions x WHERE x.kind = $1 AND x.object = $2 AND x.contact_key = k)
ON CONFLICT DO NOTHING;

-- name: enrollment-engagement
-- What each enrollment's contact did with the earlier steps its next steps
-- test: the message's status and time, and the first open, click, reply and
-- bounce recorded for that object and step since it was sent. Opens and
-- clicks a machine made (a privacy proxy, a link scanner: the tracking
-- endpoints flag them in properties.machine) do not count, here nor in A/B
-- tests (ab-counts). One query for a
-- batch; the events index on (model, contact_key, occurred_at) bounds each
-- subquery to one contact's recent events. The enrollments' contact keys ($6)
-- let the outbox's (kind, campaign, step, contact_key, occurrence) index find
-- their messages; without them the query read every message of the step
-- (1,074 rows for a batch of 7 in the three-daemon test), so advancing N
-- enrollments read about N^2 / batch rows.
SELECT o.enrollment_id, o.step, o.status, o.created_at, o.sent_at,
  (SELECT min(ev.occurred_at) FROM campaignctl.events ev
     WHERE ev.model = $3 AND ev.contact_key = o.contact_key AND ev.type = 'open'
       AND ev.campaign = o.campaign AND ev.step = o.step AND ev.occurred_at >= o.sent_at
       AND coalesce(ev.properties->>'machine', '') <> 'true') AS open_at,
  (SELECT min(ev.occurred_at) FROM campaignctl.events ev
     WHERE ev.model = $3 AND ev.contact_key = o.contact_key AND ev.type = 'click'
       AND ev.campaign = o.campaign AND ev.step = o.step AND ev.occurred_at >= o.sent_at
       AND coalesce(ev.properties->>'machine', '') <> 'true') AS click_at,
  (SELECT min(ev.occurred_at) FROM campaignctl.events ev
     WHERE ev.model = $3 AND ev.contact_key = o.contact_key AND ev.type = 'reply'
       AND ev.campaign = o.campaign AND ev.step = o.step AND ev.occurred_at >= o.sent_at) AS reply_at,
  (SELECT min(ev.occurred_at) FROM campaignctl.events ev
     WHERE ev.model = $3 AND ev.contact_key = o.contact_key AND ev.type = 'bounce'
       AND ev.campaign = o.campaign AND ev.step = o.step AND ev.occurred_at >= o.sent_at) AS bounce_at
FROM campaignctl.outbox o
WHERE o.kind = $1 AND o.campaign = $2 AND o.step = ANY($5::text[]) AND o.contact_key = ANY($6::text[])
  AND o.enrollment_id = ANY($4::bigint[]);

-- name: enqueue-steps
-- The messages of a batch of decisions, in the same transaction as the
-- enrollments' moves. Due now: send-time policy (quiet hours, caps) holds them
-- in the outbox if it must. A conflict means this step of this occurrence is
-- already enqueued (or its address already got it): nothing is sent twice.
INSERT INTO campaignctl.outbox (kind, campaign, step, variant, contact_key, email, email_normalized,
    occurrence, enrollment_id, due_at, created_at, class)
SELECT $1, $2, st, v, k, btrim(e), lower(btrim(e)), occ, eid, $3, $3, cl
FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::bigint[], $10::text[]) AS t(st, v, k, e, occ, eid, cl)
WHERE btrim(e) <> ''
ON CONFLICT DO NOTHING;

-- name: record-enrollment-steps
INSERT INTO campaignctl.enrollment_steps (enrollment_id, step, action, at, variant, detail)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[]);

-- name: move-enrollments
-- wake_at NULL with hold set: waiting for an A/B decision, found by
-- enrollments_held when it is taken. state 'exited' takes the enrollment out
-- of the due index for good.
UPDATE campaignctl.enrollments en
SET step_index = m.next, next_step = m.next_step, wake_at = m.wake, hold = nullif(m.hold, ''),
    state = CASE WHEN m.exit <> '' THEN 'exited' ELSE 'active' END,
    exit_reason = nullif(m.exit, ''),
    exited_at = CASE WHEN m.exit <> '' THEN $1::timestamptz ELSE NULL END,
    wait_step = nullif(m.wait_step, ''), waited_from = m.waited_from,
    wait_relative_to = CASE WHEN m.wait_step <> '' THEN m.wait_rel END, wait_reached_at = m.wait_reached,
    updated_at = $1
FROM unnest($2::bigint[], $3::int[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::text[], $11::timestamptz[])
    AS m(id, next, wake, hold, exit, next_step, wait_step, waited_from, wait_rel, wait_reached)
WHERE en.id = m.id;

-- name: shorten-waits
-- A new revision's step offsets for one sequence or autoresponder ($1 kind,
-- $2 object; $3 step names, $4 their offsets in microseconds): an active
-- enrollment waiting by time for one of these steps wakes at enrolled_at +
-- its offset where that is earlier than the wake-up the old offset wrote, so
-- a shortened offset reaches contacts already waiting (a lengthened one needs
-- nothing: the advance at the old wake-up waits again). Once per revision,
-- over the object's enrollments.
UPDATE campaignctl.enrollments en
SET wake_at = en.enrolled_at + o.us * interval '1 microsecond', updated_at = $5
FROM unnest($3::text[], $4::bigint[]) AS o(step, us)
WHERE en.kind = $1 AND en.object = $2 AND en.state = 'active' AND en.hold IS NULL
  AND en.next_step = o.step AND en.wake_at > en.enrolled_at + o.us * interval '1 microsecond';

-- name: rewait-workflow
-- A new revision's wait durations for one workflow ($1 object; $2 wait step
-- names, $3 their durations in microseconds): an active enrollment stopped
-- at one of these waits wakes at the wait's start plus its duration, where
-- that differs from the wake-up written (shortened or lengthened). wait_step
-- and waited_from are written when an enrollment stops at a wait
-- (move-enrollments) and cleared by its next move. Once per revision, over
-- the workflow's enrollments (enrollments_due's rows of that object).
UPDATE campaignctl.enrollments en
SET wake_at = en.waited_from + o.us * interval '1 microsecond', updated_at = $4
FROM unnest($2::text[], $3::bigint[]) AS o(step, us)
WHERE en.kind = 'workflow' AND en.object = $1 AND en.state = 'active' AND en.hold IS NULL
  AND en.wait_step = o.step AND en.waited_from IS NOT NULL
  AND en.wake_at IS DISTINCT FROM en.waited_from + o.us * interval '1 microsecond';

-- name: stamp-workflow-waits
-- Enrollments that stopped at a wait of workflow $1 before migration 024
-- know where they wait but not what the wait was timed from: they are taken
-- to be timed by the wait as the running revision defines it ($2 wait step
-- names, $3 their relative_to, '' for a plain wait, whose start is when the
-- enrollment reached it). Runs before retiming, so that those enrollments
-- are not timed again as if their relative_to had changed.
UPDATE campaignctl.enrollments en
SET wait_relative_to = o.rel, wait_reached_at = CASE WHEN o.rel = '' THEN en.waited_from END
FROM unnest($2::text[], $3::text[]) AS o(step, rel)
WHERE en.kind = 'workflow' AND en.object = $1 AND en.state = 'active' AND en.hold IS NULL
  AND en.wait_step = o.step AND en.waited_from IS NOT NULL AND en.wait_relative_to IS NULL;

-- name: waits-timed-otherwise
-- A page of workflow $1's active enrollments stopped at wait $2 that were
-- timed from something else than the wait's relative_to now ($3, '' for a
-- plain wait), in id order after $4 (keyset: a workflow with a million
-- waiting is read a page at a time, and a page retimed leaves the set).
-- reached_at is when the enrollment reached the wait; for one that stopped
-- at a wait relative to a date before migration 024 it was not kept, and the
-- history line of its stop ('waited') stands in for it.
SELECT en.id, en.kind, en.object, en.contact_key, en.email, en.occurrence, en.step_index, en.next_step,
    en.enrolled_at, en.wake_at, en.revision_id, en.trigger_event,
    coalesce(en.wait_reached_at,
        (SELECT max(h.at) FROM campaignctl.enrollment_steps h
          WHERE h.enrollment_id = en.id AND h.step = en.wait_step AND h.action = 'waited'),
        en.updated_at) AS reached_at
FROM campaignctl.enrollments en
WHERE en.kind = 'workflow' AND en.object = $1 AND en.state = 'active' AND en.hold IS NULL
  AND en.wait_step = $2 AND en.wait_relative_to <> $3 AND en.id > $4
ORDER BY en.id
LIMIT $5;

-- name: retime-waits
-- The new timing of a page of enrollments stopped at wait $2 of workflow $1,
-- which a new revision times from $3: wake-up, and, when they still wait,
-- the wait's start and what it is timed from (wait_step NULL: the wait is
-- over or skipped, and the wake-up is when they go on). Only rows still
-- stopped at that wait and timed otherwise move: an advance that moved one
-- on meanwhile, or another leader's pass that retimed it, wins.
UPDATE campaignctl.enrollments en
SET wake_at = m.wake,
    wait_step = CASE WHEN m.waits THEN $2 END,
    waited_from = CASE WHEN m.waits THEN m.waited_from END,
    wait_relative_to = CASE WHEN m.waits THEN $3 END,
    wait_reached_at = CASE WHEN m.waits THEN m.reached END,
    updated_at = $4
FROM unnest($5::bigint[], $6::timestamptz[], $7::bool[], $8::timestamptz[], $9::timestamptz[])
    AS m(id, wake, waits, waited_from, reached)
WHERE en.id = m.id AND en.kind = 'workflow' AND en.object = $1 AND en.state = 'active' AND en.hold IS NULL
  AND en.wait_step = $2 AND en.wait_relative_to <> $3
RETURNING en.id;

-- name: exit-removed-objects
-- An object no longer in the plan: its enrollments exit ('removed') and the
-- messages not yet handed to the relay are cancelled. $2 is the list of the
-- kind's objects still in the plan.
WITH gone AS (
    UPDATE campaignctl.enrollments
    SET state = 'exited', exit_reason = 'removed', exited_at = $3, wake_at = NULL, hold = NULL, updated_at = $3
    WHERE kind = $1 AND state = 'active' AND NOT (object = ANY($2::text[]))
    RETURNING id
)
UPDATE campaignctl.outbox SET status = 'cancelled', last_error = 'object removed from plan'
WHERE kind = $1 AND status = 'pending' AND NOT (campaign = ANY($2::text[]))
  AND (lease_until IS NULL OR lease_until < clock_timestamp());

-- name: ab-decisions
SELECT kind, object, step, decided_at, winner, decision, significant, coalesce(p_value, 'NaN') AS p_value, metric, reason
FROM campaignctl.ab_decisions;

-- name: ab-test-started
-- When an A/B test started: its first test message sent. While test messages
-- exist but none went out yet (held by quiet hours, the relay down), it has
-- not started: deciding then would judge an empty test. Only a test group
-- that received no message at all starts with the first enrollment held for
-- it, so its remainder is not held for ever.
SELECT CASE
  WHEN EXISTS (SELECT 1 FROM campaignctl.outbox
                WHERE kind = $1 AND campaign = $2 AND step = $3 AND variant <> '')
  THEN (SELECT min(sent_at) FROM campaignctl.outbox
         WHERE kind = $1 AND campaign = $2 AND step = $3 AND variant <> '' AND status = 'sent')
  ELSE (SELECT min(updated_at) FROM campaignctl.enrollments
         WHERE kind = $1 AND object = $2 AND state = 'active' AND hold = $3)
END;

-- name: ab-counts
-- Per variant of the test group: messages delivered, and contacts with the
-- metric's event on that step since ($4: the event types that count). Events
-- of months dropped by the event retention count through the message's
-- folded flags (retention.sql).
SELECT o.variant,
  count(*) AS sent,
  count(*) FILTER (WHERE EXISTS (
    SELECT 1 FROM campaignctl.events ev
    WHERE ev.model = $5 AND ev.contact_key = o.contact_key AND ev.type = ANY($4::text[])
      AND ev.campaign = o.campaign AND ev.step = o.step AND ev.occurred_at >= o.sent_at
      AND coalesce(ev.properties->>'machine', '') <> 'true')
    OR EXISTS (
    SELECT 1 FROM campaignctl.message_engagement_folded f
    WHERE f.outbox_id = o.id
      AND (('open' = ANY($4::text[]) AND f.ab_human_open) OR ('click' = ANY($4::text[]) AND f.ab_human_click)
           OR ('reply' = ANY($4::text[]) AND f.ab_human_reply)))) AS successes
FROM campaignctl.outbox o
WHERE o.kind = $1 AND o.campaign = $2 AND o.step = $3 AND o.variant <> '' AND o.status = 'sent'
GROUP BY o.variant;

-- name: ab-revenue
-- revenue: per variant of the test group, the delivered messages and the
-- revenue of each test contact: the sum of the numeric properties.value of
-- its purchase events ($4 the contacts' model) from its test message until
-- $5 (0 without any), as count, mean and sample variance, so no value
-- leaves the database; purchasers counts the contacts with some revenue.
SELECT r.variant, count(*) AS sent, count(*) FILTER (WHERE r.revenue > 0) AS purchasers,
  coalesce(avg(r.revenue), 0)::float8 AS mean, coalesce(var_samp(r.revenue), 0)::float8 AS var
FROM (
  SELECT o.variant,
    coalesce((SELECT sum((ev.properties->>'value')::float8) FROM campaignctl.events ev
              WHERE ev.model = $4 AND ev.contact_key = o.contact_key AND ev.type = 'purchase'
                AND ev.occurred_at >= o.sent_at AND ev.occurred_at < $5
                AND jsonb_typeof(ev.properties->'value') = 'number'), 0) AS revenue
  FROM campaignctl.outbox o
  WHERE o.kind = $1 AND o.campaign = $2 AND o.step = $3 AND o.variant <> '' AND o.status = 'sent'
) r
GROUP BY r.variant;

-- name: ab-conversions
-- conversions: test contacts whose enrollment reached the goal.
SELECT o.variant, count(*) AS sent,
  count(*) FILTER (WHERE en.exit_reason = 'goal') AS successes
FROM campaignctl.outbox o
JOIN campaignctl.enrollments en ON en.id = o.enrollment_id
WHERE o.kind = $1 AND o.campaign = $2 AND o.step = $3 AND o.variant <> '' AND o.status = 'sent'
GROUP BY o.variant;

-- name: insert-ab-decision
INSERT INTO campaignctl.ab_decisions (kind, object, step, decided_at, winner, decision, significant, p_value, metric, reason, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT DO NOTHING;

-- name: release-held
-- The decision is taken: the enrollments waiting for it are due now.
UPDATE campaignctl.enrollments SET wake_at = $4, hold = NULL, updated_at = $4
WHERE kind = $1 AND object = $2 AND state = 'active' AND hold = $3;

-- name: release-paused-holds
-- Messages held while their object was paused (due store.HeldWhilePaused,
-- written here as a constant: as a parameter, the generic plan estimated
-- "due_at = $n" at a fifth of the outbox and Postgres planned the statement
-- again on every pass, about 1 ms each) are due now ($1) once the object is
-- not paused ($2 kinds, $3 names, pairwise, are the objects still paused).
-- The claim index finds them by their due time; with nothing held, this
-- reads one index page.
UPDATE campaignctl.outbox o SET due_at = $1
WHERE o.status = 'pending' AND o.due_at = '9999-12-30 00:00:00+00'
  AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS p(kind, name)
                  WHERE p.kind = o.kind AND p.name = o.campaign);

-- name: enrollment-counts
-- status: per object, enrollments by state and exit reason.
SELECT kind, object, state, coalesce(exit_reason, '') AS exit_reason, (hold IS NOT NULL) AS held, count(*) AS n
FROM campaignctl.enrollments
GROUP BY kind, object, state, coalesce(exit_reason, ''), (hold IS NOT NULL)
ORDER BY kind, object;

-- name: enrollment-step-counts
-- status: per object and step, what enrollments did there.
SELECT en.kind, en.object, s.step, s.action, count(*) AS n
FROM campaignctl.enrollment_steps s
JOIN campaignctl.enrollments en ON en.id = s.enrollment_id
GROUP BY en.kind, en.object, s.step, s.action
ORDER BY en.kind, en.object, s.step, s.action;

-- name: waiting-by-step
-- status: active enrollments by the step they wait for.
SELECT kind, object, step_index, count(*) AS n
FROM campaignctl.enrollments
WHERE state = 'active'
GROUP BY kind, object, step_index;

-- name: lock-cap-addresses
-- Frequency caps: serialises, per address, counting what a cap counts
-- (cap-counts) with releasing the rows without room (release-caps), across
-- the claims of every replica: whichever comes second waits for the first to
-- commit, and its count (a statement of its own, so a snapshot taken after
-- the wait) sees which of the first one's rows it kept. Keys in hash order, so two claims over
-- overlapping addresses never deadlock; a hash collision only makes one wait.
-- Seed 13: apart from the other one-bigint advisory keys (7, 11).
SELECT count(pg_advisory_xact_lock(h))
FROM (SELECT DISTINCT hashtextextended(a, 13) AS h FROM unnest($1::text[]) AS t(a) ORDER BY h) AS keys;

-- name: cap-counts
-- What a frequency cap counts for each address of a claim ($1): the marketing
-- mail sent to it since the widest window's start ($2), from any object, and
-- the marketing rows other claims hold and have not sent: claimed now (lease
-- not run out), by a claim that has not found them without room (cap_seq =
-- claim_seq, set by claim-due, cleared by release-caps). $3 is the counting
-- claim's own ids, left out. On outbox_address_object (class = 'marketing'
-- implies its predicate), a few rows per address.
SELECT email_normalized,
       coalesce(array_agg(sent_at ORDER BY sent_at) FILTER (WHERE status = 'sent'), '{}') AS sent,
       count(*) FILTER (WHERE status = 'pending') AS in_flight
FROM campaignctl.outbox
WHERE email_normalized = ANY($1::text[]) AND class = 'marketing'
  AND ((status = 'sent' AND sent_at > $2)
    OR (status = 'pending' AND cap_seq = claim_seq AND lease_until > clock_timestamp() AND id <> ALL($3::bigint[])))
GROUP BY email_normalized;

-- name: release-caps
-- The rows ($2 ids, $3 their claim_seq) this replica ($1) still holds under
-- the same claim and will not send now (no room under their cap, quiet
-- hours): other claims stop counting them from the commit on. A row whose
-- claim was taken over meanwhile is left alone.
UPDATE campaignctl.outbox o
SET cap_seq = NULL
FROM unnest($2::bigint[], $3::bigint[]) AS v(id, seq)
WHERE o.id = v.id AND o.claimed_by = $1 AND o.claim_seq = v.seq AND o.status = 'pending';

-- name: address-suppression
-- explain: why an address must not be mailed, and since when. The primary
-- key is the normalized address, so normalizing the argument the same way
-- makes this one index lookup.
SELECT email_normalized, reason, campaign, created_at
FROM campaignctl.suppressions
WHERE email_normalized = lower(btrim($1));

-- name: object-contact-messages
-- explain: one object's messages to one contact, and to its address through
-- another record of the same person (each step goes once per address too).
-- The arms of the OR are a BitmapOr of outbox_contact_key and of
-- outbox_address_object (address, kind, campaign, step, occurrence), whatever
-- the outbox's or the object's size. The address arm says class <> 'internal'
-- because that index's predicate does (internal mail to staff is not
-- deduplicated by address); without it Postgres read every row of the object.
-- $5 = '' (a contact without an address) must not match every row.
SELECT id, kind, campaign, step, variant, contact_key, email_normalized, occurrence, enrollment_id,
       status, due_at, created_at, sent_at, attempts, message_id, last_smtp, last_error
FROM campaignctl.outbox
WHERE kind = $1 AND campaign = $2 AND step = ANY($3::text[])
  AND (contact_key = $4 OR ($5 <> '' AND email_normalized = $5 AND class <> 'internal'))
ORDER BY created_at, id;

-- name: object-contact-enrollments
-- explain: one object's enrollments of one contact, or of its address
-- through another record (one person is enrolled once per address). The
-- unique key (kind, object, contact_key, occurrence) and the partial unique
-- index enrollments_address_object serve the two arms: the address arm says
-- email_normalized <> '', that index's predicate, which a generic plan could
-- not infer from $4 <> '' (an empty $4 still matches nothing).
SELECT id, kind, object, contact_key, email_normalized, occurrence, state, step_index, wake_at, hold,
       enrolled_at, revision_id, exit_reason, exited_at
FROM campaignctl.enrollments
WHERE kind = $1 AND object = $2
  AND (contact_key = $3 OR (email_normalized = $4 AND email_normalized <> ''))
ORDER BY enrolled_at, id;

-- name: enrollment-history
-- explain: what the enrollments did, step by step, on
-- enrollment_steps_enrollment (enrollment_id, at). The table has no id, and
-- one advance writes several lines at the same instant: the caller orders
-- those by the plan's step order, which is the order the engine took them in.
SELECT enrollment_id, step, action, at, variant, detail
FROM campaignctl.enrollment_steps
WHERE enrollment_id = ANY($1::bigint[])
ORDER BY enrollment_id, at;

-- name: object-ab-decisions
-- explain: the decided A/B tests of one object, on the primary key's prefix.
SELECT kind, object, step, decided_at, winner, decision, significant, coalesce(p_value, 'NaN') AS p_value, metric, reason
FROM campaignctl.ab_decisions
WHERE kind = $1 AND object = $2;

-- name: contact-events
-- timeline: one contact's events, newest first so that LIMIT ($3, NULL for
-- all) keeps the latest. events_model_contact_occurred_at (model,
-- contact_key, occurred_at) finds them in every monthly partition without
-- reading other contacts' events; id only breaks ties of the same instant.
SELECT id, occurred_at, type, campaign, step, topic, url
FROM campaignctl.events
WHERE model = $1 AND contact_key = $2
ORDER BY occurred_at DESC, id DESC
LIMIT $3;

-- name: contact-messages
-- timeline: every message to one contact key, of any kind and object, newest
-- first so that LIMIT ($7, NULL for all) keeps the latest. The outbox has no
-- model column and keys of two models can be equal (lead 42, customer 42),
-- so a row counts when its object belongs to the contact's model ($2, $3:
-- kinds and names of those objects in the applied plan), or, for an object
-- the plan no longer declares ($4, $5: every object it declares), when it
-- went to the contact's own address ($6).
-- outbox_contact_key finds the contact's rows without reading the outbox.
SELECT o.id, o.kind, o.campaign, o.step, o.variant, o.contact_key, o.email_normalized, o.occurrence, o.enrollment_id,
       o.status, o.due_at, o.created_at, o.sent_at, o.attempts, o.message_id, o.last_smtp, o.last_error
FROM campaignctl.outbox o
WHERE o.contact_key = $1
  AND ((o.kind, o.campaign) IN (SELECT * FROM unnest($2::text[], $3::text[]))
       OR (o.email_normalized = $6
           AND (o.kind, o.campaign) NOT IN (SELECT * FROM unnest($4::text[], $5::text[]))))
ORDER BY coalesce(o.sent_at, o.created_at) DESC, o.id DESC
LIMIT $7;

-- name: release-decided-holds
-- Enrollments held for an A/B test that is already decided. An advance that
-- read the decisions just before the leader recorded one can hold an
-- enrollment after release-held ran; nothing would wake it. The leader runs
-- this every pass (enrollments_held makes it an index probe), so such an
-- enrollment waits at most one pass.
UPDATE campaignctl.enrollments en SET wake_at = $1, hold = NULL, updated_at = $1
FROM campaignctl.ab_decisions d
WHERE en.state = 'active' AND en.hold IS NOT NULL
  AND d.kind = en.kind AND d.object = en.object AND d.step = en.hold;

-- name: series-message-counts
-- status: the messages of sequences and autoresponders by outcome. What the
-- enrollments did is in enrollment_steps, but only the outbox says whether
-- what they sent went out, and a failed message makes the object Degraded.
-- Like campaign-counts it reads the whole outbox, which status, run by hand,
-- can afford.
SELECT kind, campaign, status, count(*) AS n
FROM campaignctl.outbox
WHERE kind IN ('sequence', 'autoresponder')
GROUP BY kind, campaign, status;

-- name: held-by-step
-- status: the active enrollments waiting for an A/B decision, by the step
-- whose decision they wait for. enrollments_held holds exactly these rows.
SELECT kind, object, hold, count(*) AS n
FROM campaignctl.enrollments
WHERE state = 'active' AND hold IS NOT NULL
GROUP BY kind, object, hold;

-- name: enrollments-replied
-- Which of a batch of enrollments' contacts replied to one of the
-- enrollment's own messages: a recurring autoresponder's exclude_responders.
-- Its steps are its issues, named by date and not known in advance, so this
-- starts from the contacts' reply events for the object (the events index on
-- (model, contact_key, occurred_at)) and joins each to the message it answers
-- by the outbox's unique key, rather than listing steps.
SELECT DISTINCT o.enrollment_id
FROM campaignctl.events ev
JOIN campaignctl.outbox o ON o.kind = $1 AND o.campaign = ev.campaign AND o.step = ev.step AND o.contact_key = ev.contact_key
WHERE ev.model = $3 AND ev.contact_key = ANY($5::text[]) AND ev.type = 'reply' AND ev.campaign = $2
  AND o.enrollment_id = ANY($4::bigint[]) AND o.status = 'sent' AND ev.occurred_at >= o.sent_at;

-- name: confirmation-counts
-- Double opt-in, per subscription type ($1 types, $2 their link validity in
-- seconds): the confirmation mails queued, sent, not sent (failed or
-- cancelled), and of those sent, confirmed (the grant the link wrote, found
-- by the outbox row in its evidence), awaiting a click while the link is
-- valid, and expired unconfirmed at $3. The class predicate lets the
-- (kind, campaign, step, address, occurrence) index find the rows.
SELECT t.sub AS subscription,
       count(o.id) AS requested,
       count(o.id) FILTER (WHERE o.status = 'pending') AS queued,
       count(o.id) FILTER (WHERE o.status = 'sent') AS sent,
       count(o.id) FILTER (WHERE o.status IN ('failed', 'cancelled')) AS not_sent,
       count(o.id) FILTER (WHERE o.status = 'sent' AND c.confirmed) AS confirmed,
       count(o.id) FILTER (WHERE o.status = 'sent' AND NOT c.confirmed AND o.sent_at + make_interval(secs => t.within) > $3) AS awaiting,
       count(o.id) FILTER (WHERE o.status = 'sent' AND NOT c.confirmed AND o.sent_at + make_interval(secs => t.within) <= $3) AS expired
FROM unnest($1::text[], $2::float8[]) AS t(sub, within)
LEFT JOIN campaignctl.outbox o
  ON o.kind = 'subscription' AND o.campaign = t.sub AND o.step = 'confirm' AND o.class <> 'internal'
LEFT JOIN LATERAL (
    SELECT EXISTS (SELECT 1 FROM campaignctl.consent_ledger l
                   WHERE l.email_normalized = o.email_normalized AND l.subscription = o.campaign
                     AND l.source = 'link' AND l.action = 'grant' AND l.evidence->>'outbox_id' = o.id::text) AS confirmed
) c ON true
GROUP BY t.sub
ORDER BY t.sub;

-- name: trigger-cursor
-- Read on every pass for every event-triggered object (TriggerCursor).
SELECT last_id FROM campaignctl.trigger_cursors WHERE kind = $1 AND object = $2;

-- name: trigger-events
-- Up to $5 events of model $2 with one of types $3 (and topic $4, unless
-- empty) after id $1, in id order, leaving out those (kind $7, object $8)
-- has already decided on. settled: received long enough ago ($6, twice
-- TriggerMargin) that no event with a smaller id can still commit.
SELECT id, occurred_at, contact_key, type, topic, campaign, step, url, external_id, properties,
       received_at < now() - $6::interval AS settled
FROM campaignctl.events e
WHERE id > $1 AND model = $2 AND type = ANY($3::text[]) AND ($4 = '' OR topic = $4)
  AND NOT EXISTS (SELECT 1 FROM campaignctl.trigger_seen s WHERE s.kind = $7 AND s.object = $8 AND s.event_id = e.id)
ORDER BY id
LIMIT $5;
