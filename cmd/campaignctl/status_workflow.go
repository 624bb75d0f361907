package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// Workflows in status: the enrollment summary sequences have (states, exit
// reasons, messages, health), and per step what its kind does there: a send
// or a notification is sent, skipped or held; a wait is waited in; a branch
// sends enrollments on to one step or another; a property step sets, clears
// or assigns. The counts come from the engine's history lines, as for
// sequences, read by workflow_queries.sql.

// workflowCounts is what status reads of workflows beyond the counts every
// kind shares.
type workflowCounts struct {
	messages []workflowMessageCount
	steps    []workflowStepCount
	standing []workflowStanding
}

type workflowMessageCount struct {
	Object string `db:"object"`
	Status string `db:"status"`
	N      int64  `db:"n"`
}

type workflowStepCount struct {
	Object     string `db:"object"`
	Step       string `db:"step"`
	Action     string `db:"action"`
	BranchTo   string `db:"branch_to"`
	ExitReason string `db:"exit_reason"`
	N          int64  `db:"n"`
}

type workflowStanding struct {
	Object    string `db:"object"`
	StepIndex int    `db:"step_index"`
	NextStep  string `db:"next_step"`
	InWait    string `db:"in_wait"`
	N         int64  `db:"n"`
}

func readWorkflowCounts(ctx context.Context, db *sqlx.DB) (workflowCounts, error) {
	var w workflowCounts
	if err := db.SelectContext(ctx, &w.messages, workflowQuery("workflow-message-counts")); err != nil {
		return w, fmt.Errorf("counting workflow messages: %w", err)
	}
	if err := db.SelectContext(ctx, &w.steps, workflowQuery("workflow-step-counts")); err != nil {
		return w, fmt.Errorf("counting workflow steps: %w", err)
	}
	if err := db.SelectContext(ctx, &w.standing, workflowQuery("workflow-standing")); err != nil {
		return w, fmt.Errorf("counting where workflow enrollments stand: %w", err)
	}
	return w, nil
}

// workflowActions are the history actions of workflow steps, in the order
// status lists them.
var workflowActions = []string{"sent", "notified", "skipped", "held", "waited", "branched", "set", "cleared", "assigned", "exited"}

// workflowIndex holds the workflow counts by workflow and step.
type workflowIndex struct {
	actions  map[string]map[string]map[string]int64 // workflow → step → action → n
	branches map[string]map[string]map[string]int64 // workflow → step → target → n
	exits    map[string]map[string]map[string]int64 // workflow → step → exit reason → n
	standing map[string][]workflowStanding
}

func newWorkflowIndex(c workflowCounts) *workflowIndex {
	w := &workflowIndex{actions: map[string]map[string]map[string]int64{}, branches: map[string]map[string]map[string]int64{},
		exits: map[string]map[string]map[string]int64{}, standing: map[string][]workflowStanding{}}
	add := func(m map[string]map[string]map[string]int64, object, step, key string, n int64) {
		if m[object] == nil {
			m[object] = map[string]map[string]int64{}
		}
		if m[object][step] == nil {
			m[object][step] = map[string]int64{}
		}
		m[object][step][key] += n
	}
	for _, c := range c.steps {
		add(w.actions, c.Object, c.Step, c.Action, c.N)
		switch c.Action {
		case "branched":
			to := c.BranchTo
			if to == "" {
				to = "?" // a detail not of the form "… → step"
			}
			add(w.branches, c.Object, c.Step, to, c.N)
		case "exited":
			add(w.exits, c.Object, c.Step, c.ExitReason, c.N)
		}
	}
	for _, s := range c.standing {
		w.standing[s.Object] = append(w.standing[s.Object], s)
	}
	return w
}

