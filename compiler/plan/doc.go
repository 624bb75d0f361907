// Package plan defines the compiled plan: plain, JSON-serialisable data that the
// compiler produces and everything downstream (diff, apply, the daemon) consumes.
//
// A plan is canonical: objects are sorted by kind and name, each carries a content
// hash of its own canonical JSON, and the plan hash covers every object. The same
// sources always encode to the same bytes, whichever front end (HCL or CUE) read
// them. Source positions are deliberately absent: they are a property of the files,
// not of what the plan does.
//
// This package does not parse, validate or run anything. The runtime imports this
// package and nothing else from compiler/.
package plan
