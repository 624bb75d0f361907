// Package check validates the IR of a campaigns tree, whichever front end
// produced it, reports every problem it finds in one pass, and turns the IR into
// plan objects. It runs in three stages:
//
//  1. lower (lower.go): each IR object becomes its plan struct, mechanically
//     (each member the IR declares goes to the plan field of the same Go
//     name, under its JSON name; see package ir), while a path index records which source range wrote each JSON path
//     ("steps\x002\x00template") and which values were written as zero.
//  2. schema (schema.go): each plan struct is unified with its CUE definition
//     (package schemas, the one source of truth for shapes, required fields,
//     allowed values, formats, per-type workflow rules and defaults). A valid
//     object is replaced by the schema's completed JSON, so defaults land in the
//     plan; each error's JSON path is mapped back to a file, line and column.
//     This runs in parallel with stage 3 (CUE is most of a compile's time).
//  3. meaning (check.go, workflow.go, sequence.go, sending.go, steps.go, …),
//     below.
//
// The checks of meaning:
//
//   - names: each object's name is a valid identifier (it becomes a CEL and
//     SQL name), unique within its kind; a model's name is not reserved; table
//     and column names are plain SQL identifiers;
//   - references, with "did you mean": models, segments (over the right
//     model), senders, templates (of campaigns, variants, steps, follow-ups,
//     notify_owner), policies; step names in then/else/next and engagement
//     (a send step that runs before the branch), a sequence's `when` (an
//     earlier step, sent before); contact fields written as model.field, of
//     the right type (a bool do_not_email, a timestamp relative_to, …);
//   - CEL: segment filters, default filters, workflow trigger filters, goals
//     and branch conditions, sequence goals parse and type-check to bool
//     against the model (celmodel.Env, plus `event` in workflows); errors
//     point at their column inside the expression; segments do not reference
//     each other in a cycle;
//   - templates: subject, html and text parse as Go templates (html through
//     html/template's escaper too); the fields a template reads exist on the
//     model of the contacts it is sent to;
//   - durations (plan.ParseDuration; negative only for waits relative to a
//     date), send_at, addresses;
//   - lints, once the schemas' defaults are known: a marketing template sent
//     as marketing mail without an unsubscribe link (error: bulk-sender rules
//     require one), a marketing send
//     of a transactional or internal template (warning), a step no jump
//     reaches (warning), a loop in a workflow's steps (error), a wait shorter
//     than the minimum of its workflow's class or type (warning), and Zoho's
//     from/reply-to rule under a policy with require_org_reply_to (error).
//
// When the checker and the schema both find a problem with the same value (an
// invalid name, a malformed duration), the checker's message, which is more
// specific, is the one reported. A value the front end could not read is
// reported by the front end only.
//
// The checker never touches files; the plan it returns is not finalized
// (package compiler sorts and hashes it).
package check
