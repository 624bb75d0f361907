package schemas

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// This file turns CUE's errors ("conflicting values", "field not allowed",
// "field is required but not present", …) into messages a marketer can act on.
// The words come from the schemas wherever possible: error("…") rules,
// @required("…") and @why("…") attributes and the #Formats table. What remains
// here is grammar: where the problem is, what was written, what is allowed.

// translator renders the errors of one validation pass.
type translator struct {
	ev      *evaluator
	s       *schema
	tree    any
	unified cue.Value
	// view is the next pass's value: the schema unified with this object
	// minus the members in error, so the constraint at an error's path is
	// the one for this object (this step's kind), without the bad value.
	// viewTree is that object.
	view     cue.Value
	viewTree any
}

// schemaAt returns the constraint at path: from the view when it has one that
// is not just the object's value, else from the definition itself.
func (tr *translator) schemaAt(path []string) cue.Value {
	if tr.view.Exists() {
		if v := tr.ev.lookup(tr.view, path, false); v.Exists() && !(v.IsConcrete() && v.Kind() != cue.StructKind && v.Kind() != cue.ListKind && tr.present(path)) {
			return v
		}
	}
	return tr.ev.lookup(tr.s.strict, path, true)
}

// present reports whether the object has a member at path in this pass.
func (tr *translator) present(path []string) bool {
	_, ok := valueAt(tr.tree, path)
	return ok
}

