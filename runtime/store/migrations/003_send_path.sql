-- The send path's leases and retry bookkeeping.
--
-- lease_until is on the DATABASE's clock (clock_timestamp()), never the engine's
-- Clock: the engine's clock may be simulated (the demo runs a day per second), and
-- a lease measured in simulated time expires while the message is still in flight
-- on a real relay. Every replica compares against the same clock this way, too.
-- A claimed row stays 'pending': it belongs to claimed_by until lease_until, its
-- owner renews the lease while the message is in flight, and an outcome is only
-- recorded when (claimed_by, attempts) still match the claim — the fencing token
-- — so a replica whose lease was taken over can never overwrite the new owner's
-- result. Claiming therefore changes no indexed column: the claim is a HOT
-- update (no new index entries), and each message costs one index-changing
-- update (its outcome) instead of two. The old 'sending' status is gone.
ALTER TABLE campaignctl.outbox ADD COLUMN lease_until timestamptz;
UPDATE campaignctl.outbox SET status = 'pending', claimed_by = NULL, claimed_at = NULL WHERE status = 'sending';
ALTER TABLE campaignctl.outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE campaignctl.outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('pending', 'sent', 'failed', 'cancelled'));
-- Room on each page for the claim's and the renewals' HOT row versions.
ALTER TABLE campaignctl.outbox SET (fillfactor = 80);
-- Claiming scans what is waiting, in due order; finishing and cancelling a
-- campaign look for its waiting rows only (an index over every status would
-- make each claim and outcome touch it, and grow with what was sent).
DROP INDEX campaignctl.outbox_claimable;
CREATE INDEX outbox_claimable ON campaignctl.outbox (due_at, id) WHERE status = 'pending';
DROP INDEX campaignctl.outbox_campaign_status;
CREATE INDEX outbox_campaign_pending ON campaignctl.outbox (campaign) WHERE status = 'pending';

-- first_attempt_at (engine clock) is when the first claim happened: the give-up
-- age of temporary failures is measured from it, like an MTA's queue lifetime,
-- instead of counting attempts (an outage of hours must not fail a campaign).
ALTER TABLE campaignctl.outbox ADD COLUMN first_attempt_at timestamptz;

-- The SMTP reply that decided the last outcome: "rcpt 550 5.1.1", for reports
-- and explain; last_error keeps the full text.
ALTER TABLE campaignctl.outbox ADD COLUMN last_smtp text;

-- A campaign whose every message failed is 'failed', not 'sent'.
ALTER TABLE campaignctl.campaigns DROP CONSTRAINT campaigns_status_check;
ALTER TABLE campaignctl.campaigns ADD CONSTRAINT campaigns_status_check
    CHECK (status IN ('scheduled', 'sending', 'sent', 'failed', 'removed'));
