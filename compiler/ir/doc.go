// Package ir is the compiler's intermediate representation: the objects of a
// campaigns tree (models, segments, senders, templates, policies, campaigns,
// workflows, sequences, autoresponders) as plain Go structs that still carry
// where every object, block and attribute came from. Its shapes follow the plan
// types (package plan) field for field, so lowering is mechanical; what differs is
// that every value has a source range and that "not written" is nil.
//
// Every front end (HCL, CUE) produces an *ir.Config; the checker
// (package check) lowers it to plan objects, validates them against the schemas
// and checks references, CEL and lints. A front end maps its own syntax onto these
// shapes: it derives a workflow step's Kind from the attribute that
// gives the step its kind (`wait = "1h"` is a wait step; StepMarkers lists them,
// for every front end), and puts Kind's range there. Positions are this
// package's own Pos and Range, not hcl.Range, so the IR does not depend on any
// front end's types.
//
// A String remembers, run by run, where each byte of its value sits in the
// source. That is what lets an error found at column 12 of a CEL expression, or on
// line 3 of a template read with file(), be reported at the right file:line:col
// even when the value came from an indented heredoc whose indentation HCL strips,
// or from a quoted string with escape sequences.
//
// This package does not parse, validate or render anything.
package ir
