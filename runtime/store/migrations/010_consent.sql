-- The consent ledger (issue 15): every grant and withdrawal of consent to
-- marketing mail, with when, how (source) and the evidence, so the sender can
-- show when and how a person agreed. Numbered 010, not 009: another branch
-- adds 009_outbox_failed.sql, and migrations apply in file order.
--
-- Keyed by normalized address, like suppressions: consent belongs to the
-- person who reads the mailbox, whichever CRM record names it.
-- subscription '' is consent to all marketing mail; a name is one
-- subscription type of the plan.
CREATE TABLE campaignctl.consent_ledger (
    id               bigserial   PRIMARY KEY,
    email_normalized text        NOT NULL,
    subscription     text        NOT NULL DEFAULT '',
    action           text        NOT NULL CHECK (action IN ('grant', 'withdraw')),
    source           text        NOT NULL CHECK (source IN ('form', 'import', 'link', 'unsubscribe', 'operator')),
    -- What shows it: the request's metadata, the campaign unsubscribed from,
    -- the operator and their reason, the wording version. Never a secret.
    evidence         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at      timestamptz NOT NULL
);
-- The send path reads the latest entry per (address, subscription) for a
-- batch's addresses; show reads one address's history in order.
CREATE INDEX consent_ledger_address ON campaignctl.consent_ledger (email_normalized, subscription, recorded_at DESC, id DESC);

-- Append-only: an entry is evidence, so it is never changed. The one
-- exception is erasure (`campaignctl contact forget`), which sets
-- campaignctl.erasure = 'on' for its own transaction only (SET LOCAL).
CREATE FUNCTION campaignctl.consent_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('campaignctl.erasure', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'campaignctl.consent_ledger is append-only: % refused (only contact forget erases entries)', TG_OP;
END
$$;
CREATE TRIGGER consent_ledger_append_only
    BEFORE UPDATE OR DELETE ON campaignctl.consent_ledger
    FOR EACH ROW EXECUTE FUNCTION campaignctl.consent_ledger_append_only();
CREATE TRIGGER consent_ledger_no_truncate
    BEFORE TRUNCATE ON campaignctl.consent_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION campaignctl.consent_ledger_append_only();
