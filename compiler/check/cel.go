package check

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
)

// celUse is one CEL expression to check.
type celUse struct {
	owner   string // for messages: `filter of segment "x"`
	expr    *ir.String
	env     *modelEnv   // nil when the model is unknown: the expression is only parsed
	segment *ir.Segment // the segment whose filter this is, if it is one
	scope   celScope
	// event is the typed event of a workflow's conditions, nil when the
	// trigger declares no property (event is then an untyped map).
	event *eventDecl
	// stateTrigger is the trigger event of a workflow's conditions when it is
	// a state trigger (plan.StateTriggers), whose event has stateEventFields
	// only; "" otherwise.
	stateTrigger string
	// detail explains, when the expression is not bool, what it is for.
	detail string
}

// segRef is a reference from a filter to another segment (segment.<name>).
type segRef struct {
	name string
	rng  ir.Range
}

// checkCEL parses and type-checks one expression, reporting every error at its
// place in the source, and returns the segments it references.
func (c *checker) checkCEL(u celUse) []segRef {
	if strings.TrimSpace(u.expr.Value) == "" {
		c.errorf(u.expr.Content(), "%s is empty", u.owner).Detail =
			"Write a CEL expression that is true for the contacts to include, e.g. lead.active."
		return nil
	}
	x := newTextIndex(u.expr.Value)
	env := parseOnlyEnv
	if u.env != nil {
		var e *cel.Env
		switch u.scope {
		case scopeDefault:
			e = u.env.plain
		case scopeSegment:
			e = u.env.withSegments
		case scopeEvent:
			if u.event != nil {
				e = u.env.typedEventEnv(c, u.event)
			} else {
				e = u.env.eventEnv(c)
			}
		}
		if e != nil {
			env = e
		}
	}
	parsed, iss := env.Parse(u.expr.Value)
	if iss != nil && iss.Err() != nil {
		// Only the first syntax error: the parser's later ones are mostly echoes of
		// it ("mismatched input '<EOF>'" after an unterminated string).
		e := iss.Errors()[0]
		start := x.byteOfLoc(e.Location.Line(), e.Location.Column())
		c.errorf(u.expr.Sub(start, tokenEnd(x.text, start)), "%s: %s", u.owner, syntaxMessage(e.Message))
		return nil
	}
	w := walkAST(parsed, x)
	if env == parseOnlyEnv {
		return nil // the model is unknown or broken, which was reported
	}
	if u.stateTrigger != "" {
		c.stateEventFields(u, w)
	}
	var refs []segRef
	if u.segment != nil {
		for _, id := range w.order {
			ch := w.chains[id]
			if len(ch.parts) == 2 && ch.parts[0] == celmodel.SegmentPrefix && slices.Contains(u.env.segments, ch.parts[1]) {
				refs = append(refs, segRef{name: ch.parts[1], rng: u.expr.Sub(ch.start, ch.end)})
			}
		}
	}
	checked, iss := env.Check(parsed)
	if iss != nil && iss.Err() != nil {
		for _, e := range iss.Errors() {
			c.celCheckError(u, env, x, w, e)
		}
		return refs
	}
	if t := checked.OutputType(); !t.IsExactType(cel.BoolType) {
		what := "its type is " + t.String()
		if model := u.env.model.Name.Value; t.String() == celmodel.TypeName(&plan.Model{Name: model}) {
			what = "it is the whole " + model + " record"
		}
		detail := u.detail
		if detail == "" {
			detail = "A filter is true for the contacts to include: compare fields with values, and combine comparisons with && and ||."
		}
		c.errorf(u.expr.Content(), "%s must be a bool expression, but %s", u.owner, what).Detail = detail
	}
	c.checkEngagement(u, x, checked)
	c.engagementWindows(u, x, checked)
	c.checkConversions(u, env, x, checked)
	return refs
}

// conversions are the functions whose literal arguments can be wrong in ways
// the type checker does not see: timestamp("not a date"), a zone name
// misspelled, duration("1 day").
var conversions = map[string]string{
	celmodel.FuncTimestamp: `timestamp("2024-01-01T00:00:00Z"), or a wall-clock time in a zone: timestamp("2024-01-01T09:00:00", "Europe/Brussels")`,
	"duration":             `duration("720h"), or days(30)`,
}

