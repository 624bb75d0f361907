-- Erasure (`campaignctl contact forget`, issue 15): a forgotten person's
-- address stays on the suppression list only as a keyed hash, so nobody can
-- read the address back or test a guessed one without the key, and the person
-- is never mailed again; and each erasure leaves an audit row without the
-- address, the key or the name.

-- The hash takes the address's place: email_normalized holds
-- 'erased:<key id>:<hex HMAC-SHA256>' (store.Erasure). The key never reaches
-- the database; the daemon compares hashes it computes itself.
ALTER TABLE campaignctl.suppressions DROP CONSTRAINT suppressions_reason_check;
ALTER TABLE campaignctl.suppressions ADD CONSTRAINT suppressions_reason_check
    CHECK (reason IN ('unsubscribed', 'blacklisted', 'hard_bounce', 'complaint', 'manual', 'erased'));
-- The daemon looks hashes up for every claimed batch: in this index only, as
-- small as the number of forgotten people (empty, and free, until the first).
CREATE INDEX suppressions_erased ON campaignctl.suppressions (email_normalized) WHERE reason = 'erased';

-- Append-only, like the consent ledger: what was erased, when, by whom and
-- why — counts per table, never the address, key or name.
CREATE TABLE campaignctl.erasure_audit (
    id     bigserial   PRIMARY KEY,
    at     timestamptz NOT NULL,
    actor  text        NOT NULL,
    reason text        NOT NULL DEFAULT '',
    -- Rows removed per table, e.g. {"events": 12, "outbox": 3}.
    counts jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE FUNCTION campaignctl.erasure_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'campaignctl.erasure_audit is append-only: % refused', TG_OP;
END
$$;
CREATE TRIGGER erasure_audit_append_only
    BEFORE UPDATE OR DELETE ON campaignctl.erasure_audit
    FOR EACH ROW EXECUTE FUNCTION campaignctl.erasure_audit_append_only();
CREATE TRIGGER erasure_audit_no_truncate
    BEFORE TRUNCATE ON campaignctl.erasure_audit
    FOR EACH STATEMENT EXECUTE FUNCTION campaignctl.erasure_audit_append_only();
