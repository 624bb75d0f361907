package main

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/compiler/graph"
	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/statuspage"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// uiSource gives the status page (runtime/statuspage) what `campaignctl
// status`, `report`, `explain` and `timeline` compute, through the same
// functions, so the page and the CLI cannot disagree. It only turns their
// documents into the page's views; the words (labels, verdicts, messages)
// are the CLI's.
type uiSource struct {
	st *store.Store
	// now is the daemon's clock: it words the A/B tests not decided yet and
	// is the instant explain evaluates segment membership at.
	now func() time.Time
}

var _ statuspage.Source = (*uiSource)(nil)

// uiTimelineLimit keeps a contact's timeline on the page to timeline's
// default screenful.
const uiTimelineLimit = defaultTimelineLimit

func (u *uiSource) Overview(ctx context.Context) (statuspage.Overview, error) {
	in, err := readStatus(ctx, u.st)
	if errors.Is(err, store.ErrNoRevision) {
		return statuspage.Overview{NothingApplied: true}, nil
	}
	if err != nil {
		return statuspage.Overview{}, err
	}
	doc := buildStatus(in)
	rep, err := readReport(ctx, u.st, "", u.now())
	if err != nil {
		return statuspage.Overview{}, err
	}
	reports := map[objectKey]*reportObject{}
	for i := range rep.Objects {
		o := &rep.Objects[i]
		reports[objectKey{o.Kind, o.Name}] = o
	}
	ov := statuspage.Overview{Revision: revisionLine(doc.Revision), Objects: []statuspage.ObjectRow{}}
	for _, o := range doc.Objects {
		ov.Objects = append(ov.Objects, uiRow(o, reports[objectKey{o.Kind, o.Name}]))
	}
	return ov, nil
}

// uiRow is status's line with report's totals, when report covers the
// object (an object removed from the plan has no report).
func uiRow(o statusObject, r *reportObject) statuspage.ObjectRow {
	row := statuspage.ObjectRow{Kind: o.Kind, Name: o.Name, Sync: o.Sync, Health: o.Health, Message: o.Message}
	if r != nil && o.Sync == syncSynced {
		t := r.Totals
		row.Report = true
		row.Sent = t.Sent
		row.Received, row.Opened, row.Clicked = uiRate(t.Received), uiRate(t.Opened), uiRate(t.Clicked)
		row.Replied, row.Bounced = uiRate(t.Replied), uiRate(t.Bounced)
	}
	return row
}

func uiRate(r reportRate) statuspage.Rate { return statuspage.Rate{Count: r.Count, Percent: r.Percent} }

func uiNumbers(n reportNumbers) statuspage.Numbers {
	out := statuspage.Numbers{Sent: n.Sent, Received: uiRate(n.Received), Opened: uiRate(n.Opened), Clicked: uiRate(n.Clicked),
		Replied: uiRate(n.Replied), Bounced: uiRate(n.Bounced), Ignored: uiRate(n.Ignored), MachineOpened: uiRate(n.MachineOpened),
		Complained: uiRate(n.Complained), Pending: n.NotSent.Pending, Failed: n.NotSent.Failed, Cancelled: n.NotSent.Cancelled}
	if n.Goals != nil {
		g := uiRate(*n.Goals)
		out.Goals = &g
	}
	return out
}

