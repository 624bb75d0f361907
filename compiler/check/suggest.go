package check

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
)

// suggest returns the candidate closest to given, or "" when none is close enough
// to be a likely typo. Ties go to the alphabetically first candidate, so the
// suggestion does not depend on map order.
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
	// Up to two edits, or a third of the name for long names, reads as a typo;
	// more than that is a different name and a suggestion would mislead.
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

// list formats names for a detail line, sorted: "a, b, c", or "none".
func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	return strings.Join(sorted, ", ")
}
