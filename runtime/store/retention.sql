-- Event retention (retention.go, migrations/013_event_retention.sql). The
-- partition's name in the templates below is filled in with fmt.Sprintf, as in
-- queries.sql's partition DDL: DDL takes no bind parameters, and naming the
-- partition table directly reads exactly its rows, nothing of the parent.

-- name: retention-lock-timeout
-- Dropping a partition needs an ACCESS EXCLUSIVE lock on campaignctl.events,
-- which waits for every reader and holds up every later one while it waits.
-- Rather than stall the daemon behind a long report, give up and try again on
-- the next pass.
SET LOCAL lock_timeout = '10s';

-- name: default-event-months
-- Months (UTC) with rows in the default partition before the cutoff month:
-- these are moved into a partition of their own first (createEventPartition),
-- then dropped like any other, so one code path folds every dropped row.
SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month
FROM campaignctl.events_default
WHERE occurred_at < $1
ORDER BY 1;

-- name: fold-message-engagement
-- Per sent message, the engagement flags the events of [$4, $5) give it,
-- ORed into message_engagement_folded. The objects ($1 kinds, $2 names, $3
-- models) are the applied plan's, as the report's. This is the report's
-- report-messages (cmd/campaignctl/report_queries.sql) cut at its engagement
-- step: the same messages with the same next_sent_at (computed over every
-- message of the objects, as there), the same event match, limited to the
-- month being dropped. The report ORs the folded flags back in, so its
-- figures are the same before and after the drop; a test compares them.
WITH objects AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS t(kind, object, model)
),
messages AS (
    SELECT o.id, o.kind, o.campaign, o.step, o.variant, o.contact_key, o.occurrence, o.status, o.sent_at, ob.model,
           lead(o.sent_at) OVER (PARTITION BY o.kind, o.campaign, o.step, o.contact_key
                                 ORDER BY o.sent_at NULLS LAST, o.id) AS next_sent_at
    FROM campaignctl.outbox o
    JOIN objects ob ON ob.kind = o.kind AND ob.object = o.campaign
    WHERE o.class <> 'internal'
),
engagement AS (
    SELECT m.id,
           bool_or(e.type = 'open' AND NOT e.machine)  AS human_open,
           bool_or(e.type = 'click' AND NOT e.machine) AS human_click,
           bool_or(e.type IN ('open', 'click') AND e.machine) AS machine_open,
           bool_or(e.type = 'reply')     AS reply,
           bool_or(e.type = 'bounce')    AS bounce,
           bool_or(e.type = 'complaint') AS complaint
    FROM messages m
    JOIN LATERAL (
        SELECT ev.type, coalesce(ev.properties->>'machine', '') = 'true' AS machine
        FROM campaignctl.events ev
        WHERE ev.model = m.model AND ev.contact_key = m.contact_key
          AND ev.occurred_at >= m.sent_at
          AND (m.next_sent_at IS NULL OR ev.occurred_at < m.next_sent_at)
          AND ev.occurred_at >= $4 AND ev.occurred_at < $5
          AND ev.campaign = m.campaign AND ev.step = m.step
          AND ev.type IN ('open', 'click', 'reply', 'bounce', 'complaint')
          AND coalesce(ev.properties->>'kind', m.kind) = m.kind
          AND coalesce(ev.properties->>'occurrence', m.occurrence::text) = m.occurrence::text
    ) e ON true
    WHERE m.status = 'sent' AND m.sent_at < $5
    GROUP BY m.id
),
-- A/B test messages as ab-counts (queries.sql) and the report's
-- report-ab-live read events: the step's events since the send, with no
-- next-message bound and no kind or occurrence check.
ab AS (
    SELECT m.id,
           bool_or(e.type IN ('open', 'click')) AS ab_open,
           bool_or(e.type = 'click') AS ab_click,
           bool_or(e.type = 'reply') AS ab_reply,
           bool_or(e.type = 'open' AND NOT e.machine) AS ab_human_open,
           bool_or(e.type = 'click' AND NOT e.machine) AS ab_human_click,
           bool_or(e.type = 'reply' AND NOT e.machine) AS ab_human_reply
    FROM messages m
    JOIN LATERAL (
        SELECT ev.type, coalesce(ev.properties->>'machine', '') = 'true' AS machine
        FROM campaignctl.events ev
        WHERE ev.model = m.model AND ev.contact_key = m.contact_key
          AND ev.occurred_at >= m.sent_at
          AND ev.occurred_at >= $4 AND ev.occurred_at < $5
          AND ev.campaign = m.campaign AND ev.step = m.step
          AND ev.type IN ('open', 'click', 'reply')
    ) e ON true
    WHERE m.status = 'sent' AND m.variant <> '' AND m.sent_at < $5
    GROUP BY m.id
)
INSERT INTO campaignctl.message_engagement_folded AS f (outbox_id, human_open, human_click, machine_open, reply, bounce, complaint,
    ab_open, ab_click, ab_reply, ab_human_open, ab_human_click, ab_human_reply)
