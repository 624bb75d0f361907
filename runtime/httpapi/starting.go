package httpapi

import (
	"net/http"
	"sync/atomic"
)

// Switch serves a handler that can be replaced while it serves: the daemon
// listens as soon as it starts, answering its probes while it waits for the
// database (Starting), and switches to its routes once the store is open.
// A probe that cannot connect reads like a dead process; one that gets 503
// knows the process lives and is not ready.
type Switch struct{ h atomic.Pointer[http.Handler] }

// NewSwitch returns a Switch serving h.
func NewSwitch(h http.Handler) *Switch {
	s := &Switch{}
	s.Set(h)
	return s
}

// Set makes every request from now on go to h.
func (s *Switch) Set(h http.Handler) { s.h.Store(&h) }

func (s *Switch) ServeHTTP(w http.ResponseWriter, r *http.Request) { (*s.h.Load()).ServeHTTP(w, r) }

// Starting is what the daemon answers before its store is open: alive
// (/healthz 200, saying so), not ready (/readyz 503), and 503 with
// Retry-After for everything else, links included, so a reader is asked to
// come back rather than told the link is broken.
func Starting() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("starting: waiting for the database\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "starting: the database is not reachable yet", http.StatusServiceUnavailable)
	})
	return mux
}
