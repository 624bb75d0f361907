package diag

import (
	"fmt"
	"sort"

	"github.com/agext/levenshtein"
)

// Suggest returns the candidate closest to given, or "" when none is close
// enough to be a likely typo: up to two edits, or a third of the name for long
// names (more than that is a different name, and a suggestion would mislead).
// Ties go to the alphabetically first candidate, so the answer does not depend on
// map order. The HCL and CUE front ends and the event importer share it, so a
// user gets the same suggestions everywhere.
func Suggest(given string, candidates []string) string {
	best, bestDist := "", -1
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	for _, c := range sorted {
		if c == given || c == "" {
			continue
		}
		d := levenshtein.Distance(given, c, nil)
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || (bestDist > 2 && bestDist*3 > len(given)) {
		return ""
	}
	return best
}

// DidYouMean formats Suggest's answer as a suffix for a message:
// `; did you mean "x"?`, or "" when there is none.
func DidYouMean(given string, candidates []string) string {
	if s := Suggest(given, candidates); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}
