package plan

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file holds the object kinds beyond the walking skeleton's: policies,
// workflows, nurture sequences and autoresponders. Durations are Go-style strings
// with a day unit allowed ("90m", "36h", "3d", "2w"); see ParseDuration.

// Mail classes decide which consent and policy rules apply.
const (
	ClassMarketing     = "marketing"
	ClassTransactional = "transactional"
	ClassInternal      = "internal"
)

// Consent regimes of a policy.
const (
	ConsentOptIn  = "opt_in"
	ConsentOptOut = "opt_out"
)

// Policy is a set of sending rules, global (named "default") or per campaign.
type Policy struct {
	Name string `json:"name"`
	// DailyQuota is the most messages one sender may send per day (0 = none).
	DailyQuota int `json:"daily_quota,omitempty"`
	// RatePerMinute caps each sender's messages per minute, across every
	// replica (0 = none).
	RatePerMinute int `json:"rate_per_minute,omitempty"`
	// QuietHours, in the contact's time zone: no marketing mail from Start to End
	// ("21:00" to "08:00").
	QuietHours *QuietHours `json:"quiet_hours,omitempty"`
	// FrequencyCap: at most Max marketing messages per contact per Per.
	FrequencyCap *FrequencyCap `json:"frequency_cap,omitempty"`
	// Suppress lists the suppression sources honoured: unsubscribed, blacklisted,
	// hard_bounce, complaint.
	Suppress []string `json:"suppress,omitempty"`
	// Bypass names, per mail class, the rules that class skips, e.g.
	// transactional: [quiet_hours, frequency_cap, unsubscribed].
	Bypass map[string][]string `json:"bypass,omitempty"`
	// RequireOrgReplyTo: a personal From needs an organisation Reply-To and vice
	// versa (Zoho's rule). Domains listed in OrgDomains are the organisation's.
	RequireOrgReplyTo bool     `json:"require_org_reply_to,omitempty"`
	OrgDomains        []string `json:"org_domains,omitempty"`
	// AudienceGrowthWarnPercent makes a plan diff warn when a segment grows by
	// more than this percentage.
	AudienceGrowthWarnPercent int `json:"audience_growth_warn_percent,omitempty"`
	// Consent is the consent regime: ConsentOptIn (marketing mail only to
	// contacts whose model's consent condition holds) or ConsentOptOut
	// (everyone not suppressed). Absent means opt_out, what every plan did
	// before the attribute existed.
	Consent string `json:"consent,omitempty"`
	// EventRetention is how long contact events are kept, a whole number of
	// days in ParseDuration's syntax ("400d", "57w"). The plan's retention is
	// the longest any policy declares (Plan.EventRetention); absent
	// everywhere, events are kept forever.
	EventRetention string `json:"event_retention,omitempty"`
	Hash           string `json:"hash"`
}

// SuppressionSources are the reasons an address is suppressed that a policy's
// Suppress may list. The runner honours every one of them whatever the list
// says (a class may only bypass some, through Bypass), so the compiler warns
// of a list that leaves one out.
var SuppressionSources = []string{"unsubscribed", "blacklisted", "hard_bounce", "complaint"}

// QuietHours is a daily window in the contact's local time.
type QuietHours struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// FrequencyCap bounds marketing messages per contact.
type FrequencyCap struct {
	Max int    `json:"max"`
	Per string `json:"per"`
}

// ABTest splits a test share of the audience between variants and sends the
// winner to the rest.
type ABTest struct {
	Variants []Variant `json:"variants"`
	// TestPercent of the audience receives the variants, split evenly and
	// deterministically by contact key.
	TestPercent int `json:"test_percent"`
	// Metric picks the winner: open_rate, click_rate, reply_rate, conversions,
	// revenue.
	Metric string `json:"metric"`
	// DecideAfter is how long after the test send the winner is picked.
	DecideAfter string `json:"decide_after"`
	// Inconclusive says what happens when no variant wins significantly:
	// send_first (the first variant), send_all (keep splitting), stop.
	Inconclusive string `json:"inconclusive"`
}

