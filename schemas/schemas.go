package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"runtime"
	"sort"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
)

//go:embed *.cue
var sources embed.FS

// FieldError is one violation: where in the object (the JSON path, e.g.
// ["steps","2","template"] or ["trigger","event"]) and what is wrong, in words a
// marketer can act on. An empty Path means the object as a whole.
type FieldError struct {
	Path    []string
	Message string
}

func (e FieldError) Error() string {
	if len(e.Path) == 0 {
		return e.Message
	}
	return strings.Join(e.Path, ".") + ": " + e.Message
}

// Complete validates one object of the given kind ("model", "segment", "sender",
// "template", "policy", "campaign", "workflow", "sequence", "autoresponder")
// against its CUE definition and returns the object's JSON with the CUE defaults
// filled in; the caller decodes it back into the plan struct.
//
// obj may be JSON ([]byte or json.RawMessage), a map[string]any, or a plan
// struct (or a pointer to one). For a struct, empty strings, zero numbers and
// nulls count as "not written" so defaults apply; booleans are taken as they are
// (see decodeInput), so pass JSON or a map when a boolean's default matters.
//
// A workflow is validated against the definition of its `type`, so messages name
// the type's own rules. On any violation Complete returns nil and every violation
// it found, sorted by path. Complete is safe for concurrent use.
func Complete(kind string, obj any) ([]byte, []FieldError) {
	ev, err := acquire()
	if err != nil {
		return nil, []FieldError{{Message: fmt.Sprintf("internal error: the built-in schemas do not load: %v", err)}}
	}
	out, errs, broken := ev.completeSafely(kind, obj)
	release(ev, broken)
	return out, errs
}

// Kinds lists the object kinds, in the order #Kinds declares them.
func Kinds() []string {
	if err := initPool(); err != nil {
		return nil
	}
	return append([]string(nil), meta.kinds...)
}

// WorkflowTypes lists the workflow type names, in the order #WorkflowTypes
// declares them (the order of the design's table).
func WorkflowTypes() []string {
	if err := initPool(); err != nil {
		return nil
	}
	return append([]string(nil), meta.types...)
}

// evaluator is one evaluation of the schemas package in its own cue.Context.
// A cue.Context and the values built from it must not be used by two goroutines
// at once, so each evaluator is used by one caller at a time (see acquire).
type evaluator struct {
	ctx     *cue.Context
	root    cue.Value
	kinds   map[string]*schema
	types   map[string]*schema
	untyped *schema
	formats map[string]string // pattern → what it means, from #Formats
	// listing is #Kinds and #WorkflowTypes in declaration order; the
	// first evaluator's becomes the package's meta.
	listing metadata
	// vocabulary holds every field name any definition declares, to tell a
	// typo from a field that belongs to another kind of step.
	vocabulary map[string]bool
}

// schema is the definition one object is validated against.
type schema struct {
	kind string
	// typ is the workflow type, "" for other kinds and for untyped workflows.
	typ string
	// strict has #lenient false: every rule applies. lenient has it true:
	// list-wide rules are off, so a later pass can report the missing required
	// fields that CUE keeps quiet about when another error is present.
	strict     cue.Value
	lenient    cue.Value
	hasLenient bool
	// prefix is the number of leading selectors of error paths that name the
	// definition rather than a place in the object.
	prefix int
}

// metadata is what the listing functions need; plain Go data, shared freely.
type metadata struct {
	kinds []string
	types []string
}

var (
	poolOnce sync.Once
	poolErr  error
	meta     metadata
	idle     chan *evaluator
	poolMu   sync.Mutex
	live     int
	maxLive  int
)

func initPool() error {
	poolOnce.Do(func() {
		ev, err := newEvaluator()
		if err != nil {
			poolErr = err
			return
		}
		meta = ev.listing
		maxLive = min(max(runtime.GOMAXPROCS(0), 1), 16)
		idle = make(chan *evaluator, maxLive)
		live = 1
		idle <- ev
	})
	return poolErr
}

// acquire hands out an idle evaluator, builds another one while fewer than
// GOMAXPROCS exist, and otherwise waits for one to be released.
func acquire() (*evaluator, error) {
	if err := initPool(); err != nil {
		return nil, err
	}
	select {
	case ev := <-idle:
		return ev, nil
	default:
	}
	poolMu.Lock()
	if live < maxLive {
		live++
		poolMu.Unlock()
		ev, err := newEvaluator()
		if err != nil {
			poolMu.Lock()
			live--
			poolMu.Unlock()
			return nil, err
		}
		return ev, nil
	}
	poolMu.Unlock()
	return <-idle, nil
}

