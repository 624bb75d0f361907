// Package hclsrc is the HCL front end of the compiler: it reads every *.hcl file
// of a campaigns tree and produces the IR (package ir), with a source range for
// each object and attribute.
//
// It checks only what HCL itself knows: syntax, block and attribute names (an
// unknown one is an error with a "did you mean" suggestion), label counts, that
// a block that may appear once does, that each attribute has the right kind of
// value (string, number, whole number, bool, list of strings), and that a
// workflow step has exactly one attribute that gives it its kind. Everything
// about meaning — required attributes, allowed values, names, references, CEL,
// templates, durations, times, addresses — is the checker's job (package check,
// with the CUE schemas), so every front end gets the same messages.
//
// The language itself — every kind and attribute, in HCL and CUE side by side,
// and how an event's JSON reaches event.* in workflow conditions — is described
// in docs/language.md, whose examples a test compiles.
//
// Positions inside strings are exact: the value of a quoted string or heredoc is
// mapped byte by byte back to the file (escape sequences and the indentation that
// <<- strips included), so a CEL or template error points at its own column.
package hclsrc
