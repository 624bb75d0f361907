-- The makeup_browsers audience (campaigns/makeup_browsers.hcl) written by hand,
-- independently of campaignctl, at the instant :'now' (psql -v now=…): active and
-- not blacklisted leads with at least 3 page views on topic "makeup" in
-- (now - 14 days, now] and no click in (now - 30 days, now]. One message per
-- distinct normalized address; leads without an address cannot be mailed.
SELECT count(DISTINCT lower(btrim(l.email_from)))
FROM crm_lead l
WHERE l.active AND NOT l.blacklisted
  AND btrim(coalesce(l.email_from, '')) <> ''
  AND (SELECT count(*) FROM campaignctl.events e
       WHERE e.model = 'lead' AND e.contact_key = l.id::text
         AND e.type = 'page_view' AND e.topic = 'makeup'
         AND e.occurred_at > :'now'::timestamptz - interval '14 days'
         AND e.occurred_at <= :'now'::timestamptz) >= 3
  AND NOT EXISTS (SELECT 1 FROM campaignctl.events e
       WHERE e.model = 'lead' AND e.contact_key = l.id::text AND e.type = 'click'
         AND e.occurred_at > :'now'::timestamptz - interval '30 days'
         AND e.occurred_at <= :'now'::timestamptz);
