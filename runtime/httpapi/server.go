// Package httpapi is the daemon's HTTP surface: /metrics for Prometheus, /healthz
// (the process is alive), /readyz (the database answers) and the unsubscribe page
// /u/<token> (GET shows the preference center or a confirmation form, POST saves
// the choices or unsubscribes: RFC 8058 one-click), the double opt-in page
// /confirm/<token> (consent.go)
// and, when a bearer token is configured, POST /v1/events (events.go), and the
// open pixel /o/<token> and click redirect /c/<token> (tracking.go), and, when
// given one, the status page's handler under /ui/.
//
// It holds no business logic: unsubscribing is one call to the store, and events
// are parsed and checked by package events.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/events"
	"github.com/campaignctl/campaignctl/runtime/links"
)

// Suppressor records unsubscribes.
type Suppressor interface {
	Suppress(ctx context.Context, email, reason, campaign string, now time.Time) error
}

// Pinger checks the database.
type Pinger interface {
	PingContext(ctx context.Context) error
}

// Server builds the daemon's handler.
type Server struct {
	Gatherer   prometheus.Gatherer
	DB         Pinger
	Suppressor Suppressor
	Links      *links.Signer
	Clock      clock.Clock
	Log        *slog.Logger
	// Relay, if set, reports the SMTP relay's state ("ok", "unavailable",
	// "refused") and the last failure, shown by /healthz.
	Relay func() (state, reason string)

	// Events stores what POST /v1/events receives. The route answers 404 unless
	// both Events and EventsToken are set.
	Events EventStore
	// EventsToken is the bearer token POST /v1/events requires (see
	// CheckEventsToken); it is never logged.
	EventsToken string
	// EventsMaxBytes bounds a request body (0: DefaultEventsMaxBytes, 1 MiB).
	EventsMaxBytes int64
	// EventsMaxEvents bounds the events of one request (0: DefaultEventsMaxEvents).
	EventsMaxEvents int
	// EventSchema, if set, gives the applied plan's declared event
	// properties (events.SchemaOf): an event whose declared property has
	// another JSON type is refused with the line and the property named.
	EventSchema func(ctx context.Context) (events.Schema, error)
	// EventsStored, if set, is called after a request stored new events, so the
	// triggers that read them run now rather than at the next interval.
	EventsStored func()

	// Tracker records opens (GET /o/<token>) and clicks (GET /c/<token>),
	// tracking.go; without it (or Links) those routes answer 404.
	Tracker *Tracker

	// Limits bound what one client may ask of the public endpoints (limit.go).
	Limits Limits

	// UI, if set, serves the read-only status page under /ui/ (package
	// statuspage, which checks its own token); without it /ui/ answers 404.
	UI http.Handler

	// Consent, if set, backs the preference center on /u/<token> and the
	// double opt-in confirmation page /confirm/<token> (consent.go); without
	// it /u/ is the plain unsubscribe page and /confirm/ answers 404.
	Consent ConsentStore
	// Subscriptions lists the applied plan's subscription types, which the
	// preference center offers (consent.go).
	Subscriptions func(ctx context.Context) ([]string, error)
	// PreferenceDefaults, if set, says for each subscription type of the
	// contact's model whether its mail goes to the contact when the ledger
	// has no entry for it (engine.PreferenceDefaults); without it, or for a
	// type it does not name, the box is ticked (opt_out).
	PreferenceDefaults func(ctx context.Context, model, contactKey string) (map[string]bool, error)

	// StoreTimeout bounds the database work of one request to /u/, /confirm/
	// and POST /v1/events (0: DefaultStoreTimeout): a database that does not
	// answer (a lock held, a stalled server) gets the client a 503 with a
	// Retry-After, not a connection held until it gives up.
	StoreTimeout time.Duration
}

// DefaultStoreTimeout is the Server's StoreTimeout when it is 0, below
// http.Server's WriteTimeout (see Serve) so the client still gets the answer.
const DefaultStoreTimeout = 20 * time.Second

func (s *Server) storeTimeout() time.Duration {
	if s.StoreTimeout > 0 {
		return s.StoreTimeout
	}
	return DefaultStoreTimeout
}

// bounded runs h with a request context that ends after StoreTimeout.
func (s *Server) bounded(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.storeTimeout())
		defer cancel()
		h(w, r.WithContext(ctx))
	}
}

// Handler returns every route, for one listener: the operator's (/metrics,
// /healthz, /readyz) as they are, the public ones (links, events, the status
// page) behind the per-client rate limit.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.internalRoutes(mux)
	mux.Handle("/", s.PublicHandler())
	return mux
}

