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

// blockList indexes a list of named blocks (steps, variants, …): the list
// itself maps to the first name written twice, if any, since the schema's error
// about a list is most often "distinct names"; otherwise to the owner's range.
func (l *lowerer) blockList(path string, names []ir.Name, owner ir.Range) {
	if len(names) == 0 {
		return
	}
	r := owner
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n.Value] {
			r = n.Range
			break
		}
		seen[n.Value] = true
	}
	l.mark(path, r, false)
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
				Name:    l.name("name", t.Name),
				Subject: l.str("subject", t.Subject),
				HTML:    l.str("html", t.HTML),
				Text:    l.str("text", t.Text),
				Class:   l.str("class", t.Class),
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
	names := make([]ir.Name, len(m.Fields))
	for i, f := range m.Fields {
		names[i] = f.Name
		p := at("fields", i)
		l.mark(p, f.DeclRange, false)
		pm.Fields = append(pm.Fields, plan.Field{
			Name:     l.name(join(p, "name"), f.Name),
			Column:   l.str(join(p, "column"), f.Column),
			Type:     plan.FieldType(l.str(join(p, "type"), f.Type)),
			Nullable: l.boolean(join(p, "nullable"), f.Nullable),
		})
	}
	l.blockList("fields", names, m.DeclRange)
	pm.DefaultFilter = l.cel("default_filter", m.DefaultFilter)
	pm.TimeZone = l.str("time_zone", m.TimeZone)
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
	}
	if q := p.QuietHours; q != nil {
		l.mark("quiet_hours", q.DeclRange, false)
		pp.QuietHours = &plan.QuietHours{Start: l.str("quiet_hours"+sep+"start", q.Start), End: l.str("quiet_hours"+sep+"end", q.End)}
	}
	if f := p.FrequencyCap; f != nil {
		l.mark("frequency_cap", f.DeclRange, false)
		pp.FrequencyCap = &plan.FrequencyCap{Max: l.integer("frequency_cap"+sep+"max", f.Max), Per: l.str("frequency_cap"+sep+"per", f.Per)}
	}
	if b := p.Bypass; b != nil {
		l.mark("bypass", b.DeclRange, false)
		pp.Bypass = map[string][]string{}
		for _, c := range b.Classes {
			path := join("bypass", c.Class.Value)
			rules := l.list(path, c.Rules)
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
	l.mark(path, ab.DeclRange, false)
	out := &plan.ABTest{
		TestPercent:  l.integer(join(path, "test_percent"), ab.TestPercent),
		Metric:       l.str(join(path, "metric"), ab.Metric),
		DecideAfter:  l.str(join(path, "decide_after"), ab.DecideAfter),
		Inconclusive: l.str(join(path, "inconclusive"), ab.Inconclusive),
	}
	names := make([]ir.Name, len(ab.Variants))
	for i, v := range ab.Variants {
		names[i] = v.Name
		p := at(join(path, "variants"), i)
		l.mark(p, v.DeclRange, false)
		out.Variants = append(out.Variants, plan.Variant{
			Name:     l.name(join(p, "name"), v.Name),
			Subject:  l.str(join(p, "subject"), v.Subject),
			Template: l.str(join(p, "template"), v.Template),
		})
	}
	l.blockList(join(path, "variants"), names, ab.DeclRange)
	return out
}

func lowerEngagement(l *lowerer, path string, e *ir.Engagement) *plan.Engagement {
	if e == nil {
		return nil
	}
	l.mark(path, e.DeclRange, false)
	return &plan.Engagement{
		Step:   l.str(join(path, "step"), e.Step),
		Event:  l.str(join(path, "event"), e.Event),
		Within: l.str(join(path, "within"), e.Within),
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
	}
	if t := w.Trigger; t != nil {
		l.mark("trigger", t.DeclRange, false)
		p := func(f string) string { return join("trigger", f) }
		pw.Trigger = plan.Trigger{
			Event:       l.str(p("event"), t.Event),
			Filter:      l.cel(p("filter"), t.Filter),
			Segment:     l.str(p("segment"), t.Segment),
			Topic:       l.str(p("topic"), t.Topic),
			Threshold:   l.float(p("threshold"), t.Threshold),
			Window:      l.str(p("window"), t.Window),
			InactiveFor: l.str(p("inactive_for"), t.InactiveFor),
			Field:       l.str(p("field"), t.Field),
		}
	}
	if r := w.Reenroll; r != nil {
		l.mark("reenroll", r.DeclRange, false)
		pw.Reenroll = &plan.Reenroll{
			Allowed: l.boolean(join("reenroll", "allowed"), r.Allowed),
			After:   l.str(join("reenroll", "after"), r.After),
		}
	}
	names := make([]ir.Name, len(w.Steps))
	for i, s := range w.Steps {
		names[i] = s.Name
		p := at("steps", i)
		l.mark(p, s.DeclRange, false)
		f := func(name string) string { return join(p, name) }
		if s.Kind == nil {
			// Front ends derive a step's kind from its attributes and report a
			// step that has none; the schema need not say it again.
			l.mark(f("kind"), s.DeclRange, true)
		}
		pw.Steps = append(pw.Steps, plan.Step{
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
		})
	}
	l.blockList("steps", names, w.DeclRange)
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
	}
	names := make([]ir.Name, len(s.Steps))
	for i, st := range s.Steps {
		names[i] = st.Name
		p := at("steps", i)
		l.mark(p, st.DeclRange, false)
		ps.Steps = append(ps.Steps, plan.SequenceStep{
			Name:     l.name(join(p, "name"), st.Name),
			Offset:   l.str(join(p, "offset"), st.Offset),
			Template: l.str(join(p, "template"), st.Template),
			When:     lowerEngagement(l, join(p, "when"), st.When),
			ABTest:   lowerABTest(l, join(p, "ab_test"), st.ABTest),
		})
	}
	l.blockList("steps", names, s.DeclRange)
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
	}
	names := make([]ir.Name, len(r.FollowUps))
	for i, f := range r.FollowUps {
		names[i] = f.Name
		p := at("follow_ups", i)
		l.mark(p, f.DeclRange, false)
		pr.FollowUps = append(pr.FollowUps, plan.FollowUp{
			Name:     l.name(join(p, "name"), f.Name),
			Offset:   l.str(join(p, "offset"), f.Offset),
			Template: l.str(join(p, "template"), f.Template),
		})
	}
	l.blockList("follow_ups", names, r.DeclRange)
	if rec := r.Recurrence; rec != nil {
		l.mark("recurrence", rec.DeclRange, false)
		pr.Recurrence = &plan.Recurrence{
			Unit:       l.str(join("recurrence", "unit"), rec.Unit),
			Every:      l.integer(join("recurrence", "every"), rec.Every),
			Weekdays:   l.list(join("recurrence", "weekdays"), rec.Weekdays),
			DayOfMonth: l.integer(join("recurrence", "day_of_month"), rec.DayOfMonth),
		}
	}
	return pr
}
