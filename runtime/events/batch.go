package events

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store"
)

// A batch is a whole set of events parsed before any is stored, for a caller
// that stores all of them or none (the daemon's POST /v1/events). Lines are read
// and checked exactly as Import reads them; unlike Import, a batch reports every
// bad line, not only the first, so a client fixes them all in one round.

// maxBatchErrors is how many bad lines a batch reports before reading stops:
// enough to show a pattern, few enough for one response.
const maxBatchErrors = 100

// ErrTooManyEvents means a batch holds more events than the caller's limit.
var ErrTooManyEvents = errors.New("too many events in one batch")

// BatchError lists the bad lines of a batch in input order.
type BatchError struct {
	Lines []*LineError
	// Truncated says reading stopped after maxBatchErrors bad lines: more of
	// the input may be bad.
	Truncated bool
}

func (e *BatchError) Error() string {
	msgs := make([]string, len(e.Lines))
	for i, le := range e.Lines {
		msgs[i] = le.Error()
	}
	s := strings.Join(msgs, "\n")
	if e.Truncated {
		s += fmt.Sprintf("\n(stopped after %d bad lines; the rest was not checked)", len(e.Lines))
	}
	return s
}

// Unwrap gives errors.As the *LineError of every bad line.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, len(e.Lines))
	for i, le := range e.Lines {
		errs[i] = le
	}
	return errs
}

// ParseBatch reads NDJSON events from r (named name in messages) in the line
// format of Import and returns them all, or none and an error:
//   - a *BatchError naming every bad line (up to 100) and its fields;
//   - ErrTooManyEvents (wrapped) once the input holds more than max events
//     (max ≤ 0: no limit);
//   - r's read error, wrapped, e.g. an *http.MaxBytesError.
//
// Blank lines are skipped; zero events and a nil error is a valid answer.
func ParseBatch(r io.Reader, name string, max int) ([]store.Event, error) {
	return Schema(nil).ParseBatch(r, name, max)
}

// ParseBatch is the package's ParseBatch that also refuses events whose
// declared properties have another JSON type (see Schema).
func (s Schema) ParseBatch(r io.Reader, name string, max int) ([]store.Event, error) {
	var (
		evs  []store.Event
		bad  BatchError
		line int64
	)
	sc := newLineScanner(r)
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if line == 1 {
			b = trimBOM(b)
		}
		if len(b) > MaxLineBytes {
			bad.Lines = append(bad.Lines, lineTooLong(name, line))
			return nil, &bad
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		if max > 0 && len(evs)+len(bad.Lines) == max {
			return nil, fmt.Errorf("%w: %s holds more than %d events (line %d is event %d); split it", ErrTooManyEvents, name, max, line, max+1)
		}
		e, err := s.parseLine(b)
		if err != nil {
			bad.Lines = append(bad.Lines, &LineError{Name: name, Line: line, Err: err})
			if len(bad.Lines) == maxBatchErrors {
				bad.Truncated = true
				return nil, &bad
			}
			continue
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			bad.Lines = append(bad.Lines, lineTooLong(name, line+1))
			return nil, &bad
		}
		return nil, fmt.Errorf("reading %s after line %d: %w", name, line, err)
	}
	if len(bad.Lines) > 0 {
		return nil, &bad
	}
	return evs, nil
}

// ParseJSONArray is ParseBatch for a JSON array of the same event objects, e.g.
// [{"type":"page_view","model":"lead","key":"42","at":"2026-11-20T10:00:00Z"}].
// A *LineError names the line the bad object starts on and its Element (1-based),
// since one line may hold the whole array. It reads all of r into memory: the
// caller bounds r (http.MaxBytesReader).
func ParseJSONArray(r io.Reader, name string, max int) ([]store.Event, error) {
	return Schema(nil).ParseJSONArray(r, name, max)
}

// ParseJSONArray is the package's ParseJSONArray that also refuses events
// whose declared properties have another JSON type (see Schema).
func (s Schema) ParseJSONArray(r io.Reader, name string, max int) ([]store.Event, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	data = trimBOM(data)
	lineAt := func(off int64) int64 { return 1 + int64(bytes.Count(data[:min(off, int64(len(data)))], []byte("\n"))) }
	var (
		evs []store.Event
		bad BatchError
	)
	// whole adds a problem of the body as a whole (its JSON syntax) to the bad
	// objects met before it, and ends the batch.
	whole := func(off int64, err error) error {
		bad.Lines = append(bad.Lines, &LineError{Name: name, Line: lineAt(off), Err: err})
		return &bad
	}

	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, whole(0, errors.New(`want a JSON array of event objects, e.g. [{"type":"page_view","model":"lead","key":"42","at":"2026-11-20T10:00:00Z"}]`))
	}
	for n := 1; dec.More(); n++ {
		// InputOffset is the end of the previous token; the object starts after
		// the comma and any blanks.
		start := dec.InputOffset()
		for start < int64(len(data)) && slices.Contains([]byte(" \t\r\n,"), data[start]) {
			start++
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return nil, whole(se.Offset, syntaxError(err))
			}
			return nil, whole(int64(len(data)), syntaxError(err))
		}
		if max > 0 && n > max {
			return nil, fmt.Errorf("%w: %s holds more than %d events (element %d); split it", ErrTooManyEvents, name, max, n)
		}
		var e store.Event
		if raw[0] != '{' {
			err = fmt.Errorf("want an event object, e.g. {\"type\":\"page_view\",\"model\":\"lead\",\"key\":\"42\",\"at\":\"2026-11-20T10:00:00Z\"}; got %s %s", jsonKind(raw), showJSON(raw))
		} else {
			e, err = s.parseLine(raw)
		}
		if err != nil {
			bad.Lines = append(bad.Lines, &LineError{Name: name, Line: lineAt(start), Element: n, Err: err})
			if len(bad.Lines) == maxBatchErrors {
				bad.Truncated = true
				return nil, &bad
			}
			continue
		}
		evs = append(evs, e)
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return nil, whole(dec.InputOffset(), syntaxError(err))
	}
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		return nil, whole(dec.InputOffset(), errors.New("more after the JSON array; want exactly one array"))
	}
	if len(bad.Lines) > 0 {
		return nil, &bad
	}
	return evs, nil
}

// PartitionMonths returns the months (their first instant, UTC) whose monthly
// partitions Import would create before storing evs: each month met once, in
// order, leaving out events more than ten years from now (they stay in the
// default partition). A caller storing with (*store.Store).InsertEvents ensures
// these first, one EnsureEventPartitions(m, m) each, so the months in between are
// not created.
func PartitionMonths(evs []store.Event, now time.Time) []time.Time {
	lo, hi := partitionWindow(now)
	var months []time.Time
	for _, e := range evs {
		t := e.OccurredAt
		if t.Before(lo) || t.After(hi) {
			continue
		}
		u := t.UTC()
		m := time.Date(u.Year(), u.Month(), 1, 0, 0, 0, 0, time.UTC)
		if !slices.ContainsFunc(months, m.Equal) {
			months = append(months, m)
		}
	}
	slices.SortFunc(months, func(a, b time.Time) int { return a.Compare(b) })
	return months
}
