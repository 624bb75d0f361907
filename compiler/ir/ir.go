package ir

import "reflect"

// Config is everything declared in a campaigns tree, in the order the front end
// read it (files in sorted path order, objects in source order). Duplicates are
// kept: reporting them is the checker's job. It holds one list per kind of
// plan.Kinds, in that order and under the plan's field names (see Kinds).
type Config struct {
	Models         []*Model
	Segments       []*Segment
	Senders        []*Sender
	Templates      []*Template
	Policies       []*Policy
	Campaigns      []*Campaign
	Workflows      []*Workflow
	Sequences      []*Sequence
	Autoresponders []*Autoresponder
}

// Append adds every object of other to c, keeping order.
func (c *Config) Append(other *Config) {
	if other == nil {
		return
	}
	cv, ov := reflect.ValueOf(c).Elem(), reflect.ValueOf(other).Elem()
	for _, k := range Kinds {
		f := cv.Field(k.field)
		f.Set(reflect.AppendSlice(f, ov.Field(k.field)))
	}
}

// Len is the number of objects declared, of every kind.
func (c *Config) Len() int {
	n := 0
	cv := reflect.ValueOf(c).Elem()
	for _, k := range Kinds {
		n += cv.Field(k.field).Len()
	}
	return n
}

// Name is an object's name with the range of where it is written (the block label
// in HCL).
type Name struct {
	Value string
	Range Range
}

// Attributes are pointers: nil means the attribute was not written. Whether an
// absent attribute is an error is decided by the checker (through the schemas),
// so every front end gets the same messages. A value the front end could not read
// is marked Invalid: it was reported already, counts as written, and is otherwise
// ignored.

// Bool is a boolean attribute with its range.
type Bool struct {
	Value   bool
	Range   Range
	Invalid bool
}

// Int is a whole-number attribute with its range.
type Int struct {
	Value   int64
	Range   Range
	Invalid bool
}

// Float is a number attribute with its range.
type Float struct {
	Value   float64
	Range   Range
	Invalid bool
}

// StringList is a list of strings, each element with its own range, so an error
// about the third weekday points at it.
type StringList struct {
	Values  []*String
	Range   Range
	Invalid bool
}

// Model maps a CRM table or view that holds contacts.
type Model struct {
	Name Name
	// DeclRange is the object's header (`model "lead"`), for errors about the
	// object as a whole.
	DeclRange     Range
	Table         *String `lang:"table"`
	Key           *String `lang:"key"`
	Email         *String `lang:"email"`
	DefaultFilter *String `lang:"default_filter,cel"`
	// TimeZone names the field (of this model) that holds the contact's IANA
	// time zone, for quiet hours.
	TimeZone *String  `lang:"time_zone"`
	Fields   []*Field `lang:"field"`
	// Consent is a CEL condition that holds for a contact who agreed to
	// marketing mail.
	Consent *String `lang:"consent,cel"`
	// Subscriptions are the subscription types declared on the model.
	Subscriptions []*Subscription `lang:"subscription"`
}

// Subscription is one subscription type of a model, with its own consent
// condition or none (the model's applies).
type Subscription struct {
	Name      Name
	DeclRange Range
	Consent   *String `lang:"consent,cel"`
	// DoubleOptIn: consent is recorded only when the contact confirms by the
	// link of ConfirmTemplate, sent from ConfirmSender, valid ConfirmWithin;
	// WordingVersion names the consent text the contact agreed to.
	DoubleOptIn     *Bool   `lang:"double_opt_in"`
	ConfirmTemplate *String `lang:"confirm_template"`
	ConfirmSender   *String `lang:"confirm_sender"`
	ConfirmWithin   *String `lang:"confirm_within"`
	WordingVersion  *String `lang:"wording_version"`
}

// Field is one typed column of a model.
type Field struct {
	Name      Name
	DeclRange Range
	Type      *String `lang:"type"`
	Column    *String `lang:"column"`
	Nullable  *Bool   `lang:"nullable"`
}