// Variant replaces the subject and/or the template of a send.
type Variant struct {
	Name     string `json:"name"`
	Subject  string `json:"subject,omitempty"`
	Template string `json:"template,omitempty"`
}

// Workflow is a trigger plus steps run per enrolled contact.
type Workflow struct {
	Name string `json:"name"`
	// Type is one of the 15 workflow types; schemas/ fixes what each allows.
	Type    string  `json:"type"`
	Model   string  `json:"model"`
	Class   string  `json:"class"`
	Sender  string  `json:"sender,omitempty"`
	Policy  string  `json:"policy,omitempty"`
	Trigger Trigger `json:"trigger"`
	// Goal is a CEL condition; a contact for whom it holds leaves the workflow.
	Goal     string    `json:"goal,omitempty"`
	Reenroll *Reenroll `json:"reenroll,omitempty"`
	Steps    []Step    `json:"steps"`
	// Paused holds the workflow: no enrollment, no step, no send, until it is
	// unpaused; enrollments and trigger events wait, none is lost.
	Paused bool   `json:"paused,omitempty"`
	Hash   string `json:"hash"`
}

// Trigger says what enrolls a contact.
type Trigger struct {
	// Event is the kind of event: page_view, content_download, blog_subscription,
	// lifecycle_change, engagement_threshold, conversion, inactivity,
	// event_registration, event_attendance, cart_abandoned, purchase, nps_response,
	// metric_threshold, purchase_cycle, inbound_email, form_submit, quote_signed,
	// registration, date_field, segment_entry.
	Event string `json:"event"`
	// Filter is a CEL condition over the contact and the event (event.topic,
	// event.value, …).
	Filter string `json:"filter,omitempty"`
	// Segment restricts enrollment to members of a segment.
	Segment string `json:"segment,omitempty"`
	// Topic, Threshold, Window, InactiveFor and Field parametrise specific events.
	Topic       string  `json:"topic,omitempty"`
	Threshold   float64 `json:"threshold,omitempty"`
	Window      string  `json:"window,omitempty"`
	InactiveFor string  `json:"inactive_for,omitempty"`
	Field       string  `json:"field,omitempty"`
	// Properties types the event's JSON properties: with them, event.<name>
	// in the workflow's conditions has the declared type (an unknown name or a
	// wrong comparison is a compile error), and the events API rejects an
	// event of this type and model whose property has another JSON type.
	// Without them event is an untyped map, as before they existed.
	Properties []EventProperty `json:"properties,omitempty"`
}

// StateTriggers are trigger events that describe the contact rather than
// something it did: the runtime enrolls through a hidden segment (newly
// matching contacts), not through stored events, so they have no event
// properties.
var StateTriggers = map[string]bool{
	"metric_threshold": true, "engagement_threshold": true, "inactivity": true,
	"date_field": true, "purchase_cycle": true, "segment_entry": true,
}

// TriggerUses names, per trigger event, which of the trigger attributes
// topic, threshold, window, inactive_for and field the runtime reads
// (runtime/engine's triggerFilter for state triggers; the stored events'
// topic for the others). The compiler refuses any other of the five on that
// trigger: it would validate and do nothing. segment, filter and (for event
// triggers) property apply to every trigger.
func TriggerUses(event string) map[string]bool {
	switch event {
	case "metric_threshold":
		return map[string]bool{"field": true, "threshold": true}
	case "engagement_threshold":
		return map[string]bool{"window": true, "threshold": true}
	case "inactivity":
		return map[string]bool{"inactive_for": true}
	case "date_field", "purchase_cycle":
		return map[string]bool{"field": true}
	case "segment_entry":
		return map[string]bool{}
	}
	return map[string]bool{"topic": true}
}

