package flow_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/flow"
)

func recurring(t *testing.T, start, end string, rc plan.Recurrence, max int) *flow.Recurring {
	t.Helper()
	r, err := flow.CompileRecurring(&plan.Autoresponder{Name: "news", Segment: "readers", Mode: "multiple", Template: "issue",
		Start: start, End: end, Recurrence: &rc, MaxFollowUps: max, ExcludeResponders: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func fmtTimes(ts []time.Time) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Format("2006-01-02 15:04 Mon"))
	}
	return strings.Join(out, ", ")
}

// The dates each kind of recurrence issues on, from its start.
func TestRecurrenceIssueDates(t *testing.T) {
	month := func(day int) plan.Recurrence { return plan.Recurrence{Unit: "month", Every: 1, DayOfMonth: day} }
	cases := []struct {
		name       string
		start, end string
		rc         plan.Recurrence
		from, to   string
		want       string
	}{
		{"daily from a date: midnight UTC", "2026-01-01", "", plan.Recurrence{Unit: "day", Every: 1}, "2025-12-01 00:00", "2026-01-03 23:59",
			"2026-01-01 00:00 Thu, 2026-01-02 00:00 Fri, 2026-01-03 00:00 Sat"},
		{"every 3 days at the start's time of day", "2026-01-01T09:30:00Z", "", plan.Recurrence{Unit: "day", Every: 3}, "2026-01-01 00:00", "2026-01-12 00:00",
			"2026-01-01 09:30 Thu, 2026-01-04 09:30 Sun, 2026-01-07 09:30 Wed, 2026-01-10 09:30 Sat"},
		{"daily, from a time between issues", "2026-01-01T09:00:00Z", "", plan.Recurrence{Unit: "day", Every: 2}, "2026-01-03 09:00", "2026-01-06 00:00",
			"2026-01-03 09:00 Sat, 2026-01-05 09:00 Mon"},
		{"weekly on mon and thu from a Thursday", "2026-01-01", "", plan.Recurrence{Unit: "week", Every: 1, Weekdays: []string{"thu", "mon"}}, "2026-01-01 00:00", "2026-01-12 00:00",
			"2026-01-01 00:00 Thu, 2026-01-05 00:00 Mon, 2026-01-08 00:00 Thu, 2026-01-12 00:00 Mon"},
		// Week 0 is the week of the start (Mon Dec 29 to Sun Jan 4): its
		// Monday is before the start, so the first issue is Thursday; then
		// every other week.
		{"every 2 weeks on mon and thu", "2026-01-01", "", plan.Recurrence{Unit: "week", Every: 2, Weekdays: []string{"mon", "thu"}}, "2025-01-01 00:00", "2026-02-01 00:00",
			"2026-01-01 00:00 Thu, 2026-01-12 00:00 Mon, 2026-01-15 00:00 Thu, 2026-01-26 00:00 Mon, 2026-01-29 00:00 Thu"},
		{"weekly on sunday from a monday", "2026-01-05T08:00:00Z", "", plan.Recurrence{Unit: "week", Every: 1, Weekdays: []string{"sun"}}, "2026-01-01 00:00", "2026-01-20 00:00",
			"2026-01-11 08:00 Sun, 2026-01-18 08:00 Sun"},
		{"monthly on the 31st: the last day of short months", "2026-01-01", "", month(31), "2026-01-01 00:00", "2026-07-01 00:00",
			"2026-01-31 00:00 Sat, 2026-02-28 00:00 Sat, 2026-03-31 00:00 Tue, 2026-04-30 00:00 Thu, 2026-05-31 00:00 Sun, 2026-06-30 00:00 Tue"},
		{"monthly on the 29th: February 29 in a leap year, 28 otherwise", "2027-01-01", "", month(29), "2027-02-01 00:00", "2028-03-01 00:00",
			"2027-02-28 00:00 Sun, 2027-03-29 00:00 Mon, 2027-04-29 00:00 Thu, 2027-05-29 00:00 Sat, 2027-06-29 00:00 Tue, 2027-07-29 00:00 Thu, " +
				"2027-08-29 00:00 Sun, 2027-09-29 00:00 Wed, 2027-10-29 00:00 Fri, 2027-11-29 00:00 Mon, 2027-12-29 00:00 Wed, 2028-01-29 00:00 Sat, 2028-02-29 00:00 Tue"},
		{"every 2 months on the 15th, started after the 15th", "2026-01-20", "", plan.Recurrence{Unit: "month", Every: 2, DayOfMonth: 15}, "2026-01-01 00:00", "2026-08-01 00:00",
			"2026-03-15 00:00 Sun, 2026-05-15 00:00 Fri, 2026-07-15 00:00 Wed"},
		{"end is exclusive: a year of a monthly newsletter is 12 issues", "2026-01-01T09:00:00Z", "2027-01-01", month(1), "2020-01-01 00:00", "2030-01-01 00:00",
			"2026-01-01 09:00 Thu, 2026-02-01 09:00 Sun, 2026-03-01 09:00 Sun, 2026-04-01 09:00 Wed, 2026-05-01 09:00 Fri, 2026-06-01 09:00 Mon, " +
				"2026-07-01 09:00 Wed, 2026-08-01 09:00 Sat, 2026-09-01 09:00 Tue, 2026-10-01 09:00 Thu, 2026-11-01 09:00 Sun, 2026-12-01 09:00 Tue"},
		{"an issue at the end instant is not sent", "2026-01-01", "2026-01-03", plan.Recurrence{Unit: "day", Every: 1}, "2026-01-01 00:00", "2026-01-10 00:00",
			"2026-01-01 00:00 Thu, 2026-01-02 00:00 Fri"},
		// No start: anchored at 1970-01-01, 20454 days before 2026-01-01.
		{"no start: every 2 days from the epoch", "", "", plan.Recurrence{Unit: "day", Every: 2}, "2026-01-01 00:00", "2026-01-06 00:00",
			"2026-01-01 00:00 Thu, 2026-01-03 00:00 Sat, 2026-01-05 00:00 Mon"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := recurring(t, c.start, c.end, c.rc, 0)
			if got := fmtTimes(r.Issues(utc(c.from), utc(c.to), 0)); got != c.want {
				t.Errorf("issues\n got %s\nwant %s", got, c.want)
			}
		})
	}
}

