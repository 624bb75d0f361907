package segment

import (
	"database/sql"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
)

// internMax bounds the per-column cache of string values. CRM columns that filters
// test (stage, lost reason, country) have few distinct values; caching them saves
// an allocation per row, and the bound keeps free-text columns from growing it.
const (
	internMax    = 4096
	internMaxLen = 64
)

// Zero values of the field types, shared: NULL columns read as these.
var (
	epoch      = types.Timestamp{Time: time.Unix(0, 0).UTC()}
	zeroDouble = types.Double(0)
)

// colKind says how a scanned column is held.
type colKind uint8

const (
	colRaw colKind = iota // text and arrays: bytes in the batch arena
	colInt
	colFloat
	colBool
	colTime
)

func kindOf(t plan.FieldType) colKind {
	switch t {
	case plan.TypeInt:
		return colInt
	case plan.TypeFloat:
		return colFloat
	case plan.TypeBool:
		return colBool
	case plan.TypeTimestamp:
		return colTime
	}
	return colRaw
}

// cell is one scanned column value, detached from the driver's buffers so rows
// can be decoded on one goroutine and evaluated on another.
type cell struct {
	valid      bool
	start, end int32 // colRaw: bytes are arena[start:end]
	i          int64
	f          float64
	b          bool
	t          time.Time
}

// scanDest is the database/sql destination of one column.
type scanDest struct {
	kind colKind
	raw  sql.RawBytes
	i    sql.NullInt64
	f    sql.NullFloat64
	b    sql.NullBool
	t    sql.NullTime
}

func (d *scanDest) ptr() any {
	switch d.kind {
	case colInt:
		return &d.i
	case colFloat:
		return &d.f
	case colBool:
		return &d.b
	case colTime:
		return &d.t
	}
	return &d.raw
}

// store copies the scanned value into c, appending bytes to arena.
func (d *scanDest) store(c *cell, arena []byte) []byte {
	switch d.kind {
	case colInt:
		c.valid, c.i = d.i.Valid, d.i.Int64
	case colFloat:
		c.valid, c.f = d.f.Valid, d.f.Float64
	case colBool:
		c.valid, c.b = d.b.Valid, d.b.Bool
	case colTime:
		c.valid, c.t = d.t.Valid, d.t.Time
	default:
		c.valid = d.raw != nil
		c.start = int32(len(arena))
		arena = append(arena, d.raw...)
		c.end = int32(len(arena))
	}
	return arena
}

func (c *cell) bytes(arena []byte) []byte {
	if !c.valid {
		return nil
	}
	return arena[c.start:c.end]
}

// slot presents one field of the current row to CEL and converts on demand, so
// fields a short-circuited filter never reaches cost nothing beyond the scan.
type slot struct {
	typ    plan.FieldType
	c      *cell
	arena  []byte
	intern map[string]ref.Val
	// list caches the parsed list of the current row: a filter may read it twice.
	list   ref.Val
	listOK bool
}

func newSlot(t plan.FieldType) *slot {
	s := &slot{typ: t, c: &cell{}}
	if t == plan.TypeString {
		s.intern = map[string]ref.Val{}
	}
	return s
}

// point makes the slot read c; called once per row.
func (s *slot) point(c *cell, arena []byte) {
	s.c, s.arena, s.listOK = c, arena, false
}

func (s *slot) isSet() bool { return s.c.valid }

// value is the CEL value of the column: NULL reads as the type's zero value.
func (s *slot) value() ref.Val {
	c := s.c
	switch s.typ {
	case plan.TypeString:
		raw := c.bytes(s.arena)
		if len(raw) > internMaxLen {
			return types.String(raw)
		}
		if v, ok := s.intern[string(raw)]; ok {
			return v
		}
		v := types.String(raw)
		if len(s.intern) < internMax {
			s.intern[string(v)] = v
		}
		return v
	case plan.TypeInt:
		if !c.valid {
			return types.IntZero
		}
		return types.Int(c.i)
	case plan.TypeFloat:
		if !c.valid {
			return zeroDouble
		}
		return types.Double(c.f)
	case plan.TypeBool:
		return types.Bool(c.valid && c.b)
	case plan.TypeTimestamp:
		if !c.valid {
			return epoch
		}
		return types.Timestamp{Time: c.t.UTC()}
	case plan.TypeStringList:
		if !s.listOK {
			s.listOK = true
			elems, err := parseTextArray(c.bytes(s.arena))
			if err != nil {
				s.list = types.NewErr("%v", err)
			} else {
				s.list = types.NewStringList(types.DefaultTypeAdapter, elems)
			}
		}
		return s.list
	}
	return types.NewErr("unknown field type %q", s.typ)
}

