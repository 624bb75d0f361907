package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// /healthz stays 200 whatever the relay does (restarting the daemon would not
// fix it), and its body says "degraded" with the relay's state and reason
// while sending is paused (README: a relay that refuses us sets /healthz to
// "degraded"); the engine's side, RelayHealth, is TestRelayRefusalPausesAndSuppressesNobody.
func TestHealthzSaysDegradedWhileTheRelayRefuses(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	state, reason := "ok", ""
	srv := &Server{Gatherer: prometheus.NewRegistry(), Relay: func() (string, string) {
		mu.Lock()
		defer mu.Unlock()
		return state, reason
	}}
	hs := httptest.NewServer(srv.InternalHandler())
	defer hs.Close()
	get := func() (int, string) {
		t.Helper()
		resp, err := http.Get(hs.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("healthy: %d %q", code, body)
	}
	mu.Lock()
	state, reason = "refused", "rcpt 550 5.7.1 Relaying denied"
	mu.Unlock()
	if code, body := get(); code != http.StatusOK || body != "degraded: SMTP relay refused: rcpt 550 5.7.1 Relaying denied\n" {
		t.Fatalf("relay refusing: %d %q; want 200 and the degraded line", code, body)
	}
}
