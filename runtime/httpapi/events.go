package httpapi

// POST /v1/events: the CRM and the web site post contact events to the running
// daemon, in the line format of `campaignctl events import` (package events), and
// get them stored all or nothing.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	"github.com/campaignctl/campaignctl/internal/bearer"
	"github.com/campaignctl/campaignctl/runtime/events"
	"github.com/campaignctl/campaignctl/runtime/store"
)

const (
	// DefaultEventsMaxBytes bounds a POST /v1/events body when
	// Server.EventsMaxBytes is 0.
	DefaultEventsMaxBytes = 1 << 20
	// DefaultEventsMaxEvents bounds the events of one POST /v1/events when
	// Server.EventsMaxEvents is 0.
	DefaultEventsMaxEvents = 1000
	// EventsTokenEnv names the environment variable holding the bearer token.
	EventsTokenEnv = "CAMPAIGNCTL_EVENTS_TOKEN"
)

// EventStore stores contact events; *store.Store implements it.
type EventStore interface {
	// EnsureEventPartitions creates the monthly partitions from from's month to
	// to's (UTC) that are missing.
	EnsureEventPartitions(ctx context.Context, from, to time.Time) (created []string, err error)
	// InsertEvents stores events in one transaction, skipping those whose
	// (model, external_id) is stored already, whatever their occurred_at, and
	// returns how many were new.
	InsertEvents(ctx context.Context, events []store.Event) (inserted int64, err error)
}

var _ EventStore = (*store.Store)(nil)

// CheckEventsToken says whether tok can serve as the POST /v1/events bearer
// token (internal/bearer: at least 16 characters of RFC 6750's b64token
// alphabet, so it passes an Authorization header unchanged). The error never
// shows the token.
func CheckEventsToken(tok string) error { return bearer.Check(EventsTokenEnv, tok) }

// eventsResponse is the body of a successful POST /v1/events.
type eventsResponse struct {
	Received int   `json:"received"` // events in the request
	Stored   int64 `json:"stored"`   // events new to the table
	// Duplicates are events not stored because an event of the same model and
	// id was stored first (before, or earlier in this batch), whatever their
	// "at": the first copy is kept unchanged.
	Duplicates int64 `json:"duplicates"`
}

// eventsError is the body of every failed POST /v1/events.
type eventsError struct {
	Error  string         `json:"error"`
	Errors []eventProblem `json:"errors,omitempty"`
}

// eventProblem is one problem of one line: Field is empty when the line as a
// whole is wrong (not JSON, not an object).
type eventProblem struct {
	Line    int64  `json:"line"`
	Element int    `json:"element,omitempty"` // 1-based, for a JSON array body
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // the body is read by programs and people, not browsers
	enc.Encode(v)
}

func writeEventsError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, eventsError{Error: fmt.Sprintf(format, args...)})
}

