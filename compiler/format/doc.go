// Package format rewrites campaign source files in their canonical layout: HCL
// as hclwrite.Format lays it out (what `terraform fmt` does), CUE as
// cuelang.org/go/cue/format does (what `cue fmt` does, without --simplify).
//
// It works on bytes only: it does not read or write files, walk directories or
// decide which files to format; `campaignctl fmt` does that. A file that does
// not parse is refused with an error that has its position, rather than
// formatted into something worse. Formatting never changes what a file means:
// the HCL formatter only moves whitespace, and the CUE formatter prints the
// syntax tree it parsed.
package format
