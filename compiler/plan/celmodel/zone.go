package celmodel

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // zone names resolve the same on every machine, with or without /usr/share/zoneinfo

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// FuncTimestamp is CEL's timestamp conversion. Besides its standard forms
// (an RFC 3339 string, which carries its offset, and an int of seconds),
// filters may write a wall-clock time in a named zone, as people in a
// company's office think of it:
//
//	lead.created_at >= timestamp("2024-01-01T00:00:00", "Europe/Brussels")
//
// The compiler, the segment evaluator, the SQL pushdown and the engine share
// this declaration (Env), so the four agree on what it means.
const FuncTimestamp = "timestamp"

// localLayouts are the wall-clock forms the zone overload reads.
var localLayouts = []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02"}

// LocalTimestamp reads a wall-clock time (no offset) in an IANA zone. A time
// that a daylight-saving change skips or repeats resolves as Go's
// time.Date does (the later offset for a gap, the earlier for a repeat).
func LocalTimestamp(s, zone string) (time.Time, error) {
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "" || strings.EqualFold(zone, "local") {
		return time.Time{}, fmt.Errorf("timestamp(%q, %q): %q is not an IANA time zone; write one like \"Europe/Brussels\" or \"America/New_York\"", s, zone, zone)
	}
	for _, layout := range localLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	if _, err := time.Parse(time.RFC3339, s); err == nil {
		return time.Time{}, fmt.Errorf("timestamp(%q, %q): the time already has an offset; drop it, or drop the zone and write timestamp(%q)", s, zone, s)
	}
	return time.Time{}, fmt.Errorf("timestamp(%q, %q): want a wall-clock time like \"2024-01-01T09:00:00\" or a date like \"2024-01-01\"", s, zone)
}

func zoneOptions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Function(FuncTimestamp, cel.Overload("string_string_to_timestamp", []*cel.Type{cel.StringType, cel.StringType}, cel.TimestampType,
			cel.BinaryBinding(func(s, z ref.Val) ref.Val {
				str, ok1 := s.(types.String)
				zone, ok2 := z.(types.String)
				if !ok1 || !ok2 {
					return types.MaybeNoSuchOverloadErr(s)
				}
				t, err := LocalTimestamp(string(str), string(zone))
				if err != nil {
					return types.NewErrFromString(err.Error())
				}
				return types.Timestamp{Time: t.UTC()}
			}))),
	}
}