// native is the Go value of the column for samples: nil for NULL.
func (s *slot) native() (any, error) {
	c := s.c
	if !c.valid {
		return nil, nil
	}
	switch s.typ {
	case plan.TypeString:
		return string(c.bytes(s.arena)), nil
	case plan.TypeInt:
		return c.i, nil
	case plan.TypeFloat:
		return c.f, nil
	case plan.TypeBool:
		return c.b, nil
	case plan.TypeTimestamp:
		return c.t.UTC(), nil
	case plan.TypeStringList:
		return parseTextArray(c.bytes(s.arena))
	}
	return nil, fmt.Errorf("unknown field type %q", s.typ)
}

// record is a row of the model as CEL sees it (celmodel.Record).
type record struct {
	slots []*slot // by field index; nil for columns not read
	zero  []ref.Val
	// evIndex maps an engagement call to its column in evCells, the values the
	// scan query computed for the current row (a window on the row's cells).
	evIndex map[celmodel.EngagementCall]int
	evCells []cell
}

var (
	_ celmodel.Record     = (*record)(nil)
	_ celmodel.Engagement = (*record)(nil)
)

// Engagement implements celmodel.Engagement from the columns the scan query
// computed (sqlgen.EngagementJoin), over the events the pushdown counts too.
func (r *record) Engagement(call celmodel.EngagementCall) ref.Val {
	i, ok := r.evIndex[call]
	if !ok {
		return types.NewErr("%s was not computed for this row", call)
	}
	c := &r.evCells[i]
	switch {
	case !c.valid:
		return types.NewErr("%s has no value for this row", call)
	case call.Func == celmodel.FuncEventCount:
		return types.Int(c.i)
	}
	return types.Bool(c.b)
}

func newRecord(m *plan.Model) *record {
	r := &record{slots: make([]*slot, len(m.Fields)), zero: make([]ref.Val, len(m.Fields))}
	for i, f := range m.Fields {
		r.zero[i] = zeroValue(f.Type)
	}
	return r
}

func zeroValue(t plan.FieldType) ref.Val { return celmodel.ZeroValue(t) }

// Field implements celmodel.Record.
func (r *record) Field(i int) ref.Val {
	s := r.slots[i]
	if s == nil {
		return r.zero[i]
	}
	return s.value()
}

// IsSet implements celmodel.Record.
func (r *record) IsSet(i int) bool {
	s := r.slots[i]
	return s != nil && s.isSet()
}

// parseTextArray reads Postgres' text form of a one-dimensional text[] value.
// NULL elements read as "" (see the package doc); a NULL array as no elements.
func parseTextArray(b []byte) ([]string, error) {
	if b == nil {
		return nil, nil
	}
	// An explicit lower bound ("[0:1]={a,b}") precedes "=" and does not change the
	// elements.
	if len(b) > 0 && b[0] == '[' {
		i := 0
		for i < len(b) && b[i] != '=' {
			i++
		}
		if i == len(b) {
			return nil, fmt.Errorf("malformed array %q", b)
		}
		b = b[i+1:]
	}
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("malformed array %q", b)
	}
	body := b[1 : len(b)-1]
	if len(body) == 0 {
		return []string{}, nil
	}
	var out []string
	var cur []byte
	i := 0
	for {
		if i < len(body) && body[i] == '{' {
			return nil, fmt.Errorf("multi-dimensional arrays are not supported for list(string) fields")
		}
		cur = cur[:0]
		quoted := false
		if i < len(body) && body[i] == '"' {
			quoted = true
			i++
			for {
				if i >= len(body) {
					return nil, fmt.Errorf("malformed array %q", b)
				}
				c := body[i]
				if c == '\\' && i+1 < len(body) {
					cur = append(cur, body[i+1])
					i += 2
					continue
				}
				if c == '"' {
					i++
					break
				}
				cur = append(cur, c)
				i++
			}
		} else {
			for i < len(body) && body[i] != ',' {
				cur = append(cur, body[i])
				i++
			}
		}
		s := string(cur)
		if !quoted && s == "NULL" {
			s = ""
		}
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("array element is not valid UTF-8")
		}
		out = append(out, s)
		if i >= len(body) {
			break
		}
		if body[i] != ',' {
			return nil, fmt.Errorf("malformed array %q", b)
		}
		i++
	}
	return out, nil
}