// PublicHandler returns the routes the internet reaches — unsubscribe, open
// and click links, POST /v1/events and the status page — behind the
// per-client rate limit, without /metrics, /healthz and /readyz: serve
// --metrics-listen puts those on a listener of their own (InternalHandler).
func (s *Server) PublicHandler() http.Handler {
	mux := http.NewServeMux()
	s.publicRoutes(mux)
	return newLimiter(s.Limits).wrap(mux)
}

// InternalHandler returns the operator's routes only: /metrics, /healthz and
// /readyz.
func (s *Server) InternalHandler() http.Handler {
	mux := http.NewServeMux()
	s.internalRoutes(mux)
	return mux
}

func (s *Server) internalRoutes(mux *http.ServeMux) {
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{}))
	// /healthz stays 200 while the process works, even when the relay does not:
	// restarting the daemon would not fix the relay. The body says "degraded"
	// with the reason, for people and probes that read it.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.Relay != nil {
			if state, reason := s.Relay(); state != "ok" {
				fmt.Fprintf(w, "degraded: SMTP relay %s: %s\n", state, reason)
				return
			}
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.DB.PingContext(ctx); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
}

func (s *Server) publicRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /u/{token}", s.bounded(s.unsubscribePage))
	mux.HandleFunc("POST /u/{token}", s.bounded(s.unsubscribe))
	mux.HandleFunc("GET /confirm/{token}", s.bounded(s.confirmPage))
	mux.HandleFunc("POST /confirm/{token}", s.bounded(s.confirm))
	mux.HandleFunc("POST /v1/events", s.postEvents)
	s.trackingRoutes(mux)
	if s.UI != nil {
		mux.Handle("/ui/", s.UI)
		mux.Handle("/ui", s.UI)
	}
}

var pageTpl = template.Must(template.New("u").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body><h1>{{.Title}}</h1><p>{{.Body}}</p>
{{if .Form}}<form method="post"><button type="submit">Unsubscribe {{.Email}}</button></form>{{end}}
</body></html>
`))

type page struct {
	Title, Body, Email string
	Form               bool
}

func (s *Server) claims(w http.ResponseWriter, r *http.Request) (links.Claims, bool) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if s.Links == nil {
		http.Error(w, "unsubscribe links are not configured", http.StatusNotFound)
		return links.Claims{}, false
	}
	c, err := s.Links.Verify(r.PathValue("token"), links.PurposeUnsubscribe)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		pageTpl.Execute(w, page{Title: "Link not valid", Body: "This unsubscribe link is damaged or was not issued by us. Use the link from the most recent email."})
		return c, false
	}
	return c, true
}

func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	c, ok := s.claims(w, r)
	if !ok {
		return
	}
	if s.Consent != nil && s.Subscriptions != nil {
		s.preferencePage(w, r, c, "")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pageTpl.Execute(w, page{Title: "Unsubscribe", Body: "Stop receiving marketing email at this address?", Email: c.Email, Form: true})
}

// unsubscribe handles the forms of the page and the RFC 8058 one-click POST,
// which carries List-Unsubscribe=One-Click in its body; the token alone says
// who. One-click withdraws the message's subscription type when its link
// names one (consent.go), else unsubscribes from all marketing mail; the
// preference center's "save" records its choices; anything else (the
// "unsubscribe from all" button, the plain page's form) unsubscribes from all.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	c, ok := s.claims(w, r)
	if !ok {
		return
	}
	if s.Consent != nil && s.preferencePost(w, r, c) {
		return
	}
	if err := s.Suppressor.Suppress(r.Context(), c.Email, "unsubscribed", c.Campaign, s.Clock.Now()); err != nil {
		s.Log.Error("unsubscribe failed", "campaign", c.Campaign, "err", err)
		retryLater(w, "could not record the unsubscribe, please retry")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pageTpl.Execute(w, page{Title: "Unsubscribed", Body: "You will not receive marketing email from us at this address any more."})
}

// ListenAndServe serves h on addr until ctx is done.
func ListenAndServe(ctx context.Context, addr string, h http.Handler) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return Serve(ctx, l, h)
}

// Serve serves h on l until ctx is done. Listening first lets the caller log
// the real address (a port chosen with :0). ReadTimeout bounds reading a whole
// request, body included: a slow client cannot hold a POST /v1/events open.
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: maxHeaderBytes}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

// retryAfterSeconds is the Retry-After of a 503 that a person's request, an
// unsubscribe above all, or a POST /v1/events gets while the database cannot
// record it: a mail provider's one-click POST, a reader's browser or the CRM
// may try again.
const retryAfterSeconds = "60"

// retryLater answers 503 with msg and a Retry-After.
func retryLater(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", retryAfterSeconds)
	http.Error(w, msg, http.StatusServiceUnavailable)
}