func argStart(a *ast.AST, x *textIndex, e ast.Expr) int { s, _ := argRange(a, x, e); return s }
func argEnd(a *ast.AST, x *textIndex, e ast.Expr) int   { _, e2 := argRange(a, x, e); return e2 }

// checkConversions evaluates every timestamp() and duration() call whose
// arguments are all literals, as the runtime would, and reports one that
// fails at its call: otherwise the filter validates and fails on every
// contact at send time.
func (c *checker) checkConversions(u celUse, env *cel.Env, x *textIndex, checked *cel.Ast) {
	a := checked.NativeRep()
	ast.PostOrderVisit(a.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.CallKind {
			return
		}
		call := e.AsCall()
		usage, ok := conversions[call.FunctionName()]
		if !ok || call.IsMemberFunction() || len(call.Args()) == 0 {
			return
		}
		for _, arg := range call.Args() {
			if arg.Kind() != ast.LiteralKind {
				return
			}
		}
		sub := ast.NewCheckedAST(ast.NewAST(e, a.SourceInfo()), a.TypeMap(), a.ReferenceMap())
		prg, err := env.PlanProgram(sub)
		if err == nil {
			_, _, err = prg.Eval(map[string]any{})
		}
		if err == nil {
			return
		}
		msg := strings.TrimPrefix(err.Error(), "evaluation error: ")
		if call.FunctionName() == "duration" {
			// cel-go says "type conversion error from 'string' to
			// 'google.protobuf.Duration'".
			msg = fmt.Sprintf("duration(%s) is not a duration: CEL reads a number and a unit (h, m, s, ms), e.g. \"720h\"", x.text[argStart(a, x, call.Args()[0]):argEnd(a, x, call.Args()[0])])
		}
		start, end := argRange(a, x, e)
		c.errorf(u.expr.Sub(start, end), "%s: %s", u.owner, msg).Detail = "Write " + usage + "."
	}))
}

// checkEngagement reports engagement predicates (lead.clicked(days(30))) whose
// arguments are not literals or are out of range, at the argument.
func (c *checker) checkEngagement(u celUse, x *textIndex, checked *cel.Ast) {
	a := checked.NativeRep()
	ast.PostOrderVisit(a.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		_, ok, err := celmodel.ParseEngagementCall(e, u.env.model.Name.Value)
		if ok && err == nil && u.scope == scopeEvent {
			// The daemon evaluates workflow conditions per contact, without
			// the events table an engagement predicate reads.
			start, end := argRange(a, x, e)
			c.errorf(u.expr.Sub(start, end), "%s: engagement predicates are not evaluated in workflow conditions", u.owner).Detail =
				"Declare a segment with this filter and test it here as segment.<name>: segments are evaluated with the events table."
			return
		}
		var ae *celmodel.ArgError
		if !ok || !errors.As(err, &ae) {
			return
		}
		start, end := argRange(a, x, ae.Expr)
		c.errorf(u.expr.Sub(start, end), "%s: %s", u.owner, ae.Msg).Detail =
			"Engagement predicates take literal arguments, e.g. lead.clicked(days(30)), lead.event_count(\"page_view\", \"makeup\", days(14)) >= 3."
	}))
}

var (
	undeclaredRE = regexp.MustCompile(`^undeclared reference to '([^']*)'`)
	undefinedRE  = regexp.MustCompile(`^undefined field '([^']*)'`)
	overloadRE   = regexp.MustCompile(`^found no matching overload for '([^']*)' applied to '(.*)'$`)
)

var operators = map[string]string{
	"_==_": "==", "_!=_": "!=", "_<_": "<", "_<=_": "<=", "_>_": ">", "_>=_": ">=",
	"_+_": "+", "_-_": "-", "_*_": "*", "_/_": "/", "_%_": "%",
	"_&&_": "&&", "_||_": "||", "!_": "!", "-_": "-", "@in": "in", "_[_]": "[]", "_?_:_": "?:",
}