// Segment is a CEL filter over one model.
type Segment struct {
	Name            Name
	DeclRange       Range
	Model           *String `lang:"model"`
	Filter          *String `lang:"filter,cel"`
	IncludeArchived *Bool   `lang:"include_archived"`
}

// Sender is a from/reply-to identity.
type Sender struct {
	Name      Name
	DeclRange Range
	From      *String `lang:"from"`
	ReplyTo   *String `lang:"reply_to"`
}

// Template is a message's subject and bodies in Go template syntax.
type Template struct {
	Name      Name
	DeclRange Range
	Subject   *String `lang:"subject,file"`
	HTML      *String `lang:"html,file"`
	Text      *String `lang:"text,file"`
	// Class is marketing, transactional or internal; absent means marketing.
	Class *String `lang:"class"`
	// Subscription names the subscription type the template belongs to.
	Subscription *String `lang:"subscription"`
}

// Policy is a set of sending rules, global (named "default") or per object.
type Policy struct {
	Name                      Name
	DeclRange                 Range
	DailyQuota                *Int          `lang:"daily_quota"`
	RatePerMinute             *Int          `lang:"rate_per_minute"`
	QuietHours                *QuietHours   `lang:"quiet_hours"`
	FrequencyCap              *FrequencyCap `lang:"frequency_cap"`
	Suppress                  *StringList   `lang:"suppress"`
	Bypass                    *Bypass       `lang:"bypass,custom"`
	RequireOrgReplyTo         *Bool         `lang:"require_org_reply_to"`
	OrgDomains                *StringList   `lang:"org_domains"`
	AudienceGrowthWarnPercent *Int          `lang:"audience_growth_warn_percent"`
	// Consent is the regime: opt_in or opt_out.
	Consent *String `lang:"consent"`
	// EventRetention is how long contact events are kept, in whole days
	// ("400d", "57w").
	EventRetention *String `lang:"event_retention"`
}

// QuietHours is a daily window in the contact's local time.
type QuietHours struct {
	DeclRange Range
	Start     *String `lang:"start"`
	End       *String `lang:"end"`
}

// FrequencyCap bounds marketing messages per contact.
type FrequencyCap struct {
	DeclRange Range
	Max       *Int    `lang:"max"`
	Per       *String `lang:"per"`
}

// Bypass lists, per mail class, the policy rules that class skips.
type Bypass struct {
	DeclRange Range
	Classes   []*BypassClass
}

// BypassClass is one line of a bypass block: the class and its rules.
type BypassClass struct {
	Class Name
	Rules *StringList
}

// Campaign sends one template to one segment from one sender.
type Campaign struct {
	Name      Name
	DeclRange Range
	Segment   *String `lang:"segment"`
	Template  *String `lang:"template"`
	Sender    *String `lang:"sender"`
	SendAt    *String `lang:"send_at"`
	Class     *String `lang:"class"`
	Policy    *String `lang:"policy"`
	ABTest    *ABTest `lang:"ab_test"`
	Paused    *Bool   `lang:"paused"`
}

// ABTest sends variants to a test share of the audience, then the winner to the
// rest.
type ABTest struct {
	DeclRange    Range
	TestPercent  *Int       `lang:"test_percent"`
	Metric       *String    `lang:"metric"`
	DecideAfter  *String    `lang:"decide_after"`
	Inconclusive *String    `lang:"inconclusive"`
	Variants     []*Variant `lang:"variant"`
}

// Variant replaces the subject and/or the template of a send.
type Variant struct {
	Name      Name
	DeclRange Range
	Subject   *String `lang:"subject"`
	Template  *String `lang:"template"`
}

// Workflow is a trigger plus steps run per enrolled contact.
type Workflow struct {
	Name      Name
	DeclRange Range
	Type      *String   `lang:"type"`
	Model     *String   `lang:"model"`
	Class     *String   `lang:"class"`
	Sender    *String   `lang:"sender"`
	Policy    *String   `lang:"policy"`
	Trigger   *Trigger  `lang:"trigger"`
	Goal      *String   `lang:"goal,cel"`
	Reenroll  *Reenroll `lang:"reenroll"`
	Steps     []*Step   `lang:"step,custom"`
	Paused    *Bool     `lang:"paused"`
}

