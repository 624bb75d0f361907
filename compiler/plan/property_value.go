package plan

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// The forms a property's text must have to read as a value of its field's
// type. The compiler accepts a set_property value, and the engine writes it,
// only if PropertyValue reads it; segments test the same forms in SQL
// (runtime/segment/sqlgen's convertSQL builds its SQL from these patterns).
// So validate, a set_property step, a segment and a consent condition agree
// on every text: one of its field's form reads as its value, any other as
// NULL. The patterns use only what Postgres' ARE and Go's RE2 read alike
// (classes, alternation, counted repeats, anchors).
const (
	// PropertyMaxNumberText bounds an int's or a float's text, so the
	// numeric casts that check their range never meet a text numeric
	// refuses (more than 131,072 digits) and stay cheap.
	PropertyMaxNumberText = 100
	PropertyIntForm       = `^[+-]?[0-9]+$`
	PropertyFloatForm     = `^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{1,3})?$`
	// PropertyFloatWordForm is read case-insensitively; a sign on nan is
	// refused, as strconv.ParseFloat refuses it.
	PropertyFloatWordForm = `^([+-]?inf(inity)?|nan)$`
	// A float's magnitude is 0 or within float64's normal range: beyond
	// it Postgres refuses the cast (an overflow, or an underflow to 0).
	PropertyMaxFloat       = "1.7976931348623157e308"
	PropertyMinNormalFloat = "2.2250738585072014e-308"

	// A date that exists: years 0001 to 9999 (Postgres refuses year 0),
	// each month's own length, February 29 in leap years only.
	yearForm     = `(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})`
	leapYearForm = `([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)`
	dateForm     = `(` + yearForm + `-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))|` + leapYearForm + `-02-29)`
	clockForm    = `([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?`
	// An offset within ±15:59, the widest Postgres accepts.
	offsetForm = `(Z|[+-](0[0-9]|1[0-5]):[0-5][0-9])`
	// PropertyTimestampForm is RFC 3339 with an offset; a text of
	// PropertyLocalTimestampForm (a date, or a date and time) is read as UTC.
	PropertyTimestampForm      = `^` + dateForm + `T` + clockForm + offsetForm + `$`
	PropertyLocalTimestampForm = `^` + dateForm + `(T` + clockForm + `)?$`
)

// boolTrue and boolFalse are the words strconv.ParseBool reads, exactly.
var (
	boolTrue  = []string{"1", "t", "T", "TRUE", "true", "True"}
	boolFalse = []string{"0", "f", "F", "FALSE", "false", "False"}
)

// PropertyTrueWords and PropertyFalseWords return the texts a bool field
// reads as true and as false: the words strconv.ParseBool reads, exactly.
// The slices are the caller's.
func PropertyTrueWords() []string  { return slices.Clone(boolTrue) }
func PropertyFalseWords() []string { return slices.Clone(boolFalse) }

var (
	intRE             = regexp.MustCompile(PropertyIntForm)
	floatRE           = regexp.MustCompile(PropertyFloatForm)
	floatWordRE       = regexp.MustCompile(`(?i)` + PropertyFloatWordForm)
	timestampRE       = regexp.MustCompile(PropertyTimestampForm)
	localTimestampRE  = regexp.MustCompile(PropertyLocalTimestampForm)
	maxFloat, _       = new(big.Rat).SetString(PropertyMaxFloat)
	minNormalFloat, _ = new(big.Rat).SetString(PropertyMinNormalFloat)
)

// ErrNotOfForm is wrapped by PropertyValue's errors: the text is not of its
// field's form, and reads as NULL.
var ErrNotOfForm = errors.New("not of the field's form")

// PropertyForm says, in a phrase that does not start a sentence ("an int is
// a whole number ..."), which texts a field of type ft reads as a value: the
// text of PropertyValue's errors.
func PropertyForm(ft FieldType) string {
	switch ft {
	case TypeString:
		return "a string is any text"
	case TypeInt:
		return "an int is a whole number in decimal digits with an optional sign, within ±9223372036854775807, e.g. 42"
	case TypeFloat:
		return "a float is a decimal number such as 0.25 or -1.5e3 (at most three exponent digits, magnitude 0 or between 2.2250738585072014e-308 and 1.7976931348623157e308), or inf, infinity, nan"
	case TypeBool:
		return "a bool is true or false (or 1, t, T, TRUE, True and their false counterparts), without spaces"
	case TypeTimestamp:
		return "a timestamp is an RFC 3339 time with Z or an offset within ±15:59 (2026-12-03T10:00:00Z), or a date (2026-12-03) or date and time (2026-12-03T10:00:00) read as UTC, of a day that exists"
	case TypeStringList:
		return "a list field cannot be set to one value, only cleared"
	}
	return fmt.Sprintf("%q is not a field type", ft)
}

// PropertyValue reads text, a property a workflow wrote, as a field of type
// ft reads it in a segment: an int64, a float64, a bool, a time.Time in UTC
// (to the nanosecond, where a segment reads it to the microsecond) or the
// string itself. Text of another form is an error wrapping ErrNotOfForm
// that says, without quoting the text, which form the type wants
// (PropertyForm); a segment reads such text as NULL. A list field is never
// set to one value (only cleared).
func PropertyValue(ft FieldType, text string) (any, error) {
	notOf := func() error { return fmt.Errorf("%w: %s", ErrNotOfForm, PropertyForm(ft)) }
	switch ft {
	case TypeString:
		return text, nil
	case TypeInt:
		if len(text) > PropertyMaxNumberText || !intRE.MatchString(text) {
			return nil, notOf()
		}
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, notOf()
		}
		return n, nil
	case TypeFloat:
		if floatWordRE.MatchString(text) {
			f, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return nil, notOf()
			}
			return f, nil
		}
		if len(text) > PropertyMaxNumberText || !floatRE.MatchString(text) {
			return nil, notOf()
		}
		r, ok := new(big.Rat).SetString(text)
		if !ok {
			return nil, notOf()
		}
		abs := new(big.Rat).Abs(r)
		if abs.Cmp(maxFloat) > 0 || (abs.Sign() != 0 && abs.Cmp(minNormalFloat) < 0) {
			return nil, notOf()
		}
		if abs.Sign() == 0 {
			return 0.0, nil // -0 too: Postgres reads it through numeric, which has no sign for 0
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, notOf()
		}
		return f, nil
	case TypeBool:
		switch {
		case slices.Contains(boolTrue, text):
			return true, nil
		case slices.Contains(boolFalse, text):
			return false, nil
		}
		return nil, notOf()
	case TypeTimestamp:
		var t time.Time
		var err error
		switch {
		case timestampRE.MatchString(text):
			t, err = time.Parse(time.RFC3339Nano, text)
		case localTimestampRE.MatchString(text) && len(text) == len("2006-01-02"):
			t, err = time.Parse(time.DateOnly, text)
		case localTimestampRE.MatchString(text):
			t, err = time.Parse("2006-01-02T15:04:05", text)
		default:
			return nil, notOf()
		}
		if err != nil {
			return nil, notOf()
		}
		return t.UTC(), nil
	case TypeStringList:
		return nil, notOf()
	}
	return nil, fmt.Errorf("unknown field type %q", ft)
}