// A start with a UTC offset: weekdays, dates and the issue's name are the
// offset's, so "Monday 08:00 in +02:00" is Sunday 06:00 UTC... on Monday.
func TestRecurrenceKeepsTheStartsOffset(t *testing.T) {
	r := recurring(t, "2026-01-05T01:00:00+02:00", "", plan.Recurrence{Unit: "week", Every: 1, Weekdays: []string{"mon"}}, 0)
	is := r.Issues(utc("2026-01-01 00:00"), utc("2026-01-13 00:00"), 0)
	if len(is) != 2 || !is[0].Equal(utc("2026-01-04 23:00")) || r.IssueName(is[0]) != "issue-2026-01-05" || r.IssueName(is[1]) != "issue-2026-01-12" {
		t.Fatalf("issues %v named %s, %s; want Monday 01:00 +02:00 (Sunday 23:00 UTC) named by the Monday", is, r.IssueName(is[0]), r.IssueName(is[1]))
	}
}

// Next from any instant agrees with an oracle that walks the calendar day by
// day and applies each rule as the schema states it.
func TestRecurrenceNextAgreesWithTheCalendar(t *testing.T) {
	configs := []struct {
		start string
		rc    plan.Recurrence
	}{
		{"2026-01-01T09:00:00Z", plan.Recurrence{Unit: "day", Every: 1}},
		{"2026-01-03T09:00:00Z", plan.Recurrence{Unit: "day", Every: 5}},
		{"2026-01-01T07:15:00Z", plan.Recurrence{Unit: "week", Every: 1, Weekdays: []string{"tue", "sat"}}},
		{"2026-01-07T00:00:00Z", plan.Recurrence{Unit: "week", Every: 3, Weekdays: []string{"mon", "wed", "sun"}}},
		{"2026-01-31T10:00:00Z", plan.Recurrence{Unit: "month", Every: 1, DayOfMonth: 31}},
		{"2026-02-10T10:00:00Z", plan.Recurrence{Unit: "month", Every: 5, DayOfMonth: 30}},
		{"2027-11-30T06:00:00Z", plan.Recurrence{Unit: "month", Every: 3, DayOfMonth: 29}},
	}
	wd := map[string]time.Weekday{"mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday, "sun": time.Sunday}
	for _, c := range configs {
		r := recurring(t, c.start, "", c.rc, 0)
		a := r.Anchor
		anchorDay := time.Date(a.Year(), a.Month(), a.Day(), 0, 0, 0, 0, time.UTC)
		anchorMonday := anchorDay.AddDate(0, 0, -((int(a.Weekday()) + 6) % 7))
		var oracle []time.Time
		for day := anchorDay.AddDate(0, 0, -40); day.Before(anchorDay.AddDate(4, 0, 0)); day = day.AddDate(0, 0, 1) {
			on := false
			switch c.rc.Unit {
			case "day":
				n := int(day.Sub(anchorDay).Hours() / 24)
				on = n >= 0 && n%c.rc.Every == 0
			case "week":
				w := int(day.Sub(anchorMonday).Hours()/24) / 7
				on = day.Sub(anchorMonday) >= 0 && w%c.rc.Every == 0 && slices.ContainsFunc(c.rc.Weekdays, func(s string) bool { return wd[s] == day.Weekday() })
			case "month":
				m := (day.Year()-a.Year())*12 + int(day.Month()-a.Month())
				last := time.Date(day.Year(), day.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
				on = m >= 0 && m%c.rc.Every == 0 && day.Day() == min(c.rc.DayOfMonth, last)
			}
			issue := day.Add(time.Duration(a.Hour())*time.Hour + time.Duration(a.Minute())*time.Minute)
			if on && !issue.Before(a) {
				oracle = append(oracle, issue)
			}
		}
		if len(oracle) < 10 {
			t.Fatalf("%s %+v: oracle found %d issues", c.start, c.rc, len(oracle))
		}
		// From every 7 hours over the span: the next issue is the oracle's
		// first one after it.
		for from := anchorDay.AddDate(0, 0, -30); from.Before(oracle[len(oracle)-1]); from = from.Add(7 * time.Hour) {
			i, _ := slices.BinarySearchFunc(oracle, from, func(x, y time.Time) int {
				if !x.After(y) {
					return -1
				}
				return 1
			})
			got, ok := r.Next(from)
			if !ok || !got.Equal(oracle[i]) {
				t.Fatalf("%s %+v: Next(%s) = %s %v, want %s", c.start, c.rc, from, got, ok, oracle[i])
			}
		}
	}
}

// One enrollment's advance, rule by rule.
func TestRecurringAdvance(t *testing.T) {
	monthly := recurring(t, "2026-01-01T09:00:00Z", "2027-01-01", plan.Recurrence{Unit: "month", Every: 1, DayOfMonth: 1}, 0)
	monthlyMax3 := recurring(t, "2026-01-01T09:00:00Z", "", plan.Recurrence{Unit: "month", Every: 1, DayOfMonth: 1}, 3)
	keepReplying := *monthly
	keepReplying.ExitOnReply = false
	cases := []struct {
		name string
		r    *flow.Recurring
		st   flow.RecurringState
		f    flow.RecurringFacts
		want string // actions; next (issues sent); wake or exit
	}{
		{"not due yet: wait for the first issue", monthly,
			flow.RecurringState{From: utc("2025-12-20 10:00")}, flow.RecurringFacts{Now: utc("2025-12-20 10:00")},
			"[]; 0; wake 2026-01-01 09:00"},
		{"enrolled between issues: the next one", monthly,
			flow.RecurringState{From: utc("2026-01-10 12:00")}, flow.RecurringFacts{Now: utc("2026-01-10 12:00")},
			"[]; 0; wake 2026-02-01 09:00"},
		{"due: send it, wait for the next", monthly,
			flow.RecurringState{From: utc("2026-02-01 09:00"), Sent: 1}, flow.RecurringFacts{Now: utc("2026-02-01 09:00")},
			"[sent issue-2026-02-01]; 2; wake 2026-03-01 09:00"},
		{"after downtime: the most recent missed issue only", monthly,
			flow.RecurringState{From: utc("2026-02-01 09:00"), Sent: 1}, flow.RecurringFacts{Now: utc("2026-04-20 00:00")},
			"[skipped issue-2026-02-01 (2 issues from issue-2026-02-01 to issue-2026-03-01 were missed while no daemon ran: only the most recent missed issue, issue-2026-04-01, is sent) sent issue-2026-04-01 (due 2026-04-01T09:00:00Z, sent late)]; 2; wake 2026-05-01 09:00"},
		{"a responder exits", monthly,
			flow.RecurringState{From: utc("2026-03-01 09:00"), Sent: 2}, flow.RecurringFacts{Now: utc("2026-03-01 09:00"), Replied: true},
			"[exited issue-2026-03-01 (replied: responders get no further issue)]; 2; exit responded"},
		{"a responder keeps getting issues without exclude_responders", &keepReplying,
			flow.RecurringState{From: utc("2026-03-01 09:00"), Sent: 2}, flow.RecurringFacts{Now: utc("2026-03-01 09:00"), Replied: true},
			"[sent issue-2026-03-01]; 3; wake 2026-04-01 09:00"},
		{"do not email: skipped, still enrolled", monthly,
			flow.RecurringState{From: utc("2026-03-01 09:00"), Sent: 2}, flow.RecurringFacts{Now: utc("2026-03-01 09:00"), DoNotEmail: true},
			"[skipped issue-2026-03-01 (the contact's record says do not email)]; 2; wake 2026-04-01 09:00"},
		{"address suppressed: skipped, still enrolled", monthly,
			flow.RecurringState{From: utc("2026-03-01 09:00"), Sent: 2}, flow.RecurringFacts{Now: utc("2026-03-01 09:00"), Suppressed: "unsubscribed"},
			"[skipped issue-2026-03-01 (the address is suppressed (unsubscribed))]; 2; wake 2026-04-01 09:00"},
		{"out of the segment: skipped, still enrolled", monthly,
			flow.RecurringState{From: utc("2026-03-01 09:00"), Sent: 2}, flow.RecurringFacts{Now: utc("2026-03-01 09:00"), LeftSegment: true},
			"[skipped issue-2026-03-01 (no longer in segment readers)]; 2; wake 2026-04-01 09:00"},
		{"the last issue before the end: sent, then completed", monthly,
			flow.RecurringState{From: utc("2026-12-01 09:00"), Sent: 11}, flow.RecurringFacts{Now: utc("2026-12-01 09:00")},
			"[sent issue-2026-12-01 exited (the last issue before the end, 2027-01-01T00:00:00Z)]; 12; exit completed"},
		{"woken after the end with nothing owed: completed", monthly,
			flow.RecurringState{From: utc("2027-01-01 09:00"), Sent: 12}, flow.RecurringFacts{Now: utc("2027-03-01 00:00")},
			"[exited (no issue left before the end, 2027-01-01T00:00:00Z)]; 12; exit completed"},
		{"max_follow_ups: the third issue is the last", monthlyMax3,
			flow.RecurringState{From: utc("2026-03-01 09:00"), Sent: 2}, flow.RecurringFacts{Now: utc("2026-03-01 09:00")},
			"[sent issue-2026-03-01 exited issue-2026-04-01 (max_follow_ups is 3: 3 issues sent)]; 3; exit completed"},
		{"max_follow_ups already reached (a lowered max): completed", monthlyMax3,
			flow.RecurringState{From: utc("2026-05-01 09:00"), Sent: 4}, flow.RecurringFacts{Now: utc("2026-05-01 09:00")},
			"[exited issue-2026-05-01 (max_follow_ups is 3 and 4 issues were sent)]; 4; exit completed"},
		{"skipped issues do not count towards max_follow_ups", monthlyMax3,
			flow.RecurringState{From: utc("2026-03-01 09:00"), Sent: 2}, flow.RecurringFacts{Now: utc("2026-03-01 09:00"), DoNotEmail: true},
			"[skipped issue-2026-03-01 (the contact's record says do not email)]; 2; wake 2026-04-01 09:00"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := c.r.Advance(c.st, c.f)
			if got := describe(d); got != c.want {
				t.Errorf("\n got %s\nwant %s", got, c.want)
			}
		})
	}
}

func describe(d flow.Decision) string {
	var acts []string
	for _, a := range d.Actions {
		s := string(a.Kind)
		if a.Step != "" {
			s += " " + a.Step
		}
		if a.Reason != "" {
			s += " (" + a.Reason + ")"
		}
		acts = append(acts, s)
	}
	end := "wake " + d.WakeAt.UTC().Format("2006-01-02 15:04")
	if d.Exit != "" {
		end = "exit " + d.Exit
		if !d.WakeAt.IsZero() {
			end += " and wake?"
		}
	}
	return fmt.Sprintf("[%s]; %d; %s", strings.Join(acts, " "), d.Next, end)
}

// A monthly newsletter without an end and without a bound runs on: 30 months
// of issues, each on its date, none missed, none twice.
func TestMonthlyNewsletterRunsOnAndOn(t *testing.T) {
	r := recurring(t, "2026-01-15T09:00:00Z", "", plan.Recurrence{Unit: "month", Every: 1, DayOfMonth: 31}, 0)
	st := flow.RecurringState{From: utc("2026-01-10 00:00")}
	now := st.From
	var sent []string
	for range 40 {
		d := r.Advance(st, flow.RecurringFacts{Now: now})
		if d.Exit != "" {
			t.Fatalf("exited %s after %d issues: %+v", d.Exit, len(sent), d.Actions)
		}
		for _, a := range d.Actions {
			if a.Kind == flow.ActSend {
				sent = append(sent, a.Step)
			}
		}
		st = flow.RecurringState{From: d.WakeAt, Sent: d.Next}
		now = d.WakeAt
	}
	if len(sent) != 39 || sent[0] != "issue-2026-01-31" || sent[1] != "issue-2026-02-28" || sent[25] != "issue-2028-02-29" || sent[38] != "issue-2029-03-31" {
		t.Fatalf("%d issues: %v", len(sent), sent)
	}
}

// max_follow_ups (10 unless written) cuts a recurrence without an end, and
// MaxCutsShort says so, with the last date, so apply can warn; with an end,
// the end decides: a monthly newsletter over a year sends its twelve issues.
func TestMaxFollowUpsCutsARecurrenceShort(t *testing.T) {
	monthly := plan.Recurrence{Unit: "month", Every: 1, DayOfMonth: 1}
	cases := []struct {
		end  string
		max  int
		want string
	}{
		{"", 10, "cut after 2026-10-01"},
		{"2027-01-01", 10, "not cut"},
		{"2027-01-01", 12, "not cut"},
		{"2026-06-01", 10, "not cut"},
		{"", 0, "not cut"},
	}
	for _, c := range cases {
		last, cut := recurring(t, "2026-01-01", c.end, monthly, c.max).MaxCutsShort()
		got := "not cut"
		if cut {
			got = "cut after " + last.Format("2006-01-02")
		}
		if got != c.want {
			t.Errorf("end %q max %d: %s, want %s", c.end, c.max, got, c.want)
		}
	}
}

func TestCompileRecurringRefusesWhatItCannotRun(t *testing.T) {
	cases := []struct {
		rc   plan.Recurrence
		want string
	}{
		{plan.Recurrence{Unit: "year", Every: 1}, `recurrence.unit "year"`},
		{plan.Recurrence{Unit: "week", Every: 1, Weekdays: []string{"mon", "funday"}}, `"funday" is not mon`},
		{plan.Recurrence{Unit: "week", Every: 1}, "needs weekdays"},
		{plan.Recurrence{Unit: "month", Every: 1}, "day_of_month 0"},
	}
	for _, c := range cases {
		_, err := flow.CompileRecurring(&plan.Autoresponder{Name: "news", Mode: "multiple", Template: "x", Recurrence: &c.rc})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.rc, err, c.want)
		}
	}
	if _, err := flow.CompileAutoresponder(&plan.Autoresponder{Name: "news", Mode: "multiple"}); err == nil {
		t.Error("CompileAutoresponder accepted mode multiple: it compiles follow-ups, not recurrences")
	}
}
