package check

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// Lowering turns each IR object into its plan struct, mechanically: what is
// written is copied, what is absent is left zero, and nothing is checked. Along
// the way it records, for each JSON path of the plan struct ("steps\x002\x00
// template"), the source range that wrote it. That index serves twice: it maps a
// schema error's path back to a file, line and column, and it tells a written
// zero (test_percent = 0, exclude_responders = false) from an absent field, which
// a Go struct cannot, so the schema's defaults apply only to what is absent.

// object is one lowered object of the tree.
type object struct {
	kind string // the schemas' kind name: "workflow"
	src  any    // the IR object (*ir.Workflow, …)
	name ir.Name
	decl ir.Range
	// value points to the plan struct (*plan.Workflow, …). After schema
	// validation it is replaced by the struct with the schema's defaults, when
	// the object is valid.
	value any
	// completed is true once value holds the schema's defaults.
	completed bool
	idx       *pathIndex
}

// pathIndex maps JSON paths of one object to where they were written.
type pathIndex struct {
	ranges map[string]ir.Range
	// invalid holds paths whose value the front end could not read (and has
	// reported): they are left out of validation and their errors are dropped.
	invalid map[string]bool
	// zeros holds the zero values that were written (false, 0, ""), which
	// encoding/json drops from fields tagged omitempty: they are put back for
	// validation, so daily_quota = 0 is refused rather than taken as absent.
	zeros map[string]any
}

func newIndex() *pathIndex {
	return &pathIndex{ranges: map[string]ir.Range{}, invalid: map[string]bool{}}
}

// sep separates the parts of a path key. Names never contain it.
const sep = "\x00"

func join(prefix, part string) string {
	if prefix == "" {
		return part
	}
	return prefix + sep + part
}

func at(prefix string, i int) string { return join(prefix, strconv.Itoa(i)) }

// pathKey is the index key of a schema error's path.
func pathKey(path []string) string { return strings.Join(path, sep) }

type lowerer struct{ idx *pathIndex }

func (l *lowerer) mark(path string, r ir.Range, invalid bool) {
	l.idx.ranges[path] = r
	if invalid {
		l.idx.invalid[path] = true
	}
}

// zero records a written zero value.
func (l *lowerer) zero(path string, v any) {
	if l.idx.zeros == nil {
		l.idx.zeros = map[string]any{}
	}
	l.idx.zeros[path] = v
}

func (l *lowerer) str(path string, s *ir.String) string {
	if s == nil {
		return ""
	}
	l.mark(path, s.Range, s.Invalid)
	if s.Invalid {
		return ""
	}
	if s.Value == "" {
		l.zero(path, "")
	}
	return s.Value
}

// cel lowers a CEL expression, trimmed: the surrounding blank lines of a heredoc
// are not part of the condition, and the plan should not change when they do.
func (l *lowerer) cel(path string, s *ir.String) string { return strings.TrimSpace(l.str(path, s)) }

func (l *lowerer) boolean(path string, b *ir.Bool) bool {
	if b == nil {
		return false
	}
	l.mark(path, b.Range, b.Invalid)
	if !b.Value && !b.Invalid {
		l.zero(path, false)
	}
	return b.Value && !b.Invalid
}

func (l *lowerer) integer(path string, n *ir.Int) int {
	if n == nil {
		return 0
	}
	l.mark(path, n.Range, n.Invalid)
	if n.Invalid {
		return 0
	}
	if n.Value == 0 {
		l.zero(path, json.Number("0"))
	}
	return int(n.Value)
}

func (l *lowerer) float(path string, n *ir.Float) float64 {
	if n == nil {
		return 0
	}
	l.mark(path, n.Range, n.Invalid)
	if n.Invalid {
		return 0
	}
	if n.Value == 0 {
		l.zero(path, json.Number("0"))
	}
	return n.Value
}

