package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/events"
	"github.com/campaignctl/campaignctl/runtime/store"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

const testToken = "0123456789abcdef0123456789abcdef"

// bundle is a daemon HTTP server on a fresh, migrated database.
type bundle struct {
	st     *store.Store
	url    string // of POST /v1/events
	stored atomic.Int32
	logs   *strings.Builder
}

// migratedTemplate runs the migrations on the template database that
// storetest.OpenFromTemplate copies for each test.
func migratedTemplate(ctx context.Context, db *sqlx.DB) error {
	_, err := (&store.Store{DB: db}).Migrate(ctx)
	return err
}

// setup serves srv's routes, with a real store as srv.Events and a counting
// EventsStored hook; srv may set the token and limits. The log is kept so tests
// can check the token never shows in it.
func setup(t *testing.T, srv *Server) *bundle {
	t.Helper()
	db, _ := storetest.OpenFromTemplate(t, "migrated", migratedTemplate)
	st := &store.Store{DB: db}
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := &bundle{st: st, logs: &strings.Builder{}}
	srv.Events = st
	srv.DB = db
	srv.Clock = clock.Real{}
	srv.Log = slog.New(slog.NewTextHandler(b.logs, nil))
	srv.EventsStored = func() { b.stored.Add(1) }
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	b.url = hs.URL + "/v1/events"
	return b
}

type reply struct {
	code   int
	header http.Header
	body   string
}

// post sends body; a token of "" sends no Authorization header.
func (b *bundle) post(t *testing.T, token, contentType string, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequest("POST", b.url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{res.StatusCode, res.Header, string(data)}
}

func (b *bundle) rows(t *testing.T) int {
	t.Helper()
	var n int
	if err := b.st.DB.Get(&n, `SELECT count(*) FROM campaignctl.events`); err != nil {
		t.Fatal(err)
	}
	return n
}

func decode[T any](t *testing.T, r reply) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("body %q is not the JSON expected: %v", r.body, err)
	}
	return v
}

// threeEvents holds every field, integer and string keys, a blank line, and a
// month (March 2019) that has no partition yet.
const threeEvents = `{"type":"page_view","model":"lead","key":42,"at":"2026-11-20T10:00:00Z","topic":"makeup","url":"https://shop.example.com/makeup","id":"web-1","properties":{"ref":"ad"}}

{"type":"click","model":"lead","key":"43","at":"2026-11-20T11:30:00+01:00","campaign":"restock_nurture","step":"week1","id":"web-2"}
{"type":"form_submit","model":"lead","key":"44","at":"2019-03-05T08:00:00Z","id":"web-3"}
`

