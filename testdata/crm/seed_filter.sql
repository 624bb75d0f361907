-- The lost-leads reactivation audience written by hand, independently of
-- campaignctl: not blacklisted, created on/after 2024-01-01 00:00:01 UTC, stage not
-- New/Qualified/Won (a lead with no stage is "not in" that list), lost reason "Not
-- enough stock", active and archived leads alike. One message per distinct
-- normalized address; leads without an address cannot be mailed.
SELECT count(DISTINCT lower(btrim(email_from)))
FROM crm_lead
WHERE NOT blacklisted
  AND created_at >= '2024-01-01 00:00:01+00'
  AND (stage IS NULL OR stage NOT IN ('New', 'Qualified', 'Won'))
  AND lost_reason = 'Not enough stock'
  AND btrim(coalesce(email_from, '')) <> '';
