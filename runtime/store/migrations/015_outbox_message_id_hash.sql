-- The Message-ID index is only ever searched for one Message-ID
-- (inbound-sent-message-by-id), never by range or order, and every sent row
-- adds an entry to it in the ledger write (record-outcomes): Message-IDs are
-- hashes, so each entry of the B-tree landed on a random leaf. A hash index
-- answers the same equality lookup and its insert touches one bucket page
-- instead of a descent of the tree: 5-10% less time for the ledger's
-- outcome update, measured on a copy of the outbox (50,000 rows, batches of
-- 128, four pairs alternating with the B-tree). Hash indexes are WAL-logged
-- and crash-safe since PostgreSQL 10.
DROP INDEX campaignctl.outbox_message_id;
CREATE INDEX outbox_message_id ON campaignctl.outbox USING hash (message_id) WHERE message_id IS NOT NULL;
