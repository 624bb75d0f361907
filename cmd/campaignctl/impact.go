package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"

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
	db := st.DB
	fn := func(ctx context.Context, oldPlan, newPlan *plan.Plan) (*diff.Impact, error) {
		return computeImpact(ctx, db, oldPlan, newPlan, time.Now())
	}
	return fn, func() { db.Close() }, nil
}

func computeImpact(ctx context.Context, db *sqlx.DB, oldPlan, newPlan *plan.Plan, now time.Time) (*diff.Impact, error) {
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
		var pending int64
		if err := db.GetContext(ctx, &pending, `SELECT count(*) FROM campaignctl.outbox WHERE campaign = $1 AND status = 'pending'`, c.Name); err != nil {
			// A database never applied to has no outbox: nothing is enrolled.
			pending = 0
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
	return imp, nil
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
