package graph

import (
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

func edgeSet(g *Graph) map[string]bool {
	out := map[string]bool{}
	for _, e := range g.Edges {
		s := e.From + "->" + e.To
		if e.Label != "" {
			s += ":" + e.Label
		}
		if e.Dotted {
			s += " (dotted)"
		}
		out[s] = true
	}
	return out
}

func TestWorkflowEdges(t *testing.T) {
	w := &plan.Workflow{
		Name:    "nps",
		Trigger: plan.Trigger{Event: "nps_response", Filter: `event.score >= 9`},
		Goal:    "lead.stage == \"Won\"",
		Steps: []plan.Step{
			{Name: "end", Kind: plan.StepBranch, Condition: "event.score >= 9", Then: "ask_review"},
			{Name: "sorry", Kind: plan.StepSend, Template: "sorry", Next: "graph"},
			{Name: "ask_review", Kind: plan.StepSend, Template: "review"},
			{Name: "graph", Kind: plan.StepSetProperty, Field: "nps_done", Value: "true", Next: "nowhere"},
			{Name: "stop", Kind: plan.StepExit},
		},
	}
	g := Workflow(w)
	got := edgeSet(g)
	// Step names that are Mermaid/DOT keywords ("end", "graph") get safe ids.
	for _, want := range []string{
		"trigger->s_end",
		"s_end->s_ask_review:yes",  // then
		"s_end->s_sorry:no",        // no else: the following step
		"s_sorry->s_graph",         // next
		"s_ask_review->s_graph",    // following step
		"s_graph->unknown_nowhere", // dangling reference, drawn not hidden
		"s_stop->finish",           // exit
		"trigger->goal:checked throughout (dotted)",
		"goal->finish:met: exit (dotted)",
	} {
		if !got[want] {
			t.Errorf("missing edge %s; have %v", want, got)
		}
	}
	if len(got) != 9 {
		t.Errorf("%d edges, want 9: %v", len(got), got)
	}
	if n := g.Step("end"); n == nil || n.ID != "s_end" || n.Shape != ShapeDiamond {
		t.Errorf("step end: %+v", n)
	}
}

// A branch without else goes to its next when the test fails, as the runner
// resolves it, not to the step after it.
func TestWorkflowBranchDefaultsToNext(t *testing.T) {
	g := Workflow(&plan.Workflow{
		Name:    "w",
		Trigger: plan.Trigger{Event: "signup"},
		Steps: []plan.Step{
			{Name: "check", Kind: plan.StepBranch, Condition: "true", Then: "welcome", Next: "bye"},
			{Name: "welcome", Kind: plan.StepSend, Template: "welcome"},
			{Name: "bye", Kind: plan.StepExit},
		},
	})
	got := edgeSet(g)
	if !got["s_check->s_bye:no"] || got["s_check->s_welcome:no"] {
		t.Errorf("else of check: want s_check->s_bye:no; have %v", got)
	}
}

func TestSequenceTimeline(t *testing.T) {
	s := &plan.Sequence{
		Name: "nurture", Segment: "lost",
		Steps: []plan.SequenceStep{
			{Name: "week1", Offset: "0d", Template: "a"},
			{Name: "w2_ignored", Offset: "7d", Template: "b", When: &plan.Engagement{Step: "week1", Event: "ignored"}},
			{Name: "w2_clicked", Offset: "7d", Template: "c", When: &plan.Engagement{Step: "week1", Event: "clicked", Within: "3d"}},
			{Name: "week3", Offset: "14d", Template: "d"},
		},
	}
	got := edgeSet(Sequence(s))
	for _, want := range []string{
		"trigger->at_0", "at_0->s_week1", "s_week1->at_1",
		"at_1->s_w2_ignored:if ignored week1", "at_1->s_w2_clicked:if clicked week1 within 3d",
		"at_1->at_2:otherwise (dotted)", // every week-2 step is gated
		"s_w2_ignored->at_2", "s_w2_clicked->at_2", "at_2->s_week3", "s_week3->finish",
	} {
		if !got[want] {
			t.Errorf("missing edge %s; have %v", want, got)
		}
	}
	if got["at_0->at_1:otherwise (dotted)"] {
		t.Error("week 1 is sent to everyone: no otherwise edge")
	}
}

func TestMermaidEscapesLabels(t *testing.T) {
	w := &plan.Workflow{
		Name:    "x",
		Trigger: plan.Trigger{Event: "page_view", Filter: "event.url < \"#a\" && `x` > 1"},
	}
	m := Workflow(w).Mermaid()
	line := strings.Split(m, "\n")[1]
	for _, bad := range []string{`"#a`, "<", ">", "&&", "`"} {
		label := strings.TrimSuffix(strings.TrimPrefix(line, `  trigger(["`), `"])`)
		if strings.Contains(strings.ReplaceAll(label, "<br/>", "\n"), bad) {
			t.Errorf("label keeps %q unescaped: %s", bad, line)
		}
	}
	if !strings.Contains(line, "event.url #lt; #quot;#35;a#quot; #amp;#amp; #96;x#96; #gt; 1") {
		t.Errorf("label: %s", line)
	}
}

func TestMarksAndDOT(t *testing.T) {
	w := &plan.Workflow{
		Name:    "x",
		Trigger: plan.Trigger{Event: "purchase"},
		Steps:   []plan.Step{{Name: "a", Kind: plan.StepSend, Template: `say "hi" \o/`}, {Name: "b", Kind: plan.StepWait, Duration: "1d"}},
	}
	g := Workflow(w)
	if !g.MarkStep("a", Changed) || g.MarkStep("nope", Added) {
		t.Fatal("MarkStep reports whether the step exists")
	}
	g.MarkStep("b", Added)
	g.AddRemoved([]string{"c", "d"})
	m := g.Mermaid()
	for _, want := range []string{"class s_a changed", "class s_b added", "class removed_steps removed", `removed_steps[["removed 2 steps<br/>c, d"]]`} {
		if !strings.Contains(m, want) {
			t.Errorf("mermaid lacks %q:\n%s", want, m)
		}
	}
	dot := g.DOT()
	for _, want := range []string{
		`digraph "workflow x" {`,
		`s_a [label="a\nsend say \"hi\" \\o/", shape=box, fillcolor="#fff8c5", color="#9a6700", style="filled"];`,
		`trigger -> s_a;`,
	} {
		if !strings.Contains(dot, want) {
			t.Errorf("dot lacks %q:\n%s", want, dot)
		}
	}
}
