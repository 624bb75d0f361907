// Package sqlgen translates a type-checked CEL segment filter into one parameterized
// Postgres boolean expression that selects exactly the rows the CEL program accepts.
//
// It owns the translation rules and nothing else: it does not run queries, choose
// between pushdown and in-process evaluation, or expand a model's default filter
// (package segment does). When a sub-expression has no exact SQL counterpart the
// translator returns *Unsupported naming it, and the caller falls back to evaluating
// the CEL program itself.
//
// # Safety
//
// Table and column identifiers come only from the plan's model and are always
// quoted with pq.QuoteIdentifier. Every value that comes from a filter — string,
// number, timestamp, list element, regex — travels as a bind parameter ($n). The only
// literals in the SQL text are fixed ones written in this package (zero values, range
// bounds, TRUE/FALSE, the forms a written property's text is checked against) and
// the model's and a field's names, from the plan, that select a field's writes in
// the properties table (quoted with pq.QuoteLiteral; see Overlay).
//
// # How exactness is kept
//
// The NULL semantics are the segment package's (see its doc): a NULL column reads as
// its type's zero value and has() is false for it. Rather than wrapping every column
// in COALESCE, which would hide it from indexes, every boolean fragment is rendered
// for a polarity: the fragment for E, or the fragment for !E, with negation pushed
// down to the leaves (De Morgan for && and ||). The invariant is:
//
//	a fragment rendered for E is TRUE exactly when CEL evaluates E to true;
//	otherwise it is FALSE or NULL.
//
// Because SQL NOT is only ever written around a leaf's own two-valued predicate,
// NULL can never turn into TRUE, and AND/OR over such fragments obey the invariant:
// Kleene's AND/OR are min/max over FALSE < NULL < TRUE, exactly as CEL's commutative
// && and || are over false < error < true. So a leaf compares the raw column (index
// friendly) and adds "OR col IS NULL" only when the zero value itself satisfies the
// leaf, which it checks against the actual parameter value at render time.
//
// Values that can fail in CEL (integer overflow, division by zero, timestamps leaving
// the years 0001–9999) are computed in SQL under a guard that yields NULL where CEL
// yields an error, so the failure never reads as a match. Doubles follow IEEE: NaN
// compares false with everything and != is true, which Postgres (NaN = NaN, NaN
// greatest) needs explicit terms for. Strings order bytewise (COLLATE "C"), like CEL.
//
// Sub-expressions that read no column (literals, now, timestamp("…"), duration("…")
// and any arithmetic over them) are evaluated by CEL itself when the SQL is rendered,
// and bound as a single parameter, so their semantics are CEL's by construction.
// A value SQL cannot carry exactly (a NUL in a string, sub-microsecond time) makes
// the filter untranslatable, or, when it depends on now, makes that rendering fail
// with ErrRender; so does SQL text beyond 256 KiB (guards repeat their operand, so
// deeply nested arithmetic grows fast).
//
// # Engagement predicates
//
// clicked, opened and inactive_for become EXISTS / NOT EXISTS over the events table,
// correlated on the outer row's key (qualified by the table's full name, so no
// column of the events table can capture it); EXISTS is two-valued, so the polarity
// rules above hold without guards. event_count is a correlated count(*), never NULL;
// compared with an integer constant it becomes EXISTS over the contacts whose events
// in the window are grouped and counted once (HAVING count(*) >= k, or = k), which
// Postgres plans as a hash semi- or anti-join instead of one count per row.
// EngagementJoin gives the in-process path the same answers as LEFT JOINs; every
// form selects its events through one function, so the two cannot disagree on
// which events count. Opens and clicks count only when a person made them, a
// condition written with literals so that Postgres reads the partial index of
// those (events_open_click_people); opened reads them as one UNION ALL branch
// per type, so that the type stays in the index condition and the window
// bounds the scan.
package sqlgen