func TestPostEventsStoresBatchOnce(t *testing.T) {
	b := setup(t, &Server{EventsToken: testToken})

	r := b.post(t, testToken, "application/x-ndjson", strings.NewReader(threeEvents))
	if r.code != http.StatusOK {
		t.Fatalf("status %d, body %s; want 200", r.code, r.body)
	}
	if got := decode[eventsResponse](t, r); got != (eventsResponse{Received: 3, Stored: 3, Duplicates: 0}) {
		t.Errorf("response %+v, want 3 received, 3 stored, 0 duplicates", got)
	}
	if n := b.stored.Load(); n != 1 {
		t.Errorf("EventsStored called %d times, want 1", n)
	}

	type row struct {
		At         time.Time `db:"occurred_at"`
		Model      string    `db:"model"`
		Key        string    `db:"contact_key"`
		Type       string    `db:"type"`
		Campaign   string    `db:"campaign"`
		Step       string    `db:"step"`
		Topic      string    `db:"topic"`
		URL        string    `db:"url"`
		ID         string    `db:"external_id"`
		Properties string    `db:"properties"`
		Partition  string    `db:"part"`
	}
	var rows []row
	if err := b.st.DB.Select(&rows, `SELECT occurred_at, model, contact_key, type, campaign, step, topic, url,
		external_id, properties::text AS properties, tableoid::regclass::text AS part
		FROM campaignctl.events ORDER BY external_id`); err != nil {
		t.Fatal(err)
	}
	want := []row{
		{time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), "lead", "42", "page_view", "", "", "makeup", "https://shop.example.com/makeup", "web-1", `{"ref": "ad"}`, "campaignctl.events_p202611"},
		{time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC), "lead", "43", "click", "restock_nurture", "week1", "", "", "web-2", `{}`, "campaignctl.events_p202611"},
		{time.Date(2019, 3, 5, 8, 0, 0, 0, time.UTC), "lead", "44", "form_submit", "", "", "", "", "web-3", `{}`, "campaignctl.events_p201903"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows stored, want %d: %+v", len(rows), len(want), rows)
	}
	for i := range want {
		got := rows[i]
		if !got.At.Equal(want[i].At) {
			t.Errorf("row %d: occurred_at %s, want %s", i, got.At, want[i].At)
		}
		got.At = want[i].At
		if got != want[i] {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, got, want[i])
		}
	}

	// The same batch again: every event is a duplicate, nothing is stored and
	// nothing wakes the engine.
	r = b.post(t, testToken, "application/x-ndjson", strings.NewReader(threeEvents))
	if r.code != http.StatusOK {
		t.Fatalf("re-post: status %d, body %s; want 200", r.code, r.body)
	}
	if got := decode[eventsResponse](t, r); got != (eventsResponse{Received: 3, Stored: 0, Duplicates: 3}) {
		t.Errorf("re-post: response %+v, want 3 received, 0 stored, 3 duplicates", got)
	}
	if n := b.rows(t); n != 3 {
		t.Errorf("after the re-post %d rows, want 3", n)
	}
	if n := b.stored.Load(); n != 1 {
		t.Errorf("after the re-post EventsStored called %d times, want still 1", n)
	}
	if strings.Contains(b.logs.String(), testToken) {
		t.Errorf("the log shows the token:\n%s", b.logs)
	}
}

