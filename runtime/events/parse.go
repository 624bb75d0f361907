package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/internal/suggest"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// The NDJSON line format, one object per line:
//
//	{"type":"page_view","model":"lead","key":"42","at":"2026-11-20T10:00:00Z",
//	 "topic":"makeup","campaign":"","step":"","url":"","id":"ext-1","properties":{}}
//
// key and id may be JSON strings or integers; at is RFC 3339; every field but
// type, model, key and at may be left out or null. The names are short because
// clients write them millions of times; wireNames maps the stored names to them.
var wireNames = map[string]string{
	"type": "type", "model": "model", "contact_key": "key", "occurred_at": "at",
	"topic": "topic", "campaign": "campaign", "step": "step", "url": "url",
	"external_id": "id", "properties": "properties",
}

// knownFields lists the line's fields in the order the help shows them.
var knownFields = []string{"type", "model", "key", "at", "topic", "campaign", "step", "url", "id", "properties"}

// integerLiteral is a JSON integer: no fraction, no exponent (a key 4.2e1 is
// more likely a bug than the contact 42).
var integerLiteral = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// parseLine decodes one non-blank line into an event and validates it. The error
// is a *FieldError, several joined, or a problem of the line as a whole (not JSON,
// not an object). Fields are
// matched exactly (encoding/json would also take "Type" for "type"), unknown and
// repeated fields are errors: a typo must fail loudly rather than drop data.
func parseLine(line []byte) (store.Event, error) { return Schema(nil).parseLine(line) }

// parseLine is the package's parseLine that also checks the declared
// properties (Schema).
func (s Schema) parseLine(line []byte) (store.Event, error) {
	var e store.Event
	dec := json.NewDecoder(bytes.NewReader(line))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return e, fmt.Errorf("want one JSON object per line, e.g. {\"type\":\"page_view\",\"model\":\"lead\",\"key\":\"42\",\"at\":\"2026-11-20T10:00:00Z\"}; got %s", show(string(line)))
	}
	var errs []error
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return e, syntaxError(err)
		}
		key, _ := tok.(string) // inside an object, Token yields keys as strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return e, syntaxError(err)
		}
		if seen[key] {
			errs = append(errs, &FieldError{Field: key, Msg: "appears twice in the object (want each field once)"})
			continue
		}
		seen[key] = true
		if err := setField(&e, key, raw); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return e, syntaxError(err)
	}
	// Checking the rest of the line by hand: one more Token call would build
	// (and throw away) an error value for every line.
	if len(bytes.TrimSpace(line[dec.InputOffset():])) > 0 {
		return e, errors.New("more after the JSON object; want exactly one object per line")
	}
	// Validate even after a field failed to decode, so one run reports every
	// problem of the line; a field that failed is not also reported as missing.
	failed := map[string]bool{}
	for _, err := range errs {
		var fe *FieldError
		if errors.As(err, &fe) {
			failed[fe.Field] = true
		}
	}
	for _, err := range splitJoined(renameFields(Validate(e))) {
		var fe *FieldError
		if errors.As(err, &fe) && failed[fe.Field] {
			continue
		}
		if fe != nil {
			failed[fe.Field] = true
		}
		errs = append(errs, err)
	}
	if !failed["properties"] && !failed["type"] && !failed["model"] {
		errs = append(errs, s.check(e)...)
	}
	return e, errors.Join(errs...)
}

// splitJoined returns the errors of an errors.Join, or err alone (none for nil).
func splitJoined(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// setField stores the raw JSON value of field key into e.
func setField(e *store.Event, key string, raw json.RawMessage) error {
	isNull := string(raw) == "null"
	var dst *string
	switch key {
	case "type":
		dst = &e.Type
	case "model":
		dst = &e.Model
	case "topic":
		dst = &e.Topic
	case "campaign":
		dst = &e.Campaign
	case "step":
		dst = &e.Step
	case "url":
		dst = &e.URL
	case "key":
		return stringOrInteger(&e.ContactKey, key, raw)
	case "id":
		return stringOrInteger(&e.ExternalID, key, raw)
	case "at":
		if isNull {
			return nil // reported as missing by Validate
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return &FieldError{Field: key, Msg: fmt.Sprintf("want an RFC 3339 time in a string, e.g. \"2026-11-20T10:00:00Z\", got %s %s", jsonKind(raw), showJSON(raw))}
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return &FieldError{Field: key, Msg: fmt.Sprintf("%s is not an RFC 3339 time (want e.g. 2026-11-20T10:00:00Z)", show(s))}
		}
		e.OccurredAt = t
		return nil
	case "properties":
		if !isNull {
			e.Properties = raw
		}
		return nil
	default:
		return &FieldError{Field: key, Msg: "unknown field" + didYouMean(key) + " (known fields: " + strings.Join(knownFields, ", ") + ")"}
	}
	if isNull {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return &FieldError{Field: key, Msg: fmt.Sprintf("want a string, got %s %s", jsonKind(raw), showJSON(raw))}
	}
	return nil
}

// stringOrInteger reads a key or id: CRMs key contacts by integers as often as by
// strings, and clients send whichever they hold. An integer keeps its digits as
// written, so 42 and "42" are the same contact.
func stringOrInteger(dst *string, key string, raw json.RawMessage) error {
	if string(raw) == "null" {
		return nil
	}
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, dst); err != nil {
			return &FieldError{Field: key, Msg: fmt.Sprintf("%s is not a valid JSON string", show(string(raw)))}
		}
		return nil
	}
	if integerLiteral.Match(raw) {
		*dst = string(raw)
		return nil
	}
	return &FieldError{Field: key, Msg: fmt.Sprintf("want a string or an integer, got %s %s", jsonKind(raw), showJSON(raw))}
}

// syntaxError describes a JSON syntax error of the line with its byte offset.
func syntaxError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("not valid JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("not valid JSON: the object is cut short (a missing } or \"?)")
	}
	return fmt.Errorf("not valid JSON: %w", err)
}

// renameFields rewrites Validate's field names (the stored names) to the line's.
func renameFields(err error) error {
	errs := splitJoined(err)
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		var fe *FieldError
		if errors.As(e, &fe) {
			if w, ok := wireNames[fe.Field]; ok {
				e = &FieldError{Field: w, Msg: fe.Msg}
			}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// storedAliases are names a client might use for a field, from the table or from
// habit; an unknown field among them gets pointed at the right one.
var storedAliases = map[string]string{
	"contact_key": "key", "occurred_at": "at", "external_id": "id", "timestamp": "at",
	"time": "at", "event": "type", "props": "properties", "contact": "key",
}

// didYouMean suggests the known field closest to an unknown one, when it is
// close enough to be a typo (up to two edits, or a third of the name).
func didYouMean(given string) string {
	if w, ok := storedAliases[strings.ToLower(given)]; ok {
		return fmt.Sprintf("; did you mean %q?", w)
	}
	lower := strings.ToLower(given)
	if slices.Contains(knownFields, lower) {
		return fmt.Sprintf("; did you mean %q?", lower) // only the case differs
	}
	return suggest.DidYouMean(lower, knownFields)
}
