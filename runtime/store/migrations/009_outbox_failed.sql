-- The store collector (runtime/metrics) reports the failed messages of every
-- object on each scrape: campaignctl_outbox_failed_messages, what the
-- ObjectDegraded alert reads. Partial, so its size is the failed rows only
-- (a few percent of what was sent, mostly hard bounces) and counting them per
-- object is an index-only scan of that, never a scan of the whole outbox.
CREATE INDEX outbox_failed ON campaignctl.outbox (kind, campaign) WHERE status = 'failed';
