// Package cuesrc is the CUE front end of the compiler: it reads every *.cue file
// of a campaigns tree as one CUE package, evaluates it with cuelang.org/go, and
// produces the same IR (package ir) as the HCL front end, with a source range
// for each object and attribute. HCL and CUE files of one directory form one
// tree: a CUE segment may use a model declared in HCL, and the same campaign
// written in either language compiles to a byte-identical plan.
//
// It reports what CUE knows — syntax, conflicts, incomplete values, values of
// the wrong type — and names that are not part of the language (with a "did you
// mean"). Everything about meaning (references, CEL, templates, times, the
// schemas of each kind) is the checker's job (package check), so both front
// ends get the same messages.
//
// # The language
//
// The kinds and attribute names are those of the HCL language (docs/language.md
// shows every kind in both), written the CUE way:
//
//   - an object is <kind>: <name>: {...} at the top level;
//   - an attribute is a field: table: "crm_lead";
//   - a block that appears once (trigger, reenroll, quiet_hours, frequency_cap,
//     bypass, ab_test, engagement, when, recurrence) is a struct:
//     trigger: {event: "cart_abandoned"};
//   - labeled blocks (a model's field, a workflow's or sequence's step, an A/B
//     variant, a follow_up) are a struct of structs by name, in order:
//     step: pause: {wait: "1h"}.
//
// For example:
//
//	package campaigns
//
//	model: lead: {
//		table:          "crm_lead"
//		key:            "id"
//		email:          "email_from"
//		default_filter: "lead.active"
//		field: name: type:        "string"
//		field: lost_reason: type: "string"
//	}
//
//	#Lost: {
//		_reason:          string
//		model:            "lead"
//		include_archived: true
//		filter:           "lead.lost_reason == \"\(_reason)\""
//	}
//	segment: lost_price: #Lost & {_reason: "Too expensive"}
//	segment: lost_time:  #Lost & {_reason: "No time"}
//
//	workflow: cart_rescue: {
//		type:    "abandoned_cart"
//		model:   "lead"
//		trigger: event: "cart_abandoned"
//		goal:    "lead.stage == \"Won\""
//		step: pause: wait:    "1h"
//		step: reminder: send: "cart_reminder"
//	}
//
// Every .cue file under the tree, in any directory, belongs to the one
// package: they need the same package clause, or none. Files and directories
// whose names start with "." and cue.mod directories are skipped. Imports are
// limited to CUE's standard library (strings, list, math, …).
//
// At the top level only the kinds are read. Anything else that helps write
// them must be a definition (#Lost) or a hidden field (_reasons): a regular
// field with another name is an error, so a typo such as segmnt: is caught.
// Comprehensions and embedded definitions that produce kinds are fine
// (for k, r in _reasons {(#Winback & {key: k, reason: r}).out}).
//
// Every attribute must end up with one concrete value of its type: a
// definition's open string, left unset, is reported where it is declared. Whole
// numbers (daily_quota, test_percent, …) and a set_property step's value
// follow the HCL rules exactly, so numbers and bools lower to the same text.
//
// Text from a file: HCL's file("templates/x.html") is written with CUE's own
// @embed attribute, which needs @extern(embed) at the top of the file:
//
//	@extern(embed)
//
//	package campaigns
//
//	template: back_in_stock: html: _ @embed(file=templates/back_in_stock.html, type=text)
//
// The path is relative to the .cue file's directory and may not leave the tree
// (the tree is presented to CUE as a module of its own); type=text reads the
// file as a string whatever its extension. CUE's @embed is experimental in
// v0.17; TestEmbed guards it.
//
// Multi-line strings: CUE's """ string drops the newline before the closing
// quotes, where an HCL heredoc keeps it. Lowering trims CEL expressions, so it
// does not matter for filters; for a template body that should end with a
// newline, leave an empty line before the closing """.
//
// # Positions
//
// CUE keeps one position per value, so this package also indexes every field
// written with a literal label, and decodes string literals again (escapes,
// #"raw"# strings, and the indentation a """ string strips) to map each byte of
// a value back to its line and column: a CEL error on the third line of a
// multi-line filter is reported there. A value that is computed — an
// interpolation, a concatenation — maps as a whole to the expression that
// computes it, so an error inside it underlines that expression; a literal
// inside a definition maps into the definition, for every object that uses it.
// Text read with @embed maps into the embedded file, like HCL's file().
//
// This package does not validate objects against the schemas, resolve
// references or lower to a plan.
//
// Consent is written as in HCL (see compiler/hclsrc): on a model,
// consent: "lead.marketing_opt_in" and subscription: newsletter: consent:
// "lead.newsletter_opt_in"; on a template, subscription: "newsletter"; on a
// policy, consent: "opt_in" (or "opt_out", what a policy without it is).
package cuesrc
