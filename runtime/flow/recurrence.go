package flow

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// A multiple-mode autoresponder (Zoho's "multiple response") sends one
// template on a recurrence: every N days, every N weeks on chosen weekdays,
// or on day D every N months. Every enrolled contact gets the same issues:
// the issue of a date is one step, named "issue-2026-02-01", so the outbox
// key (kind, object, step, contact, occurrence) sends each issue exactly once
// per contact, whatever the retries, restarts and replicas.
//
// The calendar, decided here once:
//
//   - The recurrence is anchored at the autoresponder's start: the first
//     issue is the first date of the recurrence at or after it; "every 2
//     weeks" counts weeks (Monday to Sunday) from the week holding the start,
//     "every 3 months" counts months from the start's month.
//   - Issues go out at the start's time of day, in the start's UTC offset
//     (weekdays and month days are that offset's too). A start written as a
//     date ("2026-01-01") is midnight UTC, as everywhere else in the plan (a
//     single-mode autoresponder's follow-ups count from that same instant):
//     write a timestamp ("2026-01-01T09:00:00Z") for another hour. The send
//     path's quiet hours then move each message into the contact's day.
//   - Without a start, the anchor is 1970-01-01T00:00:00Z: fixed, so every
//     replica and every revision agree on which weeks or months are on.
//   - end is an instant and is exclusive: an issue due at or after it is not
//     sent (start 2026-01-01, end 2027-01-01, monthly on the 1st: twelve
//     issues, January to December).
//   - day_of_month past the month's length (31 in April, 29 to 31 in
//     February) sends on the month's last day: a monthly issue is never
//     skipped for a short month.
//   - max_follow_ups bounds the issues one enrollment is sent when the
//     recurrence has no end (the schema's "ceiling on a recurrence without an
//     end date"); with an end, the end decides. It defaults to 10 in the
//     language, so the engine says at apply time when it cuts an endless
//     recurrence short (MaxCutsShort), and the enrollment's exit says why.

// Recurrence units.
const (
	UnitDay   = "day"
	UnitWeek  = "week"
	UnitMonth = "month"
)

// issuePrefix starts the step name of every issue.
const issuePrefix = "issue-"

// Recurring is a multiple-mode autoresponder, ready to advance.
type Recurring struct {
	Name     string
	Segment  string
	Template string
	Unit     string
	Every    int
	// Weekdays are the weekly recurrence's days, in week order from Monday.
	Weekdays   []time.Weekday
	DayOfMonth int
	// Anchor is the start (or the Unix epoch without one): the first
	// period, the time of day and the UTC offset of every issue.
	Anchor time.Time
	// Start and End as written; End zero: none.
	Start, End time.Time
	// MaxIssues bounds the issues sent to one enrollment; 0: no bound.
	MaxIssues int
	// ExitOnReply ends the enrollment ('responded') once the contact replied
	// to one of its issues: exclude_responders.
	ExitOnReply bool
}

var weekdayNames = map[string]time.Weekday{
	"mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday,
	"fri": time.Friday, "sat": time.Saturday, "sun": time.Sunday,
}

// ParseInstant reads a plan date ("2026-01-01": midnight UTC) or an RFC 3339
// timestamp; "" is the zero time.
func ParseInstant(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", s)
}

