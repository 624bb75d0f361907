package statuspage

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Source reads what the page shows. Errors that are the reader's to fix (an
// unknown object, a contact that matches nothing) are UserError and shown as
// they are; any other error is logged and the page says only that the store
// could not be read.
type Source interface {
	// Overview lists the objects of the applied revision and those the store
	// still holds, in `campaignctl status` order.
	Overview(ctx context.Context) (Overview, error)
	// Object is one object's status, report and graph.
	Object(ctx context.Context, kind, name string) (Object, error)
	// Contact explains the contacts that query names (MODEL:KEY or an email
	// address) and lists their timelines.
	Contact(ctx context.Context, query string) ([]Contact, error)
}

// UserError is an error whose message is meant for the page's reader: it
// names what was not found and how to ask instead. It must not hold secrets;
// it may hold what the reader typed.
type UserError struct{ Msg string }

func (e *UserError) Error() string { return e.Msg }

// IsUserError reports whether err is, or wraps, a *UserError.
func IsUserError(err error) bool {
	var u *UserError
	return errors.As(err, &u)
}

// Overview is the front page.
type Overview struct {
	// Revision describes the applied revision in one line; "" with
	// NothingApplied.
	Revision       string
	NothingApplied bool
	Objects        []ObjectRow
}

// ObjectRow is one line of the overview: status's columns, and the report's
// headline numbers when the object has a report (Report false: removed from
// the plan, so report does not cover it).
type ObjectRow struct {
	Kind, Name            string
	Sync, Health, Message string
	Report                bool
	Sent                  int64
	Received, Opened      Rate
	Clicked, Replied      Rate
	Bounced               Rate
}

// Rate is a count with its percentage of a denominator; Percent is nil when
// the denominator is zero.
type Rate struct {
	Count   int64
	Percent *float64
}

// String is "18 (90.0%)", or "0 (-)" without a denominator, as report prints.
func (r Rate) String() string {
	if r.Percent == nil {
		return strconv.FormatInt(r.Count, 10) + " (-)"
	}
	return strconv.FormatInt(r.Count, 10) + " (" + FormatPercent(*r.Percent) + ")"
}

// FormatPercent is report's percentage: one decimal.
func FormatPercent(p float64) string { return strconv.FormatFloat(p, 'f', 1, 64) + "%" }

// Numbers are the smart buttons of an object, a step or a variant.
type Numbers struct {
	Sent                               int64
	Received, Opened, Clicked, Replied Rate
	Bounced, Ignored                   Rate
	MachineOpened, Complained          Rate
	// Goals is nil for campaigns, which have no goal.
	Goals                      *Rate
	Pending, Failed, Cancelled int64
}

// Object is an object's page.
type Object struct {
	Row ObjectRow
	// Summary is the report's line under the object's title ("" without a
	// report).
	Summary     string
	Totals      *Numbers // nil without a report
	Funnel      []FunnelStep
	ABTests     []ABTest
	Steps       []StepStatus
	Graph       *Graph // nil for kinds without a graph
	NotMeasured []string
	// Generated is when the numbers were read.
	Generated time.Time
}

// FunnelStep is one step's numbers and its variants'.
type FunnelStep struct {
	Name     string // "" for a campaign's one send
	Label    string // how report names the step
	InPlan   bool
	Numbers  Numbers
	Variants []Variant
}

// Variant is one A/B variant's numbers.
type Variant struct {
	Name    string
	Label   string
	Numbers Numbers
}

// ABTest is an A/B verdict, worded as report words it.
type ABTest struct {
	Step  string
	Title string // "A/B test on welcome: open_rate by two-proportion z-test"
	// Verdict is report's sentence: the decision, when, the p-value and
	// the engine's reason, or what a pending test waits for.
	Verdict  string
	Variants []ABVariant
}

// ABVariant is one variant's metric with its 95% interval.
type ABVariant struct {
	Name, Value, Interval string
	Sent, Successes       string // "" when unknown
	Winner                bool
}

// StepStatus is one row of status's step table.
type StepStatus struct {
	Name, Kind                               string
	InPlan                                   bool
	Sent, Skipped, Held, Waiting, ExitedHere string // "-" where the kind cannot
	Done                                     string
	AB                                       []string
}

// Graph is a workflow or sequence chart: nodes in the order drawn top to
// bottom, edges between their IDs.
type Graph struct {
	Nodes []GraphNode
	Edges []GraphEdge
}

// GraphNode is one box. Counts is the step's line of numbers ("" for nodes
// that are not steps).
type GraphNode struct {
	ID     string
	Role   string // trigger, step, offset, goal, end, unknown, removed
	Step   string
	Lines  []string
	Counts string
}

// GraphEdge is one arrow.
type GraphEdge struct {
	From, To, Label string
	Dotted          bool
}

// Contact is what the lookup shows for one contact.
type Contact struct {
	Model, Key, Email string
	// Explain is `campaignctl explain`'s text for the contact.
	Explain   string
	Timeline  []TimelineEntry
	Truncated bool // older timeline entries were left out
	Events    int
	Messages  int
}

// TimelineEntry is one row of `campaignctl timeline`.
type TimelineEntry struct {
	At                         time.Time
	What, Object, Step, Detail string
}
