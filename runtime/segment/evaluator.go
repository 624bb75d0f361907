package segment

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
	"github.com/campaignctl/campaignctl/runtime/segment/sqlgen"
)

// Path says how a segment is evaluated.
type Path string

const (
	// Pushdown evaluates the filter in Postgres as one WHERE clause.
	Pushdown Path = "pushdown"
	// InProcess streams the model's rows and evaluates the CEL program per row.
	InProcess Path = "in-process"
)

// Match is one contact of an audience.
type Match struct {
	Key   string // the model's key, as text
	Email string // the email column as stored ("" when NULL)
}

// Explanation tells which path a segment takes and why.
type Explanation struct {
	Segment string
	Path    Path
	// Reason says why the segment is not pushed down, naming the sub-expression;
	// empty on the pushdown path.
	Reason string
	// SQL is the query that finds the audience (pushdown) or reads the first page
	// of rows to evaluate (in-process); Args are its parameters.
	SQL  string
	Args []any
	// Where is the WHERE clause alone (placeholders from $1): the whole filter on
	// the pushdown path; on the in-process path the conjuncts that translate
	// (a prefilter), or empty.
	Where string
}

// Evaluator evaluates the segments of one plan. It is safe for concurrent use.
type Evaluator struct {
	segs  map[string]*compiled
	force Path
	// notNull holds, per model, the columns its table's catalog declares NOT
	// NULL, as read by WithCatalog; nil means every column may be NULL.
	notNull map[string]map[string]bool
	// crm, when the plan's workflows write fields, compiles the segments
	// without their writes, for a database that has none (WithCatalog).
	crm *crmOnly
}

// modelInfo is what every segment of a model shares.
type modelInfo struct {
	m      *plan.Model
	env    *cel.Env
	table  string // quoted
	key    string // quoted
	email  string // quoted
	tr     *sqlgen.Translator
	fields map[string]int
}

// compiled is one segment, ready to run.
type compiled struct {
	seg  *plan.Segment
	mi   *modelInfo
	ast  *cel.Ast
	prg  cel.Program
	refs []string // segments referenced directly
	// reads lists the model fields the effective filter reads, with those of the
	// referenced segments, by index in Model.Fields, ascending.
	reads []int
	// events lists the engagement calls of the effective filter and of the
	// referenced segments; the in-process scan computes each as a column.
	events []celmodel.EngagementCall
	evIdx  map[celmodel.EngagementCall]int
	filter *sqlgen.Filter // nil when not pushed down
	reason string         // why filter is nil
	// prefilter, when filter is nil, holds the top-level conjuncts that do
	// translate: the in-process scan reads only the rows they accept.
	prefilter *sqlgen.Filter
	// fromReads is from(nil), the FROM item of every query reading the
	// filter's own fields (counts, memberships, pages), built once.
	fromReads string
}

// defaultFilter returns a model's default filter, implied by every segment of the
// model that does not set include_archived.
func defaultFilter(m *plan.Model) string { return strings.TrimSpace(m.DefaultFilter) }

// New compiles every segment of p: its CEL program and, where possible, its SQL.
func New(p *plan.Plan) (*Evaluator, error) {
	written := p.FieldsWorkflowsWrite()
	ev, err := newEvaluator(p, written)
	if err != nil {
		return nil, err
	}
	if len(written) > 0 {
		ev.crm = &crmOnly{p: p}
	}
	return ev, nil
}

// crmOnly is the plan's segments compiled as if no workflow wrote anything,
// built on first need (WithCatalog on a database without the runner's
// properties table) and shared by the evaluator's copies.
type crmOnly struct {
	p    *plan.Plan
	once sync.Once
	ev   *Evaluator
	err  error
}

func (c *crmOnly) get() (*Evaluator, error) {
	c.once.Do(func() { c.ev, c.err = newEvaluator(c.p, nil) })
	return c.ev, c.err
}