func (l *lowerer) list(path string, sl *ir.StringList) []string {
	if sl == nil {
		return nil
	}
	l.mark(path, sl.Range, sl.Invalid)
	if sl.Invalid {
		return nil
	}
	out := make([]string, len(sl.Values))
	for i, s := range sl.Values {
		out[i] = l.str(at(path, i), s)
	}
	return out
}

func (l *lowerer) name(path string, n ir.Name) string {
	l.mark(path, n.Range, false)
	return n.Value
}

// block indexes a nested block (trigger, quiet_hours, …) at path and returns
// the path of a member of it.
func (l *lowerer) block(path string, decl ir.Range) func(member string) string {
	l.mark(path, decl, false)
	return func(member string) string { return join(path, member) }
}

// blockList lowers a list of named blocks (fields, steps, variants, …) at path,
// with lowerOne lowering one block at its element path and returning the
// block's name and declaration with it. Each element maps to its declaration;
// the list itself maps to the first name written twice, if any, since the
// schema's error about a list is most often "distinct names"; otherwise to the
// owner's range. An empty list stays nil, as absent.
func blockList[B, P any](l *lowerer, path string, owner ir.Range, blocks []B, lowerOne func(p string, b B) (ir.Name, ir.Range, P)) []P {
	if len(blocks) == 0 {
		return nil
	}
	out := make([]P, len(blocks))
	listRange, dupFound := owner, false
	seen := map[string]bool{}
	for i, b := range blocks {
		p := at(path, i)
		name, decl, v := lowerOne(p, b)
		l.mark(p, decl, false)
		out[i] = v
		if seen[name.Value] && !dupFound {
			listRange, dupFound = name.Range, true
		}
		seen[name.Value] = true
	}
	l.mark(path, listRange, false)
	return out
}

// lower lowers every object of cfg, in kind order and then source order.
func lower(cfg *ir.Config) []*object {
	objs := make([]*object, 0, cfg.Len())
	add := func(src any, kind string, name ir.Name, decl ir.Range, build func(l *lowerer) any) {
		o := &object{kind: kind, src: src, name: name, decl: decl, idx: newIndex()}
		l := &lowerer{idx: o.idx}
		o.value = build(l)
		objs = append(objs, o)
	}
	for _, m := range cfg.Models {
		add(m, "model", m.Name, m.DeclRange, func(l *lowerer) any { return lowerModel(l, m) })
	}
	for _, s := range cfg.Segments {
		add(s, "segment", s.Name, s.DeclRange, func(l *lowerer) any {
			return &plan.Segment{
				Name:            l.name("name", s.Name),
				Model:           l.str("model", s.Model),
				Filter:          l.cel("filter", s.Filter),
				IncludeArchived: l.boolean("include_archived", s.IncludeArchived),
			}
		})
	}
	for _, s := range cfg.Senders {
		add(s, "sender", s.Name, s.DeclRange, func(l *lowerer) any {
			return &plan.Sender{Name: l.name("name", s.Name), From: l.str("from", s.From), ReplyTo: l.str("reply_to", s.ReplyTo)}
		})
	}
	for _, t := range cfg.Templates {
		add(t, "template", t.Name, t.DeclRange, func(l *lowerer) any {
			return &plan.Template{
				Name:         l.name("name", t.Name),
				Subject:      l.str("subject", t.Subject),
				HTML:         l.str("html", t.HTML),
				Text:         l.str("text", t.Text),
				Class:        l.str("class", t.Class),
				Subscription: l.str("subscription", t.Subscription),
			}
		})
	}
	for _, p := range cfg.Policies {
		add(p, "policy", p.Name, p.DeclRange, func(l *lowerer) any { return lowerPolicy(l, p) })
	}
	for _, k := range cfg.Campaigns {
		add(k, "campaign", k.Name, k.DeclRange, func(l *lowerer) any {
			return &plan.Campaign{
				Name:     l.name("name", k.Name),
				Segment:  l.str("segment", k.Segment),
				Template: l.str("template", k.Template),
				Sender:   l.str("sender", k.Sender),
				SendAt:   l.str("send_at", k.SendAt),
				Class:    l.str("class", k.Class),
				Policy:   l.str("policy", k.Policy),
				ABTest:   lowerABTest(l, "ab_test", k.ABTest),
				Paused:   l.boolean("paused", k.Paused),
			}
		})
	}
	for _, w := range cfg.Workflows {
		add(w, "workflow", w.Name, w.DeclRange, func(l *lowerer) any { return lowerWorkflow(l, w) })
	}
	for _, s := range cfg.Sequences {
		add(s, "sequence", s.Name, s.DeclRange, func(l *lowerer) any { return lowerSequence(l, s) })
	}
	for _, r := range cfg.Autoresponders {
		add(r, "autoresponder", r.Name, r.DeclRange, func(l *lowerer) any { return lowerAutoresponder(l, r) })
	}
	return objs
}