// A client retrying with another "at" (its clock moved, or it corrected the
// time) re-sends the same event: the answer counts it as a duplicate, and the
// first copy stays as it was.
func TestPostEventsRetryWithAnotherTimeIsADuplicate(t *testing.T) {
	b := setup(t, &Server{EventsToken: testToken})
	first := `{"type":"purchase","model":"lead","key":"42","at":"2026-11-20T10:00:00Z","id":"order-7"}` + "\n"
	if got := decode[eventsResponse](t, b.post(t, testToken, "application/x-ndjson", strings.NewReader(first))); got != (eventsResponse{Received: 1, Stored: 1}) {
		t.Fatalf("first post: response %+v, want 1 received, 1 stored", got)
	}
	retry := `{"type":"purchase","model":"lead","key":"42","at":"2026-11-20T10:00:03Z","id":"order-7"}
{"type":"purchase","model":"lead","key":"42","at":"2026-10-30T23:00:00Z","id":"order-7"}
{"type":"purchase","model":"lead","key":"43","at":"2026-11-20T10:00:00Z","id":"order-8"}
{"type":"purchase","model":"lead","key":"43","at":"2026-11-20T10:05:00Z","id":"order-8"}
`
	r := b.post(t, testToken, "application/x-ndjson", strings.NewReader(retry))
	if r.code != http.StatusOK {
		t.Fatalf("retry: status %d, body %s; want 200", r.code, r.body)
	}
	if got := decode[eventsResponse](t, r); got != (eventsResponse{Received: 4, Stored: 1, Duplicates: 3}) {
		t.Errorf("retry: response %+v, want 4 received, 1 stored (order-8's first line), 3 duplicates", got)
	}
	var rows []string
	if err := b.st.DB.Select(&rows, `SELECT external_id || '@' || to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') FROM campaignctl.events ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rows) != "[order-7@2026-11-20T10:00:00 order-8@2026-11-20T10:00:00]" {
		t.Errorf("stored %v, want each order once, at its first time", rows)
	}
}

func TestPostEventsJSONArray(t *testing.T) {
	b := setup(t, &Server{EventsToken: testToken})

	body := `[
  {"type":"page_view","model":"lead","key":"42","at":"2026-11-20T10:00:00Z","id":"a"},
  {"type":"page_view","model":"lead","key":"43","at":"2026-11-20T10:00:00Z","id":"b"}
]`
	r := b.post(t, testToken, "application/json; charset=utf-8", strings.NewReader(body))
	if r.code != http.StatusOK {
		t.Fatalf("status %d, body %s; want 200", r.code, r.body)
	}
	if got := decode[eventsResponse](t, r); got != (eventsResponse{Received: 2, Stored: 2}) {
		t.Errorf("response %+v, want 2 received, 2 stored", got)
	}

	// On one line, only the element tells the bad objects apart.
	bad := `[{"type":"page_view","model":"lead","key":"1","at":"2026-11-20T10:00:00Z","id":"c"},{"type":"page_view","model":"lead","key":"2","at":"yesterday"},{"type":"Page View","model":"lead","key":"3","at":"2026-11-20T10:00:00Z"}]`
	r = b.post(t, testToken, "application/json", strings.NewReader(bad))
	if r.code != http.StatusBadRequest {
		t.Fatalf("bad array: status %d, body %s; want 400", r.code, r.body)
	}
	got := decode[eventsError](t, r).Errors
	if len(got) != 2 || got[0].Line != 1 || got[0].Element != 2 || got[0].Field != "at" ||
		got[1].Line != 1 || got[1].Element != 3 || got[1].Field != "type" {
		t.Errorf("errors %+v, want line 1 element 2 field at, then line 1 element 3 field type", got)
	}
	if n := b.rows(t); n != 2 {
		t.Errorf("%d rows after the bad array, want the 2 of the first post", n)
	}
}

func TestPostEventsBadLineStoresNothing(t *testing.T) {
	b := setup(t, &Server{EventsToken: testToken})

	body := `{"type":"page_view","model":"lead","key":"1","at":"2026-11-20T10:00:00Z","id":"x1"}
{"type":"page_view","model":"lead","key":"2","at":"2026-11-20T10:00:00Z","id":"x2"}
{"type":"page_view","model":"lead","key":"3","at":"20/11/2026","id":"x3"}
`
	r := b.post(t, testToken, "application/x-ndjson", strings.NewReader(body))
	if r.code != http.StatusBadRequest {
		t.Fatalf("status %d, body %s; want 400", r.code, r.body)
	}
	e := decode[eventsError](t, r)
	if len(e.Errors) != 1 || e.Errors[0].Line != 3 || e.Errors[0].Field != "at" || !strings.Contains(e.Errors[0].Message, `"20/11/2026"`) {
		t.Errorf("errors %+v, want one: line 3, field at, showing the value", e.Errors)
	}
	if !strings.Contains(e.Error, "nothing was stored") || !strings.Contains(e.Error, "body:3:") {
		t.Errorf("error %q should say nothing was stored and point at body:3", e.Error)
	}
	if n := b.rows(t); n != 0 {
		t.Errorf("%d rows stored, want 0: one bad line rejects the batch", n)
	}
	if n := b.stored.Load(); n != 0 {
		t.Errorf("EventsStored called %d times, want 0", n)
	}
}

func TestPostEventsRequiresToken(t *testing.T) {
	b := setup(t, &Server{EventsToken: testToken})

	for _, tc := range []struct {
		name, auth, challenge string
	}{
		{"no header", "", `Bearer realm="campaignctl"`},
		{"wrong token", "Bearer " + strings.ToUpper(testToken), `Bearer realm="campaignctl", error="invalid_token"`},
		{"token prefix", "Bearer " + testToken[:16], `Bearer realm="campaignctl", error="invalid_token"`},
		{"basic scheme", "Basic " + testToken, `Bearer realm="campaignctl"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", b.url, strings.NewReader(threeEvents))
			req.Header.Set("Content-Type", "application/x-ndjson")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, body %s; want 401", res.StatusCode, body)
			}
			if got := res.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			if strings.Contains(string(body), testToken[:16]) {
				t.Errorf("the body shows the token: %s", body)
			}
		})
	}
	if n := b.rows(t); n != 0 {
		t.Errorf("%d rows stored without a valid token, want 0", n)
	}
	if strings.Contains(b.logs.String(), testToken[:16]) {
		t.Errorf("the log shows the token:\n%s", b.logs)
	}
}