// postEvents handles POST /v1/events.
func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) {
	if s.EventsToken == "" || s.Events == nil {
		writeEventsError(w, http.StatusNotFound, "POST /v1/events is off on this daemon: set %s to a random token (e.g. `openssl rand -hex 32`) in the environment of `campaignctl serve` and restart it", EventsTokenEnv)
		return
	}
	tok, ok := bearer.FromHeader(r)
	if !ok || !bearer.Matches(tok, s.EventsToken) {
		challenge := `Bearer realm="campaignctl"`
		msg := "missing bearer token: send the header Authorization: Bearer <the daemon's " + EventsTokenEnv + ">"
		if ok {
			challenge += `, error="invalid_token"`
			msg = "the bearer token is not this daemon's " + EventsTokenEnv
		}
		// The caller's address, as the rate limit counts it (behind a
		// trusted proxy, the client's, not the proxy's): someone probing
		// the operator's API, never a contact (docs/security.md).
		s.Log.Info("POST /v1/events refused: bad or missing token", "client", s.clientIP(r))
		w.Header().Set("WWW-Authenticate", challenge)
		writeEventsError(w, http.StatusUnauthorized, "%s", msg)
		return
	}

	var schema events.Schema
	if s.EventSchema != nil {
		var err error
		ctx, cancel := context.WithTimeout(r.Context(), s.storeTimeout())
		schema, err = s.EventSchema(ctx)
		cancel()
		if err != nil {
			s.Log.Error("POST /v1/events: reading the applied plan's event properties", "err", err)
			w.Header().Set("Retry-After", retryAfterSeconds)
			writeEventsError(w, http.StatusServiceUnavailable, "the daemon cannot read the applied plan's event declarations right now; nothing was stored, send the batch again")
			return
		}
	}
	parse := schema.ParseBatch
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-ndjson", "application/ndjson":
	case "application/json":
		parse = schema.ParseJSONArray
	default:
		writeEventsError(w, http.StatusUnsupportedMediaType, "Content-Type %q is not accepted: send one event object per line with Content-Type: application/x-ndjson, or a JSON array of them with Content-Type: application/json", r.Header.Get("Content-Type"))
		return
	}

	maxBytes, maxEvents := s.EventsMaxBytes, s.EventsMaxEvents
	if maxBytes <= 0 {
		maxBytes = DefaultEventsMaxBytes
	}
	if maxEvents <= 0 {
		maxEvents = DefaultEventsMaxEvents
	}
	tooBig := func() {
		writeEventsError(w, http.StatusRequestEntityTooLarge, "the body is larger than %d bytes, the limit of one request; split the batch", maxBytes)
	}
	if r.ContentLength > maxBytes {
		tooBig()
		return
	}
	evs, err := parse(http.MaxBytesReader(w, r.Body, maxBytes), "body", maxEvents)
	var (
		tooLarge *http.MaxBytesError
		batch    *events.BatchError
	)
	switch {
	case errors.As(err, &tooLarge):
		tooBig()
		return
	case errors.Is(err, events.ErrTooManyEvents):
		writeEventsError(w, http.StatusRequestEntityTooLarge, "more than %d events in one request, the limit; split the batch", maxEvents)
		return
	case errors.As(err, &batch):
		writeJSON(w, http.StatusBadRequest, batchErrorResponse(batch))
		return
	case err != nil:
		writeEventsError(w, http.StatusBadRequest, "%v; nothing was stored", err)
		return
	case len(evs) == 0:
		writeEventsError(w, http.StatusBadRequest, "the body holds no events; send one event object per line, e.g. {\"type\":\"page_view\",\"model\":\"lead\",\"key\":\"42\",\"at\":\"2026-11-20T10:00:00Z\"}")
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), s.storeTimeout())
	defer cancel()
	stored, err := s.storeEvents(ctx, evs)
	if err != nil {
		s.Log.Error("POST /v1/events: storing failed", "events", len(evs), "err", err)
		w.Header().Set("Retry-After", retryAfterSeconds)
		writeEventsError(w, http.StatusServiceUnavailable, "could not store the events, nothing was stored; send the same batch again later (events with an \"id\" are stored once)")
		return
	}
	if stored > 0 && s.EventsStored != nil {
		s.EventsStored()
	}
	writeJSON(w, http.StatusOK, eventsResponse{Received: len(evs), Stored: stored, Duplicates: int64(len(evs)) - stored})
}

// storeEvents does what `events import` does: it creates the partitions of the
// months the events fall in, then stores them. Each partition is created in its
// own transaction before the insert, so a request never asks for the partitioning
// lock while it holds a lock on the table (the deadlock two imports can meet).
func (s *Server) storeEvents(ctx context.Context, evs []store.Event) (int64, error) {
	now := time.Now()
	if s.Clock != nil {
		now = s.Clock.Now()
	}
	for _, m := range events.PartitionMonths(evs, now) {
		if _, err := s.Events.EnsureEventPartitions(ctx, m, m); err != nil {
			return 0, err
		}
	}
	return s.Events.InsertEvents(ctx, evs)
}

// batchErrorResponse lists one problem per field of every bad line.
func batchErrorResponse(be *events.BatchError) eventsError {
	var out eventsError
	for _, le := range be.Lines {
		for _, err := range splitJoined(le.Err) {
			p := eventProblem{Line: le.Line, Element: le.Element, Message: err.Error()}
			var fe *events.FieldError
			if errors.As(err, &fe) {
				p.Field, p.Message = fe.Field, fe.Msg
			}
			out.Errors = append(out.Errors, p)
		}
	}
	what := "1 bad line, nothing was stored; fix it"
	if n := len(be.Lines); be.Truncated {
		what = fmt.Sprintf("at least %d bad lines (the rest of the body was not checked), nothing was stored; fix them", n)
	} else if n > 1 {
		what = fmt.Sprintf("%d bad lines, nothing was stored; fix them", n)
	}
	first := *be.Lines[0]
	first.Err = splitJoined(first.Err)[0]
	out.Error = fmt.Sprintf("%s and send the whole batch again (first: %v)", what, &first)
	return out
}

// splitJoined returns the errors of an errors.Join, or err alone.
func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