// translate groups errors by path (a failed disjunction reports one error per
// alternative at the same path) and renders one message per problem.
func (tr *translator) translate(raws []rawError) []FieldError {
	var order []string
	groups := map[string][]rawError{}
	for _, r := range raws {
		k := pathKey(r.path)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []FieldError
	for _, k := range order {
		g := groups[k]
		path := g[0].path
		var msgs []string
		var rules, specific []rawError
		conflicts, disjunction := 0, false
		for _, r := range g {
			switch r.class {
			case errRule:
				rules = append(rules, r)
			case errConflict:
				conflicts++
			case errDisjunction:
				disjunction = true
			case errBound, errValidator, errMismatch:
				specific = append(specific, r)
			}
		}
		switch {
		case len(rules) > 0:
			for _, r := range rules {
				msgs = append(msgs, tr.message(r))
			}
		case disjunction || conflicts > 1:
			// A value none of the alternatives accepts: a pattern or a
			// bound says most (max_follow_ups 0: "at least 1" rather than
			// "not 10"); otherwise list what is allowed.
			if len(specific) > 0 {
				msgs = append(msgs, tr.message(specific[0]))
			} else {
				msgs = append(msgs, tr.enumMessage(path))
			}
		default:
			for _, r := range g {
				msgs = append(msgs, tr.message(r))
			}
		}
		done := map[string]bool{}
		for _, m := range msgs {
			if m == "" || done[m] {
				continue
			}
			done[m] = true
			out = append(out, FieldError{Path: append([]string(nil), path...), Message: m})
		}
	}
	return out
}

// message renders one error.
func (tr *translator) message(r rawError) string {
	loc, subject := tr.where(r.path)
	var msg string
	switch r.class {
	case errRequired:
		msg = tr.requiredMessage(r.path, subject)
	case errNotAllowed:
		msg = tr.notAllowedMessage(r.path)
	case errConflict:
		msg = tr.enumMessageAt(r.path, subject, r)
	case errMismatch:
		if n := len(r.path); n > 1 && isDigits(r.path[n-1]) && !isDigits(r.path[n-2]) {
			// A list element of the wrong type is named by its position:
			// its value is what is wrong with it.
			i, _ := strconv.Atoi(r.path[n-1])
			subject = fmt.Sprintf("%s %d", singular(r.path[n-2]), i+1)
		}
		msg = tr.mismatchMessage(r, subject)
	case errBound:
		msg = tr.boundMessage(r, subject)
	case errValidator:
		msg = tr.validatorMessage(r, subject)
	case errRule:
		msg = r.text()
	case errIncomplete:
		msg = subject + " needs a value"
		if allowed := tr.allowed(r.path); len(allowed) > 0 {
			msg += ": one of " + strings.Join(allowed, ", ")
		}
	case errDisjunction:
		return tr.enumMessage(r.path)
	default:
		msg = r.text()
		if subject != "" {
			msg = subject + ": " + msg
		}
	}
	return withLoc(loc, msg)
}

func withLoc(loc, msg string) string {
	if loc == "" {
		return msg
	}
	return loc + ": " + msg
}

// where splits a path into the list element it is in, named the way the
// marketer wrote it (`step "ack"`), and the field inside it ("template").
func (tr *translator) where(path []string) (loc, subject string) {
	var locs, rel []string
	for i, p := range path {
		if !isDigits(p) || i == 0 || len(rel) == 0 {
			rel = append(rel, p)
			continue
		}
		list := rel[len(rel)-1]
		rel = rel[:len(rel)-1]
		elem := singular(list)
		n, _ := strconv.Atoi(p)
		label := fmt.Sprintf("%s %d", elem, n+1)
		v, _ := valueAt(tr.tree, path[:i+1])
		switch x := v.(type) {
		case map[string]any:
			if name, ok := x["name"].(string); ok && name != "" {
				label = fmt.Sprintf("%s %q", elem, name)
			}
		case string, json.Number, bool:
			// A scalar element is named by its value, under its list's
			// path: `recurrence.weekday "monday"`.
			if i == len(path)-1 {
				rel = append(rel, fmt.Sprintf("%s %s", elem, showJSON(x)))
				continue
			}
		}
		if len(rel) > 0 {
			locs = append(locs, strings.Join(rel, "."))
		}
		locs = append(locs, label)
		rel = nil
	}
	subject = strings.Join(rel, ".")
	if subject == "" && len(locs) > 0 {
		subject = locs[len(locs)-1]
		locs = locs[:len(locs)-1]
	}
	return strings.Join(locs, " / "), subject
}

// singular names one element of a list: "step" of steps; a list whose name is
// not a plural gets "<list> entry".
func singular(list string) string {
	switch list {
	case "follow_ups":
		return "follow-up"
	case "suppress":
		return "suppression source"
	case "org_domains":
		return "org domain"
	case "properties":
		return "property"
	}
	if s, ok := strings.CutSuffix(list, "s"); ok {
		return s
	}
	return list + " entry"
}

func (tr *translator) kindNoun() string {
	switch tr.s.kind {
	case "autoresponder":
		return "an autoresponder"
	}
	return "a " + tr.s.kind
}

func (tr *translator) requiredMessage(path []string, subject string) string {
	if msg := tr.requiredAttr(path); msg != "" {
		return msg
	}
	if len(path) == 1 {
		return fmt.Sprintf("%s needs %s", tr.kindNoun(), path[0])
	}
	return subject + " is required"
}

// requiredAttr finds the @required message of a missing field. The field exists
// only as a constraint of its parent, and a requirement added by a rule (a
// monthly recurrence needs day_of_month) or by a step's kind is only visible
// once unified with the object, so the unified value and the view are
// searched before the definition.
func (tr *translator) requiredAttr(path []string) string {
	if len(path) == 0 {
		return ""
	}
	parentPath := path[:len(path)-1]
	attrs := fieldAttrs(path[len(path)-1], "required",
		tr.ev.lookup(tr.unified, parentPath, false), tr.ev.lookup(tr.view, parentPath, false), tr.ev.lookup(tr.s.strict, parentPath, true))
	if len(attrs) == 0 {
		return ""
	}
	return attrs[0]
}

func (tr *translator) notAllowedMessage(path []string) string {
	field := path[len(path)-1]
	names := tr.fieldNames(path[:len(path)-1])
	if i := slices.Index(names, field); i >= 0 {
		names = slices.Delete(names, i, i+1)
	}
	msg := fmt.Sprintf("field `%s` is not allowed", field)
	// A field other kinds of step have (a template on a wait step) is not a
	// typo: say which kind refuses it.
	if parent, ok := valueAt(tr.tree, path[:len(path)-1]); ok && tr.ev.vocabulary[field] {
		if m, ok := parent.(map[string]any); ok {
			if kind, ok := m["kind"].(string); ok && kind != "" {
				msg = fmt.Sprintf("field `%s` does not apply to %s %s step", field, article(kind), kind)
			}
		}
	}
	if near := nearest(field, names); near != "" {
		return msg + fmt.Sprintf("; did you mean `%s`?", near)
	}
	if len(names) > 0 {
		return msg + "; allowed fields: " + strings.Join(names, ", ")
	}
	return msg
}

// fieldNames lists the regular fields the schema allows at path.
func (tr *translator) fieldNames(path []string) []string {
	for _, v := range []cue.Value{tr.ev.lookup(tr.view, path, false), tr.ev.lookup(tr.s.strict, path, true)} {
		if !v.Exists() {
			continue
		}
		it, err := v.Fields(cue.Optional(true))
		if err != nil {
			continue
		}
		var names []string
		for it.Next() {
			if it.Selector().IsString() {
				names = append(names, it.Selector().Unquoted())
			}
		}
		if len(names) > 0 {
			slices.Sort(names)
			return names
		}
	}
	return nil
}

func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// enumMessage renders "value not allowed" for a path, with the value the object
// has there.
func (tr *translator) enumMessage(path []string) string {
	loc, subject := tr.where(path)
	return withLoc(loc, tr.enumMessageAt(path, subject, rawError{}))
}

func (tr *translator) enumMessageAt(path []string, subject string, r rawError) string {
	got, _ := valueAt(tr.tree, path)
	allowed := tr.allowed(path)
	msg := tr.subjectWithValue(path, subject) + " is not allowed"
	if tr.s.typ != "" && tr.narrowedByType(path, allowed) {
		msg += fmt.Sprintf(" for type %q", tr.s.typ)
	}
	switch {
	case len(allowed) > 0:
		msg += "; allowed: " + strings.Join(allowed, ", ")
		if s, ok := got.(string); ok {
			if near := nearest(s, allowed); near != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", near)
			}
		}
	case r.class == errConflict && len(r.args) == 2:
		// The schema fixes one value; CUE names both sides.
		want := fmt.Sprint(r.args[0])
		if want == showJSON(got) {
			want = fmt.Sprint(r.args[1])
		}
		msg += "; it must be " + want
	}
	return withWhy(msg, tr.whyAt(path, true))
}

