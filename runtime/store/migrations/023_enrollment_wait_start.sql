-- Where a workflow enrollment waits and since when: the wait step it stopped
-- at and the start of that wait (its wake-up is the start plus the step's
-- duration), so that a new revision's duration reaches the contacts already
-- waiting (rewait-workflow) instead of only those who reach the wait
-- afterwards. NULL for every other state, and for enrollments that stopped at
-- a wait before this migration: those keep the wake-up written then.
ALTER TABLE campaignctl.enrollments ADD COLUMN wait_step text, ADD COLUMN waited_from timestamptz;
