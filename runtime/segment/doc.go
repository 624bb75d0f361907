// Package segment answers "who is in this segment?" for the daemon and the CLI:
// it evaluates a plan's CEL segment filters against the model's table or view in
// Postgres, exactly, on millions of rows, without ever holding the audience in
// memory.
//
// An Evaluator is built once per plan (New): every segment's effective filter is
// compiled to a CEL program and, when possible, translated to SQL (package sqlgen).
// Each, Count and Sample then take one of two paths, which always agree:
//
//   - pushdown: one parameterized WHERE clause; Postgres does the work. Each reads
//     it in keyset pages (key > last ORDER BY key LIMIT n), so no query stays open
//     while the caller handles a batch.
//   - in-process: one streaming query over the key, the email and only the columns
//     the filter reads; a goroutine decodes rows into a few fixed batches while
//     the caller's goroutine evaluates the compiled CEL program on each row through
//     a reused activation. Used when a sub-expression has no exact SQL form;
//     Explain names it. The top-level && operands that do translate still narrow
//     the rows read (a prefilter); the whole program is evaluated on the rest.
//     A pushed-down query that Postgres rejects for a data error or a program
//     limit (say, a regular expression too complex for it) is retried this way.
//
// ForcePath(InProcess) evaluates every row with no prefilter: it is the reference
// the tests hold the pushdown to, and a CLI flag for doubtful cases.
//
// The package does not send mail, enroll contacts or cache audiences; it does not
// parse campaign files (the compiler type-checks filters), and it does not create
// tables (runtime/store does, the events table included).
//
// # Engagement predicates
//
// lead.clicked(d), lead.opened(d), lead.clicked/opened("campaign", "step"),
// lead.event_count("type"[, "topic"], d) and lead.inactive_for(d) (declared in
// celmodel) read the runner's events table for the row's contact: events of the
// model whose contact_key equals the row's key as text, in the window (now-d, now]
// (or up to now). On the pushdown path they are EXISTS subqueries of the WHERE
// clause; on the in-process path the scan query LEFT JOINs, per distinct call
// (those of referenced segments included), the contacts with matching events
// (DISTINCT, or grouped with their count) and selects the answer as an extra
// column, which the CEL functions read from the row. Either way Postgres answers
// the event part with the same conditions; the tests hold both paths to answers
// computed in Go from the fixture events.
//
// # Fields workflows write
//
// A field that a workflow of the plan writes (plan.FieldsWorkflowsWrite:
// set_property, clear_property, assign_owner) is read as the workflows left it,
// as templates and workflow conditions read it: the runner's
// contact_properties row of the contact, when there is one, wins over the
// CRM's column (its text converted to the field's type; NULL, i.e. the zero
// value with has() false, when cleared). Every query reading such a field
// LEFT JOINs the table on its primary key, one join per written field read
// (sqlgen's Overlay and OverlayJoins); the pushdown compares the overlaid
// expression and the in-process scan selects it, so both paths see one value.
// A filter that reads no written field is the SQL it always was.
//
// # Effective filter
//
// A segment's effective filter is its filter, and the model's default filter unless
// the segment sets include_archived. segment.<name> inside a filter stands for the
// other segment's effective filter (with that segment's own default-filter rule).
// Reference cycles are refused by New.
//
// # NULL and missing values
//
// Segments follow one rule on both paths (the proto3 rule):
//
//   - A NULL column reads as the zero value of its field type: "" for string, 0 for
//     int, 0.0 for float, false for bool, the Unix epoch 1970-01-01T00:00:00Z for
//     timestamp, and the empty list for list(string). A NULL element inside a list
//     reads as "".
//   - has(lead.f) is the only way to tell NULL from the zero value: it is false
//     exactly when the column is NULL (an empty, non-NULL list has it).
//   - So lead.lost_reason != "x" holds for a NULL lost_reason, !(lead.stage in
//     ["New"]) holds for a NULL stage, and lead.stage == "" holds for both NULL and
//     empty stages. SQL three-valued logic never shows through.
//   - Floats follow IEEE as CEL does: NaN is not equal to, less or greater than
//     anything (itself included), and != is true.
//   - Strings compare by bytes (code points), never by locale collation; size()
//     counts code points.
//   - Timestamps compare as instants. now is the evaluation time truncated to whole
//     microseconds (Postgres' precision), on both paths.
//   - A row whose evaluation fails (integer overflow, a timestamp leaving the years
//     0001–9999, division by zero) is not in the segment; within && and || a failing
//     side is absorbed the way CEL absorbs errors (false && error is false, true ||
//     error is true).
//
// # Requirements on the database
//
// The model's key must be unique, non-NULL and ordered (a primary key); it is
// reported as text. Column types: string → text or varchar, int → smallint, integer
// or bigint, float → double precision, bool → boolean, timestamp → timestamptz,
// list(string) → one-dimensional text[]. The database encoding must be UTF8. Every
// column is treated as possibly NULL, whatever the model declares: the SQL guards
// each comparison whose zero value would match with "OR col IS NULL". Only the
// database's own catalog can lift that: WithCatalog reads which columns are NOT
// NULL (the CLI does it per command, the daemon per materialization), and their
// guards and COALESCEs are left out, which keeps negated predicates on them
// index-friendly.
package segment
