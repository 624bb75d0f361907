package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store"
)

func validEvent() store.Event {
	return store.Event{
		OccurredAt: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
		Model:      "lead", ContactKey: "42", Type: "page_view", Topic: "makeup",
		Properties: json.RawMessage(`{"path":"/blog/makeup"}`),
	}
}

// fieldErrors returns Validate's problems by field.
func fieldErrors(t *testing.T, err error) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range splitJoined(err) {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("problem %v is not a *FieldError", e)
		}
		out[fe.Field] = fe.Msg
	}
	return out
}

func TestValidateAcceptsValidEvents(t *testing.T) {
	for name, mutate := range map[string]func(*store.Event){
		"full":                  func(*store.Event) {},
		"no properties":         func(e *store.Event) { e.Properties = nil },
		"empty object":          func(e *store.Event) { e.Properties = json.RawMessage(` {} `) },
		"escaped backslash u":   func(e *store.Event) { e.Properties = json.RawMessage(`{"p":"C:\\u0000"}`) },
		"type of 64 characters": func(e *store.Event) { e.Type = "a" + strings.Repeat("_", 63) },
		"first second of 2000":  func(e *store.Event) { e.OccurredAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"last second of 2100":   func(e *store.Event) { e.OccurredAt = time.Date(2100, 12, 31, 23, 59, 59, 0, time.UTC) },
		"2000 in UTC, 1999 in New York": func(e *store.Event) {
			e.OccurredAt = time.Date(1999, 12, 31, 20, 0, 0, 0, time.FixedZone("EST", -5*3600))
		},
		"multibyte topic at the bound": func(e *store.Event) { e.Topic = strings.Repeat("é", MaxNameLen) },
		"long url":                     func(e *store.Event) { e.URL = "https://x.example/" + strings.Repeat("a", MaxURLLen-18) },
	} {
		t.Run(name, func(t *testing.T) {
			e := validEvent()
			mutate(&e)
			if err := Validate(e); err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
		})
	}
}

func TestValidateNamesFieldValueAndExpectation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*store.Event)
		field  string
		want   []string // substrings of the message
	}{
		{"missing type", func(e *store.Event) { e.Type = "" }, "type", []string{"missing", "page_view"}},
		{"type with space", func(e *store.Event) { e.Type = "Page View" }, "type", []string{`"Page View"`, "lower snake case"}},
		{"type starting with digit", func(e *store.Event) { e.Type = "1click" }, "type", []string{`"1click"`}},
		{"type too long", func(e *store.Event) { e.Type = "a" + strings.Repeat("b", 64) }, "type", []string{"63"}},
		{"missing model", func(e *store.Event) { e.Model = "" }, "model", []string{"missing", `"lead"`}},
		{"missing key", func(e *store.Event) { e.ContactKey = "" }, "contact_key", []string{"missing"}},
		{"zero time", func(e *store.Event) { e.OccurredAt = time.Time{} }, "occurred_at", []string{"missing", "2026-11-20T10:00:00Z"}},
		{"year 1970", func(e *store.Event) { e.OccurredAt = time.Unix(1_700_000, 0) }, "occurred_at", []string{"1970-01-20T", "2000-2100"}},
		{"milliseconds read as seconds", func(e *store.Event) { e.OccurredAt = time.Unix(1_763_600_000_000, 0) }, "occurred_at", []string{"outside the years"}},
		{"campaign too long", func(e *store.Event) { e.Campaign = strings.Repeat("c", MaxNameLen+1) }, "campaign", []string{"201 characters", "at most 200"}},
		{"step too long", func(e *store.Event) { e.Step = strings.Repeat("s", 300) }, "step", []string{"300 characters"}},
		{"topic too long", func(e *store.Event) { e.Topic = strings.Repeat("é", MaxNameLen+1) }, "topic", []string{"201 characters"}},
		{"url too long", func(e *store.Event) { e.URL = strings.Repeat("u", MaxURLLen+1) }, "url", []string{"2049 characters", "at most 2048"}},
		{"external id too long", func(e *store.Event) { e.ExternalID = strings.Repeat("x", 201) }, "external_id", []string{"at most 200"}},
		{"key too long", func(e *store.Event) { e.ContactKey = strings.Repeat("9", MaxContactKeyLen+1) }, "contact_key", []string{"at most 200"}},
		{"NUL in topic", func(e *store.Event) { e.Topic = "a\x00b" }, "topic", []string{`"a\x00b"`, "NUL"}},
		{"invalid UTF-8 in url", func(e *store.Event) { e.URL = "https://x/\xff" }, "url", []string{"UTF-8"}},
		{"properties array", func(e *store.Event) { e.Properties = json.RawMessage(`[1,2]`) }, "properties", []string{"an array", "[1,2]", "JSON object"}},
		{"properties string", func(e *store.Event) { e.Properties = json.RawMessage(`"x"`) }, "properties", []string{"a string"}},
		{"properties broken", func(e *store.Event) { e.Properties = json.RawMessage(`{"a":}`) }, "properties", []string{"not valid JSON"}},
		{"properties with NUL", func(e *store.Event) { e.Properties = json.RawMessage(`{"a":"x\u0000"}`) }, "properties", []string{`\u0000`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := validEvent()
			tc.mutate(&e)
			got := fieldErrors(t, Validate(e))
			msg, ok := got[tc.field]
			if !ok || len(got) != 1 {
				t.Fatalf("Validate problems = %v, want exactly one, on %q", got, tc.field)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := Validate(store.Event{Type: "Bad Type", Properties: json.RawMessage(`[]`)})
	got := fieldErrors(t, err)
	for _, f := range []string{"type", "model", "contact_key", "occurred_at", "properties"} {
		if _, ok := got[f]; !ok {
			t.Errorf("no problem reported for %s; got %v", f, got)
		}
	}
	if !strings.Contains(err.Error(), `field "type": "Bad Type"`) {
		t.Errorf("message %q does not name the field and value", err)
	}
}

func TestShowCutsLongValues(t *testing.T) {
	long := strings.Repeat("ab", 1000)
	if got := show(long); len(got) > 80 || !strings.HasSuffix(got, "…") {
		t.Errorf("show(2000 chars) = %q, want at most 80 bytes ending in …", got)
	}
	if got := show("ok"); got != `"ok"` {
		t.Errorf("show(ok) = %s", got)
	}
}
