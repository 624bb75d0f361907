package events

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/campaignctl/campaignctl/runtime/store"
)

func TestParseLineReadsEveryField(t *testing.T) {
	line := `{"type":"click","model":"lead","key":"42","at":"2026-11-20T11:00:00+01:00","topic":"makeup",` +
		`"campaign":"restock_nurture","step":"week1","url":"https://shop.example/x","id":"ext-1","properties":{"a":[1,2]}}`
	e, err := parseLine([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := store.Event{
		OccurredAt: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), Model: "lead", ContactKey: "42", Type: "click",
		Campaign: "restock_nurture", Step: "week1", Topic: "makeup", URL: "https://shop.example/x", ExternalID: "ext-1",
	}
	if string(e.Properties) != `{"a":[1,2]}` {
		t.Errorf("properties = %s", e.Properties)
	}
	e.Properties = nil
	if !e.OccurredAt.Equal(want.OccurredAt) {
		t.Errorf("at = %v, want %v", e.OccurredAt, want.OccurredAt)
	}
	e.OccurredAt = want.OccurredAt
	if !reflect.DeepEqual(e, want) {
		t.Errorf("parsed %+v\nwant   %+v", e, want)
	}
}

func TestParseLineKeysAndOptionalFields(t *testing.T) {
	for _, tc := range []struct {
		line    string
		key, id string
	}{
		{`{"type":"open","model":"lead","key":42,"at":"2026-11-20T10:00:00Z"}`, "42", ""},
		{`{"type":"open","model":"lead","key":-7,"at":"2026-11-20T10:00:00Z","id":12345678901234567890}`, "-7", "12345678901234567890"},
		{`{"type":"open","model":"lead","key":"0042","at":"2026-11-20T10:00:00Z","id":null,"topic":null,"properties":null}`, "0042", ""},
		{` { "at" : "2026-11-20T10:00:00.123456Z" , "key" : "a b" , "model" : "customer" , "type" : "purchase" } `, "a b", ""},
	} {
		e, err := parseLine([]byte(tc.line))
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		if e.ContactKey != tc.key || e.ExternalID != tc.id || e.Topic != "" || e.Properties != nil {
			t.Errorf("%s: key %q id %q topic %q props %s; want key %q id %q and empty rest", tc.line, e.ContactKey, e.ExternalID, e.Topic, e.Properties, tc.key, tc.id)
		}
	}
}

func TestParseLineErrors(t *testing.T) {
	const ok = `"type":"page_view","model":"lead","key":"42","at":"2026-11-20T10:00:00Z"`
	for _, tc := range []struct {
		name, line string
		want       []string
	}{
		{"bad month", `{"type":"page_view","model":"lead","key":"42","at":"2026-13-01"}`,
			[]string{`field "at": "2026-13-01" is not an RFC 3339 time (want e.g. 2026-11-20T10:00:00Z)`}},
		{"date only", `{` + ok[:len(ok)-len(`"at":"2026-11-20T10:00:00Z"`)] + `"at":"2026-11-20"}`, []string{`field "at": "2026-11-20" is not an RFC 3339 time`}},
		{"unix seconds", `{"type":"page_view","model":"lead","key":"42","at":1763632800}`, []string{`field "at": want an RFC 3339 time in a string`, "a number"}},
		{"unknown field with typo", `{` + ok + `,"tpoic":"makeup"}`, []string{`field "tpoic": unknown field; did you mean "topic"?`, "known fields: type, model, key"}},
		{"table name for a field", `{"type":"page_view","model":"lead","contact_key":"42","at":"2026-11-20T10:00:00Z"}`,
			[]string{`field "contact_key": unknown field; did you mean "key"?`}},
		{"case variant", `{` + ok + `,"Topic":"makeup"}`, []string{`field "Topic": unknown field; did you mean "topic"?`}},
		{"repeated field", `{` + ok + `,"type":"click"}`, []string{`field "type": appears twice`}},
		{"float key", `{"type":"page_view","model":"lead","key":4.2,"at":"2026-11-20T10:00:00Z"}`, []string{`field "key": want a string or an integer, got a number 4.2`}},
		{"exponent key", `{"type":"page_view","model":"lead","key":42e0,"at":"2026-11-20T10:00:00Z"}`, []string{`field "key": want a string or an integer`}},
		{"object key", `{"type":"page_view","model":"lead","key":{"id":1},"at":"2026-11-20T10:00:00Z"}`, []string{`field "key": want a string or an integer, got an object`}},
		{"numeric model", `{"type":"page_view","model":7,"key":"42","at":"2026-11-20T10:00:00Z"}`, []string{`field "model": want a string, got a number 7`}},
		{"missing key, renamed from contact_key", `{"type":"page_view","model":"lead","at":"2026-11-20T10:00:00Z"}`, []string{`field "key": missing`}},
		{"missing at", `{"type":"page_view","model":"lead","key":"42"}`, []string{`field "at": missing`}},
		{"id too long, renamed from external_id", `{` + ok + `,"id":"` + strings.Repeat("x", 201) + `"}`, []string{`field "id":`, "at most 200"}},
		{"properties not an object", `{` + ok + `,"properties":[1]}`, []string{`field "properties": want a JSON object`, "an array"}},
		{"bad type", `{"type":"Page View","model":"lead","key":"42","at":"2026-11-20T10:00:00Z"}`, []string{`field "type": "Page View" is not a valid event type`}},
		{"array line", `[1,2]`, []string{"want one JSON object per line"}},
		{"not JSON", `type=page_view`, []string{"want one JSON object per line", `"type=page_view"`}},
		{"broken JSON", `{"type":"page_view",,}`, []string{"not valid JSON at byte"}},
		{"cut short", `{"type":"page_view","model":"le`, []string{"not valid JSON"}},
		{"two objects", `{` + ok + `} {}`, []string{"more after the JSON object"}},
		{"several problems", `{"type":"X","model":"","key":"42","at":"2026-11-20T10:00:00Z"}`, []string{`field "type"`, `field "model": missing`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseLine([]byte(tc.line))
			if err == nil {
				t.Fatalf("parseLine(%s) = nil error", tc.line)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLineErrorPrefixesEveryProblem(t *testing.T) {
	_, err := parseLine([]byte(`{"type":"X","model":"","key":"42","at":"2026-11-20T10:00:00Z"}`))
	le := &LineError{Name: "events.ndjson", Line: 17, Err: err}
	lines := strings.Split(le.Error(), "\n")
	if len(lines) != 2 {
		t.Fatalf("want two problems, got %q", le.Error())
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "events.ndjson:17: field ") {
			t.Errorf("line %q lacks the name:line prefix", l)
		}
	}
}

// FuzzParseLine: no input panics; an accepted line yields an event that Validate
// accepts, and writing it back out and parsing it again gives the same event.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`{"type":"page_view","model":"lead","key":"42","at":"2026-11-20T10:00:00Z","topic":"makeup","id":"ext-1","properties":{"a":1}}`,
		`{"type":"open","model":"lead","key":42,"at":"2026-11-20T10:00:00.5+02:00","properties":null}`,
		`{"type":"open","model":"lead","key":"42","at":"2026-13-01"}`,
		`{"tpye":1}`, `[`, `{"a":"\u0000"}`, `{"type":"click","type":"open"}`, `{}`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := parseLine(line)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := Validate(e); err != nil {
			t.Fatalf("parseLine accepted %q but Validate refuses it: %v", line, err)
		}
		if !utf8.ValidString(e.Type + e.Model + e.ContactKey) {
			t.Fatalf("accepted invalid UTF-8 from %q", line)
		}
		w := map[string]any{
			"type": e.Type, "model": e.Model, "key": e.ContactKey, "at": e.OccurredAt.Format(time.RFC3339Nano),
			"topic": e.Topic, "campaign": e.Campaign, "step": e.Step, "url": e.URL, "id": e.ExternalID,
		}
		if e.Properties != nil {
			w["properties"] = e.Properties
		}
		again, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := parseLine(again)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", again, err)
		}
		if !e2.OccurredAt.Equal(e.OccurredAt) {
			t.Fatalf("time changed: %v → %v", e.OccurredAt, e2.OccurredAt)
		}
		e.OccurredAt, e2.OccurredAt = time.Time{}, time.Time{}
		if !sameJSON(e.Properties, e2.Properties) {
			t.Fatalf("properties changed: %s → %s", e.Properties, e2.Properties)
		}
		e.Properties, e2.Properties = nil, nil
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", e, e2)
		}
	})
}

// sameJSON compares two JSON values by meaning (re-encoding escapes < > & and may
// reorder nothing else); two absent values are the same.
func sameJSON(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}
