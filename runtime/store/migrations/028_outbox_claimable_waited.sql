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
-- sent since the last VACUUM is stepped over (and marked dead for the next
-- scan). No other kind's row gets an entry, and the claim stays a HOT update
-- (neither status nor kind changes).
CREATE INDEX outbox_claimable_waited ON campaignctl.outbox (due_at, id)
    WHERE status = 'pending' AND kind IN ('subscription', 'autoresponder');
