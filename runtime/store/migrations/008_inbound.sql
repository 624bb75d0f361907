-- The inbound listener (runtime/inbound) finds the message a reply or a
-- feedback report is about by its Message-ID (In-Reply-To, References, the
-- quoted original) when the address it came to carries no token. Partial: rows
-- not yet sent have no Message-ID and cost nothing; a sent row adds one entry.
CREATE INDEX outbox_message_id ON campaignctl.outbox (message_id) WHERE message_id IS NOT NULL;
