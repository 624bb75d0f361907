-- When the leader first finished an enrollment pass under a revision (every
-- sequence's, autoresponder's and workflow's enrolling, NULL until then).
-- `serve --exit-when-idle` waits for it: before, a replica that was not the
-- leader saw no enrollment, no pending message and no campaign left in a
-- plan of sequences or workflows, and exited before the leader had enrolled
-- anyone. One write per revision; nothing is read back but this row.
ALTER TABLE campaignctl.revisions ADD COLUMN enrolled_at timestamptz;
