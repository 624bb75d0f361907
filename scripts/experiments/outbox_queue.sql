-- The send path's Postgres work in two designs, side by side (docs/sending.md,
-- "A sixth look"): today's outbox, where the claim and the outcome update the
-- ledger row, and a narrow queue table beside a ledger with no index on the
-- columns an outcome changes. 50,000 messages, claims of 256, outcomes of 128,
-- one backend, no daemon. It creates and drops its own tables (x_ob, y_ob,
-- x_q) in the campaignctl schema of a migrated database:
--
--   psql "$URL" -v ff=50 -f scripts/experiments/outbox_queue.sql
--
-- ff is the ledger's fillfactor in the queue design. The timings printed are
-- the materialization of each design, then each send loop (with its claims
-- and outcomes apart, and three single claims along the way).
-- current design ------------------------------------------------------------
DROP TABLE IF EXISTS campaignctl.x_ob, campaignctl.x_q, campaignctl.y_ob;
CREATE TABLE campaignctl.x_ob (LIKE campaignctl.outbox INCLUDING ALL);
ALTER TABLE campaignctl.x_ob SET (fillfactor=50, autovacuum_enabled=false);
-- queue design -------------------------------------------------------------
CREATE TABLE campaignctl.y_ob (LIKE campaignctl.outbox INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE campaignctl.y_ob SET (fillfactor=:ff, autovacuum_enabled=false);
ALTER TABLE campaignctl.y_ob ADD PRIMARY KEY (id);
CREATE UNIQUE INDEX ON campaignctl.y_ob (kind, campaign, step, contact_key, occurrence);
CREATE UNIQUE INDEX ON campaignctl.y_ob (kind, campaign, step, email_normalized, occurrence) WHERE class <> 'internal';
CREATE INDEX ON campaignctl.y_ob (contact_key);
CREATE INDEX ON campaignctl.y_ob (email_normalized) WHERE class = 'marketing';
CREATE INDEX ON campaignctl.y_ob USING hash (message_id) WHERE message_id IS NOT NULL;
CREATE TABLE campaignctl.x_q (id bigint PRIMARY KEY, due_at timestamptz NOT NULL, campaign text NOT NULL,
  lease_until timestamptz, claimed_by text, attempts int NOT NULL DEFAULT 0) WITH (fillfactor=50, autovacuum_enabled=false);
CREATE INDEX ON campaignctl.x_q (due_at, id);
CREATE INDEX ON campaignctl.x_q (campaign);
\timing on
-- materialize: current
DO $$ BEGIN FOR b IN 0..99 LOOP
INSERT INTO campaignctl.x_ob (campaign, step, contact_key, email, email_normalized, due_at, created_at, class)
SELECT 'bench_send', '', i::text, 'c'||i||'@example.com', 'c'||i||'@example.com', '2026-01-01', now(), 'marketing'
FROM generate_series(b*500+1, b*500+500) i;
END LOOP; END $$;
-- materialize: queue (message_id set at insert)
DO $$ BEGIN FOR b IN 0..99 LOOP
WITH ins AS (
INSERT INTO campaignctl.y_ob (campaign, step, contact_key, email, email_normalized, due_at, created_at, class, message_id)
SELECT 'bench_send', '', i::text, 'c'||i||'@example.com', 'c'||i||'@example.com', '2026-01-01', now(), 'marketing', md5(i::text)||'@example.com'
FROM generate_series(b*500+1, b*500+500) i RETURNING id, due_at, campaign)
INSERT INTO campaignctl.x_q (id, due_at, campaign) SELECT id, due_at, campaign FROM ins;
END LOOP; END $$;
\timing off
ANALYZE campaignctl.x_ob; ANALYZE campaignctl.y_ob; ANALYZE campaignctl.x_q;
\timing on
-- Each design's claim (256 rows, returns their ids) and outcome (the ids
-- recorded sent), and one driver that times them.
CREATE FUNCTION pg_temp.claim_current() RETURNS bigint[] LANGUAGE sql AS $$
  WITH picked AS (SELECT id FROM campaignctl.x_ob WHERE status='pending' AND due_at <= now()
      AND (lease_until IS NULL OR lease_until < clock_timestamp()) ORDER BY due_at, id LIMIT 256 FOR UPDATE SKIP LOCKED),
  c AS (UPDATE campaignctl.x_ob o SET claimed_at = now(), claimed_by = 'w', lease_until = clock_timestamp() + '5 min',
      attempts = o.attempts + 1, first_attempt_at = coalesce(o.first_attempt_at, now())
    FROM picked WHERE o.id = picked.id
    RETURNING o.id, o.kind, o.campaign, o.step, o.email_normalized, o.contact_key, o.email, o.attempts,
      coalesce((SELECT s.reason FROM campaignctl.suppressions s WHERE s.email_normalized = o.email_normalized), '') AS sup)
  SELECT array_agg(id ORDER BY id) FROM c $$;
