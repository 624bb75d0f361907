package events_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/events"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// lineErrors returns the bad lines of a *BatchError as name:line texts, failing
// the test on any other error.
func lineErrors(t *testing.T, err error) []string {
	t.Helper()
	var be *events.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("error %v (%T) is not a *events.BatchError", err, err)
	}
	out := make([]string, len(be.Lines))
	for i, le := range be.Lines {
		out[i] = le.Error()
	}
	return out
}

func TestParseBatchReadsLikeImport(t *testing.T) {
	input := "\xef\xbb\xbf" + ndjson(3) + "\n  \r\n" + `{"type":"click","model":"lead","key":7,"at":"2026-11-20T10:00:00+01:00"}` // BOM, blank lines, no final newline
	evs, err := events.ParseBatch(strings.NewReader(input), "body", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 {
		t.Fatalf("%d events, want 4", len(evs))
	}
	if e := evs[3]; e.ContactKey != "7" || e.Type != "click" || !e.OccurredAt.Equal(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("last event %+v", e)
	}
}

// A bad line gets the same message from a batch as from Import, and the batch
// goes on to report every other bad line.
func TestParseBatchReportsEveryBadLineAsImportDoes(t *testing.T) {
	st := setup(t)
	lines := strings.Split(strings.TrimSuffix(ndjson(6), "\n"), "\n")
	lines[2] = `{"type":"page_view","model":"lead","key":"42","at":"2026-13-01"}`
	lines[4] = `{"type":"page_view","model":"lead","key":"42","at":"2026-11-20T10:00:00Z","topc":"x"}`
	input := strings.Join(lines, "\n")

	_, importErr := events.Import(context.Background(), st, strings.NewReader(input), "in", events.ImportOptions{Now: now})
	var le *events.LineError
	if !errors.As(importErr, &le) {
		t.Fatalf("Import: %v is not a *LineError", importErr)
	}
	evs, err := events.ParseBatch(strings.NewReader(input), "in", 0)
	if evs != nil {
		t.Errorf("ParseBatch returned %d events with an error, want none", len(evs))
	}
	got := lineErrors(t, err)
	if len(got) != 2 || got[0] != le.Error() || !strings.HasPrefix(got[1], `in:5: field "topc": unknown field; did you mean "topic"?`) {
		t.Errorf("bad lines:\n%s\nwant line 3 as Import says it:\n%s\nthen line 5", strings.Join(got, "\n"), le)
	}
}

func TestParseBatchLimits(t *testing.T) {
	_, err := events.ParseBatch(strings.NewReader(ndjson(3)), "body", 2)
	if !errors.Is(err, events.ErrTooManyEvents) || !strings.Contains(err.Error(), "more than 2 events (line 3 is event 3)") {
		t.Errorf("3 events, max 2: error %v, want ErrTooManyEvents naming line 3", err)
	}
	if evs, err := events.ParseBatch(strings.NewReader(ndjson(2)+"\n\n"), "body", 2); err != nil || len(evs) != 2 {
		t.Errorf("2 events and blank lines, max 2: %d events, error %v; want 2, nil", len(evs), err)
	}

	// Past 100 bad lines, reading stops: the answer stays small.
	bad := strings.Repeat("{}\n", 150)
	_, err = events.ParseBatch(strings.NewReader(bad), "body", 0)
	var be *events.BatchError
	if !errors.As(err, &be) || len(be.Lines) != 100 || !be.Truncated || !strings.HasSuffix(err.Error(), "(stopped after 100 bad lines; the rest was not checked)") {
		t.Errorf("150 bad lines: error ends %q, want 100 lines listed and Truncated", err.Error()[max(0, len(err.Error())-80):])
	}

	huge := `{"type":"page_view","model":"lead","key":"1","at":"2026-11-20T10:00:00Z","properties":{"p":"` + strings.Repeat("x", events.MaxLineBytes) + `"}}`
	got := lineErrors(t, func() error { _, err := events.ParseBatch(strings.NewReader(ndjson(1)+huge), "body", 0); return err }())
	if len(got) != 1 || !strings.HasPrefix(got[0], "body:2: line is longer than") {
		t.Errorf("huge line 2: %q", got)
	}

	_, err = events.ParseBatch(failingReader{strings.NewReader(ndjson(2))}, "body", 0)
	if err == nil || !strings.Contains(err.Error(), "reading body after line 2: connection reset") || errors.As(err, &be) {
		t.Errorf("read error: %v, want it wrapped, not a BatchError", err)
	}
}

func TestParseJSONArray(t *testing.T) {
	body := `[
  {"type":"page_view","model":"lead","key":"1","at":"2026-11-20T10:00:00Z"},
  {"type":"page_view",
   "model":"lead","key":"2","at":"yesterday"}, 42,
  {"type":"page_view","model":"lead","key":"3","at":"2026-11-20T10:00:00Z"}
]
`
	_, err := events.ParseJSONArray(strings.NewReader(body), "body", 0)
	got := lineErrors(t, err)
	want := []string{
		`body:3: element 2: field "at": "yesterday" is not an RFC 3339 time (want e.g. 2026-11-20T10:00:00Z)`,
		`body:4: element 3: want an event object, e.g. {"type":"page_view","model":"lead","key":"42","at":"2026-11-20T10:00:00Z"}; got a number 42`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bad elements:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	for _, tc := range []struct{ body, want string }{
		{`{"type":"page_view"}`, "body:1: want a JSON array of event objects"},
		{"", "body:1: want a JSON array of event objects"},
		{"[{\"type\":1},\n{", `body:1: element 1: field "type": want a string, got a number 1`}, // then the syntax error
		{"[\n{} {}]", "body:2: element 1: field"},
		{"[] []", "body:1: more after the JSON array"},
	} {
		_, err := events.ParseJSONArray(strings.NewReader(tc.body), "body", 0)
		if got := lineErrors(t, err); !strings.HasPrefix(got[0], tc.want) {
			t.Errorf("%q: first error %q, want it to start %q", tc.body, got[0], tc.want)
		}
	}
	_, err = events.ParseJSONArray(strings.NewReader("[{\"type\":1},\n{"), "body", 0)
	if got := lineErrors(t, err); len(got) != 2 || !strings.Contains(got[1], "cut short") {
		t.Errorf("bad element then a cut body: %q, want the element and the syntax error", got)
	}

	arr := "[" + strings.ReplaceAll(strings.TrimSuffix(ndjson(3), "\n"), "\n", ",") + "]"
	if _, err := events.ParseJSONArray(strings.NewReader(arr), "body", 2); !errors.Is(err, events.ErrTooManyEvents) {
		t.Errorf("3 elements, max 2: error %v, want ErrTooManyEvents", err)
	}
	if evs, err := events.ParseJSONArray(strings.NewReader("[]"), "body", 2); err != nil || len(evs) != 0 {
		t.Errorf("[]: %v, %v; want no events, no error", evs, err)
	}
}

func TestPartitionMonths(t *testing.T) {
	at := func(s string) store.Event {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return store.Event{OccurredAt: t}
	}
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	got := events.PartitionMonths([]store.Event{
		at("2026-11-30T23:30:00-02:00"), // December in UTC
		at("2026-11-20T10:00:00Z"),
		at("2019-03-05T08:00:00Z"),
		at("2026-12-01T00:00:00Z"),
		at("2010-01-01T00:00:00Z"), // more than ten years ago: the default partition
		at("2037-01-01T00:00:00Z"), // more than ten years ahead
	}, now)
	want := []time.Time{
		time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PartitionMonths = %v, want %v", got, want)
	}
}

// FuzzParseJSONArray checks that an NDJSON batch and the JSON array of its lines
// are read as the same events, and that no input makes ParseJSONArray panic.
func FuzzParseJSONArray(f *testing.F) {
	f.Add(ndjson(3))
	f.Add(`{"type":"click","model":"lead","key":7,"at":"2026-11-20T10:00:00Z","properties":{"a":[1,{"b":null}]}}` + "\n\n")
	f.Add("[{},42,\n{\"type\":\"x\"}]")
	f.Add(`{"key":"\u00e9\"","at":null}`)
	f.Fuzz(func(t *testing.T, input string) {
		events.ParseJSONArray(strings.NewReader(input), "body", 0)

		evs, err := events.ParseBatch(strings.NewReader(input), "body", 0)
		if err != nil || strings.HasPrefix(input, "\xef\xbb\xbf") {
			return
		}
		var arr bytes.Buffer
		arr.WriteString("[")
		for _, l := range strings.Split(input, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				if arr.Len() > 1 {
					arr.WriteString(",\n")
				}
				arr.WriteString(l)
			}
		}
		arr.WriteString("]")
		got, err := events.ParseJSONArray(&arr, "body", 0)
		if err != nil {
			t.Fatalf("the NDJSON batch is valid but its array is not: %v", err)
		}
		if len(got) != len(evs) || (len(evs) > 0 && !reflect.DeepEqual(got, evs)) {
			t.Fatalf("the array gives\n%s\nthe NDJSON\n%s", fmt.Sprint(got), fmt.Sprint(evs))
		}
	})
}
