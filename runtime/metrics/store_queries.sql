-- What the store collector reads on a scrape (StoreCollector). Each block is
-- one query named by its "-- name:" line. They run at most once per
-- MinInterval, whatever the number of scrapers, under a timeout: a slow
-- database makes a scrape report the last figures and
-- campaignctl_store_scrape_success 0, never hold the scrape.

-- name: enrollments-by-state
-- Enrollments per object by state, 'held' for active ones waiting for an A/B
-- decision. A sequential scan of enrollments: its row count grows with the
-- contacts enrolled, which is why the result is cached for MinInterval.
SELECT kind, object,
       CASE WHEN state = 'active' AND hold IS NOT NULL THEN 'held' ELSE state END AS state,
       count(*) AS n
FROM campaignctl.enrollments
GROUP BY 1, 2, 3;

-- name: outbox-backlog
-- The backlog: messages not yet handed to the relay, per object, split into
-- those with a due time (waiting for the claimer, held by policy, retrying)
-- and those held for an A/B decision (due 9999-12-31) or while their object
-- is paused (due 9999-12-30, store.HeldWhilePaused). Reads the partial
-- index outbox_campaign_pending (status = 'pending') only, so its cost is the
-- backlog's size, not the outbox's.
SELECT kind, campaign AS object,
       count(*) FILTER (WHERE due_at < '9999-01-01') AS due,
       count(*) FILTER (WHERE due_at >= '9999-01-01') AS held
FROM campaignctl.outbox
WHERE status = 'pending'
GROUP BY 1, 2;

-- name: outbox-oldest-due
-- The earliest due time of a pending message that is not held for a
-- decision, in each of the claim's lanes (claim-due): mail someone waits for
-- (confirmations and autoresponders; one probe of outbox_claimable_waited),
-- the one-to-one lane (sequences' and workflows' steps; one probe of
-- outbox_claimable_one_to_one) and campaigns (outbox_claimable (due_at, id)
-- WHERE status = 'pending', read in due order to the first campaign row:
-- past the other lanes' due rows only). A lane whose oldest due time stops
-- moving is stuck; a confirmation someone waits for shows in its own lane,
-- not behind a sequence's or a campaign's backlog. NULL for a lane with none.
SELECT 'waited' AS lane, (SELECT min(due_at) FROM campaignctl.outbox
                          WHERE status = 'pending' AND kind IN ('subscription', 'autoresponder') AND due_at < '9999-01-01') AS due
UNION ALL
SELECT 'one_to_one', (SELECT min(due_at) FROM campaignctl.outbox
                      WHERE status = 'pending' AND kind NOT IN ('campaign', 'subscription', 'autoresponder') AND due_at < '9999-01-01')
UNION ALL
SELECT 'campaign', (SELECT min(due_at) FROM campaignctl.outbox
                    WHERE status = 'pending' AND kind = 'campaign' AND due_at < '9999-01-01');

-- name: outbox-failed
-- Failed messages per object, ever: the signal behind `campaignctl status`
-- calling a sequence, workflow or autoresponder Degraded, and behind the
-- ObjectDegraded alert (deploy/prometheus/rules.yml), which fires when this
-- count grows. Read from the partial index outbox_failed (migration 009), so
-- its cost is the failed rows, not the outbox. A store figure rather than a
-- per-replica counter: it survives restarts, is the same on every replica,
-- and a first failure shows as a step from no series to 1, which the alert
-- handles (a counter's first increment is invisible to increase()).
SELECT kind, campaign AS object, count(*) AS n
FROM campaignctl.outbox
WHERE status = 'failed'
GROUP BY 1, 2;
