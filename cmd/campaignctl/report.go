package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/campaignctl/campaignctl/runtime/store"
)

type campaignReport struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	// Health is Argo CD's word for it: Progressing while sending, Healthy when
	// finished without failures, Degraded when messages failed.
	Health   string           `json:"health"`
	Audience *int64           `json:"audience,omitempty"`
	Messages map[string]int64 `json:"messages"`
}

func runReport(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("report", "report --db URL [--format text|json]", `
Print each campaign's status, audience and messages by outcome (sent, pending,
failed, cancelled).`, `  campaignctl report --db "$CAMPAIGNCTL_DB"
  campaignctl report --db "$CAMPAIGNCTL_DB" --format json | jq .`, stderr)
	db := dbFlag(fs)
	format := textOrJSONFlag(fs)
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if !checkTextOrJSON(fs, *format, stderr) {
		return 2
	}
	if !needDB(*db, stderr) {
		return 2
	}
	ctx := context.Background()
	st, err := store.Open(ctx, *db)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl report:", err)
		return 1
	}
	defer st.Close()
	reports, err := buildReport(ctx, st)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl report:", err)
		return 1
	}
	if *format == "json" {
		return boolExit(writeJSON(stdout, map[string]any{"campaigns": reports}) == nil)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CAMPAIGN\tSTATUS\tHEALTH\tAUDIENCE\tSENT\tPENDING\tFAILED\tCANCELLED")
	for _, r := range reports {
		aud := "-"
		if r.Audience != nil {
			aud = fmt.Sprint(*r.Audience)
		}
		m := r.Messages
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", r.Name, r.Status, r.Health, aud, m["sent"], m["pending"], m["failed"], m["cancelled"])
	}
	return boolExit(tw.Flush() == nil)
}

func buildReport(ctx context.Context, st *store.Store) ([]campaignReport, error) {
	cs, err := st.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	counts, err := st.CampaignCounts(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]map[string]int64{}
	for _, c := range counts {
		if byName[c.Campaign] == nil {
			byName[c.Campaign] = map[string]int64{}
		}
		byName[c.Campaign][c.Status] = c.N
	}
	out := make([]campaignReport, 0, len(cs))
	for _, c := range cs {
		r := campaignReport{Name: c.Name, Status: c.Status, Messages: byName[c.Name]}
		if r.Messages == nil {
			r.Messages = map[string]int64{}
		}
		if c.Audience.Valid {
			a := c.Audience.Int64
			r.Audience = &a
		}
		r.Health = health(c.Status, r.Messages)
		out = append(out, r)
	}
	return out, nil
}

func boolExit(ok bool) int {
	if ok {
		return 0
	}
	return 1
}

// health summarises a campaign: Degraded as soon as a message failed (the
// failures need a look even while the rest is still going out), Progressing
// while it is scheduled or sending, Healthy once finished without failures.
func health(status string, m map[string]int64) string {
	switch {
	case m["failed"] > 0 || status == store.StatusFailed:
		return "Degraded"
	case status == store.StatusScheduled || status == store.StatusSending:
		return "Progressing"
	}
	return "Healthy"
}
