package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// Bounds of an event's fields, in characters. The table has no length limits;
// these keep one client's mistake (a whole page in "topic") out of every index
// entry and every segment query.
const (
	MaxModelLen      = 64
	MaxContactKeyLen = 200
	MaxNameLen       = 200 // campaign, step, topic
	MaxURLLen        = 2048
	MaxExternalIDLen = 200
)

// Years an occurred_at may fall in (inclusive). A time outside is a unit mistake
// (seconds read as milliseconds) or a zero value, not an event.
const (
	MinYear = 2000
	MaxYear = 2100
)

// typePattern is the table's CHECK on type (migrations/002_events.sql), the
// shape engagement predicates accept too.
var typePattern = celmodel.EventTypeRE

// FieldError is a problem with one field of an event.
type FieldError struct {
	// Field is the event's field as stored: type, model, contact_key,
	// occurred_at, campaign, step, topic, url, external_id or properties. Import
	// renames it to the NDJSON name (key, at, id) in its messages.
	Field string
	// Msg shows the value and says what is expected.
	Msg string
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Msg) }

// Validate checks e against the rules of the events table and the bounds above.
// It returns nil, or every problem found, each a *FieldError, joined with
// errors.Join.
func Validate(e store.Event) error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}

	switch {
	case e.Type == "":
		add("type", "missing (want the kind of event in lower snake case, e.g. page_view, form_submit, click)")
	case !typePattern.MatchString(e.Type):
		add("type", "%s is not a valid event type (want lower snake case: a letter a-z, then up to 63 of a-z, 0-9 and _, e.g. page_view)", show(e.Type))
	}
	if e.Model == "" {
		add("model", `missing (want the plan model the contact belongs to, e.g. "lead")`)
	}
	if e.ContactKey == "" {
		add("contact_key", `missing (want the contact's key in the model, e.g. "42")`)
	}

	if e.OccurredAt.IsZero() {
		add("occurred_at", "missing (want when it happened, e.g. 2026-11-20T10:00:00Z)")
	} else if y := e.OccurredAt.UTC().Year(); y < MinYear || y > MaxYear {
		add("occurred_at", "%s is outside the years %d-%d (a time in seconds read as milliseconds, or the other way round?)",
			e.OccurredAt.UTC().Format(time.RFC3339Nano), MinYear, MaxYear)
	}

	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"type", e.Type, 0}, // length covered by typePattern
		{"model", e.Model, MaxModelLen},
		{"contact_key", e.ContactKey, MaxContactKeyLen},
		{"campaign", e.Campaign, MaxNameLen},
		{"step", e.Step, MaxNameLen},
		{"topic", e.Topic, MaxNameLen},
		{"url", e.URL, MaxURLLen},
		{"external_id", e.ExternalID, MaxExternalIDLen},
	} {
		switch {
		case !utf8.ValidString(f.v):
			add(f.name, "%s is not valid UTF-8", show(f.v))
		case strings.IndexByte(f.v, 0) >= 0:
			add(f.name, "%s contains a NUL character, which Postgres text cannot hold", show(f.v))
		case f.max > 0 && utf8.RuneCountInString(f.v) > f.max:
			add(f.name, "%s is %d characters long (at most %d)", show(f.v), utf8.RuneCountInString(f.v), f.max)
		}
	}

	if p := bytes.TrimSpace(e.Properties); len(p) > 0 {
		switch {
		case !json.Valid(p):
			add("properties", "%s is not valid JSON (want an object, e.g. {\"plan\":\"pro\"})", show(string(p)))
		case p[0] != '{':
			add("properties", "want a JSON object, e.g. {\"plan\":\"pro\"}, got %s %s", jsonKind(p), showJSON(p))
		default:
			if msg := jsonbProblem(p); msg != "" {
				add("properties", "%s", msg)
			}
		}
	}
	return errors.Join(errs...)
}