// workflowObject summarises a workflow: the enrollment totals as for a
// sequence, and one row per step of the plan (steps is nil for a workflow the
// plan no longer declares: its steps are those its history names).
func workflowObject(name string, steps []plan.Step, e *engineIndex, w *workflowIndex, inPlan bool) statusObject {
	k := objectKey{"workflow", name}
	es := enrollmentTotals(k, e)
	actions := w.actions[name]

	row := func(index int, st plan.Step) stepStatus {
		a := actions[st.Name]
		s := stepStatus{Index: index, Name: st.Name, Kind: st.Kind, Skipped: a["skipped"], Held: a["held"],
			GoalExits: w.exits[name][st.Name]["goal"], WaitingForABDecision: e.held[k][st.Name],
			Actions: map[string]int64{}, Exits: map[string]int64{"goal": 0, "completed": 0, "loop": 0}}
		switch st.Kind {
		case plan.StepNotifyOwner:
			s.Sent = a["notified"]
		default:
			s.Sent = a["sent"]
		}
		for _, act := range workflowActions {
			s.Actions[act] = a[act]
		}
		for act, n := range a {
			s.Actions[act] = n // an action this version does not list, kept
		}
		for r, n := range w.exits[name][st.Name] {
			s.Exits[r] = n
		}
		if st.Kind == plan.StepBranch || len(w.branches[name][st.Name]) > 0 {
			s.Branches = map[string]int64{}
			if index >= 0 {
				for _, to := range branchTargets(steps, index) {
					s.Branches[to] = 0
				}
			}
			for to, n := range w.branches[name][st.Name] {
				s.Branches[to] = n
			}
		}
		s.ABTest = st.ABTest != nil
		if d := e.ab[k][st.Name]; d != nil {
			s.ABTest = true
			s.ABDecision = abDecisionOf(d)
		}
		return s
	}
	declared := map[string]int{}
	for i, st := range steps {
		declared[st.Name] = i
		es.Steps = append(es.Steps, row(i, st))
	}
	// Where the active enrollments stand: in a wait, or before their next
	// step, found by name as the engine finds it (flow.Workflow.Position).
	var extraWaiting map[string]int64
	for _, s := range w.standing[name] {
		at := s.InWait
		if at == "" {
			at = s.NextStep
		}
		if i, ok := declared[at]; ok {
			es.Steps[i].Waiting += s.N
			continue
		}
		if at == "" || s.InWait == "" && inPlan {
			// No name, or a next step the plan renamed or dropped: the engine
			// resumes it at its index.
			if s.StepIndex >= 0 && s.StepIndex < len(steps) {
				es.Steps[s.StepIndex].Waiting += s.N
			} else if inPlan {
				es.WaitingPastLastStep += s.N
			}
			continue
		}
		if extraWaiting == nil {
			extraWaiting = map[string]int64{}
		}
		extraWaiting[at] += s.N
	}
	// Steps the history names that the plan does not (renamed or dropped in a
	// later revision, or every step of a removed workflow). "" is where an
	// enrollment completes past the last step, which names no step.
	var extra []string
	for n := range actions {
		if _, ok := declared[n]; !ok && n != "" {
			extra = append(extra, n)
		}
	}
	for n := range e.held[k] {
		if _, ok := declared[n]; !ok {
			extra = append(extra, n)
		}
	}
	slices.Sort(extra)
	for _, n := range slices.Compact(extra) {
		s := row(-1, plan.Step{Name: n})
		s.Waiting = extraWaiting[n]
		es.Steps = append(es.Steps, s)
	}
	for _, s := range es.Steps {
		if s.WaitingForABDecision > 0 {
			es.heldOn = append(es.heldOn, stepCount{s.Name, s.WaitingForABDecision})
		}
	}

	o := statusObject{Kind: k.kind, Name: k.name, Sync: syncSynced, Enrollments: es}
	if !inPlan {
		o.Sync = syncRemoved
	}
	o.Health, o.Message = enrollmentHealth(es, inPlan)
	return o
}

// branchTargets names where branch step i goes when its test holds and when
// not, as flow.CompileWorkflow resolves them: then and else default to next,
// next to the following step, "end" past the last.
func branchTargets(steps []plan.Step, i int) []string {
	st := steps[i]
	next := st.Next
	if next == "" {
		next = "end"
		if i+1 < len(steps) {
			next = steps[i+1].Name
		}
	}
	then, els := st.Then, st.Else
	if then == "" {
		then = next
	}
	if els == "" {
		els = next
	}
	return []string{then, els}
}

