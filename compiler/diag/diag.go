package diag

import (
	"fmt"
	"io/fs"
	"sort"

	"github.com/campaignctl/campaignctl/compiler/ir"
)

// Severity says whether a diagnostic stops compilation.
type Severity int

const (
	// Error means the tree does not compile; no plan is produced.
	Error Severity = iota
	// Warning is worth fixing but does not stop compilation.
	Warning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one problem found in the sources.
type Diagnostic struct {
	Severity Severity
	// Summary is one line that says what is wrong, including the name at fault and,
	// when there is one, a suggestion ("did you mean ...?").
	Summary string
	// Detail is optional: why it is wrong and what to do.
	Detail string
	// Subject is where the problem is. Nil only for problems with no place in a
	// file (an unreadable directory, an empty tree).
	Subject *ir.Range
	// Syntax marks an error that kept a file from being read as HCL or CUE:
	// checking the rest would only report its echoes (a reference to what the
	// broken file declares would read as unknown), so the compiler stops there.
	Syntax bool `json:"-"`
}

// Errorf returns an error diagnostic at subject.
func Errorf(subject ir.Range, format string, args ...any) Diagnostic {
	return Diagnostic{Severity: Error, Summary: fmt.Sprintf(format, args...), Subject: &subject}
}

// Warningf returns a warning diagnostic at subject.
func Warningf(subject ir.Range, format string, args ...any) Diagnostic {
	return Diagnostic{Severity: Warning, Summary: fmt.Sprintf(format, args...), Subject: &subject}
}

// Diagnostics is a list of diagnostics. The zero value is an empty list.
type Diagnostics []Diagnostic

// Append adds diagnostics and returns the extended list, like the built-in append.
func (ds Diagnostics) Append(more ...Diagnostic) Diagnostics { return append(ds, more...) }

// HasErrors reports whether any diagnostic is an error.
// HasSyntaxErrors reports whether a file could not be read at all.
func (ds Diagnostics) HasSyntaxErrors() bool {
	for _, d := range ds {
		if d.Syntax {
			return true
		}
	}
	return false
}

func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Count returns the number of errors and of warnings.
func (ds Diagnostics) Count() (errors, warnings int) {
	for _, d := range ds {
		if d.Severity == Error {
			errors++
		} else {
			warnings++
		}
	}
	return errors, warnings
}

// Sort orders diagnostics by file, then position, then severity and text, so the
// output does not depend on the order in which stages found them. Diagnostics
// without a subject come first.
func (ds Diagnostics) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if (a.Subject == nil) != (b.Subject == nil) {
			return a.Subject == nil
		}
		if a.Subject != nil {
			sa, sb := a.Subject, b.Subject
			if sa.Filename != sb.Filename {
				return sa.Filename < sb.Filename
			}
			if sa.Start.Byte != sb.Start.Byte {
				return sa.Start.Byte < sb.Start.Byte
			}
			if sa.End.Byte != sb.End.Byte {
				return sa.End.Byte < sb.End.Byte
			}
		}
		if a.Severity != b.Severity {
			return a.Severity < b.Severity
		}
		if a.Summary != b.Summary {
			return a.Summary < b.Summary
		}
		return a.Detail < b.Detail
	})
}

// MapFilenames returns a copy of ds whose subjects' file names are passed through
// f, e.g. to show paths relative to the working directory instead of to the
// campaigns root.
func (ds Diagnostics) MapFilenames(f func(string) string) Diagnostics {
	out := make(Diagnostics, len(ds))
	for i, d := range ds {
		if d.Subject != nil {
			s := *d.Subject
			s.Filename = f(s.Filename)
			d.Subject = &s
		}
		out[i] = d
	}
	return out
}

// Sources holds the bytes of the files diagnostics point into, keyed by the file
// names their subjects use. The text renderer quotes source lines from it.
type Sources map[string][]byte

// ReadSources reads, from fsys, every file that a diagnostic in ds points into.
// Files that cannot be read are left out; their diagnostics render without a
// snippet.
func ReadSources(fsys fs.FS, ds Diagnostics) Sources {
	src := Sources{}
	for _, d := range ds {
		if d.Subject == nil {
			continue
		}
		name := d.Subject.Filename
		if _, done := src[name]; done || !fs.ValidPath(name) {
			continue
		}
		if b, err := fs.ReadFile(fsys, name); err == nil {
			src[name] = b
		}
	}
	return src
}