// release returns an evaluator to the pool, rebuilding it when a panic left
// it in doubt. (Evaluators are not rebuilt after a number of uses: the heap
// does not grow with use, measured over 10,000 workflows.)
func release(ev *evaluator, broken bool) {
	if broken {
		if fresh, err := newEvaluator(); err == nil {
			ev = fresh
		}
	}
	idle <- ev
}

// newEvaluator compiles the embedded CUE package and looks up every definition
// Complete needs, so a Complete call only unifies.
func newEvaluator() (*evaluator, error) {
	ctx := cuecontext.New()
	inst := build.NewContext().NewInstance("schemas", nil)
	names, err := fs.Glob(sources, "*.cue")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for _, name := range names {
		src, err := sources.ReadFile(name)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(name, src, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", name, err)
		}
		if err := inst.AddSyntax(f); err != nil {
			return nil, fmt.Errorf("adding %s: %w", name, err)
		}
	}
	root := ctx.BuildInstance(inst)
	if err := root.Err(); err != nil {
		return nil, fmt.Errorf("building the schemas: %s", errors.Details(err, nil))
	}
	if err := root.Validate(); err != nil {
		return nil, fmt.Errorf("validating the schemas: %s", errors.Details(err, nil))
	}
	ev := &evaluator{
		ctx:        ctx,
		root:       root,
		kinds:      map[string]*schema{},
		types:      map[string]*schema{},
		formats:    map[string]string{},
		vocabulary: map[string]bool{},
	}

	kinds := root.LookupPath(cue.MakePath(cue.Def("#Kinds")))
	it, err := kinds.Fields()
	if err != nil {
		return nil, fmt.Errorf("reading #Kinds: %w", err)
	}
	for it.Next() {
		k := it.Selector().Unquoted()
		ev.listing.kinds = append(ev.listing.kinds, k)
		if k == "workflow" {
			// A workflow is validated against its type's definition.
			ev.kinds[k] = nil
			continue
		}
		ev.kinds[k] = newSchema(k, "", it.Value())
	}

	types := root.LookupPath(cue.MakePath(cue.Def("#WorkflowTypes")))
	it, err = types.Fields()
	if err != nil {
		return nil, fmt.Errorf("reading #WorkflowTypes: %w", err)
	}
	for it.Next() {
		t := it.Selector().Unquoted()
		ev.listing.types = append(ev.listing.types, t)
		ev.types[t] = newSchema("workflow", t, it.Value())
	}
	ev.untyped = newSchema("workflow", "", root.LookupPath(cue.MakePath(cue.Def("#UntypedWorkflow"))))

	collectFieldNames(root, ev.vocabulary, 0)

	formats := root.LookupPath(cue.MakePath(cue.Def("#Formats")))
	it, err = formats.Fields()
	if err != nil {
		return nil, fmt.Errorf("reading #Formats: %w", err)
	}
	for it.Next() {
		p, err1 := it.Value().LookupPath(cue.ParsePath("pattern")).String()
		s, err2 := it.Value().LookupPath(cue.ParsePath("says")).String()
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("#Formats.%s needs a pattern and a says text", it.Selector())
		}
		ev.formats[p] = s
	}
	return ev, nil
}

// collectFieldNames adds the regular field names of every definition and
// struct under v to names.
func collectFieldNames(v cue.Value, names map[string]bool, depth int) {
	if depth > 8 {
		return
	}
	it, err := v.Fields(cue.Definitions(true), cue.Optional(true))
	if err != nil {
		return
	}
	for it.Next() {
		if it.Selector().IsString() {
			names[it.Selector().Unquoted()] = true
		}
		collectFieldNames(it.Value(), names, depth+1)
	}
}

func newSchema(kind, typ string, v cue.Value) *schema {
	s := &schema{kind: kind, typ: typ, strict: v, lenient: v, prefix: len(v.Path().Selectors())}
	flag := cue.MakePath(cue.Def("#lenient"))
	if v.LookupPath(flag).Exists() {
		s.strict = v.FillPath(flag, false)
		s.lenient = v.FillPath(flag, true)
		s.hasLenient = true
	}
	return s
}

// completeSafely is complete with a guard: the CUE evaluator is not ours, and a
// panic inside it must become an error, not a crash of the compiler. The
// evaluator is then rebuilt, since its state is in doubt.
func (ev *evaluator) completeSafely(kind string, obj any) (out []byte, errs []FieldError, broken bool) {
	defer func() {
		if r := recover(); r != nil {
			out = nil
			errs = []FieldError{{Message: fmt.Sprintf("internal error while validating this %s: %v; please report it", kind, r)}}
			broken = true
		}
	}()
	out, errs = ev.complete(kind, obj)
	return out, errs, false
}