// The columns a workflow step's kind fills; the others read "-", and what
// the step did besides goes to DONE.
func (s stepStatus) showsSent() bool {
	return s.Kind == plan.StepSend || s.Kind == plan.StepNotifyOwner
}

func (s stepStatus) showsSkipped() bool { return s.showsSent() || s.Kind == plan.StepWait }

func (s stepStatus) showsHeld() bool { return s.Kind == plan.StepSend }

// writeWorkflowStepTable is writeStepTable for a workflow: the step's kind, the
// sequence columns where the kind can fill them, and DONE for what else it did
// (waited, branched and where to, set, cleared, assigned, exits other than the
// goal).
func writeWorkflowStepTable(w io.Writer, es *enrollmentStatus, inPlan bool) {
	var rows bytes.Buffer
	tw := tabwriter.NewWriter(&rows, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  STEP\tKIND\tSENT\tSKIPPED\tHELD\tWAITING\tEXITED-HERE\tDONE")
	extra := [][]string{nil}
	for _, s := range es.Steps {
		name, kind, waiting := s.Name, s.Kind, strconv.FormatInt(s.Waiting, 10)
		if s.Index < 0 {
			kind = "-"
			if s.Waiting == 0 {
				waiting = "-"
			}
			if inPlan {
				name += " (not in plan)"
			}
		}
		cell := func(shown bool, n int64) string {
			if shown || s.Index < 0 {
				return strconv.FormatInt(n, 10)
			}
			return "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", name, kind, cell(s.showsSent(), s.Sent), cell(s.showsSkipped(), s.Skipped),
			cell(s.showsHeld(), s.Held), waiting, s.Actions["exited"], workflowDone(s))
		extra = append(extra, abLines(s))
	}
	if es.WaitingPastLastStep > 0 {
		fmt.Fprintf(tw, "  (after last)\t-\t-\t-\t-\t%d\t-\t\n", es.WaitingPastLastStep)
		extra = append(extra, nil)
	}
	tw.Flush()
	lines := strings.Split(strings.TrimSuffix(rows.String(), "\n"), "\n")
	for i, line := range lines {
		fmt.Fprintln(w, strings.TrimRight(line, " "))
		for _, l := range extra[i] {
			fmt.Fprintln(w, "      "+l)
		}
	}
}

// workflowDone says what a step did that its columns do not show.
func workflowDone(s stepStatus) string {
	var parts []string
	shown := map[string]bool{"exited": true}
	if s.Index >= 0 {
		shown["sent"], shown["skipped"], shown["held"] = s.showsSent(), s.showsSkipped(), s.showsHeld()
		if s.Kind == plan.StepNotifyOwner {
			shown["notified"], shown["sent"] = true, false
		}
	} else {
		shown["sent"], shown["skipped"], shown["held"] = true, true, true
	}
	actions := append([]string(nil), workflowActions...)
	var others []string
	for a := range s.Actions {
		if !slices.Contains(actions, a) {
			others = append(others, a)
		}
	}
	slices.Sort(others)
	for _, a := range append(actions, others...) {
		n := s.Actions[a]
		if n == 0 || shown[a] {
			continue
		}
		part := fmt.Sprintf("%s %d", a, n)
		if a == "branched" && len(s.Branches) > 0 {
			var to []string
			for _, t := range sortedKeys(s.Branches) {
				to = append(to, fmt.Sprintf("%d → %s", s.Branches[t], t))
			}
			part += " (" + strings.Join(to, ", ") + ")"
		}
		parts = append(parts, part)
	}
	var exits []string
	for _, r := range sortedKeys(s.Exits) {
		if r != "goal" && s.Exits[r] > 0 {
			exits = append(exits, fmt.Sprintf("%d %s", s.Exits[r], r))
		}
	}
	if len(exits) > 0 {
		parts = append(parts, "exits: "+strings.Join(exits, ", "))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// addWorkflowMessages adds the workflows' messages to the engine index.
func (e *engineIndex) addWorkflowMessages(counts []workflowMessageCount) {
	for _, c := range counts {
		k := objectKey{"workflow", c.Object}
		e.objects[k] = true
		if e.messages[k] == nil {
			e.messages[k] = map[string]int64{}
		}
		e.messages[k][c.Status] += c.N
	}
}