func (u *uiSource) Object(ctx context.Context, kind, name string) (statuspage.Object, error) {
	now := u.now()
	in, err := readStatus(ctx, u.st)
	if errors.Is(err, store.ErrNoRevision) {
		return statuspage.Object{}, &statuspage.UserError{Msg: nothingApplied}
	}
	if err != nil {
		return statuspage.Object{}, err
	}
	doc := buildStatus(in)
	i := slices.IndexFunc(doc.Objects, func(o statusObject) bool { return o.Kind == kind && o.Name == name })
	if i < 0 {
		return statuspage.Object{}, &statuspage.UserError{Msg: fmt.Sprintf("no %s named %q in revision %d or in the store: pick one from the overview", kind, name, in.rev.ID)}
	}
	so := doc.Objects[i]
	out := statuspage.Object{Generated: now.UTC()}

	var ro *reportObject
	if so.Sync == syncSynced {
		rep, err := readReport(ctx, u.st, name, now)
		if err != nil {
			return out, err
		}
		for j := range rep.Objects {
			if rep.Objects[j].Kind == kind {
				ro = &rep.Objects[j]
			}
		}
		for _, m := range rep.NotMeasured {
			out.NotMeasured = append(out.NotMeasured, m.Metric+" ("+m.Reason+")")
		}
	}
	out.Row = uiRow(so, ro)
	if ro != nil {
		out.Summary = objectSummary(*ro)
		t := uiNumbers(ro.Totals)
		out.Totals = &t
		for _, s := range ro.Steps {
			fs := statuspage.FunnelStep{Name: s.Name, Label: stepLabel(*ro, s), InPlan: s.InPlan, Numbers: uiNumbers(s.Numbers)}
			for _, v := range s.Variants {
				fs.Variants = append(fs.Variants, statuspage.Variant{Name: v.Name, Label: variantLabel(v.Name), Numbers: uiNumbers(v.Numbers)})
			}
			out.Funnel = append(out.Funnel, fs)
		}
		for _, t := range ro.ABTests {
			ab := statuspage.ABTest{Step: t.Step, Title: abTitle(t), Verdict: abVerdict(t)}
			for _, v := range t.Variants {
				av := statuspage.ABVariant{Name: v.Name, Value: abValue(t.Metric, v.Value), Interval: abInterval(t.Metric, v), Winner: v.Winner}
				if v.Sent != nil {
					av.Sent, av.Successes = strconv.FormatInt(*v.Sent, 10), strconv.FormatInt(*v.Successes, 10)
				}
				ab.Variants = append(ab.Variants, av)
			}
			out.ABTests = append(out.ABTests, ab)
		}
	}

	counts := map[string]string{}
	if es := so.Enrollments; es != nil {
		for _, s := range es.Steps {
			out.Steps = append(out.Steps, uiStep(kind, s))
			if s.Index >= 0 {
				counts[s.Name] = uiStepCounts(kind, s)
			}
		}
		if es.WaitingPastLastStep > 0 {
			out.Steps = append(out.Steps, statuspage.StepStatus{Name: "(after last)", InPlan: true, Sent: "-", Skipped: "-", Held: "-",
				Waiting: strconv.FormatInt(es.WaitingPastLastStep, 10), ExitedHere: "-"})
		}
	}
	if so.Sync == syncSynced {
		var g *graph.Graph
		switch kind {
		case "workflow":
			if w := findWorkflow(in.plan, name); w != nil {
				g = graph.Workflow(w)
			}
		case "sequence":
			if s := findSequence(in.plan, name); s != nil {
				g = graph.Sequence(s)
			}
		}
		if g != nil {
			out.Graph = uiGraph(g, counts)
		}
	}
	return out, nil
}

// uiStep is a row of status's step table: the workflow columns for a
// workflow (a "-" where the step's kind cannot fill it), the sequence ones
// otherwise.
func uiStep(kind string, s stepStatus) statuspage.StepStatus {
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	row := statuspage.StepStatus{Name: s.Name, Kind: s.Kind, InPlan: s.Index >= 0, Sent: n(s.Sent), Skipped: n(s.Skipped), Held: n(s.Held),
		Waiting: n(s.Waiting), ExitedHere: n(s.GoalExits), AB: abLines(s)}
	if s.Index < 0 {
		row.Waiting = "-"
	}
	if kind != "workflow" {
		if row.Kind == "" {
			row.Kind = "send"
		}
		return row
	}
	cell := func(shown bool, v int64) string {
		if shown || s.Index < 0 {
			return n(v)
		}
		return "-"
	}
	row.Sent, row.Skipped, row.Held = cell(s.showsSent(), s.Sent), cell(s.showsSkipped(), s.Skipped), cell(s.showsHeld(), s.Held)
	row.ExitedHere = n(s.Actions["exited"])
	if s.Index < 0 {
		row.Kind = "-"
		if s.Waiting > 0 {
			row.Waiting = n(s.Waiting)
		}
	}
	row.Done = workflowDone(s)
	return row
}

// uiStepCounts is the line of numbers in a step's box of the graph: what the
// step table says of it, the zeros a kind cannot have left out.
func uiStepCounts(kind string, s stepStatus) string {
	var parts []string
	add := func(label string, v int64, always bool) {
		if always || v > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", label, v))
		}
	}
	if kind != "workflow" {
		add("sent", s.Sent, true)
		add("skipped", s.Skipped, false)
		add("held", s.Held, false)
		add("waiting", s.Waiting, true)
		add("goal exits", s.GoalExits, false)
		return strings.Join(parts, " · ")
	}
	switch {
	case s.Kind == plan.StepNotifyOwner:
		add("notified", s.Sent, true)
	case s.showsSent():
		add("sent", s.Sent, true)
	}
	if s.showsSkipped() {
		add("skipped", s.Skipped, false)
	}
	if s.showsHeld() {
		add("held", s.Held, false)
	}
	add("waiting", s.Waiting, true)
	add("exited", s.Actions["exited"], false)
	if d := workflowDone(s); d != "" {
		parts = append(parts, d)
	}
	return strings.Join(parts, " · ")
}

