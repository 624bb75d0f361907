package check

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/compiler/diag"
	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
)

// Check validates cfg and returns every problem it finds, errors and warnings,
// in no particular order (the caller sorts).
func Check(cfg *ir.Config) diag.Diagnostics {
	_, ds := Plan(cfg)
	return ds
}

// Plan validates cfg like Check and also returns the plan it describes, not yet
// finalized, with the schemas' defaults applied. The plan is nil when there is
// an error.
func Plan(cfg *ir.Config) (*plan.Plan, diag.Diagnostics) {
	objs := lower(cfg)
	// The schemas (CUE, most of the time of a compile) and the checks that do
	// not need their defaults run at the same time; the lints that depend on
	// defaults (a mail class, a policy's rules) wait for both.
	validated := make(chan []schemaResult, 1)
	go func() { validated <- validateSchemas(objs) }()
	c := newChecker(cfg, objs)
	c.run()
	results := <-validated
	c.lint()
	ds := append(c.diags, schemaDiags(objs, results, c.diags)...)
	if ds.HasErrors() {
		return nil, ds
	}
	return assemble(objs), ds
}

type checker struct {
	cfg   *ir.Config
	diags diag.Diagnostics

	// low maps each IR object to its lowered (and, when valid, completed) plan
	// object.
	low map[any]*object

	// The first declaration of each name; references resolve to it.
	models    map[string]*ir.Model
	segments  map[string]*ir.Segment
	senders   map[string]*ir.Sender
	templates map[string]*ir.Template
	policies  map[string]*ir.Policy

	envs map[*ir.Model]*modelEnv
	// eventProps holds the first declaration of each event property, by
	// model/event/property: triggers on one model's events must agree.
	eventProps map[string]declaredProperty
	segRefs    map[*ir.Segment][]segRef
	tmplRefs   map[*ir.Template][]fieldRef
	// bodies records, per parsed template, the body that must carry the
	// unsubscribe link and whether it does.
	bodies map[*ir.Template]*templateBody
	// uses lists every place a template is sent from, for the lints that
	// depend on who sends it and to whom.
	uses []templateUse
	// senderUses lists every object that sends from a sender, for the
	// from/reply-to rule of its policy.
	senderUses []senderUse
	// policiesUsed records the policies an object names (unusedPolicies).
	policiesUsed map[*ir.Policy]bool
	// sendingPolicy is the policy of the object being checked (nil: the
	// default), recorded with each template it sends for the consent lint.
	sendingPolicy *ir.Policy
	// retention is the longest event_retention of the policies, and windows
	// the engagement predicates and triggers checked against it.
	retention retention
	// retentions are every policy's event_retention (shorterRetentions).
	retentions []retention
	windows    []eventWindow
	// waits are the wait steps to check against their workflow's minimum.
	waits []pendingWait
	// reported de-duplicates diagnostics that several objects would raise at the
	// same place (a template shared by two campaigns of the same model).
	reported map[string]bool
}

func newChecker(cfg *ir.Config, objs []*object) *checker {
	c := &checker{
		eventProps: map[string]declaredProperty{},
		cfg:        cfg,
		low:        make(map[any]*object, len(objs)),
		models:     map[string]*ir.Model{},
		segments:   map[string]*ir.Segment{},
		senders:    map[string]*ir.Sender{},
		templates:  map[string]*ir.Template{},
		policies:   map[string]*ir.Policy{},
		envs:       map[*ir.Model]*modelEnv{},
		segRefs:    map[*ir.Segment][]segRef{},
		tmplRefs:   map[*ir.Template][]fieldRef{},
		bodies:     map[*ir.Template]*templateBody{},
		reported:   map[string]bool{},
	}
	for _, o := range objs {
		c.low[o.src] = o
	}
	return c
}

// run checks everything that does not depend on the schemas' defaults. It may
// run while the schemas validate the same objects, so it must not read the
// lowered objects (see lint).
func (c *checker) run() {
	c.declare()
	for _, m := range c.cfg.Models {
		c.model(m)
	}
	for _, s := range c.cfg.Segments {
		c.segment(s)
	}
	c.cycles()
	for _, s := range c.cfg.Senders {
		c.sender(s)
	}
	for _, t := range c.cfg.Templates {
		c.template(t)
	}
	for _, p := range c.cfg.Policies {
		c.policy(p)
	}
	c.shorterRetentions()
	for _, k := range c.cfg.Campaigns {
		c.campaign(k)
	}
	for _, w := range c.cfg.Workflows {
		c.workflow(w)
	}
	for _, s := range c.cfg.Sequences {
		c.sequence(s)
	}
	for _, r := range c.cfg.Autoresponders {
		c.autoresponder(r)
	}
	c.retentionWindows()
	c.doubleOptIns()
	c.unusedPolicies()
}