func TestPostEventsOffWithoutToken(t *testing.T) {
	b := setup(t, &Server{})

	for _, token := range []string{"", testToken} {
		r := b.post(t, token, "application/x-ndjson", strings.NewReader(threeEvents))
		if r.code != http.StatusNotFound {
			t.Errorf("token %q: status %d, want 404", token, r.code)
		}
		if msg := decode[eventsError](t, r).Error; !strings.Contains(msg, "set CAMPAIGNCTL_EVENTS_TOKEN") {
			t.Errorf("error %q should say how to enable the route", msg)
		}
	}
	if n := b.rows(t); n != 0 {
		t.Errorf("%d rows stored with the route off, want 0", n)
	}
}

// unsized hides a reader's length, so the client sends it chunked and only
// http.MaxBytesReader can stop it.
type unsized struct{ io.Reader }

func TestPostEventsLimits(t *testing.T) {
	b := setup(t, &Server{EventsToken: testToken, EventsMaxBytes: 1024, EventsMaxEvents: 2})

	event := func(i int) string {
		return fmt.Sprintf(`{"type":"page_view","model":"lead","key":"%d","at":"2026-11-20T10:00:00Z","id":"l-%d"}`+"\n", i, i)
	}
	// One event, so the body limit is met before the event limit.
	big := fmt.Sprintf(`{"type":"page_view","model":"lead","key":"1","at":"2026-11-20T10:00:00Z","properties":{"pad":%q}}`, strings.Repeat("x", 1024))
	three := event(1) + event(2) + event(3)
	for _, tc := range []struct {
		name, contentType string
		body              io.Reader
		want              string
	}{
		{"body over the limit, Content-Length", "application/x-ndjson", strings.NewReader(big), "larger than 1024 bytes"},
		{"body over the limit, chunked", "application/x-ndjson", unsized{strings.NewReader(big)}, "larger than 1024 bytes"},
		{"array over the limit, chunked", "application/json", unsized{strings.NewReader("[" + big + "]")}, "larger than 1024 bytes"},
		{"more events than the limit", "application/x-ndjson", strings.NewReader(three), "more than 2 events"},
		{"more elements than the limit", "application/json", strings.NewReader("[" + strings.ReplaceAll(strings.TrimSpace(three), "\n", ",") + "]"), "more than 2 events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.post(t, testToken, tc.contentType, tc.body)
			if r.code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, body %s; want 413", r.code, r.body)
			}
			if msg := decode[eventsError](t, r).Error; !strings.Contains(msg, tc.want) {
				t.Errorf("error %q should contain %q", msg, tc.want)
			}
		})
	}
	if n := b.rows(t); n != 0 {
		t.Errorf("%d rows stored from requests over a limit, want 0", n)
	}

	// At the limits exactly, the batch is stored.
	r := b.post(t, testToken, "application/x-ndjson", strings.NewReader(event(1)+event(2)))
	if r.code != http.StatusOK {
		t.Fatalf("two events: status %d, body %s; want 200", r.code, r.body)
	}
}

func TestPostEventsContentType(t *testing.T) {
	b := setup(t, &Server{EventsToken: testToken})
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded"} {
		r := b.post(t, testToken, ct, strings.NewReader(threeEvents))
		if r.code != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: status %d, want 415", ct, r.code)
			continue
		}
		if msg := decode[eventsError](t, r).Error; !strings.Contains(msg, "application/x-ndjson") || !strings.Contains(msg, "application/json") {
			t.Errorf("Content-Type %q: error %q should name the accepted types", ct, msg)
		}
	}
	r := b.post(t, testToken, "application/x-ndjson", strings.NewReader("\n\n"))
	if r.code != http.StatusBadRequest {
		t.Errorf("empty batch: status %d, want 400", r.code)
	}
}

// failingStore is an EventStore whose every call fails.
type failingStore struct{ calls atomic.Int32 }

var _ EventStore = (*failingStore)(nil)

func (f *failingStore) EnsureEventPartitions(context.Context, time.Time, time.Time) ([]string, error) {
	f.calls.Add(1)
	return nil, errors.New("connection refused")
}

func (f *failingStore) InsertEvents(context.Context, []store.Event) (int64, error) {
	f.calls.Add(1)
	return 0, errors.New("connection refused")
}

