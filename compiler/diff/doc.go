// Package diff compares two plans the way `terraform plan` compares state and
// configuration: object by object (kind and name), field by field, and renders the
// result for people (Terraform-style text), for pull requests (a Markdown comment
// with Mermaid graphs) and for programs (versioned JSON, see docs/diff.md).
//
// The comparison walks the plan types by reflection, keyed by their JSON names, so
// a field or an object kind added to compiler/plan shows up in diffs without a
// change here. Lists whose elements carry a "name" (workflow steps, model fields,
// A/B variants, follow-ups) are matched by name, so an edited step is reported as
// an edit of that step and a moved step as a change of order, not as a cascade of
// positional changes. An object that disappears under one name and appears under
// another with identical content is a rename, not a removal plus an addition.
//
// Warnings that need no data (a mail class changed, a sending object removed or
// renamed, an edit to something already sent) are derived from the changes alone.
// Audience counts and enrollments need a database; they come from an ImpactFunc
// supplied by the caller, and the output says so when there is none.
//
// This package does not compile sources, read git or open a database: callers
// hand it two *plan.Plan values. Reading a tree at a git ref lives in
// compiler/diff/gitsrc; drawing workflows and sequences lives in compiler/graph.
package diff
