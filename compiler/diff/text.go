package diff

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// TextOptions tune the text view.
type TextOptions struct {
	// Color writes ANSI colours: green adds, red removals, yellow changes and
	// warnings. The caller decides (a terminal, NO_COLOR unset, --color).
	Color bool
}

// contextLines is how many unchanged lines the views keep around each changed
// line of a long text (a template body, a CEL filter).
const contextLines = 3

// entry is one line (or, for a multi-line text, one block) of an object's
// change, in the form both views share.
type entry struct {
	action   Action
	path     string
	old, new string   // formatted single-line values
	lines    []LineOp // set for multi-line texts instead of old/new
}

// entries spells out the field changes of one object: sub-objects are
// flattened to leaves and multi-line texts diffed line by line.
func entries(c ObjectChange) []entry {
	var out []entry
	for _, f := range c.Fields {
		switch f.Action {
		case Reorder:
			out = append(out, entry{action: Reorder, path: f.Path, old: namesList(f.Old), new: namesList(f.New)})
		case Add, Remove:
			v := f.New
			if f.Action == Remove {
				v = f.Old
			}
			leaves := flatten(f.Path, v)
			if len(leaves) == 0 {
				leaves = []leaf{{f.Path, v}}
			}
			for _, l := range leaves {
				e := entry{action: f.Action, path: l.path}
				switch {
				case IsMultiline(l.value):
					e.lines = wholeText(f.Action, l.value.(string))
				case f.Action == Add:
					e.new = quoteValue(l.value)
				default:
					e.old = quoteValue(l.value)
				}
				out = append(out, e)
			}
		case Change:
			e := entry{action: Change, path: f.Path}
			os, oldIsString := f.Old.(string)
			ns, newIsString := f.New.(string)
			if oldIsString && newIsString && (IsMultiline(os) || IsMultiline(ns)) {
				e.lines = Context(Lines(os, ns), contextLines)
			} else {
				e.old, e.new = quoteValue(f.Old), quoteValue(f.New)
			}
			out = append(out, e)
		}
	}
	return out
}

func wholeText(action Action, s string) []LineOp {
	op := byte(LineAdd)
	if action == Remove {
		op = LineRemove
	}
	lines := splitLines(s)
	out := make([]LineOp, len(lines))
	for i, l := range lines {
		out[i] = LineOp{op, l}
	}
	return out
}

// WriteText renders the diff the way `terraform plan` does: one block per
// object (+ add, - remove, ~ change or rename), then warnings, the impact and
// the summary line.
func WriteText(w io.Writer, d *Diff, opts TextOptions) error {
	bw := bufio.NewWriter(w)
	p := textPainter{on: opts.Color}
	if !d.HasChanges() {
		bw.WriteString(summaryLine(d.Summary) + "\n")
		writeTextImpact(bw, d, p, false)
		return bw.Flush()
	}
	for _, c := range d.Changes {
		writeTextObject(bw, c, p)
		bw.WriteString("\n")
	}
	for _, wn := range d.Warnings {
		fmt.Fprintf(bw, "%s %s\n", p.paint(yellow, "Warning:"), wn.Message)
	}
	if len(d.Warnings) > 0 {
		bw.WriteString("\n")
	}
	writeTextImpact(bw, d, p, true)
	bw.WriteString(p.paint(bold, summaryLine(d.Summary)) + "\n")
	return bw.Flush()
}

func writeTextImpact(bw *bufio.Writer, d *Diff, p textPainter, changes bool) {
	if d.Impact == nil {
		if !changes {
			return // nothing changed, so there is no impact to miss
		}
		fmt.Fprintf(bw, "Impact: not computed (%s).\n\n", d.impactSkippedReason())
		return
	}
	lines := impactLines(d.Impact)
	if len(lines) == 0 {
		if changes {
			bw.WriteString("Impact: no audience or enrollment affected.\n\n")
		}
		return
	}
	bw.WriteString("Impact:\n")
	for _, l := range lines {
		fmt.Fprintf(bw, "  %s\n", l)
	}
	bw.WriteString("\n")
}

func writeTextObject(bw *bufio.Writer, c ObjectChange, p textPainter) {
	head := fmt.Sprintf("%s %q", c.Kind, c.Name)
	if c.Action == Rename {
		head = fmt.Sprintf("%s %q → %q (renamed, content unchanged)", c.Kind, c.OldName, c.Name)
	}
	fmt.Fprintf(bw, "  %s %s\n", p.action(c.Action), head)
	for _, e := range entries(c) {
		switch {
		case e.action == Reorder:
			fmt.Fprintf(bw, "      %s %s order: %s → %s\n", p.action(Change), e.path, e.old, e.new)
		case e.lines != nil:
			fmt.Fprintf(bw, "      %s %s:\n", p.action(e.action), e.path)
			for _, l := range e.lines {
				bw.WriteString(p.line(l) + "\n")
			}
		case e.action == Add:
			fmt.Fprintf(bw, "      %s %s: %s\n", p.action(Add), e.path, e.new)
		case e.action == Remove:
			fmt.Fprintf(bw, "      %s %s: %s\n", p.action(Remove), e.path, e.old)
		default:
			fmt.Fprintf(bw, "      %s %s: %s → %s\n", p.action(Change), e.path, e.old, e.new)
		}
	}
}

const (
	red    = "31"
	green  = "32"
	yellow = "33"
	cyan   = "36"
	bold   = "1"
)

type textPainter struct{ on bool }

func (p textPainter) paint(code, s string) string {
	if !p.on {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p textPainter) action(a Action) string {
	switch a {
	case Add:
		return p.paint(green, "+")
	case Remove:
		return p.paint(red, "-")
	default:
		return p.paint(yellow, "~")
	}
}

// line writes one line of a text diff, indented under its field. Control
// characters are shown escaped: a template must not be able to drive the
// reviewer's terminal.
func (p textPainter) line(l LineOp) string {
	const indent = "          "
	l.Text = visible(l.Text)
	switch l.Kind {
	case LineAdd:
		return indent + p.paint(green, "+ "+l.Text)
	case LineRemove:
		return indent + p.paint(red, "- "+l.Text)
	case LineSkip:
		return indent + p.paint(cyan, "  … "+l.Text)
	case LineNote:
		return indent + "  (" + l.Text + ")"
	default:
		return strings.TrimRight(indent+"  "+l.Text, " ")
	}
}

func visible(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) }
