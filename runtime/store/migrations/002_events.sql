-- Contact events: what contacts did (page views, form submits, clicks, opens,
-- replies, bounces, purchases, ...). Segments read this table for engagement
-- predicates (clicked within 30 days, 3 page views on a topic, inactive for 90
-- days), so its names are a contract: the segment SQL is written against them.
--
-- Partitioned by month of occurred_at because every engagement predicate is a time
-- window: a query for "the last 14 days" prunes to one or two partitions, and old
-- months can later be detached or dropped whole instead of deleted row by row. The
-- monthly partitions (events_pYYYYMM) are not created here: a migration runs once,
-- but months keep coming, so Store.EnsureEventPartitions creates them, and Migrate
-- calls it on every run for the months around today.
CREATE TABLE campaignctl.events (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    -- When it happened, by the client's clock: windows are about when the contact
    -- acted, not when we heard of it (a batch import can arrive days late).
    occurred_at timestamptz NOT NULL,
    -- When we stored it. The one column that takes the database clock, because it
    -- records our own side of the exchange, for debugging late or replayed data.
    received_at timestamptz NOT NULL DEFAULT now(),
    -- The plan model the contact belongs to ('lead', 'customer') and its key as
    -- text, so one table serves models whose keys are integers or strings.
    model       text        NOT NULL CHECK (model <> ''),
    contact_key text        NOT NULL CHECK (contact_key <> ''),
    -- Lower snake case, bounded, so a type is always safe to print, to use as a
    -- metric label value from a declared set, and to compare without case folding.
    type        text        NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]{0,63}$'),
    -- '' rather than NULL for the optional attributes: predicates compare them with
    -- = and never have to think about three-valued logic.
    campaign    text        NOT NULL DEFAULT '',
    step        text        NOT NULL DEFAULT '',
    topic       text        NOT NULL DEFAULT '',
    url         text        NOT NULL DEFAULT '',
    -- The client's own id of the event. NULL (not '') when absent, so events
    -- without one never conflict in the unique index below.
    external_id text,
    -- Anything else the client sent. Always an object, so properties->>'k' is
    -- meaningful on every row.
    properties  jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(properties) = 'object'),
    -- The partition key must be part of every unique constraint of a partitioned
    -- table; id alone is unique anyway.
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);

-- Rows of a month without a partition (far past or future, or a month that
-- EnsureEventPartitions has not reached yet) land here instead of failing the
-- insert. EnsureEventPartitions moves them out when their month's partition is made.
CREATE TABLE campaignctl.events_default PARTITION OF campaignctl.events DEFAULT;

-- "Which contacts of model M did T in the window": the segment predicates' main
-- access path. INCLUDE lets the common filters (topic, campaign/step) and the
-- contact key come from the index alone (index-only scans), without heap visits.
CREATE INDEX events_model_type_occurred_at ON campaignctl.events (model, type, occurred_at)
    INCLUDE (contact_key, campaign, step, topic);

-- "What did this contact do, and when last": per-contact timelines and
-- inactive_for (the latest event of a contact).
CREATE INDEX events_model_contact_occurred_at ON campaignctl.events (model, contact_key, occurred_at);

-- Idempotent re-sends: the same external_id at the same instant is stored once
-- (INSERT ... ON CONFLICT DO NOTHING). occurred_at is part of the key because a
-- unique index on a partitioned table must contain the partition key; a client
-- that re-sends an event re-sends its timestamp too. NULLs never conflict.
CREATE UNIQUE INDEX events_model_external_id_occurred_at ON campaignctl.events (model, external_id, occurred_at);
