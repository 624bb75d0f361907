// Package compiler turns a campaigns tree into a canonical plan.
//
// Compile runs the stages in order, each in its own package:
//
//	files ──hclsrc──► ir.Config ──check──► plan objects (schemas' defaults applied) + diagnostics
//	                                           └──Finalize──► canonical plan
//
// check lowers the IR to plan objects, validates them against the CUE schemas
// (package schemas) and checks references, CEL, templates and lints (see its
// doc). Compile is pure: it reads only the fs.FS it is given (no network, no
// database, no clock, no environment), so the same tree always compiles to the
// same bytes, and tests, CI and the daemon get the same answer. Every stage
// appends diagnostics and goes on, so one run reports every error; the plan is
// returned only when there is no error.
//
// This package does not render diagnostics (package diag does), run git, or
// write files: the CLI does that around it.
package compiler
