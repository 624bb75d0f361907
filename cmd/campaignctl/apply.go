package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	"github.com/campaignctl/campaignctl/compiler/diff"
	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/store"
)

func runApply(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("apply", "apply [--db URL] plan.json", `
Record plan.json (from 'campaignctl plan') as the desired state. The daemon picks it
up on its next reconcile. Applying the plan that is already applied changes nothing.
The plan's hash is checked: a plan edited after 'campaignctl plan' is refused.`, `  campaignctl plan campaigns -o plan.json
  campaignctl apply --db "$CAMPAIGNCTL_DB" plan.json`, stderr)
	db := dbFlag(fs)
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "campaignctl apply: want exactly one plan file")
		fs.Usage()
		return 2
	}
	if !needDB(*db, stderr) {
		return 2
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl apply:", err)
		return 1
	}
	p, err := plan.Decode(data)
	if err != nil {
		fmt.Fprintf(stderr, "campaignctl apply: %s: %v\n", fs.Arg(0), err)
		return 1
	}
	ctx := context.Background()
	st, err := openMigrated(ctx, *db)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl apply:", err)
		return 1
	}
	defer st.Close()
	latest, err := st.LatestRevision(ctx)
	if err != nil && !errors.Is(err, store.ErrNoRevision) {
		fmt.Fprintln(stderr, "campaignctl apply:", err)
		return 1
	}
	if err == nil && latest.PlanHash == p.Hash {
		fmt.Fprintf(stdout, "plan %s is already applied (revision %d): nothing to do\n", short(p.Hash), latest.ID)
		return 0
	}
	// What the change does to what runs now, against the revision applied
	// before: `diff`'s warnings (a removed object's enrollments leave, an
	// edited workflow wait does not reach the contacts already in it, …).
	var changeWarnings []string
	if err == nil {
		if prev, perr := plan.Decode([]byte(latest.Plan)); perr != nil {
			changeWarnings = append(changeWarnings, fmt.Sprintf("cannot compare with revision %d: %v", latest.ID, perr))
		} else {
			for _, w := range diff.Plans(prev, p).Warnings {
				changeWarnings = append(changeWarnings, w.Message)
			}
		}
	}
	by := ""
	if u, err := user.Current(); err == nil {
		by = u.Username
	}
	id, err := st.InsertRevision(ctx, store.Revision{PlanHash: p.Hash, Plan: string(data), SourceCommit: p.Source.Commit, AppliedAt: time.Now(), AppliedBy: by})
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl apply:", err)
		return 1
	}
	fmt.Fprintf(stdout, "applied plan %s as revision %d: %d campaigns, %d sequences, %d workflows, %d autoresponders, %d segments, %d templates\n",
		short(p.Hash), id, len(p.Campaigns), len(p.Sequences), len(p.Workflows), len(p.Autoresponders), len(p.Segments), len(p.Templates))
	// Every object the daemon will run, by name.
	for _, c := range p.Campaigns {
		fmt.Fprintf(stdout, "  will run campaign %s\n", c.Name)
	}
	for _, s := range p.Sequences {
		fmt.Fprintf(stdout, "  will run sequence %s (%d steps, segment %s)\n", s.Name, len(s.Steps), s.Segment)
	}
	for _, w := range p.Workflows {
		trigger := w.Trigger.Event
		if w.Trigger.Topic != "" {
			trigger += " on " + w.Trigger.Topic
		}
		fmt.Fprintf(stdout, "  will run workflow %s (%s, %d steps, trigger %s)\n", w.Name, w.Type, len(w.Steps), trigger)
	}
	for _, a := range p.Autoresponders {
		switch {
		case a.Mode == "single":
			fmt.Fprintf(stdout, "  will run autoresponder %s (%d follow-ups, segment %s)\n", a.Name, len(a.FollowUps), a.Segment)
		case a.Recurrence != nil:
			fmt.Fprintf(stdout, "  will run autoresponder %s (recurring: every %d %s, template %s, segment %s)\n", a.Name, max(a.Recurrence.Every, 1), a.Recurrence.Unit, a.Template, a.Segment)
		}
	}
	for _, line := range changeWarnings {
		fmt.Fprintf(stderr, "campaignctl apply: warning: %s\n", line)
	}
	// Say what validates but will not run, rather than accept it silently.
	for _, line := range engine.NotRun(p) {
		fmt.Fprintf(stderr, "campaignctl apply: warning: %s\n", line)
	}
	return 0
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}