CREATE FUNCTION pg_temp.outcome_current(ids bigint[]) RETURNS void LANGUAGE sql AS $$
  UPDATE campaignctl.x_ob o SET status = 'sent', sent_at = now(), message_id = md5(o.id::text)||'@example.com',
    template_hash = 'h', last_smtp = '250', lease_until = NULL
  FROM unnest(ids) AS v(id)
  WHERE o.id = v.id AND o.status = 'pending' AND o.claimed_by = 'w' $$;
CREATE FUNCTION pg_temp.claim_queue() RETURNS bigint[] LANGUAGE sql AS $$
  WITH picked AS (SELECT id FROM campaignctl.x_q WHERE due_at <= now()
      AND (lease_until IS NULL OR lease_until < clock_timestamp()) ORDER BY due_at, id LIMIT 256 FOR UPDATE SKIP LOCKED),
  c AS (UPDATE campaignctl.x_q q SET claimed_by = 'w', lease_until = clock_timestamp() + '5 min', attempts = q.attempts + 1
    FROM picked WHERE q.id = picked.id RETURNING q.id, q.attempts)
  SELECT array_agg(o.id ORDER BY o.id) FROM c JOIN campaignctl.y_ob o ON o.id = c.id
    LEFT JOIN LATERAL (SELECT s.reason FROM campaignctl.suppressions s WHERE s.email_normalized = o.email_normalized) s ON true $$;
CREATE FUNCTION pg_temp.outcome_queue(ids bigint[]) RETURNS void LANGUAGE sql AS $$
  WITH d AS (DELETE FROM campaignctl.x_q q USING unnest(ids) AS v(id)
      WHERE q.id = v.id AND q.claimed_by = 'w' RETURNING q.id)
  UPDATE campaignctl.y_ob o SET status = 'sent', sent_at = now(), template_hash = 'h', last_smtp = '250'
  FROM d WHERE o.id = d.id $$;
-- The driver commits after every claim and every outcome, as the daemon
-- does. (Its first version ran each design's whole loop in one transaction:
-- no old row version could be pruned before the next update of its page, which
-- made today's outcome look twice its cost and the queue's gain 13-22 µs a
-- message instead of the few µs measured since; docs/sending.md, "A seventh
-- look".)
CREATE PROCEDURE pg_temp.drive(design text) LANGUAGE plpgsql AS $$
DECLARE nb int := 0; ids bigint[]; t0 timestamptz; tc interval := '0'; tout interval := '0';
BEGIN
  LOOP
    t0 := clock_timestamp();
    EXECUTE format('SELECT pg_temp.claim_%s()', design) INTO ids;
    COMMIT;
    tc := tc + (clock_timestamp() - t0);
    nb := nb + 1;
    IF nb IN (2, 100, 190) THEN RAISE NOTICE '%: claim %: %', design, nb, clock_timestamp() - t0; END IF;
    EXIT WHEN ids IS NULL;
    t0 := clock_timestamp();
    FOR h IN 0..1 LOOP
      EXECUTE format('SELECT pg_temp.outcome_%s($1)', design) USING ids[h*128+1:h*128+128];
      COMMIT;
    END LOOP;
    tout := tout + (clock_timestamp() - t0);
  END LOOP;
  RAISE NOTICE '%: claims % outcomes %', design, tc, tout;
END $$;
CALL pg_temp.drive('current');
CALL pg_temp.drive('queue');
\timing off
SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname IN ('x_ob','y_ob','x_q');
SELECT count(*) FILTER (WHERE status='sent') FROM campaignctl.x_ob;
SELECT count(*) FILTER (WHERE status='sent') FROM campaignctl.y_ob;
DROP TABLE campaignctl.x_ob, campaignctl.x_q, campaignctl.y_ob;
