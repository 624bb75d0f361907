package main

import (
	"encoding/json"
	"math"
	"slices"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/abtest"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// A/B verdicts in the report: for a decided test, what the engine decided on
// (the abtest.Verdict it stored with the decision: per-variant rates with
// their 95% intervals, the test, the p-value); for a test not decided yet,
// the same computed now from the figures the engine will decide on
// (report-ab-live), with when it decides. The report never decides anything.

// reportABTest is one A/B test of an object (Step "" for a campaign's own).
type reportABTest struct {
	Step   string `json:"step"`
	Metric string `json:"metric"`
	// Test is "two-proportion z-test" or "Welch's t-test"; "" when nothing was
	// compared (an old decision without its figures, or a metric the runner
	// does not measure).
	Test string `json:"test"`
	// State is "decided" or "pending" (not decided yet).
	State    string            `json:"state"`
	Variants []reportABVariant `json:"variants"`
	// PValue is two-sided, best variant against the runner-up; null when
	// there is none (nothing sent yet).
	PValue *float64 `json:"p_value"`
	// Decided tests.
	Decision     string     `json:"decision,omitempty"` // "winner" | "inconclusive: send_first" | …
	Winner       string     `json:"winner,omitempty"`
	Significant  bool       `json:"significant"`
	Inconclusive bool       `json:"inconclusive"`
	DecidedAt    *time.Time `json:"decided_at,omitempty"`
	// Pending tests: when the engine decides (decide_after after the first
	// test message); null until a test message went out.
	DecidesAt   *time.Time `json:"decides_at,omitempty"`
	DecideAfter string     `json:"decide_after,omitempty"`
	// Reason is the engine's sentence for a decided test, or what a pending
	// one waits for.
	Reason string `json:"reason"`
}

// reportABVariant is one variant's metric: a rate in [0, 1] (revenue: a mean)
// with its 95% interval (Wilson score for a rate). Sent and Successes are the
// figures behind it, known for pending tests only (a decision stores the
// rates, not the counts).
type reportABVariant struct {
	Name string `json:"name"`
	// Value, Low and High are null when there is no figure (an old decision
	// stored without them, a metric not measured).
	Value     *float64 `json:"value"`
	Low       *float64 `json:"low"`
	High      *float64 `json:"high"`
	Sent      *int64   `json:"sent,omitempty"`
	Successes *int64   `json:"successes,omitempty"`
	Winner    bool     `json:"winner"`
}

func (v *reportABVariant) setInterval(iv abtest.Interval) {
	v.Value, v.Low, v.High = &iv.Value, &iv.Low, &iv.High
}

// abDecisionRow is a row of report-ab-decisions.
type abDecisionRow struct {
	Kind        string    `db:"kind"`
	Object      string    `db:"object"`
	Step        string    `db:"step"`
	DecidedAt   time.Time `db:"decided_at"`
	Winner      string    `db:"winner"`
	Decision    string    `db:"decision"`
	Significant bool      `db:"significant"`
	PValue      float64   `db:"p_value"`
	Metric      string    `db:"metric"`
	Reason      string    `db:"reason"`
	Detail      string    `db:"detail"`
}

// abLiveRow is a row of report-ab-live: one variant of a pending test.
type abLiveRow struct {
	Kind      string    `db:"kind"`
	Object    string    `db:"object"`
	Step      string    `db:"step"`
	Variant   string    `db:"variant"`
	Sent      int64     `db:"sent"`
	Opened    int64     `db:"opened"`
	Clicked   int64     `db:"clicked"`
	Replied   int64     `db:"replied"`
	Converted int64     `db:"converted"`
	Started   time.Time `db:"started"`
}

// successes is the row's count for metric, as the engine's metricEvents
// counts it; false for revenue, which comes from store.ABRevenue instead.
func (r abLiveRow) successes(metric string) (int64, bool) {
	switch metric {
	case "open_rate":
		return r.Opened, true
	case "click_rate":
		return r.Clicked, true
	case "reply_rate":
		return r.Replied, true
	case "conversions":
		return r.Converted, true
	}
	return 0, false
}

// abTestsOf builds the A/B tests of t: the plan's tests in step order, each
// decided or pending.
func abTestsOf(t reportTarget, in reportInput, now time.Time) []reportABTest {
	out := []reportABTest{}
	steps := slices.Clone(t.steps)
	for _, step := range steps {
		ab := t.tests[step]
		if ab == nil {
			continue
		}
		var d *abDecisionRow
		for i := range in.decisions {
			x := &in.decisions[i]
			if x.Kind == t.kind && x.Object == t.name && x.Step == step {
				d = x
			}
		}
		var live []abLiveRow
		for _, r := range in.live {
			if r.Kind == t.kind && r.Object == t.name && r.Step == step {
				live = append(live, r)
			}
		}
		if d != nil {
			out = append(out, decidedTest(step, ab, d))
		} else {
			out = append(out, pendingTest(step, ab, live, in.revenue[revenueKey(t.kind, t.name, step)], now))
		}
	}
	return out
}

// storedVerdict is the part of abtest.Verdict the engine stores in
// ab_decisions.detail that the report reads (field names as encoding/json
// writes the struct's).
type storedVerdict struct {
	Test   string
	PValue float64
	Rates  map[string]abtest.Interval
}

func decidedTest(step string, ab *plan.ABTest, d *abDecisionRow) reportABTest {
	at := d.DecidedAt.UTC()
	r := reportABTest{Step: step, Metric: d.Metric, State: "decided", Decision: d.Decision, Winner: d.Winner,
		Significant: d.Significant, Inconclusive: d.Decision != abtest.DecisionWinner, DecidedAt: &at,
		Reason: d.Reason, Variants: []reportABVariant{}}
	if !math.IsNaN(d.PValue) && !math.IsInf(d.PValue, 0) {
		p := d.PValue
		r.PValue = &p
	}
	var v storedVerdict
	if json.Unmarshal([]byte(d.Detail), &v) == nil && len(v.Rates) > 0 {
		r.Test = v.Test
	}
	for _, name := range variantOrder(ab, v.Rates) {
		rv := reportABVariant{Name: name, Winner: name == d.Winner && d.Decision == abtest.DecisionWinner}
		if iv, ok := v.Rates[name]; ok {
			rv.setInterval(iv)
		}
		r.Variants = append(r.Variants, rv)
	}
	return r
}

// pendingTest computes a test's figures so far with abtest.Decide (pure: it
// only names the test, the intervals and the p-value here; the decision it
// would take now is not the engine's, which waits for decide_after).
func pendingTest(step string, ab *plan.ABTest, live []abLiveRow, revenue []store.VariantRevenue, now time.Time) reportABTest {
	r := reportABTest{Step: step, Metric: ab.Metric, State: "pending", DecideAfter: ab.DecideAfter, Variants: []reportABVariant{}}
	var started time.Time
	counts := make([]abtest.Count, 0, len(live))
	measured := true
	byName := map[string]abLiveRow{}
	// Revenue: the engine's figures (purchasers as the successes).
	revenueOf := map[string]store.VariantRevenue{}
	for _, v := range revenue {
		revenueOf[v.Variant] = v
	}
	for _, l := range live {
		if started.IsZero() || l.Started.Before(started) {
			started = l.Started
		}
		if ab.Metric == "revenue" {
			v := revenueOf[l.Variant]
			m := abtest.Moments{N: v.Sent, Mean: v.Mean, Var: v.Var}
			l.Sent = v.Sent
			counts = append(counts, abtest.Count{Variant: l.Variant, Sent: v.Sent, Successes: v.Purchasers, RevenueMoments: &m})
			byName[l.Variant] = l
			continue
		}
		s, ok := l.successes(ab.Metric)
		measured = measured && ok
		counts = append(counts, abtest.Count{Variant: l.Variant, Sent: l.Sent, Successes: s})
		byName[l.Variant] = l
	}
	after, err := plan.ParseDuration(ab.DecideAfter)
	switch {
	case err != nil:
		r.Reason = "not decided yet: decide_after " + ab.DecideAfter + " cannot be read"
	case started.IsZero():
		r.Reason = "not decided yet: no test message has gone out; it decides " + ab.DecideAfter + " after the first"
	default:
		at := started.Add(after).UTC()
		r.DecidesAt = &at
		if now.Before(at) {
			r.Reason = "not decided yet (decides at " + at.Format(time.RFC3339) + ")"
		} else {
			r.Reason = "not decided yet (due since " + at.Format(time.RFC3339) + ": the leader decides on its next pass)"
		}
	}
	var verdict *abtest.Verdict
	if measured && len(live) > 0 {
		if v, err := abtest.Decide(ab, counts); err == nil {
			verdict = &v
			r.Test = v.Test
			p := v.PValue
			r.PValue = &p
		}
	}
	if !measured {
		r.Reason += "; metric " + ab.Metric + " is not measured by this version of the daemon"
	}
	for _, name := range variantOrder(ab, nil) {
		rv := reportABVariant{Name: name}
		if l, ok := byName[name]; ok && measured {
			s, _ := l.successes(ab.Metric)
			if ab.Metric == "revenue" {
				s = revenueOf[name].Purchasers
			}
			sent := l.Sent
			rv.Sent, rv.Successes = &sent, &s
		} else if measured {
			var zero int64
			rv.Sent, rv.Successes = &zero, &zero
		}
		if verdict != nil {
			iv := verdict.Rates[name]
			rv.setInterval(iv)
		}
		r.Variants = append(r.Variants, rv)
	}
	return r
}

// variantOrder is the test's variants in the plan's order, then any the
// stored rates name that the plan no longer does.
func variantOrder(ab *plan.ABTest, rates map[string]abtest.Interval) []string {
	var names []string
	for _, v := range ab.Variants {
		names = append(names, v.Name)
	}
	var rest []string
	for n := range rates {
		if !slices.Contains(names, n) {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	return append(names, rest...)
}
