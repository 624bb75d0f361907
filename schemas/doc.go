// Package schemas owns the CUE definitions of every object kind of a campaigns
// tree — model, segment, sender, template, policy, campaign, workflow (one
// definition per each of the 15 workflow types), sequence and autoresponder —
// and validates objects against them.
//
// The .cue files in this folder are embedded and are the single source of truth
// for shape, constraints, defaults and the words of most messages. Complete
// unifies one object (as a plan struct, a map or JSON) with its definition and
// returns the object with defaults filled in, or FieldErrors that carry the
// JSON path and a message a marketer can act on. JSONSchema exports the same
// definitions for editors.
//
// Design notes:
//   - Each object kind is a closed definition: an unknown field is an error, with
//     a "did you mean" when it is a typo. Shapes (fields and types) are kept apart
//     from rules (conditional requirements, list-wide checks) so the shapes also
//     export to JSON Schema.
//   - A workflow is unified with the definition of its own type (looked up in
//     #WorkflowTypes), not with the 15-way disjunction #Workflow: the result is
//     the same, messages name the type's rules instead of "15 errors in empty
//     disjunction", and it is much cheaper.
//   - CUE reports hard errors but stays quiet about missing required fields
//     when another error is present, so a failed validation is repeated (at most
//     three more times) with the offending members removed and list-wide rules
//     off, to report every mistake in one run.
//   - A cue.Context must not be used by two goroutines at once. Complete takes an
//     evaluator (a context with the schemas compiled in it) from a pool of up to
//     GOMAXPROCS, so concurrent callers run in parallel without sharing one.
//
// This package does not parse HCL or CUE sources, resolve references between
// objects (does segment "x" exist?), type-check CEL, or know source positions:
// the compiler maps a FieldError's path back to a file, line and column.
package schemas
