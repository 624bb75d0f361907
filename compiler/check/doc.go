// Package check validates the IR of a campaigns tree, whichever front end
// produced it, and reports every problem it finds in one pass:
//
//   - names: each object's name is a valid identifier (it becomes a CEL and SQL
//     name), unique within its kind; a model's name is not reserved; table and
//     column names are plain SQL identifiers;
//   - required attributes and their formats: field types, send_at (RFC 3339),
//     sender addresses (net/mail);
//   - references: segment → model, campaign → segment, template and sender, with
//     "did you mean" suggestions;
//   - CEL: segment filters and model default filters parse and type-check against
//     the model (celmodel.Env) and are bool; references between segments do not
//     form a cycle. CEL errors point at their column inside the expression;
//   - templates: subject, html and text parse as Go templates; html is also run
//     through html/template's escaper, which rejects markup that would be unsafe;
//     the fields a campaign's template reads exist on its segment's model;
//   - lints (warnings): a template without an unsubscribe link.
//
// The checker only reads the IR and returns diagnostics; it does not build the
// plan (package compiler lowers a checked IR) and never touches files.
package check
