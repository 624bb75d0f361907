-- The runner's own state lives in its own schema so that campaignctl can share a
-- database with the CRM whose contacts it reads, without touching the CRM's tables.
-- Migrate creates the schema itself when it is missing (docs/security.md: an
-- administrator may create it for a least-privilege role).

-- Every applied plan, verbatim. The plan is kept as text, not jsonb, so the stored
-- bytes are the canonical bytes that were reviewed and hash to plan_hash.
CREATE TABLE campaignctl.revisions (
    id            bigserial PRIMARY KEY,
    plan_hash     text        NOT NULL,
    plan          text        NOT NULL,
    source_commit text        NOT NULL DEFAULT '',
    applied_at    timestamptz NOT NULL,
    applied_by    text        NOT NULL DEFAULT ''
);

-- Actual state of each campaign, as reconcile last left it (desired state is the
-- latest revision). status follows the campaign's life; sync and health are the
-- Argo CD style summary shown by `campaignctl status`.
CREATE TABLE campaignctl.campaigns (
    name            text PRIMARY KEY,
    hash            text        NOT NULL,
    revision_id     bigint      NOT NULL REFERENCES campaignctl.revisions (id),
    status          text        NOT NULL CHECK (status IN ('scheduled', 'sending', 'sent', 'removed')),
    send_at         timestamptz,
    materialized_at timestamptz,
    audience        bigint,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- One row per message to send. The unique keys are what make a send happen at
-- most once per (campaign, step, contact) and per normalized address, across
-- restarts and replicas: materialization inserts with ON CONFLICT DO NOTHING.
CREATE TABLE campaignctl.outbox (
    id               bigserial PRIMARY KEY,
    campaign         text        NOT NULL,
    step             text        NOT NULL DEFAULT '',
    contact_key      text        NOT NULL,
    email            text        NOT NULL,
    email_normalized text        NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    due_at           timestamptz NOT NULL,
    attempts         int         NOT NULL DEFAULT 0,
    claimed_at       timestamptz,
    claimed_by       text,
    sent_at          timestamptz,
    message_id       text,
    template_hash    text,
    last_error       text,
    created_at       timestamptz NOT NULL,
    UNIQUE (campaign, step, contact_key),
    UNIQUE (campaign, step, email_normalized)
);

-- Claiming scans only what is waiting, in due order.
CREATE INDEX outbox_claimable ON campaignctl.outbox (due_at, id) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_campaign_status ON campaignctl.outbox (campaign, status);

-- Addresses that must never receive marketing mail again: unsubscribed,
-- blacklisted, hard-bounced, complained. Keyed by normalized address so one person
-- with several CRM records is suppressed once.
CREATE TABLE campaignctl.suppressions (
    email_normalized text PRIMARY KEY,
    reason           text        NOT NULL CHECK (reason IN ('unsubscribed', 'blacklisted', 'hard_bounce', 'complaint', 'manual')),
    campaign         text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL
);