// show quotes a value for a message, cut short so a huge value does not drown it.
func show(v string) string {
	const max = 60
	if utf8.RuneCountInString(v) <= max {
		return fmt.Sprintf("%q", v)
	}
	r := []rune(v)
	return fmt.Sprintf("%q…", string(r[:max]))
}

// showJSON shows a JSON value as written (it is printable already), cut short.
func showJSON(v []byte) string {
	const max = 60
	if utf8.RuneCount(v) <= max {
		return string(v)
	}
	return string([]rune(string(v))[:max]) + "…"
}

// jsonKind names the kind of a valid JSON value by its first byte.
func jsonKind(v []byte) string {
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// Bounds of Postgres's numeric, which jsonb stores every number as: a value
// below 10^131072 and at most 16383 digits after the decimal point (a mantissa
// with an exponent counts as written out).
const (
	maxNumericIntDigits  = 131072
	maxNumericFracDigits = 16383
)

// jsonbProblem says what in valid JSON v Postgres's jsonb refuses, or "": text
// that is not UTF-8, the escape \u0000, a UTF-16 surrogate escape that is not
// half of a pair, a number beyond numeric's bounds. In valid JSON a backslash
// only occurs inside strings and starts an escape, and a '-' or a digit outside
// strings starts a number.
func jsonbProblem(v []byte) string {
	if !utf8.Valid(v) {
		return "holds text that is not valid UTF-8, which Postgres cannot store"
	}
	inString := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case inString && c == '"':
			inString = false
		case inString && c == '\\':
			if v[i+1] != 'u' {
				i++
				continue
			}
			r := hex4(v[i+2 : i+6])
			switch {
			case r == 0:
				return `contains \u0000, which Postgres jsonb cannot hold`
			case r >= 0xD800 && r < 0xDC00 && i+11 < len(v) && v[i+6] == '\\' && v[i+7] == 'u' &&
				hex4(v[i+8:i+12]) >= 0xDC00 && hex4(v[i+8:i+12]) < 0xE000:
				i += 6 // a pair: skip the high half here, the low half below
			case r >= 0xD800 && r < 0xE000:
				return fmt.Sprintf(`contains %s, half of a UTF-16 surrogate pair without the other half, which Postgres jsonb refuses (write the character itself, or both halves)`, v[i:i+6])
			}
			i += 5
		case inString:
		case c == '"':
			inString = true
		case c == '-' || c >= '0' && c <= '9':
			j := i
			for j < len(v) && bytes.IndexByte([]byte("+-.eE0123456789"), v[j]) >= 0 {
				j++
			}
			if !numericFits(v[i:j]) {
				return fmt.Sprintf("the number %s is beyond what Postgres can store (below 10^%d, at most %d digits after the decimal point); send it as a string", showJSON(v[i:j]), maxNumericIntDigits, maxNumericFracDigits)
			}
			i = j - 1
		}
	}
	return ""
}

// hex4 is the value of four hex digits, as in a valid JSON \u escape.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// numericFits says whether the valid JSON number n fits Postgres's numeric.
func numericFits(n []byte) bool {
	n = bytes.TrimPrefix(n, []byte("-"))
	mant, exp, _ := bytes.Cut(bytes.ToLower(n), []byte("e"))
	intPart, frac, _ := bytes.Cut(mant, []byte("."))
	e, err := strconv.ParseInt(string(exp), 10, 32)
	if len(exp) > 0 && (err != nil || e >= math.MaxInt32/2 || e <= -math.MaxInt32/2) {
		return false // numeric refuses such exponents whatever the digits
	}
	if int64(len(frac))-e > maxNumericFracDigits {
		return false
	}
	digits := append(intPart[:len(intPart):len(intPart)], frac...)
	first := bytes.IndexFunc(digits, func(r rune) bool { return r != '0' })
	if first < 0 {
		return true // zero
	}
	// The power of ten of the first significant digit.
	return int64(len(intPart)-1-first)+e < maxNumericIntDigits
}