// engagementUsage shows how each engagement predicate is called.
var engagementUsage = map[string]string{
	celmodel.FuncClicked:     `MODEL.clicked(days(30)) or MODEL.clicked("campaign", "step")`,
	celmodel.FuncOpened:      `MODEL.opened(days(30)) or MODEL.opened("campaign", "step")`,
	celmodel.FuncEventCount:  `MODEL.event_count("page_view", days(14)) or MODEL.event_count("page_view", "topic", days(14))`,
	celmodel.FuncInactiveFor: `MODEL.inactive_for(days(90))`,
	celmodel.FuncDays:        `days(30)`,
}

// celCheckError reports one type-checking error, rewording cel-go's messages where
// a model-aware one helps more.
func (c *checker) celCheckError(u celUse, env *cel.Env, x *textIndex, w *walked, e *cel.Error) {
	msg := strings.TrimSuffix(e.Message, " (in container '')")
	start := x.byteOfLoc(e.Location.Line(), e.Location.Column())
	end := tokenEnd(x.text, start)
	if m := undeclaredRE.FindStringSubmatch(msg); m != nil {
		if w.kinds[e.ExprID] == ast.CallKind {
			start, end = calleeRange(x.text, start)
			c.errorf(u.expr.Sub(start, end), "%s: undeclared function %q%s", u.owner, m[1], didYouMean(m[1], functionNames(env)))
			return
		}
		if ch, ok := w.chainAt(e.ExprID); ok {
			c.undeclared(u, ch)
			return
		}
	}
	if undefinedRE.MatchString(msg) && u.event != nil {
		// event.vlue: the typed event has no such property.
		if ch, ok := w.chainAt(e.ExprID); ok && len(ch.parts) >= 2 && ch.parts[0] == eventVar && !u.event.has(ch.parts[1]) {
			c.unknownEventField(u, u.expr.Sub(ch.start, ch.end), ch.parts[1])
			return
		}
	}
	if undefinedRE.MatchString(msg) {
		// lead.stge: the model object has no such field.
		if ch, ok := w.chainAt(e.ExprID); ok && len(ch.parts) >= 2 && ch.parts[0] == u.env.model.Name.Value && !u.env.hasField(ch.parts[1]) {
			c.undeclared(u, ch)
			return
		}
	}
	if m := overloadRE.FindStringSubmatch(msg); m != nil {
		args := strings.TrimSuffix(strings.TrimPrefix(m[2], "("), ")")
		if op, ok := operators[m[1]]; ok {
			parts := splitTopLevel(args)
			switch len(parts) {
			case 1:
				msg = fmt.Sprintf("operator %s cannot be applied to %s", op, parts[0])
			case 2:
				msg = fmt.Sprintf("operator %s cannot be applied to %s and %s", op, parts[0], parts[1])
			default:
				msg = fmt.Sprintf("operator %s cannot be applied to (%s)", op, args)
			}
		} else {
			start, end = calleeRange(x.text, start)
			msg = fmt.Sprintf("no overload of %s() accepts %s", m[1], m[2])
			if use, ok := engagementUsage[m[1]]; ok && u.env != nil {
				msg = fmt.Sprintf("%s() is called as %s", m[1], strings.ReplaceAll(use, "MODEL", u.env.model.Name.Value))
			}
		}
	}
	c.errorf(u.expr.Sub(start, end), "%s: %s", u.owner, msg)
}

