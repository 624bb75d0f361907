package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/campaignctl/campaignctl/compiler/diff"
	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// defaultGrowthWarnPercent applies when no policy sets audience_growth_warn_percent.
const defaultGrowthWarnPercent = 50

// dbImpact counts, in the database at dbURL, the audience of every segment the
// change adds, edits or removes, on each side, and the messages still waiting in
// each removed or changed campaign's outbox.
func dbImpact(ctx context.Context, dbURL string) (diff.ImpactFunc, func(), error) {
	// store.Open redacts the connection string from every error it returns.
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return nil, nil, fmt.Errorf("audience impact: %w", err)
	}
	fn := func(ctx context.Context, oldPlan, newPlan *plan.Plan) (*diff.Impact, error) {
		return computeImpact(ctx, st, oldPlan, newPlan, time.Now())
	}
	return fn, func() { st.Close() }, nil
}

func computeImpact(ctx context.Context, st *store.Store, oldPlan, newPlan *plan.Plan, now time.Time) (*diff.Impact, error) {
	db := st.DB
	if oldPlan == nil {
		oldPlan = &plan.Plan{}
	}
	if newPlan == nil {
		newPlan = &plan.Plan{}
	}
	imp := &diff.Impact{}
	oldEval, err := segment.New(oldPlan)
	if err != nil {
		return nil, fmt.Errorf("old plan: %w", err)
	}
	newEval, err := segment.New(newPlan)
	if err != nil {
		return nil, fmt.Errorf("new plan: %w", err)
	}
	if oldEval, err = oldEval.WithCatalog(ctx, db); err != nil {
		return nil, err
	}
	if newEval, err = newEval.WithCatalog(ctx, db); err != nil {
		return nil, err
	}
	count := func(ev *segment.Evaluator, p *plan.Plan, name string) (*int64, error) {
		if _, ok := p.Segment(name); !ok {
			return nil, nil
		}
		n, _, err := ev.Count(ctx, db, name, now)
		if err != nil {
			return nil, fmt.Errorf("counting segment %s: %w", name, err)
		}
		return &n, nil
	}
	growth := defaultGrowthWarnPercent
	if pol, ok := policyNamed(newPlan, "default"); ok && pol.AudienceGrowthWarnPercent > 0 {
		growth = pol.AudienceGrowthWarnPercent
	}
	for _, name := range changedSegments(oldPlan, newPlan) {
		before, err := count(oldEval, oldPlan, name)
		if err != nil {
			return nil, err
		}
		after, err := count(newEval, newPlan, name)
		if err != nil {
			return nil, err
		}
		users := segmentUsers(newPlan, name)
		if after == nil {
			users = segmentUsers(oldPlan, name)
		}
		imp.Audiences = append(imp.Audiences, diff.Audience{Segment: name, UsedBy: users, Before: before, After: after})
		if before != nil && after != nil && *after > *before && *before > 0 &&
			(*after-*before)*100 > int64(growth)**before {
			imp.Warnings = append(imp.Warnings, diff.Warning{
				Code: "audience_growth", Kind: "segment", Name: name,
				Message: fmt.Sprintf("audience grows from %d to %d contacts (+%d%%), more than the %d%% the policy allows without a second look", *before, *after, (*after-*before)*100 / *before, growth),
			})
		}
	}
	for _, c := range oldPlan.Campaigns {
		nc, still := newPlan.Campaign(c.Name)
		if still && nc.Hash == c.Hash {
			continue
		}
		pending, err := st.PendingInCampaign(ctx, c.Name)
		if err != nil {
			return nil, err
		}
		if pending == 0 {
			continue
		}
		imp.Enrollments = append(imp.Enrollments, diff.Enrollment{Kind: "campaign", Name: c.Name, Active: pending})
		if !still {
			imp.Warnings = append(imp.Warnings, diff.Warning{
				Code: "removed_with_pending", Kind: "campaign", Name: c.Name,
				Message: fmt.Sprintf("%d messages of this campaign are still waiting to be sent; removing it cancels them", pending),
			})
		}
	}
	steps, err := stepImpact(ctx, st, oldPlan, newPlan)
	if err != nil {
		return nil, err
	}
	imp.Enrollments = append(imp.Enrollments, steps...)
	return imp, nil
}