// newEvaluator is New, with written (by model, the fields workflows write)
// read over the CRM's columns.
func newEvaluator(p *plan.Plan, written map[string]map[string]bool) (*Evaluator, error) {
	models := map[string]*modelInfo{}
	names := map[string][]string{}
	for _, s := range p.Segments {
		names[s.Model] = append(names[s.Model], s.Name)
	}
	for i := range p.Models {
		m := &p.Models[i]
		mi, err := newModelInfo(m, names[m.Name], written[m.Name])
		if err != nil {
			return nil, err
		}
		models[m.Name] = mi
	}
	ev := &Evaluator{segs: map[string]*compiled{}}
	own := map[string]uses{}
	for i := range p.Segments {
		s := &p.Segments[i]
		mi, ok := models[s.Model]
		if !ok {
			return nil, fmt.Errorf("segment %q uses model %q, which the plan does not define", s.Name, s.Model)
		}
		c, u, err := compileSegment(s, mi)
		if err != nil {
			return nil, err
		}
		ev.segs[s.Name] = c
		own[s.Name] = u
	}
	if err := ev.checkRefs(); err != nil {
		return nil, err
	}
	ev.computeReads(own)
	ev.translateAll()
	return ev, nil
}

// newModelInfo prepares the segments of m; written names the fields of m that
// workflows write, which filters read with those writes laid over the CRM.
func newModelInfo(m *plan.Model, segments []string, written map[string]bool) (*modelInfo, error) {
	env, err := celmodel.Env(m, segments)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", m.Name, err)
	}
	table, err := sqlgen.QuoteTable(m.Table)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", m.Name, err)
	}
	if m.Key == "" || m.Email == "" {
		return nil, fmt.Errorf("model %q: key and email columns are required", m.Name)
	}
	tr, err := sqlgen.NewTranslator(env, m)
	if err != nil {
		return nil, err
	}
	fields := map[string]int{}
	for i, f := range m.Fields {
		fields[f.Name] = i
	}
	if err := tr.Overlay(sqlgen.DeclaredFields(m, written)); err != nil {
		return nil, err
	}
	return &modelInfo{
		m: m, env: env, table: table, tr: tr, fields: fields,
		key: pq.QuoteIdentifier(m.Key), email: pq.QuoteIdentifier(m.Email),
	}, nil
}

// uses is what one filter reads by itself, before references to other segments
// are followed: model fields by index, and engagement calls in order of appearance.
type uses struct {
	fields map[int]bool
	events []celmodel.EngagementCall
}

// compileSegment compiles the effective filter of s and reads, in one walk of its
// AST, the segments it references and the fields it reads; the engagement calls
// are read (and their arguments checked) once, here.
func compileSegment(s *plan.Segment, mi *modelInfo) (*compiled, uses, error) {
	src := strings.TrimSpace(s.Filter)
	if src == "" {
		src = "true"
	}
	if d := defaultFilter(mi.m); d != "" && !s.IncludeArchived {
		// Newlines end any // comment the filters may close with.
		src = "(" + src + "\n) && (" + d + "\n)"
	}
	var u uses
	ast, iss := mi.env.Compile(src)
	if iss.Err() != nil {
		return nil, u, fmt.Errorf("segment %q: filter does not compile against model %q: %w", s.Name, mi.m.Name, iss.Err())
	}
	if ast.OutputType() != cel.BoolType {
		return nil, u, fmt.Errorf("segment %q: filter has type %s, want bool", s.Name, ast.OutputType())
	}
	prg, err := mi.env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, u, fmt.Errorf("segment %q: planning filter: %w", s.Name, err)
	}
	if u.events, err = celmodel.EngagementCalls(ast.NativeRep(), mi.m.Name); err != nil {
		return nil, u, fmt.Errorf("segment %q: %w", s.Name, err)
	}
	c := &compiled{seg: s, mi: mi, ast: ast, prg: prg}
	u.fields = map[int]bool{}
	celast.PostOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() == celast.SelectKind {
			op := e.AsSelect().Operand()
			if op.Kind() == celast.IdentKind && op.AsIdent() == mi.m.Name {
				if i, ok := mi.fields[e.AsSelect().FieldName()]; ok {
					u.fields[i] = true
				}
			}
		}
	}))
	for _, n := range celmodel.SegmentRefs(ast.NativeRep()) {
		c.refs = append(c.refs, n)
	}
	sort.Strings(c.refs)
	return c, u, nil
}