// narrowedByType reports whether the workflow type allows fewer values at path
// than a workflow of no particular type does, so the message can say "for
// type …". The untyped definition is read the way the typed one is: unified
// with the object minus its mistakes (tr.viewTree), so a step's fields are
// those of its kind in both.
func (tr *translator) narrowedByType(path []string, allowed []string) bool {
	if len(allowed) == 0 {
		return false
	}
	base := &translator{ev: tr.ev, s: tr.ev.untyped, tree: tr.tree}
	if tr.viewTree != nil {
		if expr, err := toExpr(tr.viewTree); err == nil {
			base.view = tr.ev.untyped.lenient.Unify(tr.ev.ctx.BuildExpr(expr))
		}
	}
	general := base.allowed(path)
	return len(general) == 0 || len(general) > len(allowed)
}

// allowed lists the values the schema accepts at path, when it is an enum,
// or, for a field marked @enum(#Def), the field names of #Def (a step kind is
// any key of #StepKinds).
func (tr *translator) allowed(path []string) []string {
	v := tr.schemaAt(path)
	if vals := tr.ev.allowedValues(v); len(vals) > 0 {
		return vals
	}
	if len(path) == 0 {
		return nil
	}
	parentPath := path[:len(path)-1]
	for _, a := range fieldAttrs(path[len(path)-1], "enum",
		tr.ev.lookup(tr.view, parentPath, false), tr.ev.lookup(tr.unified, parentPath, false), tr.ev.lookup(tr.s.strict, parentPath, true)) {
		it, err := tr.ev.root.LookupPath(cue.ParsePath(a)).Fields()
		if err != nil {
			continue
		}
		var keys []string
		for it.Next() {
			keys = append(keys, it.Selector().Unquoted())
		}
		return keys
	}
	return nil
}