// TestPostEventsStoreFails needs no database: the store is a fake that fails.
func TestPostEventsStoreFails(t *testing.T) {
	fs := &failingStore{}
	hooked := false
	srv := &Server{Events: fs, EventsToken: testToken, Clock: clock.Real{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), EventsStored: func() { hooked = true }}
	req := httptest.NewRequest("POST", "/v1/events", strings.NewReader(threeEvents))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/x-ndjson")
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, body %s; want 503", w.Code, w.Body)
	}
	if fs.calls.Load() == 0 {
		t.Error("the store was not called")
	}
	if hooked {
		t.Error("EventsStored was called after a failed store")
	}
	if !strings.Contains(w.Body.String(), "send the same batch again") {
		t.Errorf("body %s should say to retry", w.Body)
	}
}

func TestCheckEventsToken(t *testing.T) {
	for _, tc := range []struct {
		tok  string
		want string // in the error; "" for none
	}{
		{testToken, ""},
		{"AbC+/=-._~0123456789", ""},
		{"short", "5 characters long"},
		{testToken + "\n", "position 33 (a trailing newline?)"},
		{"0123456789 abcdef", "position 11"},
	} {
		err := CheckEventsToken(tc.tok)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckEventsToken(%q) = %v, want nil", tc.tok, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckEventsToken(%q) = %v, want an error containing %q", tc.tok, err, tc.want)
		case err != nil && strings.Contains(err.Error(), strings.TrimSpace(tc.tok)):
			t.Errorf("CheckEventsToken(%q) shows the token: %v", tc.tok, err)
		}
	}
}

// A trigger that declares cart_abandoned's value a float makes the API refuse
// an event whose value is a JSON string: the response names the line, the
// property and its value, and nothing of the batch is stored. Events of
// another model or type, and a value left out or null, are accepted.
func TestPostEventsRefusesWronglyTypedDeclaredProperty(t *testing.T) {
	p := &plan.Plan{Workflows: []plan.Workflow{{Name: "cart_rescue", Model: "customer", Trigger: plan.Trigger{
		Event: "cart_abandoned", Properties: []plan.EventProperty{{Name: "value", Type: plan.TypeFloat}, {Name: "skus", Type: plan.TypeStringList}}}}}}
	b := setup(t, &Server{EventsToken: testToken, EventSchema: func(context.Context) (events.Schema, error) { return events.SchemaOf(p), nil }})

	bad := `{"type":"cart_abandoned","model":"customer","key":"1","at":"2026-11-20T10:00:00Z","properties":{"value":25.5}}
{"type":"cart_abandoned","model":"customer","key":"2","at":"2026-11-20T10:00:00Z","properties":{"value":"thirty","skus":["a",3]}}
`
	r := b.post(t, testToken, "application/x-ndjson", strings.NewReader(bad))
	if r.code != http.StatusBadRequest {
		t.Fatalf("status %d, body %s; want 400", r.code, r.body)
	}
	got := decode[eventsError](t, r)
	want := []eventProblem{
		{Line: 2, Field: "properties.skus", Message: `want an array of strings, e.g. ["a", "b"], got an array ["a",3] (workflow "cart_rescue" declares event.skus as list(string) for cart_abandoned events)`},
		{Line: 2, Field: "properties.value", Message: `want a JSON number, e.g. 25.5, got a string "thirty" (workflow "cart_rescue" declares event.value as float for cart_abandoned events)`},
	}
	if fmt.Sprint(got.Errors) != fmt.Sprint(want) {
		t.Errorf("problems:\n%+v\nwant:\n%+v", got.Errors, want)
	}
	if n := b.rows(t); n != 0 {
		t.Errorf("%d events stored after a refused batch, want 0", n)
	}

	good := `{"type":"cart_abandoned","model":"customer","key":"1","at":"2026-11-20T10:00:00Z","properties":{"value":25,"skus":["a"]}}
{"type":"cart_abandoned","model":"customer","key":"2","at":"2026-11-20T10:00:00Z","properties":{"value":null}}
{"type":"cart_abandoned","model":"customer","key":"3","at":"2026-11-20T10:00:00Z"}
{"type":"cart_abandoned","model":"lead","key":"4","at":"2026-11-20T10:00:00Z","properties":{"value":"thirty"}}
{"type":"purchase","model":"customer","key":"5","at":"2026-11-20T10:00:00Z","properties":{"value":"thirty"}}
`
	r = b.post(t, testToken, "application/x-ndjson", strings.NewReader(good))
	if r.code != http.StatusOK {
		t.Fatalf("status %d, body %s; want 200", r.code, r.body)
	}
	if n := b.rows(t); n != 5 {
		t.Errorf("%d events stored, want 5", n)
	}
}