// checkRefs refuses references to unknown segments, to segments of another model,
// and cycles.
func (ev *Evaluator) checkRefs() error {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case visiting:
			return fmt.Errorf("segments reference each other in a cycle: %s", strings.Join(append(path, name), " → "))
		case done:
			return nil
		}
		state[name] = visiting
		c := ev.segs[name]
		for _, r := range c.refs {
			rc, ok := ev.segs[r]
			if !ok {
				return fmt.Errorf("segment %q references segment.%s, which does not exist", name, r)
			}
			if rc.mi != c.mi {
				return fmt.Errorf("segment %q references segment.%s of another model", name, r)
			}
			if err := visit(r, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = done
		return nil
	}
	names := make([]string, 0, len(ev.segs))
	for n := range ev.segs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return err
		}
	}
	return nil
}

// computeReads sets what each segment's scan reads: the fields and engagement
// calls of its own filter and of every segment it references, directly or not.
// Calls keep the order of a depth-first walk from the segment, without repeats.
func (ev *Evaluator) computeReads(own map[string]uses) {
	for name, c := range ev.segs {
		fields := map[int]bool{}
		c.evIdx = map[celmodel.EngagementCall]int{}
		seen := map[string]bool{}
		var collect func(name string)
		collect = func(name string) {
			if seen[name] {
				return
			}
			seen[name] = true
			for i := range own[name].fields {
				fields[i] = true
			}
			for _, call := range own[name].events {
				if _, dup := c.evIdx[call]; !dup {
					c.evIdx[call] = len(c.events)
					c.events = append(c.events, call)
				}
			}
			for _, r := range ev.segs[name].refs {
				collect(r)
			}
		}
		collect(name)
		for i := range fields {
			c.reads = append(c.reads, i)
		}
		sort.Ints(c.reads)
		c.fromReads = c.joinFrom(c.reads)
	}
}

// translateAll translates every segment, referenced segments first.
func (ev *Evaluator) translateAll() {
	done := map[string]bool{}
	var translate func(name string)
	translate = func(name string) {
		if done[name] {
			return
		}
		done[name] = true
		c := ev.segs[name]
		for _, r := range c.refs {
			translate(r)
		}
		tr := *c.mi.tr
		tr.Segments = func(ref string) (*sqlgen.Filter, error) {
			rc := ev.segs[ref]
			if rc.filter == nil {
				return nil, &sqlgen.Unsupported{Expr: "segment." + ref, Reason: rc.reason}
			}
			return rc.filter, nil
		}
		f, err := tr.Translate(c.ast)
		if err != nil {
			c.reason = err.Error()
			c.prefilter = tr.TranslatePartial(c.ast)
			return
		}
		c.filter = f
	}
	for name := range ev.segs {
		translate(name)
	}
}

// ForcePath returns an evaluator over the same compiled segments that takes the
// given path whenever it can (in-process always can; pushdown only for segments
// that translate). An empty path restores the automatic choice.
func (e *Evaluator) ForcePath(p Path) *Evaluator {
	cp := *e
	cp.force = p
	return &cp
}

// WithCatalog returns an evaluator over the same segments that knows which
// columns of each model's table the database declares NOT NULL, so the SQL it
// writes leaves out their NULL guards. Read it per operation (a command run, a
// reconcile pass): the answer stays exact only while the constraints hold, which
// Postgres guarantees between the reading and the query unless the table is
// altered in between. A table that does not exist yet is left for the query to
// report.
//
// It also reads whether the runner's properties table exists. Where it does
// not (a CRM database campaignctl never migrated, as `diff --db` may be given),
// no workflow wrote anything there, so the segments read the CRM's columns
// alone, exactly, instead of failing on the missing table.
func (e *Evaluator) WithCatalog(ctx context.Context, db *sqlx.DB) (*Evaluator, error) {
	cp := *e
	if e.crm != nil {
		var exists bool
		if err := db.GetContext(ctx, &exists, `SELECT to_regclass($1) IS NOT NULL`, sqlgen.PropertiesTable); err != nil {
			return nil, fmt.Errorf("looking for the runner's properties table: %w", err)
		}
		if !exists {
			plain, err := e.crm.get()
			if err != nil {
				return nil, err
			}
			cp.segs = plain.segs
		}
	}
	cp.notNull = map[string]map[string]bool{}
	seen := map[*modelInfo]bool{}
	for _, c := range e.segs {
		if seen[c.mi] {
			continue
		}
		seen[c.mi] = true
		var cols []string
		err := db.SelectContext(ctx, &cols, `SELECT attname FROM pg_attribute
WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped AND attnotnull`, c.mi.table)
		if err != nil {
			return nil, fmt.Errorf("model %q: reading the NOT NULL columns of %s: %w", c.mi.m.Name, c.mi.m.Table, err)
		}
		set := make(map[string]bool, len(cols))
		for _, col := range cols {
			set[col] = true
		}
		cp.notNull[c.mi.m.Name] = set
	}
	return &cp, nil
}

