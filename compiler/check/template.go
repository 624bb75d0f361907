package check

import (
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	texttemplate "text/template"
	"text/template/parse"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// templateFuncs are the functions templates may call. Only their names and
// arities matter here (templates are parsed, never rendered with real data); the
// mailer must provide the same names.
var templateFuncs = map[string]any{
	// default returns given unless it is empty, then def:
	// {{ .lead.name | default "there" }}.
	"default": func(def any, given ...any) any {
		if len(given) == 0 || given[0] == nil || given[0] == "" {
			return def
		}
		return given[0]
	},
}

// unsubscribeField is the template datum holding the contact's unsubscribe link.
const unsubscribeField = "unsubscribe_url"

// fieldRef is a {{ .a.b }} in a template body, outside range and with blocks
// (where the dot is the top-level data).
type fieldRef struct {
	attr string
	path []string
	rng  ir.Range
}

// templateBody is the body of a template that must carry the unsubscribe link
// of marketing mail (the html one when there is one: it is what most people
// see), and whether it does.
type templateBody struct {
	body        *ir.String
	attr        string
	unsubscribe bool
	// confirm: the body carries {{ .confirm_url }}, a double opt-in link.
	confirm bool
}

func (c *checker) template(t *ir.Template) {
	name := t.Name.Value
	if usable(t.Subject) {
		if i := strings.IndexAny(t.Subject.Value, "\r\n"); i >= 0 {
			c.errorf(t.Subject.Sub(i, i+1), "template %q: subject must be one line", name).Detail =
				"A line break in a subject would end the Subject header of the message."
		}
		c.parseTemplate(t, "subject", t.Subject, false)
	}
	var body *ir.String
	var bodyTrees []*parse.Tree
	if usable(t.Text) {
		if trees, ok := c.parseTemplate(t, "text", t.Text, false); ok {
			body, bodyTrees = t.Text, trees
		}
	}
	if t.HTML != nil {
		body, bodyTrees = nil, nil
		if usable(t.HTML) {
			if trees, ok := c.parseTemplate(t, "html", t.HTML, true); ok {
				body, bodyTrees = t.HTML, trees
			}
		}
	}
	if body != nil {
		attr := "text"
		if body == t.HTML {
			attr = "html"
		}
		c.bodies[t] = &templateBody{body: body, attr: attr, unsubscribe: mentions(bodyTrees, unsubscribeField), confirm: mentions(bodyTrees, confirmField)}
	}
}

// templateClass is the template's mail class, with the schema's default.
func (c *checker) templateClass(t *ir.Template) string {
	if pt, ok := c.planOf(t).(*plan.Template); ok && pt.Class != "" {
		return pt.Class
	}
	return plan.ClassMarketing
}

// templateUse is one place that sends a template.
type templateUse struct {
	tmpl *ir.Template // set by use
	ref  *ir.String   // where the template is named
	user string       // `campaign "x"`, `step "s" of workflow "w"`
	// via says, for details, who receives it: `campaign "x" sends it to segment "y"`.
	via string
	env *modelEnv // the recipients' model; nil when unknown
	// class is the mail class of the send: marketing, transactional, or
	// internal (a notification to the contact's owner, not to the contact).
	class sendClass
	// policy is the policy the sending object names; nil means the default.
	policy *ir.Policy
}

// use resolves the template a send names and records the send for
// templateLints. An unknown template is reported; an absent one is the
// schema's to report.
func (c *checker) use(u templateUse) {
	u.policy = c.sendingPolicy
	if u.tmpl = resolve(c, u.ref, "template", c.templates); u.tmpl != nil {
		c.uses = append(c.uses, u)
	}
}

// templateLints runs the checks that depend on how a template is sent: the
// fields it reads exist on the recipients' model, and marketing mail carries an
// unsubscribe link.
func (c *checker) templateLints() {
	// Per model, whether marketing mail goes to it under an opt_in policy
	// (its consent conditions are read) or under opt_out (consentUnread).
	optIn, optOut := map[*ir.Model]bool{}, map[*ir.Model]bool{}
	for _, u := range c.uses {
		c.templateFields(u)
		c.subscriptionRef(u)
		if c.resolveClass(u.class) != plan.ClassMarketing {
			continue
		}
		if u.env != nil {
			if c.optInPolicy(u.policy) != nil {
				optIn[u.env.model] = true
			} else {
				optOut[u.env.model] = true
			}
		}
		c.consentRule(u)
		tc := c.templateClass(u.tmpl)
		if tc != plan.ClassMarketing {
			if c.once("tmplclass\x00" + u.user + "\x00" + u.tmpl.Name.Value) {
				c.warnf(u.ref.Content(), "%s sends template %q as marketing mail, but the template is declared %s", u.user, u.tmpl.Name.Value, tc).Detail =
					"Marketing mail must honour opt-outs and carry an unsubscribe link, and " + tc + " templates are not checked for one. " +
						"Send a marketing template; or, if this really is " + tc + " mail, give the campaign or workflow class = \"" + tc + "\"."
			}
			continue
		}
		b := c.bodies[u.tmpl]
		if b == nil || b.unsubscribe || !c.once("unsubscribe\x00"+u.tmpl.Name.Value) {
			continue
		}
		// An error, not a warning: Gmail's and Yahoo's bulk-sender rules
		// require a visible opt-out in marketing mail, and a plan that would
		// send without one must not apply.
		c.errorf(b.body.Range, "template %q: %s has no unsubscribe link", u.tmpl.Name.Value, b.attr).Detail = fmt.Sprintf(
			"%s, and marketing email must let people opt out: large mailbox providers require it of bulk senders. "+
				"Add a link to {{ .%s }}, e.g. <a href=\"{{ .%s }}\">Unsubscribe</a>, or declare class = \"transactional\" if this is a service message.",
			capitalize(u.via), unsubscribeField, unsubscribeField)
	}
	c.consentUnread(optIn, optOut)
}

var templateLineRE = regexp.MustCompile(`^(?:html/)?template: [^:]*:(\d+):(?:\d+:)? ?(.*)$`)

// parseTemplate parses one template attribute and records its field references.
func (c *checker) parseTemplate(t *ir.Template, attr string, s *ir.String, isHTML bool) ([]*parse.Tree, bool) {
	tt, err := texttemplate.New(attr).Funcs(templateFuncs).Parse(s.Value)
	if err != nil {
		c.templateError(fmt.Sprintf("template %q: %s", t.Name.Value, attr), s, err.Error())
		return nil, false
	}
	if isHTML {
		if he := htmlEscapeError(attr, s.Value); he != nil {
			c.htmlError(t, s, he)
			return nil, false
		}
	}
	var trees []*parse.Tree
	for _, x := range tt.Templates() {
		if x.Tree != nil && x.Tree.Root != nil {
			trees = append(trees, x.Tree)
		}
	}
	sort.Slice(trees, func(i, j int) bool { return trees[i].Name < trees[j].Name })
	for _, tr := range trees {
		if tr.Name != attr {
			continue // in a {{ define }}d template the dot is whatever was passed
		}
		walkTemplate(tr.Root, 0, func(n parse.Node, path []string) {
			pos := int(n.Position())
			c.tmplRefs[t] = append(c.tmplRefs[t], fieldRef{attr: attr, path: path, rng: s.Sub(pos, pos+len(n.String()))})
		})
	}
	return trees, true
}

// htmlEscapeError runs html/template's contextual escaper, which rejects markup
// it cannot make safe (an action inside an unclosed attribute, say). The escaper
// only runs when a template is first executed, so the template is executed — but
// behind a first action that fails at once: the whole template is escaped before
// anything runs, and nothing of it runs (a {{ range }} or printf in a template
// must not cost the compiler time or memory). The prefix adds no line, so line
// numbers in errors stay right.
func htmlEscapeError(name, text string) *htmltemplate.Error {
	ht, err := htmltemplate.New(name).Funcs(templateFuncs).Funcs(htmltemplate.FuncMap{stopFunc: stop}).
		Parse("{{" + stopFunc + "}}" + text)
	if err != nil {
		return &htmltemplate.Error{Description: err.Error()}
	}
	err = ht.Execute(io.Discard, nil)
	var he *htmltemplate.Error
	if errors.As(err, &he) {
		return he
	}
	return nil
}

const stopFunc = "campaignctl_check_stop"

var errStop = errors.New("stop")

func stop() (string, error) { return "", errStop }

// htmlError reports an escaping error, at its line when the escaper knows it.
func (c *checker) htmlError(t *ir.Template, s *ir.String, he *htmltemplate.Error) {
	rng := s.Content()
	if start, end, ok := lineBounds(s.Value, he.Line); ok && he.Line > 0 {
		rng = s.Sub(start, end)
	}
	d := c.errorf(rng, "template %q: html: %s", t.Name.Value, he.Description)
	if he.ErrorCode == htmltemplate.ErrEndContext {
		d.Summary = fmt.Sprintf("template %q: html ends inside a tag, attribute or quoted value that is never closed", t.Name.Value)
		d.Detail = "html/template must know where each {{ }} action sits (text, attribute, URL, script) to escape it; look for a missing quote or '>' after an action. The escaper says: " + he.Description
	}
}

// templateError reports a parse error, at the line it names.
// prefix says whose attribute it is: `template "x": html`.
func (c *checker) templateError(prefix string, s *ir.String, msg string) {
	rng := s.Content()
	m := templateLineRE.FindStringSubmatch(msg)
	if m != nil {
		msg = m[2]
		if line, err := strconv.Atoi(m[1]); err == nil {
			if start, end, ok := lineBounds(s.Value, line); ok {
				rng = s.Sub(start, end)
				// Narrow to the name the message quotes, if it is on that line:
				// function "defualt" not defined.
				if q := quoted(msg); q != "" {
					if i := strings.Index(s.Value[start:end], q); i >= 0 {
						rng = s.Sub(start+i, start+i+len(q))
					}
				}
			}
		}
	}
	c.errorf(rng, "%s: %s", prefix, msg)
}

var quotedRE = regexp.MustCompile(`"([^"]+)"`)

func quoted(msg string) string {
	if m := quotedRE.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

// lineBounds returns the byte range of line n (1-based) of text, without its
// line break and leading indentation.
func lineBounds(text string, n int) (int, int, bool) {
	start := 0
	for i := 1; i < n; i++ {
		j := strings.IndexByte(text[start:], '\n')
		if j < 0 {
			return 0, 0, false
		}
		start += j + 1
	}
	end := len(text)
	if j := strings.IndexByte(text[start:], '\n'); j >= 0 {
		end = start + j
	}
	for start < end && (text[start] == ' ' || text[start] == '\t') {
		start++
	}
	for end > start && (text[end-1] == '\r' || text[end-1] == ' ' || text[end-1] == '\t') {
		end--
	}
	return start, end, true
}

// walkTemplate calls f for each field reference made on the top-level data: .a.b
// outside range and with bodies (depth 0), and $.a.b anywhere.
func walkTemplate(n parse.Node, depth int, f func(parse.Node, []string)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, x := range n.Nodes {
			walkTemplate(x, depth, f)
		}
	case *parse.ActionNode:
		walkTemplate(n.Pipe, depth, f)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, cmd := range n.Cmds {
			walkTemplate(cmd, depth, f)
		}
	case *parse.CommandNode:
		for _, arg := range n.Args {
			walkTemplate(arg, depth, f)
		}
	case *parse.ChainNode:
		walkTemplate(n.Node, depth, f)
	case *parse.FieldNode:
		if depth == 0 {
			f(n, n.Ident)
		}
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			f(n, n.Ident[1:])
		}
	case *parse.IfNode:
		walkBranch(&n.BranchNode, depth, depth, f)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, depth+1, depth, f)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, depth+1, depth, f)
	case *parse.TemplateNode:
		walkTemplate(n.Pipe, depth, f)
	}
}

