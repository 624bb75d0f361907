-- The lane of mail someone is waiting for, claimed before every other: a
-- double opt-in confirmation (kind 'subscription') and an autoresponder's
-- messages. They share the one-to-one lane (027) with sequences' and
-- workflows' steps, where claims went in due order: a sequence started on a
-- list of 1,000 enqueued its first step for everyone at once, and a
-- confirmation asked for then went after all of it (engine's
-- TestConfirmationIsNotQueuedBehindASequencesBacklog: 900 sequence messages
-- between the request and the confirmation).
--
-- claim-due scans this index from its start on every claim (no cursor): it
-- holds only the pending rows of these two kinds, and an entry left by one
-- sent since the last VACUUM is stepped over (marked dead by the first scan
-- that meets it, so the next ones skip it without reading the row). Measured
-- with 90,000 autoresponder rows sent and 10,000 pending, autovacuum off: a
-- claim of 256 read 5,461 buffers the first time, then 617 (1.8 ms), against
-- 272 for a scan started after the sent rows. No other kind's row gets an
-- entry, and the claim stays a HOT update (neither status nor kind changes).
CREATE INDEX outbox_claimable_waited ON campaignctl.outbox (due_at, id)
    WHERE status = 'pending' AND kind IN ('subscription', 'autoresponder');

-- The one-to-one lane's index (027) no longer holds these two kinds. Left
-- in it, they were stepped over by every claim of that lane, one row read
-- for each: with 10,000 autoresponder messages pending, and 90,000 sent
-- before the last VACUUM, a claim of 256 sequence steps read 100,000 rows
-- and took 40 ms, on every claim while that backlog lasted.
DROP INDEX campaignctl.outbox_claimable_one_to_one;
CREATE INDEX outbox_claimable_one_to_one ON campaignctl.outbox (due_at, id)
    WHERE status = 'pending' AND kind NOT IN ('campaign', 'subscription', 'autoresponder');