// EventProperty is one declared property of a trigger's event: its name in
// the event's "properties" object and its type (a model field's types).
type EventProperty struct {
	Name string    `json:"name"`
	Type FieldType `json:"type"`
}

// EventDecl is what the plan's triggers declare about the properties of
// one event type of one model, merged; By names the workflow that declared
// each property first, for messages.
type EventDecl struct {
	Model, Type string
	Properties  []EventProperty
	By          map[string]string
}

// EventDecls merges the properties the plan's workflow triggers declare,
// per model and event type (model + "/" + type). The compiler refuses two
// triggers that give one property two types, so the merge never conflicts in
// a compiled plan; if it does, the first declaration wins.
func (p *Plan) EventDecls() map[string]*EventDecl {
	out := map[string]*EventDecl{}
	for i := range p.Workflows {
		w := &p.Workflows[i]
		if len(w.Trigger.Properties) == 0 {
			continue
		}
		k := w.Model + "/" + w.Trigger.Event
		d := out[k]
		if d == nil {
			d = &EventDecl{Model: w.Model, Type: w.Trigger.Event, By: map[string]string{}}
			out[k] = d
		}
		for _, pr := range w.Trigger.Properties {
			if _, ok := d.By[pr.Name]; ok {
				continue
			}
			d.By[pr.Name] = w.Name
			d.Properties = append(d.Properties, pr)
		}
	}
	return out
}

// Reenroll says whether a contact may go through a workflow again.
type Reenroll struct {
	Allowed bool   `json:"allowed"`
	After   string `json:"after,omitempty"`
}

// Step kinds.
const (
	StepWait          = "wait"
	StepSend          = "send"
	StepBranch        = "branch"
	StepSetProperty   = "set_property"
	StepClearProperty = "clear_property"
	StepNotifyOwner   = "notify_owner"
	StepAssignOwner   = "assign_owner"
	StepExit          = "exit"
)

// Step is one node of a workflow. Steps run in order; Next overrides the
// following step, and a branch goes to Then or Else.
type Step struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	Next string `json:"next,omitempty"`
	// wait
	Duration string `json:"duration,omitempty"`
	// Relative waits until Duration before (negative) or after the timestamp in
	// this contact or event field (event steps: "event.date").
	RelativeTo string `json:"relative_to,omitempty"`
	// send, notify_owner
	Template string  `json:"template,omitempty"`
	ABTest   *ABTest `json:"ab_test,omitempty"`
	// branch
	Condition  string      `json:"condition,omitempty"`
	Engagement *Engagement `json:"engagement,omitempty"`
	Then       string      `json:"then,omitempty"`
	Else       string      `json:"else,omitempty"`
	// set_property, clear_property, assign_owner
	Field string `json:"field,omitempty"`
	Value string `json:"value,omitempty"`
	// assign_owner: round robin over Owners.
	Owners []string `json:"owners,omitempty"`
}

// Engagement tests what a contact did with an earlier send step.
type Engagement struct {
	Step string `json:"step"`
	// Event is opened, clicked, replied, ignored or bounced.
	Event  string `json:"event"`
	Within string `json:"within,omitempty"`
}

// Sequence is a nurture sequence: sends on offsets from enrollment, optionally
// gated on engagement with an earlier step, until the goal holds.
type Sequence struct {
	Name    string         `json:"name"`
	Model   string         `json:"model"`
	Segment string         `json:"segment"`
	Sender  string         `json:"sender"`
	Policy  string         `json:"policy,omitempty"`
	Goal    string         `json:"goal,omitempty"`
	Steps   []SequenceStep `json:"steps"`
	// Paused holds the sequence: no enrollment, no step, no send, until it is
	// unpaused; enrollments keep their place.
	Paused bool   `json:"paused,omitempty"`
	Hash   string `json:"hash"`
}