// undeclared reports an unknown dotted name, saying what it most likely meant.
func (c *checker) undeclared(u celUse, ch chain) {
	rng := u.expr.Sub(ch.start, ch.end)
	full := strings.Join(ch.parts, ".")
	model := u.env.model.Name.Value
	root := ch.parts[0]
	switch {
	case root == model && len(ch.parts) >= 2:
		field := ch.parts[1]
		if u.env.skip[field] {
			return // the field's own error says what is wrong with it
		}
		c.errorf(rng, "%s: model %s has no field %q%s", u.owner, model, field, didYouMean(field, u.env.fieldNames())).Detail =
			fmt.Sprintf("Fields of %s: %s.", model, list(u.env.fieldNames()))
	case root == celmodel.SegmentPrefix && len(ch.parts) == 1:
		c.errorf(rng, "%s: segment is not a value; write segment.<name> to use another segment's filter", u.owner)
	case root == celmodel.SegmentPrefix && u.scope == scopeDefault:
		c.errorf(rng, "%s: a default_filter cannot reference segments", u.owner)
	case root == eventVar && u.scope != scopeEvent:
		c.errorf(rng, "%s: there is no event here", u.owner).Detail =
			"event is the event that enrolled a contact in a workflow; it exists in a workflow's trigger filter, goal and branch conditions only."
	case root == celmodel.SegmentPrefix:
		name := ch.parts[1]
		if other, ok := c.segments[name]; ok && other.Model != nil && other.Model.Value != model {
			c.errorf(rng, "%s: segment %q is over model %q, not %q", u.owner, name, other.Model.Value, model).Detail =
				"A filter can only use segments of its own model."
			return
		}
		c.errorf(rng, "%s: unknown segment %q%s", u.owner, name, didYouMean(name, u.env.segments)).Detail =
			fmt.Sprintf("Segments over model %s: %s.", model, list(u.env.segments))
	case c.models[root] != nil:
		c.errorf(rng, "%s: a filter over model %s cannot use fields of model %s", u.owner, model, root)
	default:
		vars := u.env.names(u.scope)
		s := suggest(full, vars)
		if s == "" {
			// leed.stage: the model name is misspelled; suggest the whole name if
			// it exists, or just the root.
			roots := []string{model, celmodel.NowVar, celmodel.SegmentPrefix}
			if u.scope == scopeEvent {
				roots = append(roots, eventVar)
			}
			if r := suggest(root, roots); r != "" {
				s = r
				if fixed := strings.Join(append([]string{r}, ch.parts[1:]...), "."); slices.Contains(vars, fixed) {
					s = fixed
				}
			}
		}
		hint := ""
		if s != "" {
			hint = fmt.Sprintf("; did you mean %q?", s)
		}
		c.errorf(rng, "%s: undeclared reference to %q%s", u.owner, full, hint)
	}
}

// functionNames lists the functions a filter can call by name (not operators).
func functionNames(env *cel.Env) []string {
	var names []string
	for name := range env.Functions() {
		if name != "" && isIdentStart(name[0]) && !strings.HasPrefix(name, "_") {
			names = append(names, name)
		}
	}
	return names
}

// splitTopLevel splits "list(string), string" on commas outside parentheses.
func splitTopLevel(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '<':
			depth++
		case ')', '>':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(parts, strings.TrimSpace(s[start:]))
}

var (
	mismatchedRE  = regexp.MustCompile(`^Syntax error: mismatched input '(.*)' expecting .*$`)
	recognitionRE = regexp.MustCompile(`^Syntax error: token recognition error at: '(.*)'$`)
	extraneousRE  = regexp.MustCompile(`^Syntax error: extraneous input '(.*)' expecting .*$`)
)

// syntaxMessage shortens ANTLR's messages, whose list of expected tokens is
// longer than it is useful.
func syntaxMessage(msg string) string {
	if m := mismatchedRE.FindStringSubmatch(msg); m != nil {
		if m[1] == "<EOF>" {
			return "syntax error: the expression ends too early"
		}
		return fmt.Sprintf("syntax error: unexpected %s", m[1])
	}
	if m := extraneousRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("syntax error: unexpected %s", m[1])
	}
	if m := recognitionRE.FindStringSubmatch(msg); m != nil {
		if strings.HasPrefix(m[1], "'") || strings.HasPrefix(m[1], `"`) {
			return fmt.Sprintf("syntax error: unterminated string %s", m[1])
		}
		return fmt.Sprintf("syntax error: unexpected character %s", m[1])
	}
	if rest, ok := strings.CutPrefix(msg, "Syntax error: "); ok {
		return "syntax error: " + rest
	}
	return msg
}
