package check

import (
	"fmt"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
)

// Event retention (plan.EventRetention): the daemon drops contact events
// older than the longest event_retention of any policy. A predicate that looks
// further back than that would validate and then quietly answer from less
// history than it says (inactive_for(days(500)) under a 400-day retention
// holds for everyone active 401 days ago), so it is an error, at the
// predicate. A predicate with no window at all (opened("campaign", "step"):
// ever) is a warning: it still works, but only over the retained events.

const retentionHelp = `event_retention is how long contact events are kept, in whole days or weeks: "400d", "57w". Months are not a unit (they differ in length): "396d" is about 13 months. It must be at least 31 days; the longest retention of all policies applies, and without one events are kept forever.`

// retention is the longest event_retention declared so far, where.
type retention struct {
	d      time.Duration
	policy string
	at     ir.Range
	text   string // as written: "400d"
}

// eventWindow is one place that reads contact events over a window measured
// back from now.
type eventWindow struct {
	owner string
	what  string // as written: lead.clicked(days(500)), trigger inactive_for "500d"
	at    ir.Range
	// within is the window; zero means any time up to now.
	within time.Duration
}

// eventRetention checks a policy's event_retention and remembers the longest.
func (c *checker) eventRetention(owner string, p *ir.Policy) {
	s := p.EventRetention
	if !usable(s) {
		return
	}
	d, err := plan.ParseEventRetention(s.Value)
	if err != nil {
		c.errorf(s.Content(), "%s: %v", owner, err).Detail = retentionHelp
		return
	}
	r := retention{d: d, policy: p.Name.Value, at: s.Content(), text: s.Value}
	c.retentions = append(c.retentions, r)
	if d > c.retention.d {
		c.retention = r
	}
}

// shorterRetentions warns at each event_retention shorter than the longest:
// events are kept for the longest of all policies (plan.EventRetention), so
// a shorter one, often a compliance limit written for one policy's objects,
// keeps nothing for less time. It runs after every policy was checked.
func (c *checker) shorterRetentions() {
	for _, r := range c.retentions {
		if r.d >= c.retention.d {
			continue
		}
		c.warnf(r.at, "policy %q: event_retention is not applied: events are kept for the longest retention of all policies, policy %q's %s",
			r.policy, c.retention.policy, c.retention.text).Detail =
			"Contact events are one table for the whole plan, kept as long as the longest event_retention any policy declares; a policy cannot keep its objects' events for less. " +
				"Declare the retention you need on every policy that sets one (or on policy \"default\" alone), or remove this one."
	}
}

// engagementWindows records the engagement predicates of a checked
// expression, for retentionWindows.
func (c *checker) engagementWindows(u celUse, x *textIndex, checked *cel.Ast) {
	a := checked.NativeRep()
	ast.PostOrderVisit(a.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		call, ok, err := celmodel.ParseEngagementCall(e, u.env.model.Name.Value)
		if !ok || err != nil {
			return
		}
		start, _ := argRange(a, x, e)
		end := closingParen(x.text, start)
		c.windows = append(c.windows, eventWindow{owner: u.owner, what: x.text[start:end], at: u.expr.Sub(start, end), within: call.Within})
	}))
}

// closingParen returns the byte after the ")" that closes the first "(" at or
// after start, or len(text).
func closingParen(text string, start int) int {
	depth := 0
	for i := start; i < len(text); i++ {
		switch ch := text[i]; ch {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		case '"', '\'':
			for i++; i < len(text) && text[i] != ch; i++ {
				if text[i] == '\\' {
					i++
				}
			}
		}
	}
	return len(text)
}

// triggerWindow records a workflow trigger's window (engagement_threshold's
// window, inactivity's inactive_for), which the daemon turns into an
// engagement predicate.
func (c *checker) triggerWindow(owner, attr string, s *ir.String) {
	if !usable(s) {
		return
	}
	d, err := plan.ParseDuration(s.Value)
	if err != nil || d <= 0 {
		return // reported by duration
	}
	c.windows = append(c.windows, eventWindow{owner: owner, what: fmt.Sprintf("%s %q", attr, s.Value), at: s.Content(), within: d})
}

// retentionWindows reports every recorded window longer than the retention.
func (c *checker) retentionWindows() {
	r := c.retention
	if r.d == 0 {
		return
	}
	for _, w := range c.windows {
		if !c.once("retention " + w.at.String()) {
			continue
		}
		switch {
		case w.within == 0:
			c.warnf(w.at, "%s: %s reads events of any age, but events are kept only %s (event_retention of policy %q)", w.owner, w.what, days(r.d), r.policy).Detail =
				fmt.Sprintf("Events older than the retention (set at %s) are dropped, so this predicate only sees the last %s. Raise event_retention if it must see further back.", r.at, days(r.d))
		case w.within > r.d:
			c.errorf(w.at, "%s: %s looks back %s, longer than the event retention of %s (event_retention of policy %q)", w.owner, w.what, days(w.within), days(r.d), r.policy).Detail =
				fmt.Sprintf("Events older than %s are dropped (event_retention at %s), so this predicate would quietly answer from less history than it says. Shorten the window to at most %s, or raise event_retention to at least %s.", days(r.d), r.at, days(r.d), days(w.within))
		}
	}
}

// days writes a duration in days when it is whole days ("400 days"), else as
// Go does.
func days(d time.Duration) string {
	day := 24 * time.Hour
	if d%day == 0 {
		if d == day {
			return "1 day"
		}
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}
