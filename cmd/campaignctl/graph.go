package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/campaignctl/campaignctl/compiler/graph"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// runGraph implements `campaignctl graph NAME [DIR|plan.json]`: draw one
// workflow or sequence as a Mermaid or DOT flowchart on stdout.
func runGraph(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("graph", "graph [flags] NAME [DIR|plan.json]", `
Draw one workflow (trigger, steps, next/then/else edges, exits, goal) or nurture
sequence (steps on their offsets, engagement conditions, goal) as a flowchart.
The source is a campaigns directory (default ./campaigns), which is compiled, or
a plan file.

Mermaid output renders in GitHub Markdown inside a mermaid code block; DOT output
is for Graphviz (dot -Tsvg).

Exit status: 0 on success, 1 on errors, 2 for a usage error.`, `  campaignctl graph lost_leads_nurture
  campaignctl graph --format dot onboarding campaigns | dot -Tsvg > onboarding.svg
  campaignctl graph --kind sequence welcome plan.json`, stderr)
	format := fs.String("format", "mermaid", "output: mermaid or dot")
	kind := fs.String("kind", "", "workflow or sequence, when both kinds have an object called NAME")
	positional, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "campaignctl graph: "+format+"\n", a...)
		fs.Usage()
		return 2
	}
	if len(positional) < 1 || len(positional) > 2 {
		return usageErr("NAME and at most one source expected, got %d arguments", len(positional))
	}
	if *format != "mermaid" && *format != "dot" {
		return usageErr("unknown format %q: use mermaid or dot", *format)
	}
	if *kind != "" && *kind != "workflow" && *kind != "sequence" {
		return usageErr("unknown kind %q: use workflow or sequence", *kind)
	}
	name, src := positional[0], defaultCampaignsDir
	if len(positional) == 2 {
		src = positional[1]
	}
	p, err := loadPlan(src, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "campaignctl graph: %v\n", err)
		return 1
	}

	w := findWorkflow(p, name)
	s := findSequence(p, name)
	if *kind == "workflow" {
		s = nil
	} else if *kind == "sequence" {
		w = nil
	}
	var g *graph.Graph
	switch {
	case w != nil && s != nil:
		fmt.Fprintf(stderr, "campaignctl graph: both a workflow and a sequence are called %q: pass --kind workflow or --kind sequence\n", name)
		return 1
	case w != nil:
		g = graph.Workflow(w)
	case s != nil:
		g = graph.Sequence(s)
	default:
		fmt.Fprintf(stderr, "campaignctl graph: no %s named %q in %s; %s\n", kindWords(*kind), name, src, available(p))
		return 1
	}
	out := g.Mermaid()
	if *format == "dot" {
		out = g.DOT()
	}
	if _, err := io.WriteString(stdout, out); err != nil {
		fmt.Fprintf(stderr, "campaignctl graph: %v\n", err)
		return 1
	}
	return 0
}

func findWorkflow(p *plan.Plan, name string) *plan.Workflow {
	for i := range p.Workflows {
		if p.Workflows[i].Name == name {
			return &p.Workflows[i]
		}
	}
	return nil
}

func findSequence(p *plan.Plan, name string) *plan.Sequence {
	for i := range p.Sequences {
		if p.Sequences[i].Name == name {
			return &p.Sequences[i]
		}
	}
	return nil
}

func kindWords(kind string) string {
	if kind == "" {
		return "workflow or sequence"
	}
	return kind
}

// available lists what can be drawn, so a typo is one look away from the fix.
func available(p *plan.Plan) string {
	var names []string
	for _, w := range p.Workflows {
		names = append(names, "workflow "+w.Name)
	}
	for _, s := range p.Sequences {
		names = append(names, "sequence "+s.Name)
	}
	if len(names) == 0 {
		return "it has no workflow or sequence"
	}
	return "it has: " + strings.Join(names, ", ")
}
