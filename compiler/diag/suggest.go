package diag

import "github.com/campaignctl/campaignctl/internal/suggest"

// Suggest returns the candidate closest to given, or "" when none is close
// enough to be a likely typo (internal/suggest: the one rule every message of
// campaignctl uses).
func Suggest(given string, candidates []string) string { return suggest.Closest(given, candidates) }

// DidYouMean formats Suggest's answer as a suffix for a message:
// `; did you mean "x"?`, or "" when there is none.
func DidYouMean(given string, candidates []string) string {
	return suggest.DidYouMean(given, candidates)
}
