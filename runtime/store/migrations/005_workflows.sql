-- Workflows: enrollments started by events, property writes, owner rotation
-- and internal notifications.

-- An event enrolls a contact in a workflow at most once, whatever replica or
-- restart sees it again (the trigger scan re-reads its most recent events).
ALTER TABLE campaignctl.enrollments ADD COLUMN trigger_event_id bigint;
CREATE UNIQUE INDEX enrollments_trigger_event ON campaignctl.enrollments (kind, object, trigger_event_id)
    WHERE trigger_event_id IS NOT NULL;

-- A state trigger (a metric over a threshold, a date's anniversary, a
-- segment) re-enrolls a contact only when it enters the trigger again: once it
-- has been seen outside the trigger after its enrollment, trigger_left is set
-- on that enrollment.
ALTER TABLE campaignctl.enrollments ADD COLUMN trigger_left bool NOT NULL DEFAULT false;

-- What a workflow step did, for explain and status: besides sending, skipping,
-- holding and exiting, it notifies an owner, writes or clears a property,
-- assigns an owner, follows a branch or waits.
ALTER TABLE campaignctl.enrollment_steps DROP CONSTRAINT enrollment_steps_action_check;
ALTER TABLE campaignctl.enrollment_steps ADD CONSTRAINT enrollment_steps_action_check
    CHECK (action IN ('sent', 'skipped', 'exited', 'held', 'notified', 'set', 'cleared', 'assigned', 'branched', 'waited'));

-- An internal notification goes to the contact's owner, not to the contact:
-- one owner may be told about many contacts by the same step, so the "one
-- message per address" key applies to mail to contacts only. Notifications
-- stay unique per contact, step and occurrence (the contact-key constraint).
ALTER TABLE campaignctl.outbox DROP CONSTRAINT outbox_object_step_address_key;
CREATE UNIQUE INDEX outbox_object_step_address ON campaignctl.outbox (kind, campaign, step, email_normalized, occurrence)
    WHERE class <> 'internal';

-- When a revision was stored, on the database's clock, the clock events'
-- received_at is on: a workflow is triggered by the events stored after the
-- revision that brought it was applied.
ALTER TABLE campaignctl.revisions ADD COLUMN stored_at timestamptz NOT NULL DEFAULT now();

-- How far each event-triggered object has read the events table. Events with
-- a higher id are read on every pass; the cursor moves past an event only when
-- it was stored long enough ago that no transaction still inserting a lower id
-- can be in flight (see store.TriggerEvents).
CREATE TABLE campaignctl.trigger_cursors (
    kind    text   NOT NULL,
    object  text   NOT NULL,
    last_id bigint NOT NULL,
    PRIMARY KEY (kind, object)
);

-- The events a trigger has decided on (enrolled or not) that the cursor has
-- not passed yet: read again on the next pass, they are skipped, so a decision
-- is taken once per event even when the contact or the clock has moved since.
-- Rows at or below the cursor are deleted as it moves.
CREATE TABLE campaignctl.trigger_seen (
    kind     text   NOT NULL,
    object   text   NOT NULL,
    event_id bigint NOT NULL,
    PRIMARY KEY (kind, object, event_id)
);

-- Properties written by workflow steps (set_property, clear_property,
-- assign_owner). The runner's own table, not the CRM's: campaignctl never
-- writes to tables it does not own. Workflow conditions, goals and templates
-- read a contact's fields with these values laid over the CRM's; segment
-- filters evaluated in SQL read the CRM only. value NULL: cleared.
CREATE TABLE campaignctl.contact_properties (
    model         text        NOT NULL,
    contact_key   text        NOT NULL,
    field         text        NOT NULL,
    value         text,
    set_at        timestamptz NOT NULL,
    kind          text        NOT NULL,
    object        text        NOT NULL,
    step          text        NOT NULL,
    enrollment_id bigint,
    PRIMARY KEY (model, contact_key, field)
);

-- Round-robin owner assignment: the next owner's position per step, advanced
-- in the transaction that assigns, so replicas share one rotation.
CREATE TABLE campaignctl.owner_rotation (
    kind   text   NOT NULL,
    object text   NOT NULL,
    step   text   NOT NULL,
    next   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, object, step)
);

-- A workflow whose branches loop back without a wait is stopped ('loop')
-- rather than run for ever within one advance.
ALTER TABLE campaignctl.enrollments DROP CONSTRAINT enrollments_exit_reason_check;
ALTER TABLE campaignctl.enrollments ADD CONSTRAINT enrollments_exit_reason_check
    CHECK (exit_reason IN ('completed', 'goal', 'responded', 'removed', 'unsubscribed', 'manual', 'loop'));