func (ev *evaluator) complete(kind string, obj any) ([]byte, []FieldError) {
	tree, err := decodeInput(obj)
	if err != nil {
		return nil, []FieldError{{Message: err.Error()}}
	}
	if _, known := ev.kinds[kind]; !known {
		return nil, []FieldError{{Message: fmt.Sprintf("unknown kind %q; known kinds: %s", kind, strings.Join(meta.kinds, ", "))}}
	}
	m, ok := tree.(map[string]any)
	if !ok {
		return nil, []FieldError{{Message: fmt.Sprintf("a %s must be a block of fields, not %s", kind, describeJSON(tree))}}
	}

	var pre []FieldError
	s := ev.kinds[kind]
	if kind == "workflow" {
		s, pre = ev.workflowSchema(m)
	}
	u, errs := ev.validate(s, tree)
	if len(pre) > 0 {
		// The type is reported already; the untyped definition's view of it
		// would only repeat it.
		kept := pre
		for _, e := range errs {
			if len(e.Path) != 1 || e.Path[0] != "type" {
				kept = append(kept, e)
			}
		}
		errs = kept
	}
	if len(errs) > 0 {
		sortErrors(errs)
		if len(errs) > maxErrors {
			more := len(errs) - maxErrors
			errs = append(errs[:maxErrors], FieldError{Message: fmt.Sprintf("and %d more errors in this %s; fix these first", more, kind)})
		}
		return nil, errs
	}
	out, err := canonicalJSON(u)
	if err != nil {
		return nil, []FieldError{{Message: fmt.Sprintf("internal error while writing this %s: %v; please report it", kind, err)}}
	}
	return out, nil
}

// workflowSchema picks the definition of the workflow's type. Without a known
// type the workflow is still checked against what every workflow has, so the
// other mistakes are reported in the same run.
func (ev *evaluator) workflowSchema(m map[string]any) (*schema, []FieldError) {
	all := strings.Join(meta.types, ", ")
	raw, has := m["type"]
	t, isText := raw.(string)
	switch {
	case !has || (isText && t == ""):
		return ev.untyped, []FieldError{{Path: []string{"type"}, Message: "a workflow needs type: one of " + all}}
	case !isText:
		return ev.untyped, []FieldError{{Path: []string{"type"}, Message: fmt.Sprintf("type must be a text, not %s: one of %s", describeJSON(raw), all)}}
	}
	if s, ok := ev.types[t]; ok {
		return s, nil
	}
	msg := fmt.Sprintf("workflow type %q is not one of the %d types: %s", t, len(meta.types), all)
	if near := nearest(t, meta.types); near != "" {
		msg = fmt.Sprintf("workflow type %q is not one of the %d types; did you mean %q? (types: %s)", t, len(meta.types), near, all)
	}
	return ev.untyped, []FieldError{{Path: []string{"type"}, Message: msg}}
}

// maxErrors bounds the errors reported for one object: past a screenful, more
// messages do not help, and a generated object with thousands of mistakes must
// not take long to report.
const maxErrors = 50

// maxRawErrors bounds the CUE errors translated per pass, for the same reason;
// translating one costs schema lookups.
const maxRawErrors = 200

// maxRecoveryRounds bounds the lenient passes after a failed validation. CUE
// often reports one hard error per list element or per failed disjunction and
// hides the rest behind it, so each pass may reveal only one more mistake.
// The passes run only for an object that is wrong.
const maxRecoveryRounds = 10

// validate unifies the object with its definition and turns CUE's errors into
// FieldErrors. When a pass fails, CUE reports some hard errors (wrong values,
// unknown fields) and keeps quiet about the rest, and about required fields
// that are missing elsewhere. So further passes run with the offending members
// removed and the list-wide rules off, and add what they find. Each pass also
// serves the one before it as a view of the schema at the place of each error,
// with the bad value gone: that is where "allowed: …" and "did you mean" come
// from, for the step's own kind. Only the first pass's value is ever returned.
func (ev *evaluator) validate(s *schema, tree any) (cue.Value, []FieldError) {
	u, raws, err := ev.run(s.strict, s, tree)
	if err != nil {
		return u, []FieldError{{Message: err.Error()}}
	}
	if len(raws) == 0 {
		return u, nil
	}
	passes := []pass{{raws: raws, tree: tree, unified: u}}
	if s.hasLenient || anyHard(raws) {
		passes = ev.recover(s, passes)
	}
	var all []rawError
	for _, p := range passes {
		all = append(all, p.raws...)
	}
	var out []FieldError
	for i, p := range passes {
		p.raws = dropConsequences(p.raws, all)
		tr := &translator{ev: ev, s: s, tree: p.tree, unified: p.unified}
		if i+1 < len(passes) {
			tr.view, tr.viewTree = passes[i+1].unified, passes[i+1].tree
		}
		out = append(out, tr.translate(p.raws)...)
	}
	return u, dropExplained(out)
}