// uiGraph converts compiler/graph's chart (the one `campaignctl graph`
// draws) for the page, each step's node with its counts.
func uiGraph(g *graph.Graph, counts map[string]string) *statuspage.Graph {
	out := &statuspage.Graph{}
	for _, n := range g.Nodes {
		gn := statuspage.GraphNode{ID: n.ID, Role: string(n.Role), Step: n.Step, Lines: n.Lines}
		if n.Role == graph.RoleStep {
			gn.Counts = counts[n.Step]
		}
		out.Nodes = append(out.Nodes, gn)
	}
	for _, e := range g.Edges {
		out.Edges = append(out.Edges, statuspage.GraphEdge{From: e.From, To: e.To, Label: e.Label, Dotted: e.Dotted})
	}
	return out
}

func (u *uiSource) Contact(ctx context.Context, query string) ([]statuspage.Contact, error) {
	rev, p, err := appliedPlan(ctx, u.st)
	if errors.Is(err, store.ErrNoRevision) {
		return nil, &statuspage.UserError{Msg: nothingApplied}
	}
	if err != nil {
		return nil, err
	}
	contacts, err := resolveContacts(ctx, u.st.DB, p, query)
	if err != nil {
		if storeFailure(err) {
			return nil, withoutContact(err, query, nil)
		}
		return nil, &statuspage.UserError{Msg: err.Error()}
	}
	ex, err := explainContacts(ctx, u.st, rev, p, contacts, nil, u.now())
	if err != nil {
		return nil, withoutContact(err, query, contacts)
	}
	tl, err := readTimelines(ctx, u.st, p, contacts, uiTimelineLimit)
	if err != nil {
		return nil, withoutContact(err, query, contacts)
	}
	var out []statuspage.Contact
	for i, ec := range ex.Contacts {
		var b bytes.Buffer
		writeContactText(&b, ec, p, nil)
		c := statuspage.Contact{Model: ec.Model, Key: ec.Key, Email: strings.TrimSpace(ec.Email), Explain: b.String()}
		tc := tl.Contacts[i]
		c.Truncated = tc.Truncated
		for _, e := range tc.Entries {
			cells := timelineCells(e)
			c.Timeline = append(c.Timeline, statuspage.TimelineEntry{At: e.At, What: cells[0], Object: cells[1], Step: cells[2], Detail: cells[3]})
			if e.Source == "event" {
				c.Events++
			} else {
				c.Messages++
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// withoutContact returns err with the query and the contacts' keys and
// addresses, wherever they stand whole in its text, replaced by <contact>:
// the status page logs a failure of its contact lookup (docs/security.md: no
// contact data in logs), and the store's errors name the contact they were
// reading ("reading the messages of contact 42"). errors.Is and As see the
// cause (store.RedactedError).
// A UserError is the reader's (shown to who typed the query, not logged)
// and is returned as it is.
func withoutContact(err error, query string, contacts []contactRecord) error {
	if statuspage.IsUserError(err) {
		return err
	}
	words := []string{strings.TrimSpace(query)}
	for _, c := range contacts {
		words = append(words, c.key, c.email, strings.TrimSpace(c.email), c.normalizedEmail())
	}
	// Longest first: an address goes whole before a key it may contain.
	slices.SortFunc(words, func(a, b string) int { return len(b) - len(a) })
	msg := err.Error()
	for _, w := range words {
		if w != "" {
			msg = replaceWhole(msg, w, "<contact>")
		}
	}
	return &store.RedactedError{Msg: msg, Err: err}
}

// replaceWhole replaces the occurrences of old in s that no letter or digit
// touches on either side: the key 42 in "contact 42:", not in "position 142".
func replaceWhole(s, old, repl string) string {
	var b strings.Builder
	from := 0 // s[:from] is written
	for at := 0; ; {
		i := strings.Index(s[at:], old)
		if i < 0 {
			b.WriteString(s[from:])
			return b.String()
		}
		i += at
		end := i + len(old)
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if (i == 0 || !wordRune(before)) && (end == len(s) || !wordRune(after)) {
			b.WriteString(s[from:i])
			b.WriteString(repl)
			from, at = end, end
		} else {
			at = i + 1
		}
	}
}

func wordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// storeFailure tells the store's failures (Postgres' errors, a lost
// connection, a timeout) from what resolveContacts says about the query.
func storeFailure(err error) bool {
	var pqErr *pq.Error
	var netErr net.Error
	return errors.As(err, &pqErr) || errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
