-- The enrollments' address key leads with the address, as the outbox's does
-- since 016, for the same searches: an erasure or an export of one person
-- (contact-object-keys, contact-rows, forget-enrollments) found enrollments
-- by address with a read of the whole table, and explain's
-- object-contact-enrollments read every enrollment of the object. Same
-- columns, same uniqueness; the queries now say email_normalized <> '' (the
-- index's predicate) beside the address they search, so a generic plan can
-- use it too. The build reads the table once and locks writes to it while it
-- runs.
CREATE UNIQUE INDEX enrollments_address_object ON campaignctl.enrollments (email_normalized, kind, object, occurrence)
    WHERE email_normalized <> '';
DROP INDEX campaignctl.enrollments_object_address;