// CompileRecurring reads a multiple-mode autoresponder. The compiler has
// validated the plan; an error here names the field this runner cannot use.
func CompileRecurring(a *plan.Autoresponder) (*Recurring, error) {
	if a.Mode != "multiple" {
		return nil, fmt.Errorf("autoresponder %s: mode %q is not a recurrence", a.Name, a.Mode)
	}
	rc := a.Recurrence
	if rc == nil {
		return nil, fmt.Errorf("autoresponder %s: mode multiple needs recurrence", a.Name)
	}
	if a.Template == "" {
		return nil, fmt.Errorf("autoresponder %s: mode multiple needs template", a.Name)
	}
	r := &Recurring{Name: a.Name, Segment: a.Segment, Template: a.Template, Unit: rc.Unit, Every: rc.Every,
		DayOfMonth: rc.DayOfMonth, ExitOnReply: a.ExcludeResponders}
	if a.End == "" {
		// The schema's "ceiling on a recurrence without an end date": with an
		// end, the end decides, and a monthly newsletter with the default 10
		// does not stop after ten issues.
		r.MaxIssues = a.MaxFollowUps
	}
	if r.Every == 0 {
		r.Every = 1 // the language's default
	}
	if r.Every < 0 {
		return nil, fmt.Errorf("autoresponder %s: recurrence.every %d: want 1 or more", a.Name, rc.Every)
	}
	var err error
	if r.Start, err = ParseInstant(a.Start); err != nil {
		return nil, fmt.Errorf("autoresponder %s: start: %w", a.Name, err)
	}
	if r.End, err = ParseInstant(a.End); err != nil {
		return nil, fmt.Errorf("autoresponder %s: end: %w", a.Name, err)
	}
	r.Anchor = r.Start
	if r.Anchor.IsZero() {
		r.Anchor = time.Unix(0, 0).UTC()
	}
	switch r.Unit {
	case UnitDay:
	case UnitWeek:
		for _, w := range rc.Weekdays {
			d, ok := weekdayNames[strings.ToLower(w)]
			if !ok {
				return nil, fmt.Errorf("autoresponder %s: recurrence.weekdays: %q is not mon, tue, wed, thu, fri, sat or sun", a.Name, w)
			}
			if !slices.Contains(r.Weekdays, d) {
				r.Weekdays = append(r.Weekdays, d)
			}
		}
		if len(r.Weekdays) == 0 {
			return nil, fmt.Errorf("autoresponder %s: a weekly recurrence needs weekdays", a.Name)
		}
		slices.SortFunc(r.Weekdays, func(x, y time.Weekday) int { return fromMonday(x) - fromMonday(y) })
	case UnitMonth:
		if r.DayOfMonth < 1 || r.DayOfMonth > 31 {
			return nil, fmt.Errorf("autoresponder %s: recurrence.day_of_month %d: want 1 to 31", a.Name, r.DayOfMonth)
		}
	default:
		return nil, fmt.Errorf("autoresponder %s: recurrence.unit %q: want day, week or month", a.Name, r.Unit)
	}
	return r, nil
}

// fromMonday is the weekday's place in a week that starts on Monday (0 to 6).
func fromMonday(d time.Weekday) int { return (int(d) + 6) % 7 }

// at is the issue instant on the civil date (y, m, d) of the anchor's offset,
// at the anchor's time of day. time.Date normalises overflowing days.
func (r *Recurring) at(y int, m time.Month, d int) time.Time {
	a := r.Anchor
	return time.Date(y, m, d, a.Hour(), a.Minute(), a.Second(), a.Nanosecond(), a.Location())
}

// civilDays is the number of calendar days from a's date to b's date.
func civilDays(a, b time.Time) int {
	ya, ma, da := a.Date()
	yb, mb, db := b.Date()
	return int(time.Date(yb, mb, db, 0, 0, 0, 0, time.UTC).Sub(time.Date(ya, ma, da, 0, 0, 0, 0, time.UTC)) / (24 * time.Hour))
}

// floorDiv rounds towards minus infinity, so periods before the anchor count
// the same way as periods after it.
func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// Next is the first issue strictly after after, and false when there is
// none before the end.
func (r *Recurring) Next(after time.Time) (time.Time, bool) {
	t := r.next(after)
	if !r.End.IsZero() && !t.Before(r.End) {
		return time.Time{}, false
	}
	return t, true
}

// First is the first issue at or after from, and false when there is none
// before the end.
func (r *Recurring) First(from time.Time) (time.Time, bool) {
	return r.Next(from.Add(-time.Nanosecond))
}

