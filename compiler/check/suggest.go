package check

import (
	"sort"
	"strings"

	"github.com/campaignctl/campaignctl/compiler/diag"
)

// suggest and didYouMean are diag's, under the names the package uses.
var (
	suggest    = diag.Suggest
	didYouMean = diag.DidYouMean
)

// list formats names for a detail line, sorted: "a, b, c", or "none".
func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	return strings.Join(sorted, ", ")
}
