-- Lookups by address (an erasure or access request, explain's "to its
-- address through another record", the frequency caps) get an index that
-- leads with the address, and the send path keeps one index fewer.
--
-- The address key (kind, campaign, step, email_normalized, occurrence) led
-- with the object, so a search for one address could only use it with the
-- object known, and not at all without "class <> 'internal'" in the query
-- (its predicate): erasure's searches by address (contact-object-keys,
-- contact-rows, forget-outbox) read the whole outbox, and explain's
-- object-contact-messages every row of the object (EXPLAIN on 200,000 rows:
-- a parallel seq scan; a bitmap scan of the object's 10,000 rows). The same
-- columns with the address first keep the uniqueness and serve all of these.
-- The frequency caps read it too (class = 'marketing' implies the
-- predicate), so outbox_address_sent, an index every sent marketing message
-- added an entry to, goes. Internal mail (to staff, excluded from the key)
-- gets a small index of its own, so a search by address can cover every
-- class: it only holds internal rows, so marketing sends never touch it.
--
-- Both builds read the outbox once, and the unique one locks writes to it
-- while it runs.
CREATE UNIQUE INDEX outbox_address_object ON campaignctl.outbox (email_normalized, kind, campaign, step, occurrence)
    WHERE class <> 'internal';
DROP INDEX campaignctl.outbox_object_step_address;
CREATE INDEX outbox_internal_address ON campaignctl.outbox (email_normalized) WHERE class = 'internal';
DROP INDEX campaignctl.outbox_address_sent;