// pass is one validation: the errors it found, in the object as it was then.
type pass struct {
	raws    []rawError
	tree    any
	unified cue.Value
}

// recover runs the lenient passes after a failed first pass and returns every
// pass that was run; each later pass keeps only errors not seen before and not
// inside a member an earlier pass removed.
func (ev *evaluator) recover(s *schema, passes []pass) []pass {
	seen := map[string]bool{}
	for _, r := range passes[0].raws {
		seen[pathKey(r.path)] = true
	}
	var pruned [][]string
	work := copyTree(passes[0].tree)
	last := passes[0].raws
	for range maxRecoveryRounds {
		progressed := false
		for _, r := range last {
			if r.prunable(work) && deleteAt(work, r.path) {
				pruned = append(pruned, r.path)
				progressed = true
			}
		}
		if !progressed && len(passes) > 1 {
			return passes
		}
		snapshot := copyTree(work)
		u, raws, err := ev.run(s.lenient, s, snapshot)
		if err != nil {
			return passes
		}
		var fresh []rawError
		for _, r := range raws {
			if seen[pathKey(r.path)] || under(r.path, pruned) {
				continue
			}
			seen[pathKey(r.path)] = true
			fresh = append(fresh, r)
		}
		passes = append(passes, pass{raws: fresh, tree: snapshot, unified: u})
		if !anyHard(fresh) {
			return passes
		}
		last = fresh
	}
	// Out of rounds with hard errors left: one more pass, without the bad
	// values, only so the last errors have a view to be explained with.
	for _, r := range last {
		if r.prunable(work) {
			deleteAt(work, r.path)
		}
	}
	if u, _, err := ev.run(s.lenient, s, work); err == nil {
		passes = append(passes, pass{tree: work, unified: u})
	}
	return passes
}

// run builds the object as a CUE value in this evaluator's context, unifies it
// with v and validates the result as final, concrete data.
func (ev *evaluator) run(v cue.Value, s *schema, tree any) (cue.Value, []rawError, error) {
	data, err := ev.build(tree)
	if err != nil {
		return cue.Value{}, nil, err
	}
	u := v.Unify(data)
	verr := u.Validate(cue.Concrete(true), cue.Final())
	if verr == nil {
		return u, nil, nil
	}
	var raws []rawError
	for _, e := range errors.Errors(verr) {
		if len(raws) == maxRawErrors {
			break
		}
		raws = append(raws, refineUndefined(newRawError(e, s.prefix), tree))
	}
	return u, raws, nil
}

// canonicalJSON encodes the completed value with object keys sorted and HTML
// left unescaped. CUE writes fields in the order it met them (the object's,
// then the defaults), so without this the same object would encode differently
// before and after completion.
func canonicalJSON(u cue.Value) ([]byte, error) {
	raw, err := u.MarshalJSON()
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tree); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// build makes a CUE value of a JSON tree. Encoding Go values is about twice
// as fast as compiling syntax, so that is the usual way; a number Go cannot
// hold (1e400) takes the syntax path, where CUE's arbitrary precision keeps it
// for the schema to judge.
func (ev *evaluator) build(tree any) (cue.Value, error) {
	if native, ok := toNative(tree); ok {
		v := ev.ctx.Encode(native)
		if err := v.Err(); err == nil {
			return v, nil
		}
	}
	expr, err := toExpr(tree)
	if err != nil {
		return cue.Value{}, err
	}
	v := ev.ctx.BuildExpr(expr)
	if err := v.Err(); err != nil {
		return cue.Value{}, fmt.Errorf("reading the object: %v", err)
	}
	return v, nil
}

// under reports whether p lies inside (or at) one of the given paths.
func under(p []string, roots [][]string) bool {
	for _, r := range roots {
		if len(r) <= len(p) && pathKey(p[:len(r)]) == pathKey(r) {
			return true
		}
	}
	return false
}

func pathKey(p []string) string { return strings.Join(p, "\x00") }

// sortErrors orders errors by path (list indexes numerically), then message, so
// the output is the same on every run.
func sortErrors(errs []FieldError) {
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i].Path, errs[j].Path
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] == b[k] {
				continue
			}
			if isDigits(a[k]) && isDigits(b[k]) && len(a[k]) != len(b[k]) {
				return len(a[k]) < len(b[k])
			}
			return a[k] < b[k]
		}
		if len(a) != len(b) {
			return len(a) < len(b)
		}
		return errs[i].Message < errs[j].Message
	})
}
