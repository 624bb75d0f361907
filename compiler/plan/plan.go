package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"sort"
)

// FormatVersion is bumped whenever a consumer of an older plan could misread a newer
// one. Readers refuse a plan whose format_version they do not know.
const FormatVersion = 1

// Plan is the compiled, canonical description of everything in a campaigns tree.
type Plan struct {
	FormatVersion int        `json:"format_version"`
	Source        Source     `json:"source"`
	Models        []Model    `json:"models"`
	Segments      []Segment  `json:"segments"`
	Senders       []Sender   `json:"senders"`
	Templates     []Template `json:"templates"`
	Policies      []Policy   `json:"policies"`
	Campaigns     []Campaign `json:"campaigns"`
	Workflows     []Workflow `json:"workflows"`
	Sequences     []Sequence `json:"sequences"`
	// Autoresponders are Zoho-style follow-up series.
	Autoresponders []Autoresponder `json:"autoresponders"`
	// Hash is the hex SHA-256 over the kinds and per-object hashes, in order. It
	// does not cover Source, so the same campaigns at two commits hash equally.
	Hash string `json:"plan_hash"`
}

// Source records where the plan came from. It is informative only.
type Source struct {
	Commit string `json:"commit,omitempty"`
	Dirty  bool   `json:"dirty,omitempty"`
}

// FieldType is the type of a model field as CEL and SQL see it.
type FieldType string

const (
	TypeString     FieldType = "string"
	TypeInt        FieldType = "int"
	TypeFloat      FieldType = "float"
	TypeBool       FieldType = "bool"
	TypeTimestamp  FieldType = "timestamp"
	TypeStringList FieldType = "list(string)"
)

// Model maps a CRM table or view that holds contacts.
type Model struct {
	Name  string `json:"name"`
	Table string `json:"table"`
	Key   string `json:"key"`
	Email string `json:"email"`
	// TimeZone is the field holding the contact's IANA time zone, if any.
	TimeZone string `json:"time_zone,omitempty"`
	// DefaultFilter is a CEL filter every segment of the model implies unless the
	// segment sets IncludeArchived (Odoo's implicit "active" filter).
	DefaultFilter string  `json:"default_filter,omitempty"`
	Fields        []Field `json:"fields"`
	// Consent is a CEL condition over the contact that holds when the contact
	// agreed to marketing mail (e.g. lead.marketing_opt_in). An opt_in policy
	// sends marketing mail only to contacts for whom it holds.
	Consent string `json:"consent,omitempty"`
	// Subscriptions are the subscription types (newsletter, offers, …) a
	// template may belong to, each with its own consent condition or, without
	// one, the model's Consent.
	Subscriptions []Subscription `json:"subscriptions,omitempty"`
	Hash          string         `json:"hash"`
}

// Subscription is one type of marketing mail a contact may agree to apart.
type Subscription struct {
	Name    string `json:"name"`
	Consent string `json:"consent,omitempty"`
	// DoubleOptIn: a request to subscribe (an event of type
	// EventSubscribeRequested whose topic is Name) sends ConfirmTemplate, a
	// transactional template carrying {{ .confirm_url }}, from ConfirmSender;
	// the link is valid ConfirmWithin (DefaultConfirmWithin when empty).
	// Confirming records consent (source link, with WordingVersion) and
	// stores an EventSubscriptionConfirmed event, which triggers workflows.
	DoubleOptIn     bool   `json:"double_opt_in,omitempty"`
	ConfirmTemplate string `json:"confirm_template,omitempty"`
	ConfirmSender   string `json:"confirm_sender,omitempty"`
	ConfirmWithin   string `json:"confirm_within,omitempty"`
	// WordingVersion names the consent text the contact is shown and agrees
	// to (e.g. "2026-11"); it is kept in the ledger's evidence.
	WordingVersion string `json:"wording_version,omitempty"`
}

// Double opt-in's event types and defaults.
const (
	// EventSubscribeRequested is the event (from the events API or import)
	// that asks for a subscription; its topic names the subscription type.
	EventSubscribeRequested = "subscribe_requested"
	// EventSubscriptionConfirmed is stored when the contact confirms; its
	// topic names the subscription type. blog_welcome workflows trigger on it.
	EventSubscriptionConfirmed = "blog_subscription"
	// DefaultConfirmWithin is how long a confirmation link is valid when the
	// subscription does not say.
	DefaultConfirmWithin = "72h"
)

// Subscription returns the subscription type with the given name.
func (m *Model) Subscription(name string) (Subscription, bool) {
	for _, s := range m.Subscriptions {
		if s.Name == name {
			return s, true
		}
	}
	return Subscription{}, false
}

// ConsentFor is the consent condition for marketing mail of a subscription
// type ("" for a template of none): the type's own, else the model's; "" when
// the model declares neither.
func (m *Model) ConsentFor(subscription string) string {
	if s, ok := m.Subscription(subscription); ok && s.Consent != "" {
		return s.Consent
	}
	return m.Consent
}

// Field is one typed column of a model. Column defaults to Name.
type Field struct {
	Name     string    `json:"name"`
	Column   string    `json:"column"`
	Type     FieldType `json:"type"`
	Nullable bool      `json:"nullable,omitempty"`
}

