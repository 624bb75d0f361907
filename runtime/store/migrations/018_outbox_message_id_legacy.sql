-- A Message-ID sent from now on carries its outbox row's id after the hash
-- ("<32 hex digits>.<id>@<domain>", mailer.MessageID), so the inbound
-- listener finds the message a reply or a complaint refers to by the primary
-- key (store.SentMessageByMessageID) and the ledger no longer adds an entry
-- to a Message-ID index for every message it records sent. The index keeps
-- only the Message-IDs sent before, the hash alone, whose local part has no
-- dot: a row recorded sent from now on does not satisfy the predicate and
-- adds nothing to it. The build reads the outbox once and locks writes to it
-- while it runs.
DROP INDEX campaignctl.outbox_message_id;
CREATE INDEX outbox_message_id_legacy ON campaignctl.outbox USING hash (message_id)
    WHERE message_id IS NOT NULL AND strpos(split_part(message_id, '@', 1), '.') = 0;
