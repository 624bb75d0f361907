package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/links"
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

type failingSuppressor struct{}

func (failingSuppressor) Suppress(context.Context, string, string, string, time.Time) error {
	return errors.New("database away")
}

// An unsubscribe the database cannot record is answered 503 with a
// Retry-After, so a mail provider's one-click POST or the reader can try
// again; nothing is taken as done.
func TestUnsubscribeTheDatabaseCannotRecordSaysRetryAfter(t *testing.T) {
	t.Parallel()
	signer, _ := links.NewSigner(newSecret)
	srv := &Server{Links: signer, Suppressor: failingSuppressor{}, Clock: clock.NewFake(sentAt),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: Limits{PerSecond: -1}}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	c := msgClaims()
	c.Purpose = links.PurposeUnsubscribe
	res, err := http.Post(hs.URL+"/u/"+signer.Sign(c), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("%d, Retry-After %q; want 503 with a Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
}

// The unsubscribe page is never cached and never leaks its token in a
// Referer, whatever the link (docs/consent.md); a link signed with a key
// the daemon no longer holds (retired, or never ours) answers 400 and
// records nothing.
func TestUnsubscribePageHeadersAndARetiredKey(t *testing.T) {
	t.Parallel()
	signer, _ := links.NewSigner(newSecret)
	retired, _ := links.NewSigner([]byte("retired-secret-0123456789"))
	sup, suppressed := recordingSuppressor()
	srv := &Server{Links: signer, Suppressor: sup, Clock: clock.NewFake(sentAt),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: Limits{PerSecond: -1}}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	c := msgClaims()
	c.Purpose = links.PurposeUnsubscribe
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"a valid link", signer.Sign(c), http.StatusOK},
		{"a retired key's link", retired.Sign(c), http.StatusBadRequest},
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			req, _ := http.NewRequest(method, hs.URL+"/u/"+tc.token, strings.NewReader("List-Unsubscribe=One-Click"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want || res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("%s %s: %d, Cache-Control %q, Referrer-Policy %q; want %d, no-store, no-referrer",
					method, tc.name, res.StatusCode, res.Header.Get("Cache-Control"), res.Header.Get("Referrer-Policy"), tc.want)
			}
		}
	}
	if got := suppressed(); len(got) != 1 {
		t.Errorf("suppressed %v: want the valid link's POST only", got)
	}
}

// recordingSuppressorFunc suppresses by calling itself.
type recordingSuppressorFunc func(email string)

func (f recordingSuppressorFunc) Suppress(_ context.Context, email, _, _ string, _ time.Time) error {
	f(email)
	return nil
}

// recordingSuppressor records the addresses it is asked to suppress;
// recorded returns them.
func recordingSuppressor() (s Suppressor, recorded func() []string) {
	var mu sync.Mutex
	var got []string
	s = recordingSuppressorFunc(func(email string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, email)
	})
	return s, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// pingerFunc checks the database by calling itself.
type pingerFunc func(ctx context.Context) error

func (f pingerFunc) PingContext(ctx context.Context) error { return f(ctx) }

// README: /readyz says whether the database answers. A refused ping and a
// ping the database never answers (cut off by /readyz's own timeout) are
// both 503; /healthz stays 200 (the process is alive).
func TestReadyzSaysWhetherTheDatabaseAnswers(t *testing.T) {
	t.Parallel()
	for name, ping := range map[string]pingerFunc{
		"refused": func(context.Context) error { return errors.New("connection refused") },
		// Answers only after 10 s: /readyz must have given up before.
		"hung": func(ctx context.Context) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Second):
				return nil
			}
		},
	} {
		srv := &Server{Gatherer: prometheus.NewRegistry(), DB: ping}
		hs := httptest.NewServer(srv.InternalHandler())
		for path, want := range map[string]int{"/readyz": http.StatusServiceUnavailable, "/healthz": http.StatusOK} {
			res, err := http.Get(hs.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != want {
				t.Errorf("database %s: %s %d, want %d", name, path, res.StatusCode, want)
			}
		}
		hs.Close()
	}
}