SELECT coalesce(g.id, a.id),
       coalesce(g.human_open, false), coalesce(g.human_click, false), coalesce(g.machine_open, false),
       coalesce(g.reply, false), coalesce(g.bounce, false), coalesce(g.complaint, false),
       coalesce(a.ab_open, false), coalesce(a.ab_click, false), coalesce(a.ab_reply, false),
       coalesce(a.ab_human_open, false), coalesce(a.ab_human_click, false), coalesce(a.ab_human_reply, false)
FROM engagement g
FULL JOIN ab a ON a.id = g.id
ON CONFLICT (outbox_id) DO UPDATE SET
    human_open   = f.human_open   OR excluded.human_open,
    human_click  = f.human_click  OR excluded.human_click,
    machine_open = f.machine_open OR excluded.machine_open,
    reply        = f.reply        OR excluded.reply,
    bounce       = f.bounce       OR excluded.bounce,
    complaint    = f.complaint    OR excluded.complaint,
    ab_open        = f.ab_open        OR excluded.ab_open,
    ab_click       = f.ab_click       OR excluded.ab_click,
    ab_reply       = f.ab_reply       OR excluded.ab_reply,
    ab_human_open  = f.ab_human_open  OR excluded.ab_human_open,
    ab_human_click = f.ab_human_click OR excluded.ab_human_click,
    ab_human_reply = f.ab_human_reply OR excluded.ab_human_reply;

-- name: count-partition-events
-- Template (the partition's quoted name). The partition's rows counted into
-- event_month_counts; $1 is its month. Returns the partition's total.
WITH counted AS (
    SELECT model, type, campaign, step, count(*) AS events
    FROM campaignctl.%s
    GROUP BY model, type, campaign, step
), stored AS (
    INSERT INTO campaignctl.event_month_counts AS c (month, model, type, campaign, step, events)
    SELECT $1::date, model, type, campaign, step, events FROM counted
    ON CONFLICT (month, model, type, campaign, step) DO UPDATE SET events = c.events + excluded.events
)
SELECT coalesce(sum(events), 0)::bigint FROM counted;

-- name: prune-event-external-ids
-- The external ids of the month's events (migrations/022_event_external_ids.sql)
-- go with them, by the index on occurred_at: a row of that table records the
-- occurred_at of the event it guards, so exactly the dropped month's ids go.
-- A retry of such an old event is stored again, as a new event of that month
-- would be, and is dropped by the next pass.
DELETE FROM campaignctl.event_external_ids WHERE occurred_at >= $1 AND occurred_at < $2;

-- name: detach-event-partition
-- Template. Not CONCURRENTLY: that cannot run inside a transaction, and the
-- fold, the counts, the detach and the drop must commit together.
ALTER TABLE campaignctl.events DETACH PARTITION campaignctl.%s;

-- name: drop-event-partition
-- Template.
DROP TABLE campaignctl.%s;

-- name: record-dropped-partition
INSERT INTO campaignctl.event_partitions_dropped AS d (partition, month, events, cutoff, dropped_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (partition) DO UPDATE SET events = d.events + excluded.events, cutoff = excluded.cutoff, dropped_at = excluded.dropped_at;

-- name: dropped-partitions
SELECT partition, month, events, cutoff, dropped_at FROM campaignctl.event_partitions_dropped ORDER BY month;
