package diff

import (
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"

	"github.com/campaignctl/campaignctl/compiler/graph"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// Marker starts every Markdown diff. It is an HTML comment, invisible on GitHub,
// by which CI finds the comment it posted before and updates it instead of
// adding one per push.
const Marker = "<!-- campaignctl-diff -->"

// maxMarkdownBytes keeps a comment under GitHub's 65,536-character limit with
// room to spare: past it, object sections and charts are left out (the summary
// table and warnings always stay) and the comment says how many.
const maxMarkdownBytes = 60000

// WriteMarkdown renders the diff as a pull-request comment: the marker, a
// summary table, warnings, impact, a collapsible section per object holding a
// ```diff block, and a Mermaid flowchart of every added or changed workflow and
// sequence with the steps that change highlighted. GitHub renders all of it
// without plugins.
func WriteMarkdown(w io.Writer, d *Diff) error {
	_, err := io.WriteString(w, markdown(d, maxMarkdownBytes))
	return err
}

func markdown(d *Diff, budget int) string {
	var head strings.Builder
	head.WriteString(Marker + "\n")
	head.WriteString("### campaignctl diff\n\n")
	if !d.HasChanges() {
		fmt.Fprintf(&head, "**No changes.** Plan `%s` is unchanged.\n", short(d.NewPlanHash))
		return head.String()
	}
	fmt.Fprintf(&head, "**%s** Base plan `%s` → new plan `%s`.\n\n", summaryLine(d.Summary), short(d.OldPlanHash), short(d.NewPlanHash))

	rows := make([]string, 0, len(d.Changes))
	for _, c := range d.Changes {
		name := "`" + mdCode(c.Name) + "`"
		if c.Action == Rename {
			name = "`" + mdCode(c.OldName) + "` → " + name
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s |\n", icon(c.Action), c.Kind, name, c.Action))
	}
	// The table must fit even for a huge diff: keep as many rows as leave half
	// the budget for the rest.
	table := "|   | Kind | Name | Action |\n| --- | --- | --- | --- |\n"
	shown := 0
	for _, r := range rows {
		if len(table)+len(r) > budget/2 {
			break
		}
		table += r
		shown++
	}
	if shown < len(rows) {
		table += fmt.Sprintf("|   | … | %d more | |\n", len(rows)-shown)
	}
	head.WriteString(table + "\n")

	if len(d.Warnings) > 0 {
		head.WriteString("> [!WARNING]\n")
		for _, wn := range d.Warnings {
			fmt.Fprintf(&head, "> - %s\n", mdText(wn.Message))
		}
		head.WriteString("\n")
	}
	if d.Impact == nil {
		fmt.Fprintf(&head, "**Impact:** not computed (%s).\n\n", mdText(d.impactSkippedReason()))
	} else if lines := impactLines(d.Impact); len(lines) > 0 {
		head.WriteString("**Impact:**\n\n")
		for _, l := range lines {
			fmt.Fprintf(&head, "- %s\n", mdText(l))
		}
		head.WriteString("\n")
	} else {
		head.WriteString("**Impact:** no audience or enrollment affected.\n\n")
	}

	out := head.String()
	omitted := 0
	// Room for the closing note about what was left out.
	const tail = 200
	for _, c := range d.Changes {
		sec := markdownObject(c)
		if len(out)+len(sec)+tail > budget {
			omitted++
			continue
		}
		out += sec
	}
	charts, highlighted := markdownCharts(d)
	chartsOmitted := 0
	if len(charts) > 0 {
		title := "#### Flowcharts\n\n"
		if highlighted {
			title += "Highlighted: added steps in green, changed in yellow, removed in red.\n\n"
		}
		if len(out)+len(title)+tail <= budget {
			out += title
			for _, ch := range charts {
				if len(out)+len(ch)+tail > budget {
					chartsOmitted++
					continue
				}
				out += ch
			}
		} else {
			chartsOmitted = len(charts)
		}
	}
	if omitted > 0 || chartsOmitted > 0 {
		out += fmt.Sprintf("_%s and %s not shown: the comment would exceed GitHub's size limit. Run `campaignctl diff` locally for everything._\n",
			plural(omitted, "object section"), plural(chartsOmitted, "flowchart"))
	}
	return out
}

func markdownObject(c ObjectChange) string {
	var b strings.Builder
	title := fmt.Sprintf("%s %s <code>%s</code>", icon(c.Action), c.Kind, html.EscapeString(c.Name))
	fmt.Fprintf(&b, "<details><summary>%s: %s</summary>\n\n", title, c.Action)
	if c.Action == Rename {
		fmt.Fprintf(&b, "Renamed from <code>%s</code>; content unchanged.\n\n</details>\n\n", html.EscapeString(c.OldName))
		return b.String()
	}
	var body strings.Builder
	for _, e := range entries(c) {
		switch {
		case e.action == Reorder:
			fmt.Fprintf(&body, "- %s order: %s\n+ %s order: %s\n", e.path, e.old, e.path, e.new)
		case e.lines != nil:
			fmt.Fprintf(&body, "@@ %s @@\n", e.path)
			for _, l := range e.lines {
				body.WriteString(markdownLine(l) + "\n")
			}
		case e.action == Add:
			fmt.Fprintf(&body, "+ %s: %s\n", e.path, e.new)
		case e.action == Remove:
			fmt.Fprintf(&body, "- %s: %s\n", e.path, e.old)
		default:
			fmt.Fprintf(&body, "- %s: %s\n+ %s: %s\n", e.path, e.old, e.path, e.new)
		}
	}
	fence := codeFence(body.String())
	fmt.Fprintf(&b, "%sdiff\n%s%s\n\n</details>\n\n", fence, body.String(), fence)
	return b.String()
}

// markdownLine writes a line of a text diff so GitHub's diff highlighting colours
// it: the first character is the operation.
func markdownLine(l LineOp) string {
	switch l.Kind {
	case LineAdd:
		return "+ " + l.Text
	case LineRemove:
		return "- " + l.Text
	case LineSkip:
		return "@@ … " + l.Text + " @@"
	case LineNote:
		return `\ ` + l.Text
	default:
		return strings.TrimRight("  "+l.Text, " ")
	}
}

// markdownCharts draws every added or changed workflow and sequence, with the
// steps the change touches marked; highlighted says whether any chart has marks.
func markdownCharts(d *Diff) (charts []string, highlighted bool) {
	var out []string
	for _, c := range d.Changes {
		if c.Action != Add && c.Action != Change {
			continue
		}
		var g *graph.Graph
		switch obj := c.New.(type) {
		case *plan.Workflow:
			g = graph.Workflow(obj)
		case *plan.Sequence:
			g = graph.Sequence(obj)
		default:
			continue
		}
		what := "new"
		if c.Action == Change {
			what = "changed"
			markChanges(g, c.Fields)
			highlighted = true
		}
		chart := g.Mermaid()
		fence := codeFence(chart)
		out = append(out, fmt.Sprintf("**%s `%s`** (%s)\n\n%smermaid\n%s%s\n\n", c.Kind, mdCode(c.Name), what, fence, chart, fence))
	}
	return out, highlighted
}

// markChanges marks, in the new graph, what the field changes touch: added and
// changed steps, steps moved by a reorder, the trigger (or a sequence's
// segment) and the goal; removed steps are listed in a node of their own.
func markChanges(g *graph.Graph, fields []FieldChange) {
	var removed []string
	// A step another change marked added keeps that mark.
	markChanged := func(step string) {
		if n := g.Step(step); n != nil && n.Mark == graph.Unmarked {
			n.Mark = graph.Changed
		}
	}
	for _, f := range fields {
		top, key, rest := splitPath(f.Path)
		switch {
		case top == "steps" && key != "":
			switch {
			case rest == "" && f.Action == Add:
				g.MarkStep(key, graph.Added)
			case rest == "" && f.Action == Remove:
				removed = append(removed, key)
			default:
				markChanged(key)
			}
		case top == "steps" && f.Action == Reorder:
			for _, name := range moved(f.Old, f.New) {
				markChanged(name)
			}
		case top == "trigger" || (g.Kind == "sequence" && top == "segment"):
			g.MarkRole(graph.RoleTrigger, graph.Changed)
		case top == "goal":
			if f.Action == Add {
				g.MarkRole(graph.RoleGoal, graph.Added)
			} else {
				g.MarkRole(graph.RoleGoal, graph.Changed)
			}
		}
	}
	g.AddRemoved(removed)
}

// moved returns the elements of a reorder whose position among the elements
// both sides have changed.
func moved(oldV, newV any) []string {
	oldNames, _ := oldV.([]string)
	newNames, _ := newV.([]string)
	inNew := map[string]bool{}
	for _, n := range newNames {
		inNew[n] = true
	}
	inOld := map[string]bool{}
	var oldCommon []string
	for _, n := range oldNames {
		inOld[n] = true
		if inNew[n] {
			oldCommon = append(oldCommon, n)
		}
	}
	var out []string
	i := 0
	for _, n := range newNames {
		if !inOld[n] {
			continue
		}
		if i < len(oldCommon) && oldCommon[i] != n {
			out = append(out, n)
		}
		i++
	}
	return out
}

// splitPath splits "steps[week2].template" into "steps", "week2", "template".
// Quoted keys (names that are not identifiers) are unquoted.
func splitPath(path string) (top, key, rest string) {
	i := strings.IndexAny(path, ".[")
	if i < 0 {
		return path, "", ""
	}
	top = path[:i]
	if path[i] == '.' {
		return top, "", path[i+1:]
	}
	after := path[i+1:]
	var end int
	if strings.HasPrefix(after, `"`) {
		q, err := strconv.QuotedPrefix(after)
		if err != nil {
			return top, "", ""
		}
		key, _ = strconv.Unquote(q)
		end = len(q)
	} else {
		end = strings.IndexByte(after, ']')
		if end < 0 {
			return top, "", ""
		}
		key = after[:end]
	}
	rest = strings.TrimPrefix(after[end:], "]")
	rest = strings.TrimPrefix(rest, ".")
	return top, key, rest
}

func icon(a Action) string {
	switch a {
	case Add:
		return "➕"
	case Remove:
		return "➖"
	case Rename:
		return "🔀"
	default:
		return "✏️"
	}
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	if hash == "" {
		return "(empty)"
	}
	return hash
}

// codeFence returns a backtick fence longer than any backtick run in body, so a
// template that contains ``` cannot close the block early.
func codeFence(body string) string {
	longest, run := 0, 0
	for _, r := range body {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// mdText escapes free text (a warning) so that nothing in an object's name or
// value turns into Markdown or HTML.
func mdText(s string) string {
	r := strings.NewReplacer(
		`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "<", "&lt;", ">", "&gt;",
		"[", `\[`, "]", `\]`, "|", `\|`, "\n", " ",
	)
	return r.Replace(s)
}

// mdCode makes text safe inside a single-backtick code span in a table cell.
func mdCode(s string) string {
	return strings.NewReplacer("`", "'", "|", `\|`, "\n", " ").Replace(s)
}
