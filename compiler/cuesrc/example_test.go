package cuesrc_test

import (
	"fmt"
	"strings"
	"testing/fstest"

	"github.com/campaignctl/campaignctl/compiler/cuesrc"
)

// A definition instantiated twice yields two segments; an error in the CEL
// of a multi-line string is reported at its own line and column by the
// checker, which reads the spans Load records.
func ExampleLoad() {
	fsys := fstest.MapFS{"segments.cue": {Data: []byte(`package campaigns

#Lost: {
	_reason:          string
	model:            "lead"
	include_archived: true
	filter:           "lead.lost_reason == \"\(_reason)\""
}
segment: lost_price: #Lost & {_reason: "Too expensive"}
segment: lost_time:  #Lost & {_reason: "No time"}

segment: active: {
	model: "lead"
	filter: """
		lead.active
		  && lead.stage != "Won"
		"""
}
`)}}
	cfg, ds := cuesrc.Load(fsys)
	fmt.Println(len(ds), "diagnostics")
	for _, s := range cfg.Segments {
		fmt.Printf("%s at %s: %q\n", s.Name.Value, s.Name.Range, s.Filter.Value)
	}
	active := cfg.Segments[2].Filter
	i := strings.Index(active.Value, "stage")
	fmt.Println("\"stage\" is at", active.Sub(i, i+len("stage")))
	// Output:
	// 0 diagnostics
	// lost_price at segments.cue:9:10: "lead.lost_reason == \"Too expensive\""
	// lost_time at segments.cue:10:10: "lead.lost_reason == \"No time\""
	// active at segments.cue:12:10: "lead.active\n  && lead.stage != \"Won\""
	// "stage" is at segments.cue:16:13
}
