// Package schemas owns the CUE definitions of every object kind of a campaigns
// tree — model, segment, sender, template, policy, campaign, workflow (one
// definition for each of the 15 workflow types), sequence and autoresponder —
// and validates objects against them.
//
// The .cue files in this folder are embedded and are the single source of truth
// for shapes, constraints, defaults and the words of most messages (their
// conventions are written at the top of common.cue). Complete unifies one object
// (JSON, a map, or a plan struct) with its definition and returns the object with
// the defaults filled in, or FieldErrors that carry the JSON path and a message a
// marketer can act on. JSONSchema exports the same definitions for editors.
// Kinds and WorkflowTypes list what the CUE declares.
//
// Design notes:
//   - Every definition is closed: an unknown field is an error, with a "did you
//     mean" when it is a typo.
//   - A workflow is unified with the definition of its own type, looked up in
//     #WorkflowTypes, not with the 15-way disjunction #Workflow: messages then
//     name the type's rules ("not allowed for type …") instead of "15 errors in
//     empty disjunction", and it is much cheaper. A step likewise is the
//     definition of its kind, looked up in #StepKinds.
//   - CUE reports some errors and hides others behind them (the rest of a list
//     after its first bad element; missing required fields anywhere once any
//     other error exists). A failed validation is therefore repeated, at most
//     maxRecoveryRounds times, with the offending members removed and the
//     list-wide rules off (#lenient), and the new errors are added. Each pass
//     also gives the one before it a view of the schema at an error's place
//     without the bad value, which is where "allowed: …" and "did you mean"
//     come from. A valid object costs one pass.
//   - A cue.Context and its values must not be used by two goroutines at once.
//     Complete takes an evaluator (a context with the schemas compiled into
//     it) from a pool of up to GOMAXPROCS, so concurrent callers run in
//     parallel and never share one.
//   - Speed: CUE spends most of its time on disjunctions and comprehensions.
//     The hot definitions avoid both where a plain constraint does (step kinds
//     by lookup, #lenient without a default, names checked for uniqueness
//     through a struct rather than by comparing every pair).
//
// This package does not parse HCL or CUE sources, resolve references between
// objects (does segment "x" exist? does a branch's then name a step?), type-check
// CEL, or know source positions: the compiler maps a FieldError's path back to a
// file, line and column.
package schemas
