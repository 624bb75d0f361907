package graph

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// Shape is how a node is drawn; each maps to a Mermaid and a DOT shape.
type Shape int

const (
	ShapeBox           Shape = iota // send
	ShapeRound                      // property and owner steps
	ShapeStadium                    // trigger, offsets
	ShapeDiamond                    // branch
	ShapeHexagon                    // goal
	ShapeCircle                     // end
	ShapeParallelogram              // wait
	ShapeNote                       // removed steps, unknown targets
)

// Role says what a node stands for.
type Role string

const (
	RoleTrigger Role = "trigger"
	RoleStep    Role = "step"
	RoleOffset  Role = "offset"
	RoleGoal    Role = "goal"
	RoleEnd     Role = "end"
	RoleUnknown Role = "unknown"
	RoleRemoved Role = "removed"
)

// Mark highlights a node in a diff.
type Mark string

const (
	Unmarked Mark = ""
	Added    Mark = "added"
	Changed  Mark = "changed"
	Removed  Mark = "removed"
)

// Node is one box of the chart.
type Node struct {
	// ID is unique in the graph and safe as a Mermaid or DOT identifier.
	ID   string
	Role Role
	// Step is the step's name for RoleStep nodes, the missing name for
	// RoleUnknown ones, "" otherwise.
	Step string
	// Lines is the label, one entry per line; the first is the title.
	Lines []string
	Shape Shape
	Mark  Mark
}

// Edge is one arrow.
type Edge struct {
	From, To string
	Label    string
	// Dotted is for edges that are not a step-to-step path: the goal, which can
	// end the flow at any time, and "otherwise" past gated sequence steps.
	Dotted bool
}

// Graph is a flowchart of one workflow or sequence.
type Graph struct {
	Kind  string // "workflow" or "sequence"
	Name  string
	Nodes []*Node
	Edges []Edge

	ids map[string]bool
}

// maxLabel bounds a CEL condition or filter in a label; the full text is in the
// plan and the diff, the chart only needs to say which it is.
const maxLabel = 60

func newGraph(kind, name string) *Graph {
	return &Graph{Kind: kind, Name: name, ids: map[string]bool{}}
}

func (g *Graph) add(n *Node) *Node {
	n.ID = g.uniqueID(n.ID)
	g.Nodes = append(g.Nodes, n)
	return n
}

func (g *Graph) edge(from, to *Node, label string, dotted bool) {
	g.Edges = append(g.Edges, Edge{From: from.ID, To: to.ID, Label: label, Dotted: dotted})
}

