package celmodel

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// Engagement predicates read the runner's own events table (page views, form
// submissions, opens and clicks of mailings, …) for the contact a filter is looking
// at. They are member functions of the model variable, so they read as English and
// cannot be confused with a field:
//
//	lead.clicked(days(30))                          clicked any mailing in the last 30 days
//	lead.opened("restock_nurture", "week1")         ever opened step week1 of restock_nurture
//	lead.event_count("page_view", "makeup", days(14)) >= 3
//	lead.inactive_for(days(90))                     no page view, click or form submission in 90 days
//
// Every argument must be a literal (a string, days(N) or duration("…")), so the
// question a filter asks is fixed by the file in git and can be answered by one SQL
// subquery per call, on both evaluation paths.
const (
	FuncClicked     = "clicked"
	FuncOpened      = "opened"
	FuncEventCount  = "event_count"
	FuncInactiveFor = "inactive_for"
	// FuncDays turns a whole number of days into a duration: days(30).
	FuncDays = "days"
)

// Event types the predicates read. Opens include clicks: a recipient who clicked
// a link saw the message even when the tracking pixel was blocked.
const (
	EventClick      = "click"
	EventOpen       = "open"
	EventPageView   = "page_view"
	EventFormSubmit = "form_submit"
)

// ActivityTypes are the events that count as activity for inactive_for.
var ActivityTypes = []string{EventClick, EventFormSubmit, EventPageView}

// EventTypeRE is the shape of an event type, shared with the events table's CHECK.
var EventTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// maxDays keeps days(N) inside time.Duration (about 292 years).
const maxDays = 100_000

// EngagementCall is one engagement predicate with its arguments, as a comparable
// value: the same call written twice is the same key.
type EngagementCall struct {
	Func     string // FuncClicked, FuncOpened, FuncEventCount or FuncInactiveFor
	Type     string // event_count: the event type
	Topic    string // event_count with a topic
	Campaign string // clicked/opened of one campaign step
	Step     string // "" for any step of Campaign
	// Within is the window (now-Within, now]; zero means any time up to now.
	Within time.Duration
}

// String writes the call back as a filter would.
func (c EngagementCall) String() string {
	d := "duration(" + strconv.Quote(c.Within.String()) + ")"
	if c.Within%(24*time.Hour) == 0 {
		d = "days(" + strconv.FormatInt(int64(c.Within/(24*time.Hour)), 10) + ")"
	}
	switch {
	case c.Func == FuncEventCount && c.Topic != "":
		return fmt.Sprintf("%s(%q, %q, %s)", c.Func, c.Type, c.Topic, d)
	case c.Func == FuncEventCount:
		return fmt.Sprintf("%s(%q, %s)", c.Func, c.Type, d)
	case c.Campaign != "":
		return fmt.Sprintf("%s(%q, %q)", c.Func, c.Campaign, c.Step)
	}
	return fmt.Sprintf("%s(%s)", c.Func, d)
}

// Types is the set of event types the call reads.
func (c EngagementCall) Types() []string {
	switch c.Func {
	case FuncClicked:
		return []string{EventClick}
	case FuncOpened:
		return []string{EventClick, EventOpen}
	case FuncInactiveFor:
		return ActivityTypes
	}
	return []string{c.Type}
}

// Engagement is implemented by records that can answer engagement predicates: the
// runtime computes the value of each call for the row alongside its columns. The
// result is a types.Bool (clicked, opened, inactive_for) or a types.Int
// (event_count), or an error value when the record has no answer.
type Engagement interface {
	Engagement(call EngagementCall) ref.Val
}

