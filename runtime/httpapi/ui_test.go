package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestUIMountedOnlyWhenSet: /ui/ is the UI handler's when the daemon has one
// (every path under it, and /ui itself), a 404 otherwise; the other routes
// are untouched.
func TestUIMountedOnlyWhenSet(t *testing.T) {
	get := func(h http.Handler, path string) (int, string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(w.Result().Body)
		return w.Code, string(b)
	}
	off := (&Server{Gatherer: prometheus.NewRegistry()}).Handler()
	if code, _ := get(off, "/ui/"); code != http.StatusNotFound {
		t.Errorf("without UI: /ui/ answered %d, want 404", code)
	}
	var seen []string
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.URL.Path)
		w.Write([]byte("ui"))
	})
	on := (&Server{Gatherer: prometheus.NewRegistry(), UI: ui}).Handler()
	for _, p := range []string{"/ui", "/ui/", "/ui/objects/campaign/launch", "/ui/style.css"} {
		if code, body := get(on, p); code != http.StatusOK || body != "ui" {
			t.Errorf("%s: %d %q, want the UI's answer", p, code, body)
		}
	}
	if len(seen) != 4 || seen[2] != "/ui/objects/campaign/launch" {
		t.Errorf("the UI saw %v: paths must reach it unstripped", seen)
	}
	if code, _ := get(on, "/metrics"); code != http.StatusOK {
		t.Errorf("/metrics with UI: %d", code)
	}
	if code, _ := get(on, "/uix"); code != http.StatusNotFound {
		t.Errorf("/uix: %d, want 404 (not the UI's)", code)
	}
}