// next ignores the end. It starts at the period holding after (or the
// anchor's, before it) and looks at most two periods ahead: each period has
// an issue, and a later one is after after.
func (r *Recurring) next(after time.Time) time.Time {
	a := r.Anchor
	if after.Before(a) {
		after = a.Add(-time.Nanosecond)
	}
	local := after.In(a.Location())
	ay, am, ad := a.Date()
	switch r.Unit {
	case UnitDay:
		k := floorDiv(civilDays(a, local), r.Every) * r.Every
		for ; ; k += r.Every {
			if t := r.at(ay, am, ad+k); t.After(after) && !t.Before(a) {
				return t
			}
		}
	case UnitWeek:
		monday := ad - fromMonday(a.Weekday())
		w := floorDiv(floorDiv(civilDays(a, local)+fromMonday(a.Weekday()), 7), r.Every) * r.Every
		for ; ; w += r.Every {
			for _, wd := range r.Weekdays {
				if t := r.at(ay, am, monday+7*w+fromMonday(wd)); t.After(after) && !t.Before(a) {
					return t
				}
			}
		}
	default: // UnitMonth
		ly, lm, _ := local.Date()
		k := floorDiv((ly-ay)*12+int(lm-am), r.Every) * r.Every
		for ; ; k += r.Every {
			first := time.Date(ay, am+time.Month(k), 1, 0, 0, 0, 0, time.UTC)
			d := min(r.DayOfMonth, daysIn(first.Year(), first.Month()))
			if t := r.at(first.Year(), first.Month(), d); t.After(after) && !t.Before(a) {
				return t
			}
		}
	}
}

// daysIn is the length of a month: day 0 of the next month is its last day.
func daysIn(y int, m time.Month) int { return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day() }

