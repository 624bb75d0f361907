// Package diag holds the compiler's diagnostics — errors and warnings tied to a
// source range — and renders them for people (text, with the source line and a
// caret, the way HCL and Terraform print them), for programs (JSON) and for CI
// (GitHub workflow commands, which become annotations on a pull request).
//
// Stages append diagnostics and go on rather than stopping at the first problem,
// so one run reports every error. Diagnostics carry positions only; the text
// renderer is given the source bytes separately (see Sources), because the
// compiler is pure and does not keep files around for its callers.
//
// This package does not decide what is an error: the front ends and the checker
// do.
package diag
