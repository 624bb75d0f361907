-- Manual controls of enrollments (Zoho's exclude, include and reset), and the
-- audit of who used them.

-- A contact excluded from an object is not enrolled in it again, by any
-- trigger, until it is included.
CREATE TABLE campaignctl.enrollment_exclusions (
    kind        text        NOT NULL,
    object      text        NOT NULL,
    contact_key text        NOT NULL,
    excluded_at timestamptz NOT NULL,
    PRIMARY KEY (kind, object, contact_key)
);

-- Append-only: every manual action, who took it, when and why.
CREATE TABLE campaignctl.enrollment_audit (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       text        NOT NULL,
    action      text        NOT NULL CHECK (action IN ('exclude', 'include', 'reset')),
    kind        text        NOT NULL,
    object      text        NOT NULL,
    contact_key text        NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    -- What it did: the enrollment exited, the messages cancelled, the
    -- occurrence started.
    detail      text        NOT NULL DEFAULT ''
);
CREATE INDEX enrollment_audit_contact ON campaignctl.enrollment_audit (contact_key, at);
