package check

import (
	"fmt"
	"sort"
	"strings"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// stepGraph is the control flow of a workflow's steps, as the runtime follows
// it: steps run in order; a step's next jumps elsewhere; a branch goes to then
// or else (else defaults to the following step); an exit step, and the last
// step, end the workflow.
type stepGraph struct {
	steps []*ir.Step
	index map[string]int // the first step of each name
	// edges are built by check, once every reference is resolved.
	edges [][]stepEdge
	// broken is set when a jump names an unknown step: the graph is then
	// incomplete and reachability would report false positives.
	broken bool
}

// stepEdge leads from one step to another (to == end for the end of the
// workflow). jump is the attribute that says so, nil when the step simply
// falls through to the next one.
type stepEdge struct {
	to   int
	jump *ir.String
}

const end = -1

func newStepGraph(steps []*ir.Step) *stepGraph {
	g := &stepGraph{steps: steps, index: make(map[string]int, len(steps))}
	for i, s := range steps {
		if _, dup := g.index[s.Name.Value]; !dup {
			g.index[s.Name.Value] = i
		}
	}
	return g
}

func (g *stepGraph) names() []string { return keys(g.index) }

// resolve looks up a reference to a step, reporting an unknown one.
func (g *stepGraph) resolve(c *checker, owner, attr string, ref *ir.String) (int, bool) {
	if !usable(ref) {
		return 0, false
	}
	if i, ok := g.index[ref.Value]; ok {
		return i, true
	}
	g.broken = true
	c.errorf(ref.Content(), "%s: %s: unknown step %q%s", owner, attr, ref.Value, didYouMean(ref.Value, g.names())).Detail =
		fmt.Sprintf("Steps of this workflow: %s.", list(g.names()))
	return 0, false
}

// build resolves every jump and records the edges.
func (g *stepGraph) build(c *checker, owner string) {
	g.edges = make([][]stepEdge, len(g.steps))
	for i, s := range g.steps {
		so := fmt.Sprintf("step %q of %s", s.Name.Value, owner)
		following := end
		if i+1 < len(g.steps) {
			following = i + 1
		}
		// Where a missing jump goes: the following step, or for a branch its
		// next, which is then and else's default at run time
		// (flow.CompileWorkflow), so a loop through it is a loop here too.
		fallback := stepEdge{to: following}
		edge := func(attr string, ref *ir.String) {
			if ref == nil {
				g.edges[i] = append(g.edges[i], fallback)
				return
			}
			if to, ok := g.resolve(c, so, attr, ref); ok {
				g.edges[i] = append(g.edges[i], stepEdge{to: to, jump: ref})
			}
		}
		kind := ""
		if usable(s.Kind) {
			kind = s.Kind.Value
		}
		switch kind {
		case plan.StepExit:
			// Ends the workflow; a next on it is the schema's or nobody's business.
			if usable(s.Next) {
				c.warnf(s.Next.Content(), "%s: next is ignored: an exit step ends the workflow", so)
			}
		case plan.StepBranch:
			if usable(s.Next) {
				if to, ok := g.resolve(c, so, "next", s.Next); ok {
					fallback = stepEdge{to: to, jump: s.Next}
				}
				// next only stands in for a missing then or else; with
				// both, the runtime never reads it.
				if s.Then != nil && s.Else != nil {
					c.warnf(s.Next.Content(), "%s: next is ignored: the branch goes to then or else, and it sets both", so).Detail =
						"A branch's next is where it goes when the condition does not hold and it has no else. Remove next, or remove else to go to next instead."
				}
			}
			edge("then", s.Then)
			edge("else", s.Else)
		default:
			edge("next", s.Next)
		}
	}
}

// lint reports unreachable steps (a warning: dead
// configuration, often a jump that points at the wrong step) and loops (an
// error: a contact could go round forever, and since a send step sends at most
// once per contact, a loop cannot mean "send again").
// It must be called after build.
func (g *stepGraph) lint(c *checker, owner string) {
	if len(g.steps) == 0 {
		return
	}
	for _, cyc := range g.cycles() {
		names := make([]string, len(cyc)+1)
		for i, s := range cyc {
			names[i] = g.steps[s].Name.Value
		}
		names[len(cyc)] = names[0]
		jump := g.closingJump(cyc)
		rng := g.steps[cyc[0]].Name.Range
		if jump != nil {
			rng = jump.Content()
		}
		c.errorf(rng, "%s: steps form a loop: %s", owner, strings.Join(names, " → ")).Detail =
			"A workflow may not loop: a contact could go round it forever, and a send step is sent at most once to each contact anyway. Jump to a later step, or end with an exit step."
	}
	if g.broken {
		return
	}
	seen := g.reachable(0)
	for i, s := range g.steps {
		if !seen[i] && g.index[s.Name.Value] == i {
			c.warnf(s.Name.Range, "step %q of %s is never reached", s.Name.Value, owner).Detail =
				"No step leads to it: the step before it jumps elsewhere (next, then, else) or exits. Point a jump at it, or remove it."
		}
	}
}

// reachable returns the steps reachable from step from, itself included.
func (g *stepGraph) reachable(from int) []bool {
	seen := make([]bool, len(g.steps))
	stack := []int{from}
	seen[from] = true
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range g.edges[n] {
			if e.to != end && !seen[e.to] {
				seen[e.to] = true
				stack = append(stack, e.to)
			}
		}
	}
	return seen
}

// reaches reports whether step to can run after step from. It must be called
// after build.
func (g *stepGraph) reaches(from, to int) bool {
	if g.edges == nil {
		return true // not built: say nothing
	}
	for _, e := range g.edges[from] {
		if e.to == end {
			continue
		}
		if g.reachable(e.to)[to] {
			return true
		}
	}
	return false
}

// cycles returns each loop of the graph once, as the steps in order, starting
// at the loop's first step in source order.
func (g *stepGraph) cycles() [][]int {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(g.steps))
	var path []int
	var out [][]int
	seen := map[string]bool{}
	var visit func(n int)
	visit = func(n int) {
		color[n] = grey
		path = append(path, n)
		for _, e := range g.edges[n] {
			switch {
			case e.to == end:
			case color[e.to] == white:
				visit(e.to)
			case color[e.to] == grey:
				i := len(path) - 1
				for path[i] != e.to {
					i--
				}
				cyc := rotateToMin(append([]int(nil), path[i:]...))
				key := fmt.Sprint(cyc)
				if !seen[key] {
					seen[key] = true
					out = append(out, cyc)
				}
			}
		}
		path = path[:len(path)-1]
		color[n] = black
	}
	for i := range g.steps {
		if color[i] == white {
			visit(i)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

func rotateToMin(cyc []int) []int {
	first := 0
	for i, n := range cyc {
		if n < cyc[first] {
			first = i
		}
	}
	return append(cyc[first:], cyc[:first]...)
}

// closingJump returns the jump that leads back in the loop: an edge to a step
// at or before its source. Falling through only ever leads forward, so every
// loop has one.
func (g *stepGraph) closingJump(cyc []int) *ir.String {
	for i, from := range cyc {
		to := cyc[(i+1)%len(cyc)]
		if to > from {
			continue
		}
		for _, e := range g.edges[from] {
			if e.to == to && e.jump != nil {
				return e.jump
			}
		}
	}
	return nil
}
