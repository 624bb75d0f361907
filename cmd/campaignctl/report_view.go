package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The views of a reportDoc: text (tables, A/B verdicts and a funnel per step),
// markdown (what CI posts on a pull request), csv (one row per object, step
// and variant, for spreadsheets; the A/B verdicts are in the other views) and
// json (the document itself, docs/report.md).

func writeReport(w io.Writer, doc reportDoc, format string) error {
	switch format {
	case "json":
		return writeJSON(w, doc)
	case "markdown":
		return writeReportMarkdown(w, doc)
	case "csv":
		return writeReportCSV(w, doc)
	}
	return writeReportText(w, doc)
}

// The columns of the text and markdown tables, in order.
var reportColumns = []string{"SENT", "RECEIVED", "OPENED", "CLICKED", "REPLIED", "BOUNCED", "IGNORED", "MACHINE", "GOALS"}

func (n reportNumbers) cells() []string {
	goals := "-"
	if n.Goals != nil {
		goals = n.Goals.String()
	}
	return []string{strconv.FormatInt(n.Sent, 10), n.Received.String(), n.Opened.String(), n.Clicked.String(),
		n.Replied.String(), n.Bounced.String(), n.Ignored.String(), n.MachineOpened.String(), goals}
}

// String is "18 (90.0%)", or "0 (-)" without a denominator.
func (r reportRate) String() string {
	if r.Percent == nil {
		return fmt.Sprintf("%d (-)", r.Count)
	}
	return fmt.Sprintf("%d (%s)", r.Count, percent(*r.Percent))
}

func percent(p float64) string { return strconv.FormatFloat(p, 'f', 1, 64) + "%" }

func stepLabel(o reportObject, s reportStep) string {
	name := s.Name
	if name == "" {
		name = "-"
	}
	if !s.InPlan && o.Kind != "autoresponder" {
		name += " (not in plan)"
	}
	return name
}

