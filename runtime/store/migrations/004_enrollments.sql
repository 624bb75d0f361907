-- The engine's durable state: enrollments of contacts in sequences (and, later,
-- workflows and autoresponders), the steps each took, and A/B decisions.
--
-- Object identity is (kind, name) everywhere from here on: a campaign and a
-- sequence may share a name. The outbox's "campaign" column keeps its name for
-- compatibility and holds the object's name; "kind" says which kind it is.

ALTER TABLE campaignctl.outbox ADD COLUMN kind text NOT NULL DEFAULT 'campaign'
    CHECK (kind IN ('campaign', 'sequence', 'workflow', 'autoresponder'));
-- The occurrence of the enrollment a message belongs to (0 for one-off
-- campaigns). One contact may legitimately receive the same step again in a new
-- occurrence (re-enrollment, a recurring autoresponder); within one occurrence a
-- retry, a restart or a second replica still never sends a step twice, because
-- the unique keys below include it.
ALTER TABLE campaignctl.outbox ADD COLUMN occurrence int NOT NULL DEFAULT 0;
ALTER TABLE campaignctl.outbox ADD COLUMN enrollment_id bigint;
-- The A/B variant the message carries ('' when the step has no test).
ALTER TABLE campaignctl.outbox ADD COLUMN variant text NOT NULL DEFAULT '';
ALTER TABLE campaignctl.outbox DROP CONSTRAINT outbox_campaign_step_contact_key_key;
ALTER TABLE campaignctl.outbox DROP CONSTRAINT outbox_campaign_step_email_normalized_key;
ALTER TABLE campaignctl.outbox ADD CONSTRAINT outbox_object_step_contact_key
    UNIQUE (kind, campaign, step, contact_key, occurrence);
ALTER TABLE campaignctl.outbox ADD CONSTRAINT outbox_object_step_address_key
    UNIQUE (kind, campaign, step, email_normalized, occurrence);
-- explain and timeline read one contact's messages across every object: without
-- this index each is a scan of the whole outbox. contact_key never changes, so
-- claims and renewals stay HOT updates.
CREATE INDEX outbox_contact_key ON campaignctl.outbox (contact_key);

-- The mail class decides which send-time rules apply; frequency caps count
-- only the marketing mail an address received lately, across every object.
ALTER TABLE campaignctl.outbox ADD COLUMN class text NOT NULL DEFAULT 'marketing'
    CHECK (class IN ('marketing', 'transactional', 'internal'));
CREATE INDEX outbox_address_sent ON campaignctl.outbox (email_normalized, sent_at) WHERE status = 'sent' AND class = 'marketing';

-- One row per (object, contact, occurrence). wake_at is when the engine must look
-- at the enrollment next, on the engine's clock; NULL while it waits for
-- something other than time (an A/B decision: hold says which), so an idle
-- daemon finds due work through the partial index, never by scanning.
CREATE TABLE campaignctl.enrollments (
    id               bigserial PRIMARY KEY,
    kind             text        NOT NULL CHECK (kind IN ('sequence', 'workflow', 'autoresponder')),
    object           text        NOT NULL,
    contact_key      text        NOT NULL,
    email            text        NOT NULL DEFAULT '',
    email_normalized text        NOT NULL DEFAULT '',
    occurrence       int         NOT NULL DEFAULT 1,
    state            text        NOT NULL CHECK (state IN ('active', 'exited')),
    -- The next step to consider: its index in the object's step order when it
    -- was last advanced, and its name, so a plan change that inserts or removes
    -- steps resumes the enrollment where it was (flow.Sequence.Position).
    step_index       int         NOT NULL DEFAULT 0,
    next_step        text        NOT NULL DEFAULT '',
    wake_at          timestamptz,
    hold             text,
    enrolled_at      timestamptz NOT NULL,
    revision_id      bigint      NOT NULL REFERENCES campaignctl.revisions (id),
    -- The event that enrolled the contact, so event.* stays readable later.
    trigger_event    jsonb,
    exit_reason      text CHECK (exit_reason IN ('completed', 'goal', 'responded', 'removed', 'unsubscribed', 'manual')),
    exited_at        timestamptz,
    updated_at       timestamptz NOT NULL,
    UNIQUE (kind, object, contact_key, occurrence)
);
-- One person with two CRM records is enrolled once per occurrence.
CREATE UNIQUE INDEX enrollments_object_address ON campaignctl.enrollments (kind, object, email_normalized, occurrence)
    WHERE email_normalized <> '';
CREATE INDEX enrollments_due ON campaignctl.enrollments (wake_at) WHERE state = 'active';
CREATE INDEX enrollments_held ON campaignctl.enrollments (kind, object, hold) WHERE state = 'active' AND hold IS NOT NULL;

-- What each enrollment did, step by step, for explain and per-step status:
-- sent (with the outbox row and variant), skipped (a when-condition that did
-- not hold, with why), exited (with the reason).
CREATE TABLE campaignctl.enrollment_steps (
    enrollment_id bigint      NOT NULL REFERENCES campaignctl.enrollments (id) ON DELETE CASCADE,
    step          text        NOT NULL,
    action        text        NOT NULL CHECK (action IN ('sent', 'skipped', 'exited', 'held')),
    at            timestamptz NOT NULL,
    variant       text        NOT NULL DEFAULT '',
    detail        text        NOT NULL DEFAULT ''
);
CREATE INDEX enrollment_steps_enrollment ON campaignctl.enrollment_steps (enrollment_id, at);

-- A/B decisions: once per (object, step), with what the numbers were.
CREATE TABLE campaignctl.ab_decisions (
    kind        text        NOT NULL,
    object      text        NOT NULL,
    step        text        NOT NULL,
    decided_at  timestamptz NOT NULL,
    winner      text        NOT NULL DEFAULT '',
    decision    text        NOT NULL,
    significant bool        NOT NULL,
    p_value     double precision,
    metric      text        NOT NULL,
    reason      text        NOT NULL,
    detail      jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (kind, object, step)
);
