-- Four of the example workflows (campaigns/workflows/) written by hand,
-- independently of campaignctl: per workflow and step, how many contacts the
-- demo's events and CRM should take through that step. The trigger events
-- count when they were stored after the plan was applied; a person with two
-- records (one address) is enrolled once. :'quiet_at' is the instant the
-- daemon evaluated quiet_leads' inactivity trigger (psql -v quiet_at=…).
WITH applied AS (SELECT max(stored_at) AS at FROM campaignctl.revisions),
customer AS (
    SELECT id::text AS k, lower(btrim(email)) AS en FROM crm_customer WHERE btrim(coalesce(email, '')) <> ''
),
lead AS (
    SELECT id::text AS k, lower(btrim(email_from)) AS en, active FROM crm_lead WHERE btrim(coalesce(email_from, '')) <> ''
),
trigger AS (
    SELECT e.* FROM campaignctl.events e, applied WHERE e.received_at >= applied.at
)
-- nps_followup (customer_satisfaction): promoters (9 and 10) are asked for a
-- review; detractors (6 and below) get an apology and their owner is told.
SELECT 'nps_followup' AS workflow, 'ask_review' AS step, count(DISTINCT c.en) AS contacts
FROM trigger e JOIN customer c ON c.k = e.contact_key
WHERE e.model = 'customer' AND e.type = 'nps_response' AND (e.properties->>'score')::numeric >= 9
UNION ALL
SELECT 'nps_followup', 'apologize', count(DISTINCT c.en)
FROM trigger e JOIN customer c ON c.k = e.contact_key
WHERE e.model = 'customer' AND e.type = 'nps_response' AND (e.properties->>'score')::numeric <= 6
-- cart_rescue (abandoned_cart): carts of 20.0 or more get the reminder.
UNION ALL
SELECT 'cart_rescue', 'reminder', count(DISTINCT c.en)
FROM trigger e JOIN customer c ON c.k = e.contact_key
WHERE e.model = 'customer' AND e.type = 'cart_abandoned' AND (e.properties->>'value')::numeric >= 20
-- pricing_page_alert (sales_rep_notification): every lead viewing the pricing
-- page gets its owner told (a lead without one is assigned one first).
UNION ALL
SELECT 'pricing_page_alert', 'notify', count(DISTINCT l.en)
FROM trigger e JOIN lead l ON l.k = e.contact_key
WHERE e.model = 'lead' AND e.type = 'page_view' AND e.topic = 'pricing'
-- quiet_leads (re_engagement): active leads with no visit, click or form
-- submission in the 90 days before the trigger was evaluated.
UNION ALL
SELECT 'quiet_leads', 'still_interested', count(DISTINCT l.en)
FROM lead l
WHERE l.active
  AND NOT EXISTS (SELECT 1 FROM campaignctl.events e
                  WHERE e.model = 'lead' AND e.contact_key = l.k
                    AND e.type IN ('page_view', 'click', 'form_submit')
                    AND e.occurred_at > :'quiet_at'::timestamptz - interval '90 days'
                    AND e.occurred_at <= :'quiet_at'::timestamptz)
-- ... and 14 days after the mail went out, those who did not open, click or
-- reply to it are archived (lead.active = false).
UNION ALL
SELECT 'quiet_leads', 'archive', count(*)
FROM campaignctl.outbox o
WHERE o.kind = 'workflow' AND o.campaign = 'quiet_leads' AND o.step = 'still_interested' AND o.status = 'sent'
  AND NOT EXISTS (SELECT 1 FROM campaignctl.events e
                  WHERE e.model = 'lead' AND e.contact_key = o.contact_key AND e.campaign = 'quiet_leads'
                    AND e.step = 'still_interested' AND e.type IN ('open', 'click', 'reply'))
ORDER BY 1, 2;
