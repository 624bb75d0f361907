package schemas

import (
	"fmt"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
)

// This file turns CUE's errors ("conflicting values", "field not allowed",
// "field is required but not present", …) into messages a marketer can act on.
// The words come from the schemas wherever possible: error("…") rules,
// @required("…") and @why("…") attributes and the #Formats table. What remains
// here is grammar: where the problem is, what was written, what is allowed.

type errClass int

const (
	errRequired    errClass = iota // a required field is missing
	errNotAllowed                  // a field the definition does not have
	errConflict                    // a value other than the one(s) allowed
	errMismatch                    // a value of the wrong type
	errBound                       // a value outside a bound or pattern
	errValidator                   // a list validator (MinItems, UniqueItems)
	errDisjunction                 // "N errors in empty disjunction": a header
	errRule                        // an error("…") rule of the schemas
	errIncomplete                  // no value where one is needed
	errOther
)

// rawError is one CUE error with its path made relative to the object.
type rawError struct {
	path   []string
	class  errClass
	format string
	args   []any
}

func newRawError(e errors.Error, prefix int) rawError {
	p := e.Path()
	if len(p) >= prefix {
		p = p[prefix:]
	}
	var path []string
	for _, label := range p {
		if strings.HasPrefix(label, "_") || strings.HasPrefix(label, "#") {
			// Hidden fields and definitions are the schema's own; the error
			// belongs to the nearest place in the object.
			break
		}
		if u, err := strconv.Unquote(label); err == nil {
			label = u
		}
		path = append(path, label)
	}
	format, args := e.Msg()
	if format == "required field missing: %s" && len(args) == 1 {
		// A rule read a required field that is missing: report the field.
		return rawError{path: append(path, fmt.Sprint(args[0])), class: errRequired, format: "field is required but not present"}
	}
	return rawError{path: path, class: classify(format), format: format, args: args}
}

func classify(format string) errClass {
	switch {
	case format == "field is required but not present":
		return errRequired
	case format == "field not allowed":
		return errNotAllowed
	case strings.HasPrefix(format, "conflicting values") && strings.Contains(format, "mismatched types"):
		return errMismatch
	case strings.HasPrefix(format, "conflicting values"):
		return errConflict
	case strings.Contains(format, "out of bound"):
		return errBound
	case strings.Contains(format, "does not satisfy"):
		return errValidator
	case strings.Contains(format, "errors in empty disjunction"):
		return errDisjunction
	case format == "%s":
		return errRule
	case strings.HasPrefix(format, "incomplete value"), strings.HasPrefix(format, "non-concrete value"):
		return errIncomplete
	}
	return errOther
}

func (r rawError) hard() bool { return r.class != errRequired && r.class != errIncomplete }

func (r rawError) text() string { return fmt.Sprintf(r.format, r.args...) }

func anyHard(raws []rawError) bool {
	for _, r := range raws {
		if r.hard() {
			return true
		}
	}
	return false
}

