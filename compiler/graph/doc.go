// Package graph draws one workflow or nurture sequence as a flowchart, in Mermaid
// (which GitHub renders in Markdown without plugins) or Graphviz DOT.
//
// A workflow is drawn from its trigger through its steps, following the order of
// steps, next overrides, branch then/else edges, exit steps and the goal that
// ends it early. A sequence is drawn as a timeline: one node per offset, the
// steps sent at that offset hanging from it with their engagement conditions.
// Nodes can be marked added, changed or removed so that a plan diff can show what
// a pull request touches; removed steps, which the new graph no longer has, are
// listed in a node of their own.
//
// This package only describes and prints graphs of plan objects. It does not
// validate them (a dangling reference becomes a visibly "unknown" node rather
// than an error), lay them out, or decide what changed: compiler/diff does.
package graph