func engagementOptions(objType *types.Type) []cel.EnvOption {
	dur := cel.DurationType
	str := cel.StringType
	member := func(fn, id string, args []*cel.Type, ret *cel.Type, build func(args []ref.Val) (EngagementCall, error)) cel.EnvOption {
		return cel.Function(fn, cel.MemberOverload(id, append([]*cel.Type{objType}, args...), ret,
			cel.FunctionBinding(func(vals ...ref.Val) ref.Val {
				call, err := build(vals[1:])
				if err != nil {
					return types.NewErrFromString(err.Error())
				}
				return engagementOf(vals[0], call)
			})))
	}
	within := func(fn string) func([]ref.Val) (EngagementCall, error) {
		return func(a []ref.Val) (EngagementCall, error) {
			d, err := durationArg(a[0])
			return EngagementCall{Func: fn, Within: d}, err
		}
	}
	step := func(fn string) func([]ref.Val) (EngagementCall, error) {
		return func(a []ref.Val) (EngagementCall, error) {
			return EngagementCall{Func: fn, Campaign: stringArg(a[0]), Step: stringArg(a[1])}, nil
		}
	}
	return []cel.EnvOption{
		cel.Function(FuncDays, cel.Overload("days_int", []*cel.Type{cel.IntType}, dur,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				n, ok := v.(types.Int)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				d, err := daysDuration(int64(n))
				if err != nil {
					return types.NewErrFromString(err.Error())
				}
				return types.Duration{Duration: d}
			}))),
		member(FuncClicked, "model_clicked_within", []*cel.Type{dur}, cel.BoolType, within(FuncClicked)),
		member(FuncClicked, "model_clicked_step", []*cel.Type{str, str}, cel.BoolType, step(FuncClicked)),
		member(FuncOpened, "model_opened_within", []*cel.Type{dur}, cel.BoolType, within(FuncOpened)),
		member(FuncOpened, "model_opened_step", []*cel.Type{str, str}, cel.BoolType, step(FuncOpened)),
		member(FuncInactiveFor, "model_inactive_for", []*cel.Type{dur}, cel.BoolType, within(FuncInactiveFor)),
		member(FuncEventCount, "model_event_count", []*cel.Type{str, dur}, cel.IntType,
			func(a []ref.Val) (EngagementCall, error) {
				d, err := durationArg(a[1])
				return EngagementCall{Func: FuncEventCount, Type: stringArg(a[0]), Within: d}, err
			}),
		member(FuncEventCount, "model_event_count_topic", []*cel.Type{str, str, dur}, cel.IntType,
			func(a []ref.Val) (EngagementCall, error) {
				d, err := durationArg(a[2])
				return EngagementCall{Func: FuncEventCount, Type: stringArg(a[0]), Topic: stringArg(a[1]), Within: d}, err
			}),
	}
}

func engagementOf(target ref.Val, call EngagementCall) ref.Val {
	r, ok := asRecord(target)
	if !ok {
		return types.NewErr("%s: not a record of a model", call.Func)
	}
	e, ok := r.(Engagement)
	if !ok {
		return types.NewErr("%s needs the runner's events table; this evaluation has none", call.Func)
	}
	return e.Engagement(call)
}

func stringArg(v ref.Val) string {
	s, _ := v.(types.String)
	return string(s)
}

func durationArg(v ref.Val) (time.Duration, error) {
	d, ok := v.(types.Duration)
	if !ok {
		return 0, fmt.Errorf("want a duration, got %s", v.Type().TypeName())
	}
	return d.Duration, nil
}

func daysDuration(n int64) (time.Duration, error) {
	if n < 0 || n > maxDays {
		return 0, fmt.Errorf("days(%d): want a whole number of days from 0 to %d", n, maxDays)
	}
	return time.Duration(n) * 24 * time.Hour, nil
}

// ArgError is a bad argument of an engagement predicate; Expr is the argument.
type ArgError struct {
	Expr celast.Expr
	Msg  string
}

func (e *ArgError) Error() string { return e.Msg }

