package diff

import (
	"bytes"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

func templatePlan(html string) *plan.Plan {
	p := &plan.Plan{Templates: []plan.Template{{Name: "t", Subject: "s", Class: plan.ClassMarketing, HTML: html}}}
	p.Finalize()
	return p
}

// A template is data from a pull request: it must not be able to close the
// Markdown code block it is shown in, or to send escape sequences to the
// reviewer's terminal.
func TestViewsContainHostileContent(t *testing.T) {
	d := Plans(templatePlan("a\nb\n"), templatePlan("a\n```\n</details>\n\x1b[2Jb\n"))
	var md bytes.Buffer
	if err := WriteMarkdown(&md, d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "````diff\n") {
		t.Errorf("the fence must be longer than the ``` in the template:\n%s", md.String())
	}
	var text bytes.Buffer
	if err := WriteText(&text, d, TextOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), "\x1b[2J") {
		t.Errorf("an escape sequence from the template reached the terminal: %q", text.String())
	}
	if !strings.Contains(text.String(), `\x1b[2Jb`) {
		t.Errorf("the escape should be shown escaped: %q", text.String())
	}
}

func TestImpactRendering(t *testing.T) {
	before, after := int64(1204), int64(3877)
	d := Plans(templatePlan("a"), templatePlan("b"))
	d.Impact = &Impact{
		Audiences:   []Audience{{Segment: "lost", UsedBy: []string{"campaign x"}, Before: &before, After: &after}, {Segment: "new", After: &after}},
		Enrollments: []Enrollment{{Kind: "workflow", Name: "w", Active: 12}},
	}
	var text bytes.Buffer
	if err := WriteText(&text, d, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`segment "lost": 1,204 → 3,877 contacts (+2,673), used by campaign x`,
		`segment "new": none → 3,877 contacts`,
		`workflow "w": 12 contacts enrolled now`,
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), "not computed") {
		t.Error("impact was computed")
	}
}

func TestGroupDigits(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4321: "-4,321"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}
