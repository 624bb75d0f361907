-- An external id names one event of the source system (an order, a form
-- submission, a bounce report), so the same (model, external_id) is stored
-- once, whatever its occurred_at: a client that retries with its own clock, or
-- sends a corrected time, sends the same event again. The unique index of
-- migration 002 cannot say so: an index on a partitioned table must contain
-- the partition key (occurred_at), so it only caught a re-send at the same
-- instant, and the copies of a retry with another time were stored, enrolled
-- contacts twice and counted twice.
--
-- This table is that rule: one row per (model, external_id) of a stored event.
-- The intake (insert-staged-events, inbound-record-event) inserts here first,
-- in the same statement as the event, and stores the event only when the id
-- was new; the primary key makes a concurrent post of the same id wait for
-- the first one's commit and then store nothing. No contact column: it says
-- that an id was used, not by whom.
CREATE TABLE campaignctl.event_external_ids (
    model       text        NOT NULL,
    external_id text        NOT NULL,
    -- The stored event's occurred_at: retention (retention.go) drops a month
    -- of events and the ids of that month with them, so a row lives no longer
    -- than the event it guards.
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (model, external_id)
);

-- Retention deletes by month: without it, each dropped month would read the
-- whole table.
CREATE INDEX event_external_ids_occurred_at ON campaignctl.event_external_ids (occurred_at);

-- The ids of the events stored so far. Where copies of one id were stored
-- already (at several instants), the first stored (received_at, then id) is
-- the one recorded, as the intake keeps the first from now on; the other
-- copies are left as they are, not deleted by a migration.
INSERT INTO campaignctl.event_external_ids (model, external_id, occurred_at)
SELECT DISTINCT ON (model, external_id) model, external_id, occurred_at
FROM campaignctl.events
WHERE external_id IS NOT NULL
ORDER BY model, external_id, received_at, id;