// Segments lists the segment names the evaluator knows, sorted.
func (e *Evaluator) Segments() []string {
	out := make([]string, 0, len(e.segs))
	for n := range e.segs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (e *Evaluator) lookup(segment string) (*compiled, error) {
	c, ok := e.segs[segment]
	if !ok {
		return nil, fmt.Errorf("segment %q is not in the plan (known: %s)", segment, strings.Join(e.Segments(), ", "))
	}
	return c, nil
}

// evalTime is the evaluation time both paths use: UTC, whole microseconds.
func evalTime(now time.Time) time.Time { return now.UTC().Truncate(time.Microsecond) }

// route is the plan of one evaluation: the path, the SQL condition with its
// parameters (placeholders from $1; for in-process the prefilter, or empty), and
// why the filter is not pushed down.
type route struct {
	path   Path
	where  string
	args   []any
	reason string
}

func (e *Evaluator) route(c *compiled, now time.Time) route {
	if e.force == InProcess {
		// Forced in-process evaluates every row: no prefilter, so the path can
		// serve as the reference the pushdown is tested against.
		return route{path: InProcess, reason: "in-process evaluation was requested"}
	}
	if c.filter == nil {
		r := route{path: InProcess, reason: c.reason}
		if c.prefilter != nil {
			// A prefilter that cannot render now only costs speed.
			if where, args, err := c.prefilter.WhereNotNull(now, 1, e.notNull[c.mi.m.Name]); err == nil {
				r.where, r.args = where, args
			}
		}
		return r
	}
	where, args, err := c.filter.WhereNotNull(now, 1, e.notNull[c.mi.m.Name])
	if err != nil {
		if errors.Is(err, sqlgen.ErrRender) {
			return route{path: InProcess, reason: err.Error()}
		}
		return route{path: InProcess, reason: fmt.Sprintf("rendering SQL failed: %v", err)}
	}
	return route{path: Pushdown, where: where, args: args}
}

// retryInProcess reports whether a pushed-down query failed because of the SQL
// itself rather than the database: a data exception (class 22, e.g. an invalid
// regular expression) or a program limit (class 54, e.g. a regular expression or
// statement too complex). The in-process path then gives the exact answer.
func retryInProcess(err error) bool {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return false
	}
	class := string(pqErr.Code.Class())
	return class == "22" || class == "54"
}

// Explain tells which path segment takes at time now and why, with the SQL.
func (e *Evaluator) Explain(segment string, now time.Time) (Explanation, error) {
	c, err := e.lookup(segment)
	if err != nil {
		return Explanation{}, err
	}
	now = evalTime(now)
	r := e.route(c, now)
	x := Explanation{Segment: segment, Path: r.path, Reason: r.reason, Args: r.args, Where: r.where}
	if r.path == Pushdown {
		x.SQL = c.selectSQL(r.where, nil, false, false, len(r.args))
		return x, nil
	}
	x.SQL, x.Args = c.scanQuery(c.reads, false, r, now)
	return x, nil
}

// Count returns how many contacts are in segment at time now.
func (e *Evaluator) Count(ctx context.Context, db *sqlx.DB, segment string, now time.Time) (int64, Path, error) {
	c, err := e.lookup(segment)
	if err != nil {
		return 0, "", err
	}
	now = evalTime(now)
	r := e.route(c, now)
	if r.path == Pushdown {
		var n int64
		q := "SELECT count(*) FROM " + c.from(nil) + " WHERE " + r.where
		err := db.QueryRowContext(ctx, q, r.args...).Scan(&n)
		if err == nil {
			return n, r.path, nil
		}
		if !retryInProcess(err) {
			return 0, r.path, c.hint(fmt.Errorf("segment %q: counting in Postgres: %w", segment, err))
		}
		r = route{path: InProcess}
	}
	var n int64
	err = e.scan(ctx, db, c, now, r, nil, false, func(s *scanRow) (bool, error) {
		n++
		return true, nil
	})
	return n, InProcess, c.hint(err)
}