func variantLabel(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

// objectSummary is the line under an object's title.
func objectSummary(o reportObject) string {
	var parts []string
	if c := o.Campaign; c != nil {
		status := c.Status
		if status == "" {
			status = "not picked up by the daemon yet"
		}
		parts = append(parts, status, c.Health)
		if c.Audience != nil {
			parts = append(parts, fmt.Sprintf("audience %d", *c.Audience))
		}
	}
	if o.Enrolled != nil {
		g := o.Totals.Goals
		goal := fmt.Sprintf("%d enrolled, %s reached the goal", *o.Enrolled, g.String())
		if o.GoalsBeforeFirstSend > 0 {
			goal += fmt.Sprintf(" (%d before any message)", o.GoalsBeforeFirstSend)
		}
		parts = append(parts, goal)
	}
	ns := o.Totals.NotSent
	parts = append(parts, fmt.Sprintf("not sent: %d pending, %d failed, %d cancelled", ns.Pending, ns.Failed, ns.Cancelled))
	return strings.Join(parts, "; ")
}

func reportHeader(doc reportDoc) string {
	r := doc.Revision
	if r == nil {
		return nothingApplied
	}
	h := fmt.Sprintf("revision %d (plan %s) applied %s", r.ID, short(r.PlanHash), r.AppliedAt.Format(time.RFC3339))
	if r.AppliedBy != "" {
		h += " by " + r.AppliedBy
	}
	return h
}

func notMeasuredLine(doc reportDoc) string {
	var names []string
	for _, m := range doc.NotMeasured {
		names = append(names, m.Metric)
	}
	return "not measured: " + strings.Join(names, ", ") + " (the plan declares no opportunity, quotation or invoice model)"
}

func writeReportText(w io.Writer, doc reportDoc) error {
	var b bytes.Buffer
	fmt.Fprintln(&b, reportHeader(doc))
	fmt.Fprintln(&b, notMeasuredLine(doc))
	if len(doc.Objects) == 0 {
		fmt.Fprintln(&b, "\nno objects: the revision declares none")
	}
	for _, o := range doc.Objects {
		fmt.Fprintf(&b, "\n%s %s (model %s): %s\n", o.Kind, o.Name, o.Model, objectSummary(o))
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  STEP\tVARIANT\t"+strings.Join(reportColumns, "\t"))
		fmt.Fprintln(tw, "  (all)\t\t"+strings.Join(o.Totals.cells(), "\t"))
		for _, s := range o.Steps {
			fmt.Fprintln(tw, "  "+stepLabel(o, s)+"\t\t"+strings.Join(s.Numbers.cells(), "\t"))
			for _, v := range s.Variants {
				fmt.Fprintln(tw, "  \t"+variantLabel(v.Name)+"\t"+strings.Join(v.Numbers.cells(), "\t"))
			}
		}
		tw.Flush()
		for _, t := range o.ABTests {
			writeABText(&b, t)
		}
		writeFunnel(&b, o)
	}
	_, err := w.Write(trimLines(b.Bytes()))
	return err
}

// trimLines drops the spaces tabwriter leaves at the end of lines.
func trimLines(b []byte) []byte {
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return []byte(strings.Join(lines, "\n"))
}

func abTitle(t reportABTest) string {
	title := "A/B test"
	if t.Step != "" {
		title += " on " + t.Step
	}
	title += ": " + t.Metric
	if t.Test != "" {
		title += " by " + t.Test
	}
	return title
}

// abValue formats a variant's figure: a rate as a percentage, revenue as a
// mean per contact.
func abValue(metric string, v *float64) string {
	if v == nil {
		return "-"
	}
	if metric == "revenue" {
		return strconv.FormatFloat(*v, 'f', 2, 64)
	}
	return percent(100 * *v)
}

func abInterval(metric string, v reportABVariant) string {
	if v.Low == nil {
		return "-"
	}
	return "[" + abValue(metric, v.Low) + ", " + abValue(metric, v.High) + "]"
}

func abVerdict(t reportABTest) string {
	p := "p n/a"
	if t.PValue != nil {
		p = "p=" + strconv.FormatFloat(*t.PValue, 'g', 3, 64)
	}
	if t.State != "decided" {
		if t.PValue != nil {
			return t.Reason + "; so far " + p
		}
		return t.Reason
	}
	verdict := "inconclusive (" + t.Decision + ")"
	if !t.Inconclusive {
		verdict = "winner " + t.Winner
	}
	return fmt.Sprintf("decided %s: %s, %s: %s", t.DecidedAt.Format(time.RFC3339), verdict, p, t.Reason)
}

func writeABText(b *bytes.Buffer, t reportABTest) {
	fmt.Fprintf(b, "  %s\n", abTitle(t))
	tw := tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    VARIANT\tVALUE\t95% INTERVAL\tSENT\tSUCCESSES\t")
	for _, v := range t.Variants {
		sent, succ := "-", "-"
		if v.Sent != nil {
			sent, succ = strconv.FormatInt(*v.Sent, 10), strconv.FormatInt(*v.Successes, 10)
		}
		mark := ""
		if v.Winner {
			mark = "winner"
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\t%s\n", v.Name, abValue(t.Metric, v.Value), abInterval(t.Metric, v), sent, succ, mark)
	}
	tw.Flush()
	fmt.Fprintf(b, "    %s\n", abVerdict(t))
}

// funnelWidth is the length of a full bar (100% of sent).
const funnelWidth = 30

// writeFunnel draws, per step, sent → received → opened → clicked → replied as
// bars scaled to the step's sent, each with its share of sent.
func writeFunnel(b *bytes.Buffer, o reportObject) {
	fmt.Fprintln(b, "  funnel per step (bars and percentages: share of sent)")
	for _, s := range o.Steps {
		fmt.Fprintf(b, "    %s\n", stepLabel(o, s))
		n := s.Numbers
		for _, row := range []struct {
			label string
			count int64
		}{{"sent", n.Sent}, {"received", n.Received.Count}, {"opened", n.Opened.Count}, {"clicked", n.Clicked.Count}, {"replied", n.Replied.Count}} {
			bar, share := "", "-"
			if n.Sent > 0 {
				f := float64(row.count) / float64(n.Sent)
				bar = strings.Repeat("#", int(f*funnelWidth+0.5))
				share = percent(100 * f)
			}
			fmt.Fprintf(b, "      %-8s %7d  %-*s %6s\n", row.label, row.count, funnelWidth, bar, share)
		}
	}
}

func writeReportMarkdown(w io.Writer, doc reportDoc) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "### campaignctl report\n\n%s. N%s.\n", reportHeader(doc), strings.TrimPrefix(notMeasuredLine(doc), "n"))
	for _, o := range doc.Objects {
		fmt.Fprintf(&b, "\n#### %s `%s` (model %s)\n\n%s.\n\n", o.Kind, o.Name, o.Model, objectSummary(o))
		fmt.Fprintln(&b, "| step | variant | "+strings.ToLower(strings.Join(reportColumns, " | "))+" |")
		fmt.Fprintln(&b, "|---|---|"+strings.Repeat("---:|", len(reportColumns)))
		fmt.Fprintln(&b, "| **all** | | "+strings.Join(o.Totals.cells(), " | ")+" |")
		for _, s := range o.Steps {
			fmt.Fprintln(&b, "| "+mdEscape(stepLabel(o, s))+" | | "+strings.Join(s.Numbers.cells(), " | ")+" |")
			for _, v := range s.Variants {
				fmt.Fprintln(&b, "| | "+mdEscape(variantLabel(v.Name))+" | "+strings.Join(v.Numbers.cells(), " | ")+" |")
			}
		}
		for _, t := range o.ABTests {
			fmt.Fprintf(&b, "\n**%s**: %s\n\n", mdEscape(abTitle(t)), mdEscape(abVerdict(t)))
			fmt.Fprintln(&b, "| variant | value | 95% interval | sent | successes | |")
			fmt.Fprintln(&b, "|---|---:|---|---:|---:|---|")
			for _, v := range t.Variants {
				sent, succ := "-", "-"
				if v.Sent != nil {
					sent, succ = strconv.FormatInt(*v.Sent, 10), strconv.FormatInt(*v.Successes, 10)
				}
				mark := ""
				if v.Winner {
					mark = "**winner**"
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", mdEscape(v.Name), abValue(t.Metric, v.Value), abInterval(t.Metric, v), sent, succ, mark)
			}
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// mdEscape keeps a name or sentence from breaking a markdown table.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

var reportCSVHeader = []string{"kind", "object", "level", "step", "variant", "sent",
	"received", "received_pct", "opened", "opened_pct", "clicked", "clicked_pct", "replied", "replied_pct",
	"bounced", "bounced_pct", "ignored", "ignored_pct", "machine_opened", "machine_opened_pct",
	"complained", "complained_pct", "goals", "goals_pct", "pending", "failed", "cancelled"}

// writeReportCSV writes one row per object (level "object"), step and variant.
// Percentages have two decimals; an empty cell has no denominator (or, for
// goals, no goal: a campaign).
func writeReportCSV(w io.Writer, doc reportDoc) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(reportCSVHeader); err != nil {
		return err
	}
	row := func(o reportObject, level, step, variant string, n reportNumbers) []string {
		r := []string{o.Kind, o.Name, level, step, variant, strconv.FormatInt(n.Sent, 10)}
		for _, x := range []reportRate{n.Received, n.Opened, n.Clicked, n.Replied, n.Bounced, n.Ignored, n.MachineOpened, n.Complained} {
			r = append(r, strconv.FormatInt(x.Count, 10), csvPercent(x.Percent))
		}
		if n.Goals != nil {
			r = append(r, strconv.FormatInt(n.Goals.Count, 10), csvPercent(n.Goals.Percent))
		} else {
			r = append(r, "", "")
		}
		return append(r, strconv.FormatInt(n.NotSent.Pending, 10), strconv.FormatInt(n.NotSent.Failed, 10), strconv.FormatInt(n.NotSent.Cancelled, 10))
	}
	for _, o := range doc.Objects {
		if err := cw.Write(row(o, "object", "", "", o.Totals)); err != nil {
			return err
		}
		for _, s := range o.Steps {
			if err := cw.Write(row(o, "step", s.Name, "", s.Numbers)); err != nil {
				return err
			}
			for _, v := range s.Variants {
				if err := cw.Write(row(o, "variant", s.Name, v.Name, v.Numbers)); err != nil {
					return err
				}
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvPercent(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'f', 2, 64)
}
