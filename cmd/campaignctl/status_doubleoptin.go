package main

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// doubleOptInStatus is status's view of one double opt-in subscription type:
// the confirmation mails and what became of them. Absent when the plan has no
// double opt-in.
type doubleOptInStatus struct {
	Model         string `json:"model"`
	ConfirmWithin string `json:"confirm_within"`
	store.ConfirmationCount
}

// readDoubleOptInStatus reads the funnel of every double opt-in type at now.
func readDoubleOptInStatus(ctx context.Context, st *store.Store, p *plan.Plan, now time.Time) ([]doubleOptInStatus, error) {
	var subs []string
	var within []time.Duration
	byName := map[string]doubleOptInStatus{}
	for _, m := range p.Models {
		for _, s := range m.Subscriptions {
			if s.DoubleOptIn {
				subs = append(subs, s.Name)
				within = append(within, s.ConfirmValidity())
				// As the plan writes it; the compiler refuses one that does
				// not parse, so it says what ConfirmValidity reads.
				byName[s.Name] = doubleOptInStatus{Model: m.Name, ConfirmWithin: cmp.Or(s.ConfirmWithin, plan.DefaultConfirmWithin)}
			}
		}
	}
	if len(subs) == 0 {
		return nil, nil
	}
	counts, err := st.ConfirmationCounts(ctx, subs, within, now)
	if err != nil {
		return nil, needsMigrate(err)
	}
	out := make([]doubleOptInStatus, len(counts))
	for i, c := range counts {
		out[i] = byName[c.Subscription]
		out[i].ConfirmationCount = c
	}
	return out, nil
}

// doubleOptInLines writes the view for status's text output, e.g.
//
//	double opt-in blog (model lead, links valid 72h): 12 requested, 1 queued, 10 sent, 1 not sent
//	  of those sent: 7 confirmed, 2 awaiting a click, 1 expired
func doubleOptInLines(all []doubleOptInStatus) string {
	var b strings.Builder
	for _, s := range all {
		fmt.Fprintf(&b, "double opt-in %s (model %s, links valid %s): %d requested, %d queued, %d sent, %d not sent\n",
			s.Subscription, s.Model, s.ConfirmWithin, s.Requested, s.Queued, s.Sent, s.NotSent)
		if s.Sent > 0 {
			fmt.Fprintf(&b, "  of those sent: %d confirmed, %d awaiting a click, %d expired\n", s.Confirmed, s.Awaiting, s.Expired)
		}
	}
	return b.String()
}