// stepImpact counts, for every sequence, workflow and autoresponder the change
// edits or removes, the contacts enrolled now and where they wait, step by
// step, marking the steps the change edits or removes.
func stepImpact(ctx context.Context, st *store.Store, oldPlan, newPlan *plan.Plan) ([]diff.Enrollment, error) {
	type object struct {
		kind, name, hash string
		steps            []string
		stepJSON         map[string]string
	}
	collect := func(p *plan.Plan) map[string]object {
		out := map[string]object{}
		add := func(kind, name, hash string, names []string, values []any) {
			o := object{kind: kind, name: name, hash: hash, steps: names, stepJSON: map[string]string{}}
			for i, n := range names {
				b, _ := json.Marshal(values[i])
				o.stepJSON[n] = string(b)
			}
			out[kind+"/"+name] = o
		}
		for _, s := range p.Sequences {
			names, values := namedSteps(s.Steps, func(st plan.SequenceStep) string { return st.Name })
			add("sequence", s.Name, s.Hash, names, values)
		}
		for _, w := range p.Workflows {
			names, values := namedSteps(w.Steps, func(st plan.Step) string { return st.Name })
			add("workflow", w.Name, w.Hash, names, values)
		}
		for _, a := range p.Autoresponders {
			names, values := namedSteps(a.FollowUps, func(f plan.FollowUp) string { return f.Name })
			add("autoresponder", a.Name, a.Hash, names, values)
		}
		return out
	}
	olds, news := collect(oldPlan), collect(newPlan)
	keys := make([]string, 0, len(olds))
	for k := range olds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []diff.Enrollment
	for _, k := range keys {
		o := olds[k]
		n, still := news[k]
		if still && n.hash == o.hash {
			continue
		}
		waiting, err := st.ActiveEnrollmentsByStep(ctx, o.kind, o.name)
		if err != nil {
			return nil, err
		}
		var total int64
		for _, n := range waiting {
			total += n
		}
		if total == 0 {
			continue
		}
		e := diff.Enrollment{Kind: o.kind, Name: o.name, Active: total}
		for _, st := range o.steps {
			change := ""
			switch {
			case !still:
			case n.stepJSON[st] == "":
				change = "removed"
			case n.stepJSON[st] != o.stepJSON[st]:
				change = "changed"
			}
			if waiting[st] > 0 || change != "" {
				e.Steps = append(e.Steps, diff.StepEnrollment{Step: st, Waiting: waiting[st], Change: change})
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// namedSteps lists steps' names and the steps themselves, in order.
func namedSteps[S any](steps []S, name func(S) string) ([]string, []any) {
	names, values := make([]string, len(steps)), make([]any, len(steps))
	for i, st := range steps {
		names[i], values[i] = name(st), st
	}
	return names, values
}

// changedSegments lists the segments added, removed or edited, by name.
func changedSegments(oldPlan, newPlan *plan.Plan) []string {
	seen := map[string]string{}
	for _, s := range oldPlan.Segments {
		seen[s.Name] = s.Hash
	}
	var out []string
	for _, s := range newPlan.Segments {
		if h, ok := seen[s.Name]; !ok || h != s.Hash {
			out = append(out, s.Name)
		}
		delete(seen, s.Name)
	}
	for name := range seen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// segmentUsers names the objects that send to a segment: "campaign x".
func segmentUsers(p *plan.Plan, name string) []string {
	var out []string
	for _, c := range p.Campaigns {
		if c.Segment == name {
			out = append(out, "campaign "+c.Name)
		}
	}
	for _, s := range p.Sequences {
		if s.Segment == name {
			out = append(out, "sequence "+s.Name)
		}
	}
	for _, a := range p.Autoresponders {
		if a.Segment == name {
			out = append(out, "autoresponder "+a.Name)
		}
	}
	for _, w := range p.Workflows {
		if w.Trigger.Segment == name {
			out = append(out, "workflow "+w.Name)
		}
	}
	return out
}

func policyNamed(p *plan.Plan, name string) (*plan.Policy, bool) {
	for i := range p.Policies {
		if p.Policies[i].Name == name {
			return &p.Policies[i], true
		}
	}
	return nil, false
}
