package ir

import "github.com/campaignctl/campaignctl/compiler/plan"

// Config is everything declared in a campaigns tree, in the order the front end
// read it (files in sorted path order, objects in source order). Duplicates are
// kept: reporting them is the checker's job.
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
	c.Models = append(c.Models, other.Models...)
	c.Segments = append(c.Segments, other.Segments...)
	c.Senders = append(c.Senders, other.Senders...)
	c.Templates = append(c.Templates, other.Templates...)
	c.Policies = append(c.Policies, other.Policies...)
	c.Campaigns = append(c.Campaigns, other.Campaigns...)
	c.Workflows = append(c.Workflows, other.Workflows...)
	c.Sequences = append(c.Sequences, other.Sequences...)
	c.Autoresponders = append(c.Autoresponders, other.Autoresponders...)
}

// Len is the number of objects declared, of every kind.
func (c *Config) Len() int {
	return len(c.Models) + len(c.Segments) + len(c.Senders) + len(c.Templates) + len(c.Policies) +
		len(c.Campaigns) + len(c.Workflows) + len(c.Sequences) + len(c.Autoresponders)
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
	Table         *String
	Key           *String
	Email         *String
	DefaultFilter *String
	// TimeZone names the field (of this model) that holds the contact's IANA
	// time zone, for quiet hours.
	TimeZone *String
	Fields   []*Field
	// Consent is a CEL condition that holds for a contact who agreed to
	// marketing mail.
	Consent *String
	// Subscriptions are the subscription types declared on the model.
	Subscriptions []*Subscription
}

// Subscription is one subscription type of a model, with its own consent
// condition or none (the model's applies).
type Subscription struct {
	Name      Name
	DeclRange Range
	Consent   *String
	// DoubleOptIn: consent is recorded only when the contact confirms by the
	// link of ConfirmTemplate, sent from ConfirmSender, valid ConfirmWithin;
	// WordingVersion names the consent text the contact agreed to.
	DoubleOptIn     *Bool
	ConfirmTemplate *String
	ConfirmSender   *String
	ConfirmWithin   *String
	WordingVersion  *String
}

// Field is one typed column of a model.
type Field struct {
	Name      Name
	DeclRange Range
	Type      *String
	Column    *String
	Nullable  *Bool
}

// Segment is a CEL filter over one model.
type Segment struct {
	Name            Name
	DeclRange       Range
	Model           *String
	Filter          *String
	IncludeArchived *Bool
}

// Sender is a from/reply-to identity.
type Sender struct {
	Name      Name
	DeclRange Range
	From      *String
	ReplyTo   *String
}

// Template is a message's subject and bodies in Go template syntax.
type Template struct {
	Name      Name
	DeclRange Range
	Subject   *String
	HTML      *String
	Text      *String
	// Class is marketing, transactional or internal; absent means marketing.
	Class *String
	// Subscription names the subscription type the template belongs to.
	Subscription *String
}

// Policy is a set of sending rules, global (named "default") or per object.
type Policy struct {
	Name                      Name
	DeclRange                 Range
	DailyQuota                *Int
	RatePerMinute             *Int
	QuietHours                *QuietHours
	FrequencyCap              *FrequencyCap
	Suppress                  *StringList
	Bypass                    *Bypass
	RequireOrgReplyTo         *Bool
	OrgDomains                *StringList
	AudienceGrowthWarnPercent *Int
	// Consent is the regime: opt_in or opt_out.
	Consent *String
	// EventRetention is how long contact events are kept, in whole days
	// ("400d", "57w").
	EventRetention *String
}

// QuietHours is a daily window in the contact's local time.
type QuietHours struct {
	DeclRange Range
	Start     *String
	End       *String
}

// FrequencyCap bounds marketing messages per contact.
type FrequencyCap struct {
	DeclRange Range
	Max       *Int
	Per       *String
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
	Segment   *String
	Template  *String
	Sender    *String
	SendAt    *String
	Class     *String
	Policy    *String
	ABTest    *ABTest
	Paused    *Bool
}