func lowerModel(l *lowerer, m *ir.Model) *plan.Model {
	pm := &plan.Model{
		Name:  l.name("name", m.Name),
		Table: l.str("table", m.Table),
		Key:   l.str("key", m.Key),
		Email: l.str("email", m.Email),
	}
	pm.Fields = blockList(l, "fields", m.DeclRange, m.Fields, func(p string, f *ir.Field) (ir.Name, ir.Range, plan.Field) {
		return f.Name, f.DeclRange, plan.Field{
			Name:     l.name(join(p, "name"), f.Name),
			Column:   l.str(join(p, "column"), f.Column),
			Type:     plan.FieldType(l.str(join(p, "type"), f.Type)),
			Nullable: l.boolean(join(p, "nullable"), f.Nullable),
		}
	})
	pm.DefaultFilter = l.cel("default_filter", m.DefaultFilter)
	pm.TimeZone = l.str("time_zone", m.TimeZone)
	pm.Consent = l.cel("consent", m.Consent)
	if len(m.Subscriptions) > 0 {
		pm.Subscriptions = blockList(l, "subscriptions", m.DeclRange, m.Subscriptions, func(p string, s *ir.Subscription) (ir.Name, ir.Range, plan.Subscription) {
			return s.Name, s.DeclRange, plan.Subscription{
				Name:            l.name(join(p, "name"), s.Name),
				Consent:         l.cel(join(p, "consent"), s.Consent),
				DoubleOptIn:     l.boolean(join(p, "double_opt_in"), s.DoubleOptIn),
				ConfirmTemplate: l.str(join(p, "confirm_template"), s.ConfirmTemplate),
				ConfirmSender:   l.str(join(p, "confirm_sender"), s.ConfirmSender),
				ConfirmWithin:   l.str(join(p, "confirm_within"), s.ConfirmWithin),
				WordingVersion:  l.str(join(p, "wording_version"), s.WordingVersion),
			}
		})
	}
	return pm
}

func lowerPolicy(l *lowerer, p *ir.Policy) *plan.Policy {
	pp := &plan.Policy{
		Name:                      l.name("name", p.Name),
		DailyQuota:                l.integer("daily_quota", p.DailyQuota),
		RatePerMinute:             l.integer("rate_per_minute", p.RatePerMinute),
		Suppress:                  l.list("suppress", p.Suppress),
		RequireOrgReplyTo:         l.boolean("require_org_reply_to", p.RequireOrgReplyTo),
		OrgDomains:                l.list("org_domains", p.OrgDomains),
		AudienceGrowthWarnPercent: l.integer("audience_growth_warn_percent", p.AudienceGrowthWarnPercent),
		Consent:                   l.str("consent", p.Consent),
		EventRetention:            l.str("event_retention", p.EventRetention),
	}
	if q := p.QuietHours; q != nil {
		m := l.block("quiet_hours", q.DeclRange)
		pp.QuietHours = &plan.QuietHours{Start: l.str(m("start"), q.Start), End: l.str(m("end"), q.End)}
	}
	if f := p.FrequencyCap; f != nil {
		m := l.block("frequency_cap", f.DeclRange)
		pp.FrequencyCap = &plan.FrequencyCap{Max: l.integer(m("max"), f.Max), Per: l.str(m("per"), f.Per)}
	}
	if b := p.Bypass; b != nil {
		m := l.block("bypass", b.DeclRange)
		pp.Bypass = map[string][]string{}
		for _, c := range b.Classes {
			rules := l.list(m(c.Class.Value), c.Rules)
			if rules == nil {
				rules = []string{}
			}
			pp.Bypass[c.Class.Value] = rules
		}
	}
	return pp
}

