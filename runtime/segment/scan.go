package segment

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
	"github.com/campaignctl/campaignctl/runtime/segment/sqlgen"
)

// batchRows is the number of rows decoded ahead of evaluation in one batch;
// batchesAhead batches circulate between the decoding and evaluating goroutines,
// which bounds the memory of a scan whatever the table size.
const (
	batchRows    = 512
	batchesAhead = 3
)

// minPushdownPage keeps tiny caller batches from turning into one query each.
const minPushdownPage = 1000

// scanRow is the row being evaluated. Its byte slices are valid only until the
// next row is read.
type scanRow struct {
	key   []byte
	email []byte
	rec   *record
}

// sample converts the wanted fields of the row to Go values.
func (s *scanRow) sample(c *compiled, want []int) map[string]any {
	m := make(map[string]any, len(want)+1)
	if _, ok := c.mi.fields[c.mi.m.Key]; !ok {
		m[c.mi.m.Key] = string(s.key)
	}
	for _, i := range want {
		v, err := s.rec.slots[i].native()
		if err != nil {
			v = fmt.Sprintf("<%v>", err)
		}
		m[c.mi.m.Fields[i].Name] = v
	}
	return m
}

// from is the FROM item of a query over c reading fields besides the filter's
// own: the model's table, with a LEFT JOIN per field workflows write among
// them (sqlgen's Translator.OverlayJoins). A filter reading no such field
// reads the table alone, exactly as before workflows wrote anything.
func (c *compiled) from(fields []int) string {
	if len(fields) == 0 {
		return c.fromReads
	}
	return c.joinFrom(c.scanFields(fields))
}

// joinFrom builds from's FROM item for fields, all the fields the query reads.
func (c *compiled) joinFrom(fields []int) string {
	var names []string
	for _, i := range fields {
		if f := c.mi.m.Fields[i].Name; c.mi.tr.Written(f) {
			names = append(names, f)
		}
	}
	if len(names) == 0 {
		return c.mi.table
	}
	return c.mi.table + c.mi.tr.OverlayJoins(names)
}

// columnsSQL lists the quoted columns of fields, in order; a field workflows
// write is read through the translator's overlay expression (named after its
// column; from joins what it reads), so the in-process path and samples see
// what the pushdown sees.
func (c *compiled) columnsSQL(fields []int) string {
	var b strings.Builder
	for _, i := range fields {
		f := c.mi.m.Fields[i]
		col := pq.QuoteIdentifier(sqlgen.ColumnName(f))
		b.WriteString(", ")
		if expr, ok := c.mi.tr.ColumnSQL(f.Name); ok && c.mi.tr.Written(f.Name) {
			b.WriteString(expr + " AS " + col)
			continue
		}
		b.WriteString(col)
	}
	return b.String()
}

// selectSQL is the pushdown query: key and email (or key and the given fields) of
// the rows matching where, in key order. argc is the number of placeholders where
// uses; keyset paging adds "key > $argc+1", and limit a LIMIT on the next one.
func (c *compiled) selectSQL(where string, fields []int, afterKey, limit bool, argc int) string {
	cols := c.mi.key + ", " + c.mi.email
	if fields != nil {
		cols = c.mi.key + c.columnsSQL(fields)
	}
	q := "SELECT " + cols + " FROM " + c.from(fields) + " WHERE "
	if afterKey {
		argc++
		q += "(" + where + ") AND " + c.mi.key + " > $" + strconv.Itoa(argc)
	} else {
		q += where
	}
	q += " ORDER BY " + c.mi.key
	if limit {
		q += " LIMIT $" + strconv.Itoa(argc+1)
	}
	return q
}

// scanQuery is the in-process query: key, email and the given fields of every row
// (that r's prefilter, if any, accepts), in key order when ordered, followed by
// one column per engagement call of the filter, read from a LEFT JOIN to the
// matching events (sqlgen.EngagementJoin). Model columns stay unqualified: the
// joined relations only have campaignctl_-prefixed columns.
func (c *compiled) scanQuery(fields []int, ordered bool, r route, now time.Time) (string, []any) {
	args := append([]any(nil), r.args...)
	var b, joins strings.Builder
	b.WriteString("SELECT " + c.mi.key + ", " + c.mi.email + c.columnsSQL(fields))
	for k, call := range c.events {
		sel, join, a := c.mi.tr.EngagementJoin(call, now, len(args)+1, "campaignctl_j"+strconv.Itoa(k))
		b.WriteString(", " + sel)
		joins.WriteString(join)
		args = append(args, a...)
	}
	b.WriteString(" FROM " + c.from(fields) + joins.String())
	if r.where != "" {
		b.WriteString(" WHERE " + r.where)
	}
	if ordered {
		b.WriteString(" ORDER BY " + c.mi.key)
	}
	return b.String(), args
}

