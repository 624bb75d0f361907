package diff

import (
	"context"
	"fmt"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// ImpactFunc measures what a change does to real contacts: audience counts of
// segments before and after, contacts enrolled in workflows that change or go.
// It needs a database, so it is supplied by the caller (campaignctl diff --db);
// this package only defines the shape and renders it.
type ImpactFunc func(ctx context.Context, old, new *plan.Plan) (*Impact, error)

// Impact is what an ImpactFunc found.
type Impact struct {
	// Audiences has one entry per added, changed or removed segment.
	Audiences []Audience `json:"audiences"`
	// Enrollments has one entry per changed or removed workflow, sequence or
	// autoresponder that has contacts in it.
	Enrollments []Enrollment `json:"enrollments"`
	// Warnings are risky changes only data can show (an audience that grows
	// beyond the policy's audience_growth_warn_percent, a removed campaign with
	// active enrollments). AddImpact appends them to Diff.Warnings.
	Warnings []Warning `json:"warnings"`
}

// Audience is a segment's contact count on each side; nil where the segment
// does not exist.
type Audience struct {
	Segment string `json:"segment"`
	// UsedBy lists the objects that send to the segment in the new plan (or the
	// old one, for a removed segment), as "kind name": "campaign lost_leads".
	UsedBy []string `json:"used_by"`
	Before *int64   `json:"before"`
	After  *int64   `json:"after"`
}

// Enrollment is how many contacts are currently enrolled in a workflow,
// sequence or autoresponder.
type Enrollment struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Active int64  `json:"active"`
	// Steps lists, in the object's step order, the steps the change edits or
	// removes and the steps contacts are waiting at now, with how many wait
	// there: the contacts a step change reaches.
	Steps []StepEnrollment `json:"steps,omitempty"`
}

// StepEnrollment is how many active enrollments wait at one step.
type StepEnrollment struct {
	Step    string `json:"step"`
	Waiting int64  `json:"waiting"`
	// Change is "changed" or "removed" when the change edits or removes the
	// step, "" otherwise.
	Change string `json:"change,omitempty"`
}

// impactSkippedReason is why the views say the impact was not computed; a
// diff nobody gave an ImpactFunc had no database to ask.
func (d *Diff) impactSkippedReason() string {
	if d.ImpactSkipped == "" {
		return "no --db"
	}
	return d.ImpactSkipped
}

// AddImpact runs fn over the diff's plans and records the result, appending its
// warnings to the diff's.
func (d *Diff) AddImpact(ctx context.Context, fn ImpactFunc) error {
	imp, err := fn(ctx, d.old, d.new)
	if err != nil {
		return fmt.Errorf("computing impact: %w", err)
	}
	if imp == nil {
		return nil
	}
	if imp.Audiences == nil {
		imp.Audiences = []Audience{}
	}
	if imp.Enrollments == nil {
		imp.Enrollments = []Enrollment{}
	}
	if imp.Warnings == nil {
		imp.Warnings = []Warning{}
	}
	for i := range imp.Audiences {
		if imp.Audiences[i].UsedBy == nil {
			imp.Audiences[i].UsedBy = []string{}
		}
	}
	d.Impact = imp
	d.ImpactSkipped = ""
	d.Warnings = append(d.Warnings, imp.Warnings...)
	return nil
}