func lowerABTest(l *lowerer, path string, ab *ir.ABTest) *plan.ABTest {
	if ab == nil {
		return nil
	}
	m := l.block(path, ab.DeclRange)
	out := &plan.ABTest{
		TestPercent:  l.integer(m("test_percent"), ab.TestPercent),
		Metric:       l.str(m("metric"), ab.Metric),
		DecideAfter:  l.str(m("decide_after"), ab.DecideAfter),
		Inconclusive: l.str(m("inconclusive"), ab.Inconclusive),
	}
	out.Variants = blockList(l, m("variants"), ab.DeclRange, ab.Variants, func(p string, v *ir.Variant) (ir.Name, ir.Range, plan.Variant) {
		return v.Name, v.DeclRange, plan.Variant{
			Name:     l.name(join(p, "name"), v.Name),
			Subject:  l.str(join(p, "subject"), v.Subject),
			Template: l.str(join(p, "template"), v.Template),
		}
	})
	return out
}

func lowerEngagement(l *lowerer, path string, e *ir.Engagement) *plan.Engagement {
	if e == nil {
		return nil
	}
	m := l.block(path, e.DeclRange)
	return &plan.Engagement{
		Step:   l.str(m("step"), e.Step),
		Event:  l.str(m("event"), e.Event),
		Within: l.str(m("within"), e.Within),
	}
}

func lowerWorkflow(l *lowerer, w *ir.Workflow) *plan.Workflow {
	pw := &plan.Workflow{
		Name:   l.name("name", w.Name),
		Type:   l.str("type", w.Type),
		Model:  l.str("model", w.Model),
		Class:  l.str("class", w.Class),
		Sender: l.str("sender", w.Sender),
		Policy: l.str("policy", w.Policy),
		Goal:   l.cel("goal", w.Goal),
		Paused: l.boolean("paused", w.Paused),
	}
	if t := w.Trigger; t != nil {
		m := l.block("trigger", t.DeclRange)
		pw.Trigger = plan.Trigger{
			Event:       l.str(m("event"), t.Event),
			Filter:      l.cel(m("filter"), t.Filter),
			Segment:     l.str(m("segment"), t.Segment),
			Topic:       l.str(m("topic"), t.Topic),
			Threshold:   l.float(m("threshold"), t.Threshold),
			Window:      l.str(m("window"), t.Window),
			InactiveFor: l.str(m("inactive_for"), t.InactiveFor),
			Field:       l.str(m("field"), t.Field),
		}
		pw.Trigger.Properties = blockList(l, m("properties"), t.DeclRange, t.Properties, func(p string, pr *ir.EventProperty) (ir.Name, ir.Range, plan.EventProperty) {
			return pr.Name, pr.DeclRange, plan.EventProperty{
				Name: l.name(join(p, "name"), pr.Name),
				Type: plan.FieldType(l.str(join(p, "type"), pr.Type)),
			}
		})
	}
	if r := w.Reenroll; r != nil {
		m := l.block("reenroll", r.DeclRange)
		pw.Reenroll = &plan.Reenroll{
			Allowed: l.boolean(m("allowed"), r.Allowed),
			After:   l.str(m("after"), r.After),
		}
	}
	pw.Steps = blockList(l, "steps", w.DeclRange, w.Steps, func(p string, s *ir.Step) (ir.Name, ir.Range, plan.Step) {
		f := func(name string) string { return join(p, name) }
		if s.Kind == nil {
			// Front ends derive a step's kind from its attributes and report a
			// step that has none; the schema need not say it again.
			l.mark(f("kind"), s.DeclRange, true)
		}
		return s.Name, s.DeclRange, plan.Step{
			Name:       l.name(f("name"), s.Name),
			Kind:       l.str(f("kind"), s.Kind),
			Next:       l.str(f("next"), s.Next),
			Duration:   l.str(f("duration"), s.Duration),
			RelativeTo: l.str(f("relative_to"), s.RelativeTo),
			Template:   l.str(f("template"), s.Template),
			ABTest:     lowerABTest(l, f("ab_test"), s.ABTest),
			Condition:  l.cel(f("condition"), s.Condition),
			Engagement: lowerEngagement(l, f("engagement"), s.Engagement),
			Then:       l.str(f("then"), s.Then),
			Else:       l.str(f("else"), s.Else),
			Field:      l.str(f("field"), s.Field),
			Value:      l.str(f("value"), s.Value),
			Owners:     l.list(f("owners"), s.Owners),
		}
	})
	return pw
}

