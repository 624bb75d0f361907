-- What `campaignctl status` and `explain` read of workflows beyond what the
-- store's queries give every kind. They live here, read-only and used by these
-- two commands only, so the store's queries keep returning what the engine
-- and the other commands expect. Each block is one query, named by its
-- "-- name:" line (workflowQuery).

-- name: workflow-message-counts
-- status: the messages of workflows (sends and owner notifications) by
-- outcome: the workflow twin of the store's series-message-counts, which
-- reads sequences and autoresponders only. A failed notification makes the
-- workflow Degraded like a failed send. Reads the workflow rows of the
-- outbox, which status, run by hand, can afford.
SELECT campaign AS object, status, count(*) AS n
FROM campaignctl.outbox
WHERE kind = 'workflow'
GROUP BY campaign, status;

-- name: workflow-step-counts
-- status: what workflow enrollments did at each step, with the two things a
-- count by action cannot say: where a branch sent them (the step named after
-- the arrow of its history line, "int(event.score) >= 9 is true →
-- ask_review", as runtime/flow writes it; "end" past the last step) and why
-- an enrollment exited at a step (its exit_reason: goal, completed by an exit
-- step, loop). An enrollment exits once, so its exit_reason is the reason of
-- its one 'exited' line.
SELECT en.object, s.step, s.action,
       CASE WHEN s.action = 'branched' THEN coalesce(substring(s.detail from ' → (\S+)$'), '') ELSE '' END AS branch_to,
       CASE WHEN s.action = 'exited' THEN coalesce(en.exit_reason, '') ELSE '' END AS exit_reason,
       count(*) AS n
FROM campaignctl.enrollment_steps s
JOIN campaignctl.enrollments en ON en.id = s.enrollment_id
WHERE en.kind = 'workflow'
GROUP BY en.object, s.step, s.action, 4, 5;

-- name: workflow-standing
-- status: where the active workflow enrollments stand. A wait ends an
-- advance, and the lines of one advance share its instant: an enrollment
-- whose latest lines include 'waited' is in that wait step (its next_step is
-- already the step after the wait); any other stands before its next step,
-- by name (next_step), or by index for one that has no name. The lateral
-- reads each active enrollment's latest lines on enrollment_steps_enrollment
-- (enrollment_id, at).
SELECT en.object, en.step_index, en.next_step, coalesce(w.step, '') AS in_wait, count(*) AS n
FROM campaignctl.enrollments en
LEFT JOIN LATERAL (
    SELECT s.step FROM campaignctl.enrollment_steps s
    WHERE s.enrollment_id = en.id AND s.action = 'waited'
      AND s.at = (SELECT max(m.at) FROM campaignctl.enrollment_steps m WHERE m.enrollment_id = en.id)
    LIMIT 1) w ON true
WHERE en.kind = 'workflow' AND en.state = 'active'
GROUP BY en.object, en.step_index, en.next_step, 4;

-- name: workflow-contact-enrollments
-- explain: one workflow's enrollments of one contact, and of its address
-- through another record of the same person, with what the store's
-- object-contact-enrollments leaves out: the step the enrollment waits for by
-- name (a workflow jumps, so its index says little) and the event that
-- enrolled it. The same two index arms: the unique key and
-- enrollments_address_object (whose predicate the address arm states).
SELECT id, contact_key, occurrence, state, step_index, next_step, wake_at, hold, enrolled_at,
       exit_reason, exited_at, trigger_event
FROM campaignctl.enrollments
WHERE kind = 'workflow' AND object = $1
  AND (contact_key = $2 OR (email_normalized = $3 AND email_normalized <> ''))
ORDER BY enrolled_at, id;

-- name: workflow-enrollment-history
-- explain: the history of workflow enrollments. One advance writes several
-- lines at one instant, and a workflow jumps (branches, next), so the plan's
-- step order cannot break the tie as it does for sequences. The lines of one
-- advance are inserted by one statement, in the order the steps were taken,
-- into a table that is never updated and loses rows only with their
-- enrollment: their physical order (ctid) is that order.
SELECT enrollment_id, step, action, at, variant, detail
FROM campaignctl.enrollment_steps
WHERE enrollment_id = ANY($1::bigint[])
ORDER BY enrollment_id, at, ctid;

-- name: workflow-contact-properties
-- explain: the properties of one contact whose current value one workflow
-- wrote (contact_properties keeps the last write of each field, whoever
-- wrote it), on the primary key's prefix (model, contact_key).
SELECT field, value, set_at, step, enrollment_id
FROM campaignctl.contact_properties
WHERE model = $1 AND contact_key = $2 AND kind = 'workflow' AND object = $3
ORDER BY field;

-- name: workflow-first-applied
-- explain: when a workflow was first applied, on the clock of the events'
-- received_at (revisions.stored_at): its trigger reads the events stored
-- after the revision under which the daemon first ran it, never older ones.
-- The first revision that declares it is that revision unless no daemon ran
-- between two applies. Revisions are few (one per apply) and the plan is
-- stored as text, so each is parsed here; NULL if no revision declares it.
SELECT min(stored_at)
FROM campaignctl.revisions
WHERE (plan::jsonb -> 'workflows') @> jsonb_build_array(jsonb_build_object('name', $1::text));

-- name: workflow-trigger-events
-- explain: one contact's events of a trigger's type (and topic, unless ''),
-- those that arrived since $5 (the workflow's first apply; received_at, the
-- order the trigger reads them in) and before, with the latest since, on
-- events_model_contact_occurred_at (model, contact_key, …).
SELECT count(*) FILTER (WHERE received_at >= $5) AS since,
       count(*) FILTER (WHERE received_at < $5) AS before,
       coalesce(max(id) FILTER (WHERE received_at >= $5), 0) AS latest_id,
       max(occurred_at) FILTER (WHERE received_at >= $5) AS latest_at
FROM campaignctl.events
WHERE model = $1 AND contact_key = $2 AND type = $3 AND ($4 = '' OR topic = $4);

-- name: workflow-trigger-read
-- explain: whether a workflow's trigger has read an event: its cursor passed
-- it, or it decided on it and the cursor has not moved yet (trigger_seen).
-- Both are primary-key lookups. No cursor: the daemon never ran the trigger.
SELECT EXISTS (SELECT 1 FROM campaignctl.trigger_cursors WHERE kind = 'workflow' AND object = $1) AS started,
       EXISTS (SELECT 1 FROM campaignctl.trigger_cursors WHERE kind = 'workflow' AND object = $1 AND last_id >= $2)
       OR EXISTS (SELECT 1 FROM campaignctl.trigger_seen WHERE kind = 'workflow' AND object = $1 AND event_id = $2) AS read;
