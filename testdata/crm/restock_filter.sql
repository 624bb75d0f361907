-- The restock nurture's audience written by hand, independently of campaignctl:
-- active leads (the model's default filter), not blacklisted, lost for "Not
-- enough stock", created in 2025 or later, with an address. One enrollment per
-- distinct normalized address.
SELECT count(DISTINCT lower(btrim(email_from)))
FROM crm_lead
WHERE active
  AND NOT blacklisted
  AND lost_reason = 'Not enough stock'
  AND created_at >= '2025-01-01 00:00:00+00'
  AND btrim(coalesce(email_from, '')) <> '';