// prunable says whether error recovery may drop the member at r's path: an
// unknown field or a wrong value can go; a list that breaks a list-wide rule
// stays (the lenient pass switches those rules off instead).
func (r rawError) prunable(tree any) bool {
	if len(r.path) == 0 || !r.hard() {
		return false
	}
	v, ok := valueAt(tree, r.path)
	if !ok {
		return false
	}
	switch r.class {
	case errNotAllowed, errMismatch, errValidator:
		return true
	}
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

// translator renders the errors of one validation pass.
type translator struct {
	ev      *evaluator
	s       *schema
	tree    any
	unified cue.Value
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
		if !isDigits(p) || i == 0 {
			rel = append(rel, p)
			continue
		}
		list := rel[len(rel)-1]
		rel = rel[:len(rel)-1]
		if len(rel) > 0 {
			locs = append(locs, strings.Join(rel, "."))
		}
		elem := singular(list)
		n, _ := strconv.Atoi(p)
		label := fmt.Sprintf("%s %d", elem, n+1)
		if v, ok := valueAt(tr.tree, path[:i+1]); ok {
			if m, ok := v.(map[string]any); ok {
				if name, ok := m["name"].(string); ok && name != "" {
					label = fmt.Sprintf("%s %q", elem, name)
				}
			} else if s, ok := v.(string); ok {
				label = fmt.Sprintf("%s %q", elem, s)
			}
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

func singular(list string) string {
	switch list {
	case "follow_ups":
		return "follow-up"
	case "suppress":
		return "suppression source"
	case "org_domains":
		return "org domain"
	}
	return strings.TrimSuffix(list, "s")
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
// only as a constraint of its parent, and a requirement added by a rule (a wait
// step needs duration) is only visible in the unified value, so both places
// are searched.
func (tr *translator) requiredAttr(path []string) string {
	if len(path) == 0 {
		return ""
	}
	name := path[len(path)-1]
	for _, parent := range []cue.Value{tr.ev.lookup(tr.unified, path[:len(path)-1], false), tr.ev.lookup(tr.s.strict, path[:len(path)-1], true)} {
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
			if a := it.Value().Attribute("required"); a.Err() == nil {
				if s, err := a.String(0); err == nil && s != "" {
					return s
				}
			}
		}
	}
	return ""
}

func (tr *translator) notAllowedMessage(path []string) string {
	field := path[len(path)-1]
	names := tr.fieldNames(path[:len(path)-1])
	msg := fmt.Sprintf("field `%s` is not allowed", field)
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
	v := tr.ev.lookup(tr.s.strict, path, true)
	if !v.Exists() {
		return nil
	}
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return nil
	}
	var names []string
	for it.Next() {
		if it.Selector().IsString() {
			names = append(names, it.Selector().Unquoted())
		}
	}
	return names
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
	return withWhy(msg, tr.why(path))
}

// narrowedByType reports whether the workflow type allows fewer values at path
// than workflows in general do, so the message can say "for type …".
func (tr *translator) narrowedByType(path []string, allowed []string) bool {
	base := tr.ev.allowedValues(tr.ev.lookup(tr.ev.shape, path, true))
	return len(allowed) > 0 && len(base) > len(allowed)
}

// allowed lists the values the schema accepts at path, when it is an enum.
func (tr *translator) allowed(path []string) []string {
	return tr.ev.allowedValues(tr.ev.lookup(tr.s.strict, path, true))
}

// mismatchMessage: a value of the wrong type. CUE names both types; the one
// that is not the object's is the one the schema wants. No @why: it explains
// a constraint on the value, not its type.
func (tr *translator) mismatchMessage(r rawError, subject string) string {
	got, _ := valueAt(tr.tree, r.path)
	if allowed := tr.allowed(r.path); len(allowed) > 0 {
		return tr.enumMessageAt(r.path, subject, rawError{})
	}
	want := ""
	if len(r.args) == 4 {
		a, b := fmt.Sprint(r.args[2]), fmt.Sprint(r.args[3])
		want = a
		if kindWords(a) == describeJSON(got) {
			want = b
		}
		want = kindWords(want)
	}
	if want == "" || want == describeJSON(got) {
		return fmt.Sprintf("%s cannot be %s", subject, describeJSON(got))
	}
	return fmt.Sprintf("%s must be %s, not %s", subject, want, describeJSON(got))
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

// why returns the @why attribute of the field at path (or of the list holding
// the element at path).
func (tr *translator) why(path []string) string {
	for p := path; len(p) > 0; p = p[:len(p)-1] {
		for _, v := range []cue.Value{tr.ev.lookup(tr.s.strict, p, true), tr.ev.lookup(tr.unified, p, false)} {
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

// lookup finds the value at a JSON path. In a schema (anyIndex) a list index
// stands for any element: the list is unified with a list of that many
// elements of top, which yields the element's schema (a plain AnyIndex lookup
// does not see through a list with a validator such as list.MinItems).
// Optional and required fields count.
func (ev *evaluator) lookup(v cue.Value, path []string, anyIndex bool) cue.Value {
	if !v.Exists() {
		return v
	}
	cur := v
	for _, p := range path {
		var next cue.Value
		if isDigits(p) {
			n, _ := strconv.Atoi(p)
			if anyIndex {
				if n > 1000 {
					return cue.Value{}
				}
				elems := strings.TrimSuffix(strings.Repeat("_, ", n+1), ", ")
				cur = cur.Unify(ev.ctx.CompileString("[" + elems + "]"))
			}
			next = cur.LookupPath(cue.MakePath(cue.Index(n)))
		} else {
			for _, sel := range []cue.Selector{cue.Str(p), cue.Str(p).Optional(), cue.Str(p).Required()} {
				if next = cur.LookupPath(cue.MakePath(sel)); next.Exists() {
					break
				}
			}
		}
		if !next.Exists() {
			return next
		}
		cur = next
	}
	return cur
}

// allowedValues lists the strings an enum-like schema value accepts ("a" | "b",
// with or without a default, possibly narrowed by a conjunction), or nil when
// the value is not such an enum. It reads the candidates off the value's syntax
// and keeps those that unify, so it does not depend on how the syntax is
// arranged; a pattern, a bound or a type anywhere in it means "not an enum".
func (ev *evaluator) allowedValues(v cue.Value) []string {
	if !v.Exists() || v.IncompleteKind() != cue.StringKind {
		return nil
	}
	if s, err := v.String(); err == nil && v.IsConcrete() {
		return []string{s}
	}
	var candidates []string
	open := false
	ast.Walk(v.Syntax(), func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.UnaryExpr:
			switch x.Op {
			case token.MAT, token.NMAT, token.LSS, token.GTR, token.LEQ, token.GEQ, token.NEQ:
				open = true
			}
		case *ast.Ident:
			if x.Name == "string" || x.Name == "_" {
				open = true
			}
		case *ast.BasicLit:
			if x.Kind == token.STRING {
				if s, err := strconv.Unquote(x.Value); err == nil {
					candidates = append(candidates, s)
				}
			}
		case *ast.CallExpr:
			open = true
		}
		return !open
	}, nil)
	if open {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, c := range candidates {
		if seen[c] {
			continue
		}
		seen[c] = true
		if v.Unify(ev.ctx.Encode(c)).Err() == nil {
			out = append(out, c)
		}
	}
	return out
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

// nearest returns the candidate closest to s when it is close enough to be a
// typo (at most 2 edits, and fewer than half of s), else "".
func nearest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if c == s {
			continue
		}
		if d := editDistance(s, c); d < bestD && d*2 < len(s) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance over bytes (names are
// ASCII): insertions, deletions, substitutions and swaps of two neighbours each
// cost 1, so "sned" is one edit from "send".
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