// ABTest sends variants to a test share of the audience, then the winner to the
// rest.
type ABTest struct {
	DeclRange    Range
	TestPercent  *Int
	Metric       *String
	DecideAfter  *String
	Inconclusive *String
	Variants     []*Variant
}

// Variant replaces the subject and/or the template of a send.
type Variant struct {
	Name      Name
	DeclRange Range
	Subject   *String
	Template  *String
}

// Workflow is a trigger plus steps run per enrolled contact.
type Workflow struct {
	Name      Name
	DeclRange Range
	Type      *String
	Model     *String
	Class     *String
	Sender    *String
	Policy    *String
	Trigger   *Trigger
	Goal      *String
	Reenroll  *Reenroll
	Steps     []*Step
	Paused    *Bool
}

// Trigger says what enrolls a contact in a workflow.
type Trigger struct {
	DeclRange   Range
	Event       *String
	Filter      *String
	Segment     *String
	Topic       *String
	Threshold   *Float
	Window      *String
	InactiveFor *String
	Field       *String
	// Properties declare the event's JSON properties and their types.
	Properties []*EventProperty
}

// EventProperty is one declared property of a trigger's event.
type EventProperty struct {
	Name      Name
	DeclRange Range
	Type      *String
}

// Reenroll says whether a contact may go through a workflow again.
type Reenroll struct {
	DeclRange Range
	Allowed   *Bool
	After     *String
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

// StepMarker is a member of a workflow step that gives the step its kind: a
// step with `wait` is a wait step.
type StepMarker struct{ Name, Kind string }

// StepMarkers are the step markers, in the order the kinds are listed to the
// user. Every front end spells them alike (an attribute, or the engagement
// block), so they are listed here once, with StepMarkerList for messages.
var StepMarkers = []StepMarker{
	{"wait", plan.StepWait},
	{"send", plan.StepSend},
	{"if", plan.StepBranch},
	{"engagement", plan.StepBranch},
	{"set_property", plan.StepSetProperty},
	{"clear_property", plan.StepClearProperty},
	{"notify_owner", plan.StepNotifyOwner},
	{"assign_owner", plan.StepAssignOwner},
	{"exit", plan.StepExit},
}

// StepMarkerList names StepMarkers in order, for messages.
const StepMarkerList = "wait, send, if, engagement, set_property, clear_property, notify_owner, assign_owner or exit"

// Engagement tests what a contact did with an earlier send step.
type Engagement struct {
	DeclRange Range
	Step      *String
	Event     *String
	Within    *String
}

// Sequence is a nurture sequence: sends on offsets from enrollment.
type Sequence struct {
	Name      Name
	DeclRange Range
	Model     *String
	Segment   *String
	Sender    *String
	Policy    *String
	Goal      *String
	Steps     []*SequenceStep
	Paused    *Bool
}

// SequenceStep is one send of a sequence, optionally gated on engagement with an
// earlier step.
type SequenceStep struct {
	Name      Name
	DeclRange Range
	Offset    *String
	Template  *String
	When      *Engagement
	ABTest    *ABTest
}

// Autoresponder is a Zoho-style series of follow-ups.
type Autoresponder struct {
	Name              Name
	DeclRange         Range
	Model             *String
	Segment           *String
	Sender            *String
	Mode              *String
	Start             *String
	End               *String
	FollowUps         []*FollowUp
	Recurrence        *Recurrence
	Template          *String
	MaxFollowUps      *Int
	ExcludeResponders *Bool
	DoNotEmail        *String
	Paused            *Bool
}

// FollowUp is one send at an offset.
type FollowUp struct {
	Name      Name
	DeclRange Range
	Offset    *String
	Template  *String
}

// Recurrence is daily, weekly on weekdays, or monthly on a day.
type Recurrence struct {
	DeclRange  Range
	Unit       *String
	Every      *Int
	Weekdays   *StringList
	DayOfMonth *Int
}