// ParseEngagementCall recognizes an engagement predicate called on the variable of
// model (lead.clicked(days(30))) in a checked AST and reads its literal
// arguments. ok is false when e is not such a call. A call whose arguments are not
// literals, or are out of range, returns an *ArgError naming the argument.
func ParseEngagementCall(e celast.Expr, model string) (call EngagementCall, ok bool, err error) {
	if e.Kind() != celast.CallKind {
		return call, false, nil
	}
	c := e.AsCall()
	if !c.IsMemberFunction() || c.Target().Kind() != celast.IdentKind || c.Target().AsIdent() != model {
		return call, false, nil
	}
	call.Func = c.FunctionName()
	args := c.Args()
	switch {
	case call.Func == FuncClicked || call.Func == FuncOpened:
		switch len(args) {
		case 1:
			call.Within, err = withinArg(args[0])
		case 2:
			if call.Campaign, err = stringLit(args[0], "the campaign name"); err == nil {
				call.Step, err = stringLit(args[1], `the step name ("" for any step)`)
			}
			if err == nil && call.Campaign == "" {
				err = &ArgError{args[0], call.Func + ": the campaign name must not be empty"}
			}
		default:
			return call, false, nil
		}
	case call.Func == FuncInactiveFor && len(args) == 1:
		call.Within, err = withinArg(args[0])
	case call.Func == FuncEventCount && (len(args) == 2 || len(args) == 3):
		call.Type, err = stringLit(args[0], "the event type")
		if err == nil && !EventTypeRE.MatchString(call.Type) {
			err = &ArgError{args[0], fmt.Sprintf("event type %q: want lower snake case such as \"page_view\" (a-z, 0-9, _; at most 64 characters)", call.Type)}
		}
		if err == nil && len(args) == 3 {
			call.Topic, err = stringLit(args[1], "the topic")
			if err == nil && call.Topic == "" {
				err = &ArgError{args[1], "event_count: the topic must not be empty; leave it out to count every topic"}
			}
		}
		if err == nil {
			call.Within, err = withinArg(args[len(args)-1])
		}
	default:
		return call, false, nil
	}
	return call, true, err
}

func stringLit(e celast.Expr, what string) (string, error) {
	if e.Kind() == celast.LiteralKind {
		if s, ok := e.AsLiteral().(types.String); ok {
			return string(s), nil
		}
	}
	return "", &ArgError{e, what + " must be a string literal such as \"makeup\""}
}

// withinArg reads days(N) or duration("…") with literal arguments; the window must
// be positive and a whole number of microseconds (Postgres' precision).
func withinArg(e celast.Expr) (time.Duration, error) {
	bad := &ArgError{e, `the time window must be written days(N) or duration("…"), with a literal, such as days(30) or duration("36h")`}
	if e.Kind() != celast.CallKind || e.AsCall().IsMemberFunction() || len(e.AsCall().Args()) != 1 {
		return 0, bad
	}
	arg := e.AsCall().Args()[0]
	if arg.Kind() != celast.LiteralKind {
		return 0, bad
	}
	var d time.Duration
	switch lit := arg.AsLiteral().(type) {
	case types.Int:
		if e.AsCall().FunctionName() != FuncDays {
			return 0, bad
		}
		var err error
		if d, err = daysDuration(int64(lit)); err != nil {
			return 0, &ArgError{e, err.Error()}
		}
	case types.String:
		if e.AsCall().FunctionName() != "duration" {
			return 0, bad
		}
		v := types.String(lit).ConvertToType(types.DurationType)
		dv, ok := v.(types.Duration)
		if !ok {
			return 0, &ArgError{e, fmt.Sprintf("duration(%q) is not a duration (write e.g. \"36h\" or \"90m\")", string(lit))}
		}
		d = dv.Duration
	default:
		return 0, bad
	}
	if d <= 0 {
		return 0, &ArgError{e, "the time window must be positive"}
	}
	if d%time.Microsecond != 0 {
		return 0, &ArgError{e, "the time window must be a whole number of microseconds"}
	}
	return d, nil
}

// EngagementCalls lists the engagement predicates of a checked filter over model,
// in the order they appear, without repeats. It returns the first argument error.
func EngagementCalls(a *celast.AST, model string) ([]EngagementCall, error) {
	var out []EngagementCall
	seen := map[EngagementCall]bool{}
	var first error
	celast.PostOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		call, ok, err := ParseEngagementCall(e, model)
		switch {
		case !ok:
		case err != nil:
			if first == nil {
				first = err
			}
		case !seen[call]:
			seen[call] = true
			out = append(out, call)
		}
	}))
	return out, first
}