// scanFields is the union of the fields the filter reads and extra, ascending.
func (c *compiled) scanFields(extra []int) []int {
	if len(extra) == 0 {
		return c.reads
	}
	seen := map[int]bool{}
	var out []int
	for _, i := range c.reads {
		seen[i] = true
		out = append(out, i)
	}
	for _, i := range extra {
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out
}

// activation resolves the variables of a filter for the current row. One is
// built per scan and refilled row by row, so evaluation allocates nothing for it.
type activation struct {
	model string
	obj   *celmodel.Object
	now   ref.Val
	segs  map[string]*compiled
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case a.model:
		return a.obj, true
	case celmodel.NowVar:
		return a.now, true
	}
	if ref, ok := strings.CutPrefix(name, celmodel.SegmentPrefix+"."); ok {
		if c, ok := a.segs[ref]; ok {
			// A failing referenced segment fails here too, as its inlined SQL would.
			out, _, err := c.prg.Eval(a)
			if err != nil {
				return types.WrapErr(err), true
			}
			return out, true
		}
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// rowBatch holds decoded rows: ncols cells per row (key, email, then the fields),
// with the bytes of text columns in one arena.
type rowBatch struct {
	n     int
	cells []cell
	arena []byte
}

// scan evaluates c over every row of its model (that r's prefilter accepts) and
// calls onMatch for each matching row until it returns false or an error. extra
// names fields to read beyond those the filter needs (for samples); ordered reads
// in key order.
//
// It streams one query on a connection of its own: a goroutine decodes rows into
// batches (decoding is most of the cost of a scan) while the caller's goroutine
// evaluates the previous batch, so on a multi-core machine evaluation mostly hides
// behind decoding. The decoder talks to the driver directly, skipping
// database/sql's per-value conversions. The query stays open until the scan ends,
// including while onMatch runs.
func (e *Evaluator) scan(ctx context.Context, db *sqlx.DB, c *compiled, now time.Time, r route, extra []int, ordered bool, onMatch func(*scanRow) (bool, error)) error {
	fields := c.scanFields(extra)
	nfix := 2 + len(fields)
	ncols := nfix + len(c.events)
	kinds := make([]colKind, ncols)
	names := make([]string, ncols)
	names[0], names[1] = c.mi.m.Key, c.mi.m.Email
	for j, i := range fields {
		kinds[2+j] = kindOf(c.mi.m.Fields[i].Type)
		names[2+j] = sqlgen.ColumnName(c.mi.m.Fields[i])
	}
	for k, call := range c.events {
		kinds[nfix+k] = colBool
		if call.Func == celmodel.FuncEventCount {
			kinds[nfix+k] = colInt
		}
		names[nfix+k] = c.mi.m.Name + "." + call.String()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("segment %q: connecting to Postgres: %w", c.seg.Name, err)
	}
	defer conn.Close()
	// The scan streams every row to this process, so parallel workers gain
	// nothing; and a Gather under a streamed join (the engagement joins) was seen
	// to spin in the server indefinitely. SET LOCAL keeps the setting off the
	// pooled connection: the transaction ends before the connection goes back.
	if _, err := conn.ExecContext(ctx, "BEGIN READ ONLY"); err != nil {
		return fmt.Errorf("segment %q: starting the scan: %w", c.seg.Name, err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")
	if _, err := conn.ExecContext(ctx, "SET LOCAL max_parallel_workers_per_gather = 0"); err != nil {
		return fmt.Errorf("segment %q: starting the scan: %w", c.seg.Name, err)
	}
	query, qargs := c.scanQuery(fields, ordered, r, now)
	args := make([]driver.NamedValue, len(qargs))
	for i, a := range qargs {
		args[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}

	free := make(chan *rowBatch, batchesAhead)
	full := make(chan *rowBatch, batchesAhead)
	for i := 0; i < batchesAhead; i++ {
		free <- &rowBatch{cells: make([]cell, batchRows*ncols)}
	}
	produced := make(chan error, 1)
	go func() {
		defer close(full)
		produced <- decode(ctx, conn, query, args, kinds, names, free, full)
	}()

	rec := newRecord(c.mi.m)
	slots := make([]*slot, len(fields))
	for j, i := range fields {
		slots[j] = newSlot(c.mi.m.Fields[i].Type)
		rec.slots[i] = slots[j]
	}
	rec.evIndex = c.evIdx
	row := &scanRow{rec: rec}
	act := &activation{
		model: c.mi.m.Name,
		obj:   celmodel.NewObject(c.mi.m, rec),
		now:   types.Timestamp{Time: now},
		segs:  e.segs,
	}
	var stopErr error
	stopped := false
	for b := range full {
		if !stopped {
			for r := 0; r < b.n; r++ {
				cells := b.cells[r*ncols : (r+1)*ncols]
				row.key, row.email = cells[0].bytes(b.arena), cells[1].bytes(b.arena)
				for j, s := range slots {
					s.point(&cells[2+j], b.arena)
				}
				rec.evCells = cells[nfix:]
				out, _, err := c.prg.Eval(act)
				// A row whose evaluation fails is not in the segment (see the package doc).
				if err != nil || out != types.True {
					continue
				}
				cont, err := onMatch(row)
				if err != nil || !cont {
					stopErr, stopped = err, true
					cancel() // ends the query; the decoder sees it and stops
					break
				}
			}
		}
		free <- b
	}
	perr := <-produced
	switch {
	case stopped:
		return stopErr
	case perr != nil:
		return fmt.Errorf("segment %q: reading %s: %w", c.seg.Name, c.mi.m.Table, perr)
	}
	return nil
}

// decode runs the query on conn through the driver and fills batches. Going
// around database/sql saves its per-value conversion and locking, a fair share of
// the cost of a scan.
func decode(ctx context.Context, conn *sql.Conn, query string, args []driver.NamedValue, kinds []colKind, names []string, free <-chan *rowBatch, full chan<- *rowBatch) error {
	return conn.Raw(func(dc any) error {
		q, ok := dc.(driver.QueryerContext)
		if !ok {
			return fmt.Errorf("the database driver (%T) cannot run queries directly; use lib/pq", dc)
		}
		rows, err := q.QueryContext(ctx, query, args)
		if err != nil {
			return err
		}
		derr := decodeDriverRows(ctx, rows, kinds, names, free, full)
		// Closing a cancelled query reports the cancellation; the scan already
		// knows why it stopped.
		cerr := rows.Close()
		switch {
		case derr != nil:
			return derr
		case ctx.Err() != nil:
			return ctx.Err()
		}
		return cerr
	})
}

// decodeDriverRows reads driver rows into batches taken from free and hands them
// to full.
func decodeDriverRows(ctx context.Context, rows driver.Rows, kinds []colKind, names []string, free <-chan *rowBatch, full chan<- *rowBatch) error {
	ncols := len(kinds)
	if got := len(rows.Columns()); got != ncols {
		return fmt.Errorf("query returned %d columns, want %d", got, ncols)
	}
	vals := make([]driver.Value, ncols)
	for {
		var b *rowBatch
		select {
		case b = <-free:
		case <-ctx.Done():
			return ctx.Err()
		}
		b.n, b.arena = 0, b.arena[:0]
		var next error
		for b.n < batchRows {
			if next = rows.Next(vals); next != nil {
				break
			}
			cells := b.cells[b.n*ncols : (b.n+1)*ncols]
			for j, v := range vals {
				var err error
				if b.arena, err = storeValue(kinds[j], v, &cells[j], b.arena); err != nil {
					return fmt.Errorf("column %s: %w", names[j], err)
				}
			}
			b.n++
		}
		if b.n > 0 {
			select {
			case full <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if next == io.EOF {
			return nil
		}
		if next != nil {
			return next
		}
	}
}

// storeValue copies a driver value into c. Conversions are those a mapped column
// can need (a numeric column read as int or float); anything else is refused
// rather than guessed.
func storeValue(kind colKind, v driver.Value, c *cell, arena []byte) ([]byte, error) {
	if v == nil {
		// Cells are reused row after row: NULL must clear the previous value.
		*c = cell{start: int32(len(arena)), end: int32(len(arena))}
		return arena, nil
	}
	c.valid = true
	switch kind {
	case colRaw:
		c.start = int32(len(arena))
		switch x := v.(type) {
		case string:
			arena = append(arena, x...)
		case []byte:
			arena = append(arena, x...)
		case int64:
			arena = strconv.AppendInt(arena, x, 10)
		default:
			return arena, fmt.Errorf("got a %T, want text", v)
		}
		c.end = int32(len(arena))
		return arena, nil
	case colInt:
		switch x := v.(type) {
		case int64:
			c.i = x
			return arena, nil
		case []byte, string:
			n, err := strconv.ParseInt(asString(x), 10, 64)
			c.i = n
			return arena, err
		}
	case colFloat:
		switch x := v.(type) {
		case float64:
			c.f = x
			return arena, nil
		case int64:
			c.f = float64(x)
			return arena, nil
		case []byte, string:
			f, err := strconv.ParseFloat(asString(x), 64)
			c.f = f
			return arena, err
		}
	case colBool:
		if x, ok := v.(bool); ok {
			c.b = x
			return arena, nil
		}
	case colTime:
		if x, ok := v.(time.Time); ok {
			c.t = x
			return arena, nil
		}
	}
	return arena, fmt.Errorf("got a %T, which does not convert to the field's type", v)
}

func asString(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v.(string)
}

// eachPushdown pages through the pushed-down query by key. delivered says
// whether fn saw any batch, after which a failure cannot be retried without
// repeating contacts.
func (e *Evaluator) eachPushdown(ctx context.Context, db *sqlx.DB, c *compiled, where string, args []any, batchSize int, fn func([]Match) error) (delivered bool, err error) {
	limit := batchSize
	if limit < minPushdownPage {
		limit = minPushdownPage
	}
	first := c.selectSQL(where, nil, false, true, len(args))
	next := c.selectSQL(where, nil, true, true, len(args))
	page := make([]Match, 0, limit)
	var key, email sql.RawBytes
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return delivered, err
		}
		var rows *sql.Rows
		var err error
		if n == 0 {
			rows, err = db.QueryContext(ctx, first, append(args[:len(args):len(args)], limit)...)
		} else {
			rows, err = db.QueryContext(ctx, next, append(args[:len(args):len(args)], page[len(page)-1].Key, limit)...)
		}
		if err != nil {
			return delivered, fmt.Errorf("segment %q: querying Postgres: %w", c.seg.Name, err)
		}
		page = page[:0]
		for rows.Next() {
			if err := rows.Scan(&key, &email); err != nil {
				rows.Close()
				return delivered, fmt.Errorf("segment %q: reading matches: %w", c.seg.Name, err)
			}
			page = append(page, Match{Key: string(key), Email: string(email)})
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return delivered, fmt.Errorf("segment %q: reading matches: %w", c.seg.Name, err)
		}
		for i := 0; i < len(page); i += batchSize {
			end := i + batchSize
			if end > len(page) {
				end = len(page)
			}
			delivered = true
			if err := fn(page[i:end]); err != nil {
				return delivered, err
			}
		}
		if len(page) < limit {
			return delivered, nil
		}
	}
}

// samplePushdown reads the first n matches with the wanted fields.
func (e *Evaluator) samplePushdown(ctx context.Context, db *sqlx.DB, c *compiled, where string, args []any, n int, want []int) ([]map[string]any, error) {
	q := c.selectSQL(where, want, false, true, len(args))
	rows, err := db.QueryContext(ctx, q, append(args[:len(args):len(args)], n)...)
	if err != nil {
		return nil, fmt.Errorf("segment %q: querying Postgres: %w", c.seg.Name, err)
	}
	defer rows.Close()
	rec := newRecord(c.mi.m)
	row := &scanRow{rec: rec}
	dests := make([]scanDest, 1+len(want))
	cells := make([]cell, len(dests))
	ptrs := make([]any, len(dests))
	for j := range dests {
		if j > 0 {
			dests[j].kind = kindOf(c.mi.m.Fields[want[j-1]].Type)
			s := newSlot(c.mi.m.Fields[want[j-1]].Type)
			rec.slots[want[j-1]] = s
		}
		ptrs[j] = dests[j].ptr()
	}
	var arena []byte
	out := []map[string]any{}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("segment %q: reading sample: %w", c.seg.Name, err)
		}
		arena = arena[:0]
		for j := range dests {
			arena = dests[j].store(&cells[j], arena)
		}
		row.key = cells[0].bytes(arena)
		for j, i := range want {
			rec.slots[i].point(&cells[1+j], arena)
		}
		out = append(out, row.sample(c, want))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("segment %q: reading sample: %w", c.seg.Name, err)
	}
	return out, nil
}
