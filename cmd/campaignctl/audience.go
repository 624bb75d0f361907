package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment"
)

type audienceResult struct {
	Segment string           `json:"segment"`
	Model   string           `json:"model"`
	Count   int64            `json:"count"`
	Path    segment.Path     `json:"path"`
	Reason  string           `json:"fallback_reason,omitempty"`
	Sample  []map[string]any `json:"sample"`
	SQL     string           `json:"sql,omitempty"`
	Args    []any            `json:"args,omitempty"`
	Explain []string         `json:"explain,omitempty"`
}

func runAudience(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("audience", "audience SEGMENT|CAMPAIGN --db URL [--from DIR|plan.json] [flags]", `
Count the contacts a segment (or a campaign's segment) matches right now, show a
sample of them, and say how the filter ran: pushed down into Postgres as one WHERE
clause, or in-process (streaming rows through CEL) with the sub-expression that
prevented pushdown. With --explain, print the SQL and Postgres' EXPLAIN.`, `  campaignctl audience lost_not_enough_stock --db "$CAMPAIGNCTL_DB"
  campaignctl audience lost_leads_reactivation --db "$CAMPAIGNCTL_DB" --sample 5 --fields name,stage
  campaignctl audience lost_not_enough_stock --db "$CAMPAIGNCTL_DB" --explain --format json`, stderr)
	db := dbFlag(fs)
	from := fs.String("from", defaultCampaignsDir, "campaigns directory or plan file to read the segment from")
	sample := fs.Int("sample", 10, "number of matching records to show (0 for none)")
	fields := fs.String("fields", "", "comma-separated fields to show in the sample (default: all)")
	explain := fs.Bool("explain", false, "print the generated SQL and Postgres' EXPLAIN")
	format := textOrJSONFlag(fs)
	path := fs.String("path", "", "force the evaluation path: pushdown or in-process (for comparison)")
	positional, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	if len(positional) != 1 {
		fmt.Fprintln(stderr, "campaignctl audience: name exactly one segment or campaign")
		fs.Usage()
		return 2
	}
	name := positional[0]
	if !checkTextOrJSON(fs, *format, stderr) {
		return 2
	}
	if *path != "" && *path != string(segment.Pushdown) && *path != string(segment.InProcess) {
		fmt.Fprintf(stderr, "campaignctl audience: --path %q: want pushdown or in-process\n", *path)
		return 2
	}
	if !needDB(*db, stderr) {
		return 2
	}
	p, err := loadPlan(*from, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl audience:", err)
		return 1
	}
	segName, err := resolveSegment(p, name)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl audience:", err)
		return 1
	}
	ev, err := segment.New(p)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl audience:", err)
		return 1
	}
	if *path != "" {
		ev = ev.ForcePath(segment.Path(*path))
	}
	ctx := context.Background()
	st, err := store.Open(ctx, *db)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl audience:", err)
		return 1
	}
	defer st.Close()
	conn := st.DB
	if ev, err = ev.WithCatalog(ctx, conn); err != nil {
		fmt.Fprintln(stderr, "campaignctl audience:", err)
		return 1
	}
	now := time.Now()
	res := audienceResult{Segment: segName}
	seg, _ := p.Segment(segName)
	res.Model = seg.Model
	if res.Count, res.Path, err = ev.Count(ctx, conn, segName, now); err != nil {
		fmt.Fprintln(stderr, "campaignctl audience:", err)
		return 1
	}
	var want []string
	if *fields != "" {
		want = strings.Split(*fields, ",")
	}
	if *sample > 0 {
		if res.Sample, _, err = ev.Sample(ctx, conn, segName, now, *sample, want); err != nil {
			fmt.Fprintln(stderr, "campaignctl audience:", err)
			return 1
		}
	}
	ex, err := ev.Explain(segName, now)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl audience:", err)
		return 1
	}
	res.Reason = ex.Reason
	if *explain {
		res.SQL, res.Args = ex.SQL, ex.Args
		var lines []string
		if err := conn.SelectContext(ctx, &lines, "EXPLAIN "+ex.SQL, ex.Args...); err != nil {
			fmt.Fprintln(stderr, "campaignctl audience: EXPLAIN:", err)
			return 1
		}
		res.Explain = lines
	}
	if *format == "json" {
		return boolExit(writeJSON(stdout, res) == nil)
	}
	fmt.Fprintf(stdout, "segment %s (model %s): %d contacts, evaluated %s\n", res.Segment, res.Model, res.Count, res.Path)
	if res.Reason != "" {
		fmt.Fprintf(stdout, "not pushed down: %s\n", res.Reason)
	}
	if len(res.Sample) > 0 {
		cols := sampleColumns(res.Sample, want)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
		for _, row := range res.Sample {
			vals := make([]string, len(cols))
			for i, c := range cols {
				vals[i] = fmt.Sprint(row[c])
			}
			fmt.Fprintln(tw, strings.Join(vals, "\t"))
		}
		tw.Flush()
	}
	if *explain {
		fmt.Fprintf(stdout, "\nSQL: %s\nargs: %v\n\n%s\n", res.SQL, res.Args, strings.Join(res.Explain, "\n"))
	}
	return 0
}

// resolveSegment accepts a segment name or the name of a campaign, workflow
// trigger, sequence or autoresponder that uses one.
func resolveSegment(p *plan.Plan, name string) (string, error) {
	if _, ok := p.Segment(name); ok {
		return name, nil
	}
	if c, ok := p.Campaign(name); ok {
		return c.Segment, nil
	}
	for _, s := range p.Sequences {
		if s.Name == name && s.Segment != "" {
			return s.Segment, nil
		}
	}
	for _, a := range p.Autoresponders {
		if a.Name == name && a.Segment != "" {
			return a.Segment, nil
		}
	}
	var names []string
	for _, s := range p.Segments {
		names = append(names, s.Name)
	}
	for _, c := range p.Campaigns {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	return "", fmt.Errorf("no segment or campaign named %q; known: %s", name, strings.Join(names, ", "))
}

func sampleColumns(rows []map[string]any, want []string) []string {
	if len(want) > 0 {
		return want
	}
	seen := map[string]bool{}
	var cols []string
	for _, r := range rows {
		for k := range r {
			if !seen[k] {
				seen[k] = true
				cols = append(cols, k)
			}
		}
	}
	sort.Strings(cols)
	return cols
}
