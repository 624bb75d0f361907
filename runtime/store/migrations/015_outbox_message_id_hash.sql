-- The Message-ID index is only ever searched for one Message-ID
-- (inbound-sent-message-by-id), never by range or order, and every sent row
-- adds an entry to it in the ledger write (record-outcomes): Message-IDs are
-- hashes, so each entry of the B-tree landed on a random leaf. A hash index
-- answers the same equality lookup and its insert touches one bucket page
-- instead of a descent of the tree. The ledger's outcome update on a copy of
-- the outbox (50,000 rows, batches of 128): 1,495, 1,439, 1,527 and 1,118 ms
-- against 1,526, 2,014, 1,584 and 1,187 ms with the B-tree, alternating
-- (about 5% less in three pairs of four), and 10-12% less in three earlier
-- pairs. Hash indexes are WAL-logged and crash-safe since PostgreSQL 10.
DROP INDEX campaignctl.outbox_message_id;
CREATE INDEX outbox_message_id ON campaignctl.outbox USING hash (message_id) WHERE message_id IS NOT NULL;