// walkBranch walks an if, range or with: the pipeline and else branch see the
// outer dot, the body sees bodyDepth's.
func walkBranch(b *parse.BranchNode, bodyDepth, depth int, f func(parse.Node, []string)) {
	walkTemplate(b.Pipe, depth, f)
	walkTemplate(b.List, bodyDepth, f)
	walkTemplate(b.ElseList, depth, f)
}

// mentions reports whether any of the trees reads the top-level datum field,
// as .field or $.field.
func mentions(trees []*parse.Tree, field string) bool {
	found := false
	for _, tr := range trees {
		walkAll(tr.Root, func(ident []string) {
			if len(ident) == 1 && ident[0] == field || len(ident) == 2 && ident[0] == "$" && ident[1] == field {
				found = true
			}
		})
	}
	return found
}

// walkAll calls f with the identifiers of every field and variable node,
// whatever the dot is there.
func walkAll(n parse.Node, f func([]string)) {
	walkTemplateAny(n, func(n parse.Node) {
		switch n := n.(type) {
		case *parse.FieldNode:
			f(n.Ident)
		case *parse.VariableNode:
			f(n.Ident)
		}
	})
}

func walkTemplateAny(n parse.Node, f func(parse.Node)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, x := range n.Nodes {
			walkTemplateAny(x, f)
		}
	case *parse.ActionNode:
		walkTemplateAny(n.Pipe, f)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, cmd := range n.Cmds {
			walkTemplateAny(cmd, f)
		}
	case *parse.CommandNode:
		for _, arg := range n.Args {
			walkTemplateAny(arg, f)
		}
	case *parse.ChainNode:
		walkTemplateAny(n.Node, f)
	case *parse.IfNode:
		walkTemplateAny(n.Pipe, f)
		walkTemplateAny(n.List, f)
		walkTemplateAny(n.ElseList, f)
	case *parse.RangeNode:
		walkTemplateAny(n.Pipe, f)
		walkTemplateAny(n.List, f)
		walkTemplateAny(n.ElseList, f)
	case *parse.WithNode:
		walkTemplateAny(n.Pipe, f)
		walkTemplateAny(n.List, f)
		walkTemplateAny(n.ElseList, f)
	case *parse.TemplateNode:
		walkTemplateAny(n.Pipe, f)
	default:
		f(n)
	}
}

// templateFields checks that the fields a template reads ({{ .lead.name }})
// exist on the model of the contacts it is sent to. A template shared by several
// senders over one model is reported once.
func (c *checker) templateFields(u templateUse) {
	me := u.env
	if me == nil {
		return
	}
	t := u.tmpl
	model := me.model.Name.Value
	for _, ref := range c.tmplRefs[t] {
		if len(ref.path) < 2 || ref.path[0] != model {
			continue
		}
		field := ref.path[1]
		if me.hasField(field) || me.skip[field] {
			continue
		}
		if !c.once(fmt.Sprintf("tmplfield\x00%s\x00%s\x00%d", ref.rng.Filename, model, ref.rng.Start.Byte)) {
			continue
		}
		c.errorf(ref.rng, "template %q: %s reads .%s, but model %s has no field %q%s",
			t.Name.Value, ref.attr, strings.Join(ref.path, "."), model, field, didYouMean(field, me.fieldNames())).Detail = fmt.Sprintf(
			"%s, over model %s. Fields of %s: %s.",
			capitalize(u.via), model, model, list(me.fieldNames()))
	}
}