// SequenceStep is one send of a sequence.
type SequenceStep struct {
	Name     string      `json:"name"`
	Offset   string      `json:"offset"`
	Template string      `json:"template"`
	When     *Engagement `json:"when,omitempty"`
	ABTest   *ABTest     `json:"ab_test,omitempty"`
}

// Autoresponder is a Zoho-style series of follow-ups.
type Autoresponder struct {
	Name    string `json:"name"`
	Model   string `json:"model"`
	Segment string `json:"segment"`
	Sender  string `json:"sender"`
	// Mode is single (FollowUps on fixed offsets from Start) or multiple
	// (Recurrence).
	Mode       string      `json:"mode"`
	Start      string      `json:"start,omitempty"`
	End        string      `json:"end,omitempty"`
	FollowUps  []FollowUp  `json:"follow_ups,omitempty"`
	Recurrence *Recurrence `json:"recurrence,omitempty"`
	// Template of every recurring send (multiple mode).
	Template          string `json:"template,omitempty"`
	MaxFollowUps      int    `json:"max_follow_ups,omitempty"`
	ExcludeResponders bool   `json:"exclude_responders"`
	// DoNotEmail is the model field that, when true, forbids mailing the contact.
	DoNotEmail string `json:"do_not_email,omitempty"`
	// Paused holds the autoresponder like a paused sequence.
	Paused bool   `json:"paused,omitempty"`
	Hash   string `json:"hash"`
}

// FollowUp is one send at an offset from the start date.
type FollowUp struct {
	Name     string `json:"name"`
	Offset   string `json:"offset"`
	Template string `json:"template"`
}

// Recurrence is daily every N days, weekly every N weeks on Weekdays, or monthly
// on DayOfMonth every N months.
type Recurrence struct {
	Unit       string   `json:"unit"`
	Every      int      `json:"every"`
	Weekdays   []string `json:"weekdays,omitempty"`
	DayOfMonth int      `json:"day_of_month,omitempty"`
}

// ParseDuration reads a duration as the plan writes it: an optional "-" (before,
// for waits relative to a date), then one or more number-and-unit pairs with units
// ms, s, m, h, d (24 hours) and w (7 days), largest first or not: "90m", "36h",
// "3d", "2w", "1h30m", "-1d". A day is always 24 hours: durations here space out
// messages, they do not do calendar arithmetic.
func ParseDuration(s string) (time.Duration, error) {
	rest := s
	neg := strings.HasPrefix(rest, "-")
	if neg {
		rest = rest[1:]
	}
	if rest == "" {
		return 0, fmt.Errorf("duration %q is empty: write a number and a unit, e.g. \"3d\"", s)
	}
	var total time.Duration
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("duration %q: expected a number at %q", s, rest)
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		rest = rest[i:]
		j := 0
		for j < len(rest) && rest[j] >= 'a' && rest[j] <= 'z' {
			j++
		}
		unit, ok := durationUnits[rest[:j]]
		if !ok {
			if j == 0 {
				return 0, fmt.Errorf("duration %q: a unit must follow %d (ms, s, m, h, d or w)", s, n)
			}
			return 0, fmt.Errorf("duration %q: unknown unit %q (use ms, s, m, h, d or w)", s, rest[:j])
		}
		rest = rest[j:]
		if n > int64(maxDuration/unit) {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		part := time.Duration(n) * unit
		if total > maxDuration-part {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total += part
	}
	if neg {
		total = -total
	}
	return total, nil
}

// maxDuration bounds durations at about 100 years, far beyond any campaign and far
// from time.Duration's overflow, so sums of durations cannot overflow either.
const maxDuration = 100 * 365 * 24 * time.Hour

var durationUnits = map[string]time.Duration{
	"ms": time.Millisecond,
	"s":  time.Second,
	"m":  time.Minute,
	"h":  time.Hour,
	"d":  24 * time.Hour,
	"w":  7 * 24 * time.Hour,
}
