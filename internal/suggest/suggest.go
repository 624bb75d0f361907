// Package suggest finds the name a user probably meant: the "did you mean"
// of every message campaignctl prints, from the HCL and CUE front ends, the
// schema checks and the event importer alike, so a typo gets the same answer
// everywhere. It is a leaf package the compiler, the schemas and the runtime
// may all import.
package suggest

import (
	"fmt"
	"sort"
)

// Closest returns the candidate closest to given, or "" when none is close
// enough to be a likely typo: up to two edits, or a third of the name for
// long names (more than that is a different name, and a suggestion would
// mislead). An edit is an insertion, a deletion, a substitution or a swap of
// two neighbours ("sned" is one edit from "send"). Ties go to the
// alphabetically first candidate, so the answer does not depend on map order.
func Closest(given string, candidates []string) string {
	best, bestDist := "", -1
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	for _, c := range sorted {
		if c == given || c == "" {
			continue
		}
		if d := Distance(given, c); bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || (bestDist > 2 && bestDist*3 > len(given)) {
		return ""
	}
	return best
}

// DidYouMean formats Closest's answer as a suffix for a message:
// `; did you mean "x"?`, or "" when there is none.
func DidYouMean(given string, candidates []string) string {
	if s := Closest(given, candidates); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

// Distance is the optimal-string-alignment distance between a and b, over
// runes: insertions, deletions, substitutions and swaps of two neighbours
// each cost 1.
func Distance(a, b string) int {
	x, y := []rune(a), []rune(b)
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
}
