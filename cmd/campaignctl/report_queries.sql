-- What `campaignctl report` reads: Odoo's smart-button numbers per object,
-- step and A/B variant, the goals reached, and the A/B tests' figures. Each
-- block is one set-based query over the whole selection (no query per message
-- or per contact), named by its "-- name:" line (reportQuery). The objects
-- reported come in as three parallel arrays ($1 kinds, $2 names, $3 models):
-- the outbox has no model column, and an event belongs to a message only
-- through the model of the object that sent it.
--
-- The numbers' definitions, which docs/report.md states for readers:
--   sent      the relay took the message (status 'sent'), or refused it for
--             good with a 5xx at RCPT or DATA (status 'failed' with a 5xx
--             last_smtp): a synchronous bounce is a sent message that bounced.
--   bounced   a synchronous bounce, or a sent message with a 'bounce' event.
--   received  sent and not bounced. Only a received message can be opened,
--             clicked, replied to or ignored.
--   opened    a human open, a human click or a reply (a click or a reply
--             proves the message was seen even when the pixel was blocked).
--   clicked   a human click; replied: a reply; complained: a complaint.
--   machine   received messages whose only opens or clicks were flagged
--             properties.machine = true (prefetchers, link scanners): they
--             are left out of opened and clicked, so they are ignored too.
--   ignored   received with no open, click or reply.
-- A message counts once whatever the number of its events.

-- name: report-messages
-- Per (kind, object, step, variant): messages by outcome and engagement.
-- An event belongs to a message of its model, contact, object and step that
-- was sent at or before it, and before the next message of the same step to
-- that contact (a re-enrollment's second occurrence takes the events after
-- its own send). Tracked events also carry the object's kind and the
-- occurrence in their properties; when present they must match (a campaign
-- and a sequence may share a name). The events join uses
-- events_model_contact_occurred_at (model, contact_key, occurred_at); the
-- outbox is read once. Internal mail (owner notifications) is not a send to
-- the contact and is left out. Events of months dropped by the event
-- retention live on as each message's folded flags
-- (message_engagement_folded, written by the store's fold-message-engagement,
-- which attributes events exactly as this query does); they are ORed with
-- what the remaining events say, so a drop changes no figure.
WITH objects AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS t(kind, object, model)
),
messages AS (
    SELECT o.id, o.kind, o.campaign, o.step, o.variant, o.contact_key, o.occurrence, o.status, o.sent_at, ob.model,
           (o.status = 'failed' AND coalesce(o.last_smtp, '') ~ '^[a-z_]+ 5[0-9][0-9]') AS rejected,
           lead(o.sent_at) OVER (PARTITION BY o.kind, o.campaign, o.step, o.contact_key
                                 ORDER BY o.sent_at NULLS LAST, o.id) AS next_sent_at
    FROM campaignctl.outbox o
    JOIN objects ob ON ob.kind = o.kind AND ob.object = o.campaign
    WHERE o.class <> 'internal'
),
live_engagement AS (
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
          AND ev.campaign = m.campaign AND ev.step = m.step
          AND ev.type IN ('open', 'click', 'reply', 'bounce', 'complaint')
          AND coalesce(ev.properties->>'kind', m.kind) = m.kind
          AND coalesce(ev.properties->>'occurrence', m.occurrence::text) = m.occurrence::text
    ) e ON true
    WHERE m.status = 'sent'
    GROUP BY m.id
),
engagement AS (
    SELECT id, bool_or(human_open) AS human_open, bool_or(human_click) AS human_click,
           bool_or(machine_open) AS machine_open, bool_or(reply) AS reply,
           bool_or(bounce) AS bounce, bool_or(complaint) AS complaint
    FROM (
        SELECT id, human_open, human_click, machine_open, reply, bounce, complaint FROM live_engagement
        UNION ALL
        SELECT f.outbox_id, f.human_open, f.human_click, f.machine_open, f.reply, f.bounce, f.complaint
        FROM campaignctl.message_engagement_folded f
        JOIN messages m ON m.id = f.outbox_id AND m.status = 'sent'
    ) x
    GROUP BY id
),
flags AS (
    SELECT m.kind, m.campaign, m.step, m.variant, m.status, m.rejected,
           (m.status = 'sent' OR m.rejected) AS sent,
           (m.rejected OR coalesce(g.bounce, false)) AS bounced,
           (m.status = 'sent' AND NOT coalesce(g.bounce, false)) AS received,
           coalesce(g.human_open OR g.human_click OR g.reply, false) AS opened,
           coalesce(g.human_click, false) AS clicked,
           coalesce(g.reply, false) AS replied,
           coalesce(g.complaint, false) AS complained,
           coalesce(g.machine_open AND NOT (g.human_open OR g.human_click OR g.reply), false) AS machine_only
    FROM messages m
    LEFT JOIN engagement g ON g.id = m.id
)
SELECT kind, campaign AS object, step, variant,
       count(*) FILTER (WHERE sent) AS sent,
       count(*) FILTER (WHERE received) AS received,
       count(*) FILTER (WHERE received AND opened) AS opened,
       count(*) FILTER (WHERE received AND clicked) AS clicked,
       count(*) FILTER (WHERE received AND replied) AS replied,
       count(*) FILTER (WHERE bounced) AS bounced,
       count(*) FILTER (WHERE rejected) AS rejected,
       count(*) FILTER (WHERE received AND NOT opened) AS ignored,
       count(*) FILTER (WHERE received AND machine_only) AS machine_opened,
       count(*) FILTER (WHERE received AND complained) AS complained,
       count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'failed' AND NOT rejected) AS failed,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled
FROM flags
GROUP BY kind, campaign, step, variant;

-- name: report-goals
-- Goals reached, attributed to the message that last touched the contact:
-- the enrollment's last message sent at or before it exited with the goal
-- ('' step: the goal was reached before any message went out). DISTINCT ON
-- keeps one row per enrollment from a hash join, rather than a lateral
-- probe per enrollment (the outbox has no index on enrollment_id).
WITH objects AS (
    SELECT * FROM unnest($1::text[], $2::text[]) AS t(kind, object)
),
touched AS (
    SELECT DISTINCT ON (en.id) en.kind, en.object, coalesce(o.step, '') AS step, coalesce(o.variant, '') AS variant
    FROM campaignctl.enrollments en
    JOIN objects ob ON ob.kind = en.kind AND ob.object = en.object
    LEFT JOIN campaignctl.outbox o
      ON o.enrollment_id = en.id AND o.kind = en.kind AND o.campaign = en.object
     AND o.status = 'sent' AND o.class <> 'internal' AND o.sent_at <= en.exited_at
    WHERE en.exit_reason = 'goal'
    ORDER BY en.id, o.sent_at DESC NULLS LAST, o.id DESC
)
SELECT kind, object, step, variant, count(*) AS goals
FROM touched
GROUP BY kind, object, step, variant;

-- name: report-enrolled
-- Enrollments per object, the denominator of its goal rate.
SELECT en.kind, en.object, count(*) AS enrolled
FROM campaignctl.enrollments en
JOIN unnest($1::text[], $2::text[]) AS ob(kind, object) ON ob.kind = en.kind AND ob.object = en.object
GROUP BY en.kind, en.object;

-- name: report-ab-decisions
-- The decided tests, with the verdict the engine stored in detail (the
-- abtest.Verdict as JSON: per-variant rates and intervals, the test, the
-- p-value), on the primary key.
SELECT d.kind, d.object, d.step, d.decided_at, d.winner, d.decision, d.significant,
       coalesce(d.p_value, 'NaN') AS p_value, d.metric, d.reason, d.detail::text AS detail
FROM campaignctl.ab_decisions d
JOIN unnest($1::text[], $2::text[]) AS ob(kind, object) ON ob.kind = d.kind AND ob.object = d.object;

-- name: report-ab-live
-- Tests not decided yet ($1..$4: kind, object, step, model of each): per
-- variant of the test group, the figures the engine will decide on, counted
-- as its ab-counts and ab-conversions queries count them (delivered test
-- messages; contacts with an open or click, a click, a reply since the send;
-- enrollments that reached the goal), and when the test started (its first
-- test message sent). One query for every test. Events of months dropped by
-- the event retention count through the message's folded flags.
WITH tests AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(kind, object, step, model)
)
SELECT o.kind, o.campaign AS object, o.step, o.variant,
       count(*) AS sent,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM campaignctl.events ev
           WHERE ev.model = t.model AND ev.contact_key = o.contact_key AND ev.type IN ('open', 'click')
             AND ev.campaign = o.campaign AND ev.step = o.step AND ev.occurred_at >= o.sent_at)
           OR EXISTS (SELECT 1 FROM campaignctl.message_engagement_folded f WHERE f.outbox_id = o.id AND f.ab_open)) AS opened,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM campaignctl.events ev
           WHERE ev.model = t.model AND ev.contact_key = o.contact_key AND ev.type = 'click'
             AND ev.campaign = o.campaign AND ev.step = o.step AND ev.occurred_at >= o.sent_at)
           OR EXISTS (SELECT 1 FROM campaignctl.message_engagement_folded f WHERE f.outbox_id = o.id AND f.ab_click)) AS clicked,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM campaignctl.events ev
           WHERE ev.model = t.model AND ev.contact_key = o.contact_key AND ev.type = 'reply'
             AND ev.campaign = o.campaign AND ev.step = o.step AND ev.occurred_at >= o.sent_at)
           OR EXISTS (SELECT 1 FROM campaignctl.message_engagement_folded f WHERE f.outbox_id = o.id AND f.ab_reply)) AS replied,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM campaignctl.enrollments en
           WHERE en.id = o.enrollment_id AND en.exit_reason = 'goal')) AS converted,
       min(o.sent_at) AS started
FROM campaignctl.outbox o
JOIN tests t ON t.kind = o.kind AND t.object = o.campaign AND t.step = o.step
WHERE o.variant <> '' AND o.status = 'sent'
GROUP BY o.kind, o.campaign, o.step, o.variant;
