-- Daily quotas and rates per sender, shared by every replica: how many
-- messages each sender was granted per UTC day and per minute of the engine's
-- clock. Replicas reserve a claimed batch's share in one statement per sender;
-- old windows are deleted as new ones start.
CREATE TABLE campaignctl.sender_budget (
    sender       text        NOT NULL,
    window_kind  text        NOT NULL CHECK (window_kind IN ('day', 'minute')),
    window_start timestamptz NOT NULL,
    used         int         NOT NULL DEFAULT 0,
    PRIMARY KEY (sender, window_kind, window_start)
);
