-- Event retention (issue 15, part 6): the leader drops the monthly partitions of
-- campaignctl.events that lie entirely before now - the plan's event_retention
-- (retention.go). What readers still need from those rows is folded first, in
-- the same transaction as the drop, so nothing is counted twice or lost:

-- Raw event counts per UTC month and (model, type, campaign, step): what was
-- dropped, in numbers. No contact column: these rows are not personal data
-- and outlive any contact's erasure.
CREATE TABLE campaignctl.event_month_counts (
    month    date   NOT NULL CHECK (extract(day FROM month) = 1),
    model    text   NOT NULL,
    type     text   NOT NULL,
    campaign text   NOT NULL,
    step     text   NOT NULL,
    events   bigint NOT NULL CHECK (events > 0),
    PRIMARY KEY (month, model, type, campaign, step)
);

-- The report counts messages, not events: a message is opened when it has at
-- least one human open, click or reply, whatever their number, and its events
-- may span months (opened in January, clicked in March). Event counts cannot
-- give that back, so each message's engagement flags from the dropped rows are
-- kept here, attributed exactly as the report attributes events (the
-- fold-message-engagement query mirrors report-messages), and the report ORs
-- them with what the remaining events say. Keyed by the outbox row, so erasing
-- a contact's messages erases these too (ON DELETE CASCADE); no contact data
-- of its own.
CREATE TABLE campaignctl.message_engagement_folded (
    outbox_id    bigint  PRIMARY KEY REFERENCES campaignctl.outbox (id) ON DELETE CASCADE,
    human_open   boolean NOT NULL DEFAULT false,
    human_click  boolean NOT NULL DEFAULT false,
    machine_open boolean NOT NULL DEFAULT false,
    reply        boolean NOT NULL DEFAULT false,
    bounce       boolean NOT NULL DEFAULT false,
    complaint    boolean NOT NULL DEFAULT false,
    -- A/B test messages (variant <> ''), as the A/B figures read events: any
    -- open/click/reply on the step since the send (the report's live test
    -- figures), and the human ones (the engine's decision, ab-counts).
    ab_open          boolean NOT NULL DEFAULT false,
    ab_click         boolean NOT NULL DEFAULT false,
    ab_reply         boolean NOT NULL DEFAULT false,
    ab_human_open    boolean NOT NULL DEFAULT false,
    ab_human_click   boolean NOT NULL DEFAULT false,
    ab_human_reply   boolean NOT NULL DEFAULT false
);

-- One row per dropped partition: when, under which cutoff, how many events it
-- held. `campaignctl status` and the report say which months are aggregates.
-- A month whose partition comes back (an old event imported later) and is
-- dropped again adds to its row.
CREATE TABLE campaignctl.event_partitions_dropped (
    partition  text        PRIMARY KEY,
    month      date        NOT NULL UNIQUE,
    events     bigint      NOT NULL CHECK (events >= 0),
    cutoff     timestamptz NOT NULL,
    dropped_at timestamptz NOT NULL
);