// uniqueID makes id safe (letters, digits, underscore) and unused. Step names
// become part of ids so a hand-edited chart stays readable, but never bare: a
// step called "end" or "graph" would be a Mermaid or DOT keyword.
func (g *Graph) uniqueID(id string) string {
	var b strings.Builder
	for _, r := range id {
		if r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	base := b.String()
	out := base
	for i := 2; g.ids[out]; i++ {
		out = base + "_" + strconv.Itoa(i)
	}
	g.ids[out] = true
	return out
}

// Step returns the node of a step, or nil.
func (g *Graph) Step(name string) *Node {
	for _, n := range g.Nodes {
		if n.Role == RoleStep && n.Step == name {
			return n
		}
	}
	return nil
}

// MarkStep marks a step's node; it reports whether the step exists.
func (g *Graph) MarkStep(name string, m Mark) bool {
	if n := g.Step(name); n != nil {
		n.Mark = m
		return true
	}
	return false
}

// MarkRole marks every node with the given role (the trigger, the goal).
func (g *Graph) MarkRole(role Role, m Mark) {
	for _, n := range g.Nodes {
		if n.Role == role {
			n.Mark = m
		}
	}
}

// AddRemoved adds one node listing steps that the old version had and this one
// has not, so a reviewer sees them in the chart too.
func (g *Graph) AddRemoved(steps []string) {
	if len(steps) == 0 {
		return
	}
	lines := []string{"removed " + plural(len(steps), "step")}
	lines = append(lines, strings.Join(steps, ", "))
	g.add(&Node{ID: "removed_steps", Role: RoleRemoved, Lines: lines, Shape: ShapeNote, Mark: Removed})
}

// Workflow draws a workflow: trigger, steps in order with next, then and else
// edges, exit steps and the end, and the goal as a dotted way out.
func Workflow(w *plan.Workflow) *Graph {
	g := newGraph("workflow", w.Name)
	trigger := g.add(&Node{ID: "trigger", Role: RoleTrigger, Lines: triggerLines(w.Trigger), Shape: ShapeStadium})
	steps := make([]*Node, len(w.Steps))
	byName := map[string]*Node{}
	for i, s := range w.Steps {
		steps[i] = g.add(&Node{ID: "s_" + s.Name, Role: RoleStep, Step: s.Name, Lines: stepLines(s), Shape: stepShape(s.Kind)})
		if _, dup := byName[s.Name]; !dup {
			byName[s.Name] = steps[i]
		}
	}
	end := g.add(&Node{ID: "finish", Role: RoleEnd, Lines: []string{"end"}, Shape: ShapeCircle})
	unknown := map[string]*Node{}
	target := func(name string, following *Node) *Node {
		if name == "" {
			return following
		}
		if n, ok := byName[name]; ok {
			return n
		}
		if n, ok := unknown[name]; ok {
			return n
		}
		n := g.add(&Node{ID: "unknown_" + name, Role: RoleUnknown, Step: name, Lines: []string{"unknown step", name}, Shape: ShapeNote})
		unknown[name] = n
		return n
	}
	if len(steps) > 0 {
		g.edge(trigger, steps[0], "", false)
	} else {
		g.edge(trigger, end, "", false)
	}
	for i, s := range w.Steps {
		following := end
		if i+1 < len(steps) {
			following = steps[i+1]
		}
		switch s.Kind {
		case plan.StepExit:
			g.edge(steps[i], end, "", false)
		case plan.StepBranch:
			// then and else default to the branch's next, as the runner
			// resolves them (flow.CompileWorkflow).
			def := target(s.Next, following)
			g.edge(steps[i], target(s.Then, def), "yes", false)
			g.edge(steps[i], target(s.Else, def), "no", false)
		default:
			g.edge(steps[i], target(s.Next, following), "", false)
		}
	}
	g.addGoal(w.Goal, trigger, end)
	return g
}

// Sequence draws a nurture sequence as a timeline: enrollment, one node per
// offset in the order the steps give them, the steps sent at each offset with
// their engagement conditions, the end, and the goal as a dotted way out.
func Sequence(s *plan.Sequence) *Graph {
	g := newGraph("sequence", s.Name)
	enroll := []string{"enroll"}
	if s.Segment != "" {
		enroll = append(enroll, "segment "+s.Segment)
	}
	trigger := g.add(&Node{ID: "trigger", Role: RoleTrigger, Lines: enroll, Shape: ShapeStadium})

	type group struct {
		offset string
		steps  []plan.SequenceStep
	}
	var groups []*group
	byOffset := map[string]*group{}
	for _, st := range s.Steps {
		gr, ok := byOffset[st.Offset]
		if !ok {
			gr = &group{offset: st.Offset}
			byOffset[st.Offset] = gr
			groups = append(groups, gr)
		}
		gr.steps = append(gr.steps, st)
	}
	hubs := make([]*Node, len(groups))
	for i, gr := range groups {
		hubs[i] = g.add(&Node{ID: fmt.Sprintf("at_%d", i), Role: RoleOffset, Lines: []string{offsetLabel(gr.offset)}, Shape: ShapeStadium})
	}
	end := g.add(&Node{ID: "finish", Role: RoleEnd, Lines: []string{"end"}, Shape: ShapeCircle})
	if len(hubs) == 0 {
		g.edge(trigger, end, "", false)
	} else {
		g.edge(trigger, hubs[0], "", false)
	}
	for i, gr := range groups {
		next := end
		if i+1 < len(hubs) {
			next = hubs[i+1]
		}
		allGated := true
		for _, st := range gr.steps {
			n := g.add(&Node{ID: "s_" + st.Name, Role: RoleStep, Step: st.Name, Lines: sequenceStepLines(st), Shape: ShapeBox})
			label := ""
			if st.When != nil {
				label = "if " + engagementText(st.When)
			} else {
				allGated = false
			}
			g.edge(hubs[i], n, label, false)
			g.edge(n, next, "", false)
		}
		if allGated {
			g.edge(hubs[i], next, "otherwise", true)
		}
	}
	g.addGoal(s.Goal, trigger, end)
	return g
}

// addGoal draws a goal as a dotted way out: checked from enrollment on, and
// ending the flow when met. No goal, no node.
func (g *Graph) addGoal(cond string, trigger, end *Node) {
	if cond == "" {
		return
	}
	goal := g.add(&Node{ID: "goal", Role: RoleGoal, Lines: []string{"goal", shorten(cond)}, Shape: ShapeHexagon})
	g.edge(trigger, goal, "checked throughout", true)
	g.edge(goal, end, "met: exit", true)
}

func triggerLines(t plan.Trigger) []string {
	lines := []string{"trigger: " + orDash(t.Event)}
	add := func(label, v string) {
		if v != "" {
			lines = append(lines, label+" "+v)
		}
	}
	add("segment", t.Segment)
	add("topic", t.Topic)
	if t.Threshold != 0 {
		add("threshold", strconv.FormatFloat(t.Threshold, 'f', -1, 64))
	}
	add("within", t.Window)
	add("inactive for", t.InactiveFor)
	add("field", t.Field)
	if t.Filter != "" {
		add("if", shorten(t.Filter))
	}
	return lines
}

func stepLines(s plan.Step) []string {
	lines := []string{s.Name}
	switch s.Kind {
	case plan.StepSend:
		lines = append(lines, "send "+s.Template)
	case plan.StepWait:
		lines = append(lines, waitText(s))
	case plan.StepBranch:
		if s.Engagement != nil {
			lines = append(lines, "if "+engagementText(s.Engagement))
		}
		if s.Condition != "" {
			lines = append(lines, "if "+shorten(s.Condition))
		}
	case plan.StepSetProperty:
		lines = append(lines, fmt.Sprintf("set %s = %s", s.Field, s.Value))
	case plan.StepClearProperty:
		lines = append(lines, "clear "+s.Field)
	case plan.StepNotifyOwner:
		lines = append(lines, "notify owner: "+s.Template)
	case plan.StepAssignOwner:
		lines = append(lines, "assign owner: "+strings.Join(s.Owners, ", "))
	case plan.StepExit:
		lines = append(lines, "exit")
	default:
		lines = append(lines, s.Kind)
	}
	if s.ABTest != nil {
		lines = append(lines, abText(s.ABTest))
	}
	return lines
}

func sequenceStepLines(s plan.SequenceStep) []string {
	lines := []string{s.Name, "send " + s.Template}
	if s.ABTest != nil {
		lines = append(lines, abText(s.ABTest))
	}
	return lines
}

func stepShape(kind string) Shape {
	switch kind {
	case plan.StepSend, plan.StepNotifyOwner:
		return ShapeBox
	case plan.StepWait:
		return ShapeParallelogram
	case plan.StepBranch:
		return ShapeDiamond
	case plan.StepExit:
		return ShapeStadium
	default:
		return ShapeRound
	}
}

func waitText(s plan.Step) string {
	if s.RelativeTo == "" {
		return "wait " + s.Duration
	}
	if d, ok := strings.CutPrefix(s.Duration, "-"); ok {
		return fmt.Sprintf("wait until %s before %s", d, s.RelativeTo)
	}
	return fmt.Sprintf("wait until %s after %s", s.Duration, s.RelativeTo)
}

func engagementText(e *plan.Engagement) string {
	s := e.Event + " " + e.Step
	if e.Within != "" {
		s += " within " + e.Within
	}
	return s
}

func abText(ab *plan.ABTest) string {
	names := make([]string, len(ab.Variants))
	for i, v := range ab.Variants {
		names[i] = v.Name
	}
	return fmt.Sprintf("A/B %s (%d%%, by %s)", strings.Join(names, "/"), ab.TestPercent, ab.Metric)
}

func offsetLabel(offset string) string {
	switch strings.TrimSpace(offset) {
	case "", "0", "0d", "0s", "0h", "0m":
		return "at enrollment"
	}
	return "+" + strings.TrimPrefix(offset, "+")
}

// shorten puts a CEL expression on one line and cuts it to maxLabel runes.
func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) > maxLabel {
		return string(r[:maxLabel-1]) + "…"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