func lowerSequence(l *lowerer, s *ir.Sequence) *plan.Sequence {
	ps := &plan.Sequence{
		Name:    l.name("name", s.Name),
		Model:   l.str("model", s.Model),
		Segment: l.str("segment", s.Segment),
		Sender:  l.str("sender", s.Sender),
		Policy:  l.str("policy", s.Policy),
		Goal:    l.cel("goal", s.Goal),
		Paused:  l.boolean("paused", s.Paused),
	}
	ps.Steps = blockList(l, "steps", s.DeclRange, s.Steps, func(p string, st *ir.SequenceStep) (ir.Name, ir.Range, plan.SequenceStep) {
		return st.Name, st.DeclRange, plan.SequenceStep{
			Name:     l.name(join(p, "name"), st.Name),
			Offset:   l.str(join(p, "offset"), st.Offset),
			Template: l.str(join(p, "template"), st.Template),
			When:     lowerEngagement(l, join(p, "when"), st.When),
			ABTest:   lowerABTest(l, join(p, "ab_test"), st.ABTest),
		}
	})
	return ps
}

func lowerAutoresponder(l *lowerer, r *ir.Autoresponder) *plan.Autoresponder {
	pr := &plan.Autoresponder{
		Name:              l.name("name", r.Name),
		Model:             l.str("model", r.Model),
		Segment:           l.str("segment", r.Segment),
		Sender:            l.str("sender", r.Sender),
		Mode:              l.str("mode", r.Mode),
		Start:             l.str("start", r.Start),
		End:               l.str("end", r.End),
		Template:          l.str("template", r.Template),
		MaxFollowUps:      l.integer("max_follow_ups", r.MaxFollowUps),
		ExcludeResponders: l.boolean("exclude_responders", r.ExcludeResponders),
		DoNotEmail:        l.str("do_not_email", r.DoNotEmail),
		Paused:            l.boolean("paused", r.Paused),
	}
	pr.FollowUps = blockList(l, "follow_ups", r.DeclRange, r.FollowUps, func(p string, f *ir.FollowUp) (ir.Name, ir.Range, plan.FollowUp) {
		return f.Name, f.DeclRange, plan.FollowUp{
			Name:     l.name(join(p, "name"), f.Name),
			Offset:   l.str(join(p, "offset"), f.Offset),
			Template: l.str(join(p, "template"), f.Template),
		}
	})
	if rec := r.Recurrence; rec != nil {
		m := l.block("recurrence", rec.DeclRange)
		pr.Recurrence = &plan.Recurrence{
			Unit:       l.str(m("unit"), rec.Unit),
			Every:      l.integer(m("every"), rec.Every),
			Weekdays:   l.list(m("weekdays"), rec.Weekdays),
			DayOfMonth: l.integer(m("day_of_month"), rec.DayOfMonth),
		}
	}
	return pr
}