// lint runs the checks that need the schemas' defaults: mail classes, policy
// rules. It must run after schema validation has finished.
func (c *checker) lint() {
	c.templateLints()
	for _, w := range c.waits {
		c.minWait(w)
	}
	c.senderRules()
}

func (c *checker) errorf(r ir.Range, format string, args ...any) *diag.Diagnostic {
	c.diags = append(c.diags, diag.Errorf(r, format, args...))
	return &c.diags[len(c.diags)-1]
}

func (c *checker) warnf(r ir.Range, format string, args ...any) *diag.Diagnostic {
	c.diags = append(c.diags, diag.Warningf(r, format, args...))
	return &c.diags[len(c.diags)-1]
}

// once reports whether key is new, for diagnostics several objects would raise
// at the same place.
func (c *checker) once(key string) bool {
	if c.reported[key] {
		return false
	}
	c.reported[key] = true
	return true
}

// usable reports whether an attribute is present and readable. An Invalid one
// was reported by the front end and is skipped rather than reported again; an
// absent one is the schema's to report when it is required.
func usable(s *ir.String) bool { return s != nil && !s.Invalid }

// Names become CEL variables (lead.stage, segment.lost_leads) and SQL
// identifiers, so they are restricted to what both accept without quoting, and to
// Postgres's identifier length.
var (
	nameRE   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	columnRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	tableRE  = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$`)
)

const maxIdentLen = 63 // Postgres truncates longer identifiers

// celReserved are words CEL's grammar reserves; lead.in would not parse.
var celReserved = map[string]bool{
	"as": true, "break": true, "const": true, "continue": true, "else": true,
	"false": true, "for": true, "function": true, "if": true, "import": true,
	"in": true, "let": true, "loop": true, "package": true, "namespace": true,
	"null": true, "return": true, "true": true, "var": true, "void": true, "while": true,
}

// checkName reports an invalid object or field name. It returns whether the name
// is valid.
func (c *checker) checkName(kind string, n ir.Name) bool {
	if nameRE.MatchString(n.Value) && len(n.Value) <= maxIdentLen {
		return true
	}
	d := c.errorf(n.Range, "invalid %s name %q%s", kind, n.Value, fixedName(n.Value))
	d.Detail = fmt.Sprintf("A name starts with a lowercase letter and has only lowercase letters, digits and underscores, at most %d of them: names become CEL and SQL identifiers.", maxIdentLen)
	return false
}

// fixedName suggests a valid spelling of an invalid name, as a summary suffix.
func fixedName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
		}
	}
	fixed := strings.TrimRight(b.String(), "_")
	if fixed == "" || fixed == s || len(fixed) > maxIdentLen || !nameRE.MatchString(fixed) {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", fixed)
}

// declare checks names and registers the first declaration of each.
func (c *checker) declare() {
	seen := map[string]ir.Range{}
	unique := func(kind string, n ir.Name) bool {
		c.checkName(kind, n)
		key := kind + "\x00" + n.Value
		if first, dup := seen[key]; dup {
			c.errorf(n.Range, "duplicate %s %q", kind, n.Value).Detail = fmt.Sprintf(
				"%s %q is already declared at %s. Names are unique per kind across all files; rename or remove one of them.",
				capitalize(kind), n.Value, first)
			return false
		}
		seen[key] = n.Range
		return true
	}
	for _, k := range ir.Kinds {
		for _, obj := range k.Objects(c.cfg) {
			n, _ := ir.Header(obj)
			if !unique(k.Name, n) {
				continue
			}
			// The kinds other objects refer to by name.
			switch o := obj.(type) {
			case *ir.Model:
				c.models[n.Value] = o
			case *ir.Segment:
				c.segments[n.Value] = o
			case *ir.Sender:
				c.senders[n.Value] = o
			case *ir.Template:
				c.templates[n.Value] = o
			case *ir.Policy:
				c.policies[n.Value] = o
			}
		}
	}
}

// plural is the plural of a kind's name (plan.Kinds), for messages.
func plural(kind string) string {
	if k, ok := plan.LookupKind(kind); ok {
		return k.Plural
	}
	return kind + "s"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

var fieldTypes = []string{
	string(plan.TypeString), string(plan.TypeInt), string(plan.TypeFloat),
	string(plan.TypeBool), string(plan.TypeTimestamp), string(plan.TypeStringList),
}

func (c *checker) model(m *ir.Model) {
	if celmodel.Reserved(m.Name.Value) {
		c.errorf(m.Name.Range, "model name %q is reserved", m.Name.Value).Detail =
			"It is a name CEL filters already use (a built-in variable, type or function), so a filter could not tell the model from it; choose another name."
	}
	if m.Name.Value == eventVar {
		c.errorf(m.Name.Range, "model name %q is reserved", m.Name.Value).Detail =
			"Workflow conditions use event for the event that enrolled the contact; choose another name."
	}
	c.sqlName(m.Table, tableRE, "table name")
	c.sqlName(m.Key, columnRE, "key column")
	c.sqlName(m.Email, columnRE, "email column")

	me := &modelEnv{model: m, skip: map[string]bool{}}
	seen := map[string]ir.Range{}
	for _, f := range m.Fields {
		ok := c.checkName("field", f.Name)
		if ok && celReserved[f.Name.Value] {
			c.errorf(f.Name.Range, "field name %q is a reserved word in CEL", f.Name.Value).Detail = fmt.Sprintf(
				"A filter could not write %s.%s. Name the field differently and map it with column = %q.",
				m.Name.Value, f.Name.Value, f.Name.Value)
			ok = false
		}
		if first, dup := seen[f.Name.Value]; dup {
			c.errorf(f.Name.Range, "duplicate field %q in model %q", f.Name.Value, m.Name.Value).Detail =
				fmt.Sprintf("Field %q is already declared at %s.", f.Name.Value, first)
			continue
		}
		seen[f.Name.Value] = f.Name.Range
		switch {
		case !usable(f.Type):
			ok = false // absent: the schema says so; invalid: reported
		case !slices.Contains(fieldTypes, f.Type.Value):
			c.errorf(f.Type.Content(), "unknown field type %q%s", f.Type.Value, didYouMean(f.Type.Value, fieldTypes)).Detail =
				"Field types are " + strings.Join(fieldTypes, ", ") + "."
			ok = false
		}
		if usable(f.Column) && !c.sqlIdent(f.Column, columnRE, "column name") {
			ok = false
		}
		if ok {
			me.fields = append(me.fields, plan.Field{Name: f.Name.Value, Type: plan.FieldType(f.Type.Value), Nullable: f.Nullable != nil && f.Nullable.Value})
		} else {
			// Already reported: a filter that uses the field should not report it
			// again as unknown.
			me.skip[f.Name.Value] = true
		}
	}
	me.build(c)
	c.envs[m] = me
	if usable(m.TimeZone) {
		c.fieldName(fmt.Sprintf("model %q", m.Name.Value), "time_zone", m.TimeZone, me, plan.TypeString)
	}
	if usable(m.DefaultFilter) {
		c.checkCEL(celUse{owner: fmt.Sprintf("default_filter of model %q", m.Name.Value), expr: m.DefaultFilter, env: me, scope: scopeDefault})
	}
	c.modelConsent(m, me)
}

// sqlName checks an attribute of a model that names a SQL table or column.
func (c *checker) sqlName(s *ir.String, re *regexp.Regexp, what string) {
	if usable(s) {
		c.sqlIdent(s, re, what)
	}
}

func (c *checker) sqlIdent(s *ir.String, re *regexp.Regexp, what string) bool {
	parts := strings.Split(s.Value, ".")
	tooLong := false
	for _, p := range parts {
		tooLong = tooLong || len(p) > maxIdentLen
	}
	if re.MatchString(s.Value) && !tooLong {
		return true
	}
	d := c.errorf(s.Content(), "invalid %s %q", what, s.Value)
	if what == "table name" {
		d.Detail = "A table is a lowercase SQL identifier, optionally qualified by its schema: crm_lead or crm.lead."
	} else {
		d.Detail = "A column is a lowercase SQL identifier: letters, digits and underscores, not starting with a digit."
	}
	return false
}

func (c *checker) segment(s *ir.Segment) {
	me := c.modelRef(s.Model)
	// include_archived only lifts the model's default_filter.
	if ia := s.IncludeArchived; me != nil && ia != nil && !ia.Invalid && ia.Value && !usable(me.model.DefaultFilter) {
		c.warnf(ia.Range, "segment %q: include_archived has no effect: model %q has no default_filter", s.Name.Value, me.model.Name.Value).Detail =
			"include_archived = true lifts the model's default_filter (e.g. lead.active) for this segment; without one, every row is already included. Remove it, or declare the default_filter it is meant to lift."
	}
	if !usable(s.Filter) {
		return
	}
	c.segRefs[s] = c.checkCEL(celUse{
		owner:   fmt.Sprintf("filter of segment %q", s.Name.Value),
		expr:    s.Filter,
		env:     me,
		segment: s,
		scope:   scopeSegment,
	})
}

// modelRef resolves a reference to a model and returns its CEL environment, or
// nil when there is none (absent, unreadable or unknown: the last is reported).
func (c *checker) modelRef(ref *ir.String) *modelEnv {
	if !usable(ref) {
		return nil
	}
	m, ok := c.models[ref.Value]
	if !ok {
		c.unknownRef("model", ref, keys(c.models))
		return nil
	}
	return c.envs[m]
}

// unknownRef reports a reference to an undeclared object.
func (c *checker) unknownRef(kind string, ref *ir.String, declared []string) {
	d := c.errorf(ref.Content(), "unknown %s %q%s", kind, ref.Value, didYouMean(ref.Value, declared))
	d.Detail = fmt.Sprintf("Declared %s: %s.", plural(kind), list(declared))
}

func (c *checker) sender(s *ir.Sender) {
	if usable(s.From) {
		c.address("from", s.From)
	}
	if usable(s.ReplyTo) {
		c.address("reply_to", s.ReplyTo)
	}
}

// address checks one RFC 5322 address, "Name <user@host>" or "user@host".
func (c *checker) address(attr string, s *ir.String) (*mail.Address, bool) {
	if strings.ContainsAny(s.Value, "\r\n") {
		c.errorf(s.Content(), "%s must be one line", attr)
		return nil, false
	}
	a, err := mail.ParseAddress(s.Value)
	if err != nil {
		c.errorf(s.Content(), "%s %q is not a valid email address: %v", attr, s.Value, err).Detail =
			`Write one address, as "user@example.com" or "Display Name <user@example.com>".`
		return nil, false
	}
	return a, true
}

func (c *checker) campaign(k *ir.Campaign) {
	owner := fmt.Sprintf("campaign %q", k.Name.Value)
	seg := resolve(c, k.Segment, "segment", c.segments)
	snd := resolve(c, k.Sender, "sender", c.senders)
	pol := c.policyRef(k.Policy)
	c.sendingPolicy = pol
	if usable(k.SendAt) {
		if _, err := time.Parse(time.RFC3339, k.SendAt.Value); err != nil {
			c.errorf(k.SendAt.Content(), "send_at %q is not an RFC 3339 time", k.SendAt.Value).Detail =
				`Write a date, a time and a UTC offset, e.g. "2026-12-01T09:00:00Z" or "2026-12-01T10:00:00+01:00"; leave send_at out to send when the plan is applied.`
		}
	}
	var me *modelEnv
	if seg != nil && usable(seg.Model) {
		if m, ok := c.models[seg.Model.Value]; ok {
			me = c.envs[m]
		}
	}
	class := sendClass{src: k, written: k.Class}
	via := fmt.Sprintf("%s sends it to segment %q", owner, val(k.Segment))
	c.use(templateUse{ref: k.Template, user: owner, via: via, env: me, class: class})
	c.abTest(owner, k.ABTest, me, class, via, false)
	c.sendsFrom(snd, owner, pol)
}

// resolve looks up a reference, reporting it if unknown. It returns nil when
// there is nothing to follow: an absent reference is the schema's to report.
func resolve[T any](c *checker, ref *ir.String, kind string, declared map[string]*T) *T {
	if !usable(ref) {
		return nil
	}
	if obj, ok := declared[ref.Value]; ok {
		return obj
	}
	c.unknownRef(kind, ref, keys(declared))
	return nil
}

func keys[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func val(s *ir.String) string {
	if s == nil {
		return ""
	}
	return s.Value
}

// planOf returns the plan struct of an IR object: completed with the schema's
// defaults when the object is valid, as written otherwise. Only lint may call it:
// before, the schemas may be completing it.
func (c *checker) planOf(src any) any {
	if o, ok := c.low[src]; ok {
		return o.value
	}
	return nil
}

// fieldName checks a reference to a field of a model by its plain name, as a
// model's own attributes write it (time_zone = "tz"), and that it has type typ.
func (c *checker) fieldName(owner, attr string, s *ir.String, me *modelEnv, typ plan.FieldType) {
	if me.skip[s.Value] {
		return
	}
	for _, f := range me.fields {
		if f.Name != s.Value {
			continue
		}
		if f.Type != typ {
			c.errorf(s.Content(), "%s: %s field %q is %s field; it must be %s", owner, attr, s.Value, article(string(f.Type)), typ)
		}
		return
	}
	c.errorf(s.Content(), "%s: %s: no field %q%s", owner, attr, s.Value, didYouMean(s.Value, me.fieldNames())).Detail =
		fmt.Sprintf("%s names one of the model's fields: %s.", attr, list(me.fieldNames()))
}
