-- Double opt-in (issue 15): a confirmation mail is an outbox row of its own
-- kind, 'subscription' (campaign = the subscription type's name, step =
-- 'confirm', occurrence = the contact's nth request), so it goes through the
-- normal send path (claim, relay, ledger) like every other message.
ALTER TABLE campaignctl.outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE campaignctl.outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('campaign', 'sequence', 'workflow', 'autoresponder', 'subscription'));

-- The preference center writes its own source, so the ledger tells a
-- per-type choice on the page apart from an unsubscribe (one-click or
-- "unsubscribe from all").
ALTER TABLE campaignctl.consent_ledger DROP CONSTRAINT consent_ledger_source_check;
ALTER TABLE campaignctl.consent_ledger ADD CONSTRAINT consent_ledger_source_check
    CHECK (source IN ('form', 'import', 'link', 'unsubscribe', 'operator', 'preference_center'));
