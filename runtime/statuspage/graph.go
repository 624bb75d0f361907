package statuspage

import (
	"fmt"
	"slices"
)

// A chart is a Graph laid out for SVG: one node per row, top to bottom in the
// order a reader follows them (breadth-first from the trigger over solid
// edges, the end and the goal last); an arrow to the row just below is a
// straight line, any other arrow runs down or up a lane of its own to the
// right of the boxes. Crude next to Graphviz, but it needs no layout engine
// and no script, and every step's counts sit in its box.
type chart struct {
	Width, Height int
	Boxes         []chartBox
	Arrows        []chartArrow
}

type chartBox struct {
	X, Y, W, H int
	Role, Step string
	Lines      []chartText
}

type chartText struct {
	X, Y  int
	Text  string
	Class string
}

type chartArrow struct {
	D      string
	Dotted bool
	Label  string
	LX, LY int
}

const (
	boxX       = 10
	boxW       = 430
	lineH      = 16
	boxPad     = 8
	rowGap     = 34
	laneStart  = boxX + boxW + 24
	laneStride = 22
)

func layoutGraph(g *Graph) chart {
	if g == nil || len(g.Nodes) == 0 {
		return chart{}
	}
	order := graphOrder(g)
	row := map[string]int{}
	for i, n := range order {
		row[n.ID] = i
	}
	var c chart
	y := 10
	top := make([]int, len(order))
	bottom := make([]int, len(order))
	for i, n := range order {
		lines := len(n.Lines)
		if n.Counts != "" {
			lines++
		}
		h := 2*boxPad + lines*lineH
		b := chartBox{X: boxX, Y: y, W: boxW, H: h, Role: n.Role, Step: n.Step}
		ty := y + boxPad + lineH - 4
		for j, l := range n.Lines {
			class := "line"
			if j == 0 {
				class = "title"
			}
			b.Lines = append(b.Lines, chartText{X: boxX + 10, Y: ty, Text: l, Class: class})
			ty += lineH
		}
		if n.Counts != "" {
			b.Lines = append(b.Lines, chartText{X: boxX + 10, Y: ty, Text: n.Counts, Class: "counts"})
		}
		c.Boxes = append(c.Boxes, b)
		top[i], bottom[i] = y, y+h
		y += h + rowGap
	}
	lane := 0
	outs, ins := map[int]int{}, map[int]int{} // lane arrows leaving / entering a row so far
	for _, e := range g.Edges {
		from, okF := row[e.From]
		to, okT := row[e.To]
		if !okF || !okT {
			continue
		}
		a := chartArrow{Dotted: e.Dotted, Label: e.Label}
		if to == from+1 && !e.Dotted {
			x := boxX + boxW/2
			a.D = fmt.Sprintf("M%d,%d V%d", x, bottom[from], top[to]-2)
			a.LX, a.LY = x+8, bottom[from]+rowGap/2+4
		} else {
			// Arrows leaving or entering one box are spread down its right
			// side, each label just outside the box on its own arrow.
			x := laneStart + lane*laneStride
			lane++
			fy := min(top[from]+boxPad+outs[from]*lineH, bottom[from]-4)
			ty := min(top[to]+boxPad+ins[to]*8, bottom[to]-4)
			outs[from]++
			ins[to]++
			a.D = fmt.Sprintf("M%d,%d H%d V%d H%d", boxX+boxW, fy, x, ty, boxX+boxW+2)
			a.LX, a.LY = boxX+boxW+4, fy-3
		}
		c.Arrows = append(c.Arrows, a)
	}
	c.Width = laneStart + lane*laneStride + 160
	c.Height = y
	return c
}

// graphOrder puts the nodes in reading order, the end and the goal last. A
// workflow's nodes come in the order given (its steps as the plan lists
// them, the order its author reads); a sequence's, whose graph lists the
// offsets before the steps hanging from them, breadth first from the first
// node along solid edges, then any node not reached.
func graphOrder(g *Graph) []GraphNode {
	last := func(n GraphNode) bool { return n.Role == "end" || n.Role == "goal" }
	if !slices.ContainsFunc(g.Nodes, func(n GraphNode) bool { return n.Role == "offset" }) {
		var out []GraphNode
		for _, n := range g.Nodes {
			if !last(n) {
				out = append(out, n)
			}
		}
		for _, role := range []string{"end", "goal"} {
			for _, n := range g.Nodes {
				if n.Role == role {
					out = append(out, n)
				}
			}
		}
		return out
	}
	byID := map[string]GraphNode{}
	for _, n := range g.Nodes {
		byID[n.ID] = n
	}
	seen := map[string]bool{}
	var out []GraphNode
	queue := []string{g.Nodes[0].ID}
	seen[g.Nodes[0].ID] = true
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if !last(byID[id]) {
			out = append(out, byID[id])
		}
		for _, e := range g.Edges {
			if e.From == id && !e.Dotted && !seen[e.To] {
				if _, ok := byID[e.To]; ok {
					seen[e.To] = true
					queue = append(queue, e.To)
				}
			}
		}
	}
	for _, n := range g.Nodes {
		if !seen[n.ID] && !last(n) {
			out = append(out, n)
		}
	}
	for _, role := range []string{"end", "goal"} {
		for _, n := range g.Nodes {
			if n.Role == role && !slices.ContainsFunc(out, func(m GraphNode) bool { return m.ID == n.ID }) {
				out = append(out, n)
			}
		}
	}
	return out
}
