package diff_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/campaignctl/campaignctl/compiler/diff"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// generatedPlans returns two plans of n objects each (segments, templates,
// campaigns, workflows and sequences, with multi-line filters and bodies) where
// one object in ten differs: a third of those edited, a third renamed, a third
// removed and replaced by a new object.
func generatedPlans(n int) (*plan.Plan, *plan.Plan) {
	oldP, newP := &plan.Plan{}, &plan.Plan{}
	body := strings.Repeat("<p>Some paragraph of the message, long enough to be realistic.</p>\n", 20)
	for i := range n {
		mutation := -1
		if i%10 == 0 {
			mutation = (i / 10) % 3 // 0 edit, 1 rename, 2 replace
		}
		name := fmt.Sprintf("obj_%04d", i)
		newName := name
		switch mutation {
		case 1:
			newName = name + "_renamed"
		case 2:
			newName = name + "_replacement"
		}
		edit := mutation == 0 || mutation == 2
		switch i % 5 {
		case 0:
			s := plan.Segment{Name: name, Model: "lead", Filter: fmt.Sprintf("lead.score > %d\n&& lead.stage != \"Won\"\n&& !lead.blacklisted", i)}
			oldP.Segments = append(oldP.Segments, s)
			s.Name = newName
			if edit {
				s.Filter = strings.Replace(s.Filter, "Won", "Lost", 1)
			}
			newP.Segments = append(newP.Segments, s)
		case 1:
			t := plan.Template{Name: name, Subject: "Subject " + name, HTML: body, Class: plan.ClassMarketing}
			oldP.Templates = append(oldP.Templates, t)
			t.Name = newName
			if edit {
				t.HTML = strings.Replace(t.HTML, "realistic", "convincing", 1)
			}
			newP.Templates = append(newP.Templates, t)
		case 2:
			c := plan.Campaign{Name: name, Segment: "seg", Template: "tpl", Sender: "news", Class: plan.ClassMarketing}
			oldP.Campaigns = append(oldP.Campaigns, c)
			c.Name = newName
			if edit {
				c.SendAt = "2026-12-01T09:00:00Z"
			}
			newP.Campaigns = append(newP.Campaigns, c)
		case 3:
			w := plan.Workflow{
				Name: name, Type: "abandoned_cart", Model: "lead", Class: plan.ClassMarketing,
				Trigger: plan.Trigger{Event: "cart_abandoned"},
				Steps: []plan.Step{
					{Name: "wait", Kind: plan.StepWait, Duration: "1h"},
					{Name: "remind", Kind: plan.StepSend, Template: "tpl"},
					{Name: "check", Kind: plan.StepBranch, Engagement: &plan.Engagement{Step: "remind", Event: "opened"}, Then: "done"},
					{Name: "discount", Kind: plan.StepSend, Template: "tpl2"},
					{Name: "done", Kind: plan.StepExit},
				},
			}
			oldP.Workflows = append(oldP.Workflows, w)
			w.Name = newName
			if edit {
				w.Steps = append([]plan.Step(nil), w.Steps...)
				w.Steps[1].Template = "tpl3"
			}
			newP.Workflows = append(newP.Workflows, w)
		case 4:
			s := plan.Sequence{
				Name: name, Model: "lead", Segment: "seg", Sender: "news",
				Steps: []plan.SequenceStep{
					{Name: "week1", Offset: "0d", Template: "a"},
					{Name: "week2", Offset: "7d", Template: "b", When: &plan.Engagement{Step: "week1", Event: "ignored"}},
					{Name: "week3", Offset: "14d", Template: "c"},
				},
			}
			oldP.Sequences = append(oldP.Sequences, s)
			s.Name = newName
			if edit {
				s.Steps = append([]plan.SequenceStep(nil), s.Steps...)
				s.Steps[2].Offset = "21d"
			}
			newP.Sequences = append(newP.Sequences, s)
		}
	}
	oldP.Finalize()
	newP.Finalize()
	return oldP, newP
}

func TestGeneratedPlans(t *testing.T) {
	oldP, newP := generatedPlans(1000)
	d := diff.Plans(oldP, newP)
	// 100 objects differ: 34 edited, 33 renamed, 33 replaced (a removal and an
	// addition each).
	want := diff.Summary{Add: 33, Change: 34, Remove: 33, Rename: 33}
	if d.Summary != want {
		t.Errorf("summary %+v, want %+v", d.Summary, want)
	}
	if d.Unchanged != 900 {
		t.Errorf("%d unchanged, want 900", d.Unchanged)
	}
}

// TestMarkdownSizeLimit: a diff too big for one GitHub comment (65,536
// characters) is cut, says so, and stays a well-formed comment.
func TestMarkdownSizeLimit(t *testing.T) {
	oldP, newP := generatedPlans(3000)
	d := diff.Plans(oldP, newP)
	var b bytes.Buffer
	if err := diff.WriteMarkdown(&b, d); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	if n := utf8.RuneCountInString(md); n > 65536 {
		t.Errorf("comment has %d characters, GitHub takes 65,536", n)
	}
	if !strings.Contains(md, "not shown: the comment would exceed GitHub's size limit") {
		t.Error("a cut comment must say so")
	}
	if strings.Count(md, "<details>") != strings.Count(md, "</details>") {
		t.Error("unbalanced <details>")
	}
	if strings.Count(md, "```")%2 != 0 {
		t.Error("unbalanced code fences")
	}
}

// BenchmarkPlans diffs two generated plans of 1,000 objects with 10% changed.
func BenchmarkPlans(b *testing.B) {
	oldP, newP := generatedPlans(1000)
	b.ResetTimer()
	for b.Loop() {
		if d := diff.Plans(oldP, newP); !d.HasChanges() {
			b.Fatal("no changes")
		}
	}
}

// BenchmarkPlansAndRender is BenchmarkPlans plus the three views, which is what
// one `campaignctl diff` run does after loading the plans.
func BenchmarkPlansAndRender(b *testing.B) {
	oldP, newP := generatedPlans(1000)
	b.ResetTimer()
	for b.Loop() {
		d := diff.Plans(oldP, newP)
		if err := diff.WriteText(io.Discard, d, diff.TextOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := diff.WriteMarkdown(io.Discard, d); err != nil {
			b.Fatal(err)
		}
		if err := diff.WriteJSON(io.Discard, d); err != nil {
			b.Fatal(err)
		}
	}
}
