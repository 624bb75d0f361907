package cuesrc_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/diag"
)

// TestCampaignsExamples compiles campaigns/, HCL and CUE together: the CUE
// example refers to the model and sender declared in HCL, and must produce
// one segment, template and campaign per lost reason.
func TestCampaignsExamples(t *testing.T) {
	fsys := os.DirFS("../../campaigns")
	p, ds := compiler.Compile(fsys, compiler.Options{})
	if ds.HasErrors() || p == nil {
		var text bytes.Buffer
		_ = diag.WriteText(&text, ds, diag.ReadSources(fsys, ds))
		t.Fatalf("campaigns/ does not compile:\n%s", text.String())
	}
	for _, c := range []struct{ key, reason, sendAt string }{
		{"people", `lead.lost_reason == "We don't have people/skills"`, "2026-12-01T10:00:00Z"},
		{"not_ready", `lead.lost_reason == "Not enough ready"`, ""},
	} {
		seg, ok := p.Segment("lost_" + c.key)
		if !ok {
			t.Errorf("no segment lost_%s in the plan", c.key)
			continue
		}
		if seg.Model != "lead" || !seg.IncludeArchived || !strings.Contains(seg.Filter, c.reason) {
			t.Errorf("segment lost_%s: %+v", c.key, seg)
		}
		tmpl, ok := p.Template("winback_" + c.key)
		if !ok || !strings.Contains(tmpl.HTML, "{{ .unsubscribe_url }}") {
			t.Errorf("template winback_%s: %+v", c.key, tmpl)
		}
		k, ok := p.Campaign("winback_" + c.key)
		if !ok || k.Segment != "lost_"+c.key || k.Sender != "warehouse" || k.SendAt != c.sendAt {
			t.Errorf("campaign winback_%s: %+v", c.key, k)
		}
	}
}
