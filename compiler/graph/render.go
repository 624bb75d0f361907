package graph

import (
	"fmt"
	"strings"
)

// Colours of marked nodes, GitHub's own diff palette so the chart matches the
// diff around it, with dark text so it reads in dark mode too.
var markStyles = []struct {
	mark         Mark
	fill, stroke string
}{
	{Added, "#dafbe1", "#1a7f37"},
	{Changed, "#fff8c5", "#9a6700"},
	{Removed, "#ffebe9", "#cf222e"},
}

// Mermaid returns the graph as a Mermaid flowchart, without the ``` fence.
// Marked nodes get a class per mark (classDef added/changed/removed).
func (g *Graph) Mermaid() string {
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	for _, n := range g.Nodes {
		open, close := mermaidShape(n.Shape)
		fmt.Fprintf(&b, "  %s%s\"%s\"%s\n", n.ID, open, mermaidLabel(n.Lines), close)
	}
	for _, e := range g.Edges {
		arrow := "-->"
		if e.Dotted {
			arrow = "-.->"
		}
		if e.Label != "" {
			fmt.Fprintf(&b, "  %s %s|\"%s\"| %s\n", e.From, arrow, mermaidText(e.Label), e.To)
		} else {
			fmt.Fprintf(&b, "  %s %s %s\n", e.From, arrow, e.To)
		}
	}
	for _, st := range markStyles {
		var ids []string
		for _, n := range g.Nodes {
			if n.Mark == st.mark {
				ids = append(ids, n.ID)
			}
		}
		if len(ids) == 0 {
			continue
		}
		dash := ""
		if st.mark == Removed {
			dash = ",stroke-dasharray:4 3"
		}
		fmt.Fprintf(&b, "  classDef %s fill:%s,stroke:%s,color:#1f2328%s\n", st.mark, st.fill, st.stroke, dash)
		fmt.Fprintf(&b, "  class %s %s\n", strings.Join(ids, ","), st.mark)
	}
	return b.String()
}

func mermaidShape(s Shape) (string, string) {
	switch s {
	case ShapeRound:
		return "(", ")"
	case ShapeStadium:
		return "([", "])"
	case ShapeDiamond:
		return "{", "}"
	case ShapeHexagon:
		return "{{", "}}"
	case ShapeCircle:
		return "((", "))"
	case ShapeParallelogram:
		return "[/", "/]"
	case ShapeNote:
		return "[[", "]]"
	default:
		return "[", "]"
	}
}

func mermaidLabel(lines []string) string {
	parts := make([]string, len(lines))
	for i, l := range lines {
		parts[i] = mermaidText(l)
	}
	return strings.Join(parts, "<br/>")
}

// mermaidText escapes text for a quoted Mermaid label. Inside quotes only the
// quote itself ends the label, but labels are HTML, so < > & are entities too
// (a CEL "a < b" would otherwise vanish as a broken tag); # starts Mermaid's own
// entity syntax and ` its Markdown strings, so both are escaped first.
func mermaidText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '#':
			b.WriteString("#35;")
		case '"':
			b.WriteString("#quot;")
		case '<':
			b.WriteString("#lt;")
		case '>':
			b.WriteString("#gt;")
		case '&':
			b.WriteString("#amp;")
		case '`':
			b.WriteString("#96;")
		case '\n', '\r':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// DOT returns the graph in Graphviz DOT.
func (g *Graph) DOT() string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotQuote(g.Kind+" "+g.Name))
	b.WriteString("  rankdir=TB;\n")
	b.WriteString("  node [fontname=\"Helvetica\", fontsize=11];\n")
	b.WriteString("  edge [fontname=\"Helvetica\", fontsize=10];\n")
	for _, n := range g.Nodes {
		shape, styles := dotShape(n.Shape)
		attrs := []string{"label=" + dotQuote(strings.Join(n.Lines, "\n")), "shape=" + shape}
		for _, st := range markStyles {
			if n.Mark == st.mark {
				styles = append(styles, "filled")
				if n.Mark == Removed {
					styles = append(styles, "dashed")
				}
				attrs = append(attrs, "fillcolor="+dotQuote(st.fill), "color="+dotQuote(st.stroke))
			}
		}
		if len(styles) > 0 {
			attrs = append(attrs, "style="+dotQuote(strings.Join(styles, ",")))
		}
		fmt.Fprintf(&b, "  %s [%s];\n", n.ID, strings.Join(attrs, ", "))
	}
	for _, e := range g.Edges {
		var attrs []string
		if e.Label != "" {
			attrs = append(attrs, "label="+dotQuote(e.Label))
		}
		if e.Dotted {
			attrs = append(attrs, "style=dotted")
		}
		if len(attrs) > 0 {
			fmt.Fprintf(&b, "  %s -> %s [%s];\n", e.From, e.To, strings.Join(attrs, ", "))
		} else {
			fmt.Fprintf(&b, "  %s -> %s;\n", e.From, e.To)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func dotShape(s Shape) (string, []string) {
	switch s {
	case ShapeRound, ShapeStadium:
		return "box", []string{"rounded"}
	case ShapeDiamond:
		return "diamond", nil
	case ShapeHexagon:
		return "hexagon", nil
	case ShapeCircle:
		return "doublecircle", nil
	case ShapeParallelogram:
		return "parallelogram", nil
	case ShapeNote:
		return "note", nil
	default:
		return "box", nil
	}
}

// dotQuote writes a DOT string: the only escapes DOT knows are \" and, for
// labels, \n; a backslash is doubled so a CEL regex keeps its meaning.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", "")
	return `"` + r.Replace(s) + `"`
}