// Each streams the contacts of segment at time now to fn in batches of at most
// batchSize, never holding the whole audience. It stops at fn's first error and
// returns it.
//
// On the pushdown path batches come in key order and no query is open while fn
// runs (keyset pages). On the in-process path they come in table order from one
// streaming query that stays open, holding one connection of db, while fn runs;
// fn may use db too, unless db is limited to a single connection.
func (e *Evaluator) Each(ctx context.Context, db *sqlx.DB, segment string, now time.Time, batchSize int, fn func([]Match) error) (Path, error) {
	c, err := e.lookup(segment)
	if err != nil {
		return "", err
	}
	if batchSize <= 0 {
		return "", fmt.Errorf("segment %q: batch size must be positive, got %d", segment, batchSize)
	}
	now = evalTime(now)
	r := e.route(c, now)
	if r.path == Pushdown {
		delivered, err := e.eachPushdown(ctx, db, c, r.where, r.args, batchSize, fn)
		if err == nil || delivered || !retryInProcess(err) {
			return r.path, c.hint(err)
		}
		r = route{path: InProcess}
	}
	batch := make([]Match, 0, batchSize)
	err = e.scan(ctx, db, c, now, r, nil, false, func(s *scanRow) (bool, error) {
		batch = append(batch, Match{Key: string(s.key), Email: string(s.email)})
		if len(batch) == batchSize {
			if err := fn(batch); err != nil {
				return false, err
			}
			batch = batch[:0]
		}
		return true, nil
	})
	if err == nil && len(batch) > 0 {
		err = fn(batch)
	}
	return InProcess, c.hint(err)
}

// Sample returns up to n contacts of segment at time now, in key order, each as a
// map from field name to value (nil for NULL) with the requested fields (nil means
// all), plus the key column under the model's key name unless a field has it.
func (e *Evaluator) Sample(ctx context.Context, db *sqlx.DB, segment string, now time.Time, n int, fields []string) ([]map[string]any, Path, error) {
	c, err := e.lookup(segment)
	if err != nil {
		return nil, "", err
	}
	want, err := c.sampleFields(fields)
	if err != nil {
		return nil, "", err
	}
	now = evalTime(now)
	r := e.route(c, now)
	if n <= 0 {
		return []map[string]any{}, r.path, nil
	}
	if r.path == Pushdown {
		out, err := e.samplePushdown(ctx, db, c, r.where, r.args, n, want)
		if err == nil || !retryInProcess(err) {
			return out, r.path, c.hint(err)
		}
		r = route{path: InProcess}
	}
	out := []map[string]any{}
	err = e.scan(ctx, db, c, now, r, want, true, func(s *scanRow) (bool, error) {
		out = append(out, s.sample(c, want))
		return len(out) < n, nil
	})
	return out, InProcess, c.hint(err)
}

// hint adds what to do to an error a user can fix: engagement predicates, or
// fields workflows write, on a database where the runner's tables were never
// created.
func (c *compiled) hint(err error) error {
	var pqErr *pq.Error
	if err == nil || !errors.As(err, &pqErr) || pqErr.Code != "42P01" {
		return err
	}
	var written []string
	for _, i := range c.reads {
		if f := c.mi.m.Fields[i].Name; c.mi.tr.Written(f) {
			written = append(written, c.mi.m.Name+"."+f)
		}
	}
	switch {
	case len(c.events) > 0:
		return fmt.Errorf("%w\n(the engagement predicates of this segment read the runner's events table; create it with `campaignctl migrate --db URL`)", err)
	case len(written) > 0:
		return fmt.Errorf("%w\n(this segment reads %s, which workflows write: their values are in the runner's contact_properties table; create it with `campaignctl migrate --db URL`)", err, strings.Join(written, ", "))
	}
	return err
}

func (c *compiled) sampleFields(fields []string) ([]int, error) {
	if fields == nil {
		out := make([]int, len(c.mi.m.Fields))
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	out := make([]int, 0, len(fields))
	for _, f := range fields {
		i, ok := c.mi.fields[f]
		if !ok {
			return nil, fmt.Errorf("model %q has no field %q (fields: %s)", c.mi.m.Name, f, strings.Join(fieldNames(c.mi.m), ", "))
		}
		out = append(out, i)
	}
	return out, nil
}

func fieldNames(m *plan.Model) []string {
	out := make([]string, len(m.Fields))
	for i, f := range m.Fields {
		out[i] = f.Name
	}
	return out
}