// Field returns the field with the given name.
func (m *Model) Field(name string) (Field, bool) {
	for _, f := range m.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Segment is a type-checked CEL filter over one model. Variables are the model's
// fields prefixed with the model name, e.g. lead.stage.
type Segment struct {
	Name   string `json:"name"`
	Model  string `json:"model"`
	Filter string `json:"filter"`
	// IncludeArchived lifts the model's default filter.
	IncludeArchived bool   `json:"include_archived,omitempty"`
	Hash            string `json:"hash"`
}

// Sender is a from/reply-to identity.
type Sender struct {
	Name    string `json:"name"`
	From    string `json:"from"`
	ReplyTo string `json:"reply_to,omitempty"`
	Hash    string `json:"hash"`
}

// Template holds the subject and bodies of a message. Bodies use Go template syntax
// with the contact's fields under the model name ({{ .lead.name }}).
type Template struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	HTML    string `json:"html,omitempty"`
	Text    string `json:"text,omitempty"`
	// Class is marketing (the default), transactional or internal.
	Class string `json:"class"`
	// Subscription is the subscription type (declared on the recipients'
	// model) this marketing template belongs to; consent is read per type.
	Subscription string `json:"subscription,omitempty"`
	Hash         string `json:"hash"`
}

// Campaign is a one-off mailing: one template to everyone in one segment.
type Campaign struct {
	Name     string `json:"name"`
	Segment  string `json:"segment"`
	Template string `json:"template"`
	Sender   string `json:"sender"`
	// SendAt is an RFC 3339 time; empty means as soon as the plan is applied.
	SendAt string  `json:"send_at,omitempty"`
	Class  string  `json:"class"`
	Policy string  `json:"policy,omitempty"`
	ABTest *ABTest `json:"ab_test,omitempty"`
	// Paused holds the campaign: it is not materialized, and its messages
	// already in the outbox are held at send time, until it is unpaused.
	Paused bool   `json:"paused,omitempty"`
	Hash   string `json:"hash"`
}

// Lookups. Plans are small, so linear scans keep the data plain.

func (p *Plan) Model(name string) (*Model, bool) {
	for i := range p.Models {
		if p.Models[i].Name == name {
			return &p.Models[i], true
		}
	}
	return nil, false
}

func (p *Plan) Segment(name string) (*Segment, bool) {
	for i := range p.Segments {
		if p.Segments[i].Name == name {
			return &p.Segments[i], true
		}
	}
	return nil, false
}

func (p *Plan) Sender(name string) (*Sender, bool) {
	for i := range p.Senders {
		if p.Senders[i].Name == name {
			return &p.Senders[i], true
		}
	}
	return nil, false
}

func (p *Plan) Template(name string) (*Template, bool) {
	for i := range p.Templates {
		if p.Templates[i].Name == name {
			return &p.Templates[i], true
		}
	}
	return nil, false
}

func (p *Plan) Campaign(name string) (*Campaign, bool) {
	for i := range p.Campaigns {
		if p.Campaigns[i].Name == name {
			return &p.Campaigns[i], true
		}
	}
	return nil, false
}

func (p *Plan) Sequence(name string) (*Sequence, bool) {
	for i := range p.Sequences {
		if p.Sequences[i].Name == name {
			return &p.Sequences[i], true
		}
	}
	return nil, false
}

// Finalize sorts every object by name, fills in the content hashes and the plan
// hash, and sets the format version. Call it once the plan's content is complete.
func (p *Plan) Finalize() {
	p.FormatVersion = FormatVersion
	for i := range p.Models {
		if p.Models[i].Fields == nil {
			p.Models[i].Fields = []Field{}
		}
	}
	for i := range p.Workflows {
		if p.Workflows[i].Steps == nil {
			p.Workflows[i].Steps = []Step{}
		}
	}
	for i := range p.Sequences {
		if p.Sequences[i].Steps == nil {
			p.Sequences[i].Steps = []SequenceStep{}
		}
	}
	all := sha256.New()
	// The order of kinds here is the order of the plan hash input; changing it
	// changes every plan hash.
	for _, k := range Kinds {
		k.objects(p).finalize(all, k.Name)
	}
	p.Hash = hex.EncodeToString(all.Sum(nil))
}

// finalizeKind sorts one kind's objects by name (an empty list, never null, so the
// JSON shape is stable), hashes each with its own hash field empty, and feeds
// kind, name and hash into the plan hash.
func finalizeKind[T any](all hash.Hash, kind string, objs []T, key func(*T) (string, *string)) []T {
	if objs == nil {
		objs = []T{}
	}
	sort.SliceStable(objs, func(i, j int) bool {
		a, _ := key(&objs[i])
		b, _ := key(&objs[j])
		return a < b
	})
	for i := range objs {
		name, h := key(&objs[i])
		*h = ""
		*h = contentHash(&objs[i])
		fmt.Fprintf(all, "%s\x00%s\x00%s\n", kind, name, *h)
	}
	return objs
}

// contentHash hashes an object's canonical JSON with its own hash field empty
// (the caller clears it before calling).
func contentHash(obj any) string {
	b, err := json.Marshal(obj)
	if err != nil {
		// Plan types are plain data; Marshal cannot fail on them.
		panic(fmt.Sprintf("plan: encoding %T: %v", obj, err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Encode returns the canonical bytes of the plan: indented JSON with a trailing
// newline, HTML characters not escaped so templates read naturally in diffs.
func Encode(p *Plan) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("encoding plan: %w", err)
	}
	return buf.Bytes(), nil
}

// Decode reads a plan and checks its format version and plan hash, so a plan edited
// by hand or truncated in transit is refused rather than half applied.
func Decode(data []byte) (*Plan, error) {
	var p Plan
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("reading plan: %w", err)
	}
	if p.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("plan has format_version %d; this campaignctl reads format_version %d: re-run `campaignctl plan` with this version", p.FormatVersion, FormatVersion)
	}
	want := p.Hash
	p.Finalize()
	if p.Hash != want {
		return nil, fmt.Errorf("plan hash mismatch: file says %s, content hashes to %s: the plan was edited after `campaignctl plan`; re-run it", want, p.Hash)
	}
	return &p, nil
}