// Trigger says what enrolls a contact in a workflow.
type Trigger struct {
	DeclRange   Range
	Event       *String `lang:"event"`
	Filter      *String `lang:"filter,cel"`
	Segment     *String `lang:"segment"`
	Topic       *String `lang:"topic"`
	Threshold   *Float  `lang:"threshold"`
	Window      *String `lang:"window"`
	InactiveFor *String `lang:"inactive_for"`
	Field       *String `lang:"field"`
	// Properties declare the event's JSON properties and their types.
	Properties []*EventProperty `lang:"property"`
}

// EventProperty is one declared property of a trigger's event.
type EventProperty struct {
	Name      Name
	DeclRange Range
	Type      *String `lang:"type"`
}

// Reenroll says whether a contact may go through a workflow again.
type Reenroll struct {
	DeclRange Range
	Allowed   *Bool   `lang:"allowed"`
	After     *String `lang:"after"`
}

// Step is one node of a workflow. Kind is one of the plan's step kinds; its
// range is where the front end saw the kind (in HCL, the attribute that gives a
// step its kind, such as `wait` or `send`). The other attributes apply to some
// kinds only, as in plan.Step.
type Step struct {
	Name       Name
	DeclRange  Range
	Kind       *String
	Next       *String
	Duration   *String
	RelativeTo *String
	Template   *String
	ABTest     *ABTest
	Condition  *String
	Engagement *Engagement
	Then       *String
	Else       *String
	Field      *String
	Value      *String
	Owners     *StringList
}

// Engagement tests what a contact did with an earlier send step.
type Engagement struct {
	DeclRange Range
	Step      *String `lang:"step"`
	Event     *String `lang:"event"`
	Within    *String `lang:"within"`
}

// Sequence is a nurture sequence: sends on offsets from enrollment.
type Sequence struct {
	Name      Name
	DeclRange Range
	Model     *String         `lang:"model"`
	Segment   *String         `lang:"segment"`
	Sender    *String         `lang:"sender"`
	Policy    *String         `lang:"policy"`
	Goal      *String         `lang:"goal,cel"`
	Steps     []*SequenceStep `lang:"step"`
	Paused    *Bool           `lang:"paused"`
}

// SequenceStep is one send of a sequence, optionally gated on engagement with an
// earlier step.
type SequenceStep struct {
	Name      Name
	DeclRange Range
	Offset    *String     `lang:"offset"`
	Template  *String     `lang:"template"`
	When      *Engagement `lang:"when"`
	ABTest    *ABTest     `lang:"ab_test"`
}

// Autoresponder is a Zoho-style series of follow-ups.
type Autoresponder struct {
	Name              Name
	DeclRange         Range
	Model             *String     `lang:"model"`
	Segment           *String     `lang:"segment"`
	Sender            *String     `lang:"sender"`
	Mode              *String     `lang:"mode"`
	Start             *String     `lang:"start"`
	End               *String     `lang:"end"`
	Template          *String     `lang:"template"`
	FollowUps         []*FollowUp `lang:"follow_up"`
	Recurrence        *Recurrence `lang:"recurrence"`
	MaxFollowUps      *Int        `lang:"max_follow_ups"`
	ExcludeResponders *Bool       `lang:"exclude_responders"`
	DoNotEmail        *String     `lang:"do_not_email"`
	Paused            *Bool       `lang:"paused"`
}

// FollowUp is one send at an offset.
type FollowUp struct {
	Name      Name
	DeclRange Range
	Offset    *String `lang:"offset"`
	Template  *String `lang:"template"`
}

// Recurrence is daily, weekly on weekdays, or monthly on a day.
type Recurrence struct {
	DeclRange  Range
	Unit       *String     `lang:"unit"`
	Every      *Int        `lang:"every"`
	Weekdays   *StringList `lang:"weekdays"`
	DayOfMonth *Int        `lang:"day_of_month"`
}
