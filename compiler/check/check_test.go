package check

import (
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/ir"
)

func TestSuggest(t *testing.T) {
	cases := []struct {
		given      string
		candidates []string
		want       string
	}{
		{"stge", []string{"stage", "active"}, "stage"},
		{"lost_reasn", []string{"lost_reason", "stage"}, "lost_reason"},
		{"won_lead", []string{"won_leads", "lost_leads"}, "won_leads"},
		{"completely_different", []string{"won_leads", "lost_leads"}, ""},
		{"x", []string{}, ""},
		{"same", []string{"same"}, ""}, // the name itself is no suggestion
		// Ties go to the alphabetically first candidate, whatever the input order.
		{"ab", []string{"ac", "aa"}, "aa"},
		{"ab", []string{"aa", "ac"}, "aa"},
	}
	for _, c := range cases {
		if got := suggest(c.given, c.candidates); got != c.want {
			t.Errorf("suggest(%q, %v) = %q, want %q", c.given, c.candidates, got, c.want)
		}
	}
}

func TestFixedName(t *testing.T) {
	for in, want := range map[string]string{
		"Lead-Data":  `; did you mean "lead_data"?`,
		"sales team": `; did you mean "sales_team"?`,
		"2fast":      "", // no valid spelling without inventing a prefix
		"ok":         "",
		"--":         "",
	} {
		if got := fixedName(in); got != want {
			t.Errorf("fixedName(%q) = %q, want %q", in, got, want)
		}
	}
}

// str builds an IR string as a front end that cannot map positions inside values
// would (a CUE front end might): only the expression's range is known.
func str(v string, line int) *ir.String {
	r := ir.Range{Filename: "c.cue", Start: ir.Pos{Line: line, Column: 3, Byte: line * 10}, End: ir.Pos{Line: line, Column: 9, Byte: line*10 + 6}}
	return &ir.String{Value: v, Range: r}
}

func name(v string, line int) ir.Name {
	return ir.Name{Value: v, Range: ir.Range{Filename: "c.cue", Start: ir.Pos{Line: line, Column: 1, Byte: line * 10}, End: ir.Pos{Line: line, Column: 2, Byte: line*10 + 1}}}
}

// TestCheckWithoutSpans runs the checker on IR that no HCL produced: the
// checker must not depend on the front end, and positions fall back to the
// attribute's range.
func TestCheckWithoutSpans(t *testing.T) {
	cfg := &ir.Config{
		Models: []*ir.Model{{
			Name: name("lead", 1), Table: str("crm_lead", 2), Key: str("id", 3), Email: str("email", 4),
			Fields: []*ir.Field{{Name: name("stage", 5), Type: str("string", 5)}},
		}},
		Segments: []*ir.Segment{{Name: name("won", 6), Model: str("lead", 7), Filter: str("lead.stge == 1", 8)}},
		Senders:  []*ir.Sender{{Name: name("s", 9), From: str("s@example.com", 9)}},
		Templates: []*ir.Template{{
			Name: name("t", 10), Subject: str("{{ .lead.name }}", 11),
			Text: str("bye {{ .unsubscribe_url }}", 12),
		}},
		Campaigns: []*ir.Campaign{{Name: name("c", 13), Segment: str("won", 14), Template: str("t", 15), Sender: str("s", 16)}},
	}
	ds := Check(cfg)
	if len(ds) != 2 {
		t.Fatalf("want 2 diagnostics, got %v", summaries(ds))
	}
	ds.Sort()
	field, tmpl := ds[0], ds[1]
	if !strings.Contains(field.Summary, `model lead has no field "stge"; did you mean "stage"?`) || field.Subject.Start.Line != 8 {
		t.Errorf("field diagnostic: %q at %v", field.Summary, field.Subject)
	}
	if !strings.Contains(tmpl.Summary, `no field "name"`) || tmpl.Subject.Start.Line != 11 {
		t.Errorf("template diagnostic: %q at %v", tmpl.Summary, tmpl.Subject)
	}
}

// TestInvalidAttributesAreNotReportedTwice: an attribute the front end could not
// read is present for "missing" checks and ignored otherwise.
func TestInvalidAttributesAreNotReportedTwice(t *testing.T) {
	bad := &ir.String{Invalid: true}
	cfg := &ir.Config{
		Models:    []*ir.Model{{Name: name("lead", 1), Table: bad, Key: bad, Email: bad}},
		Segments:  []*ir.Segment{{Name: name("s", 2), Model: bad, Filter: bad}},
		Senders:   []*ir.Sender{{Name: name("x", 3), From: bad, ReplyTo: bad}},
		Templates: []*ir.Template{{Name: name("t", 4), Subject: bad, HTML: bad}},
		Campaigns: []*ir.Campaign{{Name: name("c", 5), Segment: bad, Template: bad, Sender: bad, SendAt: bad}},
	}
	if ds := Check(cfg); len(ds) != 0 {
		t.Fatalf("want no diagnostics, got %v", summaries(ds))
	}
}

func summaries(ds diag.Diagnostics) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Summary)
	}
	return out
}