// Issues lists the issues in [from, to], at most limit of them (0: no
// limit), for tests and for saying what a recurrence will send.
func (r *Recurring) Issues(from, to time.Time, limit int) []time.Time {
	var out []time.Time
	for t, ok := r.First(from); ok && !t.After(to); t, ok = r.Next(t) {
		out = append(out, t)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}

// IssueName is the step name of the issue at t: its date in the anchor's
// offset. One issue per date, so the name identifies it.
func (r *Recurring) IssueName(t time.Time) string {
	return issuePrefix + t.In(r.Anchor.Location()).Format("2006-01-02")
}

// IssueDate reads the date of an issue's step name, as midnight in the
// anchor's offset; false when name is not an issue's.
func (r *Recurring) IssueDate(name string) (time.Time, bool) {
	s, ok := strings.CutPrefix(name, issuePrefix)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("2006-01-02", s, r.Anchor.Location())
	return t, err == nil
}

// IsIssue reports whether a step name is an issue's (any recurrence's).
func IsIssue(name string) bool {
	s, ok := strings.CutPrefix(name, issuePrefix)
	if !ok {
		return false
	}
	_, err := time.Parse("2006-01-02", s)
	return err == nil
}

// MaxCutsShort says whether max_follow_ups stops a contact enrolled at the
// start before the recurrence ends (always, without an end), and the date of
// the last issue it gets; apply and serve say so, so a newsletter never stops
// silently after its tenth issue.
func (r *Recurring) MaxCutsShort() (last time.Time, cut bool) {
	if r.MaxIssues <= 0 {
		return time.Time{}, false
	}
	is := r.Issues(r.Anchor, r.Anchor.AddDate(1000, 0, 0), r.MaxIssues+1)
	if len(is) <= r.MaxIssues {
		return time.Time{}, false
	}
	return is[r.MaxIssues-1], true
}

// RecurringState is what the runner keeps of one enrollment between advances.
type RecurringState struct {
	ContactKey string
	// From is the earliest time an issue may still be owed to the contact:
	// the issue it waits for (or its enrollment, before the first).
	From time.Time
	// Sent is how many issues were sent to it.
	Sent int
}

// RecurringFacts are what the engine knows about the contact now.
type RecurringFacts struct {
	Now time.Time
	// Replied: the contact replied to one of this enrollment's issues.
	Replied bool
	// DoNotEmail: the contact's record forbids mail (do_not_email).
	DoNotEmail bool
	// LeftSegment: the contact is no longer in the autoresponder's segment.
	// Its issues are skipped while it is out, and resume if it comes back:
	// a recurrence can run for years, and who it mails is the segment's
	// current answer, as for a campaign at its send time.
	LeftSegment bool
	// Suppressed is why the contact's address is on the suppression list, ""
	// when it is not: its issues are skipped, saying so, while it is.
	Suppressed string
}

// Advance decides one enrollment: the issue due now is sent (only the most
// recent one when several were missed, the older ones skipped, saying so),
// then the enrollment waits for the next issue, or exits: 'responded' when
// responders are excluded and the contact replied, 'completed' past the end
// or once max_follow_ups issues were sent. Decision.Next is the number of
// issues sent; the step it waits for is IssueName(Decision.WakeAt).
func (r *Recurring) Advance(st RecurringState, f RecurringFacts) Decision {
	d := Decision{Next: st.Sent}
	waiting := ""
	if t, ok := r.First(st.From); ok {
		waiting = r.IssueName(t)
	}
	exit := func(reason, why string) Decision {
		d.Actions = append(d.Actions, Action{Kind: ActExit, Step: waiting, Reason: why})
		d.Exit, d.WakeAt = reason, time.Time{}
		return d
	}
	if r.ExitOnReply && f.Replied {
		return exit(ExitResponded, "replied: responders get no further issue")
	}
	if r.MaxIssues > 0 && st.Sent >= r.MaxIssues {
		return exit(ExitCompleted, fmt.Sprintf("max_follow_ups is %d and %d issues were sent", r.MaxIssues, st.Sent))
	}
	// The issues owed: every one from From to now. Only the first, the one
	// before the last and the last are kept (for the reason and the send): a
	// daily recurrence after a long outage owes many.
	var first, before, latest time.Time
	n := 0
	for t, ok := r.First(st.From); ok && !t.After(f.Now); t, ok = r.Next(t) {
		if n == 0 {
			first = t
		}
		before, latest = latest, t
		n++
	}
	if n == 0 {
		next, ok := r.First(st.From)
		if !ok {
			return exit(ExitCompleted, "no issue left before the end, "+r.End.Format(time.RFC3339))
		}
		d.WakeAt = next
		return d
	}
	if n > 1 {
		d.Actions = append(d.Actions, Action{Kind: ActSkip, Step: r.IssueName(first), Reason: fmt.Sprintf(
			"%d issues from %s to %s were missed while no daemon ran: only the most recent missed issue, %s, is sent",
			n-1, r.IssueName(first), r.IssueName(before), r.IssueName(latest))})
	}
	name := r.IssueName(latest)
	switch {
	case f.Suppressed != "":
		d.Actions = append(d.Actions, Action{Kind: ActSkip, Step: name, Reason: "the address is suppressed (" + f.Suppressed + ")"})
	case f.DoNotEmail:
		d.Actions = append(d.Actions, Action{Kind: ActSkip, Step: name, Reason: "the contact's record says do not email"})
	case f.LeftSegment:
		d.Actions = append(d.Actions, Action{Kind: ActSkip, Step: name, Reason: "no longer in segment " + r.Segment})
	default:
		reason := ""
		if latest.Before(f.Now.Add(-time.Hour)) {
			reason = "due " + latest.Format(time.RFC3339) + ", sent late"
		}
		d.Actions = append(d.Actions, Action{Kind: ActSend, Step: name, Reason: reason})
		d.Next++
	}
	waiting = ""
	next, ok := r.Next(latest)
	if !ok {
		return exit(ExitCompleted, "the last issue before the end, "+r.End.Format(time.RFC3339))
	}
	waiting = r.IssueName(next)
	if r.MaxIssues > 0 && d.Next >= r.MaxIssues {
		return exit(ExitCompleted, fmt.Sprintf("max_follow_ups is %d: %d issues sent", r.MaxIssues, d.Next))
	}
	d.WakeAt = next
	return d
}
