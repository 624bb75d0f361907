// Package ir is the compiler's intermediate representation: the objects of a
// campaigns tree (models, segments, senders, templates, policies, campaigns,
// workflows, sequences, autoresponders) as plain Go structs that still carry
// where every object, block and attribute came from. Its shapes follow the plan
// types (package plan) field for field, so lowering is mechanical; what differs is
// that every value has a source range and that "not written" is nil.
//
// Every front end (HCL, CUE) produces an *ir.Config; the checker
// (package check) lowers it to plan objects, validates them against the schemas
// and checks references, CEL and lints.
//
// The language is declared here once. Kinds is plan.Kinds with each kind's IR
// struct and its list in Config. Each attribute and nested block is declared
// by the `lang` tag of its IR field (decl.go): from the same declaration the HCL
// front end builds its body schemas and reads values, the CUE front end builds
// its tables of allowed members and reads values, and the checker lowers the
// value to the plan field of the same Go name. A new attribute is therefore a
// tagged IR field, a plan field and a field in the CUE schema (schemas/), and
// a test in package check fails when one of the three is missing. A
// workflow step is the exception: its Kind comes from the one marker it has
// (`wait = "1h"` is a wait step; StepMarkers lists them), so its syntax is
// declared apart (StepMembers) and ReadStep, the one step resolver, turns
// it into a Step for every front end, with Kind's range at the marker. Positions are this
// package's own Pos and Range, not hcl.Range, so the IR does not depend on any
// front end's types.
//
// A String remembers, run by run, where each byte of its value sits in the
// source. That is what lets an error found at column 12 of a CEL expression, or on
// line 3 of a template read with file(), be reported at the right file:line:col
// even when the value came from an indented heredoc whose indentation HCL strips,
// or from a quoted string with escape sequences.
//
// This package does not parse files, validate or render anything: ReadStep
// only resolves a step's kind from what a front end has read.
package ir