// quietPartition creates month's event partition with autovacuum off, so
// only the daemon can refresh its statistics, and returns a reader of what
// they say of its size (reltuples; -1 until analyzed).
func quietPartition(t *testing.T, st *store.Store, month time.Time) func() float64 {
	t.Helper()
	if _, err := st.EnsureEventPartitions(context.Background(), month, month); err != nil {
		t.Fatal(err)
	}
	return storetest.QuietTable(t, st.DB, "campaignctl."+store.EventPartitionName(month))
}

// TestPostEventsRefreshesPartitionStatistics: once a daemon stored
// AnalyzeEventsAfter events through the API, the partitions they went to are
// analyzed in the background, not at autovacuum's next round (turned off
// here, so only the daemon can do it).
func TestPostEventsRefreshesPartitionStatistics(t *testing.T) {
	b := setup(t, &Server{EventsToken: testToken})
	month := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	reltuples := quietPartition(t, b.st, month)
	post := func(first, n int) {
		t.Helper()
		var body strings.Builder
		for i := first; i < first+n; i++ {
			fmt.Fprintf(&body, `{"type":"page_view","model":"lead","key":"%d","at":"%s","id":"e-%d"}`+"\n", i, month.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i)
		}
		if r := b.post(t, testToken, "application/x-ndjson", strings.NewReader(body.String())); r.code != http.StatusOK {
			t.Fatalf("status %d, body %s", r.code, r.body)
		}
	}

	post(0, int(store.AnalyzeEventsAfter)-1)
	time.Sleep(200 * time.Millisecond)
	if got := reltuples(); got != -1 {
		t.Fatalf("reltuples %v after %d events, want -1 (not analyzed below the threshold)", got, store.AnalyzeEventsAfter-1)
	}
	post(int(store.AnalyzeEventsAfter), 10)
	storetest.WaitReltuples(t, reltuples, float64(store.AnalyzeEventsAfter)+9, fmt.Sprintf("%d events were posted", store.AnalyzeEventsAfter+9))
}

// Properties that are valid JSON but that Postgres's jsonb refuses (a lone
// UTF-16 surrogate escape, a number beyond numeric's range) are the client's
// mistake: a 400 naming the line and the field, not a 503 asking for a retry
// that would fail the same way forever.
func TestPostEventsRefusesPropertiesPostgresCannotStore(t *testing.T) {
	b := setup(t, &Server{EventsToken: testToken})
	for _, tc := range []struct{ name, props, want string }{
		{"lone high surrogate", `{"name":"caf\ud800"}`, `\ud800`},
		{"lone low surrogate", `{"tags":["a","\uDC01"]}`, `\uDC01`},
		{"huge number", `{"score":1e131072}`, "1e131072"},
		{"tiny number", `{"score":1e-16384}`, "1e-16384"},
		{"invalid UTF-8", "{\"name\":\"caf\xe9\"}", "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"type":"page_view","model":"lead","key":"1","at":"2026-11-20T10:00:00Z","id":"ok-1"}` + "\n\n" +
				`{"type":"page_view","model":"lead","key":"2","at":"2026-11-20T10:00:00Z","id":"bad-1","properties":` + tc.props + "}\n"
			r := b.post(t, testToken, "application/x-ndjson", strings.NewReader(body))
			if r.code != http.StatusBadRequest {
				t.Fatalf("status %d, body %s; want 400", r.code, r.body)
			}
			e := decode[eventsError](t, r)
			if len(e.Errors) != 1 || e.Errors[0].Line != 3 || e.Errors[0].Field != "properties" || !strings.Contains(e.Errors[0].Message, tc.want) {
				t.Errorf("errors %+v, want one: line 3, field properties, showing %s", e.Errors, tc.want)
			}
			if n := b.rows(t); n != 0 {
				t.Errorf("%d rows stored, want 0", n)
			}
		})
	}
	// The limits themselves are stored.
	body := `{"type":"page_view","model":"lead","key":"2","at":"2026-11-20T10:00:00Z","id":"edge","properties":{"big":-9.9e131071,"small":1.5e-16382,"zero":0e999999,"pair":"\ud83d\ude00"}}` + "\n"
	if r := b.post(t, testToken, "application/x-ndjson", strings.NewReader(body)); r.code != http.StatusOK {
		t.Fatalf("properties at the limits: status %d, body %s; want 200", r.code, r.body)
	}
}

