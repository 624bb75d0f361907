package cuesrc

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
)

// suggest returns the candidate closest to given, or "" when none is close
// enough to be a likely typo: up to two edits, or a third of the name for long
// names. Ties go to the alphabetically first candidate, so the suggestion does
// not depend on map order. It matches the checker's rule, so HCL and CUE users
// get the same suggestions.
func suggest(given string, candidates []string) string {
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

// didYouMean formats a suggestion as a suffix for a summary.
func didYouMean(given string, candidates []string) string {
	if s := suggest(given, candidates); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

// list formats names for a detail line: "a, b or c".
func list(names []string) string {
	switch len(names) {
	case 0:
		return "none"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
