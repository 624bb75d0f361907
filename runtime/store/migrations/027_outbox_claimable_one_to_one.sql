-- The lane of mail sent to one person because of what that person did or
-- where they are in a series: a double opt-in confirmation, an
-- autoresponder, a sequence's or a workflow's step (every kind but
-- 'campaign'). claim-due takes what is due here first, and a campaign's
-- rows after it, so a confirmation someone waits for is not queued behind a
-- campaign's backlog due before it (engine's
-- TestConfirmationIsNotQueuedBehindACampaignsBacklog: it went after all
-- 1,000 messages of a campaign that was sending when it was asked for; at a
-- hosted relay's 10 messages a second, a list of 100,000 is three hours).
--
-- A campaign's row is not in this index (kind never changes), so a
-- materialization adds no entry to it, and the claim stays a HOT update
-- (neither status nor kind changes). outbox_claimable still covers every
-- kind: the reads of what is due (pending-work, outbox-oldest-due) and the
-- campaigns' lane use it.
CREATE INDEX outbox_claimable_one_to_one ON campaignctl.outbox (due_at, id)
    WHERE status = 'pending' AND kind <> 'campaign';