// Broken or hostile bodies get a 400 naming the line, never a 500, and store
// nothing: JSON cut short in the middle of a stream (the valid lines before it
// are not stored either), nesting deeper than the decoder follows, a line that
// is not an object.
func TestPostEventsBrokenBodiesNameTheLine(t *testing.T) {
	b := setup(t, &Server{EventsToken: testToken})
	good := func(i int) string {
		return fmt.Sprintf(`{"type":"page_view","model":"lead","key":"%d","at":"2026-11-20T10:00:00Z","id":"g-%d"}`, i, i)
	}
	deep := `{"type":"page_view","model":"lead","key":"9","at":"2026-11-20T10:00:00Z","properties":{"a":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "}}"
	for _, tc := range []struct {
		name, body string
		line       int64
		want       string
	}{
		{"cut short", good(1) + "\n" + good(2) + "\n" + `{"type":"page_view","model":"lead","key":"3","at":"2026-` + "\n" + good(4) + "\n", 3, "not valid JSON"},
		{"garbage", good(1) + "\n\n" + "<html>oops</html>\n" + good(2) + "\n", 3, "want one JSON object per line"},
		{"too deep", good(1) + "\n" + deep + "\n", 2, "not valid JSON"},
		{"two objects on a line", good(1) + good(2) + "\n", 1, "more after the JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.post(t, testToken, "application/x-ndjson", strings.NewReader(tc.body))
			if r.code != http.StatusBadRequest {
				t.Fatalf("status %d, body %.300s; want 400", r.code, r.body)
			}
			e := decode[eventsError](t, r)
			if len(e.Errors) != 1 || e.Errors[0].Line != tc.line || !strings.Contains(e.Errors[0].Message, tc.want) {
				t.Errorf("errors %.500v, want one on line %d saying %q", e.Errors, tc.line, tc.want)
			}
			if len(r.body) > 4000 {
				t.Errorf("a %d-byte answer: the message should show the value cut short", len(r.body))
			}
			if n := b.rows(t); n != 0 {
				t.Errorf("%d rows stored, want 0", n)
			}
		})
	}
}

// A body dripped a byte at a time (slowloris) is cut off by Serve's read
// timeout (30 s), never held open, and stores nothing; other clients are
// served meanwhile.
func TestPostEventsDrippedBodyIsCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("takes Serve's 30 s read timeout")
	}
	b := setup(t, &Server{EventsToken: testToken})
	srv := &Server{EventsToken: testToken, Events: b.st, DB: b.st.DB, Clock: clock.Real{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, l, srv.Handler()) }()
	defer func() { cancel(); <-served }()

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line := `{"type":"page_view","model":"lead","key":"1","at":"2026-11-20T10:00:00Z","id":"drip-1"}` + "\n"
	fmt.Fprintf(c, "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n", testToken, 100*len(line))
	start := time.Now()
	cut := make(chan time.Duration, 1)
	go func() {
		io.Copy(io.Discard, c) // returns when the server closes the connection
		cut <- time.Since(start)
	}()
	body := strings.Repeat(line, 100)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case took := <-cut:
			if took > 35*time.Second {
				t.Errorf("the dripping client was held %s, want about 30 s", took.Round(time.Second))
			}
			// The same event from another client is new: nothing of the
			// dripped prefix was stored.
			r := b.post(t, testToken, "application/x-ndjson", strings.NewReader(line))
			if r.code != http.StatusOK || decode[eventsResponse](t, r).Stored != 1 {
				t.Errorf("another client after the drip: %d %s; want 200 and the event stored", r.code, r.body)
			}
			return
		case <-tick.C:
			if time.Since(start) > 45*time.Second {
				t.Fatal("the dripping client is still connected after 45 s")
			}
			if i < len(body) {
				c.Write([]byte{body[i]})
			}
		}
	}
}