// fieldAttrs returns the non-empty first argument of every attribute key on
// the field name, read from each of its parents in turn (the same place in
// several values of the object), so required and optional fields count.
func fieldAttrs(name, key string, parents ...cue.Value) []string {
	var out []string
	for _, parent := range parents {
		if !parent.Exists() {
			continue
		}
		it, err := parent.Fields(cue.Optional(true))
		if err != nil {
			continue
		}
		for it.Next() {
			if it.Selector().Unquoted() != name {
				continue
			}
			if a := it.Value().Attribute(key); a.Err() == nil {
				if s, err := a.String(0); err == nil && s != "" {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// mismatchMessage: a value of the wrong type. CUE names both types; the one
// that is not the object's is the one the schema wants. ("cannot combine
// regular field" is CUE's way of saying a block was wanted.) No @why: it
// explains a constraint on the value, not its type.
func (tr *translator) mismatchMessage(r rawError, subject string) string {
	got, _ := valueAt(tr.tree, r.path)
	if allowed := tr.allowed(r.path); len(allowed) > 0 {
		return tr.enumMessageAt(r.path, subject, rawError{})
	}
	want := ""
	switch {
	case strings.HasPrefix(r.format, "cannot combine regular field"):
		want = "struct"
	case len(r.args) == 4:
		a, b := fmt.Sprint(r.args[2]), fmt.Sprint(r.args[3])
		want = a
		if a == cueKindOf(got) {
			want = b
		}
	}
	gotWords := describeJSON(got)
	switch got.(type) {
	case string, json.Number, bool:
		gotWords = showJSON(got)
	}
	if want == "" || want == cueKindOf(got) {
		return fmt.Sprintf("%s cannot be %s", subject, gotWords)
	}
	wantWords := kindWords(want)
	if says := tr.formatAt(r.path); says != "" && want == "string" {
		wantWords = says
	}
	return fmt.Sprintf("%s must be %s, not %s", subject, wantWords, gotWords)
}

// formatAt returns what the #Formats pattern constraining path means, if one
// does ("a duration such as …").
func (tr *translator) formatAt(path []string) string {
	says := ""
	ast.Walk(tr.schemaAt(path).Syntax(), func(n ast.Node) bool {
		if u, ok := n.(*ast.UnaryExpr); ok && u.Op == token.MAT {
			if lit, ok := u.X.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if p, err := strconv.Unquote(lit.Value); err == nil && says == "" {
					says = tr.ev.formats[p]
				}
			}
		}
		return says == ""
	}, nil)
	return says
}

// cueKindOf names the CUE kind of a JSON value the way CUE's messages do.
func cueKindOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case string:
		return "string"
	case json.Number:
		if strings.ContainsAny(x.String(), ".eE") {
			return "float"
		}
		return "int"
	case []any:
		return "list"
	case map[string]any:
		return "struct"
	}
	return ""
}

// kindWords names a CUE kind ("list", "struct", "int", "int|float") the way
// describeJSON names a JSON value.
func kindWords(k string) string {
	switch k {
	case "list":
		return "a list"
	case "struct":
		return "a block"
	case "string":
		return "a text"
	case "int":
		return "a whole number"
	case "float", "number", "int|float":
		return "a number"
	case "bool":
		return "true or false"
	case "null":
		return "null"
	}
	return k
}

func (tr *translator) boundMessage(r rawError, subject string) string {
	bound := ""
	if len(r.args) == 2 {
		bound = fmt.Sprint(r.args[1])
	}
	var msg string
	switch {
	case strings.HasPrefix(bound, "=~"):
		pat, err := strconv.Unquote(strings.TrimPrefix(bound, "=~"))
		if err != nil {
			pat = strings.TrimPrefix(bound, "=~")
		}
		if says, ok := tr.ev.formats[pat]; ok {
			msg = fmt.Sprintf("%s must be %s", tr.subjectWithValue(r.path, subject), says)
		} else {
			msg = fmt.Sprintf("%s must match %s", tr.subjectWithValue(r.path, subject), pat)
		}
	case strings.HasPrefix(bound, "!="):
		msg = fmt.Sprintf("%s must not be %s", subject, strings.TrimPrefix(bound, "!="))
	default:
		msg = fmt.Sprintf("%s is out of range: it must be %s", tr.subjectWithValue(r.path, subject), humanBound(bound))
	}
	return withWhy(msg, tr.why(r.path))
}

// subjectWithValue is "name \"Lost Leads\"": the field and what was written.
// A scalar list element is already named by its value (`weekday "monday"`).
func (tr *translator) subjectWithValue(path []string, subject string) string {
	got, _ := valueAt(tr.tree, path)
	if n := len(path); n > 0 && isDigits(path[n-1]) {
		switch got.(type) {
		case map[string]any, []any:
		default:
			return subject
		}
	}
	return subject + " " + showJSON(got)
}

func humanBound(b string) string {
	for _, op := range []struct{ sym, words string }{
		{">=", "at least "}, {"<=", "at most "}, {">", "more than "}, {"<", "less than "},
	} {
		if strings.HasPrefix(b, op.sym) {
			return op.words + strings.TrimPrefix(b, op.sym)
		}
	}
	return b
}

func (tr *translator) validatorMessage(r rawError, subject string) string {
	why := tr.why(r.path)
	validator := ""
	if len(r.args) == 2 {
		validator = fmt.Sprint(r.args[1])
	}
	count := -1
	if v, ok := valueAt(tr.tree, r.path); ok {
		if l, ok := v.([]any); ok {
			count = len(l)
		}
	}
	switch {
	case strings.HasPrefix(validator, "list.MinItems("):
		if why != "" {
			return why
		}
		n := strings.TrimSuffix(strings.TrimPrefix(validator, "list.MinItems("), ")")
		return fmt.Sprintf("%s needs at least %s entries", subject, n)
	case strings.HasPrefix(validator, "list.MaxItems(") && count >= 0:
		n := strings.TrimSuffix(strings.TrimPrefix(validator, "list.MaxItems("), ")")
		return withWhy(fmt.Sprintf("%s has %d entries, more than the %s allowed", subject, count, n), why)
	case strings.HasPrefix(validator, "list.UniqueItems"):
		return withWhy(subject+" lists the same value twice", why)
	}
	if why != "" {
		return why
	}
	return fmt.Sprintf("%s does not satisfy %s", subject, validator)
}

// why returns the @why attribute of the field at path. For a value refused
// from an enum, the list holding the element at path counts too
// (bypass.marketing's reason covers each entry); for other messages it does
// not, since a list's reason is usually about its length.
func (tr *translator) why(path []string) string {
	return tr.whyAt(path, false)
}

func (tr *translator) whyAt(path []string, throughLists bool) string {
	for p := path; len(p) > 0; p = p[:len(p)-1] {
		if len(p) < len(path) && !throughLists {
			break
		}
		for _, v := range []cue.Value{tr.schemaAt(p), tr.ev.lookup(tr.unified, p, false)} {
			if !v.Exists() {
				continue
			}
			if a := v.Attribute("why"); a.Err() == nil {
				if s, err := a.String(0); err == nil && s != "" {
					return s
				}
			}
		}
		if !isDigits(p[len(p)-1]) {
			break
		}
	}
	return ""
}

func withWhy(msg, why string) string {
	if why == "" {
		return msg
	}
	return msg + " (" + why + ")"
}

// dropExplained removes "x is required" when another error already says why x
// is missing: `tempalte` is not allowed; did you mean `template`?
func dropExplained(errs []FieldError) []FieldError {
	suggested := map[string]bool{}
	for _, e := range errs {
		if i := strings.Index(e.Message, "did you mean `"); i >= 0 && len(e.Path) > 0 {
			name := strings.TrimSuffix(e.Message[i+len("did you mean `"):], "`?")
			suggested[pathKey(append(append([]string(nil), e.Path[:len(e.Path)-1]...), name))] = true
		}
	}
	if len(suggested) == 0 {
		return errs
	}
	kept := errs[:0]
	for _, e := range errs {
		if suggested[pathKey(e.Path)] && !strings.Contains(e.Message, "not allowed") {
			continue
		}
		kept = append(kept, e)
	}
	return kept
}
