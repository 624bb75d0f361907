package cuesrc

import (
	"strings"

	"github.com/campaignctl/campaignctl/compiler/diag"
)

// didYouMean is diag's, under the name the package uses.
var didYouMean = diag.DidYouMean

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
