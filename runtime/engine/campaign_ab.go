package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/abtest"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// A campaign's A/B test: when the audience is materialized, the test group
// (test_percent of it, split by a hash of the campaign and the contact, so a
// contact lands on the same side on any replica and after any restart) is
// enqueued with its variants and goes out at once; the remainder is enqueued
// too, held (store.HeldForDecision) until the leader decides the test
// decide_after its first message went out, then released with the winner (or
// split, or cancelled, as the inconclusive policy says).

// campaignVariants places each recipient of a batch: its variant and due
// time.
func campaignVariants(c *plan.Campaign, batch []store.Recipient, now time.Time) ([]string, []time.Time) {
	variants, dues := make([]string, len(batch)), make([]time.Time, len(batch))
	for i, r := range batch {
		v, inTest := abtest.Assign(kindCampaign, c.Name, "", r.Key, c.ABTest)
		variants[i], dues[i] = v, now
		if !inTest {
			variants[i], dues[i] = "", store.HeldForDecision
		}
	}
	return variants, dues
}

// reconcileCampaignTests decides the campaigns' A/B tests whose time has come
// and releases the messages held for decided ones. The leader runs it on
// every pass; releasing is idempotent.
func (e *Engine) reconcileCampaignTests(ctx context.Context, l *loaded, now time.Time) error {
	var decisions map[string]store.ABDecision
	for i := range l.plan.Campaigns {
		c := &l.plan.Campaigns[i]
		if c.ABTest == nil {
			continue
		}
		if decisions == nil {
			ds, err := e.Store.ABDecisions(ctx)
			if err != nil {
				return err
			}
			decisions = map[string]store.ABDecision{}
			for _, d := range ds {
				decisions[d.Kind+"/"+d.Object+"/"+d.Step] = d
			}
		}
		d, ok := decisions[kindCampaign+"/"+c.Name+"/"]
		if !ok {
			var err error
			if d, ok, err = e.decideCampaignTest(ctx, l, c, now); err != nil || !ok {
				return err
			}
		}
		if err := e.releaseCampaign(ctx, c, d, now); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) decideCampaignTest(ctx context.Context, l *loaded, c *plan.Campaign, now time.Time) (store.ABDecision, bool, error) {
	t := c.ABTest
	d := store.ABDecision{Kind: kindCampaign, Object: c.Name, DecidedAt: now, Metric: t.Metric}
	after, err := plan.ParseDuration(t.DecideAfter)
	if err != nil || after < 0 {
		e.logOnce("abtest campaign "+c.Name, "cannot decide A/B test", fmt.Errorf("campaign %s: decide_after %q: %v", c.Name, t.DecideAfter, err))
		return d, false, nil
	}
	started, ok, hasTest, err := e.Store.CampaignTestStart(ctx, c.Name)
	if err != nil {
		return d, false, err
	}
	var v abtest.Verdict
	var counts []abtest.Count
	switch {
	case !hasTest:
		// Not materialized yet, or an audience too small for a test group:
		// once the remainder waits, the policy decides without data.
		held, err := e.Store.HeldForCampaign(ctx, c.Name, 0, 1)
		if err != nil || len(held) == 0 {
			return d, false, err
		}
		v, err = abtest.Decide(t, nil)
		if err != nil {
			return d, false, err
		}
		v.Reason = "no contact of the audience fell in the test group; " + v.Reason
	case !ok || now.Before(started.Add(after)):
		return d, false, nil
	default:
		events, measured := metricEvents[t.Metric]
		m, _ := modelOf(l.plan, kindCampaign, c.Name)
		model := ""
		if m != nil {
			model = m.Name
		}
		if t.Metric == metricRevenue {
			if v, err = e.decideRevenue(ctx, t, kindCampaign, c.Name, "", model, now); err != nil {
				return d, false, err
			}
		} else if measured && events != nil {
			vc, err := e.Store.ABCounts(ctx, kindCampaign, c.Name, "", model, events)
			if err != nil {
				return d, false, err
			}
			for _, x := range vc {
				counts = append(counts, abtest.Count{Variant: x.Variant, Sent: x.Sent, Successes: x.Successes})
			}
			v, err = abtest.Decide(t, counts)
			if err != nil {
				return d, false, err
			}
		} else {
			// A one-off campaign has no goal: conversions are not measured.
			v, err = abtest.Decide(t, nil)
			if err != nil {
				return d, false, err
			}
			v.Reason = "metric " + t.Metric + " is not measured for one-off campaigns; " + v.Reason
		}
	}
	d.Winner, d.Significant, d.PValue, d.Reason, d.Decision = v.Winner, v.Significant, v.PValue, v.Reason, v.Decision
	if err := e.Store.RecordABDecision(ctx, d, v, now); err != nil {
		return d, false, err
	}
	e.Log.Info("A/B test decided", "kind", kindCampaign, "object", c.Name, "decision", v.Decision, "winner", v.Winner, "p_value", v.PValue, "reason", v.Reason)
	return d, true, nil
}

// releaseCampaign gives the messages held for c's decided test their variant
// and due time, page by page.
func (e *Engine) releaseCampaign(ctx context.Context, c *plan.Campaign, d store.ABDecision, now time.Time) error {
	var after int64
	released := 0
	for {
		held, err := e.Store.HeldForCampaign(ctx, c.Name, after, 1000)
		if err != nil || len(held) == 0 {
			break
		}
		ids, variants := make([]int64, len(held)), make([]string, len(held))
		for i, h := range held {
			ids[i] = h.ID
			switch {
			case d.Decision == abtest.DecisionSendAll:
				variants[i] = abtest.SplitVariant(kindCampaign, c.Name, "", h.ContactKey, c.ABTest)
			default:
				variants[i] = d.Winner
			}
		}
		stop := d.Decision == abtest.DecisionStop
		if err := e.Store.ReleaseHeld(ctx, ids, variants, now, stop, "the A/B test was inconclusive and its policy is stop"); err != nil {
			return err
		}
		released += len(held)
		after = held[len(held)-1].ID
	}
	if released > 0 {
		e.Log.Info("messages held for the A/B decision released", "campaign", c.Name, "count", released, "decision", d.Decision, "winner", d.Winner)
		poke(e.wakeSend)
	}
	return nil
}

// campaignVariantKey is the template key of a campaign's variant.
func campaignVariantKey(name, variant string) string {
	return variantKey(kindCampaign, name, "", strings.TrimSpace(variant))
}
